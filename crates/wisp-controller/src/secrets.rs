//! Secret parameters (annotation `secret-parameters`, docs/secrets.md): their
//! values are sealed with the server's key before a record reaches the
//! registry, opened when a [`Deployed`](crate::Deployed) is made, and redacted
//! from activation records.
//!
//! A sealed value is the string `wisp-sealed:v1:` followed by the base64 of a
//! random 24-byte nonce and the XChaCha20-Poly1305 ciphertext of the value's
//! JSON, authenticated with `namespace/name/key` so that a sealed value does
//! not open under another action or parameter.

use std::borrow::Cow;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::Value;
use wisp_api::{ActionRecord, KeyValue, SECRET_MASK};
use wisp_invoker::LogLine;

/// How a sealed value begins.
const SEALED_PREFIX: &str = "wisp-sealed:v1:";
/// Bytes of a key file.
pub const KEY_BYTES: usize = 32;
/// Bytes of a nonce.
const NONCE_BYTES: usize = 24;
/// Secret values shorter than this are not redacted from activation records
/// (they would mask ordinary text).
pub const MIN_REDACTED_BYTES: usize = 4;

/// The server's secret key, or why it could not be had (then actions with
/// secrets are refused at deploy and skipped at start; others work).
pub struct SecretKey {
    path: PathBuf,
    cipher: Result<XChaCha20Poly1305, String>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("path", &self.path)
            .field("usable", &self.cipher.is_ok())
            .finish()
    }
}

impl SecretKey {
    /// The key in `path`: created (0600, random) when the file does not exist;
    /// an unreadable file or one that is not exactly 32 bytes is kept as an
    /// error naming the file.
    pub fn load_or_create(path: &Path) -> Self {
        let cipher = read_or_create(path)
            .map(|bytes| XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&bytes)));
        SecretKey {
            path: path.to_path_buf(),
            cipher,
        }
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the key is unusable, if it is.
    pub fn error(&self) -> Option<&str> {
        self.cipher.as_ref().err().map(String::as_str)
    }

    fn cipher(&self) -> Result<&XChaCha20Poly1305, String> {
        self.cipher.as_ref().map_err(Clone::clone)
    }

    /// Seals the values of `record`'s secret parameters in place (each with a
    /// fresh nonce); the other parameters stay as they are.
    pub fn seal(&self, record: &mut ActionRecord) -> Result<(), String> {
        let secrets = record.secret_keys();
        if secrets.is_empty() {
            return Ok(());
        }
        let cipher = self.cipher()?;
        let path = record.path();
        for kv in record.parameters.iter_mut() {
            if !secrets.contains(&kv.key) {
                continue;
            }
            let plain = serde_json::to_vec(&kv.value).map_err(|e| e.to_string())?;
            let mut nonce = [0u8; NONCE_BYTES];
            getrandom::fill(&mut nonce)
                .map_err(|e| format!("cannot draw a nonce to seal a secret: {e}"))?;
            let aad = format!("{path}/{}", kv.key);
            let sealed = cipher
                .encrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &plain,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| format!("cannot seal the secret parameter '{}'", kv.key))?;
            let mut bytes = nonce.to_vec();
            bytes.extend_from_slice(&sealed);
            kv.value = Value::String(format!(
                "{SEALED_PREFIX}{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ));
        }
        Ok(())
    }

    /// `record`'s parameters with the secret ones opened. An error names the
    /// key file and the parameter.
    pub fn open(&self, record: &ActionRecord) -> Result<Vec<KeyValue>, String> {
        let secrets = record.secret_keys();
        if secrets.is_empty() {
            return Ok(record.parameters.clone());
        }
        let cipher = self.cipher()?;
        let path = record.path();
        let fail = |key: &str, why: &str| {
            format!(
                "the secret parameter '{key}' of {path} {why} with the key in {} (was the key changed? deploy the action again)",
                self.path.display()
            )
        };
        record
            .parameters
            .iter()
            .map(|kv| {
                if !secrets.contains(&kv.key) {
                    return Ok(kv.clone());
                }
                let text = kv
                    .value
                    .as_str()
                    .and_then(|s| s.strip_prefix(SEALED_PREFIX))
                    .ok_or_else(|| fail(&kv.key, "is not sealed, so it cannot be opened"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| fail(&kv.key, "is damaged and does not open"))?;
                if bytes.len() < NONCE_BYTES {
                    return Err(fail(&kv.key, "is damaged and does not open"));
                }
                let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
                let aad = format!("{path}/{}", kv.key);
                let plain = cipher
                    .decrypt(
                        XNonce::from_slice(nonce),
                        Payload {
                            msg: sealed,
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|_| fail(&kv.key, "does not open"))?;
                let value = serde_json::from_slice(&plain)
                    .map_err(|_| fail(&kv.key, "opens to something that is not JSON"))?;
                Ok(KeyValue {
                    key: kv.key.clone(),
                    value,
                })
            })
            .collect()
    }
}

/// The default key file: `$XDG_CONFIG_HOME/wisp/secret.key`, else
/// `~/.config/wisp/secret.key` (outside the data directory, so that a copy of
/// it does not reveal secrets).
pub fn default_key_file() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(config.join("wisp").join("secret.key"))
}

fn read_or_create(path: &Path) -> Result<[u8; KEY_BYTES], String> {
    let shown = path.display();
    match std::fs::read(path) {
        Ok(bytes) => bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "the secret key file {shown} holds {} bytes, not {KEY_BYTES}",
                b.len()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_BYTES];
            getrandom::fill(&mut key).map_err(|e| format!("cannot draw a secret key: {e}"))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!(
                        "cannot create {} for the secret key file: {e}",
                        dir.display()
                    )
                })?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .map_err(|e| format!("cannot create the secret key file {shown}: {e}"))?;
            file.write_all(&key)
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write the secret key file {shown}: {e}"))?;
            tracing::info!("created the secret key file {shown}");
            Ok(key)
        }
        Err(e) => Err(format!("cannot read the secret key file {shown}: {e}")),
    }
}

/// In an update, a secret given as `********` (as `GET` shows it) keeps the
/// current value, so that a document read back can be deployed again.
pub fn keep_masked(parameters: &mut [KeyValue], secrets: &[String], current: &[KeyValue]) {
    for kv in parameters.iter_mut() {
        if secrets.contains(&kv.key)
            && kv.value.as_str() == Some(SECRET_MASK)
            && let Some(old) = current.iter().find(|c| c.key == kv.key)
        {
            kv.value = old.value.clone();
        }
    }
}

/// The texts redacted from an action's activation records: each secret value
/// (a string as it is, anything else as its JSON) of at least
/// [`MIN_REDACTED_BYTES`], longest first.
pub fn redacted_texts(params: &[KeyValue], secrets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = params
        .iter()
        .filter(|kv| secrets.contains(&kv.key))
        .map(|kv| match &kv.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .filter(|s| s.len() >= MIN_REDACTED_BYTES)
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// `text` with every occurrence of a secret replaced by `********`.
pub fn redact_str<'a>(secrets: &[String], text: &'a str) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for s in secrets {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), SECRET_MASK));
        }
    }
    out
}

/// Redacts every string (and object key) of a JSON value in place.
pub fn redact_value(secrets: &[String], value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(r) = redact_str(secrets, s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(secrets, v)),
        Value::Object(map) => {
            let redo = map
                .keys()
                .any(|k| matches!(redact_str(secrets, k), Cow::Owned(_)));
            if redo {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    redact_value(secrets, &mut v);
                    map.insert(redact_str(secrets, &k).into_owned(), v);
                }
            } else {
                map.values_mut().for_each(|v| redact_value(secrets, v));
            }
        }
        _ => {}
    }
}

/// Redacts log lines in place.
pub fn redact_lines(secrets: &[String], lines: &mut [LogLine]) {
    for line in lines {
        if let Cow::Owned(r) = redact_str(secrets, &line.text) {
            line.text = r;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    fn record(params: Value) -> ActionRecord {
        let doc: wisp_api::ActionDoc = serde_json::from_value(json!({
            "parameters": params,
            "annotations": [{"key": "secret-parameters", "value": ["token", "n"]}]
        }))
        .unwrap();
        let spec = wisp_api::resolve::resolve(doc, None, &wisp_api::Policy::default()).unwrap();
        ActionRecord::new("guest", "a", "h".into(), wisp_api::Shape::Command, spec)
    }

    #[test]
    fn sealed_values_open_with_the_same_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::load_or_create(&dir.path().join("k/secret.key"));
        assert!(key.error().is_none());
        let mut rec = record(
            json!([{"key": "token", "value": "hunter22"}, {"key": "n", "value": 42}, {"key": "x", "value": 1}]),
        );
        let plain = rec.parameters.clone();
        key.seal(&mut rec).unwrap();
        let stored = serde_json::to_string(&rec).unwrap();
        assert!(!stored.contains("hunter22"), "{stored}");
        assert_eq!(rec.parameters[2], plain[2]);
        assert_eq!(key.open(&rec).unwrap(), plain);
        // Same key from the file again.
        let again = SecretKey::load_or_create(&dir.path().join("k/secret.key"));
        assert_eq!(again.open(&rec).unwrap(), plain);
        // Another key, or another action, does not open it.
        let other = SecretKey::load_or_create(&dir.path().join("other.key"));
        let e = other.open(&rec).unwrap_err();
        assert!(e.contains("other.key") && e.contains("guest/a"), "{e}");
        let mut moved = rec.clone();
        moved.name = "b".into();
        assert!(key.open(&moved).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("k/secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_file_of_the_wrong_size_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.key");
        std::fs::write(&path, b"short").unwrap();
        let key = SecretKey::load_or_create(&path);
        let e = key.error().unwrap();
        assert!(e.contains("short.key") && e.contains("5 bytes"), "{e}");
        let mut rec =
            record(json!([{"key": "token", "value": "hunter22"}, {"key": "n", "value": 1}]));
        assert!(key.seal(&mut rec).is_err());
    }

    #[test]
    fn redaction_replaces_every_occurrence() {
        let params = [
            KeyValue {
                key: "token".into(),
                value: json!("hunter22"),
            },
            KeyValue {
                key: "n".into(),
                value: json!("abc"),
            },
        ];
        let texts = redacted_texts(&params, &["token".into(), "n".into()]);
        assert_eq!(texts, ["hunter22"]);
        let mut v = json!({"a": "x hunter22 y hunter22", "hunter22": [1, "hunter22"], "b": "abc"});
        redact_value(&texts, &mut v);
        assert_eq!(
            v,
            json!({"a": "x ******** y ********", "********": [1, "********"], "b": "abc"})
        );
    }
}
