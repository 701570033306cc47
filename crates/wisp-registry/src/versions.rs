//! An action's versions in the embedded registry: every deploy stores an
//! immutable version; the action's current record is one of them.
//!
//! Versions live in their own table, keyed `namespace/name/` and the version
//! with each part zero-padded, so a range scan gives them oldest first. A
//! module's reference count is the number of kept versions that run it: a
//! module stays while any kept version needs it, so a rollback never lacks
//! its module (nor, in the invoker's disk cache, its compiled code).

use redb::{ReadableTable, Table, TableDefinition};

use crate::redb_store::{decode_loosely, storage};
use crate::{RegistryError, Result};

/// `namespace/name/MMMMMMMMMM.mmmmmmmmmm.pppppppppp` → JSON-encoded record.
pub(crate) const VERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("versions");

/// One stored version: its table key, its version and module, its bytes.
pub(crate) struct Stored {
    pub key: String,
    pub version: String,
    /// The modules it keeps: the one it runs, and its source when that is a
    /// snapshot of it.
    pub modules: Vec<String>,
    pub bytes: Vec<u8>,
}

/// The key of one version of an action.
pub(crate) fn key(namespace: &str, name: &str, version: &str) -> String {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let mut part = || parts.next().unwrap_or(0);
    let (major, minor, patch) = (part(), part(), part());
    format!("{namespace}/{name}/{major:010}.{minor:010}.{patch:010}")
}

/// Every stored version of an action, oldest first.
pub(crate) fn of(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    namespace: &str,
    name: &str,
) -> Result<Vec<Stored>> {
    // '0' is the byte after '/': the range is exactly "ns/name/...".
    let (lo, hi) = (
        format!("{namespace}/{name}/"),
        format!("{namespace}/{name}0"),
    );
    let mut out = Vec::new();
    for entry in table.range(lo.as_str()..hi.as_str()).map_err(storage)? {
        let (k, v) = entry.map_err(storage)?;
        out.push(Stored::new(k.value().to_string(), v.value().to_vec()));
    }
    Ok(out)
}

impl Stored {
    /// A version as stored under `key`.
    pub(crate) fn new(key: String, bytes: Vec<u8>) -> Stored {
        let (version, modules) = decode_loosely(&bytes);
        Stored {
            key,
            version,
            modules,
            bytes,
        }
    }
}

/// The version a new deploy gets: after the newest kept one, even when an
/// older one is current (a rollback), so versions are never reused.
pub(crate) fn after_newest(all: &[Stored]) -> String {
    match all.last() {
        Some(newest) => crate::next_version(&newest.version),
        None => "0.0.1".to_string(),
    }
}

/// The versions to remove so that at most `keep` are left: the oldest, never
/// `current`.
pub(crate) fn excess<'a>(all: &'a [Stored], current: &str, keep: usize) -> Vec<&'a Stored> {
    let count = all.len().saturating_sub(keep.max(1));
    all.iter()
        .filter(|v| v.version != current)
        .take(count)
        .collect()
}

/// Removes the oldest versions, never `current`, until at most `keep` are
/// left; returns the modules of those removed (each reference to release).
pub(crate) fn trim(
    table: &mut Table<&str, &[u8]>,
    namespace: &str,
    name: &str,
    current: &str,
    keep: usize,
) -> Result<Vec<String>> {
    let all = of(table, namespace, name)?;
    let mut released = Vec::new();
    for v in excess(&all, current, keep) {
        table.remove(v.key.as_str()).map_err(storage)?;
        released.extend(v.modules.iter().cloned());
    }
    Ok(released)
}

/// The version a rollback makes current: `wanted`, else the one just before
/// `current`.
pub(crate) fn target<'a>(
    versions: &'a [Stored],
    current: &str,
    wanted: Option<&str>,
) -> Result<&'a Stored> {
    let known = || {
        versions
            .iter()
            .map(|v| v.version.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(w) => versions.iter().find(|v| v.version == w).ok_or_else(|| {
            RegistryError::NoVersion(format!(
                "there is no version {w}; the kept versions are {}",
                known()
            ))
        }),
        None => {
            let at = versions.iter().position(|v| v.version == current);
            match at {
                Some(i) if i > 0 => Ok(&versions[i - 1]),
                _ => Err(RegistryError::NoVersion(format!(
                    "no version is kept before the current one ({current}); the kept versions are {}",
                    known()
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_version_not_by_text() {
        assert!(key("a", "x", "0.0.9") < key("a", "x", "0.0.10"));
        assert!(key("a", "x", "0.0.10") < key("a", "x", "0.1.0"));
        // Other actions' versions fall outside "a/x/".."a/x0".
        for other in ["x0", "x.y", "x-y", "x@y", "xy", "x_y"] {
            let k = key("a", other, "0.0.1");
            assert!(!(k.as_str() >= "a/x/" && k.as_str() < "a/x0"), "{k}");
        }
    }
}
