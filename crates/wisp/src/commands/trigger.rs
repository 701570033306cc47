//! `wisp trigger create|fire|ls|rm`: triggers of the caller's namespace, and
//! their alarms (`create --cron`).

use anyhow::Context as _;
use serde_json::{Value, json};
use wisp_api::events::{FeedRequest, TriggerView};

use crate::client::{Client, GlobalOptions, HttpError};

/// Manage triggers.
#[derive(clap::Args, Debug)]
pub struct TriggerCommand {
    #[command(subcommand)]
    op: TriggerOp,
}

#[derive(clap::Subcommand, Debug)]
enum TriggerOp {
    /// Create (or update) a trigger; with `--cron`, also its alarm.
    Create {
        /// Trigger name.
        name: String,
        /// Default parameters as a JSON object, merged under each firing's payload.
        #[arg(long)]
        payload: Option<String>,
        /// Fire it on a schedule: a cron expression of 5 fields (minute hour
        /// day month weekday) or 6 (seconds first), such as '*/10 * * * * *'.
        /// It replaces the trigger's alarm if it has one.
        #[arg(long, value_name = "EXPR")]
        cron: Option<String>,
        /// The IANA time zone the cron expression is read in (default UTC).
        #[arg(long, requires = "cron")]
        timezone: Option<String>,
        /// Stop the alarm after this many firings.
        #[arg(long, requires = "cron", value_name = "N")]
        max_triggers: Option<u32>,
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

/// Where the alarm feed is invoked, answering only its result.
const ALARM_FEED: &str =
    "/api/v1/namespaces/whisk.system/actions/alarms/alarm?blocking=true&result=true";

/// Creates a trigger's alarm, or replaces the one it has (an UPDATE, which
/// the server checks before it changes anything); the alarm's view.
fn create_alarm(client: &Client, alarm: FeedRequest) -> anyhow::Result<Value> {
    let send = |req: &FeedRequest| {
        client.request::<Value>(
            http::Method::POST,
            ALARM_FEED,
            "application/json",
            serde_json::to_vec(req)?,
        )
    };
    match send(&alarm) {
        Err(e)
            if e.downcast_ref::<HttpError>()
                .is_some_and(|h| h.status == http::StatusCode::CONFLICT) =>
        {
            send(&FeedRequest {
                lifecycle_event: "UPDATE".into(),
                ..alarm
            })
        }
        other => other,
    }
}

impl TriggerCommand {
    /// Runs the subcommand.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let base = "/api/v1/namespaces/_/triggers";
        match self.op {
            TriggerOp::Create {
                name,
                payload,
                cron,
                timezone,
                max_triggers,
            } => {
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
                let alarm = match cron {
                    None => None,
                    Some(cron) => {
                        let alarm = FeedRequest {
                            lifecycle_event: "CREATE".into(),
                            trigger_name: format!("/_/{name}"),
                            cron: Some(cron),
                            // Given in full, so an UPDATE replaces the old alarm.
                            timezone: Some(timezone.unwrap_or_default()),
                            max_triggers: Some(max_triggers.map_or(0, i64::from)),
                            ..FeedRequest::default()
                        };
                        match create_alarm(&client, alarm) {
                            Ok(view) => Some(view),
                            Err(e) => {
                                // A trigger made only to carry the alarm goes too.
                                if t.version == "0.0.1" {
                                    let _ = client.request::<Value>(
                                        http::Method::DELETE,
                                        &format!("{base}/{name}"),
                                        "application/json",
                                        Vec::new(),
                                    );
                                }
                                return Err(e.context(format!(
                                    "cannot create the alarm of trigger {name}"
                                )));
                            }
                        }
                    }
                };
                println!("trigger {}/{} version {}", t.namespace, t.name, t.version);
                if let Some(view) = alarm {
                    let next = view["status"]["nextTick"].as_str().unwrap_or("never");
                    println!(
                        "alarm '{}', next firing {next}",
                        view["config"]["cron"].as_str().unwrap_or_default()
                    );
                }
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
