//! `wisp trigger create|fire|ls|rm`: triggers of the caller's namespace.

use anyhow::Context as _;
use serde_json::{Value, json};
use wisp_api::events::TriggerView;

use crate::client::{Client, GlobalOptions};

/// Manage triggers.
#[derive(clap::Args, Debug)]
pub struct TriggerCommand {
    #[command(subcommand)]
    op: TriggerOp,
}

#[derive(clap::Subcommand, Debug)]
enum TriggerOp {
    /// Create (or update) a trigger.
    Create {
        /// Trigger name.
        name: String,
        /// Default parameters as a JSON object, merged under each firing's payload.
        #[arg(long)]
        payload: Option<String>,
    },
    /// Fire a trigger with a JSON payload and print its activation id.
    Fire {
        /// Trigger name.
        name: String,
        /// The payload, a JSON object.
        payload: Option<String>,
    },
    /// List triggers.
    Ls,
    /// Delete a trigger.
    Rm {
        /// Trigger name.
        name: String,
    },
}

fn object(s: Option<&str>, what: &str) -> anyhow::Result<Value> {
    let v: Value = match s {
        None => json!({}),
        Some(s) => serde_json::from_str(s).with_context(|| format!("{what} is not valid JSON"))?,
    };
    anyhow::ensure!(v.is_object(), "{what} must be a JSON object");
    Ok(v)
}

impl TriggerCommand {
    /// Runs the subcommand.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let base = "/api/v1/namespaces/_/triggers";
        match self.op {
            TriggerOp::Create { name, payload } => {
                let params: Vec<Value> = object(payload.as_deref(), "--payload")?
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect();
                let t: TriggerView = client.request(
                    http::Method::PUT,
                    &format!("{base}/{name}?overwrite=true"),
                    "application/json",
                    serde_json::to_vec(&json!({ "parameters": params }))?,
                )?;
                println!("trigger {}/{} version {}", t.namespace, t.name, t.version);
            }
            TriggerOp::Fire { name, payload } => {
                let body = object(payload.as_deref(), "the payload")?;
                let r: Value = client.request(
                    http::Method::POST,
                    &format!("{base}/{name}"),
                    "application/json",
                    serde_json::to_vec(&body)?,
                )?;
                println!("{}", r["activationId"].as_str().unwrap_or_default());
            }
            TriggerOp::Ls => {
                let list: Vec<TriggerView> = client.request(
                    http::Method::GET,
                    &format!("{base}?limit=200"),
                    "application/json",
                    Vec::new(),
                )?;
                for t in list {
                    println!("{}\t{}", t.name, t.version);
                }
            }
            TriggerOp::Rm { name } => {
                client.request::<Value>(
                    http::Method::DELETE,
                    &format!("{base}/{name}"),
                    "application/json",
                    Vec::new(),
                )?;
                println!("deleted trigger {name}");
            }
        }
        Ok(())
    }
}
