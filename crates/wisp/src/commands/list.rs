//! `wisp list`: the actions of the key's namespace.

use crate::client::{Client, ClientOptions};

/// List actions.
#[derive(clap::Args, Debug)]
pub struct ListCommand {
    /// Most actions to show (the server caps a page at 200).
    #[arg(long, default_value_t = 200)]
    limit: usize,
    /// Actions to skip.
    #[arg(long, default_value_t = 0)]
    skip: usize,
    #[command(flatten)]
    client: ClientOptions,
}

impl ListCommand {
    /// Prints one line per action.
    pub fn execute(self) -> anyhow::Result<()> {
        let client = Client::new(&self.client)?;
        let list = client.request(
            http::Method::GET,
            &format!(
                "/api/v1/namespaces/_/actions?limit={}&skip={}",
                self.limit, self.skip
            ),
            "application/json",
            Vec::new(),
        )?;
        let empty = Vec::new();
        let actions = list.as_array().unwrap_or(&empty);
        if actions.is_empty() {
            println!("no actions");
        }
        for a in actions {
            println!(
                "{:<32} {:<8} {:<8} {:>6} MB {:>7} ms",
                a["name"].as_str().unwrap_or("?"),
                a["version"].as_str().unwrap_or("?"),
                a["wisp"]["shape"].as_str().unwrap_or("?"),
                a["limits"]["memory"],
                a["limits"]["timeout"],
            );
        }
        Ok(())
    }
}
