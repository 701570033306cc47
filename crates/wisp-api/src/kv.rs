//! Key-value stores on the wire: their limits, the list of a namespace's
//! stores and pages of keys (`/api/v1/namespaces/{ns}/kv/...`).
//!
//! Every namespace has the store [`DEFAULT_STORE`]; others are created by
//! name ([`valid_name`](crate::valid_name)). Keys are UTF-8 text of at most
//! [`MAX_KEY_BYTES`], values bytes of at most [`MAX_VALUE_BYTES`]; a
//! namespace's keys and values together count against its quota
//! (`wisp serve --kv-quota-bytes`).

use serde::{Deserialize, Serialize};

/// The store every namespace has, which every action may open.
pub const DEFAULT_STORE: &str = "default";

/// Longest key, bytes (of its UTF-8).
pub const MAX_KEY_BYTES: usize = 1024;

/// Largest value, bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Most keys one page of a listing holds.
pub const MAX_PAGE_KEYS: usize = 1000;

/// The annotation naming the stores, besides `default`, an action may open:
/// a JSON array of store names.
pub const STORES_ANNOTATION: &str = "keyvalue-stores";

/// A namespace's stores (`GET /api/v1/namespaces/{ns}/kv`), `default` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreList {
    /// Store names.
    pub stores: Vec<String>,
    /// Bytes of keys and values the namespace holds, all stores together.
    pub used_bytes: u64,
    /// The most it may hold.
    pub quota_bytes: u64,
}

/// One page of a store's keys (`GET /api/v1/namespaces/{ns}/kv/{store}`),
/// sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPage {
    /// The keys.
    pub keys: Vec<String>,
    /// Where the next page starts (`?cursor=`), when there may be more: the
    /// last key of this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A store created or deleted (`PUT|DELETE .../kv/{store}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreView {
    /// The namespace.
    pub namespace: String,
    /// The store.
    pub store: String,
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvWrite {
    /// Sets a key to a value.
    Set(String, Vec<u8>),
    /// Deletes a key (nothing when it is missing).
    Delete(String),
}

/// Why a key or value is refused, as a sentence for the caller (the guest, a
/// REST client): `None` when both are within the limits.
pub fn check_entry(key: &str, value: Option<&[u8]>) -> Option<String> {
    if key.is_empty() {
        return Some("a key must not be empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Some(format!("key is longer than {MAX_KEY_BYTES} bytes"));
    }
    if key.contains('\0') {
        return Some("a key must not contain a NUL character".into());
    }
    match value {
        Some(v) if v.len() > MAX_VALUE_BYTES => {
            Some(format!("value is larger than {MAX_VALUE_BYTES} bytes"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_at_the_limits_pass_and_one_byte_more_does_not() {
        let key = "k".repeat(MAX_KEY_BYTES);
        assert_eq!(check_entry(&key, Some(&vec![0; MAX_VALUE_BYTES])), None);
        assert_eq!(
            check_entry(&format!("{key}k"), None).unwrap(),
            "key is longer than 1024 bytes"
        );
        assert_eq!(
            check_entry("k", Some(&vec![0; MAX_VALUE_BYTES + 1])).unwrap(),
            "value is larger than 1048576 bytes"
        );
        assert!(check_entry("", None).is_some());
        assert_eq!(
            check_entry("a\0b", None).unwrap(),
            "a key must not contain a NUL character"
        );
    }

    #[test]
    fn a_last_page_has_no_cursor_on_the_wire() {
        let page = KeyPage {
            keys: vec!["a".into()],
            cursor: None,
        };
        assert_eq!(serde_json::to_string(&page).unwrap(), r#"{"keys":["a"]}"#);
    }
}
