//! wisp's Invoker: turns a deployed WebAssembly binary into answered calls.
//!
//! One [`Invoker`] owns the single wasmtime [`Engine`] of the process (Cranelift,
//! async, epoch interruption, pooling allocator). [`Invoker::prepare`] validates and
//! compiles a binary once, links it into a pre-instantiated template and caches the
//! native code in memory and on disk by content hash. Every call then gets a brand
//! new `Store` and instance from that template, dropped when the call ends: no
//! state survives between calls.
//!
//! Two function shapes are detected from the binary:
//! - `wasi:http/proxy` components ([`Shape::Http`]), served as `wasmtime serve`
//!   serves them;
//! - WASI preview1 command modules ([`Shape::Command`]), called with CGI
//!   conventions for web requests and JSON on stdin/stdout for API calls
//!   (see [`cgi`]).

pub mod cache;
mod capture;
pub mod cgi;
mod command;
pub mod demote;
pub mod engine;
pub mod gate;
mod http_component;
pub mod sandbox;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Engine;

pub use cache::DiskCache;
pub use cgi::WebFacts;
pub use engine::EngineConfig;
pub use http_component::ROUTE_PREFIX_HEADER;
pub use sandbox::Grants;

/// Error type carried by response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of responses produced by guests.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// The shape of a function, detected from its binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A `wasi:http/proxy` component exporting `wasi:http/incoming-handler`.
    Http,
    /// A WASI preview1 command module exporting `_start`.
    Command,
}

impl Shape {
    /// The name stored in the registry.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Http => "http",
            Shape::Command => "command",
        }
    }
}

/// Reads the binary's preamble: `\0asm`, then version 1 for core modules or the
/// component-model layer for components.
pub fn detect_shape(bytes: &[u8]) -> Result<Shape, DeployError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(DeployError::Invalid(
            "not a WebAssembly binary (it does not start with the \\0asm magic number)".into(),
        ));
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Ok(Shape::Command),
        [_, _, 1, 0] => Ok(Shape::Http),
        _ => Err(DeployError::Invalid(format!(
            "unsupported WebAssembly binary version {:02x?}",
            &bytes[4..8]
        ))),
    }
}

/// Why a binary cannot be deployed. All are the deployer's fault (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Not valid WebAssembly, or not a shape wisp runs.
    #[error("{0}")]
    Invalid(String),
    /// The binary imports functions wisp does not provide.
    #[error("the module imports what wisp does not provide: {}", .0.join(", "))]
    MissingImports(Vec<String>),
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The wall-clock limit passed; the instance was killed.
    #[error("the action exceeded its time limit of {0} milliseconds")]
    Timeout(u64),
    /// The guest trapped (unreachable, out-of-bounds access, stack overflow, ...).
    #[error("the action failed: {0}")]
    Trap(String),
    /// The guest tried to grow its memory past its limit, and failed because of it.
    #[error("the action exceeded its memory limit of {0} MB")]
    MemoryLimit(u64),
    /// The guest wrote more than a cap allows.
    #[error("the action's {what} exceeded the limit of {limit} bytes")]
    OutputTooLarge {
        /// Which output: `stdout`, `stderr`, `response` or `result`.
        what: &'static str,
        /// The cap in bytes.
        limit: usize,
    },
    /// The private `/data` directory grew past its quota.
    #[error("the action's /data directory holds {used} bytes, over its quota of {quota} bytes")]
    StorageQuota {
        /// Bytes in use after the call.
        used: u64,
        /// The quota.
        quota: u64,
    },
    /// A command module exited with a non-zero status.
    #[error("the action exited with status {code}{}", if .stderr.is_empty() { String::new() } else { format!(": {}", .stderr) })]
    Exit {
        /// The exit status.
        code: i32,
        /// The end of its stderr, to tell the caller why.
        stderr: String,
    },
    /// The guest's output broke the ABI (no JSON result, no response).
    #[error("{0}")]
    BadOutput(String),
    /// Every instance slot is busy and the wait for one timed out.
    #[error("too many invocations in flight; retry later")]
    Overloaded,
    /// A failure of wisp itself.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Limits and grants one invocation runs under.
#[derive(Debug, Clone)]
pub struct InvokeLimits {
    /// Wall-clock deadline.
    pub timeout: Duration,
    /// Most linear memory, in bytes.
    pub memory_bytes: usize,
    /// Directories and hosts the action may reach.
    pub grants: Grants,
    /// Instance slots set aside for this action, tried before the shared pool.
    pub reserved: Option<Arc<gate::Reservation>>,
}

/// Where a call's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warmth {
    /// Compiled code and template were in memory.
    Hot,
    /// Loaded from the disk cache (a cold start without compiling).
    Disk,
    /// Compiled from the WebAssembly binary.
    Compiled,
}

impl Warmth {
    /// `hot`, `cold-disk` or `cold-compiled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Warmth::Hot => "hot",
            Warmth::Disk => "cold-disk",
            Warmth::Compiled => "cold-compiled",
        }
    }
}

/// A web request as the invoker sees it: the body is already read.
#[derive(Debug)]
pub struct WebRequest {
    /// Method, headers, path below the route and the rest of the request facts.
    pub facts: WebFacts,
    /// The request body.
    pub body: Bytes,
    /// Environment variables the action declares (its parameters), given to
    /// command modules after the CGI variables.
    pub env: Vec<(String, String)>,
}

/// The outcome of an API (JSON) invocation.
#[derive(Debug, Clone)]
pub struct JsonOutcome {
    /// The result object.
    pub result: serde_json::Value,
    /// Log lines: stdout before the result line, then stderr.
    pub logs: Vec<LogLine>,
    /// Time spent waiting for an instance slot.
    pub wait: Duration,
    /// Time spent creating the instance.
    pub init: Duration,
}

/// One line a guest wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The text, without its newline.
    pub text: String,
}

/// The guest output of a web call, read when its activation record is written.
/// A component may still be streaming its body when the call returns, so its
/// stdout and stderr are read then, not now.
#[derive(Clone, Default)]
pub struct WebLogs(WebLogSource);

#[derive(Clone, Default)]
enum WebLogSource {
    #[default]
    None,
    /// Complete lines (a command's stderr: its stdout was the response).
    Lines(Arc<Vec<LogLine>>),
    /// A component's output buffers, still being written while it runs.
    Live {
        stdout: capture::Capture,
        stderr: capture::Capture,
    },
}

impl std::fmt::Debug for WebLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebLogs")
    }
}

impl WebLogs {
    /// The lines written so far, stdout first.
    pub fn lines(&self) -> Vec<LogLine> {
        match &self.0 {
            WebLogSource::None => Vec::new(),
            WebLogSource::Lines(lines) => lines.to_vec(),
            WebLogSource::Live { stdout, stderr } => {
                tagged("stdout", cgi::log_lines(&stdout.contents(), false))
                    .chain(tagged("stderr", cgi::log_lines(&stderr.contents(), false)))
                    .collect()
            }
        }
    }
}

/// Tags captured lines with their stream.
fn tagged(stream: &'static str, lines: Vec<String>) -> impl Iterator<Item = LogLine> {
    lines.into_iter().map(move |text| LogLine { stream, text })
}

/// A validated, compiled and linked function, ready to be instantiated.
pub struct Prepared {
    /// Detected shape.
    pub shape: Shape,
    /// SHA-256 of the binary.
    pub hash: String,
    /// Bytes of compiled code it holds in memory (its artifact's size).
    pub code_bytes: usize,
    template: Template,
    /// Whether its last call ran longer than [`demote::DEMOTE_AFTER`]: its next
    /// call starts on the long-running pool.
    runs_long: demote::RunsLong,
}

enum Template {
    Http(wasmtime_wasi_http::p2::bindings::ProxyPre<http_component::HttpState>),
    Command(wasmtime::InstancePre<command::CommandState>),
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("shape", &self.shape)
            .field("hash", &self.hash)
            .finish()
    }
}

/// How invocations of one process share the machine, and the output caps.
#[derive(Debug, Clone)]
pub struct InvokerConfig {
    /// Engine settings.
    pub engine: EngineConfig,
    /// How long a call waits for a free instance slot before it is refused.
    pub queue_timeout: Duration,
    /// Most calls waiting for an instance slot at once; beyond, calls are refused
    /// at once.
    pub max_queue: usize,
    /// Bytes of stdout and of stderr kept as logs of one call (OpenWhisk: 10 MB).
    pub max_log_bytes: usize,
    /// Bytes of one API call's JSON result (OpenWhisk: 1 MB).
    pub max_result_bytes: usize,
    /// Bytes of one web call's response body.
    pub max_response_bytes: usize,
    /// Threads of the low-priority pool that guests running longer than
    /// [`demote::DEMOTE_AFTER`] are moved to.
    pub long_running_threads: usize,
}

impl Default for InvokerConfig {
    fn default() -> Self {
        InvokerConfig {
            engine: EngineConfig::default(),
            queue_timeout: Duration::from_secs(5),
            max_queue: 1024,
            max_log_bytes: 10 << 20,
            max_result_bytes: 1 << 20,
            max_response_bytes: 10 << 20,
            long_running_threads: 1,
        }
    }
}

/// The engine, the linkers, the compiled-code caches and the instance slots.
pub struct Invoker {
    engine: Engine,
    http_linker: wasmtime::component::Linker<http_component::HttpState>,
    command_linker: wasmtime::Linker<command::CommandState>,
    /// `(module, name)` of every import the command linker satisfies.
    command_imports: HashSet<(String, String)>,
    disk: DiskCache,
    memory: Mutex<HashMap<String, Arc<Prepared>>>,
    slots: gate::Gate,
    capacity: usize,
    caps: Caps,
    long_running: demote::LongRunningPool,
    _ticker: engine::EpochTicker,
}

/// Output caps of every call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub log_bytes: usize,
    pub result_bytes: usize,
    pub response_bytes: usize,
}

impl Invoker {
    /// Builds the engine and linkers; compiled code is cached below `cache_dir`.
    pub fn new(config: &InvokerConfig, cache_dir: &Path) -> anyhow::Result<Self> {
        let engine = engine::build_engine(&config.engine).map_err(anyhow::Error::from)?;
        let http_linker = http_component::linker(&engine).map_err(anyhow::Error::from)?;
        let command_linker = command::linker(&engine).map_err(anyhow::Error::from)?;
        let command_imports = command::provided_imports(&engine, &command_linker);
        let disk = DiskCache::open(cache_dir, &engine)?;
        let capacity = config.engine.max_instances.max(1) as usize;
        let ticker = engine::EpochTicker::start(engine.clone())?;
        Ok(Invoker {
            engine,
            http_linker,
            command_linker,
            command_imports,
            disk,
            memory: Mutex::new(HashMap::new()),
            capacity,
            slots: gate::Gate::new(capacity, config.max_queue, config.queue_timeout),
            caps: Caps {
                log_bytes: config.max_log_bytes,
                result_bytes: config.max_result_bytes,
                response_bytes: config.max_response_bytes,
            },
            long_running: demote::LongRunningPool::new(config.long_running_threads)?,
            _ticker: ticker,
        })
    }

    /// Instances that can run at once (the pool's size).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The engine all functions run on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The prepared template for this hash, if its compiled code is in memory.
    pub fn cached(&self, hash: &str) -> Option<Arc<Prepared>> {
        self.memory.lock().ok()?.get(hash).cloned()
    }

    /// Validates, compiles and links `bytes`, caching the result in memory and on
    /// disk, and says where it came from. A binary whose compiled code is already
    /// on disk is loaded, not recompiled. CPU-heavy: call it from a blocking
    /// context.
    pub fn prepare(&self, bytes: &[u8]) -> Result<(Arc<Prepared>, Warmth), DeployError> {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        if let Ok(mem) = self.memory.lock()
            && let Some(p) = mem.get(&hash)
        {
            return Ok((p.clone(), Warmth::Hot));
        }
        let shape = detect_shape(bytes)?;
        let (template, (code_bytes, warmth)) = match shape {
            Shape::Command => {
                let (module, origin) =
                    self.load_or_compile(&hash, bytes, |e, b| wasmtime::Module::new(e, b))?;
                let pre = command::prepare(&self.command_linker, &self.command_imports, &module)?;
                (Template::Command(pre), origin)
            }
            Shape::Http => {
                let (component, origin) = self.load_or_compile(&hash, bytes, |e, b| {
                    wasmtime::component::Component::new(e, b)
                })?;
                let pre = http_component::prepare(&self.http_linker, &component)?;
                (Template::Http(pre), origin)
            }
        };
        let prepared = Arc::new(Prepared {
            shape,
            hash: hash.clone(),
            code_bytes,
            template,
            runs_long: Arc::default(),
        });
        if let Ok(mut mem) = self.memory.lock() {
            mem.insert(hash, prepared.clone());
        }
        Ok((prepared, warmth))
    }

    /// Drops a template from memory; its compiled code stays on disk, so the
    /// next call loads it (a cold start) instead of recompiling. Calls in flight
    /// keep their own reference. Returns whether it was in memory.
    pub fn evict(&self, hash: &str) -> bool {
        self.memory
            .lock()
            .map(|mut m| m.remove(hash).is_some())
            .unwrap_or(false)
    }

    /// Forgets a module no action uses any more: its template and its compiled
    /// code on disk.
    pub fn forget(&self, hash: &str) {
        self.evict(hash);
        self.disk.remove(hash);
    }

    /// Removes compiled code on disk of modules `used` rejects (left by a crash
    /// between a registry change and the cleanup). Returns how many went.
    pub fn retain_compiled(&self, used: impl Fn(&str) -> bool) -> usize {
        self.disk.retain(used)
    }

    /// Every template in memory: its hash and the bytes of compiled code it holds.
    pub fn hot(&self) -> Vec<(String, usize)> {
        self.memory
            .lock()
            .map(|m| m.values().map(|p| (p.hash.clone(), p.code_bytes)).collect())
            .unwrap_or_default()
    }

    /// Takes up to `n` free instance slots out of the shared pool for one
    /// action (see [`gate::Reservation`]).
    pub fn reserve(&self, n: usize) -> Arc<gate::Reservation> {
        Arc::new(self.slots.reserve(n))
    }

    /// Returns a reservation's slots to the shared pool once its calls end.
    pub async fn release(&self, reservation: Arc<gate::Reservation>) {
        self.slots.release(reservation).await;
    }

    /// Loads the artifact from the disk cache, or compiles (and stores) it;
    /// returns it with its size and where it came from.
    fn load_or_compile<T: Artifact>(
        &self,
        hash: &str,
        bytes: &[u8],
        compile: impl Fn(&Engine, &[u8]) -> wasmtime::Result<T>,
    ) -> Result<(T, (usize, Warmth)), DeployError> {
        let path = self.disk.path(hash);
        if let Ok(meta) = std::fs::metadata(&path) {
            match T::load(&self.engine, &path) {
                Ok(a) => return Ok((a, (meta.len() as usize, Warmth::Disk))),
                Err(e) => {
                    tracing::warn!(%hash, "discarding unusable cached artifact: {e:#}");
                    self.disk.remove(hash);
                }
            }
        }
        let artifact = compile(&self.engine, bytes)
            .map_err(|e| DeployError::Invalid(format!("invalid WebAssembly: {e:#}")))?;
        let mut size = bytes.len();
        match artifact.serialize() {
            Ok(native) => {
                size = native.len();
                if let Err(e) = self.disk.store(hash, &native) {
                    tracing::warn!(%hash, "could not write compiled code to disk: {e}");
                }
            }
            Err(e) => tracing::warn!(%hash, "could not serialize compiled code: {e:#}"),
        }
        Ok((artifact, (size, Warmth::Compiled)))
    }

    fn placement(&self, prepared: &Prepared) -> demote::Placement {
        demote::Placement {
            pool: self.long_running.handle(),
            hint: prepared.runs_long.clone(),
        }
    }

    async fn acquire_slot(
        &self,
        limits: &InvokeLimits,
    ) -> Result<OwnedSemaphorePermit, InvokeError> {
        if let Some(permit) = limits.reserved.as_ref().and_then(|r| r.try_enter()) {
            return Ok(permit);
        }
        self.slots
            .enter()
            .await
            .map_err(|_| InvokeError::Overloaded)
    }

    /// Answers a web request with a fresh instance.
    pub async fn invoke_web(
        &self,
        prepared: &Prepared,
        request: WebRequest,
        limits: InvokeLimits,
    ) -> Result<(http::Response<Body>, WebLogs), InvokeError> {
        let permit = self.acquire_slot(&limits).await?;
        match &prepared.template {
            Template::Http(pre) => {
                let (response, logs) = http_component::invoke(
                    pre,
                    request,
                    limits,
                    permit,
                    self.caps,
                    self.placement(prepared),
                )
                .await?;
                Ok((
                    response,
                    WebLogs(WebLogSource::Live {
                        stdout: logs.stdout,
                        stderr: logs.stderr,
                    }),
                ))
            }
            Template::Command(pre) => {
                let env = cgi::cgi_env(&request.facts)
                    .into_iter()
                    .chain(request.env)
                    .collect();
                let out = command::run(
                    pre,
                    request.body,
                    env,
                    &limits,
                    command::OutputCaps {
                        stdout: self.caps.response_bytes,
                        stderr: self.caps.log_bytes,
                        stdout_is: "response",
                    },
                    self.placement(prepared),
                )
                .await;
                drop(permit);
                let out = out?;
                out.success()?;
                let lines: Vec<LogLine> =
                    tagged("stderr", cgi::log_lines(&out.stderr, false)).collect();
                let cgi = cgi::parse_cgi_output(out.stdout);
                let mut response = http::Response::new(full_body(cgi.body));
                *response.status_mut() = cgi.status;
                *response.headers_mut() = cgi.headers;
                let logs = if lines.is_empty() {
                    WebLogSource::None
                } else {
                    WebLogSource::Lines(Arc::new(lines))
                };
                Ok((response, WebLogs(logs)))
            }
        }
    }

    /// Runs an API invocation with JSON parameters and returns the JSON result.
    pub async fn invoke_json(
        &self,
        prepared: &Prepared,
        params: &serde_json::Value,
        limits: InvokeLimits,
    ) -> Result<JsonOutcome, InvokeError> {
        let waiting = std::time::Instant::now();
        let permit = self.acquire_slot(&limits).await?;
        let wait = waiting.elapsed();
        let input = Bytes::from(
            serde_json::to_vec(params)
                .map_err(|e| InvokeError::Internal(format!("cannot encode parameters: {e}")))?,
        );
        let outcome = match &prepared.template {
            Template::Http(pre) => {
                http_component::invoke_json(
                    pre,
                    input,
                    limits,
                    permit,
                    self.caps,
                    self.placement(prepared),
                )
                .await?
            }
            Template::Command(pre) => {
                let out = command::run(
                    pre,
                    input,
                    Vec::new(),
                    &limits,
                    command::OutputCaps {
                        // stdout carries the logs and the result line.
                        stdout: self.caps.log_bytes + self.caps.result_bytes,
                        stderr: self.caps.log_bytes,
                        stdout_is: "stdout",
                    },
                    self.placement(prepared),
                )
                .await;
                drop(permit);
                let out = out?;
                out.success()?;
                let result = cgi::json_result(&out.stdout).map_err(InvokeError::BadOutput)?;
                let logs = tagged("stdout", cgi::log_lines(&out.stdout, true))
                    .chain(tagged("stderr", cgi::log_lines(&out.stderr, false)))
                    .collect();
                JsonOutcome {
                    result,
                    logs,
                    wait: Duration::ZERO,
                    init: out.init,
                }
            }
        };
        let mut outcome = outcome;
        outcome.wait = wait;
        let size = serde_json::to_vec(&outcome.result)
            .map(|v| v.len())
            .unwrap_or(0);
        if size > self.caps.result_bytes {
            return Err(InvokeError::OutputTooLarge {
                what: "result",
                limit: self.caps.result_bytes,
            });
        }
        Ok(outcome)
    }
}

/// A body holding `bytes`.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Compiled code that can be written to and read from the disk cache.
trait Artifact: Sized {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;
    fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Self>;
}

impl Artifact for wasmtime::Module {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        wasmtime::Module::serialize(self)
    }
    #[allow(
        unsafe_code,
        reason = "the file was written by this process's DiskCache under a name only it uses; wasmtime checks the engine fingerprint on load"
    )]
    fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: see the reason above: the cache directory holds only artifacts
        // wisp compiled itself, written atomically.
        unsafe { wasmtime::Module::deserialize_file(engine, path) }
    }
}

impl Artifact for wasmtime::component::Component {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        wasmtime::component::Component::serialize(self)
    }
    #[allow(
        unsafe_code,
        reason = "the file was written by this process's DiskCache under a name only it uses; wasmtime checks the engine fingerprint on load"
    )]
    fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: as for modules above.
        unsafe { wasmtime::component::Component::deserialize_file(engine, path) }
    }
}

/// What the host knows about a guest's run beyond its error: whether it hit its
/// memory limit, and whether it wrote past a cap.
pub(crate) struct RunFacts<'a> {
    pub hit_memory: bool,
    pub memory_bytes: usize,
    pub stdout: &'a capture::Capture,
    /// What stdout is to the caller: `stdout`, or `response` for CGI web calls.
    pub stdout_is: &'static str,
    pub stderr: &'a capture::Capture,
}

/// Turns a wasmtime error from running a guest into an [`InvokeError`].
fn classify(e: wasmtime::Error, facts: &RunFacts<'_>) -> InvokeError {
    let stderr = facts.stderr.contents();
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return InvokeError::Exit {
            code: exit.0,
            stderr: tail(&stderr),
        };
    }
    if facts.stdout.overflowed() {
        return InvokeError::OutputTooLarge {
            what: facts.stdout_is,
            limit: facts.stdout.cap(),
        };
    }
    if facts.stderr.overflowed() {
        return InvokeError::OutputTooLarge {
            what: "stderr",
            limit: facts.stderr.cap(),
        };
    }
    if facts.hit_memory {
        return InvokeError::MemoryLimit((facts.memory_bytes >> 20) as u64);
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        let mut msg = match trap {
            wasmtime::Trap::StackOverflow => "stack overflow (call stack exhausted)".to_string(),
            other => other.to_string(),
        };
        let err = tail(&stderr);
        if !err.is_empty() {
            msg = format!("{msg}; stderr: {err}");
        }
        return InvokeError::Trap(msg);
    }
    InvokeError::Trap(format!("{e:#}"))
}

/// The last few hundred bytes of a stream, as text.
fn tail(bytes: &[u8]) -> String {
    const MAX: usize = 512;
    let start = bytes.len().saturating_sub(MAX);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_detected_from_the_preamble() {
        assert_eq!(detect_shape(b"\0asm\x01\0\0\0").unwrap(), Shape::Command);
        assert_eq!(detect_shape(b"\0asm\x0d\0\x01\0").unwrap(), Shape::Http);
        assert!(matches!(
            detect_shape(b"hello world"),
            Err(DeployError::Invalid(_))
        ));
        assert!(matches!(
            detect_shape(b"\0asm"),
            Err(DeployError::Invalid(_))
        ));
        assert!(matches!(
            detect_shape(b"\0asm\x02\0\0\0"),
            Err(DeployError::Invalid(_))
        ));
    }
}
