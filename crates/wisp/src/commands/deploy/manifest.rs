//! `wisp.toml`, the app manifest: a set of functions, each a `[[function]]`
//! table, checked as a whole before anything is deployed.
//!
//! What a user writes ([`RawFunction`], unknown keys refused) is turned into
//! [`Function`]s, or into every [`Problem`] found, each at its line and column:
//! syntax errors (all of them, as the TOML parser recovers), unknown keys and
//! wrong types (each entry is read again without the key at fault, so one bad
//! key does not hide the next), names, sources, assets, and the limits and
//! annotations [`wisp_api::resolve::resolve`] checks for the server (with the
//! default [`Policy`]; the server checks again with its own).
//!
//! The key reference is in docs/operations.md, "The app manifest".

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use wisp_api::action::LimitsDoc;
use wisp_api::{ActionDoc, KeyValue, Policy};

use super::function::{Function, Parts, WASM_MAGIC, pack_assets};

/// One `[[function]]` entry as written. Every key is optional here so that a
/// missing one is reported in wisp's words, and each keeps its place in the
/// file for the messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFunction {
    name: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    memory: Option<Spanned<i64>>,
    /// Milliseconds, or a duration string (`"500ms"`, `"5s"`, `"2m"`).
    timeout: Option<Spanned<toml::Value>>,
    instances: Option<Spanned<i64>>,
    data: Option<Spanned<i64>>,
    parameters: Option<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
    /// Secret parameters: strings, or `${VAR}` for the deployer's environment
    /// variable VAR (docs/secrets.md).
    secrets: Option<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
    allowed_outbound_hosts: Option<Spanned<Vec<String>>>,
    /// The named key-value stores it may open besides `default`.
    keyvalue_stores: Option<Spanned<Vec<String>>>,
    assets: Option<Spanned<String>>,
    web: Option<Spanned<bool>>,
    /// `true`, `false` or a secret string.
    require_whisk_auth: Option<Spanned<toml::Value>>,
    /// The export to run at deploy, or `false` for none.
    init: Option<Spanned<toml::Value>>,
}

/// Something wrong in a manifest, at a byte offset of the file (none when it
/// concerns the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset in the file.
    pub at: Option<usize>,
    /// What is wrong, for people.
    pub message: String,
}

impl Problem {
    fn at(span: &Range<usize>, message: impl Into<String>) -> Self {
        Problem {
            at: Some(span.start),
            message: message.into(),
        }
    }
}

/// Renders problems as `FILE:LINE:COLUMN: message` lines, as compilers do.
pub fn render(file: &str, text: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        match p.at {
            Some(offset) => {
                let (line, column) = position(text, offset);
                out.push_str(&format!("{file}:{line}:{column}: {}\n", p.message));
            }
            None => out.push_str(&format!("{file}: {}\n", p.message)),
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Reads a manifest: every function in it, each ready to deploy, or every
/// problem found. Paths in it are relative to `base` (the manifest's
/// directory).
pub fn parse(text: &str, base: &Path) -> Result<Vec<Function>, Vec<Problem>> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        // A document that does not parse has no reliable entries to check.
        return Err(errors
            .iter()
            .map(|e| Problem {
                at: e.span().map(|s| s.start),
                message: e.message().to_string(),
            })
            .collect());
    }
    let mut problems = Vec::new();
    let mut entries = None;
    for (key, value) in root.get_ref().iter() {
        if key.get_ref() == "function" {
            match value.get_ref() {
                DeValue::Array(items) => entries = Some(items),
                _ => problems.push(Problem::at(
                    &value.span(),
                    "`function` must be an array of tables: write each function as [[function]]",
                )),
            }
        } else {
            problems.push(Problem::at(
                &key.span(),
                format!(
                    "unknown key `{}`: a wisp.toml holds only [[function]] entries",
                    key.get_ref()
                ),
            ));
        }
    }
    let entries = entries
        .map(|e| e.iter().collect::<Vec<_>>())
        .unwrap_or_default();
    if entries.is_empty() && problems.is_empty() {
        problems.push(Problem {
            at: None,
            message: "no functions: describe each in a [[function]] table".into(),
        });
    }
    let mut functions = Vec::new();
    let mut names: BTreeMap<String, Range<usize>> = BTreeMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        // A function is kept only while no problem is found anywhere.
        if let Some(f) = check_entry(i + 1, entry, base, text, &mut names, &mut problems) {
            functions.push(f);
        }
    }
    if problems.is_empty() {
        Ok(functions)
    } else {
        // In the order of the file, as an editor walks them.
        problems.sort_by_key(|p| p.at);
        Err(problems)
    }
}

/// Reads one entry, again and again without each key serde refused, so that
/// every unknown key and wrong type is reported, not just the first.
fn read_entry(entry: &Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) -> Option<RawFunction> {
    let DeValue::Table(table) = entry.get_ref() else {
        problems.push(Problem::at(
            &entry.span(),
            "each function must be a table: write it as [[function]]",
        ));
        return None;
    };
    let mut table = table.clone();
    loop {
        let value = Spanned::new(entry.span(), DeValue::Table(table.clone()));
        match RawFunction::deserialize(ValueDeserializer::from(value)) {
            Ok(raw) => return Some(raw),
            Err(e) => {
                let span = e.span().unwrap_or(entry.span());
                problems.push(Problem::at(&span, e.message()));
                let culprit = table
                    .iter()
                    .find(|(k, v)| contains(&k.span(), &span) || contains(&v.span(), &span))
                    .map(|(k, _)| k.get_ref().to_string());
                match culprit {
                    Some(key) => {
                        table = table
                            .into_iter()
                            .filter(|(k, _)| k.get_ref().as_ref() != key)
                            .collect();
                    }
                    None => return None,
                }
            }
        }
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.start < outer.end.max(outer.start + 1)
}

/// Where each checked key of an entry is, by the name resolve's errors use.
#[derive(Default)]
struct Places {
    limits: BTreeMap<&'static str, Range<usize>>,
    annotations: BTreeMap<&'static str, Range<usize>>,
    parameters: Vec<Range<usize>>,
}

fn check_entry(
    number: usize,
    entry: &Spanned<DeValue<'_>>,
    base: &Path,
    text: &str,
    names: &mut BTreeMap<String, Range<usize>>,
    problems: &mut Vec<Problem>,
) -> Option<Function> {
    let raw = read_entry(entry, problems)?;
    let entry_at = entry.span();
    let mut ok = true;
    let mut fail = |span: &Range<usize>, message: String| {
        problems.push(Problem::at(span, message));
        ok = false;
    };

    let label = match &raw.name {
        Some(n) => format!("function '{}'", n.get_ref()),
        None => format!("function #{number}"),
    };
    match &raw.name {
        None => fail(&entry_at, format!("{label} has no `name`")),
        Some(n) if !wisp_controller::routes::valid_name(n.get_ref()) => fail(
            &n.span(),
            format!(
                "'{}' is not a valid name: letters, digits and _, then also @ . -, at most 256 characters",
                n.get_ref()
            ),
        ),
        Some(n) => {
            if let Some(first) = names.get(n.get_ref()) {
                let (line, _) = position(text, first.start);
                fail(
                    &n.span(),
                    format!(
                        "the name '{}' is already used by the function at line {line}",
                        n.get_ref()
                    ),
                );
            } else {
                names.insert(n.get_ref().clone(), n.span());
            }
        }
    }

    let module = match &raw.source {
        None => {
            fail(
                &entry_at,
                format!(
                    "{label} has no `source` (the path of its .wasm file or of a source to build)"
                ),
            );
            None
        }
        Some(s) if crate::oci::is_reference(s.get_ref()) => match crate::oci::pull(s.get_ref()) {
            Ok(m) => Some(m),
            Err(e) => {
                fail(&s.span(), format!("{label}: source {e:#}"));
                None
            }
        },
        Some(s) => match read_module(&base.join(s.get_ref())) {
            Ok(m) => Some(m),
            Err(why) => {
                fail(
                    &s.span(),
                    format!("{label}: source '{}' {why}", s.get_ref()),
                );
                None
            }
        },
    };

    let mut places = Places::default();
    let mut limits = LimitsDoc::default();
    for (field, given, slot) in [
        ("limits.memory", &raw.memory, &mut limits.memory),
        ("limits.instances", &raw.instances, &mut limits.instances),
        ("limits.storage", &raw.data, &mut limits.storage),
    ] {
        if let Some(v) = given {
            *slot = Some(Value::from(*v.get_ref()));
            places.limits.insert(field, v.span());
        }
    }
    if let Some(t) = &raw.timeout {
        match timeout_ms(t.get_ref()) {
            Ok(ms) => {
                limits.timeout = Some(ms);
                places.limits.insert("limits.timeout", t.span());
            }
            Err(why) => fail(&t.span(), format!("{label}: {why}")),
        }
    }

    let mut parameters = Vec::new();
    if let Some(table) = &raw.parameters {
        for (k, v) in table.get_ref() {
            match json_of(v.get_ref()) {
                Ok(value) => {
                    parameters.push(KeyValue {
                        key: k.get_ref().clone(),
                        value,
                    });
                    places.parameters.push(k.span());
                }
                Err(why) => fail(
                    &v.span(),
                    format!("{label}: parameter '{}': {why}", k.get_ref()),
                ),
            }
        }
    }

    let mut secrets = Vec::new();
    if let Some(table) = &raw.secrets {
        places
            .annotations
            .insert("annotations.secret-parameters", table.span());
        for (k, v) in table.get_ref() {
            let key = k.get_ref();
            if parameters.iter().any(|kv| &kv.key == key) {
                fail(
                    &k.span(),
                    format!("{label}: '{key}' is both in parameters and in secrets"),
                );
                continue;
            }
            match secret_value(v.get_ref()) {
                Ok(value) => {
                    parameters.push(KeyValue {
                        key: key.clone(),
                        value: Value::String(value),
                    });
                    places.parameters.push(k.span());
                    secrets.push(key.clone());
                }
                Err(why) => fail(&v.span(), format!("{label}: secret '{key}': {why}")),
            }
        }
    }

    let require_whisk_auth = match &raw.require_whisk_auth {
        None => None,
        Some(a) => {
            places
                .annotations
                .insert("annotations.require-whisk-auth", a.span());
            match a.get_ref() {
                toml::Value::Boolean(true) => Some(Value::Bool(true)),
                toml::Value::Boolean(false) => None,
                toml::Value::String(s) => Some(Value::String(s.clone())),
                other => {
                    fail(
                        &a.span(),
                        format!(
                            "{label}: require-whisk-auth must be true, false or a secret string, got {}",
                            other.type_str()
                        ),
                    );
                    None
                }
            }
        }
    };
    if let Some(w) = &raw.web {
        places
            .annotations
            .insert("annotations.web-export", w.span());
    }
    let init = match &raw.init {
        None => None,
        Some(i) => {
            places.annotations.insert("annotations.init", i.span());
            match i.get_ref() {
                toml::Value::Boolean(b) => Some(Value::Bool(*b)),
                toml::Value::String(s) => Some(Value::String(s.clone())),
                other => {
                    fail(
                        &i.span(),
                        format!(
                            "{label}: init must name an export, or be true or false, got {}",
                            other.type_str()
                        ),
                    );
                    None
                }
            }
        }
    };
    if let Some(h) = &raw.allowed_outbound_hosts {
        places
            .annotations
            .insert("annotations.allowed-outbound-hosts", h.span());
    }
    if let Some(k) = &raw.keyvalue_stores {
        places
            .annotations
            .insert("annotations.keyvalue-stores", k.span());
    }
    let parts = Parts {
        limits,
        parameters,
        web: raw.web.as_ref().is_none_or(|w| *w.get_ref()),
        require_whisk_auth,
        allowed_outbound_hosts: raw
            .allowed_outbound_hosts
            .as_ref()
            .map(|h| h.get_ref().clone())
            .unwrap_or_default(),
        keyvalue_stores: raw
            .keyvalue_stores
            .as_ref()
            .map(|k| k.get_ref().clone())
            .unwrap_or_default(),
        init,
        secrets,
    };
    for (span, message) in resolve_all(&parts, &places, &entry_at) {
        fail(&span, format!("{label}: {message}"));
    }

    let assets = match &raw.assets {
        None => None,
        Some(dir) => match pack_assets(&base.join(dir.get_ref())) {
            Ok(a) => Some(a),
            Err(why) => {
                fail(
                    &dir.span(),
                    format!("{label}: assets '{}': {why:#}", dir.get_ref()),
                );
                None
            }
        },
    };

    let (Some(name), Some(module), true) = (&raw.name, module, ok) else {
        return None;
    };
    Some(Function::new(
        name.get_ref().clone(),
        module,
        &parts,
        assets,
    ))
}

/// Checks the document an entry becomes with the server's resolve step, as
/// often as it takes to find every limit and annotation out of range: each
/// field resolve refuses is reported at its key and left out of the next try.
fn resolve_all(
    parts: &Parts,
    places: &Places,
    entry_at: &Range<usize>,
) -> Vec<(Range<usize>, String)> {
    let mut doc = ActionDoc {
        limits: Some(parts.limits.clone()),
        parameters: Some(parts.parameters.clone()),
        annotations: Some(parts.annotations(None)),
        ..ActionDoc::default()
    };
    let mut found = Vec::new();
    while let Err(e) = wisp_api::resolve::resolve(doc.clone(), None, &Policy::default()) {
        let key = manifest_key(&e.field);
        let message = match (key, e.message.strip_prefix(e.field.as_str())) {
            (Some(key), Some(rest)) => format!("{key}{rest}"),
            _ => e.message.clone(),
        };
        let removed = remove_field(&mut doc, &e.field);
        let span = places
            .limits
            .get(e.field.as_str())
            .or_else(|| places.annotations.get(e.field.as_str()))
            .or_else(|| parameter_index(&e.field).and_then(|i| places.parameters.get(i)))
            .unwrap_or(entry_at);
        found.push((span.clone(), message));
        if !removed {
            break;
        }
    }
    found
}

/// The manifest key of a field resolve names.
fn manifest_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "limits.timeout" => "timeout",
        "limits.memory" => "memory",
        "limits.storage" => "data",
        "limits.instances" => "instances",
        "annotations.web-export" => "web",
        "annotations.require-whisk-auth" => "require-whisk-auth",
        "annotations.allowed-outbound-hosts" => "allowed-outbound-hosts",
        "annotations.keyvalue-stores" => "keyvalue-stores",
        "annotations.secret-parameters" => "secrets",
        _ => return None,
    })
}

fn parameter_index(field: &str) -> Option<usize> {
    field
        .strip_prefix("parameters[")?
        .split_once(']')?
        .0
        .parse()
        .ok()
}

/// Takes a refused field out of the document; false when it is not one this
/// module puts there (so trying again would refuse the same).
fn remove_field(doc: &mut ActionDoc, field: &str) -> bool {
    if let Some(limits) = doc.limits.as_mut() {
        let slot = match field {
            "limits.timeout" => Some(&mut limits.timeout),
            "limits.memory" => Some(&mut limits.memory),
            "limits.storage" => Some(&mut limits.storage),
            "limits.instances" => Some(&mut limits.instances),
            _ => None,
        };
        if let Some(slot) = slot {
            return slot.take().is_some();
        }
    }
    if let Some(key) = field.strip_prefix("annotations.")
        && let Some(list) = doc.annotations.as_mut()
    {
        let before = list.len();
        list.retain(|kv| kv.key != key);
        return list.len() < before;
    }
    if let (Some(i), Some(list)) = (parameter_index(field), doc.parameters.as_mut())
        && i < list.len()
    {
        list.remove(i);
        return true;
    }
    false
}

/// A module's bytes: the file's, when it is WebAssembly, or what `wisp build`
/// makes of a source (a Rust crate directory, a .c, .cpp, .js or .py file, a
/// directory `wisp new` made).
fn read_module(path: &Path) -> Result<Vec<u8>, String> {
    if crate::commands::build::looks_like_source(path) {
        return crate::commands::build::module_bytes(path)
            .map_err(|e| format!("does not build: {e:#}"));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot be read ({}): {e}", path.display()))?;
    if !bytes.starts_with(WASM_MAGIC) {
        return Err(format!(
            "is not WebAssembly ({} does not start with \\0asm)",
            path.display()
        ));
    }
    Ok(bytes)
}

/// `timeout`: an integer of milliseconds, or a duration string in whole
/// milliseconds (`"500ms"`, `"5s"`, `"1.5s"`, `"2m"`).
fn timeout_ms(v: &toml::Value) -> Result<Value, String> {
    match v {
        toml::Value::Integer(n) => Ok(Value::from(*n)),
        toml::Value::String(s) => {
            let d = wisp_load::parse_duration(s).map_err(|e| format!("timeout: {e:#}"))?;
            if d.subsec_nanos() % 1_000_000 != 0 {
                return Err(format!(
                    "timeout {s:?} is not a whole number of milliseconds"
                ));
            }
            u64::try_from(d.as_millis())
                .map(Value::from)
                .map_err(|_| format!("timeout {s:?} is too long"))
        }
        other => Err(format!(
            "timeout must be milliseconds (an integer) or a duration such as \"5s\", got {}",
            other.type_str()
        )),
    }
}

/// A secret's value: a string as written, or, written as exactly `${VAR}`,
/// the deployer's environment variable VAR (which must be set), so that the
/// secret need not be in the file.
fn secret_value(v: &toml::Value) -> Result<String, String> {
    let toml::Value::String(s) = v else {
        return Err(format!("must be a string, got {}", v.type_str()));
    };
    match s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(var) if !var.is_empty() => std::env::var(var)
            .map_err(|_| format!("the environment variable {var} is not set (or not UTF-8)")),
        _ => Ok(s.clone()),
    }
}

/// A TOML value as the JSON a parameter carries; a date or time becomes its
/// TOML text.
fn json_of(v: &toml::Value) -> Result<Value, String> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(n) => Value::from(*n),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} cannot be written in JSON"))?,
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => {
            Value::Array(items.iter().map(json_of).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), json_of(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A directory with a tiny module `m.wasm`, a non-module `x.txt` and an
    /// assets directory `files/`.
    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.wasm"), b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(dir.path().join("x.txt"), b"hello").unwrap();
        std::fs::create_dir(dir.path().join("files")).unwrap();
        std::fs::write(dir.path().join("files/a.txt"), b"a").unwrap();
        dir
    }

    fn problems(text: &str) -> Vec<String> {
        let dir = fixture();
        match parse(text, dir.path()) {
            Ok(f) => panic!("expected problems, got {} functions", f.len()),
            Err(p) => render("wisp.toml", text, &p)
                .lines()
                .map(str::to_string)
                .collect(),
        }
    }

    #[test]
    fn every_key_maps_onto_the_action_document() {
        let dir = fixture();
        let text = r#"
[[function]]
name = "api"
source = "m.wasm"
memory = 64
timeout = "1.5s"
instances = 4
data = 8
allowed-outbound-hosts = ["example.com:443"]
keyvalue-stores = ["cache"]
assets = "files"
web = false
require-whisk-auth = "s3cret"

[function.parameters]
greeting = "hi"
n = 3
nested = { list = [1, 2.5], on = true }
when = 1979-05-27

[[function]]
name = "plain"
source = "m.wasm"
timeout = 250
"#;
        let fs = parse(text, dir.path()).unwrap();
        assert_eq!(fs.len(), 2);
        let doc = serde_json::to_value(fs[0].doc()).unwrap();
        assert_eq!(
            doc["limits"],
            json!({"timeout": 1500, "memory": 64, "storage": 8, "instances": 4})
        );
        assert_eq!(
            doc["parameters"],
            json!([
                {"key": "greeting", "value": "hi"},
                {"key": "n", "value": 3},
                {"key": "nested", "value": {"list": [1, 2.5], "on": true}},
                {"key": "when", "value": "1979-05-27"},
            ])
        );
        let annotations = doc["annotations"].as_array().unwrap();
        assert_eq!(annotations[0], json!({"key": "web-export", "value": false}));
        assert_eq!(
            annotations[1],
            json!({"key": "require-whisk-auth", "value": "s3cret"})
        );
        assert_eq!(
            annotations[2],
            json!({"key": "allowed-outbound-hosts", "value": ["example.com:443"]})
        );
        assert_eq!(
            annotations[3],
            json!({"key": "keyvalue-stores", "value": ["cache"]})
        );
        assert_eq!(annotations[4]["key"], "wisp-assets-sha256");
        assert!(fs[0].assets.is_some());
        let plain = serde_json::to_value(fs[1].doc()).unwrap();
        assert_eq!(plain["limits"], json!({"timeout": 250}));
        assert_eq!(
            plain["annotations"],
            json!([{"key": "web-export", "value": true}])
        );
        assert_eq!(plain["parameters"], json!([]));
    }

    #[test]
    fn secrets_come_from_the_file_or_the_environment() {
        let dir = fixture();
        let var = "WISP_MANIFEST_TEST_SECRET_8F3A";
        let text = format!(
            "[[function]]\nname = \"a\"\nsource = \"m.wasm\"\n[function.secrets]\ntoken = \"${{{var}}}\"\nplain = \"literal\"\n"
        );
        let e = parse(&text, dir.path()).unwrap_err();
        assert!(
            e.iter()
                .any(|p| p.message.contains(var) && p.message.contains("not set")),
            "{e:?}"
        );
        let text = "[[function]]\nname = \"a\"\nsource = \"m.wasm\"\n[function.parameters]\nt = 1\n[function.secrets]\nt = \"x\"\n";
        let e = parse(text, dir.path()).unwrap_err();
        assert!(e.iter().any(|p| p.message.contains("both")), "{e:?}");
        let text = "[[function]]\nname = \"a\"\nsource = \"m.wasm\"\n[function.secrets]\nplain = \"literal\"\nn = 1\n";
        let e = parse(text, dir.path()).unwrap_err();
        assert!(
            e.iter().any(|p| p.message.contains("must be a string")),
            "{e:?}"
        );
        let text = "[[function]]\nname = \"a\"\nsource = \"m.wasm\"\n[function.secrets]\nplain = \"literal\"\n";
        let f = parse(text, dir.path()).unwrap();
        let doc = serde_json::to_value(f[0].doc()).unwrap();
        assert_eq!(
            doc["parameters"],
            json!([{"key": "plain", "value": "literal"}])
        );
        assert!(
            doc["annotations"]
                .as_array()
                .unwrap()
                .contains(&json!({"key": "secret-parameters", "value": ["plain"]}))
        );
    }

    #[test]
    fn syntax_errors_carry_their_line_and_column() {
        let p = problems("[[function]]\nname = \"a\nsource = 1\n");
        assert!(p[0].starts_with("wisp.toml:2:"), "{p:?}");
    }

    #[test]
    fn every_unknown_key_is_named_at_its_line() {
        let p = problems(
            "[[function]]\nname = \"a\"\nsource = \"m.wasm\"\nmemroy = 64\ncolour = \"red\"\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].starts_with("wisp.toml:4:1: unknown field `memroy`"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("wisp.toml:5:1: unknown field `colour`"),
            "{p:?}"
        );
    }

    #[test]
    fn wrong_types_are_reported_at_the_value() {
        let p = problems(
            "[[function]]\nname = \"a\"\nsource = \"m.wasm\"\nmemory = \"lots\"\nweb = 1\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p.iter()
                .any(|l| l.starts_with("wisp.toml:4:10: invalid type")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("wisp.toml:5:7: invalid type")),
            "{p:?}"
        );
    }

    #[test]
    fn every_limit_out_of_range_is_reported_at_its_key() {
        let p = problems(
            "[[function]]\nname = \"a\"\nsource = \"m.wasm\"\nmemory = 4096\ntimeout = 0\ninstances = -1\n",
        );
        assert_eq!(
            p,
            [
                "wisp.toml:4:10: function 'a': memory must be between 1 and 512 MiB, got 4096",
                "wisp.toml:5:11: function 'a': timeout must be between 1 and 300000 milliseconds, got 0",
                "wisp.toml:6:13: function 'a': instances must be an integer between 0 and 256 instances, got -1",
            ]
        );
    }

    #[test]
    fn annotations_are_checked_as_the_server_checks_them() {
        let p = problems(
            "[[function]]\nname = \"a\"\nsource = \"m.wasm\"\nallowed-outbound-hosts = [\"a b\"]\nrequire-whisk-auth = \"has space\"\nkeyvalue-stores = [\"no/slash\"]\n",
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            p[0].starts_with("wisp.toml:4:26: function 'a': annotation allowed-outbound-hosts"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("wisp.toml:5:22: function 'a': annotation require-whisk-auth"),
            "{p:?}"
        );
        assert!(
            p[2].starts_with("wisp.toml:6:19: function 'a': annotation keyvalue-stores"),
            "{p:?}"
        );
    }

    #[test]
    fn names_sources_and_assets_are_checked() {
        let p = problems(
            r#"[[function]]
name = "a"
source = "m.wasm"

[[function]]
name = "a"
source = "nope.wasm"

[[function]]
name = "bad name"
source = "x.txt"
assets = "missing"

[[function]]
source = "m.wasm"
"#,
        );
        assert_eq!(p.len(), 6, "{p:?}");
        assert!(
            p[0].starts_with(
                "wisp.toml:6:8: the name 'a' is already used by the function at line 2"
            ),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("wisp.toml:7:10: function 'a': source 'nope.wasm' cannot be read"),
            "{p:?}"
        );
        assert!(
            p[2].starts_with("wisp.toml:10:8: 'bad name' is not a valid name"),
            "{p:?}"
        );
        assert!(
            p[3].starts_with(
                "wisp.toml:11:10: function 'bad name': source 'x.txt' is not WebAssembly"
            ),
            "{p:?}"
        );
        assert!(
            p[4].starts_with("wisp.toml:12:10: function 'bad name': assets 'missing'"),
            "{p:?}"
        );
        assert!(
            p[5].starts_with("wisp.toml:14:1: function #4 has no `name`"),
            "{p:?}"
        );
    }

    #[test]
    fn timeouts_take_milliseconds_or_durations() {
        assert_eq!(timeout_ms(&toml::Value::Integer(250)), Ok(json!(250)));
        assert_eq!(
            timeout_ms(&toml::Value::String("5s".into())),
            Ok(json!(5000))
        );
        assert_eq!(
            timeout_ms(&toml::Value::String("2m".into())),
            Ok(json!(120_000))
        );
        assert!(timeout_ms(&toml::Value::String("1.5ms".into())).is_err());
        assert!(timeout_ms(&toml::Value::String("5".into())).is_err());
        assert!(timeout_ms(&toml::Value::Boolean(true)).is_err());
    }

    #[test]
    fn a_manifest_needs_functions_and_nothing_else() {
        assert_eq!(
            problems("# nothing\n"),
            ["wisp.toml: no functions: describe each in a [[function]] table"]
        );
        let p = problems("version = 1\n[[function]]\nname = \"a\"\nsource = \"m.wasm\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("wisp.toml:1:1: unknown key `version`"),
            "{p:?}"
        );
        let p = problems("[function]\nname = \"a\"\nsource = \"m.wasm\"\n");
        assert!(p[0].contains("[[function]]"), "{p:?}");
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position("ab\ncdé\nf", 0), (1, 1));
        assert_eq!(position("ab\ncdé\nf", 3), (2, 1));
        assert_eq!(position("ab\ncdé\nf", 8), (3, 1));
        assert_eq!(position("ab\ncdé\nf", 99), (3, 2));
    }
}
