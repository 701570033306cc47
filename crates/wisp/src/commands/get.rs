//! `wisp get`: one action's configuration.

use crate::client::{Client, GlobalOptions};

/// Show one action (without its code).
#[derive(clap::Args, Debug)]
pub struct GetCommand {
    /// Action name.
    name: String,
}

impl GetCommand {
    /// Prints the action as JSON on stdout, and on stderr whether it is
    /// pre-initialized.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let action: wisp_api::ActionView = client.request(
            http::Method::GET,
            &format!("/api/v1/namespaces/_/actions/{}?code=false", self.name),
            "application/json",
            Vec::new(),
        )?;
        println!("{}", serde_json::to_string_pretty(&action)?);
        match &action.wisp.init {
            Some(init) => eprintln!(
                "{}: pre-initialized: its init `{}` ran for {:.3} ms at deploy; every call starts from the snapshot it left",
                action.name,
                init.export,
                init.init_us as f64 / 1000.0
            ),
            None => eprintln!("{}: not pre-initialized", action.name),
        }
        Ok(())
    }
}
