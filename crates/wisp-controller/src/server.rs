//! The HTTP/1.1 server: accepts connections up to a cap, gives each a task, and
//! drains on shutdown. Every connection has a header read timeout; bodies have
//! their own read timeout where they are read.
//!
//! The server runs one single-threaded runtime per core, each with its own
//! listener on the same port ([`listener`] sets `SO_REUSEPORT`, so the kernel
//! spreads connections over them). A connection, its requests and its guests
//! then stay on one thread: no work stealing, no wake-up of another thread per
//! request.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::Controller;

/// Connections the kernel queues for one listener before `accept`.
const BACKLOG: u32 = 1024;

/// A listener on `addr` that other listeners of this process may share
/// (`SO_REUSEPORT`). Call inside the runtime that will serve it.
pub fn listener(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// How long, once the calls in flight are done, responses still streaming get
/// before their connections are closed.
pub const STREAM_GRACE: Duration = Duration::from_secs(1);

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then drains: stops
/// accepting, lets the calls in flight finish (up to the configured drain
/// timeout) while requests arriving on open connections get 503, closes the
/// connections and returns. Call [`crate::lifecycle::Lifecycle::begin_drain`]
/// before `shutdown` resolves, so the drain's 503s begin at once on every
/// serving thread.
///
/// At most `max_connections` connections are served at once, over every
/// listener of the controller: beyond, new ones wait (in the kernel's listen
/// backlog, one per listener accepted and waiting) until one closes, as
/// `wasmtime serve` does.
pub async fn serve(
    listener: TcpListener,
    controller: Arc<Controller>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = controller.connections.clone();
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(controller.config.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Taken after the accept, so an idle listener holds no slot: at most
        // one accepted connection per listener waits here for one to free.
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = open.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let _ = stream.set_nodelay(true);
        let ctl = controller.clone();
        let service = hyper::service::service_fn(move |req| {
            let ctl = ctl.clone();
            async move {
                Ok::<_, std::convert::Infallible>(crate::dispatch::handle(&ctl, req, peer).await)
            }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    let life = controller.lifecycle();
    life.begin_drain();
    let limit = controller.config.drain_timeout;
    if !life.settle(limit).await {
        tracing::warn!(
            in_flight = life.in_flight(),
            "calls still in flight after the drain timeout ({limit:?}); closing"
        );
    }
    if tokio::time::timeout(STREAM_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("responses still streaming after the drain; closing");
    }
    Ok(())
}

/// Answers on `listener` while the server starts, until `ready` resolves:
/// `/healthz` 200 (the process is alive), `/readyz` and everything else 503
/// with `Retry-After`, each on a connection closed after its answer. Returns
/// `ready`'s output; the listener is then served by [`serve`].
pub async fn serve_starting<T>(listener: &TcpListener, ready: impl Future<Output = T>) -> T {
    tokio::pin!(ready);
    loop {
        let stream = tokio::select! {
            done = &mut ready => return done,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = hyper::service::service_fn(
            |req: http::Request<hyper::body::Incoming>| async move {
                let (status, body) = match req.uri().path() {
                    "/healthz" | "/health" => (http::StatusCode::OK, r#"{"status":"starting"}"#),
                    "/readyz" => (
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        r#"{"status":"starting"}"#,
                    ),
                    _ => (
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        r#"{"error":"the server is starting; retry in a moment","code":"starting"}"#,
                    ),
                };
                let mut r = http::Response::new(wisp_invoker::full_body(format!("{body}\n")));
                *r.status_mut() = status;
                let h = r.headers_mut();
                h.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                if status != http::StatusCode::OK {
                    h.insert(
                        http::header::RETRY_AFTER,
                        http::HeaderValue::from_static("1"),
                    );
                }
                Ok::<_, std::convert::Infallible>(r)
            },
        );
        let conn = http1::Builder::new()
            .keep_alive(false)
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(
                crate::config::defaults::HEADER_TIMEOUT_S,
            ))
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}
