//! wisp's Registry: the persistent store of deployed actions and their modules.
//!
//! Everything the Controller must not lose lives behind the [`Registry`] trait:
//! action records (configuration, limits, parameters) and the WebAssembly modules
//! they run, stored once per content hash, and the namespaces' key-value
//! stores. The default implementation,
//! [`RedbRegistry`], is an embedded, crash-safe database file; [`PgRegistry`]
//! is a PostgreSQL database that a fleet of nodes shares.
//!
//! ```
//! use wisp_api::{ActionDoc, Policy, Shape, resolve::resolve};
//! use wisp_registry::{ActionRecord, RedbRegistry, Registry};
//! let dir = tempfile::tempdir().unwrap();
//! let reg = RedbRegistry::open(dir.path().join("registry.redb")).unwrap();
//! let module = b"\0asm\x01\0\0\0";
//! let spec = resolve(ActionDoc::default(), None, &Policy::default()).unwrap();
//! let rec = ActionRecord::new("guest", "hello", wisp_registry::module_hash(module), Shape::Command, spec);
//! reg.put_action(rec, module, None, false).unwrap();
//! assert_eq!(reg.get_action("guest", "hello").unwrap().unwrap().version, "0.0.1");
//! ```

mod activation_log;
mod batch;
mod entities;
mod kv;
mod postgres_store;
mod redb_store;
mod versions;

pub use batch::ActivationBatch;
pub use kv::{DEFAULT_KV_QUOTA_BYTES, KeyQuery, KvError, KvResult, NamespaceRemoval};
pub use postgres_store::PgRegistry;
pub use redb_store::{DEFAULT_KEEP_VERSIONS, RedbRegistry};
pub use wisp_api::ActionRecord;
pub use wisp_api::kv::KvWrite;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Errors a registry reports; callers branch on the variant.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The action exists and the caller did not ask to overwrite it.
    #[error("action {0} already exists")]
    Conflict(String),
    /// The version asked for is not kept.
    #[error("{0}")]
    NoVersion(String),
    /// The underlying store failed (I/O, corruption, locking).
    #[error("registry storage error: {0}")]
    Storage(String),
}

/// Result type of registry operations.
pub type Result<T> = std::result::Result<T, RegistryError>;

/// Lowercase hex SHA-256 of a module, the key modules are stored under.
pub fn module_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Bumps the patch part of a `MAJOR.MINOR.PATCH` version.
pub fn next_version(version: &str) -> String {
    let mut parts: Vec<u64> = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    parts.resize(3, 0);
    parts[2] += 1;
    format!("{}.{}.{}", parts[0], parts[1], parts[2])
}

/// An API key as stored: the secret only as its SHA-256 (secrets are 256 random
/// bits, so a plain hash is enough to make a stolen database useless).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// The public id (Basic-auth user name).
    pub id: String,
    /// The namespace the key acts in.
    pub namespace: String,
    /// Lowercase hex SHA-256 of the secret.
    pub secret_sha256: String,
    /// Creation time, ms since the Unix epoch.
    pub created: u64,
}

/// Which activations a listing returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationQuery {
    /// Only this action.
    pub name: Option<String>,
    /// Only those started at or after this time (ms).
    pub since: Option<u64>,
    /// Only those started at or before this time (ms).
    pub upto: Option<u64>,
    /// Skip this many matches.
    pub skip: usize,
    /// Return at most this many.
    pub limit: usize,
}

/// Where module binaries live when the registry keeps only their metadata
/// (`wisp serve --artifacts oci://…`): stored under their SHA-256, fetched
/// by it. A registry with one stores an empty placeholder for each module
/// and asks the store for its bytes.
pub trait ModuleStore: Send + Sync + 'static {
    /// Stores a binary under its hash; storing it again is harmless.
    fn put(&self, hash: &str, bytes: &[u8]) -> Result<()>;
    /// The binary stored under `hash` (checked against it).
    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>>;
}

/// The modules a deploy stores: the one the record runs and, for a
/// pre-initialized record (and only for one), the binary it was made from.
pub(crate) fn deployed_modules<'a>(
    record: &ActionRecord,
    module: &'a [u8],
    source: Option<&'a [u8]>,
) -> Result<Vec<(String, &'a [u8])>> {
    let mut stored = vec![(record.module_hash.clone(), module)];
    match (&record.init, source) {
        (Some(init), Some(source)) => stored.push((init.source_sha256.clone(), source)),
        (None, None) => {}
        _ => {
            return Err(RegistryError::Storage(
                "a pre-initialized record is stored with the binary it was made from, and only it"
                    .into(),
            ));
        }
    }
    Ok(stored)
}

/// The hash of the empty module a sequence is stored with: it is kept as it
/// is, never in a [`ModuleStore`], and never compiled.
pub const EMPTY_MODULE: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Whether a module goes to the [`ModuleStore`], when there is one.
pub(crate) fn stored_outside(
    store: Option<&std::sync::Arc<dyn ModuleStore>>,
    bytes: &[u8],
) -> bool {
    store.is_some() && !bytes.is_empty()
}

/// The bytes a module has in a registry's own tables: none when a
/// [`ModuleStore`] holds them.
pub(crate) fn kept_bytes<'a>(
    store: Option<&std::sync::Arc<dyn ModuleStore>>,
    bytes: &'a [u8],
) -> &'a [u8] {
    if stored_outside(store, bytes) {
        &[]
    } else {
        bytes
    }
}

/// A module read from a registry's tables, from its [`ModuleStore`] when the
/// tables hold only its placeholder.
pub(crate) fn module_bytes(
    store: Option<&std::sync::Arc<dyn ModuleStore>>,
    hash: &str,
    kept: Option<Vec<u8>>,
) -> Result<Option<Vec<u8>>> {
    match (kept, store) {
        (Some(bytes), _) if !bytes.is_empty() || hash == EMPTY_MODULE => Ok(Some(bytes)),
        (Some(_), Some(store)) => store.get(hash),
        (Some(_), None) => Err(RegistryError::Storage(format!(
            "module {hash} is kept in an OCI registry, and this server has none: start it with the same --artifacts as the server that stored it"
        ))),
        (None, _) => Ok(None),
    }
}

/// A change another node (or this one) committed to a shared registry, as
/// [`Registry::subscribe`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An action was deployed, updated, rolled back or deleted: its current
    /// record is to be read again.
    Action {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// API keys were added or removed.
    Keys,
    /// Entities of a kind (triggers, rules, alarms) changed.
    Entities(String),
    /// Changes may have been missed (the feed was connected, or connected
    /// again): everything is to be read again.
    Resync,
}

impl Change {
    /// A change from its notification text: `action NS/NAME`, `keys`,
    /// `entity KIND`.
    pub fn parse(text: &str) -> Option<Change> {
        match text.split_once(' ') {
            Some(("action", path)) => {
                let (namespace, name) = path.split_once('/')?;
                Some(Change::Action {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                })
            }
            Some(("entity", kind)) => Some(Change::Entities(kind.to_string())),
            None if text == "keys" => Some(Change::Keys),
            _ => None,
        }
    }
}

/// Persistent storage of actions and modules.
///
/// Every write is atomic: after a crash the store holds either the old or the new
/// state of an action, never a mix, and never an action whose module is missing.
pub trait Registry: Send + Sync + 'static {
    /// Stores `module` under its hash and `record` as a new version of its
    /// action, made current, in one transaction. When the action exists and
    /// `overwrite` is false this fails with [`RegistryError::Conflict`]. The
    /// version is the patch bump of the newest kept one (`0.0.1` for a new
    /// action); the oldest versions beyond the registry's number kept are
    /// removed (never the current one), with the modules no kept version
    /// runs. A pre-initialized record (`record.init`) is stored with `source`,
    /// the binary its snapshot `module` was made from, kept as long as the
    /// version is. Returns the record as stored.
    fn put_action(
        &self,
        record: ActionRecord,
        module: &[u8],
        source: Option<&[u8]>,
        overwrite: bool,
    ) -> Result<ActionRecord>;
    /// The kept versions of an action, newest first (versions whose record
    /// cannot be read are left out).
    fn list_versions(&self, namespace: &str, name: &str) -> Result<Vec<ActionRecord>>;
    /// Makes a kept version current: `version`, else the one before the
    /// current one ([`RegistryError::NoVersion`] when there is none). `None`
    /// when the action does not exist. Nothing is recompiled or copied: the
    /// version's module is kept.
    fn rollback(
        &self,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<ActionRecord>>;
    /// Whether a kept version runs the module with this hash.
    fn has_module(&self, hash: &str) -> Result<bool>;
    /// The hashes of every module a kept version runs.
    fn module_hashes(&self) -> Result<Vec<String>>;
    /// The action, if it exists.
    fn get_action(&self, namespace: &str, name: &str) -> Result<Option<ActionRecord>>;
    /// Actions of a namespace sorted by name, after skipping `skip`, at most
    /// `limit`; records that cannot be read are left out (the server logs them
    /// when it starts).
    fn list_actions(&self, namespace: &str, skip: usize, limit: usize)
    -> Result<Vec<ActionRecord>>;
    /// Every stored action, in every namespace: each as its key
    /// (`namespace/name`) and its record, or why the record cannot be read, so
    /// one bad record never hides the others.
    fn all_actions(&self) -> Result<Vec<(String, Result<ActionRecord>)>>;
    /// Deletes the action and all its versions, returning what it was (or why
    /// its record could not be read: it is deleted all the same); a module no
    /// kept version runs any more is removed.
    fn delete_action(&self, namespace: &str, name: &str) -> Result<Option<Result<ActionRecord>>>;
    /// The module stored under `hash`.
    fn get_module(&self, hash: &str) -> Result<Option<Vec<u8>>>;

    /// Stores a batch of activation records in one transaction.
    fn put_activations(&self, batch: &ActivationBatch) -> Result<()>;
    /// One activation of a namespace.
    fn get_activation(&self, namespace: &str, id: &str) -> Result<Option<serde_json::Value>>;
    /// Activations of a namespace, newest first, each with its start in
    /// microseconds.
    fn list_activations(
        &self,
        namespace: &str,
        query: &ActivationQuery,
    ) -> Result<Vec<(u64, serde_json::Value)>>;
    /// Deletes activations written before `older_than` (ms), then the oldest
    /// beyond the newest `keep`, then the oldest batches while all of them take
    /// more than `max_bytes`. Returns how many were deleted.
    fn prune_activations(&self, keep: usize, older_than: u64, max_bytes: u64) -> Result<usize>;

    /// Creates a namespace; false if it already exists.
    fn create_namespace(&self, name: &str) -> Result<bool>;
    /// Every namespace, sorted.
    fn list_namespaces(&self) -> Result<Vec<String>>;
    /// Stores a key.
    fn put_key(&self, key: &StoredKey) -> Result<()>;
    /// Every key, sorted by id.
    fn list_keys(&self) -> Result<Vec<StoredKey>>;
    /// Deletes a key; the deleted key, if it existed.
    fn delete_key(&self, id: &str) -> Result<Option<StoredKey>>;

    // Entities (triggers, rules, alarm feeds): JSON documents by kind.
    /// Stores an entity's JSON document; [`RegistryError::Conflict`] when it
    /// exists and `overwrite` is false.
    fn put_entity(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        json: &[u8],
        overwrite: bool,
    ) -> Result<()>;
    /// One entity's document.
    fn get_entity(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Vec<u8>>>;
    /// Entities of a kind in a namespace, sorted by name: `(name, json)`.
    fn list_entities(
        &self,
        kind: &str,
        namespace: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>>;
    /// Replaces an entity's document with `json` only when it still holds
    /// `expected` (a write-back that must not undo a change made meanwhile,
    /// on any node); whether it did.
    fn replace_entity(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        expected: &[u8],
        json: &[u8],
    ) -> Result<bool>;
    /// Deletes an entity, returning its document if it existed.
    fn delete_entity(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Vec<u8>>>;
    /// Every entity of a kind, in every namespace: `(namespace, name, json)`.
    fn all_entities(&self, kind: &str) -> Result<Vec<(String, String, Vec<u8>)>>;
    /// Deletes a namespace and everything in it, in one transaction: its
    /// actions with their versions (and the modules no other kept version
    /// runs), its API keys and its key-value stores. `None` when no such
    /// namespace was created (the default namespace never is).
    fn delete_namespace(&self, name: &str) -> Result<Option<NamespaceRemoval>>;

    // Key-value stores. Every namespace has the store `default`; others are
    // created by name. Each call is one transaction, durable when it returns;
    // writes count against the namespace's quota in the same transaction.
    // Keys and values past their limits (`wisp_api::kv`) are refused.

    /// Creates a store; false when it exists (`default` always does).
    fn kv_create_store(&self, namespace: &str, store: &str) -> KvResult<bool>;
    /// Deletes a store and its keys; false when there is none. `default`
    /// cannot be deleted.
    fn kv_delete_store(&self, namespace: &str, store: &str) -> KvResult<bool>;
    /// The namespace's stores (`default` first, then sorted) and the bytes of
    /// keys and values they hold.
    fn kv_stores(&self, namespace: &str) -> KvResult<(Vec<String>, u64)>;
    /// The most bytes a namespace's stores may hold.
    fn kv_quota_bytes(&self) -> u64;
    /// The values of some keys, read together.
    fn kv_get_many(
        &self,
        namespace: &str,
        store: &str,
        keys: &[&str],
    ) -> KvResult<Vec<Option<Vec<u8>>>>;
    /// Applies writes in one transaction: all of them, or none.
    fn kv_write(&self, namespace: &str, store: &str, writes: &[KvWrite]) -> KvResult<()>;
    /// Adds `delta` to the integer a key holds as decimal text (0 when it is
    /// missing), atomically; the sum.
    fn kv_increment(&self, namespace: &str, store: &str, key: &str, delta: i64) -> KvResult<i64>;
    /// Sets `key` to `new` only when it holds `expected` (`None`: only when
    /// it is missing), atomically; whether it did.
    fn kv_compare_and_swap(
        &self,
        namespace: &str,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool>;
    /// One page of a store's keys, sorted.
    fn kv_keys(
        &self,
        namespace: &str,
        store: &str,
        query: &KeyQuery,
    ) -> KvResult<wisp_api::kv::KeyPage>;

    /// One key's value.
    fn kv_get(&self, namespace: &str, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self.kv_get_many(namespace, store, &[key])?.pop().flatten())
    }
    /// Sets one key.
    fn kv_set(&self, namespace: &str, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        self.kv_write(namespace, store, &[KvWrite::Set(key.into(), value.into())])
    }
    /// Deletes one key (nothing when it is missing).
    fn kv_delete(&self, namespace: &str, store: &str, key: &str) -> KvResult<()> {
        self.kv_write(namespace, store, &[KvWrite::Delete(key.into())])
    }

    // Many nodes on one registry.

    /// Takes the lease `name` for `holder`, or renews it, for `ttl`; whether
    /// `holder` holds it now. Work that must run on one node of a fleet at a
    /// time (the alarms) runs on the holder. A registry only one process
    /// opens grants every lease.
    fn lease(&self, _name: &str, _holder: &str, _ttl: std::time::Duration) -> Result<bool> {
        Ok(true)
    }

    /// The changes committed to the registry from now on, by any node, as
    /// they commit: what a node mirrors in memory is to follow them. `None`
    /// when only this process writes the registry (the embedded one).
    fn subscribe(&self) -> Option<std::sync::mpsc::Receiver<Change>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_bump_patch() {
        assert_eq!(next_version("0.0.1"), "0.0.2");
        assert_eq!(next_version("1.2.9"), "1.2.10");
        assert_eq!(next_version("garbage"), "0.0.1");
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            module_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
