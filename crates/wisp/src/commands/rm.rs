//! `wisp rm`: delete an action.

use crate::client::{Client, GlobalOptions};

/// Delete an action.
#[derive(clap::Args, Debug)]
pub struct RmCommand {
    /// Action name.
    name: String,
}

impl RmCommand {
    /// Deletes it; an unknown action is an error.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        client.request::<serde_json::Value>(
            http::Method::DELETE,
            &format!("/api/v1/namespaces/_/actions/{}", self.name),
            "application/json",
            Vec::new(),
        )?;
        println!("deleted {}", self.name);
        Ok(())
    }
}
