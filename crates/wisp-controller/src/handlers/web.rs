//! Web calls: `/fn/{name}[/rest]` and `/api/v1/web/{ns}/default/{name}[/rest]`.
//!
//! The action must be exported (annotation `web-export`); its
//! `require-whisk-auth` is checked and the credential removed before the guest
//! sees the request. The call is admitted before its body is read; a component
//! gets the body streamed as it arrives, a command reads it under the cap.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Request;
use wisp_api::ActivationStatus;
use wisp_invoker::WebCall;

use crate::Controller;
use crate::activations::{ActivationResult, Begun, Ended, Logs};
use crate::edge::authn;
use crate::edge::extract::RequestBody;
use crate::edge::respond::{self, ApiResult};
use crate::error::{Failure, failure};
use crate::handlers::actions::not_found;
use crate::routes::DEFAULT_NAMESPACE;

/// Where a web call was routed.
#[derive(Debug, Clone, Copy)]
pub struct WebRoute<'a> {
    /// The namespace as written (`_` is the default one).
    pub namespace: &'a str,
    /// The action.
    pub name: &'a str,
    /// The route prefix (e.g. `/fn/hello`).
    pub prefix: &'a str,
    /// The path below it.
    pub path_info: &'a str,
}

/// Answers a web call.
pub async fn web<B: RequestBody>(
    ctl: &Arc<Controller>,
    mut req: Request<B>,
    peer: SocketAddr,
    route: WebRoute<'_>,
) -> ApiResult {
    let ns = match route.namespace {
        "_" => DEFAULT_NAMESPACE,
        ns => ns,
    };
    let action = match ctl.lookup(ns, route.name) {
        // As OpenWhisk does: an action not exported to the web does not exist there.
        Some(a) if a.record.web_export => a,
        _ => return Err(not_found(ns, route.name)),
    };
    let key = authn::web(&ctl.keys, req.headers_mut(), &action.record.web_auth, ns)?;
    // Who called: the key when one was presented, else the client's own
    // `X-Client-Id`, else its address.
    let client = match &key {
        Some(key_id) => wisp_patterns::client_id(key_id),
        None => match req
            .headers()
            .get(wisp_api::CLIENT_ID_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            Some(id) => wisp_patterns::client_id(id),
            None => wisp_patterns::client_id(&peer.ip()),
        },
    };
    wisp_invoker::body::check_declared(req.headers(), ctl.config.max_body_bytes)?;
    let tracked = action.calls.start(client);
    let (prepared, warmth) = ctl.template(&action.record).await?;
    let admitted = ctl.invoker.admit(&action.slots).await?;
    let wait = admitted.wait;
    // Web calls act for the action's owner.
    let begun = Begun::new(&action, None, warmth);
    let id = begun.id();
    let outcome = ctl
        .invoker
        .invoke_web(
            &prepared,
            admitted,
            WebCall {
                request: req,
                prefix: route.prefix,
                path_info: route.path_info,
                peer: Some(peer),
                env: &action.env,
            },
            &action.limits,
        )
        .await;
    let (response, ended) = match outcome {
        Ok(wisp_invoker::WebOutcome {
            response,
            logs,
            init,
        }) => {
            let status = if response.status().is_server_error() {
                ActivationStatus::ApplicationError
            } else {
                ActivationStatus::Success
            };
            let ended = Ended {
                status,
                result: ActivationResult::Status(response.status().as_u16()),
                logs: Logs::Web(logs),
                wait,
                init,
            };
            (Ok(response), ended)
        }
        Err(e) => match failure(e) {
            Failure::Refused(a) => return Err(a),
            Failure::Failed { status, error } => {
                let ended = Ended {
                    status,
                    result: ActivationResult::Error(error.message.clone()),
                    logs: Logs::Lines(Vec::new()),
                    wait,
                    init: std::time::Duration::ZERO,
                };
                (Err(error), ended)
            }
        },
    };
    tracked.end(warmth, ended.status.is_success());
    ctl.activations.record(begun.finish(ended));
    Ok(respond::with_activation_id(response?, id.as_str()))
}
