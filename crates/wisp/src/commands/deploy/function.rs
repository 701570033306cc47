//! One function to deploy, however it was described (`wisp deploy NAME FILE`
//! flags or a `wisp.toml` entry): the module and the action document it becomes,
//! its assets, and how it differs from what the server already runs.

use std::path::Path;

use anyhow::Context;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use wisp_api::action::{ExecDoc, LimitsDoc, SHAPE_ANNOTATION};
use wisp_api::resolve::OUTBOUND_ANNOTATION;
use wisp_api::{ActionDoc, ActionView, KeyValue};

/// The annotation carrying the digest of the assets a deploy uploaded, so that
/// a later deploy can tell whether they changed (the server keeps no digest of
/// `/assets` itself).
pub const ASSETS_ANNOTATION: &str = "wisp-assets-sha256";

/// The first four bytes of every WebAssembly module and component.
pub const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// What one function should look like on the server.
#[derive(Debug, Clone)]
pub struct Function {
    /// Action name.
    pub name: String,
    /// The module's bytes.
    pub module: Vec<u8>,
    /// Lowercase hex SHA-256 of the module, as the server's `wisp.module_sha256`.
    pub module_sha256: String,
    /// The limits asked for; one left out is the server's to choose.
    pub limits: LimitsDoc,
    /// Default parameters: all of them (they replace the server's).
    pub parameters: Vec<KeyValue>,
    /// Annotations: all of them (they replace the server's).
    pub annotations: Vec<KeyValue>,
    /// The `/assets` archive, when the function has assets.
    pub assets: Option<Assets>,
}

/// A directory packed for `PUT .../actions/{name}/assets`.
#[derive(Debug, Clone)]
pub struct Assets {
    /// The tar archive.
    pub archive: Vec<u8>,
    /// Digest of the files' paths and contents (not their times or owners).
    pub sha256: String,
}

/// The parts of a function, as `wisp deploy` flags or manifest keys give them.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// The limits asked for; one left out is the server's to choose.
    pub limits: LimitsDoc,
    /// Default parameters.
    pub parameters: Vec<KeyValue>,
    /// Annotation `web-export`.
    pub web: bool,
    /// Annotation `require-whisk-auth`: `true` or a secret; none when absent.
    pub require_whisk_auth: Option<Value>,
    /// Annotation `allowed-outbound-hosts`; none when empty.
    pub allowed_outbound_hosts: Vec<String>,
    /// Annotation `keyvalue-stores`: the named key-value stores it may open
    /// besides `default`; none when empty.
    pub keyvalue_stores: Vec<String>,
    /// Annotation `init`: the export to run at deploy (a string), or `false`
    /// for none; absent, the server runs `wizer-initialize` when there is one.
    pub init: Option<Value>,
    /// Annotation `secret-parameters`: the names of the parameters that are
    /// secrets (their values are among `parameters`); none when empty.
    pub secrets: Vec<String>,
}

impl Parts {
    /// The annotations wisp acts on, in a fixed order; `assets` adds the
    /// assets digest.
    pub fn annotations(&self, assets: Option<&Assets>) -> Vec<KeyValue> {
        let mut list = vec![KeyValue {
            key: "web-export".into(),
            value: self.web.into(),
        }];
        if let Some(auth) = &self.require_whisk_auth {
            list.push(KeyValue {
                key: "require-whisk-auth".into(),
                value: auth.clone(),
            });
        }
        if !self.allowed_outbound_hosts.is_empty() {
            list.push(KeyValue {
                key: OUTBOUND_ANNOTATION.into(),
                value: self.allowed_outbound_hosts.clone().into(),
            });
        }
        if !self.keyvalue_stores.is_empty() {
            list.push(KeyValue {
                key: wisp_api::kv::STORES_ANNOTATION.into(),
                value: self.keyvalue_stores.clone().into(),
            });
        }
        if let Some(init) = &self.init {
            list.push(KeyValue {
                key: wisp_api::resolve::INIT_ANNOTATION.into(),
                value: init.clone(),
            });
        }
        if !self.secrets.is_empty() {
            list.push(KeyValue {
                key: wisp_api::resolve::SECRETS_ANNOTATION.into(),
                value: self.secrets.clone().into(),
            });
        }
        if let Some(a) = assets {
            list.push(KeyValue {
                key: ASSETS_ANNOTATION.into(),
                value: a.sha256.clone().into(),
            });
        }
        list
    }
}

impl Function {
    /// A function from its module and parts.
    pub fn new(name: String, module: Vec<u8>, parts: &Parts, assets: Option<Assets>) -> Self {
        Function {
            name,
            module_sha256: sha256_hex(&module),
            module,
            limits: parts.limits.clone(),
            parameters: parts.parameters.clone(),
            annotations: parts.annotations(assets.as_ref()),
            assets,
        }
    }

    /// The action document that deploys it, module included.
    pub fn doc(&self) -> ActionDoc {
        ActionDoc {
            exec: Some(ExecDoc {
                kind: "wasm".into(),
                code: Some(base64::engine::general_purpose::STANDARD.encode(&self.module)),
                binary: Some(true),
                components: None,
            }),
            limits: Some(self.limits.clone()),
            parameters: Some(self.parameters.clone()),
            annotations: Some(self.annotations.clone()),
            ..ActionDoc::default()
        }
    }

    /// What differs between this function and the server's action, by the
    /// names a manifest uses (`module`, `memory`, `parameters`, ...); empty
    /// when the server already runs exactly this.
    pub fn differences(&self, current: &ActionView) -> Vec<&'static str> {
        let mut out = Vec::new();
        // A pre-initialized action runs a snapshot of the binary deployed.
        let deployed = current
            .wisp
            .init
            .as_ref()
            .map_or(&current.wisp.module_sha256, |i| &i.source_sha256);
        if *deployed != self.module_sha256 {
            out.push("module");
        }
        let l = &current.limits;
        for (name, wanted, has) in [
            ("timeout", &self.limits.timeout, l.timeout),
            ("memory", &self.limits.memory, l.memory),
            ("data", &self.limits.storage, l.storage),
            ("instances", &self.limits.instances, l.instances),
        ] {
            if wanted.as_ref().is_some_and(|w| w.as_u64() != Some(has)) {
                out.push(name);
            }
        }
        // The server never shows a secret's value (`********`): a function
        // with secrets always differs, and is deployed again.
        if sorted(&self.parameters) != sorted(&current.parameters) {
            out.push("parameters");
        }
        // `GET` adds `exec` and `wisp-shape`; they are not the deployer's.
        let theirs: Vec<KeyValue> = current
            .annotations
            .iter()
            .filter(|kv| kv.key != "exec" && kv.key != SHAPE_ANNOTATION)
            .cloned()
            .collect();
        let get = |list: &[KeyValue], key: &str| {
            list.iter()
                .find(|kv| kv.key == key)
                .map(|kv| kv.value.clone())
        };
        let mut annotations_differ = false;
        for (name, key) in [
            ("web", "web-export"),
            ("require-whisk-auth", "require-whisk-auth"),
            ("allowed-outbound-hosts", OUTBOUND_ANNOTATION),
            ("keyvalue-stores", wisp_api::kv::STORES_ANNOTATION),
            ("assets", ASSETS_ANNOTATION),
            ("init", wisp_api::resolve::INIT_ANNOTATION),
        ] {
            if get(&self.annotations, key) != get(&theirs, key) {
                out.push(name);
                annotations_differ = true;
            }
        }
        if !annotations_differ && sorted(&self.annotations) != sorted(&theirs) {
            // Annotations someone else added; deploying replaces them.
            out.push("annotations");
        }
        out
    }
}

fn sorted(list: &[KeyValue]) -> Vec<(&str, &Value)> {
    let mut v: Vec<_> = list.iter().map(|kv| (kv.key.as_str(), &kv.value)).collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Packs a directory for `/assets`: regular files and directories only;
/// symbolic links are refused rather than followed. The digest covers each
/// entry's relative path and contents, in a fixed order, so it changes exactly
/// when what the function would see in `/assets` does.
pub fn pack_assets(dir: &Path) -> anyhow::Result<Assets> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let mut builder = tar::Builder::new(Vec::new());
    let mut digest = Sha256::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .with_context(|| format!("cannot read {}", d.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", d.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path.strip_prefix(dir)?;
            let rel_text = rel.to_string_lossy();
            let kind = e.file_type()?;
            if kind.is_symlink() {
                anyhow::bail!(
                    "{} is a symbolic link; copy the file instead",
                    path.display()
                );
            } else if kind.is_dir() {
                builder.append_dir(rel, &path)?;
                digest.update(b"d");
                digest.update(rel_text.as_bytes());
                digest.update(b"\0");
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let mut header = tar::Header::new_gnu();
                header.set_metadata(&e.metadata()?);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, rel, bytes.as_slice())?;
                digest.update(b"f");
                digest.update(rel_text.as_bytes());
                digest.update(b"\0");
                digest.update((bytes.len() as u64).to_le_bytes());
                digest.update(&bytes);
            }
        }
    }
    Ok(Assets {
        archive: builder.into_inner()?,
        sha256: hex::encode(digest.finalize()),
    })
}

/// An archive with nothing in it: uploaded, it empties `/assets`.
pub fn empty_archive() -> anyhow::Result<Vec<u8>> {
    Ok(tar::Builder::new(Vec::new()).into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wisp_api::Shape;

    fn view_of(f: &Function) -> ActionView {
        let doc = ActionDoc {
            exec: None,
            ..f.doc()
        };
        let spec = wisp_api::resolve::resolve(doc, None, &wisp_api::Policy::default()).unwrap();
        let rec = wisp_api::ActionRecord::new(
            "guest",
            &f.name,
            f.module_sha256.clone(),
            Shape::Command,
            spec,
        );
        rec.view(None)
    }

    fn limits(given: &[(&str, u64)]) -> LimitsDoc {
        let mut doc = serde_json::Map::new();
        for (k, v) in given {
            doc.insert(k.to_string(), json!(v));
        }
        serde_json::from_value(Value::Object(doc)).unwrap()
    }

    fn function(parts: &Parts) -> Function {
        Function::new("f".into(), b"\0asm\x01\0\0\0".to_vec(), parts, None)
    }

    #[test]
    fn a_function_is_unchanged_against_the_view_of_its_own_deploy() {
        let parts = Parts {
            limits: limits(&[("timeout", 5000), ("memory", 64)]),
            parameters: vec![
                KeyValue {
                    key: "b".into(),
                    value: json!(2),
                },
                KeyValue {
                    key: "a".into(),
                    value: json!({"x": [1.5, "y"]}),
                },
            ],
            web: true,
            require_whisk_auth: Some(json!("s3cret")),
            allowed_outbound_hosts: vec!["example.com:443".into()],
            keyvalue_stores: vec!["cache".into()],
            init: Some(json!("setup")),
            secrets: Vec::new(),
        };
        let f = function(&parts);
        assert!(f.differences(&view_of(&f)).is_empty());
    }

    #[test]
    fn each_difference_is_named_as_the_manifest_names_it() {
        let base = Parts {
            limits: limits(&[("memory", 64)]),
            web: true,
            ..Parts::default()
        };
        let view = view_of(&function(&base));
        let changed = |p: Parts| function(&p).differences(&view);
        assert_eq!(
            changed(Parts {
                limits: limits(&[("memory", 128)]),
                ..base.clone()
            }),
            ["memory"]
        );
        assert_eq!(
            changed(Parts {
                web: false,
                ..base.clone()
            }),
            ["web"]
        );
        assert_eq!(
            changed(Parts {
                limits: limits(&[("memory", 64), ("storage", 0), ("instances", 3)]),
                ..base.clone()
            }),
            ["instances"],
            "data 0 is what the server has"
        );
        let mut other = function(&base);
        other.module_sha256 = sha256_hex(b"other");
        assert_eq!(other.differences(&view), ["module"]);
    }

    #[test]
    fn a_limit_left_out_is_not_compared() {
        let view = view_of(&function(&Parts {
            limits: limits(&[("memory", 64)]),
            ..Parts::default()
        }));
        assert!(function(&Parts::default()).differences(&view).is_empty());
    }

    #[test]
    fn annotations_added_elsewhere_count_as_a_difference() {
        let f = function(&Parts::default());
        let mut view = view_of(&f);
        view.annotations.push(KeyValue {
            key: "description".into(),
            value: json!("hand-made"),
        });
        assert_eq!(f.differences(&view), ["annotations"]);
    }

    #[test]
    fn the_assets_digest_follows_contents_not_times() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), "one").unwrap();
        let first = pack_assets(dir.path()).unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), "one").unwrap();
        assert_eq!(pack_assets(dir.path()).unwrap().sha256, first.sha256);
        std::fs::write(dir.path().join("sub/a.txt"), "two").unwrap();
        assert_ne!(pack_assets(dir.path()).unwrap().sha256, first.sha256);
        std::fs::rename(dir.path().join("sub/a.txt"), dir.path().join("sub/b.txt")).unwrap();
        let renamed = pack_assets(dir.path()).unwrap();
        assert_ne!(renamed.sha256, first.sha256);
        let mut tar = tar::Archive::new(renamed.archive.as_slice());
        let names: Vec<String> = tar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["sub", "sub/b.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn assets_refuse_symbolic_links() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("p")).unwrap();
        let e = pack_assets(dir.path()).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }
}
