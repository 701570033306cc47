//! `wisp rm`: delete an action.

use crate::client::{Client, ClientOptions};

/// Delete an action.
#[derive(clap::Args, Debug)]
pub struct RmCommand {
    /// Action name.
    name: String,
    #[command(flatten)]
    client: ClientOptions,
}

impl RmCommand {
    /// Deletes it; an unknown action is an error.
    pub fn execute(self) -> anyhow::Result<()> {
        let client = Client::new(&self.client)?;
        client.request(
            http::Method::DELETE,
            &format!("/api/v1/namespaces/_/actions/{}", self.name),
            "application/json",
            Vec::new(),
        )?;
        println!("deleted {}", self.name);
        Ok(())
    }
}
