//! `/api/v1/namespaces/{ns}/kv[/{store}[/{key}]]`: a namespace's key-value
//! stores, the same ones its components open with `wasi:keyvalue`.
//!
//! Values travel as raw bytes (`application/octet-stream`); keys are the rest
//! of the path, percent-decoded. A value past its limit is answered 413, a
//! key past its limit 400, and a write past the namespace's quota 507
//! (Insufficient Storage: the request is fine, the namespace is full).

use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode, header};
use wisp_api::kv::{MAX_PAGE_KEYS, MAX_VALUE_BYTES, StoreList, StoreView, check_entry};
use wisp_invoker::{Body, full_body};
use wisp_registry::KeyQuery;

use crate::Controller;
use crate::edge::extract::{self, RequestBody};
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::routes::KvOp;

/// Answers one operation in the caller's namespace `ns`.
pub async fn handle<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    query: Option<&str>,
    ns: &str,
    op: KvOp,
) -> ApiResult {
    let mut value = None;
    if let KvOp::Put { .. } = op {
        value = Some(extract::whole(req, MAX_VALUE_BYTES, ctl.config.body_timeout).await?);
    }
    let keys = matches!(op, KvOp::ListKeys(_))
        .then(|| query_of(query))
        .transpose()?;
    let (ctl, ns) = (ctl.clone(), ns.to_string());
    tokio::task::spawn_blocking(move || blocking(&ctl, &ns, op, value, keys))
        .await
        .map_err(ApiError::internal)?
}

/// `?prefix=&cursor=&limit=` of a listing.
fn query_of(query: Option<&str>) -> Result<KeyQuery, ApiError> {
    let limit = extract::number(query, "limit", MAX_PAGE_KEYS as u64)?;
    if limit == 0 || limit > MAX_PAGE_KEYS as u64 {
        return Err(ApiError::bad_request(format!(
            "'limit' must be between 1 and {MAX_PAGE_KEYS}"
        )));
    }
    Ok(KeyQuery {
        prefix: extract::query_param(query, "prefix")
            .unwrap_or_default()
            .into_owned(),
        after: extract::query_param(query, "cursor").map(|c| c.into_owned()),
        skip: 0,
        limit: limit as usize,
    })
}

/// The key a path names: decoded, and within its limit.
fn key_of(raw: &str) -> Result<String, ApiError> {
    let key = extract::path_text(raw)
        .ok_or_else(|| ApiError::bad_request("the key is not valid percent-encoded UTF-8 text"))?;
    match check_entry(&key, None) {
        Some(why) => Err(ApiError::bad_request(why)),
        None => Ok(key),
    }
}

fn blocking(
    ctl: &Controller,
    ns: &str,
    op: KvOp,
    value: Option<bytes::Bytes>,
    keys: Option<KeyQuery>,
) -> ApiResult {
    let reg = &ctl.registry;
    let store_view = |store: String| StoreView {
        namespace: ns.to_string(),
        store,
    };
    match op {
        KvOp::ListStores => {
            let (stores, used_bytes) = reg.kv_stores(ns)?;
            Ok(respond::json(
                StatusCode::OK,
                &StoreList {
                    stores,
                    used_bytes,
                    quota_bytes: reg.kv_quota_bytes(),
                },
            ))
        }
        KvOp::CreateStore(store) => {
            if !reg.kv_create_store(ns, &store)? {
                return Err(wisp_registry::KvError::StoreExists(store).into());
            }
            Ok(respond::json(StatusCode::OK, &store_view(store)))
        }
        KvOp::DeleteStore(store) => {
            if !reg.kv_delete_store(ns, &store)? {
                return Err(wisp_registry::KvError::NoSuchStore {
                    namespace: ns.to_string(),
                    store,
                }
                .into());
            }
            Ok(respond::json(StatusCode::OK, &store_view(store)))
        }
        KvOp::ListKeys(store) => {
            let query = keys.unwrap_or_default();
            Ok(respond::json(
                StatusCode::OK,
                &reg.kv_keys(ns, &store, &query)?,
            ))
        }
        KvOp::Get { store, key } => {
            let key = key_of(&key)?;
            match reg.kv_get(ns, &store, &key)? {
                Some(v) => Ok(octets(StatusCode::OK, v)),
                None => Err(ApiError::not_found(format!(
                    "no key '{key}' in the store '{store}'"
                ))),
            }
        }
        KvOp::Put { store, key } => {
            let key = key_of(&key)?;
            reg.kv_set(ns, &store, &key, &value.unwrap_or_default())?;
            Ok(octets(StatusCode::NO_CONTENT, Vec::new()))
        }
        KvOp::Delete { store, key } => {
            let key = key_of(&key)?;
            reg.kv_delete(ns, &store, &key)?;
            Ok(octets(StatusCode::NO_CONTENT, Vec::new()))
        }
    }
}

/// A raw-bytes response.
fn octets(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full_body(body));
    *r.status_mut() = status;
    if status != StatusCode::NO_CONTENT {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    r
}
