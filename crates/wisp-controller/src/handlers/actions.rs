//! `/api/v1/namespaces/{ns}/actions[/{name}[/stats]]`: list, get, create or
//! update, delete, and the access-pattern stats of an action.

use std::sync::Arc;

use base64::Engine as _;
use http::{Request, StatusCode};
use wisp_api::{ActionDoc, ActionRecord, Preinitialized, Shape, resolve};
use wisp_invoker::InitSpec;

use crate::edge::extract::{self, RequestBody};
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::handlers::sequences;
use crate::{Controller, Deployed};

/// The deployed action, or 404.
pub fn deployed(ctl: &Controller, ns: &str, name: &str) -> Result<Arc<Deployed>, ApiError> {
    ctl.lookup(ns, name).ok_or_else(|| not_found(ns, name))
}

/// 404 for an action.
pub fn not_found(ns: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("the action '{ns}/{name}' does not exist"))
}

/// `GET .../actions?limit&skip`.
pub fn list(ctl: &Controller, query: Option<&str>, ns: &str) -> ApiResult {
    let (limit, skip) = extract::page(query)?;
    let actions = ctl.registry.list_actions(ns, skip, limit)?;
    let views: Vec<_> = actions.iter().map(|a| a.view(None)).collect();
    Ok(respond::json(StatusCode::OK, &views))
}

/// `GET .../actions/{name}[?code=false]`.
pub fn get(ctl: &Controller, query: Option<&str>, ns: &str, name: &str) -> ApiResult {
    let rec = &deployed(ctl, ns, name)?.record;
    let code = if matches!(
        extract::query_param(query, "code").as_deref(),
        Some("false")
    ) {
        None
    } else {
        // The binary as deployed: deploying it again gives the same action.
        ctl.registry
            .get_module(rec.source_hash())?
            .map(|m| base64::engine::general_purpose::STANDARD.encode(m))
    };
    Ok(respond::json(StatusCode::OK, &rec.view(code)))
}

/// `GET .../actions/{name}/stats`.
pub fn stats(ctl: &Controller, ns: &str, name: &str) -> ApiResult {
    let action = deployed(ctl, ns, name)?;
    let hot = ctl.invoker.cached(&action.record.module_hash);
    let stats = wisp_patterns::stats(
        &action.record.namespace,
        &action.record.name,
        &action.calls,
        ctl.config.pattern_window,
        wisp_api::stats::Memory {
            hot: hot.is_some(),
            code_bytes: hot.map(|p| p.code_bytes),
        },
        action.slots.reserved_slots(),
    );
    Ok(respond::json(StatusCode::OK, &stats))
}

/// `DELETE .../actions/{name}`: the action, all its versions, its files and
/// (when no other action runs them) their compiled code go.
pub async fn delete(ctl: &Arc<Controller>, ns: &str, name: &str) -> ApiResult {
    let ctl2 = ctl.clone();
    let (ns2, name2) = (ns.to_string(), name.to_string());
    let (removed, versions) = tokio::task::spawn_blocking(move || {
        let versions = ctl2.registry.list_versions(&ns2, &name2)?;
        Ok::<_, ApiError>((ctl2.registry.delete_action(&ns2, &name2)?, versions))
    })
    .await
    .map_err(ApiError::internal)??;
    let Some(removed) = removed else {
        return Err(not_found(ns, name));
    };
    let served = ctl.unpublish(ns, name);
    ctl.settle(ns, name);
    let record = removed.ok().or_else(|| served.map(|d| d.record.clone()));
    // Every version's compiled code goes with it (unless another action runs it).
    let hashes: std::collections::BTreeSet<&str> = versions
        .iter()
        .chain(record.iter())
        .map(|r| r.module_hash.as_str())
        .collect();
    for hash in hashes {
        ctl.release_module(hash);
    }
    let files = ctl.files_of(ns, name);
    if files.exists()
        && let Err(e) = std::fs::remove_dir_all(&files)
    {
        tracing::warn!("could not remove {}: {e}", files.display());
    }
    match record {
        Some(rec) => Ok(respond::json(StatusCode::OK, &rec.view(None))),
        None => Ok(respond::json(
            StatusCode::OK,
            &serde_json::json!({"namespace": ns, "name": name, "deleted": true}),
        )),
    }
}

/// `PUT .../actions/{name}[?overwrite=true]`: OpenWhisk's action document
/// (`application/json`, the module base64 in `exec.code`), or the module itself
/// (`application/wasm`, limits in the query string). The module is validated
/// and compiled before anything is stored: a failure leaves the old version
/// serving.
pub async fn put<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    ns: &str,
    name: &str,
) -> ApiResult {
    // A `Uri` clone shares its bytes: the query outlives the moved request
    // without a copy.
    let uri = req.uri().clone();
    let query = uri.query();
    let overwrite = extract::flag(query, "overwrite");
    let media = extract::media_type(req.headers());
    let raw_module = match media.as_str() {
        "application/wasm" | "application/octet-stream" => true,
        "" | "application/json" => false,
        other => {
            return Err(ApiError::unsupported_media(format!(
                "Content-Type '{other}' is not accepted: send application/json (an OpenWhisk action) or application/wasm (the module)"
            )));
        }
    };
    // With its secrets opened: an update that keeps its parameters seals them
    // again.
    let current = ctl.lookup(ns, name).map(|d| ActionRecord {
        parameters: d.params.clone(),
        ..d.record.clone()
    });
    if current.is_some() && !overwrite {
        return Err(ApiError::conflict(format!(
            "the action '{ns}/{name}' already exists; use overwrite=true to update it"
        )));
    }
    let body = extract::whole(req, ctl.config.max_deploy_bytes, ctl.config.body_timeout).await?;
    let (doc, module) = if raw_module {
        (limits_from_query(query), Some(body.to_vec()))
    } else {
        let doc: ActionDoc = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the action document is not valid JSON for this API: {e}"
            ))
        })?;
        (doc, None)
    };
    let mut spec = resolve::resolve(doc, current.as_ref(), &ctl.policy)?;
    if let Some(c) = &current {
        let secrets = resolve::annotations(&spec.annotations)?.secret_parameters;
        crate::secrets::keep_masked(&mut spec.parameters, &secrets, &c.parameters);
    }
    let module = module.or_else(|| spec.code.take());
    let stored = match spec.sequence.as_mut() {
        // A module given replaces a sequence.
        Some(components) if module.is_none() => {
            sequences::check(ctl, ns, name, components)?;
            let mut rec = ActionRecord::new(
                ns,
                name,
                wisp_registry::module_hash(b""),
                Shape::Command,
                spec,
            );
            let ctl2 = ctl.clone();
            tokio::task::spawn_blocking(move || -> Result<ActionRecord, ApiError> {
                ctl2.seal(&mut rec)?;
                Ok(ctl2.registry.put_action(rec, b"", None, overwrite)?)
            })
            .await
            .map_err(ApiError::internal)??
        }
        _ => {
            spec.sequence = None;
            store_module(ctl, ns, name, spec, module, current.as_ref(), overwrite).await?
        }
    };
    let view = stored.view(None);
    let replaced = current
        .map(|c| c.module_hash)
        .filter(|old| *old != stored.module_hash);
    ctl.publish(stored)?;
    if let Some(old) = replaced {
        ctl.release_module(&old);
    }
    ctl.settle(ns, name);
    Ok(respond::json(StatusCode::OK, &view))
}

/// Runs a module's init (when it has one), compiles it and stores it with its
/// record: the new current version of `ns/name`.
async fn store_module(
    ctl: &Arc<Controller>,
    ns: &str,
    name: &str,
    spec: wisp_api::ActionSpec,
    module: Option<Vec<u8>>,
    current: Option<&ActionRecord>,
    overwrite: bool,
) -> Result<ActionRecord, ApiError> {
    let module = match (module, current) {
        (Some(m), _) => m,
        // An update without code keeps the deployed binary (and runs its init
        // again, under the new limits).
        (None, Some(c)) => ctl
            .registry
            .get_module(c.source_hash())?
            .ok_or_else(|| ApiError::internal("module of an existing action is missing"))?,
        (None, None) => {
            return Err(ApiError::bad_request(
                "exec is missing: a new action needs its module",
            ));
        }
    };
    let assets = ctl.files_of(ns, name).join("assets");
    let init = InitSpec {
        init: spec.init.clone(),
        memory_bytes: (spec.limits.memory as usize) << 20,
        timeout: ctl.config.init_timeout,
        assets: assets.is_dir().then_some(assets),
    };
    let invoker = ctl.invoker.clone();
    let registry = ctl.registry.clone();
    let (ns2, name2) = (ns.to_string(), name.to_string());
    let ctl2 = ctl.clone();
    tokio::task::spawn_blocking(move || -> Result<ActionRecord, ApiError> {
        let bad = |e: wisp_invoker::DeployError| ApiError::bad_request(e.to_string());
        // A module with an init runs it once, here; its snapshot is what runs.
        let snapshot = invoker.snapshot(&module, &init).map_err(bad)?;
        let runs = snapshot
            .as_ref()
            .map_or(module.as_slice(), |s| s.bytes.as_slice());
        let (prepared, _) = invoker.prepare(runs).map_err(bad)?;
        // `prepare` hashed the module already.
        let mut rec = ActionRecord::new(&ns2, &name2, prepared.hash.clone(), prepared.shape, spec);
        rec.init = snapshot.as_ref().map(|s| Preinitialized {
            export: s.export.clone(),
            init_us: s.took.as_micros() as u64,
            source_sha256: wisp_registry::module_hash(&module),
            source_size: module.len() as u64,
        });
        // The registry only ever sees secret values sealed.
        ctl2.seal(&mut rec)?;
        let source = snapshot.is_some().then_some(module.as_slice());
        Ok(registry.put_action(rec, runs, source, overwrite)?)
    })
    .await
    .map_err(ApiError::internal)?
}

/// The limits a raw-module deploy gives in its query string (`timeout`,
/// `memory`, `storage`, `instances`), checked by the same resolution as a
/// document's.
fn limits_from_query(query: Option<&str>) -> ActionDoc {
    let field =
        |k: &str| extract::query_param(query, k).map(|v| serde_json::Value::String(v.into_owned()));
    let limits = wisp_api::action::LimitsDoc {
        timeout: field("timeout"),
        memory: field("memory"),
        storage: field("storage"),
        instances: field("instances"),
        logs: None,
        concurrency: None,
    };
    ActionDoc {
        limits: Some(limits),
        ..ActionDoc::default()
    }
}
