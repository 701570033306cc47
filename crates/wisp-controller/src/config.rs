//! The server's one resolved configuration. `wisp serve` builds it from its flags
//! and environment; the Controller, the Invoker's settings and the deploy policy
//! are all derived from it, and every default is defined once, in [`defaults`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use wisp_api::{Limits, Policy};
use wisp_invoker::{EngineConfig, InvokerConfig, QueueConfig};

use crate::activations::Retention;
use crate::auth::ApiKey;

/// Every default of the server, with its reason. `wisp serve --help` shows them.
pub mod defaults {
    /// Loopback only, until the operator decides to expose it.
    pub const LISTEN: &str = "127.0.0.1:8080";
    /// Relative to where the server starts.
    pub const DATA_DIR: &str = "wisp-data";
    /// Instances running at once, all actions together (sizes the pooling
    /// allocator): ample for a 2-core edge node.
    pub const MAX_INSTANCES: u32 = 256;
    /// Most linear memory any action may be given, MiB.
    pub const MAX_MEMORY_MB: u64 = 512;
    /// Highest `limits.timeout` an action may ask for: 5 minutes.
    pub const MAX_TIMEOUT_MS: u64 = 300_000;
    /// Highest `/data` quota, MiB.
    pub const MAX_STORAGE_MB: u64 = 1024;
    /// Time limit of actions deployed without one (OpenWhisk's).
    pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
    /// Memory limit of actions deployed without one (OpenWhisk's).
    pub const DEFAULT_MEMORY_MB: u64 = 256;
    /// How long a call waits for an instance slot before it gets 429, ms.
    pub const QUEUE_TIMEOUT_MS: u64 = 5_000;
    /// Calls waiting for slots at once (of the pool, and of each capped action).
    pub const MAX_QUEUE: usize = 1024;
    /// Largest invocation or web request body, bytes.
    pub const MAX_BODY_BYTES: usize = 10 << 20;
    /// Largest deploy (the module, possibly base64 in JSON) or asset archive.
    pub const MAX_DEPLOY_BYTES: usize = 64 << 20;
    /// Largest JSON result of an API call (OpenWhisk's).
    pub const MAX_RESULT_BYTES: usize = 1 << 20;
    /// Largest web response body.
    pub const MAX_RESPONSE_BYTES: usize = 10 << 20;
    /// Bytes of stdout and of stderr kept per call (OpenWhisk's log cap).
    pub const MAX_LOG_BYTES: usize = 10 << 20;
    /// Activation records kept, all namespaces together.
    pub const RETENTION_COUNT: usize = 100_000;
    /// Oldest activation record kept, hours (7 days).
    pub const RETENTION_HOURS: u64 = 168;
    /// Most disk all activation records take, MiB: a function that floods its
    /// output keeps 10 MiB of logs per call.
    pub const RETENTION_MB: u64 = 512;
    /// Compiled code kept in memory, MiB.
    pub const HOT_BUDGET_MB: usize = 64;
    /// The window access patterns are classified over, seconds.
    pub const PATTERN_WINDOW_S: u64 = 60;
    /// Low-priority threads long-running guests move to.
    pub const LONG_RUNNING_THREADS: usize = 1;
    /// Open connections at once; beyond, new ones wait in the kernel's backlog.
    /// Each costs a task and its buffers (a few KiB), so 1024 stays small.
    pub const MAX_CONNECTIONS: usize = 1024;
    /// Time a client has to send a request's headers, seconds (a connection
    /// idle between requests is closed after this too).
    pub const HEADER_TIMEOUT_S: u64 = 10;
    /// Time a request body may take to arrive, seconds.
    pub const BODY_TIMEOUT_S: u64 = 30;
    /// Time a drain gives the calls in flight, seconds: Kubernetes' default
    /// termination grace period.
    pub const DRAIN_TIMEOUT_S: u64 = 30;
    /// Time an action's init export may run at deploy, seconds.
    pub const INIT_TIMEOUT_S: u64 = 10;
    /// Versions of each action kept, with their modules and compiled code.
    pub const KEEP_VERSIONS: usize = 10;
    /// Bytes of keys and values each namespace's key-value stores may hold,
    /// all together: ample for counters, sessions and caches, small beside
    /// the disk of an edge node.
    pub const KV_QUOTA_BYTES: u64 = 64 << 20;
    /// Actions with metric series of their own; the calls of the others are
    /// counted under `action="_other"`. Each action has 61 series, so 500
    /// keep a scrape near 30,000 series.
    pub const METRICS_MAX_ACTIONS: usize = 500;
}

/// What `wisp serve` runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The server's own key: it owns the default namespace and manages the
    /// others.
    pub api_key: ApiKey,
    /// Where the registry, compiled code and action files live.
    pub data_dir: PathBuf,
    /// Instances running at once (the pool).
    pub max_instances: u32,
    /// Highest `limits.memory`, MiB.
    pub max_memory_mb: u64,
    /// Highest `limits.timeout`, ms.
    pub max_timeout_ms: u64,
    /// Highest `limits.storage`, MiB.
    pub max_storage_mb: u64,
    /// Limits of an action deployed without its own.
    pub default_limits: Limits,
    /// How calls wait for slots.
    pub queue: QueueConfig,
    /// Largest invocation or web request body.
    pub max_body_bytes: usize,
    /// Largest deploy or asset archive.
    pub max_deploy_bytes: usize,
    /// Largest API result.
    pub max_result_bytes: usize,
    /// Largest web response.
    pub max_response_bytes: usize,
    /// stdout and stderr kept per call.
    pub max_log_bytes: usize,
    /// Whether activation records are kept.
    pub activation_log: bool,
    /// How many records are kept, and for how long.
    pub retention: Retention,
    /// Bytes of compiled code kept in memory.
    pub hot_budget: usize,
    /// The window access patterns are classified over.
    pub pattern_window: Duration,
    /// Threads of the long-running pool.
    pub long_running_threads: usize,
    /// Open connections at once.
    pub max_connections: usize,
    /// Time to send a request's headers.
    pub header_timeout: Duration,
    /// Time for a request body to arrive.
    pub body_timeout: Duration,
    /// Time the calls in flight get to finish once a drain begins.
    pub drain_timeout: Duration,
    /// Time an action's init export may run at deploy, before its snapshot.
    pub init_timeout: Duration,
    /// Versions of each action kept (at least 1: the current one).
    pub keep_versions: usize,
    /// Bytes of keys and values each namespace's key-value stores may hold.
    pub kv_quota_bytes: u64,
    /// Whether metrics are recorded and `/metrics` served.
    pub metrics: bool,
    /// Actions with metric series of their own.
    pub metrics_max_actions: usize,
    /// A bearer token that may read `/metrics`, besides the server's own key.
    pub metrics_token: Option<String>,
    /// An address that serves `/metrics` (only) without authentication.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The key file sealing secret parameters (docs/secrets.md); `None`:
    /// [`crate::secrets::default_key_file`].
    pub secret_key_file: Option<PathBuf>,
    /// A shared registry (`postgres://USER@HOST:PORT/DB`) instead of the
    /// embedded one in `data_dir`: the nodes of a fleet (docs/fleet.md).
    pub registry_url: Option<String>,
    /// An OCI repository (`oci://HOST:PORT/REPO`) holding the module
    /// binaries; the registry then keeps only their metadata.
    pub artifacts_url: Option<String>,
}

impl ServerConfig {
    /// Every default, with this key and data directory.
    pub fn new(api_key: ApiKey, data_dir: impl Into<PathBuf>) -> Self {
        use defaults::*;
        ServerConfig {
            api_key,
            data_dir: data_dir.into(),
            max_instances: MAX_INSTANCES,
            max_memory_mb: MAX_MEMORY_MB,
            max_timeout_ms: MAX_TIMEOUT_MS,
            max_storage_mb: MAX_STORAGE_MB,
            default_limits: Limits {
                timeout: DEFAULT_TIMEOUT_MS,
                memory: DEFAULT_MEMORY_MB,
                storage: 0,
                instances: 0,
            },
            queue: QueueConfig {
                queue_timeout: Duration::from_millis(QUEUE_TIMEOUT_MS),
                max_queue: MAX_QUEUE,
            },
            max_body_bytes: MAX_BODY_BYTES,
            max_deploy_bytes: MAX_DEPLOY_BYTES,
            max_result_bytes: MAX_RESULT_BYTES,
            max_response_bytes: MAX_RESPONSE_BYTES,
            max_log_bytes: MAX_LOG_BYTES,
            activation_log: true,
            retention: Retention {
                max_count: RETENTION_COUNT,
                max_age: Duration::from_secs(RETENTION_HOURS * 3600),
                max_bytes: RETENTION_MB << 20,
            },
            hot_budget: HOT_BUDGET_MB << 20,
            pattern_window: Duration::from_secs(PATTERN_WINDOW_S),
            long_running_threads: LONG_RUNNING_THREADS,
            max_connections: MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(HEADER_TIMEOUT_S),
            body_timeout: Duration::from_secs(BODY_TIMEOUT_S),
            drain_timeout: Duration::from_secs(DRAIN_TIMEOUT_S),
            init_timeout: Duration::from_secs(INIT_TIMEOUT_S),
            keep_versions: KEEP_VERSIONS,
            kv_quota_bytes: KV_QUOTA_BYTES,
            metrics: true,
            metrics_max_actions: METRICS_MAX_ACTIONS,
            metrics_token: None,
            metrics_listen: None,
            secret_key_file: None,
            registry_url: None,
            artifacts_url: None,
        }
    }

    /// Refuses settings that contradict each other, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            (
                self.max_instances == 0,
                "--max-instances must be at least 1",
            ),
            (
                self.keep_versions == 0,
                "--keep-versions must be at least 1 (the current version)",
            ),
            (
                self.max_memory_mb == 0,
                "--max-memory must be at least 1 MiB",
            ),
            (
                self.default_limits.memory > self.max_memory_mb,
                "--default-memory must not exceed --max-memory",
            ),
            (
                self.default_limits.timeout == 0
                    || self.default_limits.timeout > self.max_timeout_ms,
                "--default-timeout must be between 1 and --max-timeout",
            ),
            (
                self.max_connections == 0,
                "--max-connections must be at least 1",
            ),
            (
                self.pattern_window.is_zero(),
                "--pattern-window must be at least 1 second",
            ),
            (
                self.metrics_token
                    .as_deref()
                    .is_some_and(|t| t.trim().is_empty()),
                "--metrics-token must not be empty",
            ),
            (
                !self.metrics && self.metrics_listen.is_some(),
                "--metrics-listen serves metrics, which --no-metrics turns off",
            ),
        ];
        match checks.iter().find(|(bad, _)| *bad) {
            Some((_, why)) => Err((*why).to_string()),
            None => Ok(()),
        }
    }

    /// What deploys are checked against.
    pub fn policy(&self) -> Policy {
        Policy {
            max_timeout_ms: self.max_timeout_ms,
            max_memory_mb: self.max_memory_mb,
            max_storage_mb: self.max_storage_mb,
            max_instances: u64::from(self.max_instances),
            defaults: self.default_limits,
        }
    }

    /// The Invoker's settings.
    pub fn invoker(&self) -> InvokerConfig {
        InvokerConfig {
            engine: EngineConfig {
                max_instances: self.max_instances,
                max_memory_bytes: (self.max_memory_mb as usize) << 20,
            },
            queue: self.queue,
            max_request_bytes: self.max_body_bytes,
            body_timeout: self.body_timeout,
            max_log_bytes: self.max_log_bytes,
            max_result_bytes: self.max_result_bytes,
            max_response_bytes: self.max_response_bytes,
            long_running_threads: self.long_running_threads,
            count_in_flight: self.metrics,
        }
    }

    /// The registry's database file.
    pub fn registry_path(&self) -> PathBuf {
        self.data_dir.join("registry.redb")
    }

    /// The compiled-code cache.
    pub fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }

    /// Where each action's `data` and `assets` live:
    /// `FILES/{namespace}/{name}/{data,assets}`.
    pub fn files_dir(&self) -> PathBuf {
        self.data_dir.join("files")
    }

    /// The generated key's file.
    pub fn key_file(data_dir: &Path) -> PathBuf {
        data_dir.join("api-key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ServerConfig {
        ServerConfig::new("a:b".parse().unwrap(), "d")
    }

    #[test]
    fn the_defaults_are_consistent_and_derive_the_invoker_and_policy() {
        let c = config();
        assert_eq!(c.validate(), Ok(()));
        let p = c.policy();
        assert_eq!(p.max_instances, u64::from(defaults::MAX_INSTANCES));
        assert_eq!(p.defaults.memory, defaults::DEFAULT_MEMORY_MB);
        let i = c.invoker();
        assert_eq!(i.engine.max_instances, defaults::MAX_INSTANCES);
        assert_eq!(i.queue.max_queue, defaults::MAX_QUEUE);
        assert_eq!(i.max_request_bytes, defaults::MAX_BODY_BYTES);
    }

    #[test]
    fn contradictions_name_the_flag() {
        let mut c = config();
        c.default_limits.memory = c.max_memory_mb + 1;
        assert!(c.validate().unwrap_err().contains("--default-memory"));
        let mut c = config();
        c.max_instances = 0;
        assert!(c.validate().unwrap_err().contains("--max-instances"));
        let mut c = config();
        c.metrics = false;
        c.metrics_listen = Some("127.0.0.1:9100".parse().unwrap());
        assert!(c.validate().unwrap_err().contains("--metrics-listen"));
        let mut c = config();
        c.metrics_token = Some(" ".into());
        assert!(c.validate().unwrap_err().contains("--metrics-token"));
    }
}
