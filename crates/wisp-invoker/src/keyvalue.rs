//! `wasi:keyvalue` (`store`, `atomics`, `batch`; 0.2.0-draft) for components,
//! over a [`KvBackend`] the embedder gives (the controller's, over its
//! registry): the invoker itself stores nothing.
//!
//! A component opens `default`, its namespace's own store, or a store its
//! action's `keyvalue-stores` annotation names and that exists; anything else
//! is `access-denied` or `no-such-store`. Every call goes to the backend on a
//! blocking thread (`spawn_blocking`): a request thread is one
//! single-threaded runtime serving many calls, and a database write (a
//! commit, an fsync) must never stop it. A refusal of the backend (a key or
//! value past its limit, the quota, a value that is not a number) reaches the
//! guest as `error::other` with the reason; nothing here traps the guest but
//! a handle it never had.
//!
//! `wasmtime-wasi-keyvalue` ships only an in-memory store behind private
//! bindings, so the bindings are generated here from the same WIT
//! (`wit/keyvalue`, copied from that crate).

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable, ResourceTableError};
use wisp_api::kv::{DEFAULT_STORE, KeyPage, KvWrite, MAX_PAGE_KEYS};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
        },
        trappable_error_type: {
            "wasi:keyvalue/store.error" => super::KvFailure,
        },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// Why a key-value operation failed, as the guest is told
/// (`wasi:keyvalue/store.error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvFailure {
    /// The store does not exist.
    NoSuchStore,
    /// The action may not open the store.
    AccessDenied,
    /// Anything else, with the reason (`key is longer than 1024 bytes`, ...).
    Other(String),
}

impl From<ResourceTableError> for KvFailure {
    fn from(e: ResourceTableError) -> Self {
        KvFailure::Other(e.to_string())
    }
}

/// Where key-value data lives. Its methods block (they write a database):
/// the host calls them on a blocking thread. Limits and quotas are the
/// backend's to enforce; a refusal is [`KvFailure::Other`] with the reason.
pub trait KvBackend: Send + Sync + 'static {
    /// Whether a store exists in the namespace.
    fn store_exists(&self, namespace: &str, store: &str) -> Result<bool, KvFailure>;
    /// The values of some keys.
    fn get_many(
        &self,
        namespace: &str,
        store: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, KvFailure>;
    /// Applies writes together: all, or none.
    fn write(&self, namespace: &str, store: &str, writes: &[KvWrite]) -> Result<(), KvFailure>;
    /// Adds `delta` to a key's integer (0 when missing), atomically; the sum.
    fn increment(
        &self,
        namespace: &str,
        store: &str,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvFailure>;
    /// Keys in order, after skipping `skip`, at most `limit`; the page's
    /// cursor is set when there are more.
    fn list_keys(
        &self,
        namespace: &str,
        store: &str,
        skip: u64,
        limit: usize,
    ) -> Result<KeyPage, KvFailure>;
}

/// The stores one action may open, and where they live.
#[derive(Clone)]
pub struct KeyValueGrant {
    /// The action's namespace: its `default` store is the namespace's.
    pub namespace: String,
    /// The stores besides `default` it may open (annotation `keyvalue-stores`).
    pub stores: Vec<String>,
    /// Where the data lives.
    pub backend: Arc<dyn KvBackend>,
}

impl std::fmt::Debug for KeyValueGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueGrant")
            .field("namespace", &self.namespace)
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl KeyValueGrant {
    /// Whether the action may open `store` (if it exists).
    fn may_open(&self, store: &str) -> bool {
        store == DEFAULT_STORE || self.stores.iter().any(|s| s == store)
    }
}

/// An open store, as the guest holds it.
#[derive(Debug)]
pub struct Bucket {
    store: String,
}

/// The host's view of one call: the action's grant and the call's resources.
pub(crate) struct KeyValue<'a> {
    pub(crate) grant: Option<&'a KeyValueGrant>,
    pub(crate) table: &'a mut ResourceTable,
}

/// Adds `wasi:keyvalue/{store,atomics,batch}` to a linker.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValue<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasKeyValue>(linker, get)?;
    atomics::add_to_linker::<T, HasKeyValue>(linker, get)?;
    batch::add_to_linker::<T, HasKeyValue>(linker, get)?;
    Ok(())
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValue<'a>;
}

impl KeyValue<'_> {
    /// Runs `f` on the backend, on a blocking thread, for the bucket's store.
    async fn call<R: Send + 'static>(
        &mut self,
        bucket: &Resource<Bucket>,
        f: impl FnOnce(&dyn KvBackend, &str, &str) -> Result<R, KvFailure> + Send + 'static,
    ) -> Result<R, KvFailure> {
        let store = self.table.get(bucket)?.store.clone();
        let grant = self.grant.ok_or(KvFailure::AccessDenied)?;
        let (backend, namespace) = (grant.backend.clone(), grant.namespace.clone());
        tokio::task::spawn_blocking(move || f(&*backend, &namespace, &store))
            .await
            .map_err(|e| KvFailure::Other(format!("the key-value store failed: {e}")))?
    }
}

impl store::Host for KeyValue<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvFailure> {
        let grant = match self.grant {
            Some(g) if g.may_open(&identifier) => g,
            _ => return Err(KvFailure::AccessDenied),
        };
        if identifier != DEFAULT_STORE {
            let (backend, namespace, store) = (
                grant.backend.clone(),
                grant.namespace.clone(),
                identifier.clone(),
            );
            let exists =
                tokio::task::spawn_blocking(move || backend.store_exists(&namespace, &store))
                    .await
                    .map_err(|e| KvFailure::Other(format!("the key-value store failed: {e}")))??;
            if !exists {
                return Err(KvFailure::NoSuchStore);
            }
        }
        Ok(self.table.push(Bucket { store: identifier })?)
    }

    fn convert_error(&mut self, err: KvFailure) -> wasmtime::Result<store::Error> {
        Ok(match err {
            KvFailure::NoSuchStore => store::Error::NoSuchStore,
            KvFailure::AccessDenied => store::Error::AccessDenied,
            KvFailure::Other(why) => store::Error::Other(why),
        })
    }
}

impl store::HostBucket for KeyValue<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, KvFailure> {
        self.call(&bucket, move |b, ns, store| {
            Ok(b.get_many(ns, store, &[&key])?.pop().flatten())
        })
        .await
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvFailure> {
        self.call(&bucket, move |b, ns, store| {
            b.write(ns, store, &[KvWrite::Set(key, value)])
        })
        .await
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), KvFailure> {
        self.call(&bucket, move |b, ns, store| {
            b.write(ns, store, &[KvWrite::Delete(key)])
        })
        .await
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool, KvFailure> {
        self.call(&bucket, move |b, ns, store| {
            Ok(b.get_many(ns, store, &[&key])?.pop().flatten().is_some())
        })
        .await
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KvFailure> {
        // The guest's cursor counts the keys it has seen.
        let skip = cursor.unwrap_or(0);
        let page = self
            .call(&bucket, move |b, ns, store| {
                b.list_keys(ns, store, skip, MAX_PAGE_KEYS)
            })
            .await?;
        let next = page.cursor.is_some().then(|| skip + page.keys.len() as u64);
        Ok(store::KeyResponse {
            keys: page.keys,
            cursor: next,
        })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValue<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, KvFailure> {
        let delta = i64::try_from(delta)
            .map_err(|_| KvFailure::Other(format!("delta is larger than {}", i64::MAX)))?;
        let sum = self
            .call(&bucket, move |b, ns, store| {
                b.increment(ns, store, &key, delta)
            })
            .await?;
        u64::try_from(sum).map_err(|_| {
            KvFailure::Other(format!(
                "the value is {sum}, which is not an unsigned integer"
            ))
        })
    }
}

impl batch::Host for KeyValue<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvFailure> {
        self.call(&bucket, move |b, ns, store| {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let values = b.get_many(ns, store, &refs)?;
            Ok(keys
                .into_iter()
                .zip(values)
                .map(|(k, v)| v.map(|v| (k, v)))
                .collect())
        })
        .await
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvFailure> {
        self.call(&bucket, move |b, ns, store| {
            let writes: Vec<KvWrite> = key_values
                .into_iter()
                .map(|(k, v)| KvWrite::Set(k, v))
                .collect();
            b.write(ns, store, &writes)
        })
        .await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), KvFailure> {
        self.call(&bucket, move |b, ns, store| {
            let writes: Vec<KvWrite> = keys.into_iter().map(KvWrite::Delete).collect();
            b.write(ns, store, &writes)
        })
        .await
    }
}
