//! From what a client wrote to what wisp runs, once: [`resolve`] checks an
//! [`ActionDoc`] against the server's [`Policy`] and the action's current record,
//! and returns an [`ActionSpec`] whose every value is in range, or a
//! [`ResolveError`] that names the field and its range. Pure: no I/O.
//!
//! Ranges (the maxima are the server's, see `wisp serve --help`):
//!
//! | field | range | unit |
//! |---|---|---|
//! | `limits.timeout` | 1 ..= `max_timeout_ms` (300 000) | ms |
//! | `limits.memory` | 1 ..= `max_memory_mb` (512) | MiB |
//! | `limits.storage` | 0 ..= `max_storage_mb` (1024) | MiB, 0 = no `/data` |
//! | `limits.instances` | 0 ..= `max_instances` (256, the instance pool) | instances, 0 = no own cap |
//! | `limits.logs` | 0 ..= 10 (accepted, not used) | MB |
//! | `limits.concurrency` | 1 ..= 500 (accepted, not used) | calls per instance |

use base64::Engine as _;
use serde_json::Value;

use crate::action::{
    ActionDoc, ActionRecord, KeyValue, Limits, LimitsDoc, SHAPE_ANNOTATION, WebAuth,
};

/// What the server allows: the maxima of every limit and the defaults of an
/// action deployed without its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Highest `limits.timeout`, in ms.
    pub max_timeout_ms: u64,
    /// Highest `limits.memory`, in MiB.
    pub max_memory_mb: u64,
    /// Highest `limits.storage`, in MiB.
    pub max_storage_mb: u64,
    /// Highest `limits.instances`: the size of the instance pool.
    pub max_instances: u64,
    /// Limits of an action deployed without its own.
    pub defaults: Limits,
}

impl Default for Policy {
    /// The server's defaults (`wisp serve` without flags).
    fn default() -> Self {
        Policy {
            max_timeout_ms: 300_000,
            max_memory_mb: 512,
            max_storage_mb: 1024,
            max_instances: 256,
            defaults: Limits::default(),
        }
    }
}

/// OpenWhisk's `limits.logs` range, in MB.
pub const LOGS_RANGE: (u64, u64) = (0, 10);
/// OpenWhisk's `limits.concurrency` range.
pub const CONCURRENCY_RANGE: (u64, u64) = (1, 500);

/// A document or record wisp refuses: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ResolveError {
    /// The field, e.g. `limits.instances` or `annotations.web-export`.
    pub field: String,
    /// A whole sentence for people, naming the field and what it may be.
    pub message: String,
}

impl ResolveError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ResolveError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A resolved action, without its module: limits in range, annotations read.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// The module, when the document carried one (decoded from base64).
    pub code: Option<Vec<u8>>,
    /// Limits, each in its range.
    pub limits: Limits,
    /// Default parameters.
    pub parameters: Vec<KeyValue>,
    /// Annotations as written, without the ones `GET` adds.
    pub annotations: Vec<KeyValue>,
    /// Annotation `web-export`.
    pub web_export: bool,
    /// Annotation `require-whisk-auth`.
    pub web_auth: WebAuth,
    /// Annotation `allowed-outbound-hosts`.
    pub outbound_hosts: Vec<String>,
    /// Annotation `keyvalue-stores`: the stores besides `default` it may open.
    pub keyvalue_stores: Vec<String>,
    /// Annotation `init`: which export pre-initializes the module.
    pub init: Init,
    /// A sequence's actions (`exec.kind` `sequence`), each `namespace/name`.
    pub sequence: Option<Vec<String>>,
}

/// Resolves a document: values it gives replace those of `current` (an update),
/// or of the policy's defaults (a new action).
pub fn resolve(
    doc: ActionDoc,
    current: Option<&ActionRecord>,
    policy: &Policy,
) -> Result<ActionSpec, ResolveError> {
    let (code, sequence) = match doc.exec {
        // An update without `exec` keeps what the action runs.
        None => (None, current.and_then(|c| c.sequence.clone())),
        Some(exec) if exec.kind == "sequence" => (None, Some(sequence(exec)?)),
        Some(exec) => {
            if exec.kind != "wasm" {
                return Err(ResolveError::new(
                    "exec.kind",
                    format!(
                        "exec.kind '{}' is not supported: wisp runs WebAssembly, kind 'wasm' (or a 'sequence' of actions)",
                        exec.kind
                    ),
                ));
            }
            let text = exec.code.ok_or_else(|| {
                ResolveError::new(
                    "exec.code",
                    "exec.code is missing: give the module as base64",
                )
            })?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| {
                    ResolveError::new("exec.code", format!("exec.code is not valid base64: {e}"))
                })?;
            (Some(bytes), None)
        }
    };
    let base = current.map_or(policy.defaults, |c| c.limits);
    let limits = limits(doc.limits.as_ref(), base, policy)?;
    let keeps_parameters = doc.parameters.is_none();
    let parameters = match doc.parameters {
        Some(p) => parameters(p)?,
        None => current.map(|c| c.parameters.clone()).unwrap_or_default(),
    };
    let mut annotations: Vec<KeyValue> = match doc.annotations {
        Some(a) => a
            .into_iter()
            .filter(|kv| kv.key != "exec" && kv.key != SHAPE_ANNOTATION)
            .collect(),
        None => current.map(|c| c.annotations.clone()).unwrap_or_default(),
    };
    // Parameters an update keeps stay as secret as they were, even when its
    // annotations leave `secret-parameters` out.
    if keeps_parameters
        && !annotations.iter().any(|kv| kv.key == SECRETS_ANNOTATION)
        && let Some(kept) =
            current.and_then(|c| c.annotations.iter().find(|kv| kv.key == SECRETS_ANNOTATION))
    {
        annotations.push(kept.clone());
    }
    let read = self::annotations(&annotations)?;
    if sequence.is_some() && read.web_export {
        return Err(ResolveError::new(
            "annotations.web-export",
            "a sequence is not a web action: invoke it through the API or a rule",
        ));
    }
    check_secrets(&read.secret_parameters, &parameters)?;
    Ok(ActionSpec {
        code,
        limits,
        parameters,
        annotations,
        web_export: read.web_export,
        web_auth: read.web_auth,
        outbound_hosts: read.outbound_hosts,
        keyvalue_stores: read.keyvalue_stores,
        init: read.init,
        sequence,
    })
}

/// Most actions one sequence names.
pub const SEQUENCE_MAX_COMPONENTS: usize = 50;

/// A sequence's components, each as `namespace/name` (`_` for the caller's
/// namespace): `/ns/name`, `ns/name` or a bare `name`.
fn sequence(exec: crate::action::ExecDoc) -> Result<Vec<String>, ResolveError> {
    const FIELD: &str = "exec.components";
    if exec.code.is_some() {
        return Err(ResolveError::new(
            "exec.code",
            "a sequence has no code: give its actions in exec.components",
        ));
    }
    let given = exec.components.unwrap_or_default();
    if given.is_empty() || given.len() > SEQUENCE_MAX_COMPONENTS {
        return Err(ResolveError::new(
            FIELD,
            format!(
                "exec.components must list 1 to {SEQUENCE_MAX_COMPONENTS} actions, as /namespace/name; it lists {}",
                given.len()
            ),
        ));
    }
    given
        .iter()
        .map(|c| {
            let parts: Vec<&str> = c.strip_prefix('/').unwrap_or(c).split('/').collect();
            let (ns, name) = match parts.as_slice() {
                [name] => ("_", *name),
                [ns, name] | [ns, "default", name] => (*ns, *name),
                _ => ("", ""),
            };
            if crate::valid_name(ns) && crate::valid_name(name) {
                Ok(format!("{ns}/{name}"))
            } else {
                Err(ResolveError::new(
                    FIELD,
                    format!("exec.components: '{c}' is not an action path like /namespace/name"),
                ))
            }
        })
        .collect()
}

/// Checks a stored record against the policy (which may have shrunk since it was
/// stored, e.g. a smaller instance pool).
pub fn check_record(record: &ActionRecord, policy: &Policy) -> Result<(), ResolveError> {
    let l = &record.limits;
    in_range(
        "limits.timeout",
        l.timeout,
        1,
        policy.max_timeout_ms,
        "milliseconds",
    )?;
    in_range("limits.memory", l.memory, 1, policy.max_memory_mb, "MiB")?;
    in_range("limits.storage", l.storage, 0, policy.max_storage_mb, "MiB")?;
    in_range(
        "limits.instances",
        l.instances,
        0,
        policy.max_instances,
        "instances",
    )?;
    Ok(())
}

fn in_range(field: &str, v: u64, lo: u64, hi: u64, unit: &str) -> Result<u64, ResolveError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(ResolveError::new(
            field,
            format!("{field} must be between {lo} and {hi} {unit}, got {v}"),
        ))
    }
}

/// One numeric limit: a non-negative integer in its range.
fn number(
    field: &str,
    given: Option<&Value>,
    (lo, hi): (u64, u64),
    unit: &str,
) -> Result<Option<u64>, ResolveError> {
    let Some(v) = given else { return Ok(None) };
    let n = match v {
        Value::Number(n) => n.as_u64(),
        // Query strings and some clients send numbers as text.
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) => in_range(field, n, lo, hi, unit).map(Some),
        None => Err(ResolveError::new(
            field,
            format!("{field} must be an integer between {lo} and {hi} {unit}, got {v}"),
        )),
    }
}

/// The limits a document gives, over `base`.
pub fn limits(
    given: Option<&LimitsDoc>,
    base: Limits,
    policy: &Policy,
) -> Result<Limits, ResolveError> {
    let mut out = base;
    let Some(l) = given else { return Ok(out) };
    if let Some(t) = number(
        "limits.timeout",
        l.timeout.as_ref(),
        (1, policy.max_timeout_ms),
        "milliseconds",
    )? {
        out.timeout = t;
    }
    if let Some(m) = number(
        "limits.memory",
        l.memory.as_ref(),
        (1, policy.max_memory_mb),
        "MiB",
    )? {
        out.memory = m;
    }
    if let Some(s) = number(
        "limits.storage",
        l.storage.as_ref(),
        (0, policy.max_storage_mb),
        "MiB",
    )? {
        out.storage = s;
    }
    if let Some(n) = number(
        "limits.instances",
        l.instances.as_ref(),
        (0, policy.max_instances),
        "instances",
    )? {
        out.instances = n;
    }
    number("limits.logs", l.logs.as_ref(), LOGS_RANGE, "MB")?;
    number(
        "limits.concurrency",
        l.concurrency.as_ref(),
        CONCURRENCY_RANGE,
        "calls",
    )?;
    Ok(out)
}

fn parameters(given: Vec<KeyValue>) -> Result<Vec<KeyValue>, ResolveError> {
    if let Some(i) = given.iter().position(|kv| kv.key.is_empty()) {
        return Err(ResolveError::new(
            format!("parameters[{i}].key"),
            format!("parameters[{i}] has an empty key"),
        ));
    }
    Ok(given)
}

/// What wisp reads from an action's annotations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Annotations {
    /// `web-export`: whether it answers web calls.
    pub web_export: bool,
    /// `require-whisk-auth`.
    pub web_auth: WebAuth,
    /// `allowed-outbound-hosts`.
    pub outbound_hosts: Vec<String>,
    /// `keyvalue-stores`.
    pub keyvalue_stores: Vec<String>,
    /// `init`.
    pub init: Init,
    /// `secret-parameters`: the parameters stored sealed and never shown.
    pub secret_parameters: Vec<String>,
}

/// Which export, run once at deploy, pre-initializes an action's module (the
/// annotation `init`; see docs/functions.md, "Pre-initialized snapshots").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Init {
    /// `wizer-initialize`, when the module exports it (no annotation).
    #[default]
    Auto,
    /// This export, which the module must have (`init: "NAME"`).
    Export(String),
    /// None, even when the module exports `wizer-initialize` (`init: false`).
    Off,
}

/// The annotation naming an action's init export.
pub const INIT_ANNOTATION: &str = "init";
/// The export run at deploy when no `init` annotation names one.
pub const DEFAULT_INIT_EXPORT: &str = "wizer-initialize";

pub use crate::kv::STORES_ANNOTATION;

/// The annotation listing the hosts an action's outgoing HTTP may reach.
pub const OUTBOUND_ANNOTATION: &str = "allowed-outbound-hosts";

/// Reads the annotations wisp acts on; a malformed value is an error, never
/// silently ignored. Other annotations are kept as they are.
pub fn annotations(list: &[KeyValue]) -> Result<Annotations, ResolveError> {
    let mut out = Annotations::default();
    for kv in list {
        let field = || format!("annotations.{}", kv.key);
        match kv.key.as_str() {
            "web-export" => {
                out.web_export = match &kv.value {
                    Value::Bool(b) => *b,
                    Value::String(s) if s == "true" => true,
                    Value::String(s) if s == "false" => false,
                    other => {
                        return Err(ResolveError::new(
                            field(),
                            format!("annotation web-export must be true or false, got {other}"),
                        ));
                    }
                }
            }
            "require-whisk-auth" => {
                out.web_auth = match &kv.value {
                    Value::Bool(true) => WebAuth::Key,
                    Value::Bool(false) | Value::Null => WebAuth::None,
                    Value::String(s) if s.is_empty() => WebAuth::None,
                    Value::String(s) if s.bytes().all(|b| b.is_ascii_graphic()) => {
                        WebAuth::Secret(s.clone())
                    }
                    Value::Number(n) if n.is_u64() => WebAuth::Secret(n.to_string()),
                    other => {
                        return Err(ResolveError::new(
                            field(),
                            format!(
                                "annotation require-whisk-auth must be true, false, a secret (printable ASCII, no spaces) or a non-negative integer, got {other}"
                            ),
                        ));
                    }
                }
            }
            OUTBOUND_ANNOTATION => out.outbound_hosts = outbound_hosts(&kv.value)?,
            STORES_ANNOTATION => out.keyvalue_stores = keyvalue_stores(&kv.value)?,
            INIT_ANNOTATION => out.init = init(&kv.value)?,
            SECRETS_ANNOTATION => out.secret_parameters = secret_parameters(&kv.value)?,
            _ => {}
        }
    }
    Ok(out)
}

/// The annotation listing an action's secret parameters (docs/secrets.md).
pub const SECRETS_ANNOTATION: &str = "secret-parameters";

/// `secret-parameters`: a JSON array of distinct, non-empty parameter names.
fn secret_parameters(value: &Value) -> Result<Vec<String>, ResolveError> {
    let field = format!("annotations.{SECRETS_ANNOTATION}");
    let bad = |got: &Value| {
        ResolveError::new(
            field.clone(),
            format!(
                "annotation {SECRETS_ANNOTATION} must be a JSON array of parameter names, got {got}"
            ),
        )
    };
    let Value::Array(items) = value else {
        return Err(bad(value));
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(s) if !s.is_empty() => {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
            other => return Err(bad(other)),
        }
    }
    Ok(out)
}

/// Every name `secret-parameters` lists must be one of the parameters.
fn check_secrets(secrets: &[String], parameters: &[KeyValue]) -> Result<(), ResolveError> {
    match secrets
        .iter()
        .find(|s| !parameters.iter().any(|kv| &kv.key == *s))
    {
        Some(missing) => Err(ResolveError::new(
            format!("annotations.{SECRETS_ANNOTATION}"),
            format!(
                "annotation {SECRETS_ANNOTATION} lists '{missing}', which is not a parameter of the action"
            ),
        )),
        None => Ok(()),
    }
}

/// `init`: an export name, `true` (the default export, required), or `false`.
fn init(value: &Value) -> Result<Init, ResolveError> {
    let field = format!("annotations.{INIT_ANNOTATION}");
    match value {
        Value::Bool(false) | Value::Null => Ok(Init::Off),
        Value::String(s) if s == "false" => Ok(Init::Off),
        Value::Bool(true) => Ok(Init::Export(DEFAULT_INIT_EXPORT.into())),
        Value::String(s) if s == "true" => Ok(Init::Export(DEFAULT_INIT_EXPORT.into())),
        Value::String(s)
            if !s.is_empty() && s.len() <= 256 && s.chars().all(|c| !c.is_control()) =>
        {
            Ok(Init::Export(s.clone()))
        }
        other => Err(ResolveError::new(
            field,
            format!(
                "annotation {INIT_ANNOTATION} must name the export to run at deploy (1 to 256 printable characters), or be true or false, got {other}"
            ),
        )),
    }
}

/// `keyvalue-stores`: a JSON array of store names, or one string separated by
/// commas or spaces; each a [`valid_name`](crate::valid_name).
fn keyvalue_stores(value: &Value) -> Result<Vec<String>, ResolveError> {
    let field = format!("annotations.{STORES_ANNOTATION}");
    let bad = |what: String| {
        ResolveError::new(
            field.clone(),
            format!("annotation {STORES_ANNOTATION} must list key-value store names, {what}"),
        )
    };
    let items: Vec<&str> = match value {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| bad(format!("got {v}"))))
            .collect::<Result<_, _>>()?,
        Value::String(s) => s.split([',', ' ']).filter(|n| !n.is_empty()).collect(),
        other => return Err(bad(format!("got {other}"))),
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for name in items {
        if !crate::valid_name(name) {
            return Err(bad(format!(
                "'{name}' is not one (letters, digits, '_', '-', '.', '@', at most 256)"
            )));
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// `allowed-outbound-hosts`: a JSON array of strings, or one string separated by
/// commas or spaces; each `*`, `host` or `host:port`, optionally with `http://` or
/// `https://`.
fn outbound_hosts(value: &Value) -> Result<Vec<String>, ResolveError> {
    let field = format!("annotations.{OUTBOUND_ANNOTATION}");
    let items: Vec<&str> = match value {
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    ResolveError::new(
                        field.clone(),
                        format!(
                            "annotation {OUTBOUND_ANNOTATION} must list hosts as strings, got {v}"
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Value::String(s) => s.split([',', ' ']).filter(|h| !h.is_empty()).collect(),
        other => {
            return Err(ResolveError::new(
                field,
                format!("annotation {OUTBOUND_ANNOTATION} must be a list of hosts, got {other}"),
            ));
        }
    };
    items
        .into_iter()
        .map(|h| {
            let h = h.trim();
            if valid_host(h) {
                Ok(h.to_string())
            } else {
                Err(ResolveError::new(
                    field.clone(),
                    format!(
                        "annotation {OUTBOUND_ANNOTATION}: '{h}' is not '*', a host or host:port"
                    ),
                ))
            }
        })
        .collect()
}

fn valid_host(h: &str) -> bool {
    let h = h
        .strip_prefix("http://")
        .or_else(|| h.strip_prefix("https://"))
        .unwrap_or(h)
        .trim_end_matches('/');
    if h == "*" {
        return true;
    }
    let (host, port, ipv6) = match h.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:8080`.
        Some(rest) => match rest.split_once(']') {
            Some((addr, "")) => (addr, None, true),
            Some((addr, tail)) => match tail.strip_prefix(':') {
                Some(p) => (addr, Some(p), true),
                None => return false,
            },
            None => return false,
        },
        None => match h.split_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (h, None, false),
        },
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| {
            if ipv6 {
                b.is_ascii_hexdigit() || b == b':'
            } else {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')
            }
        });
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> ActionDoc {
        serde_json::from_value(v).unwrap()
    }

    fn err(v: Value) -> ResolveError {
        resolve(doc(v), None, &Policy::default()).unwrap_err()
    }

    #[test]
    fn every_limit_outside_its_range_names_the_field_and_range() {
        for (field, value, range) in [
            ("timeout", json!(0), "between 1 and 300000"),
            ("timeout", json!(300_001), "between 1 and 300000"),
            ("memory", json!(513), "between 1 and 512"),
            ("storage", json!(1025), "between 0 and 1024"),
            (
                "instances",
                json!(4_611_686_018_427_387_904u64),
                "between 0 and 256",
            ),
            ("instances", json!(-1), "between 0 and 256"),
            ("instances", json!(1.5), "between 0 and 256"),
            ("memory", json!("lots"), "between 1 and 512"),
            ("logs", json!(11), "between 0 and 10"),
            ("concurrency", json!(0), "between 1 and 500"),
        ] {
            let e = err(json!({"limits": {field: value}}));
            assert_eq!(e.field, format!("limits.{field}"));
            assert!(e.message.contains(range), "{field}={value}: {}", e.message);
            assert!(
                e.message.contains(&format!("limits.{field}")),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn limits_in_range_replace_the_base() {
        let s = resolve(
            doc(json!({"limits": {"timeout": 10, "memory": "64", "storage": 0, "instances": 256, "logs": 10, "concurrency": 1}})),
            None,
            &Policy::default(),
        )
        .unwrap();
        assert_eq!(
            s.limits,
            Limits {
                timeout: 10,
                memory: 64,
                storage: 0,
                instances: 256
            }
        );
    }

    #[test]
    fn an_update_keeps_what_it_does_not_give() {
        let first = resolve(
            doc(
                json!({"limits": {"memory": 32}, "parameters": [{"key": "a", "value": 1}],
                       "annotations": [{"key": "web-export", "value": true}]}),
            ),
            None,
            &Policy::default(),
        )
        .unwrap();
        let rec = ActionRecord::new("g", "a", "h".into(), crate::Shape::Http, first);
        let second = resolve(
            doc(json!({"limits": {"timeout": 7}})),
            Some(&rec),
            &Policy::default(),
        )
        .unwrap();
        assert_eq!((second.limits.memory, second.limits.timeout), (32, 7));
        assert_eq!(second.parameters, rec.parameters);
        assert!(second.web_export);
    }

    #[test]
    fn malformed_annotations_are_refused_not_ignored() {
        for (key, value) in [
            ("web-export", json!("yes")),
            ("require-whisk-auth", json!(["x"])),
            ("require-whisk-auth", json!("has space")),
            ("allowed-outbound-hosts", json!(5)),
            ("allowed-outbound-hosts", json!([1])),
            ("allowed-outbound-hosts", json!(["host:99999"])),
            ("allowed-outbound-hosts", json!(["a/b"])),
            ("keyvalue-stores", json!({"a": 1})),
            ("keyvalue-stores", json!([7])),
            ("keyvalue-stores", json!(["has/slash"])),
        ] {
            let e = err(json!({"annotations": [{"key": key, "value": value}]}));
            assert_eq!(e.field, format!("annotations.{key}"), "{key}={value}");
        }
    }

    #[test]
    fn secret_parameters_must_be_a_list_of_parameter_names() {
        let p = json!([{"key": "token", "value": "abcd"}]);
        for bad in [json!("token"), json!([1]), json!([""]), json!({"a": 1})] {
            let e = err(
                json!({"parameters": p, "annotations": [{"key": SECRETS_ANNOTATION, "value": bad}]}),
            );
            assert_eq!(e.field, "annotations.secret-parameters", "{bad}");
            assert!(e.message.contains("JSON array"), "{}", e.message);
        }
        let e = err(
            json!({"parameters": p, "annotations": [{"key": SECRETS_ANNOTATION, "value": ["other"]}]}),
        );
        // An update keeping the parameters keeps them secret.
        let marked = json!({"parameters": p, "annotations": [{"key": SECRETS_ANNOTATION, "value": ["token"]}]});
        let first = resolve(doc(marked), None, &Policy::default()).unwrap();
        let rec = crate::ActionRecord::new("g", "a", "h".into(), crate::Shape::Command, first);
        let kept = resolve(
            doc(json!({"annotations": []})),
            Some(&rec),
            &Policy::default(),
        )
        .unwrap();
        assert_eq!(
            annotations(&kept.annotations).unwrap().secret_parameters,
            ["token"]
        );
        let replaced = resolve(
            doc(json!({"parameters": p, "annotations": []})),
            Some(&rec),
            &Policy::default(),
        )
        .unwrap();
        assert!(
            annotations(&replaced.annotations)
                .unwrap()
                .secret_parameters
                .is_empty()
        );
        assert!(e.message.contains("'other'"), "{}", e.message);
        let s = resolve(
            doc(json!({"parameters": p, "annotations": [{"key": SECRETS_ANNOTATION, "value": ["token", "token"]}]})),
            None,
            &Policy::default(),
        )
        .unwrap();
        assert_eq!(
            annotations(&s.annotations).unwrap().secret_parameters,
            ["token"]
        );
    }

    #[test]
    fn annotations_wisp_reads() {
        let a = annotations(&[
            KeyValue {
                key: "web-export".into(),
                value: json!("true"),
            },
            KeyValue {
                key: "require-whisk-auth".into(),
                value: json!(1234),
            },
            KeyValue {
                key: OUTBOUND_ANNOTATION.into(),
                value: json!("a.test, https://b.test:8443 *"),
            },
            KeyValue {
                key: STORES_ANNOTATION.into(),
                value: json!(["cache", "sessions", "cache"]),
            },
            KeyValue {
                key: "final".into(),
                value: json!(true),
            },
        ])
        .unwrap();
        assert_eq!(a.keyvalue_stores, ["cache", "sessions"]);
        assert!(a.web_export);
        assert_eq!(a.web_auth, WebAuth::Secret("1234".into()));
        assert_eq!(a.outbound_hosts, ["a.test", "https://b.test:8443", "*"]);
        let key = annotations(&[KeyValue {
            key: "require-whisk-auth".into(),
            value: json!(true),
        }])
        .unwrap();
        assert_eq!(key.web_auth, WebAuth::Key);
        assert!(valid_host("[::1]:8080") && valid_host("[::1]") && valid_host("127.0.0.1:1"));
    }

    #[test]
    fn code_must_be_wasm_in_base64() {
        assert_eq!(
            err(json!({"exec": {"kind": "nodejs:20", "code": "x"}})).field,
            "exec.kind"
        );
        assert_eq!(err(json!({"exec": {"kind": "wasm"}})).field, "exec.code");
        assert_eq!(
            err(json!({"exec": {"kind": "wasm", "code": "!!"}})).field,
            "exec.code"
        );
        let s = resolve(
            doc(json!({"exec": {"kind": "wasm", "code": "AGFzbQ=="}})),
            None,
            &Policy::default(),
        )
        .unwrap();
        assert_eq!(s.code.as_deref(), Some(&b"\0asm"[..]));
    }

    #[test]
    fn the_annotations_get_adds_are_dropped_on_redeploy() {
        let s = resolve(
            doc(json!({"annotations": [{"key": "exec", "value": "wasm"}, {"key": "wisp-shape", "value": "http"}, {"key": "x", "value": 1}]})),
            None,
            &Policy::default(),
        )
        .unwrap();
        assert_eq!(s.annotations.len(), 1);
    }

    #[test]
    fn stored_records_are_checked_against_a_smaller_policy() {
        let spec = resolve(
            doc(json!({"limits": {"instances": 200}})),
            None,
            &Policy::default(),
        )
        .unwrap();
        let rec = ActionRecord::new("g", "a", "h".into(), crate::Shape::Http, spec);
        assert!(check_record(&rec, &Policy::default()).is_ok());
        let small = Policy {
            max_instances: 16,
            ..Policy::default()
        };
        assert_eq!(
            check_record(&rec, &small).unwrap_err().field,
            "limits.instances"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<u64>().prop_map(|n| json!(n)),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| json!(f)),
                ".{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map("[a-z-]{0,8}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
                if let Ok(d) = serde_json::from_slice::<ActionDoc>(&bytes) {
                    let _ = resolve(d, None, &Policy::default());
                }
            }

            #[test]
            fn arbitrary_limits_resolve_in_range_or_name_a_limit(
                timeout in json_value(), memory in json_value(), storage in json_value(), instances in json_value()
            ) {
                let d = doc(json!({"limits": {"timeout": timeout, "memory": memory, "storage": storage, "instances": instances}}));
                let p = Policy::default();
                match resolve(d, None, &p) {
                    Ok(s) => {
                        prop_assert!((1..=p.max_timeout_ms).contains(&s.limits.timeout));
                        prop_assert!((1..=p.max_memory_mb).contains(&s.limits.memory));
                        prop_assert!(s.limits.storage <= p.max_storage_mb);
                        prop_assert!(s.limits.instances <= p.max_instances);
                    }
                    Err(e) => prop_assert!(e.field.starts_with("limits.")),
                }
            }

            #[test]
            fn arbitrary_annotations_never_panic(key in "[a-z-]{0,24}", value in json_value()) {
                let _ = annotations(&[KeyValue { key, value }]);
            }
        }
    }
}
