//! `POST /api/v1/namespaces/{ns}/actions/{name}[?blocking=true[&result=true]]`:
//! an API invocation with JSON parameters.
//!
//! The call is admitted (its action's cap, a reserved or shared instance slot)
//! before its body is read. A blocking call answers with its activation record
//! (or only its result); a non-blocking one answers 202 with the activation id
//! once admitted, and runs in the background.

use std::sync::Arc;

use tracing::Instrument as _;

use http::{Request, StatusCode};
use serde_json::Value;
use wisp_api::ActivationStatus;
use wisp_invoker::{Admitted, Prepared};

use crate::activations::{ActivationId, ActivationResult, Begun, Ended, Logs};
use crate::edge::extract::{self, RequestBody};
use crate::edge::respond::{self, ApiResult};
use crate::error::{ApiError, Failure, failure};
use crate::handlers::actions::deployed;
use crate::handlers::sequences;
use crate::keys::Caller;
use crate::{Controller, Deployed};

/// Invokes the action.
pub async fn invoke<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    caller: &Caller,
    name: &str,
) -> ApiResult {
    let action = deployed(ctl, &caller.namespace, name)?;
    let query = req.uri().query();
    let blocking = extract::flag(query, "blocking");
    let result_only = extract::flag(query, "result");
    let tracked = action.calls.start(wisp_patterns::client_id(&caller.key_id));
    let (ready, warmth) = ready(ctl, &action).await?;
    let body = extract::whole(req, ctl.config.max_body_bytes, ctl.config.body_timeout).await?;
    let params = merge_params(&action.params, parse_params(&body)?)?;
    let subject = Some(caller.key_id.clone());
    let begun = Begun::new(&action, subject.clone(), warmth);
    let id = begun.id();

    if !blocking {
        spawn_admitted(ctl, action, ready, params, subject, begun, tracked, warmth);
        return Ok(respond::json(
            StatusCode::ACCEPTED,
            &serde_json::json!({"activationId": id.as_str()}),
        ));
    }

    let ended = execute(ctl, &action, ready, params, subject).await?;
    tracked.end(warmth, ended.status.is_success());
    let activation = begun.finish(ended);
    let http_status = if activation.status.is_success() {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    let response = match &activation.result {
        ActivationResult::Value(result) if result_only => respond::json(http_status, result),
        _ => respond::json_bytes(http_status, activation.encode()),
    };
    ctl.activations.record(activation);
    Ok(respond::with_activation_id(response, id.as_str()))
}

/// What an admitted invocation runs.
pub(crate) enum Ready {
    /// A module: its template and the instance slot it was admitted to.
    Module(Arc<Prepared>, Admitted),
    /// A sequence, whose actions are admitted one by one.
    Sequence,
}

/// Runs an invocation to its end.
pub(crate) async fn execute(
    ctl: &Arc<Controller>,
    action: &Arc<Deployed>,
    ready: Ready,
    params: Value,
    subject: Option<String>,
) -> Result<Ended, ApiError> {
    match ready {
        Ready::Module(prepared, admitted) => run(ctl, action, &prepared, admitted, &params).await,
        Ready::Sequence => Ok(sequences::run(ctl, action, params, subject, 0).await),
    }
}

/// An action's template and its admission to an instance slot (nothing for a
/// sequence, whose actions are admitted one by one), with where its code came
/// from.
pub(crate) async fn ready(
    ctl: &Arc<Controller>,
    action: &Deployed,
) -> Result<(Ready, wisp_api::Warmth), ApiError> {
    if action.record.sequence.is_some() {
        return Ok((Ready::Sequence, wisp_api::Warmth::Hot));
    }
    let (prepared, warmth) = ctl.template(&action.record).await?;
    let admitted = ctl.invoker.admit(&action.slots).await?;
    Ok((Ready::Module(prepared, admitted), warmth))
}

/// Starts a background invocation of `action` with `params` (merged over its
/// defaults) for `subject`, through normal admission; its activation id once
/// admitted. Triggers start their rules' actions through this.
pub async fn start(
    ctl: &Arc<Controller>,
    action: Arc<Deployed>,
    subject: &str,
    params: Value,
) -> Result<ActivationId, ApiError> {
    let tracked = action.calls.start(wisp_patterns::client_id(subject));
    let (ready, warmth) = ready(ctl, &action).await?;
    let params = merge_params(&action.params, params)?;
    let subject = Some(subject.to_string());
    let begun = Begun::new(&action, subject.clone(), warmth);
    let id = begun.id();
    spawn_admitted(ctl, action, ready, params, subject, begun, tracked, warmth);
    Ok(id)
}

/// Runs an admitted invocation in the background and records how it ended.
#[allow(clippy::too_many_arguments, reason = "the parts of one admitted call")]
fn spawn_admitted(
    ctl: &Arc<Controller>,
    action: Arc<Deployed>,
    ready: Ready,
    params: Value,
    subject: Option<String>,
    begun: Begun,
    tracked: wisp_patterns::tracker::Call,
    warmth: wisp_api::Warmth,
) {
    let id = begun.id();
    let ctl = ctl.clone();
    // A drain waits for it too.
    let in_flight = ctl.lifecycle().enter();
    let span = tracing::Span::current();
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let ended = match execute(&ctl, &action, ready, params, subject).await {
            Ok(ended) => ended,
            // The id was handed out: a refusal is recorded too, never lost.
            Err(e) => {
                tracing::info!(activation = %id, action = %action.path, "background invocation failed: {}", e.message);
                Ended::refused(ActivationStatus::InternalError, e.message)
            }
        };
        tracked.end(warmth, ended.status.is_success());
        ctl.activations.record(begun.finish(ended));
    }.instrument(span));
}

/// Runs an admitted API invocation. A failing action is an [`Ended`] with its
/// status; only a refusal (an internal fault) is an error.
pub(crate) async fn run(
    ctl: &Controller,
    action: &Deployed,
    prepared: &Prepared,
    admitted: Admitted,
    params: &Value,
) -> Result<Ended, ApiError> {
    let wait = admitted.wait;
    match ctl
        .invoker
        .invoke_json(prepared, admitted, params, &action.limits)
        .await
    {
        Ok(o) => Ok(Ended {
            status: if o.result.get("error").is_some() {
                ActivationStatus::ApplicationError
            } else {
                ActivationStatus::Success
            },
            result: ActivationResult::Value(o.result),
            logs: Logs::Lines(o.logs),
            wait,
            init: o.init,
        }),
        Err(e) => match failure(e) {
            Failure::Refused(a) => Err(a),
            Failure::Failed { status, error } => Ok(Ended {
                wait,
                ..Ended::refused(status, error.message)
            }),
        },
    }
}

/// The call's parameters: a JSON object, or nothing.
fn parse_params(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the invocation parameters are not valid JSON: {e}"))
    })
}

/// Merges the call's parameters over the action's defaults.
pub(crate) fn merge_params(
    defaults: &[wisp_api::KeyValue],
    call: Value,
) -> Result<Value, ApiError> {
    let mut merged = serde_json::Map::new();
    for kv in defaults {
        merged.insert(kv.key.clone(), kv.value.clone());
    }
    match call {
        Value::Object(o) => merged.extend(o),
        Value::Null => {}
        _ => {
            return Err(ApiError::bad_request(
                "the invocation parameters must be a JSON object",
            ));
        }
    }
    Ok(Value::Object(merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wisp_api::KeyValue;

    #[test]
    fn params_merge_over_defaults() {
        let defaults = [
            KeyValue {
                key: "x".into(),
                value: json!(1),
            },
            KeyValue {
                key: "y".into(),
                value: json!(2),
            },
        ];
        let merged = merge_params(&defaults, json!({"y": 3, "z": 4})).unwrap();
        assert_eq!(merged, json!({"x": 1, "y": 3, "z": 4}));
        assert!(merge_params(&defaults, json!([1])).is_err());
        assert_eq!(
            merge_params(&defaults, Value::Null).unwrap(),
            json!({"x": 1, "y": 2})
        );
        assert_eq!(parse_params(b"  \n").unwrap(), Value::Null);
        assert!(
            parse_params(b"{nope")
                .unwrap_err()
                .message
                .contains("not valid JSON")
        );
    }
}
