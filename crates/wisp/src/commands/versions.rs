//! `wisp versions` and `wisp rollback`: an action's kept versions, and making
//! one of them current again.

use wisp_api::{ActionView, RollbackRequest, VersionView};

use crate::client::{Client, GlobalOptions};

/// List an action's kept versions, newest first; `*` marks the current one.
#[derive(clap::Args, Debug)]
pub struct VersionsCommand {
    /// Action name.
    name: String,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl VersionsCommand {
    /// Prints the versions.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let versions: Vec<VersionView> = client.request(
            http::Method::GET,
            &format!("/api/v1/namespaces/_/actions/{}/versions", self.name),
            "application/json",
            Vec::new(),
        )?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&versions)?);
        } else {
            print!("{}", render(&versions));
        }
        Ok(())
    }
}

/// Make a kept version of an action current again: VERSION, or the one before
/// the current one. Instant: the version's compiled code is kept.
#[derive(clap::Args, Debug)]
pub struct RollbackCommand {
    /// Action name.
    name: String,
    /// The version to make current (default: the one before the current one).
    version: Option<String>,
}

impl RollbackCommand {
    /// Rolls back and prints the version now served.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let body = serde_json::to_vec(&RollbackRequest {
            version: self.version,
        })?;
        let action: ActionView = client.request(
            http::Method::POST,
            &format!("/api/v1/namespaces/_/actions/{}/rollback", self.name),
            "application/json",
            body,
        )?;
        println!(
            "{} now serves version {} (module {})",
            action.name,
            action.version,
            short(&action.wisp.module_sha256)
        );
        Ok(())
    }
}

/// The table `wisp versions` prints.
fn render(versions: &[VersionView]) -> String {
    let mut out = format!(
        "  {:<10} {:<24} {:<14} {:>10} {:>9} {:>8} {:>9}\n",
        "VERSION", "DEPLOYED", "MODULE", "BYTES", "MEMORY", "TIMEOUT", "INSTANCES"
    );
    for v in versions {
        out += &format!(
            "{} {:<10} {:<24} {:<14} {:>10} {:>6}MiB {:>6}ms {:>9}\n",
            if v.current { '*' } else { ' ' },
            v.version,
            wisp_controller::activations::iso8601(v.deployed),
            short(&v.module_sha256),
            v.module_size,
            v.limits.memory,
            v.limits.timeout,
            v.limits.instances,
        );
    }
    out
}

/// The first 12 hex digits of a digest, as `git` shortens.
fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
