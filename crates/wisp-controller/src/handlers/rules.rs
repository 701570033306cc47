//! Rules: `PUT|GET|DELETE|POST /api/v1/namespaces/{ns}/rules/{name}` and the
//! listing. A rule ties a trigger to an action of the same namespace; new rules
//! are active; `POST {"status": "active"|"inactive"}` switches it.

use std::sync::Arc;

use http::{Request, StatusCode};
use serde_json::Value;
use wisp_api::events::{EntityPath, RuleDoc, RuleStatus, RuleView};

use crate::Controller;
use crate::edge::extract::{self, RequestBody};
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::handlers::triggers;

/// Entity kind of rules in the registry.
pub const KIND: &str = "rule";

fn not_found(ns: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("rule {ns}/{name} does not exist"))
}

fn load(ctl: &Controller, ns: &str, name: &str) -> Result<Option<RuleView>, ApiError> {
    match ctl.registry.get_entity(KIND, ns, name)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(ApiError::internal),
    }
}

/// Reads `/ns/name`, `ns/name` or `name` (namespace `_` or absent = the
/// caller's), for field `field` of a `doc` (`rule`, `feed`); it must be in the
/// caller's namespace.
pub(crate) fn entity_path(
    doc: &str,
    field: &str,
    value: Option<&str>,
    ns: &str,
) -> Result<EntityPath, ApiError> {
    let Some(raw) = value.filter(|v| !v.trim().is_empty()) else {
        return Err(ApiError::bad_request(format!(
            "the {doc} request needs '{field}' (\"/namespace/name\")"
        )));
    };
    let parts: Vec<&str> = raw.trim_start_matches('/').split('/').collect();
    let (path, name) = match parts.as_slice() {
        [name] => (ns, *name),
        [path, name] => (if *path == "_" { ns } else { *path }, *name),
        _ => {
            return Err(ApiError::bad_request(format!(
                "'{field}' must be \"/namespace/name\", got '{raw}'"
            )));
        }
    };
    if !crate::routes::valid_name(name) {
        return Err(ApiError::bad_request(format!(
            "'{field}' names '{name}', which is not a valid name"
        )));
    }
    if path != ns {
        return Err(ApiError::bad_request(format!(
            "'{field}' must be in the {doc}'s namespace {ns}, got '{raw}'"
        )));
    }
    Ok(EntityPath {
        path: path.to_string(),
        name: name.to_string(),
    })
}

/// `PUT`: creates it (active), or updates it with `?overwrite=true`.
pub async fn put<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    ns: &str,
    name: &str,
) -> ApiResult {
    let overwrite = extract::flag(req.uri().query(), "overwrite");
    let body = extract::whole(req, ctl.config.max_body_bytes, ctl.config.body_timeout).await?;
    let doc: RuleDoc = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the rule document is not valid: {e}")))?;
    let trigger = entity_path("rule", "trigger", doc.trigger.as_deref(), ns)?;
    let action = entity_path("rule", "action", doc.action.as_deref(), ns)?;
    if triggers::load(ctl, &trigger.path, &trigger.name)?.is_none() {
        return Err(ApiError::not_found(format!(
            "the rule's trigger {}/{} does not exist",
            trigger.path, trigger.name
        )));
    }
    if ctl.lookup(&action.path, &action.name).is_none() {
        return Err(ApiError::not_found(format!(
            "the rule's action {}/{} does not exist",
            action.path, action.name
        )));
    }
    let old = load(ctl, ns, name)?;
    if old.is_some() && !overwrite {
        return Err(ApiError::conflict(format!(
            "rule {ns}/{name} already exists; pass overwrite=true to update it"
        )));
    }
    let view = RuleView {
        namespace: ns.to_string(),
        name: name.to_string(),
        version: old.as_ref().map_or_else(
            || "0.0.1".to_string(),
            |o| wisp_registry::next_version(&o.version),
        ),
        publish: doc.publish,
        annotations: doc.annotations,
        trigger,
        action,
        status: old.map_or_else(|| "active".to_string(), |o| o.status),
        updated: wisp_registry::now_millis(),
    };
    store(ctl, &view, overwrite)?;
    Ok(respond::json(StatusCode::OK, &view))
}

fn store(ctl: &Controller, view: &RuleView, overwrite: bool) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec(view).map_err(ApiError::internal)?;
    ctl.registry
        .put_entity(KIND, &view.namespace, &view.name, &bytes, overwrite)?;
    Ok(())
}

/// `GET`.
pub fn get(ctl: &Controller, ns: &str, name: &str) -> ApiResult {
    let view = load(ctl, ns, name)?.ok_or_else(|| not_found(ns, name))?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// `DELETE`.
pub fn delete(ctl: &Controller, ns: &str, name: &str) -> ApiResult {
    let old = ctl
        .registry
        .delete_entity(KIND, ns, name)?
        .ok_or_else(|| not_found(ns, name))?;
    Ok(respond::json_bytes(StatusCode::OK, old))
}

/// `POST {"status": "active"|"inactive"}`.
pub async fn set_status<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    ns: &str,
    name: &str,
) -> ApiResult {
    let body = extract::whole(req, ctl.config.max_body_bytes, ctl.config.body_timeout).await?;
    let s: RuleStatus = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be {{\"status\": \"active\"|\"inactive\"}}: {e}"
        ))
    })?;
    if s.status != "active" && s.status != "inactive" {
        return Err(ApiError::bad_request(format!(
            "'status' must be 'active' or 'inactive', got '{}'",
            s.status
        )));
    }
    let mut view = load(ctl, ns, name)?.ok_or_else(|| not_found(ns, name))?;
    view.status = s.status;
    view.updated = wisp_registry::now_millis();
    store(ctl, &view, true)?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// `GET .../rules?limit=&skip=`.
pub fn list(ctl: &Controller, query: Option<&str>, ns: &str) -> ApiResult {
    let (limit, skip) = extract::page(query)?;
    let mut out = Vec::new();
    for (_, bytes) in ctl.registry.list_entities(KIND, ns, skip, limit)? {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            out.push(v);
        }
    }
    Ok(respond::json(StatusCode::OK, &out))
}
