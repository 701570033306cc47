//! Triggers and rules as the REST API sends and returns them (OpenWhisk's
//! shapes), shared by the server and the CLI.

use serde::{Deserialize, Serialize};

use crate::KeyValue;

/// `PUT .../triggers/{name}` body; every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerDoc {
    /// Ignored (the path names the trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Ignored (the path names the namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Default parameters the firing payload is merged over.
    #[serde(default)]
    pub parameters: Vec<KeyValue>,
    /// Free annotations, kept as given.
    #[serde(default)]
    pub annotations: Vec<KeyValue>,
    /// Whether it is shared (kept, not enforced).
    #[serde(default)]
    pub publish: bool,
    /// Ignored, as OpenWhisk's are for triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<serde_json::Value>,
    /// Ignored (the server versions it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A stored trigger, as `GET` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerView {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `MAJOR.MINOR.PATCH`, bumped on each update.
    pub version: String,
    /// Whether it is shared.
    pub publish: bool,
    /// Its annotations.
    pub annotations: Vec<KeyValue>,
    /// Its default parameters.
    pub parameters: Vec<KeyValue>,
    /// Always `{}`.
    pub limits: serde_json::Value,
    /// Last update, ms since the Unix epoch.
    pub updated: u64,
}

/// `PUT .../rules/{name}` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuleDoc {
    /// The trigger, `/ns/name`, `ns/name` or `name` (`_` allowed as namespace).
    #[serde(default)]
    pub trigger: Option<String>,
    /// The action, as the trigger is written.
    #[serde(default)]
    pub action: Option<String>,
    /// Free annotations.
    #[serde(default)]
    pub annotations: Vec<KeyValue>,
    /// Whether it is shared (kept, not enforced).
    #[serde(default)]
    pub publish: bool,
    /// Ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A trigger or action a rule names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityPath {
    /// Its namespace.
    pub path: String,
    /// Its name.
    pub name: String,
}

/// A stored rule, as `GET` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `MAJOR.MINOR.PATCH`.
    pub version: String,
    /// Whether it is shared.
    pub publish: bool,
    /// Its annotations.
    pub annotations: Vec<KeyValue>,
    /// The trigger that fires it.
    pub trigger: EntityPath,
    /// The action it invokes.
    pub action: EntityPath,
    /// `active` or `inactive`.
    pub status: String,
    /// Last update, ms since the Unix epoch.
    pub updated: u64,
}

/// `POST .../rules/{name}` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleStatus {
    /// `active` or `inactive`.
    pub status: String,
}

/// What `POST /api/v1/namespaces/whisk.system/actions/alarms/{feed}` takes:
/// OpenWhisk's feed lifecycle call (as its clients' `feeds.create`,
/// `feeds.get`, `feeds.update` and `feeds.delete` send it) with the alarms
/// feeds' parameters. Unknown parameters are ignored, as a feed action's are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedRequest {
    /// `CREATE`, `READ`, `UPDATE`, `DELETE`, `PAUSE` or `UNPAUSE`.
    pub lifecycle_event: String,
    /// The trigger it fires: `/ns/name` (`_` for the caller's namespace).
    pub trigger_name: String,
    /// The caller's key, which clients send along; never stored (the
    /// request's own authentication is what counts).
    #[serde(default, skip_serializing)]
    pub auth_key: Option<String>,
    /// `alarm`: a cron expression of 5 fields (minute granularity) or 6
    /// (seconds first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// `alarm`: the IANA time zone the cron expression is read in (UTC when
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `interval`: minutes between firings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<serde_json::Value>,
    /// `once`: when it fires: an RFC 3339 date or milliseconds since the
    /// Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<serde_json::Value>,
    /// The payload each firing passes to the trigger (a JSON object).
    #[serde(
        default,
        rename = "trigger_payload",
        skip_serializing_if = "Option::is_none"
    )]
    pub trigger_payload: Option<serde_json::Value>,
    /// No firing before this date (RFC 3339 or epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<serde_json::Value>,
    /// No firing after this date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<serde_json::Value>,
    /// At most this many firings; absent, 0 or negative: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_triggers: Option<i64>,
}
