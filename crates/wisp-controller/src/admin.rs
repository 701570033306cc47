//! Namespace and key management, for the server's own key only.

use std::sync::Arc;

use http::StatusCode;
use serde_json::json;
use wisp_registry::{StoredKey, now_millis};

use crate::Controller;
use crate::api::json_response;
use crate::auth::ApiKey;
use crate::error::ApiError;
use crate::keys::secret_hash;
use crate::routes::{AdminOp, DEFAULT_NAMESPACE, valid_name};

pub(crate) async fn handle(
    ctl: &Arc<Controller>,
    op: AdminOp,
) -> Result<http::Response<wisp_invoker::Body>, ApiError> {
    let ctl2 = ctl.clone();
    tokio::task::spawn_blocking(move || blocking(&ctl2, op))
        .await
        .map_err(ApiError::internal)?
}

fn blocking(ctl: &Controller, op: AdminOp) -> Result<http::Response<wisp_invoker::Body>, ApiError> {
    match op {
        AdminOp::ListNamespaces => {
            let mut names = vec![DEFAULT_NAMESPACE.to_string()];
            names.extend(ctl.registry.list_namespaces()?);
            let list: Vec<_> = names
                .iter()
                .map(|n| json!({"name": n, "keys": ctl.keys.ids_of(n)}))
                .collect();
            Ok(json_response(StatusCode::OK, &json!(list)))
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
            let key = new_key(ctl, &name)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"namespace": name, "key": key.to_string()}),
            ))
        }
        AdminOp::AddKey(name) => {
            if !ctl.registry.list_namespaces()?.contains(&name) {
                return Err(ApiError::not_found(format!(
                    "the namespace '{name}' does not exist"
                )));
            }
            let key = new_key(ctl, &name)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"namespace": name, "key": key.to_string()}),
            ))
        }
        AdminOp::RevokeKey(id) => match ctl.registry.delete_key(&id)? {
            Some(k) => {
                ctl.keys.remove(&id);
                Ok(json_response(
                    StatusCode::OK,
                    &json!({"revoked": id, "namespace": k.namespace}),
                ))
            }
            None => Err(ApiError::not_found(format!("no key with id '{id}'"))),
        },
    }
}

/// Creates, stores (hashed) and accepts a new key for `namespace`.
fn new_key(ctl: &Controller, namespace: &str) -> Result<ApiKey, ApiError> {
    let key = ApiKey::generate().map_err(ApiError::internal)?;
    let stored = StoredKey {
        id: key.id.clone(),
        namespace: namespace.to_string(),
        secret_sha256: secret_hash(&key.secret),
        created: now_millis(),
    };
    ctl.registry.put_key(&stored)?;
    ctl.keys.add(stored);
    Ok(key)
}
