//! Sequences (`exec: {"kind": "sequence", "components": [...]}`): actions run
//! one after the other, each one's result the next one's parameters.
//!
//! A sequence is one activation whose `logs` are the activation ids of the
//! actions it ran (each recorded as its own activation); its result is the last
//! action's, or the first error, which stops it. Every action in it is admitted
//! when the sequence reaches it, as an API invocation of its own would be.
//! At deploy, every component must exist in the sequence's namespace; a
//! sequence that would contain itself, directly or through another sequence,
//! or run more than [`SEQUENCE_MAX_ACTIONS`] actions, is refused.

use std::sync::Arc;

use serde_json::Value;
use wisp_api::ActivationStatus;

use wisp_api::Warmth;

use crate::activations::{ActivationId, ActivationResult, Begun, Ended, Logs};
use crate::error::ApiError;
use crate::handlers::invoke::{self, Ready};
use crate::{Controller, Deployed};

/// Most actions a sequence runs, nested sequences flattened.
pub const SEQUENCE_MAX_ACTIONS: usize = 50;
/// Most sequences nested in one another.
pub const SEQUENCE_MAX_DEPTH: usize = 8;

/// Checks a sequence about to be deployed as `ns/name`: resolves `_` in its
/// components to `ns`, and refuses one that names an action that does not
/// exist, another namespace, itself (directly or through nested sequences), or
/// that would run too many actions.
pub fn check(
    ctl: &Controller,
    ns: &str,
    name: &str,
    components: &mut [String],
) -> Result<(), ApiError> {
    for c in components.iter_mut() {
        if let Some(rest) = c.strip_prefix("_/") {
            *c = format!("{ns}/{rest}");
        }
        let (cns, _) = split(c);
        if cns != ns {
            return Err(ApiError::bad_request(format!(
                "exec.components: '/{c}' is in another namespace; a sequence runs actions of its own namespace '{ns}'"
            )));
        }
    }
    let this = format!("{ns}/{name}");
    let mut count = 0;
    walk(ctl, &this, components, 1, &mut count)
}

fn walk(
    ctl: &Controller,
    this: &str,
    components: &[String],
    depth: usize,
    count: &mut usize,
) -> Result<(), ApiError> {
    if depth > SEQUENCE_MAX_DEPTH {
        return Err(ApiError::bad_request(format!(
            "the sequence nests sequences deeper than {SEQUENCE_MAX_DEPTH}"
        )));
    }
    for c in components {
        if c == this {
            return Err(ApiError::bad_request(format!(
                "the sequence '/{this}' would contain itself"
            )));
        }
        let (cns, cname) = split(c);
        let Some(component) = ctl.lookup(cns, cname) else {
            return Err(ApiError::bad_request(format!(
                "exec.components: the action '/{c}' does not exist"
            )));
        };
        match &component.record.sequence {
            Some(inner) => walk(ctl, this, inner, depth + 1, count)?,
            None => *count += 1,
        }
        if *count > SEQUENCE_MAX_ACTIONS {
            return Err(ApiError::bad_request(format!(
                "the sequence would run more than {SEQUENCE_MAX_ACTIONS} actions"
            )));
        }
    }
    Ok(())
}

fn split(path: &str) -> (&str, &str) {
    path.split_once('/').unwrap_or(("", path))
}

/// Runs a sequence with its (merged) parameters: each action as an API
/// invocation of its own, recorded as its own activation.
pub(crate) async fn run(
    ctl: &Arc<Controller>,
    sequence: &Arc<Deployed>,
    params: Value,
    subject: Option<String>,
    depth: usize,
) -> Ended {
    let mut ids = Vec::new();
    let mut params = params;
    let components = sequence.record.sequence.clone().unwrap_or_default();
    let stop = |status, message: String, ids| Ended {
        logs: Logs::Components(ids),
        ..Ended::refused(status, message)
    };
    if depth >= SEQUENCE_MAX_DEPTH {
        return stop(
            ActivationStatus::DeveloperError,
            format!("sequences nest deeper than {SEQUENCE_MAX_DEPTH}"),
            ids,
        );
    }
    for c in &components {
        let (cns, cname) = split(c);
        let Some(action) = ctl.lookup(cns, cname) else {
            return stop(
                ActivationStatus::DeveloperError,
                format!("the sequence's action '/{c}' does not exist"),
                ids,
            );
        };
        let merged = match invoke::merge_params(&action.params, params) {
            Ok(p) => p,
            Err(_) => {
                return stop(
                    ActivationStatus::ApplicationError,
                    format!("the action before '/{c}' returned a result that is not a JSON object"),
                    ids,
                );
            }
        };
        let (ended, id) = Box::pin(step(ctl, &action, merged, subject.clone(), depth)).await;
        ids.push(id);
        let ActivationResult::Value(result) = ended.result else {
            return stop(
                ended.status,
                "the action ended without a result".into(),
                ids,
            );
        };
        if !ended.status.is_success() {
            return Ended {
                result: ActivationResult::Value(result),
                logs: Logs::Components(ids),
                ..ended
            };
        }
        params = result;
    }
    Ended {
        status: ActivationStatus::Success,
        result: ActivationResult::Value(params),
        logs: Logs::Components(ids),
        wait: std::time::Duration::ZERO,
        init: std::time::Duration::ZERO,
    }
}

/// One action of a sequence, admitted, run and recorded: its status and
/// result, and its activation id.
async fn step(
    ctl: &Arc<Controller>,
    action: &Arc<Deployed>,
    params: Value,
    subject: Option<String>,
    depth: usize,
) -> (Ended, ActivationId) {
    let client = wisp_patterns::client_id(subject.as_deref().unwrap_or(""));
    let tracked = action.calls.start(client);
    let ready = invoke::ready(ctl, action).await;
    let warmth = ready.as_ref().map_or(Warmth::Hot, |(_, w)| *w);
    let begun = Begun::new(action, subject.clone(), warmth);
    let id = begun.id();
    let ended = match ready {
        Ok((Ready::Sequence, _)) => run(ctl, action, params, subject, depth + 1).await,
        Ok((ready, _)) => invoke::execute(ctl, action, ready, params, subject)
            .await
            .unwrap_or_else(refusal),
        Err(e) => refusal(e),
    };
    tracked.end(warmth, ended.status.is_success());
    let outcome = Ended {
        status: ended.status,
        result: ended.result.clone(),
        logs: Logs::Components(Vec::new()),
        wait: ended.wait,
        init: ended.init,
    };
    ctl.activations.record(begun.finish(ended));
    (outcome, id)
}

/// A refused step (overload, an internal fault) as the error that stops the
/// sequence, recorded with the step.
fn refusal(e: ApiError) -> Ended {
    Ended::refused(ActivationStatus::InternalError, e.message)
}
