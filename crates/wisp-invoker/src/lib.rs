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
//!
//! A call goes: [`Invoker::admit`] (the action's cap, its reservation, a slot of
//! the shared pool; before the request body is read), then
//! [`Invoker::invoke_web`] or [`Invoker::invoke_json`], which run it through the
//! one per-call runner (`runner.rs`) both shapes share.

pub mod admission;
pub mod body;
pub mod cache;
mod capture;
pub mod cgi;
mod command;
pub mod demote;
pub mod engine;
pub mod gate;
mod http_component;
pub mod keyvalue;
mod runner;
pub mod sandbox;
pub mod sharded;
pub mod snapshot;
mod templates;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime::Engine;

pub use admission::{ActionSlots, Admitted, Throttle};
pub use body::BodyError;
pub use cache::DiskCache;
pub use engine::EngineConfig;
pub use http_component::ROUTE_PREFIX_HEADER;
pub use keyvalue::{KeyValueGrant, KvBackend, KvFailure};
pub use sandbox::{ConfigVariables, Grants};
pub use snapshot::{InitSpec, Snapshot};
pub use wisp_api::{Shape, Warmth};

/// Error type carried by response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of responses produced by guests.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

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
    /// Its init export failed, or left an instance that cannot be snapshotted.
    #[error("{0}")]
    Init(String),
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
    /// Admission refused the call (HTTP 429).
    #[error("{0}")]
    Throttled(Throttle),
    /// The request body could not be read.
    #[error("{0}")]
    Request(BodyError),
    /// A failure of wisp itself.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Limits and grants the calls of one action run under, resolved once when the
/// action is published.
#[derive(Debug, Clone)]
pub struct InvokeLimits {
    /// Wall-clock deadline.
    pub timeout: Duration,
    /// Most linear memory, in bytes.
    pub memory_bytes: usize,
    /// Directories and hosts the action may reach.
    pub grants: Arc<Grants>,
}

/// A web call as the invoker takes it: the request with its body still unread
/// (credentials wisp consumed already removed), and where it was routed.
#[derive(Debug)]
pub struct WebCall<'a, B> {
    /// The request; its body is streamed to components, read under the cap for
    /// commands.
    pub request: http::Request<B>,
    /// The route prefix the action was reached under (e.g. `/fn/hello`).
    pub prefix: &'a str,
    /// The path below it, starting with `/`.
    pub path_info: &'a str,
    /// The caller's address.
    pub peer: Option<std::net::SocketAddr>,
    /// The action's parameters as environment variables, given to command
    /// modules after the CGI variables.
    pub env: &'a [(String, String)],
}

/// The outcome of a web invocation.
#[derive(Debug)]
pub struct WebOutcome {
    /// The response; a component may still be streaming its body.
    pub response: http::Response<Body>,
    /// The guest's output, read when its activation record is written.
    pub logs: WebLogs,
    /// Time spent creating the instance.
    pub init: Duration,
}

/// The outcome of an API (JSON) invocation.
#[derive(Debug, Clone)]
pub struct JsonOutcome {
    /// The result object.
    pub result: serde_json::Value,
    /// Log lines: stdout before the result line, then stderr.
    pub logs: Vec<LogLine>,
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

/// How invocations of one process share the machine, and the caps of every
/// call. Built from the server's configuration (`wisp serve`), which holds every
/// default.
#[derive(Debug, Clone)]
pub struct InvokerConfig {
    /// Engine settings.
    pub engine: EngineConfig,
    /// How calls wait for admission.
    pub queue: QueueConfig,
    /// Largest request body of one call, in bytes (streamed to components,
    /// read whole for commands).
    pub max_request_bytes: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Bytes of stdout and of stderr kept as logs of one call (OpenWhisk: 10 MB).
    pub max_log_bytes: usize,
    /// Bytes of one API call's JSON result (OpenWhisk: 1 MB).
    pub max_result_bytes: usize,
    /// Bytes of one web call's response body.
    pub max_response_bytes: usize,
    /// Threads of the low-priority pool that guests running longer than
    /// [`demote::DEMOTE_AFTER`] are moved to.
    pub long_running_threads: usize,
    /// Whether to count the calls holding an instance slot
    /// ([`Invoker::in_flight`]): two atomic additions per call, on the
    /// thread's own cache line ([`sharded`]), for the metrics.
    pub count_in_flight: bool,
}

/// How calls wait for an instance slot, of the shared pool or of an action's own
/// cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a call waits before it is refused.
    pub queue_timeout: Duration,
    /// Most calls waiting at once; beyond, calls are refused at once.
    pub max_queue: usize,
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
    slots: Arc<gate::Gate>,
    queue: QueueConfig,
    capacity: usize,
    caps: Caps,
    long_running: demote::LongRunningPool,
    /// Calls holding a slot, when counted.
    running: Option<&'static sharded::Gauge>,
    _ticker: engine::EpochTicker,
}

/// Caps of every call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub request_bytes: usize,
    pub body_timeout: Duration,
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
            slots: Arc::new(gate::Gate::new(
                capacity,
                config.queue.max_queue,
                config.queue.queue_timeout,
            )),
            queue: config.queue,
            caps: Caps {
                request_bytes: config.max_request_bytes,
                body_timeout: config.body_timeout,
                log_bytes: config.max_log_bytes,
                result_bytes: config.max_result_bytes,
                response_bytes: config.max_response_bytes,
            },
            long_running: demote::LongRunningPool::new(config.long_running_threads)?,
            // One per invoker, and a server has one for its whole life: leaked,
            // so that an admission ticket refers to it without a reference count.
            running: config
                .count_in_flight
                .then(|| &*Box::leak(Box::<sharded::Gauge>::default())),
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

    fn placement(&self, prepared: &Prepared) -> demote::Placement {
        demote::Placement {
            pool: self.long_running.handle(),
            hint: prepared.runs_long.clone(),
        }
    }

    /// Answers a web request with a fresh instance. A component gets the body
    /// streamed as it arrives; a command's is read whole (under the cap) first.
    pub async fn invoke_web<B>(
        &self,
        prepared: &Prepared,
        admitted: Admitted,
        call: WebCall<'_, B>,
        limits: &InvokeLimits,
    ) -> Result<WebOutcome, InvokeError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        match &prepared.template {
            Template::Http(pre) => {
                let request = http_component::component_request(
                    call.request,
                    call.prefix,
                    call.path_info,
                    self.caps.request_bytes,
                )?;
                let overflowed = request.body().overflow_flag();
                let (response, logs) = http_component::invoke(
                    pre,
                    request,
                    limits,
                    admitted,
                    self.caps,
                    self.placement(prepared),
                )
                .await?;
                // A body without a declared length that went past the cap: the
                // component saw its stream fail; the caller is told why. (A
                // component already streaming its answer keeps it.)
                if overflowed.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(InvokeError::Request(BodyError::TooLarge(
                        self.caps.request_bytes,
                    )));
                }
                // The instance was created before it could set a response.
                let init = logs.init();
                Ok(WebOutcome {
                    response,
                    logs: WebLogs(WebLogSource::Live {
                        stdout: logs.stdout,
                        stderr: logs.stderr,
                    }),
                    init,
                })
            }
            Template::Command(pre) => {
                let (parts, body) = call.request.into_parts();
                let body =
                    if parts.method == http::Method::GET || parts.method == http::Method::HEAD {
                        Bytes::new()
                    } else {
                        body::read_body(body, self.caps.request_bytes, self.caps.body_timeout)
                            .await
                            .map_err(InvokeError::Request)?
                    };
                let mut env = cgi::cgi_env(&cgi::CgiRequest {
                    method: &parts.method,
                    headers: &parts.headers,
                    query: parts.uri.query().unwrap_or(""),
                    path_info: call.path_info,
                    script_name: call.prefix,
                    content_length: body.len(),
                    remote_addr: call.peer,
                });
                env.extend_from_slice(call.env);
                let out = command::run(
                    pre,
                    body,
                    &env,
                    limits,
                    command::OutputCaps {
                        stdout: self.caps.response_bytes,
                        stderr: self.caps.log_bytes,
                        stdout_is: "response",
                    },
                    admitted,
                    self.placement(prepared),
                )
                .await?;
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
                Ok(WebOutcome {
                    response,
                    logs: WebLogs(logs),
                    init: out.init,
                })
            }
        }
    }

    /// Runs an API invocation with JSON parameters and returns the JSON result.
    pub async fn invoke_json(
        &self,
        prepared: &Prepared,
        admitted: Admitted,
        params: &serde_json::Value,
        limits: &InvokeLimits,
    ) -> Result<JsonOutcome, InvokeError> {
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
                    admitted,
                    self.caps,
                    self.placement(prepared),
                )
                .await?
            }
            Template::Command(pre) => {
                let out = command::run(
                    pre,
                    input,
                    &[],
                    limits,
                    command::OutputCaps {
                        // stdout carries the logs and the result line.
                        stdout: self.caps.log_bytes + self.caps.result_bytes,
                        stderr: self.caps.log_bytes,
                        stdout_is: "stdout (logs and result together)",
                    },
                    admitted,
                    self.placement(prepared),
                )
                .await?;
                let result = cgi::json_result(&out.stdout).map_err(InvokeError::BadOutput)?;
                let logs = tagged("stdout", cgi::log_lines(&out.stdout, true))
                    .chain(tagged("stderr", cgi::log_lines(&out.stderr, false)))
                    .collect();
                JsonOutcome {
                    result,
                    logs,
                    init: out.init,
                }
            }
        };
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
