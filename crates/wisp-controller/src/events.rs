//! Routing of trigger and rule requests to their handlers.

use std::sync::Arc;

use http::{Method, Request};

use crate::Controller;
use crate::edge::extract::RequestBody;
use crate::edge::respond::ApiResult;
use crate::error::ApiError;
use crate::handlers::{rules, triggers};
use crate::keys::Caller;
use crate::routes::{EntityKind, valid_name};

/// Answers a [`Route::Entity`](crate::routes::Route::Entity) request of an
/// authorized caller.
pub async fn dispatch<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    caller: &Caller,
    kind: EntityKind,
    name: Option<String>,
    method: Method,
) -> ApiResult {
    let ns = caller.namespace.as_str();
    let query = req.uri().query().map(str::to_string);
    let query = query.as_deref();
    let Some(name) = name else {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        return match kind {
            EntityKind::Trigger => triggers::list(ctl, query, ns),
            EntityKind::Rule => rules::list(ctl, query, ns),
        };
    };
    if !valid_name(&name) {
        return Err(ApiError::bad_request(format!(
            "'{name}' is not a valid name: use letters, digits, '_', '-', '.', '@', starting with a letter, digit or '_'"
        )));
    }
    match (kind, method) {
        (EntityKind::Trigger, Method::PUT) => triggers::put(ctl, req, ns, &name).await,
        (EntityKind::Trigger, Method::GET) => triggers::get(ctl, ns, &name),
        (EntityKind::Trigger, Method::DELETE) => triggers::delete(ctl, ns, &name),
        (EntityKind::Trigger, Method::POST) => {
            triggers::fire_request(ctl, req, ns, &caller.key_id, &name).await
        }
        (EntityKind::Rule, Method::PUT) => rules::put(ctl, req, ns, &name).await,
        (EntityKind::Rule, Method::GET) => rules::get(ctl, ns, &name),
        (EntityKind::Rule, Method::DELETE) => rules::delete(ctl, ns, &name),
        (EntityKind::Rule, Method::POST) => rules::set_status(ctl, req, ns, &name).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}
