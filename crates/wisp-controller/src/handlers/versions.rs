//! `GET .../actions/{name}/versions` and `POST .../actions/{name}/rollback`:
//! an action's kept versions, and making one of them current again.
//!
//! A rollback is one registry transaction (the current record becomes the
//! kept version's), then the version's compiled code is loaded (from memory
//! or the disk cache: the code of every kept version stays there, so nothing
//! is recompiled) before it is served. Calls already running finish on the
//! version they started on: each holds its own `Deployed`.

use std::sync::Arc;

use http::{HeaderValue, Request, StatusCode};
use wisp_api::RollbackRequest;

use crate::Controller;
use crate::edge::extract::{self, RequestBody};
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::handlers::actions::{deployed, not_found};

/// Largest rollback request body.
const MAX_ROLLBACK_BODY: usize = 4096;

/// The response header saying where a rollback found the version's compiled
/// code: `hot` (memory), `cold-disk`, or `cold-compiled` (only when the disk
/// cache lost it).
pub const CODE_FROM_HEADER: &str = "x-wisp-code-from";

/// `GET .../actions/{name}/versions`: newest first, the current one marked.
pub async fn list(ctl: &Arc<Controller>, ns: &str, name: &str) -> ApiResult {
    let current = deployed(ctl, ns, name)?.record.version.clone();
    let (registry, ns2, name2) = (ctl.registry.clone(), ns.to_string(), name.to_string());
    let kept = tokio::task::spawn_blocking(move || registry.list_versions(&ns2, &name2))
        .await
        .map_err(ApiError::internal)??;
    let views: Vec<_> = kept
        .iter()
        .map(|r| r.version_view(r.version == current))
        .collect();
    Ok(respond::json(StatusCode::OK, &views))
}

/// `POST .../actions/{name}/rollback` with `{"version": "0.0.3"}`, or with no
/// body for the version before the current one.
pub async fn rollback<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    ns: &str,
    name: &str,
) -> ApiResult {
    let before = deployed(ctl, ns, name)?.record.clone();
    let body = extract::whole(req, MAX_ROLLBACK_BODY, ctl.config.body_timeout).await?;
    let wanted: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "a rollback takes {{\"version\": \"0.0.N\"}} or no body: {e}"
            ))
        })?
    };
    let record = in_registry(ctl, ns, name, wanted.version).await?;
    let warmth = match ctl.template(&record).await {
        Ok((_, warmth)) => warmth,
        Err(e) => {
            // Serve what was served: put the registry back too.
            let _ = in_registry(ctl, ns, name, Some(before.version.clone())).await;
            return Err(e);
        }
    };
    tracing::info!(action = %record.path(), from = %before.version, to = %record.version, code_from = warmth.as_str(), "rolled back");
    let view = record.view(None);
    let replaced = (before.module_hash != record.module_hash).then_some(before.module_hash);
    if let Err(e) = ctl.publish(record) {
        // A version whose secrets no longer open (the key changed) is not
        // served: the registry goes back to what is.
        let _ = in_registry(ctl, ns, name, Some(before.version.clone())).await;
        return Err(e);
    }
    if let Some(old) = replaced {
        ctl.release_module(&old);
    }
    ctl.settle(ns, name);
    let mut response = respond::json(StatusCode::OK, &view);
    response
        .headers_mut()
        .insert(CODE_FROM_HEADER, HeaderValue::from_static(warmth.as_str()));
    Ok(response)
}

/// Makes `version` (or the one before the current one) current in the
/// registry.
async fn in_registry(
    ctl: &Controller,
    ns: &str,
    name: &str,
    version: Option<String>,
) -> Result<wisp_api::ActionRecord, ApiError> {
    let (registry, ns2, name2) = (ctl.registry.clone(), ns.to_string(), name.to_string());
    tokio::task::spawn_blocking(move || registry.rollback(&ns2, &name2, version.as_deref()))
        .await
        .map_err(ApiError::internal)??
        .ok_or_else(|| not_found(ns, name))
}
