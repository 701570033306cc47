//! Who is calling: API keys and the namespace each one acts in.
//!
//! The server's own key (from `--api-key`, or generated) owns the default
//! namespace and may manage namespaces and keys. Every other key belongs to one
//! namespace and acts only there. Keys are stored as the SHA-256 of their secret
//! and compared in constant time.

use std::collections::HashMap;
use std::sync::RwLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use wisp_registry::StoredKey;

use crate::auth::ApiKey;
use crate::routes::DEFAULT_NAMESPACE;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The namespace its key acts in.
    pub namespace: String,
    /// The key's public id (the activation `subject`).
    pub key_id: String,
    /// Whether this is the server's own key, which manages namespaces and keys.
    pub admin: bool,
}

/// Every key the server accepts.
pub struct KeyRing {
    root: ApiKey,
    keys: RwLock<HashMap<String, StoredKey>>,
}

/// Lowercase hex SHA-256 of a secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares without an early exit.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `ID` and `SECRET` from an `Authorization: Basic ...` header value.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

impl KeyRing {
    /// The root key and the stored keys.
    pub fn new(root: ApiKey, stored: Vec<StoredKey>) -> Self {
        KeyRing {
            root,
            keys: RwLock::new(stored.into_iter().map(|k| (k.id.clone(), k)).collect()),
        }
    }

    /// The caller an `Authorization` header value identifies, if its key is valid.
    pub fn check(&self, header: &str) -> Option<Caller> {
        let (id, secret) = basic_credentials(header)?;
        let given = Sha256::digest(secret.as_bytes());
        if id == self.root.id {
            let root = Sha256::digest(self.root.secret.as_bytes());
            return constant_time_eq(&given, &root).then(|| Caller {
                namespace: DEFAULT_NAMESPACE.to_string(),
                key_id: id,
                admin: true,
            });
        }
        let keys = self.keys.read().ok()?;
        let stored = keys.get(&id)?;
        let expected = hex::decode(&stored.secret_sha256).ok()?;
        constant_time_eq(&given, &expected).then(|| Caller {
            namespace: stored.namespace.clone(),
            key_id: id,
            admin: false,
        })
    }

    /// Accepts a new key.
    pub fn add(&self, key: StoredKey) {
        if let Ok(mut k) = self.keys.write() {
            k.insert(key.id.clone(), key);
        }
    }

    /// Accepts these keys, and no other stored one (the registry's keys,
    /// read again).
    pub fn replace(&self, stored: Vec<StoredKey>) {
        if let Ok(mut k) = self.keys.write() {
            *k = stored.into_iter().map(|k| (k.id.clone(), k)).collect();
        }
    }

    /// Stops accepting a key.
    pub fn remove(&self, id: &str) {
        if let Ok(mut k) = self.keys.write() {
            k.remove(id);
        }
    }

    /// Ids of the keys of a namespace.
    pub fn ids_of(&self, namespace: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .keys
            .read()
            .map(|k| {
                k.values()
                    .filter(|s| s.namespace == namespace)
                    .map(|s| s.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(key: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }

    #[test]
    fn keys_act_in_their_namespace() {
        let ring = KeyRing::new("root:s3cret".parse().unwrap(), Vec::new());
        ring.add(StoredKey {
            id: "team-key".into(),
            namespace: "team".into(),
            secret_sha256: secret_hash("abc"),
            created: 0,
        });
        let root = ring.check(&header("root:s3cret")).unwrap();
        assert!(root.admin);
        assert_eq!(root.namespace, DEFAULT_NAMESPACE);
        let team = ring.check(&header("team-key:abc")).unwrap();
        assert_eq!((team.namespace.as_str(), team.admin), ("team", false));
        assert!(ring.check(&header("team-key:abd")).is_none());
        assert!(ring.check(&header("root:wrong")).is_none());
        assert!(ring.check(&header("nobody:abc")).is_none());
        assert!(ring.check("Bearer x").is_none());
        ring.remove("team-key");
        assert!(ring.check(&header("team-key:abc")).is_none());
    }
}
