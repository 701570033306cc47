//! `wasi:http/proxy` components, served as `wasmtime serve -S cli` serves them: the
//! proxy world plus the WASI command interfaces, with no preopened directories, no
//! host environment, no sockets and no outgoing HTTP.

use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::{
    Body, BoxError, DeployError, InvokeError, InvokeLimits, JsonOutcome, MAX_OUTPUT_BYTES,
    WebRequest, classify,
};

/// Header telling a component the route prefix it was reached under
/// (e.g. `/fn/hello`), since it sees request paths relative to that route.
pub const ROUTE_PREFIX_HEADER: &str = "x-wisp-route-prefix";

/// Per-call state of a component instance.
pub(crate) struct HttpState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: DenyOutbound,
    limits: StoreLimits,
}

/// Outgoing HTTP is refused: a guest reaches no network unless granted.
struct DenyOutbound;

impl WasiHttpHooks for DenyOutbound {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
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

fn new_store(
    engine: &Engine,
    limits: &InvokeLimits,
    stdout: &MemoryOutputPipe,
    stderr: &MemoryOutputPipe,
) -> Store<HttpState> {
    let wasi = WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .build();
    let state = HttpState {
        table: ResourceTable::new(),
        wasi,
        http: WasiHttpCtx::new(),
        hooks: DenyOutbound,
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .build(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    store
}

/// Serves one request with a fresh instance. The instance runs in its own task
/// (it may stream the body after the headers) and holds `permit` until it ends.
pub(crate) async fn invoke(
    pre: &ProxyPre<HttpState>,
    request: WebRequest,
    limits: InvokeLimits,
    permit: OwnedSemaphorePermit,
) -> Result<http::Response<Body>, InvokeError> {
    let req = to_hyper_request(request)?;
    let (response, _logs) = run(pre, req, limits, permit).await?;
    Ok(response)
}

fn to_hyper_request(request: WebRequest) -> Result<http::Request<Full>, InvokeError> {
    let f = request.facts;
    let path_and_query = if f.query.is_empty() {
        f.path_info.clone()
    } else {
        format!("{}?{}", f.path_info, f.query)
    };
    let mut builder = http::Request::builder()
        .method(f.method.as_str())
        .uri(path_and_query);
    if let Some(h) = builder.headers_mut() {
        *h = f.headers;
        if !h.contains_key(http::header::HOST) {
            h.insert(
                http::header::HOST,
                http::HeaderValue::from_static("localhost"),
            );
        }
        if let Ok(v) = http::HeaderValue::from_str(&f.script_name) {
            h.insert(ROUTE_PREFIX_HEADER, v);
        }
    }
    builder
        .body(full(request.body))
        .map_err(|e| InvokeError::Internal(format!("cannot build request: {e}")))
}

type Full = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

fn full(bytes: Bytes) -> Full {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The outcome of the guest's `handle` call, with its time limit applied.
type GuestResult = Result<wasmtime::Result<()>, tokio::time::error::Elapsed>;
/// The guest's `handle` call; it owns the store and the instance slot.
type GuestCall = std::pin::Pin<Box<dyn Future<Output = GuestResult> + Send>>;

/// Runs the guest in the caller's task (no task spawn, no cross-thread wake-up on
/// the common path) until it has set a response; the rest of its run, such as
/// streaming the body, is driven by polling the response body (see
/// [`DrivingBody`]).
async fn run(
    pre: &ProxyPre<HttpState>,
    req: http::Request<Full>,
    limits: InvokeLimits,
    permit: OwnedSemaphorePermit,
) -> Result<(http::Response<Body>, LogPipes), InvokeError> {
    let stdout = MemoryOutputPipe::new(MAX_OUTPUT_BYTES);
    let stderr = MemoryOutputPipe::new(MAX_OUTPUT_BYTES);
    let mut store = new_store(pre.engine(), &limits, &stdout, &stderr);
    let internal = |e: wasmtime::Error| InvokeError::Internal(format!("{e:#}"));
    let req = store
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
    let pre = pre.clone();
    let timeout = limits.timeout;
    let mut guest: GuestCall = Box::pin(async move {
        let call = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        let result = tokio::time::timeout(timeout, call).await;
        drop(store);
        drop(permit);
        result
    });
    let logs = LogPipes { stdout, stderr };

    enum First {
        Response(Result<Result<HyperResponse, ErrorCode>, RecvError>),
        Finished(GuestResult),
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

    let (response, guest) = match first {
        First::Response(r) => {
            // Most handlers write their whole body and return right after setting
            // the response: give the guest one more turn now, so the response
            // usually leaves complete, with a Content-Length, in one write.
            let finished = std::future::poll_fn(|cx| Poll::Ready(guest.as_mut().poll(cx))).await;
            match finished {
                Poll::Pending => (r, Some(guest)),
                Poll::Ready(Ok(Ok(()))) => (r, None),
                Poll::Ready(other) => {
                    if let Err(e) = r.as_ref().map(|_| ()) {
                        tracing::debug!("response channel closed: {e}");
                    }
                    // A response was set, then the guest failed; report the failure
                    // unless a complete response was already produced.
                    match r {
                        Ok(Ok(resp)) => {
                            tracing::info!("component failed after setting its response");
                            let _ = other;
                            (Ok(Ok(resp)), None)
                        }
                        _ => return Err(guest_failure(other, timeout, &logs)),
                    }
                }
            }
        }
        First::Finished(result) => match rx.try_recv() {
            // The guest set its response and then returned.
            Ok(r) if result.as_ref().is_ok_and(|r| r.is_ok()) => (Ok(r), None),
            _ => return Err(guest_failure(result, timeout, &logs)),
        },
    };
    match response {
        // The guest is done, so its whole body is buffered: send it with a length.
        Ok(Ok(response)) if guest.is_none() => {
            let (parts, body) = response.into_parts();
            match body.collect().await {
                Ok(collected) => Ok((
                    http::Response::from_parts(parts, crate::full_body(collected.to_bytes())),
                    logs,
                )),
                Err(e) => Err(InvokeError::BadOutput(format!(
                    "the component's response body failed: {e}"
                ))),
            }
        }
        Ok(Ok(response)) => Ok((
            response.map(|body| DrivingBody { inner: body, guest }.boxed_unsync()),
            logs,
        )),
        Ok(Err(code)) => Err(InvokeError::BadOutput(format!(
            "the component answered with an error: {code:?}"
        ))),
        // The outparam was dropped without a response: the guest failed or
        // returned; finish it here to learn which.
        Err(_) => match guest {
            Some(g) => Err(guest_failure(g.await, timeout, &logs)),
            None => Err(InvokeError::BadOutput(
                "the component returned without setting a response".into(),
            )),
        },
    }
}

type HyperResponse = hyper::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody>;
type ErrorCode = wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
type RecvError = tokio::sync::oneshot::error::RecvError;

fn guest_failure(
    result: GuestResult,
    timeout: std::time::Duration,
    logs: &LogPipes,
) -> InvokeError {
    match result {
        Err(_elapsed) => InvokeError::Timeout(timeout.as_millis() as u64),
        Ok(Err(e)) => classify(e, &logs.stderr.contents()),
        Ok(Ok(())) => {
            InvokeError::BadOutput("the component returned without setting a response".into())
        }
    }
}

/// A response body that also drives the guest that produces it, so a component
/// streaming its body needs no task of its own. When the body is finished or
/// dropped while the guest still runs (work after the response), the guest is
/// moved to a task of its own and runs to its end.
struct DrivingBody {
    inner: wasmtime_wasi_http::p2::body::HyperOutgoingBody,
    guest: Option<GuestCall>,
}

impl DrivingBody {
    fn poll_guest(&mut self, cx: &mut Context<'_>) {
        if let Some(g) = self.guest.as_mut()
            && let Poll::Ready(result) = g.as_mut().poll(cx)
        {
            self.guest = None;
            match result {
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
        std::pin::Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(BoxError::from)
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

struct LogPipes {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

/// An API invocation of a component: the parameters are POSTed to `/` as JSON and
/// the response body is the result. A JSON object body is the result itself;
/// anything else becomes `{"statusCode": N, "body": "<text>"}`. A status of 400 or
/// more is an application error (`{"error": ...}`).
pub(crate) async fn invoke_json(
    pre: &ProxyPre<HttpState>,
    input: Bytes,
    limits: InvokeLimits,
    permit: OwnedSemaphorePermit,
) -> Result<JsonOutcome, InvokeError> {
    let req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header(http::header::HOST, "localhost")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full(input))
        .map_err(|e| InvokeError::Internal(format!("cannot build request: {e}")))?;
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let (response, logs) = run(pre, req, limits, permit).await?;
    let status = response.status();
    let body = tokio::time::timeout_at(deadline, response.into_body().collect())
        .await
        .map_err(|_| InvokeError::Timeout(limits.timeout.as_millis() as u64))?
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
    let mut lines = crate::cgi::log_lines(&logs.stdout.contents(), false);
    lines.extend(crate::cgi::log_lines(&logs.stderr.contents(), false));
    Ok(JsonOutcome {
        result,
        logs: lines,
    })
}
