//! `wisp get`: one action's configuration.

use crate::client::{Client, GlobalOptions};

/// Show one action (without its code).
#[derive(clap::Args, Debug)]
pub struct GetCommand {
    /// Action name.
    name: String,
}

impl GetCommand {
    /// Prints the action as JSON.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let action: wisp_api::ActionView = client.request(
            http::Method::GET,
            &format!("/api/v1/namespaces/_/actions/{}?code=false", self.name),
            "application/json",
            Vec::new(),
        )?;
        println!("{}", serde_json::to_string_pretty(&action)?);
        Ok(())
    }
}
