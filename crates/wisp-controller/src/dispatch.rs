//! One request in, one response out: the route decides the handler, the edge
//! helpers authenticate, and every error becomes its JSON response here.
//! Generic over the request body, so routes are tested in-process without a
//! socket.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use wisp_invoker::Body;

use crate::Controller;
use crate::edge::authn::{authenticate, authorize};
use crate::edge::extract::RequestBody;
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::handlers::{actions, activations, admin, assets, invoke, web};
use crate::routes::{ActionOp, Route, route, valid_name};

/// Answers one request. Never fails: errors become JSON error responses.
pub async fn handle<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    peer: SocketAddr,
) -> Response<Body> {
    match answer(ctl, req, peer).await {
        Ok(r) => r,
        Err(e) => respond::error(e),
    }
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
    match route(req.method(), req.uri().path()) {
        Route::Health => Ok(respond::json(
            StatusCode::OK,
            &serde_json::json!({"status": "ok"}),
        )),
        Route::ApiInfo => Ok(respond::json(
            StatusCode::OK,
            &serde_json::json!({
                "description": "wisp: WebAssembly functions for the edge, OpenWhisk-compatible API",
                "api_paths": ["/api/v1"],
                "build": env!("CARGO_PKG_VERSION"),
            }),
        )),
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
                ActionOp::Put => actions::put(ctl, req, ns, &name).await,
                ActionOp::PutAssets => assets::put(ctl, req, ns, &name).await,
                ActionOp::Invoke => invoke::invoke(ctl, req, &caller, &name).await,
            }
        }
    }
}
