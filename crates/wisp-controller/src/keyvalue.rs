//! The invoker's key-value backend over the registry: what a component's
//! `wasi:keyvalue` calls reach (on a blocking thread; see
//! [`wisp_invoker::keyvalue`]).

use std::sync::Arc;

use wisp_api::kv::{KeyPage, KvWrite};
use wisp_invoker::{KvBackend, KvFailure};
use wisp_registry::{KeyQuery, KvError, Registry};

/// [`KvBackend`] over the registry's stores.
pub(crate) struct RegistryKv(pub Arc<dyn Registry>);

/// What a guest is told: refusals as they are; a storage failure is logged
/// and reported without its internals.
fn failure(e: KvError) -> KvFailure {
    match e {
        KvError::NoSuchStore { .. } => KvFailure::NoSuchStore,
        KvError::Storage(e) => {
            tracing::error!("a key-value operation failed: {e}");
            KvFailure::Other("the key-value store failed; try again".into())
        }
        other => KvFailure::Other(other.to_string()),
    }
}

impl KvBackend for RegistryKv {
    fn store_exists(&self, namespace: &str, store: &str) -> Result<bool, KvFailure> {
        match self.0.kv_keys(
            namespace,
            store,
            &KeyQuery {
                limit: 1,
                ..KeyQuery::default()
            },
        ) {
            Ok(_) => Ok(true),
            Err(KvError::NoSuchStore { .. }) => Ok(false),
            Err(e) => Err(failure(e)),
        }
    }

    fn get_many(
        &self,
        namespace: &str,
        store: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, KvFailure> {
        self.0.kv_get_many(namespace, store, keys).map_err(failure)
    }

    fn write(&self, namespace: &str, store: &str, writes: &[KvWrite]) -> Result<(), KvFailure> {
        self.0.kv_write(namespace, store, writes).map_err(failure)
    }

    fn increment(
        &self,
        namespace: &str,
        store: &str,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvFailure> {
        self.0
            .kv_increment(namespace, store, key, delta)
            .map_err(failure)
    }

    fn list_keys(
        &self,
        namespace: &str,
        store: &str,
        skip: u64,
        limit: usize,
    ) -> Result<KeyPage, KvFailure> {
        let query = KeyQuery {
            skip,
            limit,
            ..KeyQuery::default()
        };
        self.0.kv_keys(namespace, store, &query).map_err(failure)
    }
}
