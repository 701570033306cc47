//! `GET /metrics`: the Prometheus exposition, for the server's own key (HTTP
//! Basic, as Prometheus' `basic_auth` sends it) or `Authorization: Bearer
//! TOKEN` with `--metrics-token`; and the listener of `--metrics-listen`,
//! which serves `/metrics` and nothing else without authentication, for a
//! scraper on the node itself.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use wisp_invoker::{Body, full_body};

use crate::Controller;
use crate::edge::authn::authenticate;
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::keys::constant_time_eq;
use crate::metrics::exposition::{self, Format, Snapshot};

/// Connections the unauthenticated listener serves at once: it is for one
/// scraper on the node, and must not become a way to tie the server up.
const LOCAL_CONNECTIONS: usize = 8;

/// Answers `GET /metrics` on the API listener.
pub fn scrape(ctl: &Controller, headers: &HeaderMap) -> ApiResult {
    if !ctl.metrics.enabled() {
        return Err(off());
    }
    check_access(ctl, headers)?;
    exposition_response(ctl, headers)
}

fn off() -> ApiError {
    ApiError::not_found("metrics are off on this server (--no-metrics)")
}

/// The server's own key, or the metrics token.
fn check_access(ctl: &Controller, headers: &HeaderMap) -> Result<(), ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(given) = bearer {
        return match &ctl.config.metrics_token {
            Some(token) if same_secret(given.trim(), token) => Ok(()),
            _ => Err(ApiError::unauthorized("the metrics token is not valid")),
        };
    }
    if authenticate(&ctl.keys, headers)?.admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the server's own key (or the metrics token) may read the metrics",
        ))
    }
}

/// Compares the digests, so neither the token's bytes nor its length shows in
/// the time taken.
fn same_secret(given: &str, token: &str) -> bool {
    constant_time_eq(
        &Sha256::digest(given.as_bytes()),
        &Sha256::digest(token.as_bytes()),
    )
}

/// The exposition, in the format the scraper accepts.
fn exposition_response(ctl: &Controller, headers: &HeaderMap) -> ApiResult {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let text = exposition::encode(Snapshot::take(ctl), format).map_err(ApiError::internal)?;
    let mut r = Response::new(full_body(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(r)
}

/// Serves `GET /metrics`, without authentication, on `listener` until
/// `shutdown` resolves; any other request gets 404.
pub async fn serve_local(
    listener: TcpListener,
    ctl: Arc<Controller>,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(tokio::sync::Semaphore::new(LOCAL_CONNECTIONS));
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(ctl.config.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("metrics listener: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            permit = open.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let ctl = ctl.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let response = local(&ctl, &req);
            async move { Ok::<_, Infallible>(response) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("metrics connection ended: {e}");
            }
            drop(permit);
        });
    }
}

/// One request to the unauthenticated listener.
fn local<B>(ctl: &Controller, req: &Request<B>) -> Response<Body> {
    let answer = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") if ctl.metrics.enabled() => {
            exposition_response(ctl, req.headers())
        }
        (&Method::GET, "/metrics") => Err(off()),
        (_, "/metrics") => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found("this listener serves /metrics only")),
    };
    answer.unwrap_or_else(respond::error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cre", "s3cret"));
        assert!(!same_secret("", "s3cret"));
        assert!(!same_secret("S3cret", "s3cret"));
    }
}
