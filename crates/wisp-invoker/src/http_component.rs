//! `wasi:http/proxy` components, served as `wasmtime serve -S cli` serves them: the
//! proxy world plus the WASI command interfaces, `wasi:keyvalue` and
//! `wasi:config/store`. A component sees the action's grants (see
//! [`sandbox`](crate::sandbox): `/data`, `/assets`, outgoing HTTP only to
//! `allowed-outbound-hosts`, the key-value stores it may open, its parameters
//! as config variables) and nothing else: no host environment, no sockets. The request body is streamed to it as it arrives, under the cap.

use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::admission::Admitted;
use crate::body::CappedBody;
use crate::capture::Capture;
use crate::runner::{self, CallFacts, Captured, Guest, GuestState};
use crate::sandbox::check_quota;
use crate::{Body, BoxError, Caps, DeployError, InvokeError, InvokeLimits, JsonOutcome};

/// Header telling a component the route prefix it was reached under
/// (e.g. `/fn/hello`), since it sees request paths relative to that route.
pub const ROUTE_PREFIX_HEADER: &str = "x-wisp-route-prefix";

/// Per-call state of a component instance.
pub(crate) struct HttpState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Outbound,
    facts: CallFacts,
}

impl GuestState for HttpState {
    fn facts(&mut self) -> &mut CallFacts {
        &mut self.facts
    }
}

/// Outgoing HTTP goes only to the hosts the action lists; everything else is
/// refused with `HTTP-request-denied`.
struct Outbound {
    grants: std::sync::Arc<crate::Grants>,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let scheme = request.uri().scheme_str().unwrap_or("http").to_string();
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        if !self.grants.allows(&scheme, &authority) {
            tracing::info!(%authority, "outgoing HTTP denied: host not in allowed-outbound-hosts");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(|b| b.boxed_unsync()),
                Box::new(io) as Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            ))
        })
    }
}

impl WasiView for HttpState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HttpState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<HttpState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    crate::keyvalue::add_to_linker(&mut linker, |s: &mut HttpState| crate::keyvalue::KeyValue {
        grant: s.hooks.grants.keyvalue.as_ref(),
        table: &mut s.table,
    })?;
    wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut HttpState| {
        wasmtime_wasi_config::WasiConfig::new(&s.hooks.grants.config.0)
    })?;
    Ok(linker)
}

pub(crate) fn prepare(
    linker: &Linker<HttpState>,
    component: &Component,
) -> Result<ProxyPre<HttpState>, DeployError> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| DeployError::MissingImports(vec![format!("{e:#}")]))?;
    ProxyPre::new(pre).map_err(|e| {
        DeployError::Invalid(format!(
            "the component does not export wasi:http/incoming-handler ({e:#}); wisp runs wasi:http/proxy components (or WASI command modules)"
        ))
    })
}

pub(crate) fn new_store(
    engine: &Engine,
    limits: &InvokeLimits,
    stdout: &Capture,
    stderr: &Capture,
) -> Result<Store<HttpState>, InvokeError> {
    let mut builder = WasiCtxBuilder::new();
    builder.stdout(stdout.clone()).stderr(stderr.clone());
    limits
        .grants
        .apply(&mut builder)
        .map_err(InvokeError::Internal)?;
    let state = HttpState {
        table: ResourceTable::new(),
        wasi: builder.build(),
        http: WasiHttpCtx::new(),
        hooks: Outbound {
            grants: limits.grants.clone(),
        },
        facts: CallFacts::new(limits.memory_bytes),
    };
    Ok(runner::new_store(engine, state))
}

/// The request as a component sees it: the path below the action's route, the
/// route prefix in [`ROUTE_PREFIX_HEADER`], a `Host` always present, and the body
/// streamed under `limit`.
pub(crate) fn component_request<B>(
    request: http::Request<B>,
    prefix: &str,
    path_info: &str,
    limit: usize,
) -> Result<http::Request<CappedBody<B>>, InvokeError> {
    let (mut parts, body) = request.into_parts();
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path_info}?{q}"),
        None => path_info.to_string(),
    };
    parts.uri = http::Uri::try_from(path_and_query)
        .map_err(|e| InvokeError::Internal(format!("cannot build the request URI: {e}")))?;
    if !parts.headers.contains_key(http::header::HOST) {
        parts.headers.insert(
            http::header::HOST,
            http::HeaderValue::from_static("localhost"),
        );
    }
    if let Ok(v) = http::HeaderValue::from_str(prefix) {
        parts.headers.insert(ROUTE_PREFIX_HEADER, v);
    }
    Ok(http::Request::from_parts(
        parts,
        CappedBody::new(body, limit),
    ))
}

/// The guest's `handle` call; it owns the store and the admission ticket.
type GuestCall = std::pin::Pin<Box<dyn Future<Output = runner::Outcome<()>> + Send>>;

/// `wasi:http/incoming-handler.handle` of a fresh instance.
struct Handle {
    pre: ProxyPre<HttpState>,
    request: wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostIncomingRequest>,
    out: wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostResponseOutparam>,
    init_us: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Guest for Handle {
    type State = HttpState;
    type Output = ();

    async fn run(self, store: &mut Store<HttpState>) -> wasmtime::Result<()> {
        let began = std::time::Instant::now();
        let proxy = self.pre.instantiate_async(&mut *store).await?;
        let init = began.elapsed();
        store.data_mut().facts.init = init;
        self.init_us.store(
            init.as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut *store, self.request, self.out)
            .await
    }
}

/// Serves one request with a fresh instance, which holds `admitted` until it
/// ends. Runs the guest in the caller's task (no task spawn, no cross-thread
/// wake-up on the common path) until it has set a response; the rest of its
/// run, such as streaming the body, is driven by polling the response body (see
/// [`DrivingBody`]).
pub(crate) async fn invoke<B>(
    pre: &ProxyPre<HttpState>,
    req: http::Request<B>,
    limits: &InvokeLimits,
    admitted: Admitted,
    caps: Caps,
    pool: crate::demote::Placement,
) -> Result<(http::Response<Body>, LogPipes), InvokeError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let logs = LogPipes {
        stdout: Capture::new(caps.log_bytes),
        stderr: Capture::new(caps.log_bytes),
        init_us: Default::default(),
    };
    let mut store = new_store(pre.engine(), limits, &logs.stdout, &logs.stderr)?;
    let internal = |e: wasmtime::Error| InvokeError::Internal(format!("{e:#}"));
    let request = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .map_err(internal)?;
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let out = store
        .data_mut()
        .http()
        .new_response_outparam(tx)
        .map_err(internal)?;
    let handle = Handle {
        pre: pre.clone(),
        request,
        out,
        init_us: logs.init_us.clone(),
    };
    let mut guest: GuestCall = Box::pin(runner::run(store, handle, limits.timeout, admitted, pool));
    let fail = |outcome: runner::Outcome<()>, logs: &LogPipes| -> InvokeError {
        let captured = Captured {
            memory_bytes: limits.memory_bytes,
            stdout: &logs.stdout,
            stdout_is: "stdout",
            stderr: &logs.stderr,
        };
        match outcome.into_result(&captured) {
            Err(e) => e,
            Ok(()) => {
                InvokeError::BadOutput("the component returned without setting a response".into())
            }
        }
    };
    let succeeded =
        |outcome: &runner::Outcome<()>| outcome.result.as_ref().is_ok_and(|r| r.is_ok());

    enum First {
        Response(Result<Result<HyperResponse, ErrorCode>, RecvError>),
        Finished(runner::Outcome<()>),
    }
    let first = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = std::pin::Pin::new(&mut rx).poll(cx) {
            return Poll::Ready(First::Response(r));
        }
        if let Poll::Ready(r) = guest.as_mut().poll(cx) {
            return Poll::Ready(First::Finished(r));
        }
        Poll::Pending
    })
    .await;

    // Most handlers write their whole body and return right after setting the
    // response: give the guest one more turn, so the response usually leaves
    // complete, with a Content-Length, in one write.
    let (response, guest) = match first {
        First::Response(r) => {
            match std::future::poll_fn(|cx| Poll::Ready(guest.as_mut().poll(cx))).await {
                Poll::Pending => (r, Some(guest)),
                Poll::Ready(outcome) if succeeded(&outcome) => (r, None),
                Poll::Ready(outcome) => return Err(fail(outcome, &logs)),
            }
        }
        First::Finished(outcome) => match rx.try_recv() {
            // The guest set its response and then returned.
            Ok(r) if succeeded(&outcome) => (Ok(r), None),
            _ => return Err(fail(outcome, &logs)),
        },
    };
    match response {
        // The guest is done, so its whole body is buffered: send it with a length.
        Ok(Ok(response)) if guest.is_none() => {
            check_quota(&limits.grants)?;
            let (parts, body) = response.into_parts();
            let bytes = http_body_util::Limited::new(body, caps.response_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        InvokeError::OutputTooLarge {
                            what: "response",
                            limit: caps.response_bytes,
                        }
                    } else {
                        InvokeError::BadOutput(format!("the component's response body failed: {e}"))
                    }
                })?
                .to_bytes();
            Ok((
                http::Response::from_parts(parts, crate::full_body(bytes)),
                logs,
            ))
        }
        Ok(Ok(response)) => Ok((
            response.map(|body| {
                DrivingBody {
                    inner: body,
                    guest,
                    sent: 0,
                    cap: caps.response_bytes,
                }
                .boxed_unsync()
            }),
            logs,
        )),
        Ok(Err(code)) => Err(InvokeError::BadOutput(format!(
            "the component answered with an error: {code:?}"
        ))),
        // The outparam was dropped without a response: the guest failed or
        // returned; finish it here to learn which.
        Err(_) => match guest {
            Some(g) => Err(fail(g.await, &logs)),
            None => Err(InvokeError::BadOutput(
                "the component returned without setting a response".into(),
            )),
        },
    }
}

type HyperResponse = hyper::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody>;
type ErrorCode = wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
type RecvError = tokio::sync::oneshot::error::RecvError;

/// A response body that also drives the guest that produces it, so a component
/// streaming its body needs no task of its own. When the body is finished or
/// dropped while the guest still runs (work after the response), the guest is
/// moved to a task of its own and runs to its end. A body past the response cap
/// is cut off with an error.
struct DrivingBody {
    inner: wasmtime_wasi_http::p2::body::HyperOutgoingBody,
    guest: Option<GuestCall>,
    sent: usize,
    cap: usize,
}

impl DrivingBody {
    fn poll_guest(&mut self, cx: &mut Context<'_>) {
        if let Some(g) = self.guest.as_mut()
            && let Poll::Ready(outcome) = g.as_mut().poll(cx)
        {
            self.guest = None;
            match outcome.result {
                Err(_) => tracing::info!("component exceeded its time limit while streaming"),
                Ok(Err(e)) => tracing::info!("component failed while streaming: {e:#}"),
                Ok(Ok(())) => {}
            }
        }
    }
}

impl hyper::body::Body for DrivingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        self.poll_guest(cx);
        let frame = std::pin::Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(BoxError::from);
        if let Poll::Ready(Some(Ok(f))) = &frame
            && let Some(data) = f.data_ref()
        {
            self.sent += data.len();
            if self.sent > self.cap {
                // Stop the guest too: it has nowhere to write.
                self.guest = None;
                return Poll::Ready(Some(Err(format!(
                    "the action's response exceeded the limit of {} bytes",
                    self.cap
                )
                .into())));
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for DrivingBody {
    fn drop(&mut self) {
        if let Some(g) = self.guest.take() {
            tokio::spawn(g);
        }
    }
}

pub(crate) struct LogPipes {
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
    /// Microseconds the instance took to create, set by the guest's task.
    init_us: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl LogPipes {
    /// The time the instance took to create (zero until it is created).
    pub(crate) fn init(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.init_us.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// An API invocation of a component: the parameters are POSTed to `/` as JSON and
/// the response body is the result. A JSON object body is the result itself;
/// anything else becomes `{"statusCode": N, "body": "<text>"}`. A status of 400 or
/// more is an application error (`{"error": ...}`).
pub(crate) async fn invoke_json(
    pre: &ProxyPre<HttpState>,
    input: Bytes,
    limits: &InvokeLimits,
    admitted: Admitted,
    caps: Caps,
    pool: crate::demote::Placement,
) -> Result<JsonOutcome, InvokeError> {
    let req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header(http::header::HOST, "localhost")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(
            http_body_util::Full::new(input)
                .map_err(|never| -> wasmtime_wasi_http::Error { match never {} }),
        )
        .map_err(|e| InvokeError::Internal(format!("cannot build request: {e}")))?;
    let timeout = limits.timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let (response, logs) = invoke(pre, req, limits, admitted, caps, pool).await?;
    let status = response.status();
    let body = tokio::time::timeout_at(deadline, response.into_body().collect())
        .await
        .map_err(|_| InvokeError::Timeout(timeout.as_millis() as u64))?
        .map_err(|e| InvokeError::BadOutput(format!("the component's response body failed: {e}")))?
        .to_bytes();
    let result = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v @ serde_json::Value::Object(_)) if status.as_u16() < 400 => v,
        Ok(serde_json::Value::Object(o)) if o.contains_key("error") => serde_json::Value::Object(o),
        _ => {
            let text = String::from_utf8_lossy(&body).into_owned();
            if status.as_u16() >= 400 {
                serde_json::json!({"error": text, "statusCode": status.as_u16()})
            } else {
                serde_json::json!({"statusCode": status.as_u16(), "body": text})
            }
        }
    };
    let lines = crate::tagged(
        "stdout",
        crate::cgi::log_lines(&logs.stdout.contents(), false),
    )
    .chain(crate::tagged(
        "stderr",
        crate::cgi::log_lines(&logs.stderr.contents(), false),
    ))
    .collect();
    Ok(JsonOutcome {
        result,
        logs: lines,
        init: logs.init(),
    })
}
