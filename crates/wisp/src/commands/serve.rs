//! `wisp serve`: the Controller and Invoker in one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use wisp_controller::{ApiKey, Controller, ControllerConfig};
use wisp_invoker::{EngineConfig, Invoker, InvokerConfig};
use wisp_registry::RedbRegistry;

/// Run the wisp server.
#[derive(clap::Args, Debug)]
pub struct ServeCommand {
    /// Address to listen on; port 0 picks a free port. Default 127.0.0.1:8080:
    /// loopback only, until you decide to expose it.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where actions, compiled code and the generated API key are kept.
    #[arg(long, env = "WISP_DATA_DIR", default_value = "wisp-data")]
    data_dir: PathBuf,
    /// The API key (ID:SECRET). Default: WISP_API_KEY, else the key stored in the
    /// data directory, generated and printed once on first start.
    #[arg(long, env = "WISP_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Most instances running at once, all actions together (sizes the pooling
    /// allocator). Default 256: ample for a 2-core edge node.
    #[arg(long, default_value_t = 256)]
    max_instances: u32,
    /// Most linear memory any action may be given, in MiB. Default 512.
    #[arg(long, default_value_t = 512)]
    max_memory: u64,
    /// How long a call waits for a free instance before it gets 429, in ms.
    /// Default 5000.
    #[arg(long, default_value_t = 5000)]
    queue_timeout: u64,
    /// Most calls waiting for an instance at once; beyond, 429 at once.
    /// Default 1024.
    #[arg(long, default_value_t = 1024)]
    max_queue: usize,
    /// Largest invocation or web request body, in bytes (413 beyond). Default
    /// 10 MiB.
    #[arg(long, default_value_t = 10 << 20)]
    max_body: usize,
    /// Largest JSON result of an API call, in bytes. Default 1 MiB (OpenWhisk's).
    #[arg(long, default_value_t = 1 << 20)]
    max_result: usize,
    /// Largest web response body, in bytes. Default 10 MiB.
    #[arg(long, default_value_t = 10 << 20)]
    max_response: usize,
    /// Most bytes of stdout and of stderr kept per call, in bytes; a guest
    /// writing more is stopped. Default 10 MiB (OpenWhisk's log cap).
    #[arg(long, default_value_t = 10 << 20)]
    max_logs: usize,
    /// Time limit of actions deployed without one, in ms. Default 60000.
    #[arg(long, default_value_t = 60_000)]
    default_timeout: u64,
    /// Memory limit of actions deployed without one, in MiB. Default 256.
    #[arg(long, default_value_t = 256)]
    default_memory: u64,
    /// Largest `/data` quota an action may ask for, in MiB. Default 1024.
    #[arg(long, default_value_t = 1024)]
    max_storage: u64,
    /// Do not keep activation records (for measuring their cost).
    #[arg(long)]
    no_activation_log: bool,
    /// Most activation records kept, all namespaces together. Default 100000.
    #[arg(long, default_value_t = 100_000)]
    activation_retention_count: usize,
    /// Oldest activation record kept, in hours. Default 168 (7 days).
    #[arg(long, default_value_t = 168)]
    activation_retention_hours: u64,
    /// Compiled code kept in memory, in MiB; beyond, the access-pattern policy
    /// evicts templates (idle ones first; their code stays on disk, so a later
    /// call loads it instead of recompiling). Default 64.
    #[arg(long, default_value_t = 64)]
    hot_budget_mb: usize,
    /// The window, in seconds, over which each action's access pattern (idle,
    /// SCMA, MCSA, MCMA) is classified. Default 60.
    #[arg(long, default_value_t = 60)]
    pattern_window: u64,
    /// Worker threads serving requests. Default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Low-priority threads that guests running longer than 2 ms are moved to,
    /// so long computations cannot delay other functions' calls. Default 1.
    #[arg(long, default_value_t = 1)]
    long_running_threads: usize,
}

impl ServeCommand {
    /// Runs until SIGINT or SIGTERM.
    pub fn execute(self) -> anyhow::Result<()> {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("WISP_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_writer(std::io::stderr)
            .init();
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = self.threads {
            rt.worker_threads(n.max(1));
        }
        let runtime = rt.enable_all().build()?;
        runtime.block_on(self.run())
    }

    async fn run(self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))?;
        let api_key = resolve_key(self.api_key.as_deref(), &self.data_dir)?;
        let registry = RedbRegistry::open(self.data_dir.join("registry.redb"))
            .with_context(|| format!("cannot open the registry in {}", self.data_dir.display()))?;
        let invoker_config = InvokerConfig {
            engine: EngineConfig {
                max_instances: self.max_instances,
                max_memory_bytes: (self.max_memory as usize) << 20,
            },
            queue_timeout: Duration::from_millis(self.queue_timeout),
            max_queue: self.max_queue,
            max_log_bytes: self.max_logs,
            max_result_bytes: self.max_result,
            max_response_bytes: self.max_response,
            long_running_threads: self.long_running_threads,
        };
        let invoker = Invoker::new(&invoker_config, &self.data_dir.join("cache"))
            .context("cannot start the WebAssembly engine")?;
        let mut config = ControllerConfig::new(api_key);
        config.max_memory_mb = self.max_memory;
        config.max_body_bytes = self.max_body;
        config.max_storage_mb = self.max_storage;
        config.files_dir = self.data_dir.join("files");
        config.queue_timeout = Duration::from_millis(self.queue_timeout);
        config.max_queue = self.max_queue;
        config.hot_budget = self.hot_budget_mb << 20;
        config.pattern_window = Duration::from_secs(self.pattern_window.max(1));
        config.activation_log = !self.no_activation_log;
        config.retention = wisp_controller::activations::Retention {
            max_count: self.activation_retention_count,
            max_age: Duration::from_secs(self.activation_retention_hours * 3600),
        };
        config.default_limits.timeout = self.default_timeout.clamp(1, config.max_timeout_ms);
        config.default_limits.memory = self.default_memory.clamp(1, self.max_memory);
        let controller = Arc::new(Controller::new(
            config,
            Arc::new(registry),
            Arc::new(invoker),
        )?);
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        let addr = listener.local_addr()?;
        println!("wisp listening on http://{addr}");
        use std::io::Write;
        std::io::stdout().flush()?;
        controller.start().await;
        wisp_controller::serve(listener, controller.clone(), shutdown_signal()).await?;
        // Everything acknowledged is written before the process ends.
        controller.shutdown().await;
        eprintln!("wisp stopped");
        Ok(())
    }
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
    let path = data_dir.join("api-key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return text
            .parse()
            .map_err(|e: String| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key = ApiKey::generate()?;
    write_private(&path, &format!("{key}\n"))?;
    eprintln!("generated API key (stored in {}):", path.display());
    eprintln!("  {key}");
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
