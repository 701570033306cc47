//! `wisp list`: the actions of the key's namespace.

use crate::client::{Client, GlobalOptions};

/// List actions.
#[derive(clap::Args, Debug)]
pub struct ListCommand {
    /// Most actions to show (the server caps a page at 200).
    #[arg(long, default_value_t = 200)]
    limit: usize,
    /// Actions to skip.
    #[arg(long, default_value_t = 0)]
    skip: usize,
}

impl ListCommand {
    /// Prints one line per action.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let actions: Vec<wisp_api::ActionView> = client.request(
            http::Method::GET,
            &format!(
                "/api/v1/namespaces/_/actions?limit={}&skip={}",
                self.limit, self.skip
            ),
            "application/json",
            Vec::new(),
        )?;
        if actions.is_empty() {
            println!("no actions");
        }
        for a in &actions {
            println!(
                "{:<32} {:<8} {:<8} {:>6} MB {:>7} ms",
                a.name,
                a.version,
                a.wisp.shape.as_str(),
                a.limits.memory,
                a.limits.timeout,
            );
        }
        Ok(())
    }
}
