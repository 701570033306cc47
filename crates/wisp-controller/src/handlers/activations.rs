//! `/api/v1/namespaces/{ns}/activations[/{id}[/logs|/result]]`: the list
//! (filters `name`, `limit`, `skip`, `since`, `upto`, `docs`), one record, its
//! logs, its result.

use std::sync::Arc;

use http::StatusCode;
use serde_json::Value;
use wisp_registry::ActivationQuery;

use crate::Controller;
use crate::edge::extract;
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::routes::ActivationOp;

/// Answers one of the views.
pub async fn view(
    ctl: &Arc<Controller>,
    query: Option<&str>,
    ns: &str,
    op: ActivationOp,
) -> ApiResult {
    let log = ctl.activations.clone();
    let not_found = |id: &str| ApiError::not_found(format!("the activation '{id}' does not exist"));
    let id = match op {
        ActivationOp::List => {
            let (limit, skip) = extract::page(query)?;
            let optional = |key: &str| -> Result<Option<u64>, ApiError> {
                extract::query_param(query, key)
                    .map(|_| extract::number(query, key, 0))
                    .transpose()
            };
            let q = ActivationQuery {
                name: extract::query_param(query, "name").map(|n| n.into_owned()),
                since: optional("since")?,
                upto: optional("upto")?,
                skip,
                limit,
            };
            let docs = extract::flag(query, "docs");
            let ns = ns.to_string();
            let list = tokio::task::spawn_blocking(move || log.list(&ns, &q))
                .await
                .map_err(ApiError::internal)??;
            let list: Vec<Value> = if docs {
                list
            } else {
                list.iter().map(crate::activations::summary).collect()
            };
            return Ok(respond::json(StatusCode::OK, &list));
        }
        ActivationOp::Get(ref id) | ActivationOp::Logs(ref id) | ActivationOp::Result(ref id) => {
            id.clone()
        }
    };
    if !is_activation_id(&id) {
        return Err(not_found(&id));
    }
    let record = log.get(ns, &id)?.ok_or_else(|| not_found(&id))?;
    Ok(match op {
        ActivationOp::Logs(_) => {
            respond::json(StatusCode::OK, &serde_json::json!({"logs": record["logs"]}))
        }
        ActivationOp::Result(_) => respond::json(StatusCode::OK, &record["response"]),
        _ => respond::json(StatusCode::OK, &record),
    })
}

/// 32 lowercase hex digits.
fn is_activation_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}
