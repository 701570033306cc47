//! `wisp rule create|enable|disable|rm|ls`: rules of the caller's namespace.

use serde_json::{Value, json};
use wisp_api::events::RuleView;

use crate::client::{Client, GlobalOptions};

/// Manage rules.
#[derive(clap::Args, Debug)]
pub struct RuleCommand {
    #[command(subcommand)]
    op: RuleOp,
}

#[derive(clap::Subcommand, Debug)]
enum RuleOp {
    /// Create (or update) a rule firing ACTION when TRIGGER fires.
    Create {
        /// Rule name.
        name: String,
        /// Trigger name.
        trigger: String,
        /// Action name.
        action: String,
    },
    /// Make a rule active.
    Enable {
        /// Rule name.
        name: String,
    },
    /// Make a rule inactive.
    Disable {
        /// Rule name.
        name: String,
    },
    /// Delete a rule.
    Rm {
        /// Rule name.
        name: String,
    },
    /// List rules.
    Ls,
}

impl RuleCommand {
    /// Runs the subcommand.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let base = "/api/v1/namespaces/_/rules";
        let show = |r: &RuleView| {
            println!(
                "{}\t{}\t{}/{} -> {}/{}",
                r.name, r.status, r.trigger.path, r.trigger.name, r.action.path, r.action.name
            );
        };
        let enable = matches!(self.op, RuleOp::Enable { .. });
        match self.op {
            RuleOp::Create {
                name,
                trigger,
                action,
            } => {
                let r: RuleView = client.request(
                    http::Method::PUT,
                    &format!("{base}/{name}?overwrite=true"),
                    "application/json",
                    serde_json::to_vec(&json!({"trigger": trigger, "action": action}))?,
                )?;
                show(&r);
            }
            RuleOp::Enable { name } | RuleOp::Disable { name } => {
                let status = if enable { "active" } else { "inactive" };
                let r: RuleView = client.request(
                    http::Method::POST,
                    &format!("{base}/{name}"),
                    "application/json",
                    serde_json::to_vec(&json!({ "status": status }))?,
                )?;
                show(&r);
            }
            RuleOp::Rm { name } => {
                client.request::<Value>(
                    http::Method::DELETE,
                    &format!("{base}/{name}"),
                    "application/json",
                    Vec::new(),
                )?;
                println!("deleted rule {name}");
            }
            RuleOp::Ls => {
                let list: Vec<RuleView> = client.request(
                    http::Method::GET,
                    &format!("{base}?limit=200"),
                    "application/json",
                    Vec::new(),
                )?;
                list.iter().for_each(show);
            }
        }
        Ok(())
    }
}
