//! Executing a plan: one tokio task and one HTTP/1.1 connection per client.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::net::TcpStream;
use tokio::time::Instant;

use wisp_api::CLIENT_ID_HEADER;

use crate::plan::{ClientStart, Plan};
use crate::report::{CallRecord, ErrorKind, Report, ms, summarize};

/// Where every call goes, worked out once before the run.
struct Target {
    /// The resolved addresses of the URL's host (tried in order on connect).
    addrs: Vec<SocketAddr>,
    /// `host:port` as written in the URL, for messages and the `Host` header.
    authority: String,
    /// The request target: path and query.
    path: Uri,
}

/// What every client task shares.
struct Shared {
    target: Target,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
    deadline: Instant,
    t0: Instant,
    progress: ProgressBar,
    failures: AtomicUsize,
    samples: Mutex<BTreeMap<ErrorKind, String>>,
}

/// A failed call: its kind and a message.
type Failure = (ErrorKind, String);

/// Runs the plan and reports on every planned call.
///
/// The plan is validated and the URL's host resolved first; failing either is an
/// error. After that, failed calls (non-2xx answers, connect failures, timeouts)
/// are recorded, not returned as errors. Each client is a tokio task with its
/// own HTTP/1.1 connection, opened by its first call and kept alive for its next
/// ones (reopened if the server closes it). Calls not started within
/// [`Plan::max_duration`] are recorded as skipped, and a call still running at
/// that moment is cut off and counts as a timeout, so the run never lasts longer
/// than `max_duration`.
///
/// With `progress`, a progress bar is drawn on stderr if it is a terminal.
pub async fn run(plan: &Plan, progress: bool) -> anyhow::Result<Report> {
    plan.validate()?;
    let target = resolve(plan).await?;
    let run_id = new_run_id();
    let total = plan.total_calls();

    let bar = if progress && std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} calls {msg}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    } else {
        ProgressBar::hidden()
    };

    let t0 = Instant::now();
    let shared = Arc::new(Shared {
        target,
        method: plan.method.clone(),
        headers: plan.headers.clone(),
        body: plan.body.clone().unwrap_or_default(),
        timeout: plan.timeout,
        deadline: t0 + plan.max_duration,
        t0,
        progress: bar,
        failures: AtomicUsize::new(0),
        samples: Mutex::new(BTreeMap::new()),
    });

    let mut tasks = Vec::with_capacity(plan.clients);
    for start in plan.schedule() {
        let id = HeaderValue::try_from(format!("{run_id}-{}", start.client))
            .context("building the X-Client-Id header")?;
        let shared = Arc::clone(&shared);
        let calls = plan.calls_per_client;
        tasks.push(tokio::spawn(client(shared, start, calls, id)));
    }
    let mut calls = Vec::with_capacity(total);
    for task in tasks {
        calls.extend(task.await.context("a client task failed")?);
    }
    let wall = t0.elapsed();
    shared.progress.finish_and_clear();
    calls.sort_by_key(|c| (c.client, c.seq));

    let error_samples = shared.samples.lock().map(|m| m.clone()).unwrap_or_default();
    Ok(Report {
        run_id,
        pattern: plan.pattern,
        url: plan.url.to_string(),
        method: plan.method.to_string(),
        clients: plan.clients,
        calls_per_client: plan.calls_per_client,
        ramp_ms: ms(plan.ramp),
        summary: summarize(&calls, wall),
        error_samples,
        calls,
    })
}

/// Resolves the URL's host once, so that a wrong host fails before the run
/// instead of as a connect error on every call.
async fn resolve(plan: &Plan) -> anyhow::Result<Target> {
    let Some(authority) = plan.url.authority() else {
        bail!("{} has no host", plan.url);
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = authority.port_u16().unwrap_or(80);
    let lookup = tokio::time::timeout(plan.timeout, tokio::net::lookup_host((host.as_str(), port)))
        .await
        .with_context(|| format!("resolving {host} timed out"))?
        .with_context(|| format!("cannot resolve the host {host}"))?;
    let addrs: Vec<SocketAddr> = lookup.collect();
    if addrs.is_empty() {
        bail!("the host {host} has no address");
    }
    let path = plan
        .url
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    Ok(Target {
        addrs,
        authority: authority.as_str().to_string(),
        path: path
            .parse()
            .with_context(|| format!("{} has an invalid path", plan.url))?,
    })
}

/// A short identifier, different for each run (time and process id mixed).
fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos ^ u64::from(std::process::id()).rotate_left(32);
    // A few xorshift rounds so that close start times give unrelated ids.
    for _ in 0..3 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    format!("{:08x}", x as u32)
}

/// One client: waits for its start, then makes its calls one after the other.
async fn client(
    shared: Arc<Shared>,
    start: ClientStart,
    calls: usize,
    id: HeaderValue,
) -> Vec<CallRecord> {
    let mut records = Vec::with_capacity(calls);
    let begin = shared.t0 + start.start;
    if begin < shared.deadline {
        tokio::time::sleep_until(begin).await;
    }
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    for seq in 0..calls {
        let started = Instant::now();
        if started >= shared.deadline {
            for seq in seq..calls {
                records.push(CallRecord {
                    client: start.client,
                    seq,
                    start_ms: None,
                    latency_ms: None,
                    status: None,
                    error: Some(ErrorKind::Skipped),
                });
            }
            shared.progress.inc((calls - seq) as u64);
            break;
        }
        let budget = shared.timeout.min(shared.deadline - started);
        let outcome = tokio::time::timeout(budget, call(&shared, &mut conn, &id)).await;
        let elapsed = started.elapsed();
        let (status, error) = match outcome {
            Ok(Ok(status)) if (200..300).contains(&status) => (Some(status), None),
            Ok(Ok(status)) => (Some(status), Some(ErrorKind::Status)),
            Ok(Err((kind, message))) => {
                conn = None;
                shared.note(kind, message);
                (None, Some(kind))
            }
            Err(_) => {
                // The connection is mid-request: drop it, the next call reconnects.
                conn = None;
                let message = if budget < shared.timeout {
                    "cut off at the end of the maximum duration".to_string()
                } else {
                    format!("no complete answer within {:?}", shared.timeout)
                };
                shared.note(ErrorKind::Timeout, message);
                (None, Some(ErrorKind::Timeout))
            }
        };
        if error.is_some() {
            let failures = shared.failures.fetch_add(1, Ordering::Relaxed) + 1;
            shared.progress.set_message(format!("({failures} failed)"));
        }
        shared.progress.inc(1);
        records.push(CallRecord {
            client: start.client,
            seq,
            start_ms: Some(ms(started - shared.t0)),
            latency_ms: status.map(|_| ms(elapsed)),
            status,
            error,
        });
    }
    records
}

impl Shared {
    /// Keeps the first message of each failure kind.
    fn note(&self, kind: ErrorKind, message: String) {
        if let Ok(mut samples) = self.samples.lock() {
            samples.entry(kind).or_insert(message);
        }
    }

    /// Opens a new connection to the target.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let failed = |e: &dyn std::fmt::Display| {
            (
                ErrorKind::Connect,
                format!("connecting to {}: {e}", self.target.authority),
            )
        };
        let stream = TcpStream::connect(&self.target.addrs[..])
            .await
            .map_err(|e| failed(&e))?;
        // Small requests and answers: do not let Nagle's algorithm delay them.
        stream.set_nodelay(true).map_err(|e| failed(&e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(&e))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes the connection.
            let _ = connection.await;
        });
        sender.ready().await.map_err(|e| failed(&e))?;
        Ok(sender)
    }

    /// The request of one call.
    fn request(&self, id: &HeaderValue) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.target.path.clone();
        let headers = request.headers_mut();
        *headers = self.headers.clone();
        if !headers.contains_key(HOST)
            && let Ok(host) = HeaderValue::try_from(self.target.authority.as_str())
        {
            headers.insert(HOST, host);
        }
        headers.insert(HeaderName::from_static(CLIENT_ID_HEADER), id.clone());
        request
    }
}

/// One call on the client's connection (opened or reopened as needed); returns
/// the HTTP status once the whole response body has been read.
async fn call(
    shared: &Shared,
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    id: &HeaderValue,
) -> Result<u16, Failure> {
    let kept = match conn.take() {
        Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
        None => None,
    };
    let mut sender = match kept {
        Some(sender) => sender,
        None => shared.connect().await?,
    };
    let transport = |e: hyper::Error| (ErrorKind::Transport, e.to_string());
    let response = sender
        .send_request(shared.request(id))
        .await
        .map_err(transport)?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(transport)?;
    }
    *conn = Some(sender);
    Ok(status)
}
