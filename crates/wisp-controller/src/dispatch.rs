//! One request in, one response out: the route decides the handler, the edge
//! helpers authenticate, and every error becomes its JSON response here.
//! Generic over the request body, so routes are tested in-process without a
//! socket.

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Instant;

use http::{HeaderValue, Request, Response, StatusCode, header};
use tracing::Instrument as _;
use wisp_invoker::Body;

use crate::Controller;
use crate::edge::authn::{authenticate, authorize};
use crate::edge::extract::RequestBody;
use crate::edge::request_id;
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::handlers::{
    actions, activations, admin, assets, feeds, invoke, kv, metrics, versions, web,
};
use crate::routes::{ActionOp, Probe, Route, route, valid_name};

/// Answers one request. Never fails: errors become JSON error responses.
/// Every log line of the request carries its `request_id` (and its
/// `activation_id` once there is one), and the response its `X-Request-Id`.
pub async fn handle<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    peer: SocketAddr,
) -> Response<Body> {
    let request_id = request_id::take(req.headers());
    let span = tracing::warn_span!(
        "request",
        request_id = request_id.to_str().unwrap_or_default(),
        activation_id = tracing::field::Empty,
    );
    let access = tracing::enabled!(tracing::Level::INFO)
        .then(|| (req.method().clone(), req.uri().clone(), Instant::now()));
    let mut response = match answer(ctl, req, peer).instrument(span.clone()).await {
        Ok(r) => r,
        Err(e) => {
            // Every refusal (429, the drain's 503) is answered here: counted once.
            ctl.metrics.answered(&e);
            respond::error(e)
        }
    };
    if let Some((method, uri, started)) = access {
        span.in_scope(|| {
            tracing::info!(
                %method,
                path = uri.path(),
                status = response.status().as_u16(),
                ms = started.elapsed().as_secs_f64() * 1e3,
                "request"
            )
        });
    }
    let headers = response.headers_mut();
    headers.insert(request_id::HEADER, request_id);
    if ctl.lifecycle().draining() {
        // The client's next request goes to a node that is not stopping.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn answer<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    peer: SocketAddr,
) -> ApiResult {
    // A `Uri` clone shares its bytes: the query outlives the moved request
    // without a copy.
    let uri = req.uri().clone();
    let query = uri.query();
    let route = match route(req.method(), req.uri().path()) {
        Route::Probe(probe) => return answer_probe(ctl, probe, req.headers()),
        other => other,
    };
    // Counted before the check, so a drain that begins now waits for it.
    let _in_flight = ctl.lifecycle().enter();
    if ctl.lifecycle().draining() {
        return Err(ApiError::draining());
    }
    match route {
        Route::Probe(probe) => answer_probe(ctl, probe, req.headers()),
        Route::ApiInfo => Ok(respond::json(
            StatusCode::OK,
            &serde_json::json!({
                "description": "wisp: WebAssembly functions for the edge, OpenWhisk-compatible API",
                "api_paths": ["/api/v1"],
                "build": env!("CARGO_PKG_VERSION"),
            }),
        )),
        Route::Ui(asset) => Ok(crate::handlers::ui::serve(asset)),
        Route::NotFound => Err(ApiError::not_found("no such resource")),
        Route::MethodNotAllowed => Err(ApiError::method_not_allowed()),
        Route::Web {
            namespace,
            name,
            prefix,
            path_info,
        } => {
            let route = web::WebRoute {
                namespace: &namespace,
                name: &name,
                prefix: &prefix,
                path_info: &path_info,
            };
            web::web(ctl, req, peer, route).await
        }
        Route::ListNamespaces => {
            let caller = authenticate(&ctl.keys, req.headers())?;
            Ok(respond::json(StatusCode::OK, &[caller.namespace]))
        }
        Route::Admin(op) => {
            if !authenticate(&ctl.keys, req.headers())?.admin {
                return Err(ApiError::forbidden(
                    "only the server's own key manages namespaces and keys",
                ));
            }
            admin::handle(ctl, op).await
        }
        Route::Activations { namespace, op } => {
            let caller = authorize(&ctl.keys, req.headers(), &namespace)?;
            activations::view(ctl, query, &caller.namespace, op).await
        }
        Route::Entity {
            namespace,
            collection,
            name,
            method,
        } => {
            let caller = authorize(&ctl.keys, req.headers(), &namespace)?;
            crate::events::dispatch(ctl, req, &caller, collection, name, method).await
        }
        Route::Feed { name } => {
            let caller = authenticate(&ctl.keys, req.headers())?;
            feeds::invoke(ctl, req, &caller, &name).await
        }
        Route::KeyValue { namespace, op } => {
            let caller = authorize(&ctl.keys, req.headers(), &namespace)?;
            kv::handle(ctl, req, query, &caller.namespace, op).await
        }
        Route::ListActions { namespace } => {
            let caller = authorize(&ctl.keys, req.headers(), &namespace)?;
            actions::list(ctl, query, &caller.namespace)
        }
        Route::Action {
            namespace,
            name,
            op,
        } => {
            let caller = authorize(&ctl.keys, req.headers(), &namespace)?;
            if !valid_name(&name) {
                return Err(ApiError::bad_request(format!(
                    "'{name}' is not a valid action name: use letters, digits, '_', '-', '.', '@', starting with a letter, digit or '_'"
                )));
            }
            let ns = caller.namespace.as_str();
            match op {
                ActionOp::Get => actions::get(ctl, query, ns, &name),
                ActionOp::Delete => actions::delete(ctl, ns, &name).await,
                ActionOp::Stats => actions::stats(ctl, ns, &name),
                ActionOp::Versions => versions::list(ctl, ns, &name).await,
                ActionOp::Rollback => versions::rollback(ctl, req, ns, &name).await,
                ActionOp::Put => actions::put(ctl, req, ns, &name).await,
                ActionOp::PutAssets => assets::put(ctl, req, ns, &name).await,
                ActionOp::Invoke => invoke::invoke(ctl, req, &caller, &name).await,
            }
        }
    }
}

/// Liveness, readiness and metrics; scraped during a drain too (it shows the
/// drain).
fn answer_probe(ctl: &Controller, probe: Probe, headers: &http::HeaderMap) -> ApiResult {
    match probe {
        Probe::Health => Ok(respond::json(
            StatusCode::OK,
            &serde_json::json!({"status": "ok"}),
        )),
        Probe::Ready => Ok(ready(ctl)),
        Probe::Metrics => metrics::scrape(ctl, headers),
    }
}

/// `GET /readyz`: 200 while serving, 503 while draining (the process answers
/// it only once the registry is open and the engine ready; before, the
/// starting listener answers 503).
fn ready(ctl: &Controller) -> Response<Body> {
    if ctl.lifecycle().draining() {
        let mut r = respond::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "draining"}),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    } else {
        respond::json(StatusCode::OK, &serde_json::json!({"status": "ready"}))
    }
}
