//! wisp's Controller: the HTTP face of the platform.
//!
//! It speaks a subset of the Apache OpenWhisk REST API (actions, blocking
//! invocations, API keys with HTTP Basic auth) plus web routes, turns each call into
//! an invocation on the [`Invoker`](wisp_invoker::Invoker), and keeps actions in the
//! [`Registry`](wisp_registry::Registry).
//!
//! Request path: hyper connection → [`routes::route`] → handler in [`api`] →
//! registry (metadata) → invoker (fresh instance) → response. Every call is
//! also noted in its action's [`patterns::CallLog`]; the [`patterns`] keeper
//! classifies the traffic and applies the memory and reservation policy.

pub mod activations;
mod admin;
pub mod api;
mod assets;
pub mod auth;
pub mod error;
pub mod keys;
pub mod patterns;
pub mod routes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wisp_invoker::gate::{Gate, Reservation};
use wisp_invoker::{Grants, Invoker};
use wisp_registry::{ActionRecord, Limits, Registry};

pub use auth::ApiKey;
pub use error::ApiError;

/// Operator settings of the Controller; every field has a documented default.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The key that may use the API; it owns the default namespace.
    pub api_key: ApiKey,
    /// Largest deploy body (the module, possibly base64 in JSON): 64 MiB.
    pub max_deploy_bytes: usize,
    /// Largest invocation or web request body: 10 MiB.
    pub max_body_bytes: usize,
    /// Limits of actions deployed without their own.
    pub default_limits: Limits,
    /// Highest `limits.timeout` an action may ask for, in ms: 300 000 (5 min).
    pub max_timeout_ms: u64,
    /// Highest `limits.memory` an action may ask for, in MiB; at most the engine's
    /// per-instance maximum.
    pub max_memory_mb: u64,
    /// Highest `limits.storage` (the `/data` quota) an action may ask for, in MiB:
    /// 1024.
    pub max_storage_mb: u64,
    /// Where each action's `/data` and `/assets` directories live:
    /// `FILES/{namespace}/{name}/{data,assets}`.
    pub files_dir: PathBuf,
    /// How long a call waits for a per-action instance slot: 5 s.
    pub queue_timeout: Duration,
    /// Most calls waiting for one action's slots: 1024.
    pub max_queue: usize,
    /// Whether activation records are kept (on by default).
    pub activation_log: bool,
    /// How many activation records are kept, and for how long.
    pub retention: activations::Retention,
    /// Bytes of compiled code kept in memory; beyond, the policy evicts
    /// templates (their code stays on disk): 64 MiB.
    pub hot_budget: usize,
    /// The window access patterns are classified over: 60 s.
    pub pattern_window: Duration,
}

impl ControllerConfig {
    /// Defaults for everything but the key.
    pub fn new(api_key: ApiKey) -> Self {
        ControllerConfig {
            api_key,
            max_deploy_bytes: 64 << 20,
            max_body_bytes: 10 << 20,
            default_limits: Limits::default(),
            max_timeout_ms: 300_000,
            max_memory_mb: 512,
            max_storage_mb: 1024,
            files_dir: PathBuf::from("wisp-data/files"),
            queue_timeout: Duration::from_secs(5),
            max_queue: 1024,
            activation_log: true,
            retention: activations::Retention::default(),
            hot_budget: 64 << 20,
            pattern_window: Duration::from_secs(60),
        }
    }
}

/// A deployed action as the invocation path needs it: its record, what it is
/// granted, and its own admission gate when it has a per-action cap.
#[derive(Debug)]
pub struct Deployed {
    /// The stored record.
    pub record: ActionRecord,
    /// Directories and hosts it may reach.
    pub grants: Grants,
    /// Its instance cap, when `limits.instances` is set.
    pub gate: Option<Gate>,
    /// Whether it answers web calls (annotation `web-export: true`).
    pub web_export: bool,
    /// What a web call must present (annotation `require-whisk-auth`).
    pub web_auth: WebAuth,
    /// `namespace/name`, as activation records show it.
    pub path: String,
    /// Its calls, for the access-pattern tracker (kept across updates).
    pub calls: Arc<patterns::CallLog>,
    /// Instance slots the policy set aside for it.
    reserved: RwLock<Option<Arc<Reservation>>>,
}

impl Deployed {
    /// The slots set aside for it, if any.
    pub fn reservation(&self) -> Option<Arc<Reservation>> {
        self.reserved.read().ok()?.clone()
    }

    /// How many slots are set aside for it.
    pub fn reserved_slots(&self) -> usize {
        self.reservation().map_or(0, |r| r.size())
    }

    /// Replaces its reservation; returns the old one, to be released.
    pub(crate) fn set_reservation(
        &self,
        new: Option<Arc<Reservation>>,
    ) -> Option<Arc<Reservation>> {
        self.reserved
            .write()
            .map(|mut r| std::mem::replace(&mut *r, new))
            .unwrap_or_default()
    }
}

/// The `require-whisk-auth` annotation of a web action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebAuth {
    /// Anyone may call.
    None,
    /// A valid key of the action's namespace, with HTTP Basic auth.
    Key,
    /// This secret in the `X-Require-Whisk-Auth` header.
    Secret(String),
}

/// Whether an annotation is set to `true` (or the string `"true"`).
fn annotation_true(record: &ActionRecord, key: &str) -> bool {
    record.annotations.iter().any(|kv| {
        kv.key == key && (kv.value == serde_json::Value::Bool(true) || kv.value == "true")
    })
}

fn web_auth(record: &ActionRecord) -> WebAuth {
    match record
        .annotations
        .iter()
        .find(|kv| kv.key == "require-whisk-auth")
        .map(|kv| &kv.value)
    {
        Some(serde_json::Value::Bool(true)) => WebAuth::Key,
        Some(serde_json::Value::String(s)) if !s.is_empty() => WebAuth::Secret(s.clone()),
        Some(serde_json::Value::Number(n)) => WebAuth::Secret(n.to_string()),
        _ => WebAuth::None,
    }
}

/// The annotation listing the hosts an action's outgoing HTTP may reach.
pub const OUTBOUND_ANNOTATION: &str = "allowed-outbound-hosts";

/// Shared state of all connections.
pub struct Controller {
    config: ControllerConfig,
    registry: Arc<dyn Registry>,
    invoker: Arc<Invoker>,
    /// Action metadata by `namespace/name`, mirrored from the registry so the
    /// invocation path never reads the database.
    actions: RwLock<HashMap<String, Arc<Deployed>>>,
    /// Activation records, written in batches.
    activations: Arc<activations::ActivationLog>,
    /// The keys the API accepts.
    keys: keys::KeyRing,
    /// What stays in memory and what gets reserved.
    policy: Box<dyn patterns::KeepPolicy>,
}

impl Controller {
    /// Loads every stored action's metadata. Compiled code is loaded lazily, from
    /// the invoker's disk cache, on first call.
    pub fn new(
        config: ControllerConfig,
        registry: Arc<dyn Registry>,
        invoker: Arc<Invoker>,
    ) -> anyhow::Result<Self> {
        let activations = Arc::new(activations::ActivationLog::new(
            registry.clone(),
            config.activation_log,
            config.retention,
        ));
        let keys = keys::KeyRing::new(config.api_key.clone(), registry.list_keys()?);
        let ctl = Controller {
            config,
            registry,
            invoker,
            actions: RwLock::new(HashMap::new()),
            activations,
            keys,
            policy: Box::new(patterns::PatternPolicy),
        };
        let records = ctl.registry.all_actions()?;
        let used: std::collections::HashSet<String> =
            records.iter().map(|r| r.module_hash.clone()).collect();
        for rec in records {
            ctl.publish(rec);
        }
        let removed = ctl.invoker.retain_compiled(|hash| used.contains(hash));
        if removed > 0 {
            tracing::info!("removed {removed} compiled artifacts no action uses");
        }
        Ok(ctl)
    }

    /// Whether any deployed action runs the module with this hash.
    pub(crate) fn module_in_use(&self, hash: &str) -> bool {
        self.actions
            .read()
            .map(|m| m.values().any(|a| a.record.module_hash == hash))
            .unwrap_or(true)
    }

    /// Drops the compiled code of a module once no action runs it. A deploy of
    /// the same module racing this only costs that deploy's next cold start a
    /// recompile.
    pub(crate) fn release_module(&self, hash: &str) {
        if !self.module_in_use(hash) {
            self.invoker.forget(hash);
        }
    }

    /// Applies activation retention, then starts the background work (the
    /// activation writer, the access-pattern keeper); call once, inside the
    /// runtime, before serving.
    pub async fn start(self: &Arc<Self>) {
        if self.activations.enabled() {
            self.activations.prune().await;
        }
        self.activations.spawn_writer();
        patterns::spawn_keeper(self);
    }

    /// Writes everything pending; call after [`serve`] returns.
    pub async fn shutdown(&self) {
        self.activations.flush().await;
    }

    /// The directory holding an action's `data` and `assets`.
    pub fn files_of(&self, namespace: &str, name: &str) -> PathBuf {
        self.config.files_dir.join(namespace).join(name)
    }

    /// Makes `record` the served version of its action.
    pub(crate) fn publish(&self, record: ActionRecord) -> Arc<Deployed> {
        let files = self.files_of(&record.namespace, &record.name);
        let assets = files.join("assets");
        let grants = Grants {
            data: (record.limits.storage > 0)
                .then(|| (files.join("data"), record.limits.storage << 20)),
            assets: assets.is_dir().then_some(assets),
            outbound_hosts: outbound_hosts(&record),
        };
        let gate = (record.limits.instances > 0).then(|| {
            Gate::new(
                record.limits.instances as usize,
                self.config.max_queue,
                self.config.queue_timeout,
            )
        });
        let key = format!("{}/{}", record.namespace, record.name);
        let mut map = match self.actions.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        // An update keeps the action's call history and reservation.
        let previous = map.get(&key);
        let deployed = Arc::new(Deployed {
            path: key.clone(),
            web_export: annotation_true(&record, "web-export"),
            web_auth: web_auth(&record),
            record,
            grants,
            gate,
            calls: previous.map(|p| p.calls.clone()).unwrap_or_default(),
            reserved: RwLock::new(previous.and_then(|p| p.set_reservation(None))),
        });
        map.insert(key, deployed.clone());
        deployed
    }
}

/// The hosts listed in the `allowed-outbound-hosts` annotation: a JSON array of
/// strings, or one string separated by commas or spaces.
fn outbound_hosts(record: &ActionRecord) -> Vec<String> {
    let Some(kv) = record
        .annotations
        .iter()
        .find(|kv| kv.key == OUTBOUND_ANNOTATION)
    else {
        return Vec::new();
    };
    match &kv.value {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::String(s) => s
            .split([',', ' '])
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// How long shutdown waits for requests in flight before closing connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then stops accepting,
/// lets requests in flight finish (up to [`SHUTDOWN_GRACE`]) and returns.
pub async fn serve(
    listener: TcpListener,
    controller: Arc<Controller>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let controller = controller.clone();
        let service = hyper::service::service_fn(move |req| {
            let controller = controller.clone();
            async move { Ok::<_, std::convert::Infallible>(api::handle(&controller, req, peer).await) }
        });
        let conn = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; closing");
    }
    Ok(())
}
