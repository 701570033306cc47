//! Actions on the wire and in the registry: the raw document a client writes
//! ([`ActionDoc`]), the resolved record wisp stores and runs ([`ActionRecord`]),
//! and the OpenWhisk view the API answers with ([`ActionView`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `{"key": ..., "value": ...}` pair, as OpenWhisk writes parameters and
/// annotations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The name.
    pub key: String,
    /// Any JSON value.
    pub value: Value,
}

/// The shape of a function, detected from its binary at deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// A `wasi:http/proxy` component exporting `wasi:http/incoming-handler`.
    Http,
    /// A WASI preview1 command module exporting `_start`.
    Command,
}

impl Shape {
    /// `http` or `command`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Http => "http",
            Shape::Command => "command",
        }
    }
}

/// Resource limits of one action, resolved: every value is inside the range the
/// server's [`Policy`](crate::Policy) allows (see [`crate::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock limit of one invocation, in milliseconds.
    pub timeout: u64,
    /// Most linear memory one instance may grow to, in MiB.
    pub memory: u64,
    /// Quota of the private `/data` directory in MiB; 0 means no `/data`.
    #[serde(default)]
    pub storage: u64,
    /// Most instances of this action running at once; 0 means only the server's
    /// global cap applies.
    #[serde(default)]
    pub instances: u64,
}

impl Default for Limits {
    /// OpenWhisk's defaults: 60 s and 256 MB; no `/data`, no per-action cap.
    fn default() -> Self {
        Limits {
            timeout: 60_000,
            memory: 256,
            storage: 0,
            instances: 0,
        }
    }
}

/// What a web call must present (annotation `require-whisk-auth`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "secret")]
pub enum WebAuth {
    /// Anyone may call.
    #[default]
    None,
    /// A valid key of the action's namespace, with HTTP Basic auth.
    Key,
    /// This secret in the `X-Require-Whisk-Auth` header.
    Secret(String),
}

/// The OpenWhisk action document a `PUT .../actions/{name}` carries: the raw,
/// unvalidated form. [`crate::resolve::resolve`] turns it into an
/// [`ActionSpec`](crate::ActionSpec).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDoc {
    /// The code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecDoc>,
    /// Limits; each one given replaces the current (or default) value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsDoc>,
    /// Default parameters; replace the current ones when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<KeyValue>>,
    /// Annotations; replace the current ones when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<KeyValue>>,
    /// Sent by OpenWhisk clients; wisp takes the name from the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Value>,
    /// Sent by OpenWhisk clients; wisp takes the namespace from the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Value>,
    /// Sent by OpenWhisk clients; wisp numbers versions itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
    /// Sent by OpenWhisk clients; wisp does not share actions across namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<Value>,
}

/// `exec` of an action document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecDoc {
    /// `wasm`, or `sequence`.
    pub kind: String,
    /// The module, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// OpenWhisk's flag for binary code; wasm code is always base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<bool>,
    /// A sequence's actions, in order (`/namespace/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
}

/// `limits` of an action document: any JSON, checked field by field so that a
/// wrong value is refused with the field's name and range rather than a parse
/// error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsDoc {
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Value>,
    /// MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Value>,
    /// MiB of `/data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Value>,
    /// Instances at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Value>,
    /// OpenWhisk's log limit in MB: accepted for compatibility, not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Value>,
    /// OpenWhisk's intra-container concurrency: accepted for compatibility;
    /// every wisp call has its own instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Value>,
}

/// The resolved, stored form of a deployed action: what the invocation path runs.
/// Built only by [`ActionRecord::new`] from a resolved
/// [`ActionSpec`](crate::ActionSpec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredRecord")]
pub struct ActionRecord {
    /// Namespace the action belongs to.
    pub namespace: String,
    /// Action name, unique within its namespace.
    pub name: String,
    /// Semantic version, `0.0.1` at creation, patch bumped on each update.
    pub version: String,
    /// Lowercase hex SHA-256 of the module bytes.
    pub module_hash: String,
    /// Size of the module in bytes.
    pub module_size: u64,
    /// Function shape detected at deploy.
    pub shape: Shape,
    /// Resource limits.
    pub limits: Limits,
    /// Default parameters.
    pub parameters: Vec<KeyValue>,
    /// Annotations as the deployer wrote them (shown by `GET`).
    pub annotations: Vec<KeyValue>,
    /// Whether it answers web calls (annotation `web-export`).
    pub web_export: bool,
    /// What a web call must present (annotation `require-whisk-auth`).
    pub web_auth: WebAuth,
    /// Hosts its outgoing HTTP may reach (annotation `allowed-outbound-hosts`).
    pub outbound_hosts: Vec<String>,
    /// Key-value stores besides `default` it may open (annotation
    /// `keyvalue-stores`).
    pub keyvalue_stores: Vec<String>,
    /// Last update, milliseconds since the Unix epoch.
    pub updated: u64,
    /// Format of the stored record (see [`RECORD_FORMAT`]).
    pub format: u32,
    /// Set when the module was pre-initialized at deploy: `module_hash` is then
    /// the snapshot's, and the binary as deployed is kept beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Preinitialized>,
    /// Set for a sequence: the actions it runs in order, each `namespace/name`
    /// (its module is then the empty one, never run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Vec<String>>,
}

/// How an action's module was pre-initialized at deploy: its init export ran
/// once and the instance it left was snapshotted into the module every call
/// instantiates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preinitialized {
    /// The export that ran (`wizer-initialize`, or the `init` annotation's).
    pub export: String,
    /// How long it ran, in microseconds.
    pub init_us: u64,
    /// SHA-256 of the binary as deployed, before its init; kept in the
    /// registry, so that the action can be snapshotted again.
    pub source_sha256: String,
    /// Its size in bytes.
    pub source_size: u64,
}

/// The current format of stored records. Format 1 (before the resolved fields
/// were stored) is read by resolving its annotations once, at load.
pub const RECORD_FORMAT: u32 = 2;

/// The stored JSON of a record, of any format.
#[derive(Deserialize)]
struct StoredRecord {
    namespace: String,
    name: String,
    version: String,
    module_hash: String,
    module_size: u64,
    shape: Shape,
    limits: Limits,
    parameters: Vec<KeyValue>,
    annotations: Vec<KeyValue>,
    #[serde(default)]
    web_export: Option<bool>,
    #[serde(default)]
    web_auth: Option<WebAuth>,
    #[serde(default)]
    outbound_hosts: Option<Vec<String>>,
    #[serde(default)]
    keyvalue_stores: Option<Vec<String>>,
    updated: u64,
    #[serde(default = "first_format")]
    format: u32,
    #[serde(default)]
    init: Option<Preinitialized>,
    #[serde(default)]
    sequence: Option<Vec<String>>,
}

fn first_format() -> u32 {
    1
}

impl TryFrom<StoredRecord> for ActionRecord {
    type Error = crate::ResolveError;

    fn try_from(s: StoredRecord) -> Result<Self, Self::Error> {
        // A record stored before a resolved field existed has it resolved
        // from its annotations, once, at load.
        let (web_export, web_auth, outbound_hosts, keyvalue_stores) = match (
            s.web_export,
            s.web_auth,
            s.outbound_hosts,
            s.keyvalue_stores,
        ) {
            (Some(e), Some(a), Some(h), Some(k)) => (e, a, h, k),
            _ => {
                let r = crate::resolve::annotations(&s.annotations)?;
                (
                    r.web_export,
                    r.web_auth,
                    r.outbound_hosts,
                    r.keyvalue_stores,
                )
            }
        };
        Ok(ActionRecord {
            namespace: s.namespace,
            name: s.name,
            version: s.version,
            module_hash: s.module_hash,
            module_size: s.module_size,
            shape: s.shape,
            limits: s.limits,
            parameters: s.parameters,
            annotations: s.annotations,
            web_export,
            web_auth,
            outbound_hosts,
            keyvalue_stores,
            updated: s.updated,
            format: s.format.max(RECORD_FORMAT),
            init: s.init,
            sequence: s.sequence,
        })
    }
}

impl ActionRecord {
    /// A new record for a resolved spec; version and times are set by the
    /// registry when it is stored.
    pub fn new(
        namespace: &str,
        name: &str,
        module_hash: String,
        shape: Shape,
        spec: crate::ActionSpec,
    ) -> Self {
        ActionRecord {
            namespace: namespace.to_string(),
            name: name.to_string(),
            version: "0.0.1".to_string(),
            module_hash,
            module_size: 0,
            shape,
            limits: spec.limits,
            parameters: spec.parameters,
            annotations: spec.annotations,
            web_export: spec.web_export,
            web_auth: spec.web_auth,
            outbound_hosts: spec.outbound_hosts,
            keyvalue_stores: spec.keyvalue_stores,
            updated: 0,
            format: RECORD_FORMAT,
            init: None,
            sequence: spec.sequence,
        }
    }

    /// The hash of the binary as deployed: the source of its snapshot when it
    /// was pre-initialized, else the module itself.
    pub fn source_hash(&self) -> &str {
        self.init
            .as_ref()
            .map_or(self.module_hash.as_str(), |i| i.source_sha256.as_str())
    }

    /// `namespace/name`, as activation records show it.
    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Its limits as the API shows them.
    pub fn limits_view(&self) -> LimitsView {
        LimitsView {
            timeout: self.limits.timeout,
            memory: self.limits.memory,
            logs: 10,
            concurrency: 1,
            storage: self.limits.storage,
            instances: self.limits.instances,
        }
    }

    /// This record as one entry of the version list.
    pub fn version_view(&self, current: bool) -> crate::VersionView {
        crate::VersionView {
            version: self.version.clone(),
            module_sha256: self.module_hash.clone(),
            module_size: self.module_size,
            shape: self.shape,
            deployed: self.updated,
            limits: self.limits_view(),
            current,
        }
    }

    /// The names its `secret-parameters` annotation lists (none when the
    /// annotation is malformed: a stored record's was checked at deploy).
    pub fn secret_keys(&self) -> Vec<String> {
        crate::resolve::annotations(&self.annotations)
            .map(|a| a.secret_parameters)
            .unwrap_or_default()
    }

    /// Its parameters as the API shows them: each secret's value is
    /// [`SECRET_MASK`], its key stays.
    pub fn masked_parameters(&self) -> Vec<KeyValue> {
        let secrets = self.secret_keys();
        self.parameters
            .iter()
            .map(|kv| KeyValue {
                key: kv.key.clone(),
                value: if secrets.contains(&kv.key) {
                    Value::String(SECRET_MASK.into())
                } else {
                    kv.value.clone()
                },
            })
            .collect()
    }

    /// The record as the API shows it; `code` (the module, base64) when given.
    pub fn view(&self, code: Option<String>) -> ActionView {
        let kind = if self.sequence.is_some() {
            "sequence"
        } else {
            "wasm"
        };
        let mut annotations = self.annotations.clone();
        annotations.push(KeyValue {
            key: "exec".into(),
            value: kind.into(),
        });
        annotations.push(KeyValue {
            key: SHAPE_ANNOTATION.into(),
            value: self.shape.as_str().into(),
        });
        ActionView {
            parameters: self.masked_parameters(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
            publish: false,
            exec: ExecView {
                kind: kind.into(),
                binary: self.sequence.is_none(),
                code: code.filter(|_| self.sequence.is_none()),
                components: self
                    .sequence
                    .as_ref()
                    .map(|c| c.iter().map(|p| format!("/{p}")).collect()),
            },
            limits: self.limits_view(),
            annotations,
            updated: self.updated,
            wisp: WispView {
                module_sha256: self.module_hash.clone(),
                module_size: self.module_size,
                shape: self.shape,
                init: self.init.clone(),
            },
        }
    }
}

/// What the API shows in place of a secret parameter's value, and what
/// activation records show in place of any occurrence of it.
pub const SECRET_MASK: &str = "********";

/// The annotation `GET` adds to show the detected shape (dropped when a document
/// carrying it is deployed again).
pub const SHAPE_ANNOTATION: &str = "wisp-shape";

/// An action as the API shows it: OpenWhisk's form plus a `wisp` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionView {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Always false.
    pub publish: bool,
    /// `{"kind": "wasm", "binary": true}`, with `code` when asked for.
    pub exec: ExecView,
    /// Its limits, with OpenWhisk's `logs` and `concurrency`.
    pub limits: LimitsView,
    /// Default parameters; a secret one's value is `********`.
    pub parameters: Vec<KeyValue>,
    /// Annotations, with `exec` and `wisp-shape` added.
    pub annotations: Vec<KeyValue>,
    /// Last update, ms since the Unix epoch.
    pub updated: u64,
    /// What wisp knows of its module.
    pub wisp: WispView,
}

/// `exec` of an [`ActionView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecView {
    /// `wasm`, or `sequence`.
    pub kind: String,
    /// True for `wasm`.
    pub binary: bool,
    /// The module, base64, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A sequence's actions, in order (`/namespace/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
}

/// `limits` of an [`ActionView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsView {
    /// Milliseconds.
    pub timeout: u64,
    /// MiB.
    pub memory: u64,
    /// OpenWhisk's log limit (MB); wisp's log cap is the server's.
    pub logs: u64,
    /// Always 1: every call has its own instance.
    pub concurrency: u64,
    /// MiB of `/data`.
    pub storage: u64,
    /// Instances at once (0: only the server's cap).
    pub instances: u64,
}

/// The `wisp` section of an [`ActionView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WispView {
    /// SHA-256 of the module.
    pub module_sha256: String,
    /// Its size in bytes.
    pub module_size: u64,
    /// Its shape.
    pub shape: Shape,
    /// How it was pre-initialized, when it was: `module_sha256` is then the
    /// snapshot's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Preinitialized>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_the_first_format_resolve_their_annotations_at_load() {
        let old = r#"{"namespace":"guest","name":"a","version":"0.0.3","module_hash":"h",
            "module_size":8,"shape":"http","limits":{"timeout":1000,"memory":64},
            "parameters":[],"annotations":[{"key":"web-export","value":true},
            {"key":"require-whisk-auth","value":"s3"},{"key":"allowed-outbound-hosts","value":"a.test, b.test:81"}],
            "updated":5}"#;
        let rec: ActionRecord = serde_json::from_str(old).unwrap();
        assert!(rec.web_export);
        assert_eq!(rec.web_auth, WebAuth::Secret("s3".into()));
        assert_eq!(rec.outbound_hosts, ["a.test", "b.test:81"]);
        assert_eq!(rec.format, RECORD_FORMAT);
        // Stored again, it keeps the resolved fields.
        let again: ActionRecord =
            serde_json::from_slice(&serde_json::to_vec(&rec).unwrap()).unwrap();
        assert_eq!(again, rec);
    }

    #[test]
    fn a_first_format_record_with_a_malformed_annotation_does_not_load() {
        let old = r#"{"namespace":"guest","name":"a","version":"0.0.1","module_hash":"h",
            "module_size":8,"shape":"command","limits":{"timeout":1000,"memory":64},
            "parameters":[],"annotations":[{"key":"web-export","value":[1]}],"updated":5}"#;
        let err = serde_json::from_str::<ActionRecord>(old).unwrap_err();
        assert!(err.to_string().contains("web-export"), "{err}");
    }

    #[test]
    fn the_view_masks_secret_parameters() {
        let doc: ActionDoc = serde_json::from_value(serde_json::json!({
            "parameters": [{"key": "token", "value": "s3cret"}, {"key": "n", "value": 1}],
            "annotations": [{"key": "secret-parameters", "value": ["token"]}]
        }))
        .unwrap();
        let spec = crate::resolve::resolve(doc, None, &crate::Policy::default()).unwrap();
        let rec = ActionRecord::new("g", "a", "h".into(), Shape::Command, spec);
        let v = serde_json::to_value(rec.view(None)).unwrap();
        assert_eq!(
            v["parameters"],
            serde_json::json!([{"key": "token", "value": SECRET_MASK}, {"key": "n", "value": 1}])
        );
        assert_eq!(v["annotations"][0]["value"], serde_json::json!(["token"]));
    }

    #[test]
    fn the_view_shows_shape_and_exec() {
        let spec =
            crate::resolve::resolve(ActionDoc::default(), None, &crate::Policy::default()).unwrap();
        let rec = ActionRecord::new("g", "a", "h".into(), Shape::Command, spec);
        let v = serde_json::to_value(rec.view(None)).unwrap();
        assert_eq!(
            v["exec"],
            serde_json::json!({"kind": "wasm", "binary": true})
        );
        assert_eq!(v["wisp"]["shape"], "command");
        assert_eq!(v["annotations"][0]["key"], "exec");
        assert_eq!(v["annotations"][1]["value"], "command");
    }
}
