//! `wisp get`: one action's configuration.

use crate::client::{Client, ClientOptions};

/// Show one action (without its code).
#[derive(clap::Args, Debug)]
pub struct GetCommand {
    /// Action name.
    name: String,
    #[command(flatten)]
    client: ClientOptions,
}

impl GetCommand {
    /// Prints the action as JSON.
    pub fn execute(self) -> anyhow::Result<()> {
        let client = Client::new(&self.client)?;
        let action = client.request(
            http::Method::GET,
            &format!("/api/v1/namespaces/_/actions/{}?code=false", self.name),
            "application/json",
            Vec::new(),
        )?;
        println!("{}", serde_json::to_string_pretty(&action)?);
        Ok(())
    }
}
