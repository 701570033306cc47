//! What a guest may touch: its grants (private `/data`, read-only `/assets`,
//! allowed outbound hosts, key-value stores, config variables) and the
//! limiter that enforces its memory limit.
//!
//! Everything not granted here is absent: no host files, no host environment, no
//! sockets, no outgoing HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wasi_config::WasiConfigVariables;

use crate::keyvalue::KeyValueGrant;

/// The capabilities one action is granted, beyond stdio and its environment.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// A private directory mounted read-write at `/data`, with its quota in bytes.
    pub data: Option<(PathBuf, u64)>,
    /// A directory mounted read-only at `/assets`.
    pub assets: Option<PathBuf>,
    /// Hosts outgoing HTTP may reach (`host` or `host:port`); empty denies all.
    pub outbound_hosts: Vec<String>,
    /// The key-value stores a component may open (`wasi:keyvalue`); `None`
    /// denies every store.
    pub keyvalue: Option<KeyValueGrant>,
    /// What a component reads with `wasi:config/store`: the action's
    /// parameters, built once when it is published.
    pub config: Arc<ConfigVariables>,
}

/// An action's `wasi:config` variables (their values are not shown by
/// `Debug`: parameters may hold credentials).
#[derive(Default)]
pub struct ConfigVariables(pub WasiConfigVariables);

impl std::fmt::Debug for ConfigVariables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigVariables(..)")
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ConfigVariables {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut vars = WasiConfigVariables::new();
        for (k, v) in iter {
            vars.insert(k, v);
        }
        ConfigVariables(vars)
    }
}

/// Guest path of the private data directory.
pub const DATA_MOUNT: &str = "/data";
/// Guest path of the read-only assets directory.
pub const ASSETS_MOUNT: &str = "/assets";

impl Grants {
    /// Adds the granted directories to a WASI context. Opening a directory that
    /// does not exist yet creates it (data) or fails (assets are optional).
    pub(crate) fn apply(&self, builder: &mut WasiCtxBuilder) -> Result<(), String> {
        // `/assets` first: a snapshot made at deploy, where only `/assets` is
        // mounted, then finds it under the same descriptor in every call.
        if let Some(dir) = &self.assets
            && dir.is_dir()
        {
            builder
                .preopened_dir(dir, ASSETS_MOUNT, FsPerms::ReadOnly)
                .map_err(|e| format!("cannot open the assets directory: {e:#}"))?;
        }
        if let Some((dir, _)) = &self.data {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the data directory: {e}"))?;
            builder
                .preopened_dir(dir, DATA_MOUNT, FsPerms::ReadWrite)
                .map_err(|e| format!("cannot open the data directory: {e:#}"))?;
        }
        Ok(())
    }

    /// Whether outgoing HTTP to `authority` (`host[:port]`) is allowed for a request
    /// with the given scheme.
    pub fn allows(&self, scheme: &str, authority: &str) -> bool {
        let default_port = if scheme == "https" { "443" } else { "80" };
        let (host, port) = split_authority(authority, default_port);
        self.outbound_hosts.iter().any(|allowed| {
            let allowed = allowed
                .strip_prefix("http://")
                .or_else(|| allowed.strip_prefix("https://"))
                .unwrap_or(allowed)
                .trim_end_matches('/');
            if allowed == "*" {
                return true;
            }
            match allowed.rsplit_once(':') {
                Some((h, p)) if !h.contains(']') || h.ends_with(']') => {
                    if p.chars().all(|c| c.is_ascii_digit()) {
                        h.eq_ignore_ascii_case(host) && p == port
                    } else {
                        allowed.eq_ignore_ascii_case(host)
                    }
                }
                _ => allowed.eq_ignore_ascii_case(host),
            }
        })
    }
}

fn split_authority<'a>(authority: &'a str, default_port: &'a str) -> (&'a str, &'a str) {
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => (h, p),
        _ => (authority, default_port),
    }
}

/// Fails when the data directory ended the call over its quota. The quota is
/// checked when each call ends: a call that leaves `/data` over it fails, and so
/// does every later call until the function brings it back under.
pub(crate) fn check_quota(grants: &Grants) -> Result<(), crate::InvokeError> {
    if let Some((dir, quota)) = &grants.data {
        let used = dir_size(dir);
        if used > *quota {
            return Err(crate::InvokeError::StorageQuota {
                used,
                quota: *quota,
            });
        }
    }
    Ok(())
}

/// Total size in bytes of the regular files below `dir` (symlinks not followed).
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

/// Enforces an instance's memory limit and remembers whether the guest hit it, so
/// the failure that follows can be reported as what it is.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_bytes: usize,
    /// Set when a growth beyond the limit was refused.
    pub hit_memory: bool,
}

/// Most table elements a guest may have (indirect-call tables of large C++
/// programs stay far below this).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl Limiter {
    pub(crate) fn new(memory_bytes: usize) -> Self {
        Limiter {
            memory_bytes,
            hit_memory: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit_memory = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(hosts: &[&str]) -> Grants {
        Grants {
            outbound_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            ..Grants::default()
        }
    }

    #[test]
    fn outbound_allow_list() {
        let g = grants(&["127.0.0.1:8081", "example.com", "https://api.test"]);
        assert!(g.allows("http", "127.0.0.1:8081"));
        assert!(!g.allows("http", "127.0.0.1:8082"));
        assert!(!g.allows("http", "127.0.0.1"));
        assert!(g.allows("http", "example.com"));
        assert!(g.allows("https", "example.com:8443"));
        assert!(g.allows("https", "API.test"));
        assert!(!g.allows("http", "evil.com"));
        assert!(!g.allows("http", "example.com.evil.com"));
        assert!(!grants(&[]).allows("http", "example.com"));
        assert!(grants(&["*"]).allows("http", "anything:1"));
    }

    #[test]
    fn sizes_add_up() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), [0u8; 10]).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/b"), [0u8; 5]).unwrap();
        assert_eq!(dir_size(d.path()), 15);
    }
}
