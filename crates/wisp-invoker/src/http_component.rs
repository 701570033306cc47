//! `wasi:http/proxy` components, served as `wasmtime serve -S cli` serves them: the
//! proxy world plus the WASI command interfaces, with no preopened directories, no
//! host environment, no sockets and no outgoing HTTP.

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
    let (tx, rx) = tokio::sync::oneshot::channel();
    let out = store
        .data_mut()
        .http()
        .new_response_outparam(tx)
        .map_err(internal)?;
    let pre = pre.clone();
    let timeout = limits.timeout;
    let task = tokio::spawn(async move {
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
    match rx.await {
        Ok(Ok(response)) => Ok((
            response.map(|b| b.map_err(BoxError::from).boxed_unsync()),
            logs,
        )),
        Ok(Err(code)) => Err(InvokeError::BadOutput(format!(
            "the component answered with an error: {code:?}"
        ))),
        Err(_) => {
            let stderr = logs.stderr.contents();
            Err(match task.await {
                Ok(Err(_elapsed)) => InvokeError::Timeout(timeout.as_millis() as u64),
                Ok(Ok(Err(e))) => classify(e, &stderr),
                Ok(Ok(Ok(()))) => InvokeError::BadOutput(
                    "the component returned without setting a response".into(),
                ),
                Err(e) => InvokeError::Internal(format!("instance task failed: {e}")),
            })
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
