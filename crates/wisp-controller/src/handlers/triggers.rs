//! Triggers: `PUT|GET|DELETE|POST /api/v1/namespaces/{ns}/triggers/{name}` and
//! the listing. Firing (`POST`) answers 202 with the trigger's activation id at
//! once; each active rule's action then starts through normal admission.

use std::sync::Arc;

use http::{Request, StatusCode};
use serde_json::{Value, json};
use wisp_api::events::{RuleView, TriggerDoc, TriggerView};
use wisp_api::{ActivationStatus, Warmth};

use crate::Controller;
use crate::activations::{ActivationId, Begun, Ended, InstantRecord, next_order, salt};
use crate::edge::extract::{self, RequestBody};
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::handlers::invoke;

/// Entity kind of triggers in the registry.
pub const KIND: &str = "trigger";
/// At most this many rules fire per trigger firing; the others are recorded
/// as skipped in the trigger activation's logs.
pub const MAX_RULES_PER_FIRE: usize = 64;

fn not_found(ns: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("trigger {ns}/{name} does not exist"))
}

/// The stored trigger.
pub fn load(ctl: &Controller, ns: &str, name: &str) -> Result<Option<TriggerView>, ApiError> {
    match ctl.registry.get_entity(KIND, ns, name)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(ApiError::internal),
    }
}

/// `PUT`: creates it, or updates it with `?overwrite=true` (409 otherwise).
pub async fn put<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    ns: &str,
    name: &str,
) -> ApiResult {
    let overwrite = extract::flag(req.uri().query(), "overwrite");
    let body = extract::whole(req, ctl.config.max_body_bytes, ctl.config.body_timeout).await?;
    let doc: TriggerDoc = if body.iter().all(u8::is_ascii_whitespace) {
        TriggerDoc::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the trigger document is not valid: {e}")))?
    };
    let old = load(ctl, ns, name)?;
    if old.is_some() && !overwrite {
        return Err(ApiError::conflict(format!(
            "trigger {ns}/{name} already exists; pass overwrite=true to update it"
        )));
    }
    let view = TriggerView {
        namespace: ns.to_string(),
        name: name.to_string(),
        version: old.as_ref().map_or_else(
            || "0.0.1".to_string(),
            |o| wisp_registry::next_version(&o.version),
        ),
        publish: doc.publish,
        annotations: doc.annotations,
        parameters: doc.parameters,
        limits: json!({}),
        updated: wisp_registry::now_millis(),
    };
    let bytes = serde_json::to_vec(&view).map_err(ApiError::internal)?;
    ctl.registry.put_entity(KIND, ns, name, &bytes, overwrite)?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// `GET`.
pub fn get(ctl: &Controller, ns: &str, name: &str) -> ApiResult {
    let view = load(ctl, ns, name)?.ok_or_else(|| not_found(ns, name))?;
    Ok(respond::json(StatusCode::OK, &view))
}

/// `DELETE`. Rules naming it are left in place (as OpenWhisk does); firing
/// cannot reach them any more, and they can be deleted or re-pointed. Its
/// alarm, if it has one, goes with it.
pub fn delete(ctl: &Controller, ns: &str, name: &str) -> ApiResult {
    let old = ctl
        .registry
        .delete_entity(KIND, ns, name)?
        .ok_or_else(|| not_found(ns, name))?;
    crate::alarms::forget(ctl, ns, name)?;
    Ok(respond::json_bytes(StatusCode::OK, old))
}

/// `GET .../triggers?limit=&skip=`.
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

/// `POST`: fires it with the body's JSON payload.
pub async fn fire_request<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    ns: &str,
    subject: &str,
    name: &str,
) -> ApiResult {
    let body = extract::whole(req, ctl.config.max_body_bytes, ctl.config.body_timeout).await?;
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the trigger payload is not valid JSON: {e}"))
        })?
    };
    if !matches!(payload, Value::Null | Value::Object(_)) {
        return Err(ApiError::bad_request(
            "the trigger payload must be a JSON object",
        ));
    }
    let id = fire(ctl, ns, subject, name, payload)?;
    Ok(respond::json(
        StatusCode::ACCEPTED,
        &json!({"activationId": id.as_str()}),
    ))
}

/// Fires a trigger: its activation id at once; its rules' actions start in the
/// background and the trigger's record is written when they all started.
pub fn fire(
    ctl: &Arc<Controller>,
    ns: &str,
    subject: &str,
    name: &str,
    payload: Value,
) -> Result<ActivationId, ApiError> {
    let trigger = load(ctl, ns, name)?.ok_or_else(|| not_found(ns, name))?;
    let params = invoke::merge_params(&trigger.parameters, payload)?;
    let start_us = next_order();
    let id = ActivationId::new(start_us, salt());
    let rules: Vec<RuleView> = ctl
        .registry
        .list_entities(crate::handlers::rules::KIND, ns, 0, usize::MAX)?
        .into_iter()
        .filter_map(|(_, b)| serde_json::from_slice::<RuleView>(&b).ok())
        .filter(|r| r.status == "active" && r.trigger.path == ns && r.trigger.name == name)
        .collect();
    let ctl = ctl.clone();
    let (ns, subject, name) = (ns.to_string(), subject.to_string(), name.to_string());
    tokio::spawn(async move {
        let mut logs = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let rule_path = format!("{}/{}", rule.namespace, rule.name);
            let action_path = format!("{}/{}", rule.action.path, rule.action.name);
            if i >= MAX_RULES_PER_FIRE {
                logs.push(json!({"statusCode": 1, "success": false, "rule": rule_path, "action": action_path,
                    "error": format!("not fired: at most {MAX_RULES_PER_FIRE} rules fire per trigger")}).to_string());
                continue;
            }
            let line = match ctl.lookup(&rule.action.path, &rule.action.name) {
                None => {
                    json!({"statusCode": 1, "success": false, "rule": rule_path, "action": action_path,
                    "error": format!("action {action_path} does not exist")})
                }
                Some(action) => {
                    match invoke::start(&ctl, action.clone(), &subject, params.clone()).await {
                        Ok(aid) => {
                            json!({"statusCode": 0, "success": true, "activationId": aid.as_str(),
                        "rule": rule_path, "action": action_path})
                        }
                        Err(e) => {
                            // Recorded as the action's activation too, never dropped.
                            let begun = Begun::new(&action, Some(subject.clone()), Warmth::Hot);
                            let aid = begun.id();
                            ctl.activations.record(begun.finish(Ended::refused(
                                ActivationStatus::InternalError,
                                e.message.clone(),
                            )));
                            json!({"statusCode": e.status.as_u16(), "success": false, "activationId": aid.as_str(),
                            "rule": rule_path, "action": action_path, "error": e.message})
                        }
                    }
                }
            };
            logs.push(line.to_string());
        }
        let path = format!("{ns}/{name}");
        let what = InstantRecord {
            namespace: &ns,
            name: &name,
            version: &trigger.version,
            subject: &subject,
            kind: "trigger",
            path: &path,
        };
        ctl.activations
            .record_instant(&what, &id, start_us, params, logs);
    });
    Ok(id)
}
