//! `wisp serve`: the Controller and Invoker in one process. Its flags become the
//! one [`ServerConfig`]; every default is in `wisp_controller::config::defaults`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wisp_controller::config::defaults;
use wisp_controller::{ApiKey, Controller, ServerConfig};
use wisp_invoker::Invoker;
use wisp_registry::{ModuleStore, PgRegistry, RedbRegistry, Registry};

use crate::client::GlobalOptions;

/// Run the wisp server. `--data-dir` and `--api-key` (global options) say where
/// it keeps its data and which key it accepts.
#[derive(clap::Args, Debug)]
pub struct ServeCommand {
    /// Address to listen on; port 0 picks a free port. Loopback only by default,
    /// until you decide to expose it.
    #[arg(long, default_value = defaults::LISTEN)]
    listen: SocketAddr,
    /// Most instances running at once, all actions together (sizes the pooling
    /// allocator); also the highest `limits.instances`.
    #[arg(long, default_value_t = defaults::MAX_INSTANCES)]
    max_instances: u32,
    /// Most linear memory any action may be given, in MiB.
    #[arg(long, default_value_t = defaults::MAX_MEMORY_MB)]
    max_memory: u64,
    /// Highest time limit an action may ask for, in ms.
    #[arg(long, default_value_t = defaults::MAX_TIMEOUT_MS)]
    max_timeout: u64,
    /// How long a call waits for a free instance (of the pool, or of its
    /// action's own cap) before it gets 429, in ms.
    #[arg(long, default_value_t = defaults::QUEUE_TIMEOUT_MS)]
    queue_timeout: u64,
    /// Most calls waiting for instances at once (of the pool, and of each capped
    /// action); beyond, 429 at once.
    #[arg(long, default_value_t = defaults::MAX_QUEUE)]
    max_queue: usize,
    /// Largest invocation or web request body, in bytes (413 beyond).
    #[arg(long, default_value_t = defaults::MAX_BODY_BYTES)]
    max_body: usize,
    /// Largest deploy (module or action document) or asset archive, in bytes.
    #[arg(long, default_value_t = defaults::MAX_DEPLOY_BYTES)]
    max_deploy: usize,
    /// Largest JSON result of an API call, in bytes (OpenWhisk's 1 MiB).
    #[arg(long, default_value_t = defaults::MAX_RESULT_BYTES)]
    max_result: usize,
    /// Largest web response body, in bytes.
    #[arg(long, default_value_t = defaults::MAX_RESPONSE_BYTES)]
    max_response: usize,
    /// Most bytes of stdout and of stderr kept per call; a guest writing more
    /// is stopped (OpenWhisk's log cap).
    #[arg(long, default_value_t = defaults::MAX_LOG_BYTES)]
    max_logs: usize,
    /// Time limit of actions deployed without one, in ms.
    #[arg(long, default_value_t = defaults::DEFAULT_TIMEOUT_MS)]
    default_timeout: u64,
    /// Memory limit of actions deployed without one, in MiB.
    #[arg(long, default_value_t = defaults::DEFAULT_MEMORY_MB)]
    default_memory: u64,
    /// Largest `/data` quota an action may ask for, in MiB.
    #[arg(long, default_value_t = defaults::MAX_STORAGE_MB)]
    max_storage: u64,
    /// Do not keep activation records (for measuring their cost).
    #[arg(long)]
    no_activation_log: bool,
    /// Most activation records kept, all namespaces together.
    #[arg(long, default_value_t = defaults::RETENTION_COUNT)]
    activation_retention_count: usize,
    /// Oldest activation record kept, in hours (7 days).
    #[arg(long, default_value_t = defaults::RETENTION_HOURS)]
    activation_retention_hours: u64,
    /// Most disk all activation records take, in MiB; the oldest go first.
    #[arg(long, default_value_t = defaults::RETENTION_MB)]
    activation_retention_mb: u64,
    /// Compiled code kept in memory, in MiB; beyond, the access-pattern policy
    /// evicts templates (idle ones first; their code stays on disk, so a later
    /// call loads it instead of recompiling).
    #[arg(long, default_value_t = defaults::HOT_BUDGET_MB)]
    hot_budget_mb: usize,
    /// The window, in seconds, over which each action's access pattern (idle,
    /// SCMA, MCSA, MCMA) is classified.
    #[arg(long, default_value_t = defaults::PATTERN_WINDOW_S)]
    pattern_window: u64,
    /// Most connections open at once; beyond, new ones wait in the kernel's
    /// backlog until one closes.
    #[arg(long, default_value_t = defaults::MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a client has to send a request's headers; a connection idle
    /// that long between requests is closed.
    #[arg(long, default_value_t = defaults::HEADER_TIMEOUT_S)]
    header_timeout: u64,
    /// Seconds a request body may take to arrive (408 beyond).
    #[arg(long, default_value_t = defaults::BODY_TIMEOUT_S)]
    body_timeout: u64,
    /// Threads serving requests, each a single-threaded runtime with its own
    /// listener on the port (SO_REUSEPORT). Default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds the calls in flight get to finish after SIGTERM or SIGINT; new
    /// requests meanwhile get 503 with Retry-After.
    #[arg(long, default_value_t = defaults::DRAIN_TIMEOUT_S)]
    drain_timeout: u64,
    /// Seconds an action's init export (`wizer-initialize`, or the `init`
    /// annotation's) may run at deploy before its instance is snapshotted.
    #[arg(long, default_value_t = defaults::INIT_TIMEOUT_S, value_parser = clap::value_parser!(u64).range(1..=3600))]
    init_timeout: u64,
    /// Versions of each action kept, with their modules and compiled code, for
    /// rollback.
    #[arg(long, default_value_t = defaults::KEEP_VERSIONS)]
    keep_versions: usize,
    /// Bytes of keys and values each namespace's key-value stores may hold,
    /// all together (64 MiB); a write past it is refused (507 over REST, an
    /// error inside a function).
    #[arg(long, default_value_t = defaults::KV_QUOTA_BYTES)]
    kv_quota_bytes: u64,
    /// Log line format on stderr: `text` for people, `json` (one object per
    /// line) for a log pipeline. The level is set with WISP_LOG (default warn).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Low-priority threads that guests running longer than 2 ms are moved to,
    /// so long computations cannot delay other functions' calls.
    #[arg(long, default_value_t = defaults::LONG_RUNNING_THREADS)]
    long_running_threads: usize,
    /// Do not record or serve metrics (for measuring their cost); `/metrics`
    /// then answers 404.
    #[arg(long)]
    no_metrics: bool,
    /// Actions with metric series of their own (labels `namespace`,
    /// `action`); the calls of actions published beyond are counted under
    /// `namespace="_other", action="_other"`.
    #[arg(long, default_value_t = defaults::METRICS_MAX_ACTIONS)]
    metrics_max_actions: usize,
    /// A token that may read `/metrics` as `Authorization: Bearer TOKEN`,
    /// besides the server's own key. Best given in the environment, where
    /// `ps` does not show it.
    #[arg(long, env = "WISP_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Also serve `/metrics`, and nothing else, without authentication on this
    /// address: for a scraper on the node itself (keep it on loopback).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// The 32-byte key sealing secret parameters at rest; created (0600,
    /// random) when missing. Keep it outside the data directory (default
    /// `$XDG_CONFIG_HOME/wisp/secret.key`, else `~/.config/wisp/secret.key`).
    #[arg(long, env = "WISP_SECRET_KEY_FILE", value_name = "PATH")]
    secret_key_file: Option<std::path::PathBuf>,
    /// Keep actions, versions, modules, namespaces, keys, activation records,
    /// key-value stores, triggers, rules and alarms in this PostgreSQL
    /// database (`postgres://USER[:PASSWORD]@HOST:PORT/DB`), shared by every
    /// node of a fleet, instead of the embedded registry in the data
    /// directory. Its schema is created or upgraded at start.
    #[arg(
        long,
        env = "WISP_REGISTRY",
        value_name = "URL",
        hide_env_values = true
    )]
    registry: Option<String>,
    /// Keep module binaries in this OCI repository
    /// (`oci://HOST[:PORT]/REPO`), each a Wasm artifact tagged with its hash,
    /// and only their metadata in the registry; a node pulls a module the
    /// first time it needs it. Loopback registries are spoken to over HTTP;
    /// WISP_OCI_USERNAME and WISP_OCI_PASSWORD give credentials.
    #[arg(long, env = "WISP_ARTIFACTS", value_name = "URL")]
    artifacts: Option<String>,
}

impl ServeCommand {
    /// Runs until SIGINT or SIGTERM.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        init_logging(self.log_format);
        std::fs::create_dir_all(&global.data_dir).with_context(|| {
            format!("cannot create data directory {}", global.data_dir.display())
        })?;
        let api_key = resolve_key(global.api_key.as_deref(), &global.data_dir)?;
        let config = self.config(api_key, global);
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run(config, self.listen, threads))
    }

    /// The server configuration the flags describe.
    fn config(&self, api_key: ApiKey, global: &GlobalOptions) -> ServerConfig {
        let mut c = ServerConfig::new(api_key, &global.data_dir);
        c.max_instances = self.max_instances;
        c.max_memory_mb = self.max_memory;
        c.max_timeout_ms = self.max_timeout;
        c.max_storage_mb = self.max_storage;
        c.default_limits.timeout = self.default_timeout;
        c.default_limits.memory = self.default_memory;
        c.queue.queue_timeout = Duration::from_millis(self.queue_timeout);
        c.queue.max_queue = self.max_queue;
        c.max_body_bytes = self.max_body;
        c.max_deploy_bytes = self.max_deploy;
        c.max_result_bytes = self.max_result;
        c.max_response_bytes = self.max_response;
        c.max_log_bytes = self.max_logs;
        c.activation_log = !self.no_activation_log;
        c.retention.max_count = self.activation_retention_count;
        c.retention.max_age = Duration::from_secs(self.activation_retention_hours * 3600);
        c.retention.max_bytes = self.activation_retention_mb << 20;
        c.hot_budget = self.hot_budget_mb << 20;
        c.pattern_window = Duration::from_secs(self.pattern_window);
        c.long_running_threads = self.long_running_threads;
        c.max_connections = self.max_connections;
        c.header_timeout = Duration::from_secs(self.header_timeout);
        c.body_timeout = Duration::from_secs(self.body_timeout);
        c.drain_timeout = Duration::from_secs(self.drain_timeout);
        c.init_timeout = Duration::from_secs(self.init_timeout);
        c.keep_versions = self.keep_versions;
        c.kv_quota_bytes = self.kv_quota_bytes;
        c.metrics = !self.no_metrics;
        c.metrics_max_actions = self.metrics_max_actions;
        c.metrics_token = self.metrics_token.clone();
        c.metrics_listen = self.metrics_listen;
        c.secret_key_file = self.secret_key_file.clone();
        c.registry_url = self.registry.clone();
        c.artifacts_url = self.artifacts.clone();
        c
    }
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the event's
    /// fields (`message` among them) and `span` with `request_id` and
    /// `activation_id`.
    Json,
}

/// Logs to stderr at the level WISP_LOG sets (default `warn`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WISP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// The registry `--registry` names, else the embedded one in the data
/// directory.
fn open_registry(config: &ServerConfig) -> anyhow::Result<Arc<dyn Registry>> {
    let modules: Option<Arc<dyn ModuleStore>> = match &config.artifacts_url {
        Some(url) => {
            let store = crate::oci::OciModules::new(url).context("--artifacts")?;
            announce(&format!("wisp modules: OCI artifacts in {url}"));
            Some(Arc::new(store))
        }
        None => None,
    };
    match &config.registry_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let mut registry = PgRegistry::open(url)
                .context("cannot open the shared registry (--registry)")?
                .keep_versions(config.keep_versions)
                .kv_quota(config.kv_quota_bytes);
            if let Some(m) = modules {
                registry = registry.module_store(m);
            }
            announce(&format!(
                "wisp registry: PostgreSQL at {}",
                registry.target()
            ));
            Ok(Arc::new(registry))
        }
        // Not echoed: it may hold a password.
        Some(_) => anyhow::bail!(
            "--registry takes a PostgreSQL URL, postgres://USER[:PASSWORD]@HOST:PORT/DB"
        ),
        None => {
            let mut registry = RedbRegistry::open(config.registry_path())
                .with_context(|| {
                    format!("cannot open the registry in {}", config.data_dir.display())
                })?
                .keep_versions(config.keep_versions)
                .kv_quota(config.kv_quota_bytes);
            if let Some(m) = modules {
                registry = registry.module_store(m);
            }
            Ok(Arc::new(registry))
        }
    }
}

/// Serves on `threads` single-threaded runtimes: this one (which also runs the
/// background work and waits for the signal) and `threads - 1` more, each with
/// its own listener on the same port.
async fn run(config: ServerConfig, listen: SocketAddr, threads: usize) -> anyhow::Result<()> {
    // The listeners share their port (SO_REUSEPORT), and so would another
    // process's: a plain bind first refuses a port that anything listens on,
    // so a second server never silently takes half of another's connections.
    if listen.port() != 0 {
        std::net::TcpListener::bind(listen).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {listen}: {e} (is another server already listening there?)"
            )
        })?;
    }
    // Bound first, so health checks are answered while the registry opens
    // and compiled code loads back.
    let first = wisp_controller::server::listener(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = first.local_addr()?;
    // Announcements go to stdout; stderr carries the log (JSON with
    // --log-format json).
    announce(&format!("wisp starting on http://{addr}"));
    let opening = tokio::task::spawn_blocking(move || -> anyhow::Result<Controller> {
        let registry = open_registry(&config)?;
        let invoker = Invoker::new(&config.invoker(), &config.cache_dir())
            .context("cannot start the WebAssembly engine")?;
        Controller::new(config, registry, Arc::new(invoker))
    });
    let controller = Arc::new(
        wisp_controller::server::serve_starting(&first, opening)
            .await
            .context("the server failed while starting")??,
    );
    // Retention and the background work start before any listener serves.
    controller.start().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // The metrics listener outlives the drain, which it shows.
    let (metrics_stop, metrics_stopped) = tokio::sync::watch::channel(false);
    if let Some(at) = controller.config().metrics_listen {
        let listener = tokio::net::TcpListener::bind(at)
            .await
            .with_context(|| format!("cannot listen on {at} (--metrics-listen)"))?;
        eprintln!("wisp metrics on http://{}/metrics", listener.local_addr()?);
        tokio::spawn(wisp_controller::handlers::metrics::serve_local(
            listener,
            controller.clone(),
            stop_signal(metrics_stopped),
        ));
    }
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let mut workers = Vec::new();
    for i in 1..threads {
        let (ctl, stopped, bound) = (controller.clone(), stopped.clone(), bound_tx.clone());
        let worker = std::thread::Builder::new()
            .name(format!("wisp-serve-{i}"))
            .spawn(move || -> anyhow::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let bound_now = wisp_controller::server::listener(addr);
                    let listener = match bound_now {
                        Ok(l) => {
                            let _ = bound.send(Ok(()));
                            l
                        }
                        Err(e) => {
                            let _ = bound.send(Err(e));
                            return Ok(());
                        }
                    };
                    drop(bound);
                    wisp_controller::serve(listener, ctl, stop_signal(stopped)).await?;
                    Ok(())
                })
            })?;
        workers.push(worker);
    }
    drop(bound_tx);
    for _ in 1..threads {
        match bound_rx.recv() {
            Ok(result) => {
                result.with_context(|| format!("cannot listen on {addr} again (SO_REUSEPORT)"))?
            }
            Err(_) => anyhow::bail!("a serving thread failed to start"),
        }
    }
    announce(&format!("wisp listening on http://{addr}"));
    let lifecycle = controller.lifecycle().clone();
    let signal = async move {
        shutdown_signal().await;
        // Every thread's requests get 503 from now on, before the listeners close.
        lifecycle.begin_drain();
        let _ = stop.send(true);
    };
    wisp_controller::serve(first, controller.clone(), signal).await?;
    for w in workers {
        match tokio::task::spawn_blocking(move || w.join()).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!("a serving thread failed: {e:#}"),
            _ => tracing::error!("a serving thread panicked"),
        }
    }
    let _ = metrics_stop.send(true);
    // Everything acknowledged is written before the process ends.
    controller.shutdown().await;
    tracing::info!("wisp stopped");
    Ok(())
}

/// A line for the operator on stdout (stderr carries the log). A closed
/// stdout is no reason to stop serving.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Resolves once the main thread says to stop.
async fn stop_signal(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Resolves once SIGINT or SIGTERM arrives.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The given key, else the stored one, else a new one stored with mode 0600.
fn resolve_key(given: Option<&str>, data_dir: &Path) -> anyhow::Result<ApiKey> {
    if let Some(k) = given {
        return k
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--api-key: {e}"));
    }
    let path = ServerConfig::key_file(data_dir);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return text
            .parse()
            .map_err(|e: String| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key = ApiKey::generate()?;
    write_private(&path, &format!("{key}\n"))?;
    announce(&format!(
        "generated API key (stored in {}):\n  {key}",
        path.display()
    ));
    Ok(key)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
