//! Key-value stores: named stores per namespace, in the registry's database.
//!
//! Every operation is one redb transaction. redb runs one write transaction
//! at a time, so a read-modify-write inside one (an increment, a
//! compare-and-swap, the quota check of a set) is atomic under any number of
//! concurrent callers, and every write is durable when it returns (a commit
//! with redb's default `Immediate` durability). The bytes a namespace holds
//! (keys and values, all its stores) are counted in the same transaction as
//! each write, so its quota can never be passed, even by racing writers.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use wisp_api::kv::{DEFAULT_STORE, KeyPage, KvWrite, MAX_PAGE_KEYS, check_entry};
use wisp_api::valid_name;

use crate::redb_store::storage;
use crate::{RegistryError, now_millis};

/// `(namespace, store)` → creation time (ms), for every store but `default`,
/// which every namespace has without being listed here.
pub(crate) const KV_STORES: TableDefinition<(&str, &str), u64> = TableDefinition::new("kv_stores");
/// `(namespace, store, key)` → value.
pub(crate) const KV: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("kv");
/// Namespace → bytes of keys and values it holds, all stores together.
pub(crate) const KV_USAGE: TableDefinition<&str, u64> = TableDefinition::new("kv_usage");

/// Bytes of keys and values a namespace may hold unless
/// [`RedbRegistry::kv_quota`](crate::RedbRegistry::kv_quota) says.
pub const DEFAULT_KV_QUOTA_BYTES: u64 = 64 << 20;

/// Why a key-value operation failed; callers branch on the variant (a guest
/// sees its message as `error::other`, a REST client a 4xx).
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The store does not exist in the namespace.
    #[error("no key-value store '{store}' in namespace '{namespace}'")]
    NoSuchStore {
        /// The namespace.
        namespace: String,
        /// The store asked for.
        store: String,
    },
    /// A store of that name exists already.
    #[error("the key-value store '{0}' already exists")]
    StoreExists(String),
    /// A name, key or operation the caller may not use (an invalid store
    /// name, an increment of a value that is not an integer, deleting
    /// `default`).
    #[error("{0}")]
    Invalid(String),
    /// A key or value past its limit (the sentence says which).
    #[error("{0}")]
    TooLarge(String),
    /// The write would take the namespace past its quota; nothing was written.
    #[error(
        "the namespace's key-value quota of {quota} bytes is used up: {used} bytes are in use and this write needs {needed} more"
    )]
    Quota {
        /// Bytes in use before the write.
        used: u64,
        /// Bytes the write adds.
        needed: u64,
        /// The quota.
        quota: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] RegistryError),
}

/// Result of key-value operations.
pub type KvResult<T> = std::result::Result<T, KvError>;

fn db_err<E: std::fmt::Display>(e: E) -> KvError {
    KvError::Storage(storage(e))
}

/// Which keys a listing returns: sorted, those starting with `prefix`, after
/// the key `after` (a REST cursor) and then `skip` more (a guest's numeric
/// cursor), at most `limit` (at most [`MAX_PAGE_KEYS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Only keys after this one.
    pub after: Option<String>,
    /// Skip this many of the matches.
    pub skip: u64,
    /// Return at most this many.
    pub limit: usize,
}

/// What deleting a namespace removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceRemoval {
    /// Its actions' names.
    pub actions: Vec<String>,
    /// The hashes of the modules its actions' kept versions ran.
    pub module_hashes: Vec<String>,
    /// Its API keys' ids.
    pub keys: Vec<String>,
    /// Its key-value stores, `default` included.
    pub stores: Vec<String>,
}

/// A store name is valid and, unless it is `default`, exists.
fn check_store(
    stores: &impl ReadableTable<(&'static str, &'static str), u64>,
    namespace: &str,
    store: &str,
) -> KvResult<()> {
    let exists = || Ok(stores.get((namespace, store)).map_err(db_err)?.is_some());
    require_store(namespace, store, exists)
}

/// A store name is valid and, unless it is `default`, `exists` says it is
/// there.
pub(crate) fn require_store(
    namespace: &str,
    store: &str,
    exists: impl FnOnce() -> KvResult<bool>,
) -> KvResult<()> {
    if store == DEFAULT_STORE || (valid_name(store) && exists()?) {
        return Ok(());
    }
    Err(KvError::NoSuchStore {
        namespace: namespace.to_string(),
        store: store.to_string(),
    })
}

/// A name a store may be created with.
pub(crate) fn check_store_name(store: &str) -> KvResult<()> {
    if valid_name(store) {
        return Ok(());
    }
    Err(KvError::Invalid(format!(
        "'{store}' is not a valid store name: use letters, digits, '_', '-', '.', '@', starting with a letter, digit or '_', at most 256"
    )))
}

pub(crate) fn check(key: &str, value: Option<&[u8]>) -> KvResult<()> {
    match check_entry(key, value) {
        Some(why) => Err(KvError::TooLarge(why)),
        None => Ok(()),
    }
}

/// Bytes an entry counts against its namespace's quota.
pub(crate) fn cost(key: &str, value_len: usize) -> u64 {
    (key.len() + value_len) as u64
}

/// The keys of one store inside a write transaction, as a backend reads and
/// writes them.
pub(crate) trait StoreRows {
    /// A key's value.
    fn get(&mut self, key: &str) -> KvResult<Option<Vec<u8>>>;
    /// Sets a key; the length of the value it held.
    fn put(&mut self, key: &str, value: &[u8]) -> KvResult<Option<usize>>;
    /// Removes a key; the length of the value it held.
    fn remove(&mut self, key: &str) -> KvResult<Option<usize>>;
}

/// One write transaction on a store: its keys and the namespace's usage,
/// which the backend writes back when `f` succeeds.
pub(crate) struct Writer<R> {
    pub rows: R,
    pub used: u64,
    pub quota: u64,
}

impl<R: StoreRows> Writer<R> {
    /// Sets a key, within the quota: a write that makes the namespace hold
    /// more than before must fit; one that shrinks it always passes.
    fn set(&mut self, key: &str, value: &[u8]) -> KvResult<()> {
        check(key, Some(value))?;
        let old = self.rows.get(key)?.map_or(0, |v| cost(key, v.len()));
        let new = cost(key, value.len());
        if new > old {
            let needed = new - old;
            if self.used.saturating_add(needed) > self.quota {
                return Err(KvError::Quota {
                    used: self.used,
                    needed,
                    quota: self.quota,
                });
            }
        }
        self.rows.put(key, value)?;
        self.used = (self.used + new).saturating_sub(old);
        Ok(())
    }

    fn delete(&mut self, key: &str) -> KvResult<bool> {
        check(key, None)?;
        let removed = self.rows.remove(key)?.map(|len| cost(key, len));
        if let Some(freed) = removed {
            self.used = self.used.saturating_sub(freed);
        }
        Ok(removed.is_some())
    }

    /// Applies a batch of writes: all of them, or (when one fails, and the
    /// caller drops the transaction) none.
    pub(crate) fn apply(&mut self, writes: &[KvWrite]) -> KvResult<()> {
        for op in writes {
            match op {
                KvWrite::Set(k, v) => self.set(k, v)?,
                KvWrite::Delete(k) => {
                    self.delete(k)?;
                }
            }
        }
        Ok(())
    }

    /// Adds `delta` to the integer a key holds as decimal text (0 when
    /// missing) and returns the sum.
    pub(crate) fn increment(&mut self, key: &str, delta: i64) -> KvResult<i64> {
        check(key, None)?;
        let current = match self.rows.get(key)? {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    KvError::Invalid(format!(
                        "the value of '{key}' is not an integer, so it cannot be incremented"
                    ))
                })?,
        };
        let sum = current
            .checked_add(delta)
            .ok_or_else(|| KvError::Invalid(format!("incrementing '{key}' overflows")))?;
        self.set(key, sum.to_string().as_bytes())?;
        Ok(sum)
    }

    /// Sets a key to `new` only when it holds `expected` (`None`: when it is
    /// missing); whether it did.
    pub(crate) fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        check(key, None)?;
        if self.rows.get(key)?.as_deref() != expected {
            return Ok(false);
        }
        self.set(key, new)?;
        Ok(true)
    }
}

/// A store's keys in a redb write transaction.
pub(crate) struct RedbRows<'t> {
    kv: redb::Table<'t, (&'static str, &'static str, &'static str), &'static [u8]>,
    namespace: &'t str,
    store: &'t str,
}

impl StoreRows for RedbRows<'_> {
    fn get(&mut self, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self
            .kv
            .get((self.namespace, self.store, key))
            .map_err(db_err)?
            .map(|g| g.value().to_vec()))
    }

    fn put(&mut self, key: &str, value: &[u8]) -> KvResult<Option<usize>> {
        Ok(self
            .kv
            .insert((self.namespace, self.store, key), value)
            .map_err(db_err)?
            .map(|g| g.value().len()))
    }

    fn remove(&mut self, key: &str) -> KvResult<Option<usize>> {
        Ok(self
            .kv
            .remove((self.namespace, self.store, key))
            .map_err(db_err)?
            .map(|g| g.value().len()))
    }
}

/// Runs `f` in one write transaction on a store, committing what it wrote
/// (with the namespace's new usage) only when it succeeds. redb runs one
/// write transaction at a time, so `f` is atomic.
pub(crate) fn write<T>(
    db: &Database,
    quota: u64,
    namespace: &str,
    store: &str,
    f: impl FnOnce(&mut Writer<RedbRows<'_>>) -> KvResult<T>,
) -> KvResult<T> {
    let txn = db.begin_write().map_err(db_err)?;
    let out = {
        check_store(
            &txn.open_table(KV_STORES).map_err(db_err)?,
            namespace,
            store,
        )?;
        let mut usage = txn.open_table(KV_USAGE).map_err(db_err)?;
        let used = usage
            .get(namespace)
            .map_err(db_err)?
            .map_or(0, |g| g.value());
        let mut w = Writer {
            rows: RedbRows {
                kv: txn.open_table(KV).map_err(db_err)?,
                namespace,
                store,
            },
            used,
            quota,
        };
        let out = f(&mut w)?;
        usage.insert(namespace, w.used).map_err(db_err)?;
        out
    };
    txn.commit().map_err(db_err)?;
    Ok(out)
}

/// The values of `keys`, in one read transaction.
pub(crate) fn get_many(
    db: &Database,
    namespace: &str,
    store: &str,
    keys: &[&str],
) -> KvResult<Vec<Option<Vec<u8>>>> {
    let txn = db.begin_read().map_err(db_err)?;
    check_store(
        &txn.open_table(KV_STORES).map_err(db_err)?,
        namespace,
        store,
    )?;
    let kv = txn.open_table(KV).map_err(db_err)?;
    keys.iter()
        .map(|key| {
            check(key, None)?;
            Ok(kv
                .get((namespace, store, *key))
                .map_err(db_err)?
                .map(|g| g.value().to_vec()))
        })
        .collect()
}

/// One page of a store's keys.
pub(crate) fn keys(db: &Database, namespace: &str, store: &str, q: &KeyQuery) -> KvResult<KeyPage> {
    let txn = db.begin_read().map_err(db_err)?;
    check_store(
        &txn.open_table(KV_STORES).map_err(db_err)?,
        namespace,
        store,
    )?;
    let kv = txn.open_table(KV).map_err(db_err)?;
    let limit = q.limit.clamp(1, MAX_PAGE_KEYS);
    let start = match &q.after {
        Some(a) if a.as_str() > q.prefix.as_str() => a.as_str(),
        _ => q.prefix.as_str(),
    };
    let mut page = KeyPage::default();
    let mut skip = q.skip;
    for entry in kv.range((namespace, store, start)..).map_err(db_err)? {
        let (k, _) = entry.map_err(db_err)?;
        let (ns, st, key) = k.value();
        if ns != namespace || st != store || !key.starts_with(q.prefix.as_str()) {
            break;
        }
        if q.after.as_deref() == Some(key) {
            continue;
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if page.keys.len() == limit {
            // There is at least one more: the next page starts after this one.
            page.cursor = page.keys.last().cloned();
            break;
        }
        page.keys.push(key.to_string());
    }
    Ok(page)
}

/// `default` cannot be deleted.
pub(crate) fn check_deletable(store: &str) -> KvResult<()> {
    if store == DEFAULT_STORE {
        return Err(KvError::Invalid(
            "the default store cannot be deleted: every namespace has it".into(),
        ));
    }
    Ok(())
}

/// Creates a store; false when it exists.
pub(crate) fn create_store(db: &Database, namespace: &str, store: &str) -> KvResult<bool> {
    check_store_name(store)?;
    if store == DEFAULT_STORE {
        return Ok(false);
    }
    let txn = db.begin_write().map_err(db_err)?;
    let created = {
        let mut stores = txn.open_table(KV_STORES).map_err(db_err)?;
        if stores.get((namespace, store)).map_err(db_err)?.is_some() {
            false
        } else {
            stores
                .insert((namespace, store), now_millis())
                .map_err(db_err)?;
            true
        }
    };
    txn.commit().map_err(db_err)?;
    Ok(created)
}

/// The namespace's stores (`default` first, then sorted) and the bytes they
/// hold.
pub(crate) fn stores(db: &Database, namespace: &str) -> KvResult<(Vec<String>, u64)> {
    let txn = db.begin_read().map_err(db_err)?;
    let table = txn.open_table(KV_STORES).map_err(db_err)?;
    let mut out = vec![DEFAULT_STORE.to_string()];
    for entry in table.range((namespace, "")..).map_err(db_err)? {
        let (k, _) = entry.map_err(db_err)?;
        let (ns, store) = k.value();
        if ns != namespace {
            break;
        }
        out.push(store.to_string());
    }
    let used = txn
        .open_table(KV_USAGE)
        .map_err(db_err)?
        .get(namespace)
        .map_err(db_err)?
        .map_or(0, |g| g.value());
    Ok((out, used))
}

/// The string right after `s` in byte order: no string sorts between them,
/// so `(s, ..)..(after(s), ..)` is exactly the tuples that start with `s`.
fn after(s: &str) -> String {
    format!("{s}\0")
}

/// Removes every key of the store (or of every store of the namespace, when
/// `store` is `None`) in `txn`; the bytes freed.
fn clear(txn: &WriteTransaction, namespace: &str, store: Option<&str>) -> KvResult<u64> {
    let mut kv = txn.open_table(KV).map_err(db_err)?;
    let mut freed = 0;
    let mut count = |(_, _, key): (&str, &str, &str), value: &[u8]| {
        freed += cost(key, value.len());
        false
    };
    match store {
        Some(store) => {
            let end = after(store);
            kv.retain_in(
                (namespace, store, "")..(namespace, end.as_str(), ""),
                &mut count,
            )
        }
        None => {
            let end = after(namespace);
            kv.retain_in((namespace, "", "")..(end.as_str(), "", ""), &mut count)
        }
    }
    .map_err(db_err)?;
    Ok(freed)
}

/// Deletes a store and its keys; false when it does not exist. `default`
/// cannot be deleted.
pub(crate) fn delete_store(db: &Database, namespace: &str, store: &str) -> KvResult<bool> {
    check_deletable(store)?;
    let txn = db.begin_write().map_err(db_err)?;
    {
        let mut stores = txn.open_table(KV_STORES).map_err(db_err)?;
        if stores.remove((namespace, store)).map_err(db_err)?.is_none() {
            return Ok(false);
        }
    }
    let freed = clear(&txn, namespace, Some(store))?;
    {
        let mut usage = txn.open_table(KV_USAGE).map_err(db_err)?;
        let used = usage
            .get(namespace)
            .map_err(db_err)?
            .map_or(0, |g| g.value());
        usage
            .insert(namespace, used.saturating_sub(freed))
            .map_err(db_err)?;
    }
    txn.commit().map_err(db_err)?;
    Ok(true)
}

/// Removes every store of a namespace and its usage in `txn`; the stores'
/// names.
pub(crate) fn remove_namespace(
    txn: &WriteTransaction,
    namespace: &str,
) -> crate::Result<Vec<String>> {
    let storage_err = |e: KvError| match e {
        KvError::Storage(e) => e,
        other => RegistryError::Storage(other.to_string()),
    };
    let mut names = vec![DEFAULT_STORE.to_string()];
    {
        let mut stores = txn.open_table(KV_STORES).map_err(storage)?;
        let end = after(namespace);
        stores
            .retain_in((namespace, "")..(end.as_str(), ""), |(_, store), _| {
                names.push(store.to_string());
                false
            })
            .map_err(storage)?;
    }
    clear(txn, namespace, None).map_err(storage_err)?;
    txn.open_table(KV_USAGE)
        .map_err(storage)?
        .remove(namespace)
        .map_err(storage)?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RedbRegistry, Registry};
    use std::sync::Arc;

    fn open(quota: u64) -> (tempfile::TempDir, RedbRegistry) {
        let dir = tempfile::tempdir().unwrap();
        let reg = RedbRegistry::open(dir.path().join("r.redb"))
            .unwrap()
            .kv_quota(quota);
        (dir, reg)
    }

    #[test]
    fn default_exists_everywhere_and_other_stores_only_once_created() {
        let (_d, reg) = open(1 << 20);
        reg.kv_set("a", "default", "k", b"v").unwrap();
        assert_eq!(reg.kv_get("a", "default", "k").unwrap().unwrap(), b"v");
        assert!(matches!(
            reg.kv_set("a", "cache", "k", b"v"),
            Err(KvError::NoSuchStore { .. })
        ));
        assert!(reg.kv_create_store("a", "cache").unwrap());
        assert!(!reg.kv_create_store("a", "cache").unwrap());
        assert!(!reg.kv_create_store("a", "default").unwrap());
        assert!(matches!(
            reg.kv_create_store("a", "no/slash"),
            Err(KvError::Invalid(_))
        ));
        reg.kv_set("a", "cache", "k", b"other").unwrap();
        // Stores and namespaces do not see each other's keys.
        assert_eq!(reg.kv_get("a", "default", "k").unwrap().unwrap(), b"v");
        assert_eq!(reg.kv_get("b", "default", "k").unwrap(), None);
        assert!(matches!(
            reg.kv_get("b", "cache", "k"),
            Err(KvError::NoSuchStore { .. })
        ));
        assert_eq!(reg.kv_stores("a").unwrap().0, ["default", "cache"]);
        assert_eq!(reg.kv_stores("b").unwrap().0, ["default"]);
        reg.kv_delete("a", "default", "k").unwrap();
        reg.kv_delete("a", "default", "k").unwrap();
        assert_eq!(reg.kv_get("a", "default", "k").unwrap(), None);
    }

    #[test]
    fn keys_and_values_past_their_limits_are_refused() {
        let (_d, reg) = open(8 << 20);
        let long = "k".repeat(wisp_api::kv::MAX_KEY_BYTES + 1);
        let e = reg.kv_set("a", "default", &long, b"v").unwrap_err();
        assert_eq!(e.to_string(), "key is longer than 1024 bytes");
        let big = vec![0; wisp_api::kv::MAX_VALUE_BYTES + 1];
        let e = reg.kv_set("a", "default", "k", &big).unwrap_err();
        assert!(matches!(e, KvError::TooLarge(_)), "{e}");
        assert!(matches!(
            reg.kv_get("a", "default", &long),
            Err(KvError::TooLarge(_))
        ));
        assert_eq!(reg.kv_stores("a").unwrap().1, 0);
    }

    #[test]
    fn the_quota_counts_keys_and_values_and_a_refused_write_changes_nothing() {
        let (_d, reg) = open(20);
        reg.kv_set("a", "default", "k1", b"12345678").unwrap(); // 10 bytes
        reg.kv_set("a", "default", "k1", b"123").unwrap(); // shrinks to 5
        assert_eq!(reg.kv_stores("a").unwrap().1, 5);
        reg.kv_set("a", "default", "k2", b"12345678").unwrap(); // 15
        let e = reg.kv_set("a", "default", "k3", b"1234").unwrap_err();
        assert!(
            matches!(
                e,
                KvError::Quota {
                    used: 15,
                    needed: 6,
                    quota: 20
                }
            ),
            "{e}"
        );
        // A batch is all or nothing.
        let batch = [
            KvWrite::Set("k4".into(), b"1".to_vec()),
            KvWrite::Set("k5".into(), b"123456".to_vec()),
        ];
        assert!(matches!(
            reg.kv_write("a", "default", &batch),
            Err(KvError::Quota { .. })
        ));
        assert_eq!(reg.kv_get("a", "default", "k4").unwrap(), None);
        // Deleting frees room; other namespaces have their own.
        reg.kv_delete("a", "default", "k2").unwrap();
        reg.kv_set("a", "default", "k3", b"1234").unwrap();
        assert_eq!(reg.kv_stores("a").unwrap().1, 11);
        reg.kv_set("b", "default", "k", &[0; 18]).unwrap();
    }

    #[test]
    fn concurrent_increments_lose_nothing() {
        let (_d, reg) = open(1 << 20);
        let reg = Arc::new(reg);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let reg = reg.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        reg.kv_increment("a", "default", "n", 1).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(reg.kv_increment("a", "default", "n", -200).unwrap(), 0);
        assert_eq!(reg.kv_get("a", "default", "n").unwrap().unwrap(), b"0");
        reg.kv_set("a", "default", "text", b"hello").unwrap();
        assert!(matches!(
            reg.kv_increment("a", "default", "text", 1),
            Err(KvError::Invalid(_))
        ));
        reg.kv_set("a", "default", "max", i64::MAX.to_string().as_bytes())
            .unwrap();
        assert!(reg.kv_increment("a", "default", "max", 1).is_err());
    }

    #[test]
    fn compare_and_swap_writes_only_over_what_was_expected() {
        let (_d, reg) = open(1 << 20);
        assert!(
            reg.kv_compare_and_swap("a", "default", "k", None, b"1")
                .unwrap()
        );
        assert!(
            !reg.kv_compare_and_swap("a", "default", "k", None, b"2")
                .unwrap()
        );
        assert!(
            !reg.kv_compare_and_swap("a", "default", "k", Some(b"2"), b"3")
                .unwrap()
        );
        assert!(
            reg.kv_compare_and_swap("a", "default", "k", Some(b"1"), b"3")
                .unwrap()
        );
        assert_eq!(reg.kv_get("a", "default", "k").unwrap().unwrap(), b"3");
    }

    #[test]
    fn batches_read_and_write_together() {
        let (_d, reg) = open(1 << 20);
        let sets: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|k| KvWrite::Set(k.to_string(), k.as_bytes().to_vec()))
            .collect();
        reg.kv_write("n", "default", &sets).unwrap();
        assert_eq!(
            reg.kv_get_many("n", "default", &["a", "x", "c"]).unwrap(),
            [Some(b"a".to_vec()), None, Some(b"c".to_vec())]
        );
        reg.kv_write(
            "n",
            "default",
            &[KvWrite::Delete("a".into()), KvWrite::Delete("b".into())],
        )
        .unwrap();
        assert_eq!(reg.kv_stores("n").unwrap().1, 2);
    }

    #[test]
    fn listings_take_a_prefix_and_go_on_from_a_cursor() {
        let (_d, reg) = open(1 << 20);
        for k in ["user/1", "user/2", "user/3", "users", "other", "user0"] {
            reg.kv_set("a", "default", k, b"").unwrap();
        }
        let q = |prefix: &str, after: Option<&str>, skip: u64, limit: usize| KeyQuery {
            prefix: prefix.into(),
            after: after.map(str::to_string),
            skip,
            limit,
        };
        let p = reg
            .kv_keys("a", "default", &q("user/", None, 0, 2))
            .unwrap();
        assert_eq!(p.keys, ["user/1", "user/2"]);
        assert_eq!(p.cursor.as_deref(), Some("user/2"));
        let p = reg
            .kv_keys("a", "default", &q("user/", p.cursor.as_deref(), 0, 2))
            .unwrap();
        assert_eq!((p.keys, p.cursor), (vec!["user/3".to_string()], None));
        let p = reg.kv_keys("a", "default", &q("", None, 4, 10)).unwrap();
        assert_eq!(p.keys, ["user0", "users"]);
        let p = reg
            .kv_keys("a", "default", &q("user", None, 0, 10))
            .unwrap();
        assert_eq!(p.keys.len(), 5);
        // A full last page has no cursor.
        let p = reg
            .kv_keys("a", "default", &q("user/", None, 0, 3))
            .unwrap();
        assert_eq!((p.keys.len(), p.cursor), (3, None));
        assert!(
            reg.kv_keys("b", "default", &q("", None, 0, 10))
                .unwrap()
                .keys
                .is_empty()
        );
    }

    #[test]
    fn deleting_a_store_or_a_namespace_deletes_its_keys_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        {
            let reg = RedbRegistry::open(&path).unwrap();
            reg.create_namespace("team").unwrap();
            reg.create_namespace("teamx").unwrap();
            for ns in ["team", "teamx"] {
                reg.kv_create_store(ns, "s").unwrap();
                reg.kv_set(ns, "s", "k", b"v").unwrap();
                reg.kv_set(ns, "default", "k", b"v").unwrap();
            }
            reg.kv_create_store("team", "t").unwrap();
            reg.kv_set("team", "t", "k", b"v").unwrap();
            assert!(reg.kv_delete_store("team", "t").unwrap());
            assert!(!reg.kv_delete_store("team", "t").unwrap());
            assert!(matches!(
                reg.kv_delete_store("team", "default"),
                Err(KvError::Invalid(_))
            ));
            assert_eq!(
                reg.kv_stores("team").unwrap(),
                (vec!["default".into(), "s".into()], 4)
            );
        }
        let reg = RedbRegistry::open(&path).unwrap();
        assert_eq!(reg.kv_get("team", "s", "k").unwrap().unwrap(), b"v");
        let gone = reg.delete_namespace("team").unwrap().unwrap();
        assert_eq!(gone.stores, ["default", "s"]);
        assert!(reg.delete_namespace("team").unwrap().is_none());
        assert_eq!(reg.kv_stores("team").unwrap(), (vec!["default".into()], 0));
        assert_eq!(reg.kv_get("team", "default", "k").unwrap(), None);
        // A namespace whose name starts with the deleted one's keeps its data.
        assert_eq!(reg.kv_get("teamx", "s", "k").unwrap().unwrap(), b"v");
        assert_eq!(reg.kv_stores("teamx").unwrap().1, 4);
    }
}
