//! wisp's Controller: the HTTP face of the platform.
//!
//! It speaks a subset of the Apache OpenWhisk REST API (actions, blocking
//! invocations, activation records, namespaces and API keys with HTTP Basic
//! auth) plus web routes, turns each call into an invocation on the
//! [`Invoker`](wisp_invoker::Invoker), and keeps actions in the
//! [`Registry`](wisp_registry::Registry).
//!
//! Request path: [`server::serve`] (connection cap, header timeout) →
//! [`dispatch::handle`] → [`routes::route`] → one handler per resource in
//! [`handlers`] → the invoker's `admit` (before the body is read) and
//! `invoke_web` / `invoke_json` (a fresh instance) → response. Every call is
//! noted in its action's [`CallLog`](wisp_patterns::CallLog); the
//! [`wisp_patterns`] keeper classifies the traffic and applies the memory and
//! reservation policy through the [`Actions`](wisp_patterns::Actions) and
//! [`Residency`](wisp_patterns::Residency) views this crate gives it.

pub mod activations;
pub mod alarms;
pub mod auth;
pub mod config;
pub mod dispatch;
pub mod edge;
pub mod error;
pub mod events;
mod follow;
pub mod handlers;
pub mod keys;
mod keyvalue;
pub mod lifecycle;
pub mod metrics;
pub mod routes;
pub mod secrets;
pub mod server;
mod warm;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use wisp_api::{ActionRecord, KeyValue, Policy, Shape};
use wisp_invoker::{ActionSlots, ConfigVariables, Grants, InvokeLimits, Invoker, KeyValueGrant};
use wisp_patterns::{CallLog, KeepPolicy};
use wisp_registry::Registry;

pub use auth::ApiKey;
pub use config::ServerConfig;
pub use error::ApiError;
pub use server::serve;

/// A deployed action as the invocation path needs it, resolved once when it is
/// published: its record, the limits and grants its calls run under, its
/// admission state and its call log.
#[derive(Debug)]
pub struct Deployed {
    /// The stored record.
    pub record: ActionRecord,
    /// `namespace/name`, as activation records show it.
    pub path: String,
    /// Time and memory limits, and what it may reach.
    pub limits: InvokeLimits,
    /// Its own cap and reserved slots.
    pub slots: Arc<ActionSlots>,
    /// Its parameters as environment variables (for CGI commands; empty for
    /// components, which read them through `wasi:config`).
    pub env: Vec<(String, String)>,
    /// Its full parameter list, secrets opened (`record.parameters` holds
    /// them sealed): what its calls see.
    pub params: Vec<KeyValue>,
    /// Its secret values, redacted from its activation records.
    pub redact: Vec<String>,
    /// Its calls, for the access-pattern tracker (kept across updates).
    pub calls: Arc<CallLog>,
    /// Its metric series (kept across updates; the shared `_other` ones past
    /// `--metrics-max-actions`); `None` when metrics are off.
    pub metrics: Option<Arc<metrics::ActionMetrics>>,
}

/// Actions by namespace, then name: a lookup borrows both, allocating nothing.
type ActionMap = HashMap<String, HashMap<String, Arc<Deployed>>>;

/// Shared state of all connections.
pub struct Controller {
    config: ServerConfig,
    policy: Policy,
    registry: Arc<dyn Registry>,
    invoker: Arc<Invoker>,
    /// What components' `wasi:keyvalue` calls reach: the registry's stores.
    kv: Arc<dyn wisp_invoker::KvBackend>,
    /// Action metadata, mirrored from the registry so the invocation path never
    /// reads the database.
    actions: RwLock<ActionMap>,
    /// Activation records, written in batches.
    activations: Arc<activations::ActivationLog>,
    /// The keys the API accepts.
    keys: keys::KeyRing,
    /// What stays in memory and what gets reserved.
    keep: Arc<dyn KeepPolicy>,
    /// Open connections, across every serving thread.
    connections: Arc<tokio::sync::Semaphore>,
    /// Serving or draining, and the requests in flight.
    lifecycle: Arc<lifecycle::Lifecycle>,
    /// What `/metrics` serves.
    metrics: metrics::Metrics,
    /// Seals and opens secret parameters.
    secret_key: secrets::SecretKey,
    /// The alarms scheduler's lock and wake-up.
    alarms: alarms::Alarms,
    /// This process, among the nodes sharing a registry.
    node_id: String,
    /// Whether the registry is shared with other nodes (and followed).
    shared: std::sync::atomic::AtomicBool,
}

impl Controller {
    /// Loads every stored action's metadata. A record that cannot be read, or
    /// whose limits the server no longer allows, is logged and skipped: the
    /// server serves everything else. The templates that were hot before a
    /// restart are loaded back from the disk cache now; the others on first
    /// call.
    pub fn new(
        config: ServerConfig,
        registry: Arc<dyn Registry>,
        invoker: Arc<Invoker>,
    ) -> anyhow::Result<Self> {
        let activations = Arc::new(activations::ActivationLog::new(
            registry.clone(),
            config.activation_log,
            config.retention,
        ));
        let keys = keys::KeyRing::new(config.api_key.clone(), registry.list_keys()?);
        let config_connections = config
            .max_connections
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        let metrics = metrics::Metrics::new(config.metrics, config.metrics_max_actions);
        let secret_key = secrets::SecretKey::load_or_create(
            &config
                .secret_key_file
                .clone()
                .or_else(secrets::default_key_file)
                .unwrap_or_else(|| PathBuf::from("secret.key")),
        );
        if let Some(e) = secret_key.error() {
            tracing::error!("secret parameters are unavailable: {e}");
        }
        let ctl = Controller {
            policy: config.policy(),
            config,
            kv: Arc::new(keyvalue::RegistryKv(registry.clone())),
            registry,
            invoker,
            actions: RwLock::new(HashMap::new()),
            activations,
            keys,
            keep: Arc::new(wisp_patterns::PatternPolicy),
            connections: Arc::new(tokio::sync::Semaphore::new(config_connections)),
            lifecycle: Arc::default(),
            metrics,
            secret_key,
            alarms: alarms::Alarms::default(),
            node_id: format!(
                "{}-{:x}-{:x}",
                std::env::var("HOSTNAME").unwrap_or_default(),
                std::process::id(),
                wisp_registry::now_millis()
            ),
            shared: Default::default(),
        };
        // Every kept version's compiled code stays, for rollbacks.
        let mut used: std::collections::HashSet<String> =
            ctl.registry.module_hashes()?.into_iter().collect();
        for (key, record) in ctl.registry.all_actions()? {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(action = %key, "skipping a stored action that cannot be read: {e}");
                    continue;
                }
            };
            // Its module stays either way: a redeploy may fix the record.
            used.insert(record.module_hash.clone());
            if let Err(e) = wisp_api::resolve::check_record(&record, &ctl.policy) {
                tracing::error!(action = %key, "skipping a stored action the server no longer allows: {e}; deploy it again to fix it");
                continue;
            }
            if let Err(e) = ctl.publish(record) {
                tracing::error!(action = %key, "skipping a stored action whose secrets do not open: {}", e.message);
            }
        }
        let removed = ctl.invoker.retain_compiled(|hash| used.contains(hash));
        if removed > 0 {
            tracing::info!("removed {removed} compiled artifacts no action uses");
        }
        ctl.preload_hot();
        Ok(ctl)
    }

    /// Applies activation retention, then starts the background work (the
    /// activation writer, the access-pattern keeper, the alarms scheduler); call once, inside the
    /// runtime, before serving.
    pub async fn start(self: &Arc<Self>) {
        if self.activations.enabled() {
            self.activations.prune().await;
        }
        if let Err(e) = self.activations.spawn_writer() {
            tracing::error!("cannot start the activation writer: {e}");
        }
        wisp_patterns::spawn_keeper(
            self.clone(),
            self.keep.clone(),
            self.config.pattern_window,
            self.config.hot_budget,
        );
        self.spawn_hot_saver();
        let shared = follow::spawn(self);
        alarms::spawn(self.clone(), shared);
    }

    /// Writes everything pending (activation records, the hot set); call after
    /// [`serve`] returns.
    pub async fn shutdown(self: &Arc<Self>) {
        self.activations.flush().await;
        let ctl = self.clone();
        let _ = tokio::task::spawn_blocking(move || ctl.save_hot_now()).await;
    }

    /// Serving or draining, and the requests in flight.
    pub fn lifecycle(&self) -> &Arc<lifecycle::Lifecycle> {
        &self.lifecycle
    }

    /// This process's name among the nodes sharing a registry.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The server's configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The directory holding an action's `data` and `assets`.
    pub fn files_of(&self, namespace: &str, name: &str) -> PathBuf {
        self.config.files_dir().join(namespace).join(name)
    }

    /// The deployed action, if there is one.
    pub fn lookup(&self, namespace: &str, name: &str) -> Option<Arc<Deployed>> {
        self.actions.read().ok()?.get(namespace)?.get(name).cloned()
    }

    /// The compiled template of an action: from memory, else loaded (from the
    /// disk cache when possible, never recompiled if it is there) off the async
    /// threads; with where it came from.
    pub async fn template(
        self: &Arc<Self>,
        record: &ActionRecord,
    ) -> Result<(Arc<wisp_invoker::Prepared>, wisp_api::Warmth), ApiError> {
        if let Some(p) = self.invoker.cached(&record.module_hash) {
            return Ok((p, wisp_api::Warmth::Hot));
        }
        let ctl = self.clone();
        let (hash, shape) = (record.module_hash.clone(), record.shape);
        tokio::task::spawn_blocking(move || ctl.load_template(&hash, shape))
            .await
            .map_err(ApiError::internal)?
    }

    /// The compiled template of a module, loaded (from the disk cache when
    /// possible, never recompiled if it is there) or compiled from the
    /// registry's copy; with where it came from. Blocking: CPU and I/O.
    pub(crate) fn load_template(
        &self,
        hash: &str,
        shape: Shape,
    ) -> Result<(Arc<wisp_invoker::Prepared>, wisp_api::Warmth), ApiError> {
        // The compiled code on disk is enough: no read of the module, no hash.
        match self.invoker.load(hash, shape) {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => {}
            Err(e) => tracing::warn!(%hash, "cached code of a module does not load: {e}"),
        }
        let module = self.registry.get_module(hash)?.ok_or_else(|| {
            ApiError::internal(format!("module {hash} is missing from the registry"))
        })?;
        self.invoker
            .prepare(&module)
            .map_err(|e| ApiError::internal(format!("stored module {hash} no longer loads: {e}")))
    }

    /// Seals the secret parameters of a record about to be stored.
    pub(crate) fn seal(&self, record: &mut ActionRecord) -> Result<(), ApiError> {
        self.secret_key.seal(record).map_err(|e| {
            ApiError::secret_key(format!(
                "cannot store the secret parameters of {}: {e}",
                record.path()
            ))
        })
    }

    /// Makes `record` the served version of its action; an update keeps the
    /// action's call history and reservation. Refused when its secrets do not
    /// open (the key changed): nothing changes then.
    pub(crate) fn publish(&self, record: ActionRecord) -> Result<Arc<Deployed>, ApiError> {
        let params = self.secret_key.open(&record).map_err(|e| {
            ApiError::secret_key(format!("cannot open the action {}: {e}", record.path()))
        })?;
        let redact = secrets::redacted_texts(&params, &record.secret_keys());
        let files = self.files_of(&record.namespace, &record.name);
        let assets = files.join("assets");
        // Parameters (secrets opened) are the environment of a CGI command
        // and the `wasi:config` variables of a component: strings as they
        // are, other values as JSON text.
        let vars: Vec<(String, String)> = params
            .iter()
            .map(|kv| {
                let v = match &kv.value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (kv.key.clone(), v)
            })
            .collect();
        // Components get key-value stores and config variables; commands
        // keep `/data` and their environment.
        let component = record.shape == Shape::Http;
        let grants = Grants {
            data: (record.limits.storage > 0)
                .then(|| (files.join("data"), record.limits.storage << 20)),
            assets: assets.is_dir().then_some(assets),
            outbound_hosts: record.outbound_hosts.clone(),
            keyvalue: component.then(|| KeyValueGrant {
                namespace: record.namespace.clone(),
                stores: record.keyvalue_stores.clone(),
                backend: self.kv.clone(),
            }),
            config: Arc::new(if component {
                vars.iter().cloned().collect()
            } else {
                ConfigVariables::default()
            }),
        };
        let limits = InvokeLimits {
            timeout: Duration::from_millis(record.limits.timeout),
            memory_bytes: (record.limits.memory as usize) << 20,
            grants: Arc::new(grants),
        };
        let env = if component { Vec::new() } else { vars };
        let slots = self.invoker.action_slots(record.limits.instances);
        let mut map = match self.actions.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        let names = map.entry(record.namespace.clone()).or_default();
        let previous = names.get(&record.name);
        if let Some(p) = previous {
            slots.inherit(&p.slots);
        }
        let deployed = Arc::new(Deployed {
            path: record.path(),
            calls: previous.map(|p| p.calls.clone()).unwrap_or_default(),
            metrics: match previous {
                Some(p) => p.metrics.clone(),
                None => self.metrics.for_action(),
            },
            record,
            limits,
            slots,
            env,
            params,
            redact,
        });
        names.insert(deployed.record.name.clone(), deployed.clone());
        Ok(deployed)
    }

    /// Stops serving an action; returns what was served.
    pub(crate) fn unpublish(&self, namespace: &str, name: &str) -> Option<Arc<Deployed>> {
        let gone = self
            .actions
            .write()
            .ok()?
            .get_mut(namespace)?
            .remove(name)?;
        self.invoker.retire(&gone.slots);
        if let Some(m) = &gone.metrics {
            self.metrics.release(m);
        }
        Some(gone)
    }

    /// Whether any deployed action runs the module with this hash.
    fn module_in_use(&self, hash: &str) -> bool {
        self.actions
            .read()
            .map(|m| {
                m.values()
                    .flat_map(|names| names.values())
                    .any(|a| a.record.module_hash == hash)
            })
            .unwrap_or(true)
    }

    /// Once no served action runs a module: drops its compiled code from
    /// memory, and from disk too when no kept version runs it either (else it
    /// stays there, for an instant rollback). A deploy of the same module
    /// racing this only costs that deploy's next cold start a load or a
    /// recompile.
    pub(crate) fn release_module(&self, hash: &str) {
        if self.module_in_use(hash) {
            return;
        }
        match self.registry.has_module(hash) {
            Ok(false) => self.invoker.forget(hash),
            Ok(true) => {
                self.invoker.evict(hash);
            }
            Err(e) => {
                tracing::warn!(%hash, "cannot tell whether a kept version runs a module: {e}");
                self.invoker.evict(hash);
            }
        }
    }
}

/// The keeper's view of the actions.
impl wisp_patterns::Actions for Controller {
    type Action = Deployed;

    fn actions(&self) -> Vec<Arc<Deployed>> {
        self.actions
            .read()
            .map(|m| m.values().flat_map(|n| n.values().cloned()).collect())
            .unwrap_or_default()
    }

    fn module_hash<'a>(&self, action: &'a Deployed) -> &'a str {
        &action.record.module_hash
    }

    fn calls<'a>(&self, action: &'a Deployed) -> &'a CallLog {
        &action.calls
    }
}

/// The keeper's view of the invoker.
impl wisp_patterns::Residency<Deployed> for Controller {
    fn capacity(&self) -> usize {
        self.invoker.capacity()
    }

    fn hot(&self) -> Vec<(String, usize)> {
        self.invoker.hot()
    }

    fn evict(&self, hash: &str) {
        self.invoker.evict(hash);
    }

    fn reserved(&self, action: &Deployed) -> usize {
        action.slots.reserved_slots()
    }

    fn reserve(&self, action: &Deployed, n: usize) {
        self.invoker.reserve(&action.slots, n);
    }
}
