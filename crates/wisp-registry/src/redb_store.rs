//! The embedded registry: one redb file.
//!
//! redb was chosen over SQLite because it is pure Rust (no C toolchain in the
//! build, a faster build on small machines), its write transactions are atomic and
//! crash-safe by design (copy-on-write B-trees with a checksummed commit), and wisp
//! needs key/value access only: actions by `namespace/name`, modules by hash.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::kv::{self, KeyQuery, KvResult, NamespaceRemoval};
use crate::versions::{self, VERSIONS};
use crate::{
    ActionRecord, ActivationBatch, ActivationQuery, Registry, RegistryError, Result, StoredKey,
    now_millis,
};
use wisp_api::kv::KvWrite;

/// `namespace/name` → JSON-encoded [`ActionRecord`].
const ACTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("actions");
/// Module hash → module bytes.
const MODULES: TableDefinition<&str, &[u8]> = TableDefinition::new("modules");
/// Module hash → number of kept versions that run it.
const MODULE_REFS: TableDefinition<&str, u64> = TableDefinition::new("module_refs");
/// Activation batches as an earlier wisp stored them (write time → batch); moved
/// to the segment files (`activation_log.rs`) when the registry opens.
const ACTIVATION_BATCHES: TableDefinition<u64, &[u8]> = TableDefinition::new("activation_batches");

/// How long after its start a record can be written: the longest time limit
/// (5 min) plus queueing, with a wide margin.
const MAX_RECORD_DELAY_US: u64 = 3_600_000_000;

/// The start (µs) an activation id begins with.
fn id_start(id: &str) -> Option<u64> {
    u64::from_str_radix(id.get(..16)?, 16).ok()
}
/// Namespace name → creation time (ms).
const NAMESPACES: TableDefinition<&str, u64> = TableDefinition::new("namespaces");
/// Key id → JSON-encoded [`StoredKey`].
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");

/// Versions kept per action unless [`RedbRegistry::keep_versions`] says.
pub const DEFAULT_KEEP_VERSIONS: usize = 10;

/// The database's page cache.
const CACHE_BYTES: usize = 2 << 20;

/// A [`Registry`] stored in one redb database file.
pub struct RedbRegistry {
    db: Database,
    /// Versions kept per action.
    keep_versions: usize,
    /// Bytes of keys and values each namespace's stores may hold.
    kv_quota: u64,
    /// Activation records, in append-only segment files beside the database.
    activations: crate::activation_log::ActivationLog,
    /// Where module binaries live, when not in the database.
    module_store: Option<std::sync::Arc<dyn crate::ModuleStore>>,
}

pub(crate) fn storage<E: std::fmt::Display>(e: E) -> RegistryError {
    RegistryError::Storage(e.to_string())
}

fn action_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn decode(bytes: &[u8]) -> Result<ActionRecord> {
    serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Storage(format!("unreadable record: {e}")))
}

/// The version and module hash of a stored record, even one that no longer
/// reads as a whole, so it can still be replaced or deleted cleanly.
pub(crate) fn decode_loosely(bytes: &[u8]) -> (String, Vec<String>) {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    let text =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let source = v.get("init").and_then(|i| text(i, "source_sha256"));
    let modules = text(&v, "module_hash").into_iter().chain(source).collect();
    (text(&v, "version").unwrap_or_default(), modules)
}

impl RedbRegistry {
    /// Opens the database at `path`, creating it (and its tables) when missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        // redb's default page cache may grow to 1 GiB; an edge node's server
        // should stay small, and the hot path never reads the database.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path.as_ref())
            .map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        {
            txn.open_table(ACTIONS).map_err(storage)?;
            txn.open_table(MODULES).map_err(storage)?;
            txn.open_table(MODULE_REFS).map_err(storage)?;
            txn.open_table(ACTIVATION_BATCHES).map_err(storage)?;
            txn.open_table(NAMESPACES).map_err(storage)?;
            txn.open_table(KEYS).map_err(storage)?;
            txn.open_table(VERSIONS).map_err(storage)?;
            txn.open_table(crate::entities::ENTITIES).map_err(storage)?;
            txn.open_table(kv::KV_STORES).map_err(storage)?;
            txn.open_table(kv::KV).map_err(storage)?;
            txn.open_table(kv::KV_USAGE).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        let activations = crate::activation_log::ActivationLog::open(
            &path.as_ref().with_extension("activations"),
        )?;
        let reg = RedbRegistry {
            db,
            keep_versions: DEFAULT_KEEP_VERSIONS,
            kv_quota: kv::DEFAULT_KV_QUOTA_BYTES,
            activations,
            module_store: None,
        };
        reg.migrate_activation_batches()?;
        reg.migrate_versions()?;
        Ok(reg)
    }

    /// Keeps this many versions of each action (at least 1), from the next
    /// deploy on.
    pub fn keep_versions(mut self, n: usize) -> Self {
        self.keep_versions = n.max(1);
        self
    }

    /// Keeps module binaries in `store` (an OCI registry), the database only
    /// their metadata, from the next deploy on.
    pub fn module_store(mut self, store: std::sync::Arc<dyn crate::ModuleStore>) -> Self {
        self.module_store = Some(store);
        self
    }

    /// Lets each namespace's key-value stores hold this many bytes of keys
    /// and values. A namespace already over it keeps its data, and may delete
    /// or shrink, but not grow.
    pub fn kv_quota(mut self, bytes: u64) -> Self {
        self.kv_quota = bytes;
        self
    }

    /// Gives each action an earlier wisp stored without versions its current
    /// record as its first version, once; the module's reference moves from
    /// the action to that version.
    fn migrate_versions(&self) -> Result<()> {
        // Found in a read transaction: a start with nothing to move writes
        // (and syncs) nothing.
        let missing = {
            let txn = self.db.begin_read().map_err(storage)?;
            let actions = txn.open_table(ACTIONS).map_err(storage)?;
            let versions = txn.open_table(VERSIONS).map_err(storage)?;
            let mut missing = Vec::new();
            for entry in actions.iter().map_err(storage)? {
                let (k, v) = entry.map_err(storage)?;
                let Some((ns, name)) = k.value().split_once('/') else {
                    continue;
                };
                if crate::versions::of(&versions, ns, name)?.is_empty() {
                    let (version, _) = decode_loosely(v.value());
                    missing.push((crate::versions::key(ns, name, &version), v.value().to_vec()));
                }
            }
            missing
        };
        if missing.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut versions = txn.open_table(VERSIONS).map_err(storage)?;
            for (key, record) in &missing {
                versions
                    .insert(key.as_str(), record.as_slice())
                    .map_err(storage)?;
            }
        }
        txn.commit().map_err(storage)?;
        Ok(())
    }

    /// Moves activation batches an earlier wisp kept in the database into the
    /// segment files, once.
    fn migrate_activation_batches(&self) -> Result<()> {
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut batches = txn.open_table(ACTIVATION_BATCHES).map_err(storage)?;
            if batches.first().map_err(storage)?.is_none() {
                return Ok(());
            }
            for entry in batches.iter().map_err(storage)? {
                let (k, v) = entry.map_err(storage)?;
                self.activations.put_encoded(k.value(), v.value())?;
            }
            batches.retain(|_, _| false).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        Ok(())
    }

    fn collect(&self, namespace: Option<&str>) -> Result<Vec<(String, Result<ActionRecord>)>> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ACTIONS).map_err(storage)?;
        let mut out = Vec::new();
        let iter = match namespace {
            // '0' is the byte after '/', so this range is exactly "ns/...".
            Some(ns) => {
                let (lo, hi) = (format!("{ns}/"), format!("{ns}0"));
                table.range(lo.as_str()..hi.as_str()).map_err(storage)?
            }
            None => table.iter().map_err(storage)?,
        };
        for entry in iter {
            let (k, v) = entry.map_err(storage)?;
            out.push((k.value().to_string(), decode(v.value())));
        }
        Ok(out)
    }
}

/// Removes an action and all its versions in `txn`, releasing their modules:
/// what the record was (or why it could not be read), and the hashes of the
/// modules its versions ran.
fn remove_action(
    txn: &redb::WriteTransaction,
    namespace: &str,
    name: &str,
) -> Result<(Option<Result<ActionRecord>>, Vec<String>)> {
    let key = action_key(namespace, name);
    let mut actions = txn.open_table(ACTIONS).map_err(storage)?;
    let mut modules = txn.open_table(MODULES).map_err(storage)?;
    let mut refs = txn.open_table(MODULE_REFS).map_err(storage)?;
    let mut kept = txn.open_table(VERSIONS).map_err(storage)?;
    let removed = actions
        .remove(key.as_str())
        .map_err(storage)?
        .map(|v| decode(v.value()));
    // Every version goes with it.
    let mut hashes = Vec::new();
    for v in versions::of(&kept, namespace, name)? {
        kept.remove(v.key.as_str()).map_err(storage)?;
        for hash in v.modules {
            release_module(&mut refs, &mut modules, &hash)?;
            hashes.push(hash);
        }
    }
    Ok((removed, hashes))
}

/// Decrements the reference count of a module, removing it at zero.
fn release_module(
    refs: &mut redb::Table<&str, u64>,
    modules: &mut redb::Table<&str, &[u8]>,
    hash: &str,
) -> Result<()> {
    let count = refs
        .get(hash)
        .map_err(storage)?
        .map(|g| g.value())
        .unwrap_or(0);
    if count <= 1 {
        refs.remove(hash).map_err(storage)?;
        modules.remove(hash).map_err(storage)?;
    } else {
        refs.insert(hash, count - 1).map_err(storage)?;
    }
    Ok(())
}

impl Registry for RedbRegistry {
    fn put_action(
        &self,
        mut record: ActionRecord,
        module: &[u8],
        source: Option<&[u8]>,
        overwrite: bool,
    ) -> Result<ActionRecord> {
        let (ns, name) = (record.namespace.clone(), record.name.clone());
        let key = action_key(&ns, &name);
        // Out of the transaction: a push may take a while.
        if let Some(store) = &self.module_store {
            if !module.is_empty() {
                store.put(&record.module_hash, module)?;
            }
            if let (Some(init), Some(source)) = (&record.init, source) {
                store.put(&init.source_sha256, source)?;
            }
        }
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut actions = txn.open_table(ACTIONS).map_err(storage)?;
            let mut modules = txn.open_table(MODULES).map_err(storage)?;
            let mut refs = txn.open_table(MODULE_REFS).map_err(storage)?;
            let mut kept = txn.open_table(VERSIONS).map_err(storage)?;
            let exists = actions.get(key.as_str()).map_err(storage)?.is_some();
            if exists && !overwrite {
                return Err(RegistryError::Conflict(key));
            }
            record.version = versions::after_newest(&versions::of(&kept, &ns, &name)?);
            record.module_size = module.len() as u64;
            record.updated = now_millis();
            let stored = crate::deployed_modules(&record, module, source)?;
            for (hash, bytes) in stored {
                let count = refs
                    .get(hash.as_str())
                    .map_err(storage)?
                    .map(|g| g.value())
                    .unwrap_or(0);
                if count == 0 {
                    let kept = crate::kept_bytes(self.module_store.as_ref(), bytes);
                    modules.insert(hash.as_str(), kept).map_err(storage)?;
                }
                refs.insert(hash.as_str(), count + 1).map_err(storage)?;
            }
            let encoded = serde_json::to_vec(&record).map_err(storage)?;
            let version_key = versions::key(&ns, &name, &record.version);
            kept.insert(version_key.as_str(), encoded.as_slice())
                .map_err(storage)?;
            actions
                .insert(key.as_str(), encoded.as_slice())
                .map_err(storage)?;
            for old in versions::trim(&mut kept, &ns, &name, &record.version, self.keep_versions)? {
                release_module(&mut refs, &mut modules, &old)?;
            }
        }
        txn.commit().map_err(storage)?;
        Ok(record)
    }

    fn list_versions(&self, namespace: &str, name: &str) -> Result<Vec<ActionRecord>> {
        let txn = self.db.begin_read().map_err(storage)?;
        let kept = txn.open_table(VERSIONS).map_err(storage)?;
        let mut out: Vec<ActionRecord> = versions::of(&kept, namespace, name)?
            .iter()
            .filter_map(|v| decode(&v.bytes).ok())
            .collect();
        out.reverse();
        Ok(out)
    }

    fn rollback(
        &self,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<ActionRecord>> {
        let key = action_key(namespace, name);
        let txn = self.db.begin_write().map_err(storage)?;
        let record = {
            let mut actions = txn.open_table(ACTIONS).map_err(storage)?;
            let kept = txn.open_table(VERSIONS).map_err(storage)?;
            let current = match actions.get(key.as_str()).map_err(storage)? {
                Some(v) => decode_loosely(v.value()).0,
                None => return Ok(None),
            };
            let all = versions::of(&kept, namespace, name)?;
            let target = versions::target(&all, &current, version)?;
            let record = decode(&target.bytes)?;
            actions
                .insert(key.as_str(), target.bytes.as_slice())
                .map_err(storage)?;
            record
        };
        txn.commit().map_err(storage)?;
        Ok(Some(record))
    }

    fn has_module(&self, hash: &str) -> Result<bool> {
        let txn = self.db.begin_read().map_err(storage)?;
        let refs = txn.open_table(MODULE_REFS).map_err(storage)?;
        Ok(refs.get(hash).map_err(storage)?.is_some())
    }

    fn module_hashes(&self) -> Result<Vec<String>> {
        let txn = self.db.begin_read().map_err(storage)?;
        let refs = txn.open_table(MODULE_REFS).map_err(storage)?;
        let mut out = Vec::new();
        for e in refs.iter().map_err(storage)? {
            out.push(e.map_err(storage)?.0.value().to_string());
        }
        Ok(out)
    }

    fn get_action(&self, namespace: &str, name: &str) -> Result<Option<ActionRecord>> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ACTIONS).map_err(storage)?;
        let key = action_key(namespace, name);
        match table.get(key.as_str()).map_err(storage)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    fn list_actions(
        &self,
        namespace: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<ActionRecord>> {
        Ok(self
            .collect(Some(namespace))?
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .skip(skip)
            .take(limit)
            .collect())
    }

    fn all_actions(&self) -> Result<Vec<(String, Result<ActionRecord>)>> {
        self.collect(None)
    }

    fn delete_action(&self, namespace: &str, name: &str) -> Result<Option<Result<ActionRecord>>> {
        let txn = self.db.begin_write().map_err(storage)?;
        let (removed, _) = remove_action(&txn, namespace, name)?;
        txn.commit().map_err(storage)?;
        Ok(removed)
    }

    fn get_module(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(MODULES).map_err(storage)?;
        let kept = table
            .get(hash)
            .map_err(storage)?
            .map(|v| v.value().to_vec());
        crate::module_bytes(self.module_store.as_ref(), hash, kept)
    }

    fn put_activations(&self, batch: &ActivationBatch) -> Result<()> {
        self.activations.put(batch, now_millis() * 1000)
    }

    fn get_activation(&self, namespace: &str, id: &str) -> Result<Option<serde_json::Value>> {
        let Some(start) = id_start(id) else {
            return Ok(None);
        };
        match self
            .activations
            .get(namespace, id, start, MAX_RECORD_DELAY_US)?
        {
            Some(json) => Ok(Some(serde_json::from_slice(&json).map_err(storage)?)),
            None => Ok(None),
        }
    }

    fn list_activations(
        &self,
        namespace: &str,
        q: &ActivationQuery,
    ) -> Result<Vec<(u64, serde_json::Value)>> {
        // Filters are in milliseconds, starts in microseconds.
        let since_us = q.since.unwrap_or(0).saturating_mul(1000);
        let upto_us = q
            .upto
            .map_or(u64::MAX, |u| u.saturating_mul(1000).saturating_add(999));
        let found = self
            .activations
            .scan_newest(since_us, q.skip + q.limit, |r| {
                r.namespace == namespace
                    && r.start_us >= since_us
                    && r.start_us <= upto_us
                    && q.name.as_deref().is_none_or(|n| n == r.name)
            })?;
        found
            .into_iter()
            .skip(q.skip)
            .take(q.limit)
            .map(|f| {
                Ok((
                    f.start_us,
                    serde_json::from_slice(&f.json).map_err(storage)?,
                ))
            })
            .collect()
    }

    fn prune_activations(&self, keep: usize, older_than: u64, max_bytes: u64) -> Result<usize> {
        self.activations
            .prune(keep, older_than.saturating_mul(1000), max_bytes)
    }

    fn create_namespace(&self, name: &str) -> Result<bool> {
        let txn = self.db.begin_write().map_err(storage)?;
        let created = {
            let mut t = txn.open_table(NAMESPACES).map_err(storage)?;
            if t.get(name).map_err(storage)?.is_some() {
                false
            } else {
                t.insert(name, now_millis()).map_err(storage)?;
                true
            }
        };
        txn.commit().map_err(storage)?;
        Ok(created)
    }

    fn list_namespaces(&self) -> Result<Vec<String>> {
        let txn = self.db.begin_read().map_err(storage)?;
        let t = txn.open_table(NAMESPACES).map_err(storage)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(storage)? {
            out.push(e.map_err(storage)?.0.value().to_string());
        }
        Ok(out)
    }

    fn put_key(&self, key: &StoredKey) -> Result<()> {
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut t = txn.open_table(KEYS).map_err(storage)?;
            let bytes = serde_json::to_vec(key).map_err(storage)?;
            t.insert(key.id.as_str(), bytes.as_slice())
                .map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        Ok(())
    }

    fn list_keys(&self) -> Result<Vec<StoredKey>> {
        let txn = self.db.begin_read().map_err(storage)?;
        let t = txn.open_table(KEYS).map_err(storage)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(storage)? {
            let (_, v) = e.map_err(storage)?;
            out.push(serde_json::from_slice(v.value()).map_err(storage)?);
        }
        Ok(out)
    }

    fn delete_namespace(&self, name: &str) -> Result<Option<NamespaceRemoval>> {
        let txn = self.db.begin_write().map_err(storage)?;
        let mut out = NamespaceRemoval::default();
        let actions = {
            let mut namespaces = txn.open_table(NAMESPACES).map_err(storage)?;
            if namespaces.remove(name).map_err(storage)?.is_none() {
                return Ok(None);
            }
            let mut keys = txn.open_table(KEYS).map_err(storage)?;
            keys.retain(|id, v| {
                let of_it =
                    serde_json::from_slice::<StoredKey>(v).is_ok_and(|k| k.namespace == name);
                if of_it {
                    out.keys.push(id.to_string());
                }
                !of_it
            })
            .map_err(storage)?;
            let table = txn.open_table(ACTIONS).map_err(storage)?;
            // '0' is the byte after '/', so this range is exactly "ns/...".
            let (lo, hi) = (format!("{name}/"), format!("{name}0"));
            let mut names = Vec::new();
            for entry in table.range(lo.as_str()..hi.as_str()).map_err(storage)? {
                let (k, _) = entry.map_err(storage)?;
                names.extend(k.value().split_once('/').map(|(_, n)| n.to_string()));
            }
            names
        };
        for action in actions {
            let (_, hashes) = remove_action(&txn, name, &action)?;
            out.module_hashes.extend(hashes);
            out.actions.push(action);
        }
        out.stores = kv::remove_namespace(&txn, name)?;
        crate::entities::remove_namespace(&txn, name)?;
        txn.commit().map_err(storage)?;
        out.module_hashes.sort();
        out.module_hashes.dedup();
        Ok(Some(out))
    }

    fn kv_create_store(&self, namespace: &str, store: &str) -> KvResult<bool> {
        kv::create_store(&self.db, namespace, store)
    }

    fn kv_delete_store(&self, namespace: &str, store: &str) -> KvResult<bool> {
        kv::delete_store(&self.db, namespace, store)
    }

    fn kv_stores(&self, namespace: &str) -> KvResult<(Vec<String>, u64)> {
        kv::stores(&self.db, namespace)
    }

    fn kv_quota_bytes(&self) -> u64 {
        self.kv_quota
    }

    fn kv_get_many(
        &self,
        namespace: &str,
        store: &str,
        keys: &[&str],
    ) -> KvResult<Vec<Option<Vec<u8>>>> {
        kv::get_many(&self.db, namespace, store, keys)
    }

    fn kv_write(&self, namespace: &str, store: &str, writes: &[KvWrite]) -> KvResult<()> {
        kv::write(&self.db, self.kv_quota, namespace, store, |w| {
            w.apply(writes)
        })
    }

    fn kv_increment(&self, namespace: &str, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        kv::write(&self.db, self.kv_quota, namespace, store, |w| {
            w.increment(key, delta)
        })
    }

    fn kv_compare_and_swap(
        &self,
        namespace: &str,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        kv::write(&self.db, self.kv_quota, namespace, store, |w| {
            w.compare_and_swap(key, expected, new)
        })
    }

    fn kv_keys(
        &self,
        namespace: &str,
        store: &str,
        query: &KeyQuery,
    ) -> KvResult<wisp_api::kv::KeyPage> {
        kv::keys(&self.db, namespace, store, query)
    }

    fn delete_key(&self, id: &str) -> Result<Option<StoredKey>> {
        let txn = self.db.begin_write().map_err(storage)?;
        let removed = {
            let mut t = txn.open_table(KEYS).map_err(storage)?;
            match t.remove(id).map_err(storage)? {
                Some(v) => Some(serde_json::from_slice(v.value()).map_err(storage)?),
                None => None,
            }
        };
        txn.commit().map_err(storage)?;
        Ok(removed)
    }

    // Entities: see entities.rs.
    fn put_entity(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        json: &[u8],
        overwrite: bool,
    ) -> Result<()> {
        crate::entities::put(&self.db, kind, namespace, name, json, overwrite)
    }

    fn get_entity(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Vec<u8>>> {
        crate::entities::get(&self.db, kind, namespace, name)
    }

    fn list_entities(
        &self,
        kind: &str,
        namespace: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(
            crate::entities::list(&self.db, kind, Some(namespace), skip, limit)?
                .into_iter()
                .map(|(_, name, json)| (name, json))
                .collect(),
        )
    }

    fn replace_entity(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        expected: &[u8],
        json: &[u8],
    ) -> Result<bool> {
        crate::entities::replace(&self.db, kind, namespace, name, expected, json)
    }

    fn delete_entity(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Vec<u8>>> {
        crate::entities::delete(&self.db, kind, namespace, name)
    }

    fn all_entities(&self, kind: &str) -> Result<Vec<(String, String, Vec<u8>)>> {
        crate::entities::list(&self.db, kind, None, 0, usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module_hash;

    fn rec(ns: &str, name: &str, module: &[u8]) -> ActionRecord {
        let spec = wisp_api::resolve::resolve(
            wisp_api::ActionDoc::default(),
            None,
            &wisp_api::Policy::default(),
        )
        .unwrap();
        ActionRecord::new(
            ns,
            name,
            module_hash(module),
            wisp_api::Shape::Command,
            spec,
        )
    }

    #[test]
    fn an_unreadable_record_hides_nothing_else_and_can_be_replaced_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let reg = RedbRegistry::open(dir.path().join("r.redb")).unwrap();
        reg.put_action(rec("a", "good", b"one"), b"one", None, false)
            .unwrap();
        reg.put_action(rec("a", "bad", b"two"), b"two", None, false)
            .unwrap();
        // Spoil one record, keeping its module hash readable.
        let txn = reg.db.begin_write().unwrap();
        {
            let mut t = txn.open_table(ACTIONS).unwrap();
            let spoiled = format!(
                r#"{{"version":"0.0.4","module_hash":"{}","shape":7}}"#,
                module_hash(b"two")
            );
            t.insert("a/bad", spoiled.as_bytes()).unwrap();
        }
        txn.commit().unwrap();
        let all = reg.all_actions().unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().any(|(k, r)| k == "a/bad" && r.is_err()));
        assert!(all.iter().any(|(k, r)| k == "a/good" && r.is_ok()));
        let names: Vec<_> = reg
            .list_actions("a", 0, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["good"]);
        // Replacing it makes a version after the newest kept one, whose
        // module stays for a rollback.
        let stored = reg
            .put_action(rec("a", "bad", b"three"), b"three", None, true)
            .unwrap();
        assert_eq!(stored.version, "0.0.2");
        assert!(reg.get_module(&module_hash(b"two")).unwrap().is_some());
        // Deleting a spoiled one works too.
        let txn = reg.db.begin_write().unwrap();
        txn.open_table(ACTIONS)
            .unwrap()
            .insert("a/bad", &b"{"[..])
            .unwrap();
        txn.commit().unwrap();
        assert!(matches!(
            reg.delete_action("a", "bad").unwrap(),
            Some(Err(_))
        ));
        assert!(reg.get_action("a", "bad").unwrap().is_none());
    }

    #[test]
    fn actions_stored_without_versions_get_their_first_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        {
            let reg = RedbRegistry::open(&path).unwrap();
            reg.put_action(rec("a", "x", b"v1"), b"v1", None, false)
                .unwrap();
            // As a wisp without versions left it: the record, no versions.
            let txn = reg.db.begin_write().unwrap();
            txn.open_table(VERSIONS)
                .unwrap()
                .retain(|_, _| false)
                .unwrap();
            txn.commit().unwrap();
            assert!(reg.list_versions("a", "x").unwrap().is_empty());
        }
        let reg = RedbRegistry::open(&path).unwrap();
        let kept = reg.list_versions("a", "x").unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].version, "0.0.1");
        // Its module's one reference now belongs to that version.
        let next = reg
            .put_action(rec("a", "x", b"v2"), b"v2", None, true)
            .unwrap();
        assert_eq!(next.version, "0.0.2");
        assert!(reg.has_module(&module_hash(b"v1")).unwrap());
        reg.delete_action("a", "x").unwrap();
        assert!(reg.module_hashes().unwrap().is_empty());
    }

    #[test]
    fn put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let reg = RedbRegistry::open(dir.path().join("r.redb")).unwrap();
        reg.put_action(rec("a", "x", b"one"), b"one", None, false)
            .unwrap();
        reg.put_action(rec("a", "y", b"two"), b"two", None, false)
            .unwrap();
        reg.put_action(rec("b", "x", b"one"), b"one", None, false)
            .unwrap();
        // A namespace that is a prefix of another must not see its actions.
        reg.put_action(rec("a0", "z", b"one"), b"one", None, false)
            .unwrap();
        let names: Vec<_> = reg
            .list_actions("a", 0, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(reg.list_actions("a", 1, 10).unwrap().len(), 1);
        assert_eq!(reg.list_actions("a", 0, 1).unwrap().len(), 1);
        assert_eq!(reg.all_actions().unwrap().len(), 4);
        assert!(reg.delete_action("a", "x").unwrap().is_some());
        assert!(reg.get_action("a", "x").unwrap().is_none());
        // Still used by b/x and a0/z.
        assert!(reg.get_module(&module_hash(b"one")).unwrap().is_some());
        reg.delete_action("b", "x").unwrap();
        reg.delete_action("a0", "z").unwrap();
        assert!(reg.get_module(&module_hash(b"one")).unwrap().is_none());
        assert!(reg.delete_action("a", "x").unwrap().is_none());
    }

    #[test]
    fn conflict_and_overwrite_bump_version_and_release_old_module() {
        let dir = tempfile::tempdir().unwrap();
        // One version kept: the replaced module goes at once.
        let reg = RedbRegistry::open(dir.path().join("r.redb"))
            .unwrap()
            .keep_versions(1);
        reg.put_action(rec("a", "x", b"v1"), b"v1", None, false)
            .unwrap();
        let err = reg
            .put_action(rec("a", "x", b"v2"), b"v2", None, false)
            .unwrap_err();
        assert!(matches!(err, RegistryError::Conflict(_)));
        // The failed put left the first version in place.
        assert_eq!(
            reg.get_action("a", "x").unwrap().unwrap().module_hash,
            module_hash(b"v1")
        );
        let stored = reg
            .put_action(rec("a", "x", b"v2"), b"v2", None, true)
            .unwrap();
        assert_eq!(stored.version, "0.0.2");
        assert!(reg.get_module(&module_hash(b"v1")).unwrap().is_none());
        assert_eq!(reg.get_module(&module_hash(b"v2")).unwrap().unwrap(), b"v2");
    }

    fn batch(records: &[(&str, &str, &str, u64)]) -> ActivationBatch {
        let mut b = ActivationBatch::with_capacity(0);
        for (ns, name, id, start) in records {
            let id = format!("{:016x}{id:0>16}", start * 1000);
            let doc = serde_json::json!({"name": name, "activationId": id, "start": start});
            b.push(ns, name, &id, start * 1000, |out| {
                serde_json::to_writer(out, &doc).unwrap()
            });
        }
        b
    }

    #[test]
    fn activations_list_filter_and_prune() {
        // Realistic start times: records are written after they start.
        let b_ms = now_millis() - 60_000;
        #[allow(non_snake_case, reason = "a base time read like a constant")]
        let B = b_ms;
        let dir = tempfile::tempdir().unwrap();
        let reg = RedbRegistry::open(dir.path().join("r.redb")).unwrap();
        reg.put_activations(&batch(&[
            ("a", "x", "01", B + 100),
            ("a", "y", "02", B + 200),
            ("a", "x", "03", B + 300),
            ("b", "x", "04", B + 250),
        ]))
        .unwrap();
        let ids = |q: ActivationQuery| -> Vec<String> {
            reg.list_activations("a", &q)
                .unwrap()
                .iter()
                .map(|(_, r)| r["activationId"].as_str().unwrap()[30..].to_string())
                .collect()
        };
        let id = |n: &str, start: u64| format!("{:016x}{n:0>16}", start * 1000);
        let all = ActivationQuery {
            limit: 10,
            ..Default::default()
        };
        assert_eq!(ids(all.clone()), ["03", "02", "01"]);
        assert_eq!(
            ids(ActivationQuery {
                name: Some("x".into()),
                ..all.clone()
            }),
            ["03", "01"]
        );
        assert_eq!(
            ids(ActivationQuery {
                since: Some(B + 200),
                ..all.clone()
            }),
            ["03", "02"]
        );
        assert_eq!(
            ids(ActivationQuery {
                upto: Some(B + 200),
                ..all.clone()
            }),
            ["02", "01"]
        );
        assert_eq!(
            ids(ActivationQuery {
                skip: 1,
                limit: 1,
                ..all.clone()
            }),
            ["02"]
        );
        assert!(
            reg.get_activation("a", &id("04", B + 250))
                .unwrap()
                .is_none(),
            "other namespace"
        );
        assert!(
            reg.get_activation("b", &id("04", B + 250))
                .unwrap()
                .is_some()
        );
        assert!(reg.get_activation("a", "nothex").unwrap().is_none());
        // Count: keep the newest 2 of 4, so "01" and "02" go (an age cutoff in the
        // past removes nothing more).
        assert_eq!(reg.prune_activations(2, B, u64::MAX).unwrap(), 2);
        assert_eq!(ids(all), ["03"]);
        assert!(
            reg.get_activation("a", &id("01", B + 100))
                .unwrap()
                .is_none()
        );
        assert!(
            reg.get_activation("b", &id("04", B + 250))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn namespaces_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let reg = RedbRegistry::open(dir.path().join("r.redb")).unwrap();
        assert!(reg.create_namespace("team").unwrap());
        assert!(!reg.create_namespace("team").unwrap());
        assert_eq!(reg.list_namespaces().unwrap(), ["team"]);
        let key = StoredKey {
            id: "k1".into(),
            namespace: "team".into(),
            secret_sha256: "00".into(),
            created: 1,
        };
        reg.put_key(&key).unwrap();
        assert_eq!(reg.list_keys().unwrap(), std::slice::from_ref(&key));
        assert_eq!(reg.delete_key("k1").unwrap(), Some(key));
        assert!(reg.list_keys().unwrap().is_empty());
        assert_eq!(reg.delete_key("k1").unwrap(), None);
    }

    #[test]
    fn deleting_a_namespace_deletes_its_actions_and_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        let reg = RedbRegistry::open(dir.path().join("r.redb")).unwrap();
        reg.create_namespace("team").unwrap();
        reg.put_action(rec("team", "x", b"v1"), b"v1", None, false)
            .unwrap();
        reg.put_action(rec("team", "x", b"v2"), b"v2", None, true)
            .unwrap();
        reg.put_action(rec("guest", "y", b"v2"), b"v2", None, false)
            .unwrap();
        for (id, ns) in [("k1", "team"), ("k2", "other")] {
            reg.put_key(&StoredKey {
                id: id.into(),
                namespace: ns.into(),
                secret_sha256: "00".into(),
                created: 1,
            })
            .unwrap();
        }
        let gone = reg.delete_namespace("team").unwrap().unwrap();
        assert_eq!(gone.actions, ["x"]);
        assert_eq!(gone.keys, ["k1"]);
        assert_eq!(gone.module_hashes.len(), 2);
        assert!(reg.get_action("team", "x").unwrap().is_none());
        assert!(reg.list_versions("team", "x").unwrap().is_empty());
        // v1 ran only there; v2 still runs guest/y.
        assert!(!reg.has_module(&module_hash(b"v1")).unwrap());
        assert!(reg.has_module(&module_hash(b"v2")).unwrap());
        assert_eq!(reg.list_keys().unwrap().len(), 1);
        assert!(reg.list_namespaces().unwrap().is_empty());
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        {
            let reg = RedbRegistry::open(&path).unwrap();
            reg.put_action(rec("a", "x", b"v1"), b"v1", None, false)
                .unwrap();
        }
        let reg = RedbRegistry::open(&path).unwrap();
        assert_eq!(reg.get_action("a", "x").unwrap().unwrap().module_size, 2);
    }
}
