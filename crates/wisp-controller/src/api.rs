//! Request handlers: one function per route, each turning a request into a
//! response or an [`ApiError`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};
use wisp_invoker::{
    Body, InvokeError, InvokeLimits, Prepared, Warmth, WebFacts, WebRequest, full_body,
};
use wisp_registry::{ActionRecord, ActivationQuery, KeyValue, Limits, module_hash};

use crate::activations::{Activation, ActivationId, ActivationResult, Logs};
use crate::error::ApiError;
use crate::keys::Caller;
use crate::routes::{ActionOp, ActivationOp, DEFAULT_NAMESPACE, Route, route, valid_name};
use crate::{Controller, Deployed};

type ApiResult = Result<Response<Body>, ApiError>;

/// Answers one request. Never fails: errors become JSON error responses.
pub async fn handle(
    ctl: &Arc<Controller>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let route = route(req.method(), req.uri().path());
    let result = match route {
        Route::Health => Ok(json_response(StatusCode::OK, &json!({"status": "ok"}))),
        Route::ApiInfo => Ok(json_response(
            StatusCode::OK,
            &json!({
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
        } => web(ctl, req, peer, &namespace, &name, prefix, path_info).await,
        Route::ListNamespaces => match authenticate(ctl, &req) {
            Ok(caller) => Ok(json_response(StatusCode::OK, &json!([caller.namespace]))),
            Err(e) => Err(e),
        },
        Route::Admin(op) => match authenticate(ctl, &req) {
            Ok(caller) if caller.admin => crate::admin::handle(ctl, op).await,
            Ok(_) => Err(ApiError::forbidden(
                "only the server's own key manages namespaces and keys",
            )),
            Err(e) => Err(e),
        },
        Route::Activations { namespace, op } => match authorize(ctl, &req, &namespace) {
            Ok(caller) => activations(ctl, &req, &caller.namespace, op).await,
            Err(e) => Err(e),
        },
        Route::ListActions { namespace } => match authorize(ctl, &req, &namespace) {
            Ok(caller) => list_actions(ctl, &req, &caller.namespace),
            Err(e) => Err(e),
        },
        Route::Action {
            namespace,
            name,
            op,
        } => match authorize(ctl, &req, &namespace) {
            Ok(caller) => action(ctl, req, &caller, &name, op).await,
            Err(e) => Err(e),
        },
    };
    result.unwrap_or_else(error_response)
}

/// A response whose body is already-encoded JSON.
fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full_body(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A JSON response.
pub fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    let mut r = Response::new(full_body(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: ApiError) -> Response<Body> {
    let mut r = json_response(e.status, &e.body());
    if e.status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"wisp\""),
        );
    }
    if let Some(secs) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn authenticate(ctl: &Controller, req: &Request<Incoming>) -> Result<Caller, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "this resource requires authentication: send the API key (ID:SECRET) with HTTP Basic auth",
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| ctl.keys.check(v))
        .ok_or_else(|| ApiError::unauthorized("the supplied API key is not valid"))
}

/// Authenticates the caller and resolves `_` to its namespace; another namespace
/// is refused.
fn authorize(
    ctl: &Controller,
    req: &Request<Incoming>,
    namespace: &str,
) -> Result<Caller, ApiError> {
    let caller = authenticate(ctl, req)?;
    if namespace == "_" || namespace == caller.namespace {
        Ok(caller)
    } else {
        Err(ApiError::forbidden(format!(
            "the API key has no access to namespace '{namespace}'"
        )))
    }
}

fn query_param<'a>(req: &'a Request<Incoming>, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    let q = req.uri().query()?;
    q.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('%') && !s.contains('+') {
        return std::borrow::Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn flag(req: &Request<Incoming>, key: &str) -> bool {
    matches!(query_param(req, key).as_deref(), Some("true") | Some(""))
}

/// Reads a body up to `limit` bytes; 413 beyond.
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large(limit)),
        Err(e) => Err(ApiError::bad_request(format!(
            "could not read the request body: {e}"
        ))),
    }
}

fn declared_length(req: &Request<Incoming>) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn list_actions(ctl: &Controller, req: &Request<Incoming>, ns: &str) -> ApiResult {
    let parse = |key: &str, default: usize| -> Result<usize, ApiError> {
        match query_param(req, key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                ApiError::bad_request(format!("'{key}' must be a non-negative integer, got '{v}'"))
            }),
        }
    };
    let limit = parse("limit", 30)?;
    let skip = parse("skip", 0)?;
    // OpenWhisk: limit 0 means the default page; at most 200.
    let limit = if limit == 0 { 30 } else { limit.min(200) };
    let actions = ctl.registry.list_actions(ns, skip, limit)?;
    let list: Vec<Value> = actions.iter().map(|a| action_json(a, None)).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(list)))
}

/// OpenWhisk's JSON form of an action; `code` is included when given.
fn action_json(a: &ActionRecord, code: Option<&[u8]>) -> Value {
    let mut exec = json!({"kind": "wasm", "binary": true});
    if let Some(code) = code {
        exec["code"] = Value::String(base64::engine::general_purpose::STANDARD.encode(code));
    }
    let mut annotations: Vec<Value> = a
        .annotations
        .iter()
        .map(|kv| json!({"key": kv.key, "value": kv.value}))
        .collect();
    annotations.push(json!({"key": "exec", "value": "wasm"}));
    annotations.push(json!({"key": "wisp-shape", "value": a.shape}));
    json!({
        "namespace": a.namespace,
        "name": a.name,
        "version": a.version,
        "publish": false,
        "exec": exec,
        "limits": {
            "timeout": a.limits.timeout,
            "memory": a.limits.memory,
            "logs": 10,
            "concurrency": 1,
            "storage": a.limits.storage,
            "instances": a.limits.instances,
        },
        "parameters": a.parameters,
        "annotations": annotations,
        "updated": a.updated,
        "wisp": {"module_sha256": a.module_hash, "module_size": a.module_size, "shape": a.shape},
    })
}

async fn action(
    ctl: &Arc<Controller>,
    req: Request<Incoming>,
    caller: &Caller,
    name: &str,
    op: ActionOp,
) -> ApiResult {
    let ns = caller.namespace.as_str();
    if !valid_name(name) {
        return Err(ApiError::bad_request(format!(
            "'{name}' is not a valid action name: use letters, digits, '_', '-', '.', '@', starting with a letter, digit or '_'"
        )));
    }
    match op {
        ActionOp::Get => {
            let rec = &lookup(ctl, ns, name)?.record;
            let code = if matches!(query_param(&req, "code").as_deref(), Some("false")) {
                None
            } else {
                ctl.registry.get_module(&rec.module_hash)?
            };
            Ok(json_response(
                StatusCode::OK,
                &action_json(rec, code.as_deref()),
            ))
        }
        ActionOp::Delete => {
            let ctl2 = ctl.clone();
            let (ns2, name2) = (ns.to_string(), name.to_string());
            let removed =
                tokio::task::spawn_blocking(move || ctl2.registry.delete_action(&ns2, &name2))
                    .await
                    .map_err(ApiError::internal)??;
            match removed {
                Some(rec) => {
                    let gone = ctl
                        .actions
                        .write()
                        .ok()
                        .and_then(|mut map| map.remove(&format!("{ns}/{name}")));
                    if let Some(reserved) = gone.and_then(|a| a.set_reservation(None)) {
                        let invoker = ctl.invoker.clone();
                        tokio::spawn(async move { invoker.release(reserved).await });
                    }
                    ctl.release_module(&rec.module_hash);
                    // Its files go with it.
                    let files = ctl.files_of(ns, name);
                    if files.exists()
                        && let Err(e) = std::fs::remove_dir_all(&files)
                    {
                        tracing::warn!("could not remove {}: {e}", files.display());
                    }
                    Ok(json_response(StatusCode::OK, &action_json(&rec, None)))
                }
                None => Err(not_found(ns, name)),
            }
        }
        ActionOp::Stats => {
            let action = lookup(ctl, ns, name)?;
            Ok(json_response(
                StatusCode::OK,
                &crate::patterns::stats(ctl, &action),
            ))
        }
        ActionOp::PutAssets => crate::assets::put_assets(ctl, req, ns, name).await,
        ActionOp::Put => put_action(ctl, req, ns, name).await,
        ActionOp::Invoke => invoke(ctl, req, caller, name).await,
    }
}

fn not_found(ns: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("the action '{ns}/{name}' does not exist"))
}

/// Reads a whole request body, refusing one over `limit` with 413.
pub(crate) async fn read_capped_body(
    req: Request<Incoming>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    if declared_length(&req).is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    read_body(req.into_body(), limit).await
}

/// The deployed action, or 404.
pub(crate) fn lookup(ctl: &Controller, ns: &str, name: &str) -> Result<Arc<Deployed>, ApiError> {
    ctl.actions
        .read()
        .map_err(ApiError::internal)?
        .get(&format!("{ns}/{name}"))
        .cloned()
        .ok_or_else(|| not_found(ns, name))
}

/// The OpenWhisk action document a PUT carries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionPut {
    exec: Option<ExecPut>,
    limits: Option<LimitsPut>,
    parameters: Option<Vec<KeyValue>>,
    annotations: Option<Vec<KeyValue>>,
    // Accepted and ignored, as OpenWhisk clients send them.
    #[allow(dead_code, reason = "accepted for OpenWhisk client compatibility")]
    name: Option<Value>,
    #[allow(dead_code, reason = "accepted for OpenWhisk client compatibility")]
    namespace: Option<Value>,
    #[allow(dead_code, reason = "accepted for OpenWhisk client compatibility")]
    version: Option<Value>,
    #[allow(dead_code, reason = "accepted for OpenWhisk client compatibility")]
    publish: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ExecPut {
    kind: String,
    code: Option<String>,
    #[allow(dead_code, reason = "wasm code is always base64, whatever this says")]
    binary: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsPut {
    timeout: Option<u64>,
    memory: Option<u64>,
    storage: Option<u64>,
    instances: Option<u64>,
    // OpenWhisk fields wisp does not use yet; accepted so clients work.
    #[allow(dead_code, reason = "accepted for OpenWhisk client compatibility")]
    logs: Option<u64>,
    #[allow(dead_code, reason = "accepted for OpenWhisk client compatibility")]
    concurrency: Option<u64>,
}

fn validate_limits(
    ctl: &Controller,
    given: Option<&LimitsPut>,
    base: Limits,
) -> Result<Limits, ApiError> {
    let mut limits = base;
    if let Some(l) = given {
        if let Some(t) = l.timeout {
            if t == 0 || t > ctl.config.max_timeout_ms {
                return Err(ApiError::bad_request(format!(
                    "limits.timeout must be between 1 and {} milliseconds, got {t}",
                    ctl.config.max_timeout_ms
                )));
            }
            limits.timeout = t;
        }
        if let Some(m) = l.memory {
            if m == 0 || m > ctl.config.max_memory_mb {
                return Err(ApiError::bad_request(format!(
                    "limits.memory must be between 1 and {} MB, got {m}",
                    ctl.config.max_memory_mb
                )));
            }
            limits.memory = m;
        }
        if let Some(st) = l.storage {
            if st > ctl.config.max_storage_mb {
                return Err(ApiError::bad_request(format!(
                    "limits.storage must be between 0 and {} MB, got {st}",
                    ctl.config.max_storage_mb
                )));
            }
            limits.storage = st;
        }
        if let Some(n) = l.instances {
            limits.instances = n;
        }
    }
    Ok(limits)
}

async fn put_action(
    ctl: &Arc<Controller>,
    req: Request<Incoming>,
    ns: &str,
    name: &str,
) -> ApiResult {
    let overwrite = flag(&req, "overwrite");
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let existing = lookup(ctl, ns, name).ok().map(|d| d.record.clone());
    let raw_limits = LimitsPut {
        timeout: query_param(&req, "timeout").and_then(|v| v.parse().ok()),
        memory: query_param(&req, "memory").and_then(|v| v.parse().ok()),
        storage: query_param(&req, "storage").and_then(|v| v.parse().ok()),
        instances: query_param(&req, "instances").and_then(|v| v.parse().ok()),
        logs: None,
        concurrency: None,
    };
    let body = read_capped_body(req, ctl.config.max_deploy_bytes).await?;

    let (module, limits, parameters, annotations): (
        Option<Vec<u8>>,
        Limits,
        Vec<KeyValue>,
        Vec<KeyValue>,
    ) = if content_type == "application/wasm" || content_type == "application/octet-stream" {
        let base = existing
            .as_ref()
            .map(|e| e.limits)
            .unwrap_or(ctl.config.default_limits);
        let limits = validate_limits(ctl, Some(&raw_limits), base)?;
        let (p, a) = existing
            .as_ref()
            .map(|e| (e.parameters.clone(), e.annotations.clone()))
            .unwrap_or_default();
        (Some(body.to_vec()), limits, p, a)
    } else if content_type.is_empty() || content_type == "application/json" {
        let doc: ActionPut = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the action document is not valid JSON for this API: {e}"
            ))
        })?;
        let module = match &doc.exec {
            Some(exec) => {
                if exec.kind != "wasm" {
                    return Err(ApiError::bad_request(format!(
                        "exec.kind '{}' is not supported: wisp runs WebAssembly, kind 'wasm'",
                        exec.kind
                    )));
                }
                let code = exec.code.as_deref().ok_or_else(|| {
                    ApiError::bad_request("exec.code is missing: give the module as base64")
                })?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(code.trim())
                    .map_err(|e| {
                        ApiError::bad_request(format!("exec.code is not valid base64: {e}"))
                    })?;
                Some(bytes)
            }
            None => None,
        };
        let base = existing
            .as_ref()
            .map(|e| e.limits)
            .unwrap_or(ctl.config.default_limits);
        let limits = validate_limits(ctl, doc.limits.as_ref(), base)?;
        let parameters = doc
            .parameters
            .or_else(|| existing.as_ref().map(|e| e.parameters.clone()))
            .unwrap_or_default();
        let annotations = doc
            .annotations
            .or_else(|| existing.as_ref().map(|e| e.annotations.clone()))
            .unwrap_or_default();
        (module, limits, parameters, annotations)
    } else {
        return Err(ApiError::unsupported_media(format!(
            "Content-Type '{content_type}' is not accepted: send application/json (an OpenWhisk action) or application/wasm (the module)"
        )));
    };

    if existing.is_some() && !overwrite {
        return Err(ApiError::conflict(format!(
            "the action '{ns}/{name}' already exists; use overwrite=true to update it"
        )));
    }
    let (module, prepared_hash) = match module {
        Some(m) => (m, None),
        None => match &existing {
            // An update without code keeps the deployed module.
            Some(e) => {
                let m = ctl
                    .registry
                    .get_module(&e.module_hash)?
                    .ok_or_else(|| ApiError::internal("module of an existing action is missing"))?;
                (m, Some(e.module_hash.clone()))
            }
            None => {
                return Err(ApiError::bad_request(
                    "exec is missing: a new action needs its module",
                ));
            }
        },
    };

    // Validate and compile before acknowledging; a failure leaves the old version.
    let invoker = ctl.invoker.clone();
    let registry = ctl.registry.clone();
    let (ns2, name2) = (ns.to_string(), name.to_string());
    let stored = tokio::task::spawn_blocking(move || -> Result<ActionRecord, ApiError> {
        let (prepared, _) = invoker
            .prepare(&module)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let hash = prepared_hash.unwrap_or_else(|| module_hash(&module));
        let mut rec = ActionRecord::new(&ns2, &name2, hash, prepared.shape.as_str());
        rec.limits = limits;
        rec.parameters = parameters;
        rec.annotations = annotations;
        Ok(registry.put_action(rec, &module, overwrite)?)
    })
    .await
    .map_err(ApiError::internal)??;
    let json = action_json(&stored, None);
    let replaced = existing
        .as_ref()
        .map(|e| e.module_hash.clone())
        .filter(|old| *old != stored.module_hash);
    ctl.publish(stored);
    if let Some(old) = replaced {
        ctl.release_module(&old);
    }
    Ok(json_response(StatusCode::OK, &json))
}

/// The compiled template of an action: from memory, else loaded (from the disk
/// cache when possible) off the async threads; with where it came from.
async fn prepared(
    ctl: &Arc<Controller>,
    rec: &ActionRecord,
) -> Result<(Arc<Prepared>, Warmth), ApiError> {
    if let Some(p) = ctl.invoker.cached(&rec.module_hash) {
        return Ok((p, Warmth::Hot));
    }
    let ctl2 = ctl.clone();
    let hash = rec.module_hash.clone();
    tokio::task::spawn_blocking(move || {
        let module = ctl2.registry.get_module(&hash)?.ok_or_else(|| {
            ApiError::internal(format!("module {hash} is missing from the registry"))
        })?;
        ctl2.invoker
            .prepare(&module)
            .map_err(|e| ApiError::internal(format!("stored module {hash} no longer loads: {e}")))
    })
    .await
    .map_err(ApiError::internal)?
}

fn invoke_limits(action: &Deployed) -> InvokeLimits {
    InvokeLimits {
        timeout: Duration::from_millis(action.record.limits.timeout),
        memory_bytes: (action.record.limits.memory as usize) << 20,
        grants: action.grants.clone(),
        reserved: action.reservation(),
    }
}

/// Takes a slot of the action's own cap, when it has one.
async fn enter_action(
    action: &Deployed,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ApiError> {
    match &action.gate {
        None => Ok(None),
        Some(gate) => gate.enter().await.map(Some).map_err(|_| {
            ApiError::too_many(format!(
                "the action '{}' already runs {} instances, its limit; retry later",
                action.record.name, action.record.limits.instances
            ))
        }),
    }
}

/// Merges the call's parameters over the action's defaults.
fn merge_params(rec: &ActionRecord, call: Value) -> Result<Value, ApiError> {
    let mut merged = serde_json::Map::new();
    for kv in &rec.parameters {
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

/// A new activation: its start (µs, unique and increasing) and its 32-hex-digit
/// id, which begins with that start so the record can be found from the id
/// alone. Ids must be unique, not secret: a per-thread SplitMix64 generator
/// seeded once from the OS avoids a system call per request.
fn new_activation() -> (u64, ActivationId) {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            u64::from_le_bytes(seed)
        });
    }
    let next = || {
        STATE.with(|s| {
            let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            s.set(x);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    };
    let order = crate::activations::next_order();
    (order, ActivationId::new(order, next()))
}

async fn invoke(
    ctl: &Arc<Controller>,
    req: Request<Incoming>,
    caller: &Caller,
    name: &str,
) -> ApiResult {
    let action = lookup(ctl, &caller.namespace, name)?;
    let subject = caller.key_id.clone();
    let rec = &action.record;
    let blocking = flag(&req, "blocking");
    let result_only = flag(&req, "result");
    let body = read_capped_body(req, ctl.config.max_body_bytes).await?;
    let call: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the invocation parameters are not valid JSON: {e}"))
        })?
    };
    let params = merge_params(rec, call)?;
    let tracked = action.calls.start(crate::patterns::client_id(&subject));
    let (prepared, warmth) = prepared(ctl, rec).await?;
    let (order, activation_id) = new_activation();

    if !blocking {
        let ctl = ctl.clone();
        let id = activation_id;
        let action = action.clone();
        tokio::spawn(async move {
            let ran = run_json(
                &ctl,
                &action,
                (&prepared, warmth, tracked),
                &params,
                (id, subject.clone(), order),
            )
            .await;
            let activation = ran.unwrap_or_else(|e| {
                // The id was handed out: a refusal is recorded too, never lost.
                tracing::info!(activation = %id, action = %action.record.name, "background invocation refused: {}", e.message);
                Activation {
                    action: action.clone(),
                    id,
                    subject: Some(subject),
                    start_us: order,
                    warmth,
                    end_ms: wisp_registry::now_millis(),
                    status: "whisk internal error",
                    result: ActivationResult::Value(json!({"error": e.message})),
                    logs: Logs::Lines(Vec::new()),
                    wait: Duration::ZERO,
                    init: Duration::ZERO,
                }
            });
            ctl.activations.record(activation);
        });
        return Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({"activationId": activation_id.as_str()}),
        ));
    }

    let activation = run_json(
        ctl,
        &action,
        (&prepared, warmth, tracked),
        &params,
        (activation_id, subject, order),
    )
    .await?;
    let http_status = if activation.status == "success" {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    let mut response = match &activation.result {
        ActivationResult::Value(result) if result_only => json_response(http_status, result),
        _ => json_bytes_response(http_status, activation.encode()),
    };
    ctl.activations.record(activation);
    if let Ok(v) = HeaderValue::from_str(activation_id.as_str()) {
        response
            .headers_mut()
            .insert("x-openwhisk-activation-id", v);
    }
    Ok(response)
}

/// Runs an API invocation and builds its activation record. Only refusals
/// (overload, internal faults) are errors; a failing action is a record.
async fn run_json(
    ctl: &Controller,
    action: &Arc<Deployed>,
    (prepared, warmth, tracked): (&Prepared, Warmth, crate::patterns::tracker::Call),
    params: &Value,
    (id, subject, order): (ActivationId, String, u64),
) -> Result<Activation, ApiError> {
    let waiting = Instant::now();
    let _permit = enter_action(action).await?;
    let action_wait = waiting.elapsed();
    let start = Instant::now();
    let outcome = ctl
        .invoker
        .invoke_json(prepared, params, invoke_limits(action))
        .await;
    let duration = start.elapsed().as_millis() as u64;
    let (status, result, logs, wait, init) = match outcome {
        Ok(o) => {
            let status = if o.result.get("error").is_some() {
                "application error"
            } else {
                "success"
            };
            (status, o.result, o.logs, o.wait, o.init)
        }
        Err(InvokeError::Overloaded) => {
            return Err(ApiError::too_many(
                "too many invocations in flight; retry later",
            ));
        }
        Err(InvokeError::Internal(m)) => return Err(ApiError::internal(m)),
        Err(e) => (
            "action developer error",
            json!({"error": e.to_string()}),
            Vec::new(),
            Duration::ZERO,
            Duration::ZERO,
        ),
    };
    tracked.end(warmth, status == "success");
    Ok(Activation {
        action: action.clone(),
        id,
        subject: Some(subject),
        warmth,
        start_us: order,
        end_ms: order / 1000 + duration,
        status,
        result: ActivationResult::Value(result),
        logs: Logs::Lines(logs),
        wait: action_wait + wait,
        init,
    })
}

/// The activation views: list (filters `name`, `limit`, `skip`, `since`, `upto`,
/// `docs`), one record, its logs, its result.
async fn activations(
    ctl: &Arc<Controller>,
    req: &Request<Incoming>,
    ns: &str,
    op: ActivationOp,
) -> ApiResult {
    let log = ctl.activations.clone();
    let not_found = |id: &str| ApiError::not_found(format!("the activation '{id}' does not exist"));
    match op {
        ActivationOp::List => {
            let number = |key: &str, default: u64| -> Result<u64, ApiError> {
                match query_param(req, key) {
                    None => Ok(default),
                    Some(v) => v.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "'{key}' must be a non-negative integer, got '{v}'"
                        ))
                    }),
                }
            };
            let limit = match number("limit", 30)? {
                0 => 30,
                n => n.min(200),
            } as usize;
            let q = ActivationQuery {
                name: query_param(req, "name").map(|n| n.into_owned()),
                since: query_param(req, "since")
                    .map(|_| number("since", 0))
                    .transpose()?,
                upto: query_param(req, "upto")
                    .map(|_| number("upto", 0))
                    .transpose()?,
                skip: number("skip", 0)? as usize,
                limit,
            };
            let docs = flag(req, "docs");
            let ns2 = ns.to_string();
            let list = tokio::task::spawn_blocking(move || log.list(&ns2, &q))
                .await
                .map_err(ApiError::internal)??;
            let list: Vec<Value> = if docs {
                list
            } else {
                list.iter().map(crate::activations::summary).collect()
            };
            Ok(json_response(StatusCode::OK, &Value::Array(list)))
        }
        ActivationOp::Get(id) | ActivationOp::Logs(id) | ActivationOp::Result(id)
            if !is_activation_id(&id) =>
        {
            Err(not_found(&id))
        }
        ActivationOp::Get(id) => {
            let record = log.get(ns, &id)?.ok_or_else(|| not_found(&id))?;
            Ok(json_response(StatusCode::OK, &record))
        }
        ActivationOp::Logs(id) => {
            let record = log.get(ns, &id)?.ok_or_else(|| not_found(&id))?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"logs": record["logs"]}),
            ))
        }
        ActivationOp::Result(id) => {
            let record = log.get(ns, &id)?.ok_or_else(|| not_found(&id))?;
            Ok(json_response(StatusCode::OK, &record["response"]))
        }
    }
}

/// 32 lowercase hex digits.
fn is_activation_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn web(
    ctl: &Arc<Controller>,
    req: Request<Incoming>,
    peer: SocketAddr,
    namespace: &str,
    name: &str,
    prefix: String,
    path_info: String,
) -> ApiResult {
    let ns = if namespace == "_" {
        DEFAULT_NAMESPACE
    } else {
        namespace
    };
    let action = lookup(ctl, ns, name)?;
    let rec = &action.record;
    if !action.web_export {
        // As OpenWhisk does: an action not exported to the web does not exist there.
        return Err(not_found(ns, name));
    }
    let caller = check_web_auth(ctl, &req, &action)?;
    // Who called: the key when one was presented, else the client's own
    // `X-Client-Id`, else its address.
    let client = match caller {
        Some(key_id) => crate::patterns::client_id(&key_id),
        None => match req
            .headers()
            .get("x-client-id")
            .and_then(|v| v.to_str().ok())
        {
            Some(id) => crate::patterns::client_id(id),
            None => crate::patterns::client_id(&peer.ip()),
        },
    };
    let tracked = action.calls.start(client);
    if declared_length(&req).is_some_and(|n| n > ctl.config.max_body_bytes) {
        return Err(ApiError::too_large(ctl.config.max_body_bytes));
    }
    let (parts, body) = req.into_parts();
    let body = if parts.method == Method::GET || parts.method == Method::HEAD {
        Bytes::new()
    } else {
        read_body(body, ctl.config.max_body_bytes).await?
    };
    let (prepared, warmth) = prepared(ctl, rec).await?;
    let (server_name, server_port) = host_and_port(&parts.headers);
    let facts = WebFacts {
        method: parts.method.to_string(),
        path_info,
        query: parts.uri.query().unwrap_or("").to_string(),
        script_name: prefix,
        headers: parts.headers,
        content_length: body.len(),
        remote_addr: Some(peer),
        server_name,
        server_port,
    };
    let env = rec
        .parameters
        .iter()
        .map(|kv| {
            let v = match &kv.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (kv.key.clone(), v)
        })
        .collect();
    let (order, activation_id) = new_activation();
    let _permit = enter_action(&action).await?;
    let outcome = ctl
        .invoker
        .invoke_web(
            &prepared,
            WebRequest { facts, body, env },
            invoke_limits(&action),
        )
        .await;
    let (result, web_logs) = match outcome {
        Ok((r, logs)) => (Ok(r), logs),
        Err(InvokeError::Timeout(ms)) => (
            Err(ApiError::gateway_timeout(format!(
                "the action exceeded its time limit of {ms} milliseconds"
            ))),
            Default::default(),
        ),
        Err(InvokeError::Overloaded) => {
            return Err(ApiError::too_many(
                "too many invocations in flight; retry later",
            ));
        }
        Err(InvokeError::Internal(m)) => return Err(ApiError::internal(m)),
        Err(e) => (
            Err(ApiError::action_failed(e.to_string())),
            Default::default(),
        ),
    };
    tracked.end(
        warmth,
        result.as_ref().is_ok_and(|r| !r.status().is_server_error()),
    );
    if ctl.activations.enabled() {
        let end = wisp_registry::now_millis();
        let (status, result) = match &result {
            Ok(r) if r.status().is_server_error() => (
                "application error",
                ActivationResult::Status(r.status().as_u16()),
            ),
            Ok(r) => ("success", ActivationResult::Status(r.status().as_u16())),
            Err(e) => (
                "action developer error",
                ActivationResult::Error(e.message.clone()),
            ),
        };
        // Web calls act for the action's owner.
        ctl.activations.record(Activation {
            action: action.clone(),
            id: activation_id,
            subject: None,
            warmth,
            start_us: order,
            end_ms: end,
            status,
            result,
            logs: Logs::Web(web_logs),
            wait: Duration::ZERO,
            init: Duration::ZERO,
        });
    }
    let mut response = result?;
    if let Ok(v) = HeaderValue::from_str(activation_id.as_str()) {
        response
            .headers_mut()
            .insert("x-openwhisk-activation-id", v);
    }
    Ok(response)
}

/// Enforces `require-whisk-auth` on a web call.
fn check_web_auth(
    ctl: &Controller,
    req: &Request<Incoming>,
    action: &Deployed,
) -> Result<Option<String>, ApiError> {
    match &action.web_auth {
        crate::WebAuth::None => Ok(None),
        crate::WebAuth::Key => {
            let caller = authenticate(ctl, req)?;
            if caller.namespace == action.record.namespace {
                Ok(Some(caller.key_id))
            } else {
                Err(ApiError::forbidden(
                    "this web action needs a key of its own namespace",
                ))
            }
        }
        crate::WebAuth::Secret(secret) => {
            let given = req
                .headers()
                .get("x-require-whisk-auth")
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            let same = crate::keys::constant_time_eq(given, secret.as_bytes());
            if same {
                Ok(None)
            } else {
                Err(ApiError::unauthorized(
                    "this web action needs the right X-Require-Whisk-Auth header",
                ))
            }
        }
    }
}

fn host_and_port(headers: &http::HeaderMap) -> (String, u16) {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    match host.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(80)),
        _ => (host.to_string(), 80),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("end%2"), "end%2");
    }

    #[test]
    fn params_merge_over_defaults() {
        let mut rec = ActionRecord::new("g", "a", "h".into(), "command");
        rec.parameters = vec![
            KeyValue {
                key: "x".into(),
                value: json!(1),
            },
            KeyValue {
                key: "y".into(),
                value: json!(2),
            },
        ];
        let merged = merge_params(&rec, json!({"y": 3, "z": 4})).unwrap();
        assert_eq!(merged, json!({"x": 1, "y": 3, "z": 4}));
        assert!(merge_params(&rec, json!([1])).is_err());
        assert_eq!(
            merge_params(&rec, Value::Null).unwrap(),
            json!({"x": 1, "y": 2})
        );
    }

    #[test]
    fn host_header_split() {
        let mut h = http::HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("example.com:8080"));
        assert_eq!(host_and_port(&h), ("example.com".into(), 8080));
        h.insert(header::HOST, HeaderValue::from_static("example.com"));
        assert_eq!(host_and_port(&h), ("example.com".into(), 80));
    }
}
