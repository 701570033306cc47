//! The native ceiling of wisp's benchmark workloads: the same library and
//! routes as the `workloads-http` component, served by tokio and hyper.
//!
//! ```text
//! workloads-native [--listen ADDR]     (default 127.0.0.1:8090; port 0 picks one)
//! ```
//!
//! Prints `listening on http://ADDR` as its first line of output, then serves
//! `/plate`, `/classify` and `/resize` (any method; the request body is the
//! input, an empty body uses the embedded sample; the workload is the path's
//! last segment), 404 for anything else. Workloads run on the connection's
//! task: they take milliseconds, less than a hop to a blocking pool would cost.
//! Answers to the workload routes carry `X-Compute-Ns`, the nanoseconds the
//! library call took (monotonic clock around it).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Largest request body accepted.
const MAX_BODY: usize = 32 << 20;

const USAGE: &str = "usage: workloads-native [--listen ADDR]";

#[tokio::main]
async fn main() {
    let addr = match parse_args(std::env::args().skip(1)) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("workloads-native: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("workloads-native: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    println!("listening on http://{local}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("workloads-native: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let mut listen = "127.0.0.1:8090".to_string();
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            listen = args.next().ok_or("--listen needs an address")?;
        } else if let Some(v) = arg.strip_prefix("--listen=") {
            listen = v.to_string();
        } else if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        } else {
            return Err(format!("unknown argument {arg:?}"));
        }
    }
    listen
        .parse()
        .map_err(|e| format!("bad address {listen:?}: {e}"))
}

/// The last segment of the path, without trailing slash.
fn workload_name(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let name = workload_name(&path);
    if !workloads::WORKLOADS.contains(&name) {
        let text = format!(
            "not found: {path}\nroutes: /plate, /classify, /resize (the request body is the input)\n"
        );
        return Ok(reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            text.into_bytes(),
        ));
    }
    let name = name.to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let text = format!("cannot read the request body: {e}\n");
            return Ok(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                text.into_bytes(),
            ));
        }
    };
    let start = Instant::now();
    let result = workloads::run(&name, &body);
    let compute_ns = start.elapsed().as_nanos();
    let mut resp = match result {
        Ok((content_type, output)) => reply(StatusCode::OK, content_type, output),
        Err(e) => reply(
            StatusCode::BAD_REQUEST,
            "text/plain",
            format!("{e}\n").into_bytes(),
        ),
    };
    if let Ok(v) = compute_ns.to_string().parse() {
        resp.headers_mut().insert("x-compute-ns", v);
    }
    Ok(resp)
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::workload_name;

    #[test]
    fn names_from_paths() {
        assert_eq!(workload_name("/resize"), "resize");
        assert_eq!(workload_name("/a/b/plate/"), "plate");
        assert_eq!(workload_name("/"), "");
    }
}
