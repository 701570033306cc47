//! Namespace and key management, for the server's own key only.

use std::sync::Arc;

use http::StatusCode;
use wisp_api::admin::{NamespaceDeleted, NamespaceView, NewKey, Revoked};
use wisp_registry::{StoredKey, now_millis};

use crate::Controller;
use crate::auth::ApiKey;
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::keys::secret_hash;
use crate::routes::{AdminOp, DEFAULT_NAMESPACE, valid_name};

/// Answers one operation; the registry is written off the async threads.
pub async fn handle(ctl: &Arc<Controller>, op: AdminOp) -> ApiResult {
    let ctl2 = ctl.clone();
    tokio::task::spawn_blocking(move || blocking(&ctl2, op))
        .await
        .map_err(ApiError::internal)?
}

fn blocking(ctl: &Controller, op: AdminOp) -> ApiResult {
    match op {
        AdminOp::Overview => {
            let snap = crate::metrics::exposition::Snapshot::take(ctl);
            let labels = crate::metrics::throttle_labels();
            let view = wisp_api::admin::Overview {
                instances_in_flight: snap.instances_in_flight,
                instance_capacity: ctl.invoker.capacity(),
                queue_depth: snap.queue_depth,
                throttled: labels
                    .iter()
                    .zip(snap.throttled)
                    .map(|(l, n)| (l.to_string(), n))
                    .collect(),
                compiled_code_bytes: snap.compiled_code_bytes,
                actions_deployed: snap.actions_deployed,
                resident_bytes: crate::metrics::process::ProcessFigures::read().resident_bytes,
            };
            Ok(respond::json(StatusCode::OK, &view))
        }
        AdminOp::ListNamespaces => {
            let mut names = vec![DEFAULT_NAMESPACE.to_string()];
            names.extend(ctl.registry.list_namespaces()?);
            let list: Vec<NamespaceView> = names
                .into_iter()
                .map(|name| NamespaceView {
                    keys: ctl.keys.ids_of(&name),
                    name,
                })
                .collect();
            Ok(respond::json(StatusCode::OK, &list))
        }
        AdminOp::CreateNamespace(name) => {
            if !valid_name(&name) || name == "_" {
                return Err(ApiError::bad_request(format!(
                    "'{name}' is not a valid namespace name"
                )));
            }
            if name == DEFAULT_NAMESPACE || !ctl.registry.create_namespace(&name)? {
                return Err(ApiError::conflict(format!(
                    "the namespace '{name}' already exists"
                )));
            }
            Ok(respond::json(StatusCode::OK, &new_key(ctl, &name)?))
        }
        AdminOp::DeleteNamespace(name) => {
            if name == DEFAULT_NAMESPACE || name == "_" {
                return Err(ApiError::bad_request(format!(
                    "the default namespace '{DEFAULT_NAMESPACE}' cannot be deleted"
                )));
            }
            // Under the alarms' lock: a scheduler pass never writes back an
            // alarm of the namespace once it is gone.
            let gone = {
                let _held = ctl.alarms.lock();
                ctl.registry.delete_namespace(&name)?
            };
            let Some(gone) = gone else {
                return Err(ApiError::not_found(format!(
                    "the namespace '{name}' does not exist"
                )));
            };
            // Stored state went in one transaction; now what is served.
            for id in &gone.keys {
                ctl.keys.remove(id);
            }
            for action in &gone.actions {
                ctl.unpublish(&name, action);
            }
            for hash in &gone.module_hashes {
                ctl.release_module(hash);
            }
            let files = ctl.config.files_dir().join(&name);
            if files.exists()
                && let Err(e) = std::fs::remove_dir_all(&files)
            {
                tracing::warn!("could not remove {}: {e}", files.display());
            }
            Ok(respond::json(
                StatusCode::OK,
                &NamespaceDeleted {
                    namespace: name,
                    actions: gone.actions,
                    keys: gone.keys,
                    stores: gone.stores,
                },
            ))
        }
        AdminOp::AddKey(name) => {
            if !ctl.registry.list_namespaces()?.contains(&name) {
                return Err(ApiError::not_found(format!(
                    "the namespace '{name}' does not exist"
                )));
            }
            Ok(respond::json(StatusCode::OK, &new_key(ctl, &name)?))
        }
        AdminOp::RevokeKey(id) => match ctl.registry.delete_key(&id)? {
            Some(k) => {
                ctl.keys.remove(&id);
                ctl.settle_keys();
                Ok(respond::json(
                    StatusCode::OK,
                    &Revoked {
                        revoked: id,
                        namespace: k.namespace,
                    },
                ))
            }
            None => Err(ApiError::not_found(format!("no key with id '{id}'"))),
        },
    }
}

/// Creates, stores (hashed) and accepts a new key for `namespace`.
fn new_key(ctl: &Controller, namespace: &str) -> Result<NewKey, ApiError> {
    let key = ApiKey::generate().map_err(ApiError::internal)?;
    let stored = StoredKey {
        id: key.id.clone(),
        namespace: namespace.to_string(),
        secret_sha256: secret_hash(&key.secret),
        created: now_millis(),
    };
    ctl.registry.put_key(&stored)?;
    ctl.keys.add(stored);
    ctl.settle_keys();
    Ok(NewKey {
        namespace: namespace.to_string(),
        key: key.to_string(),
    })
}
