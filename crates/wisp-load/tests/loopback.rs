//! Runs every pattern against a small HTTP server on 127.0.0.1 that records what
//! it saw per `X-Client-Id`, and checks the server saw exactly the planned calls.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wisp_load::{ErrorKind, Pattern, Plan, Report, run};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    client_id: String,
    connection: usize,
    method: Method,
    host: String,
    body: Bytes,
    extra: Option<String>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Paths: `/ok` 200, `/fail` 500, `/slow` 200 after 300 ms, `/close` 200 with
/// `Connection: close`.
async fn serve() -> anyhow::Result<(SocketAddr, Log)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let log: Log = Arc::default();
    let server_log = Arc::clone(&log);
    tokio::spawn(async move {
        let mut connection = 0;
        while let Ok((stream, _)) = listener.accept().await {
            connection += 1;
            let log = Arc::clone(&server_log);
            let service = service_fn(move |req: Request<Incoming>| {
                let log = Arc::clone(&log);
                async move { Ok::<_, Infallible>(answer(req, connection, log).await) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, log))
}

async fn answer(req: Request<Incoming>, connection: usize, log: Log) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let client_id = header("x-client-id").unwrap_or_default();
    let host = header("host").unwrap_or_default();
    let extra = header("x-extra");
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if let Ok(mut log) = log.lock() {
        log.push(Seen {
            client_id,
            connection,
            method,
            host,
            body,
            extra,
        });
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"hello\n")));
    match path.as_str() {
        "/fail" => *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
        "/slow" => tokio::time::sleep(Duration::from_millis(300)).await,
        "/close" => {
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        _ => {}
    }
    response
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Calls per client id, and distinct connections per client id.
fn per_client(log: &Log) -> (BTreeMap<String, usize>, BTreeMap<String, BTreeSet<usize>>) {
    let mut calls = BTreeMap::new();
    let mut conns: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for s in seen(log) {
        *calls.entry(s.client_id.clone()).or_insert(0) += 1;
        conns.entry(s.client_id).or_default().insert(s.connection);
    }
    (calls, conns)
}

/// The ids the run must have used: `<run-id>-0` .. `<run-id>-(n-1)`.
fn expected_ids(report: &Report, n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("{}-{i}", report.run_id)).collect()
}

fn plan(pattern: Pattern, addr: SocketAddr, path: &str) -> anyhow::Result<Plan> {
    let mut plan = Plan::new(pattern, &format!("http://{addr}{path}"))?;
    plan.timeout = Duration::from_secs(5);
    plan.max_duration = Duration::from_secs(10);
    Ok(plan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scma_is_one_client_with_sequential_calls_on_one_connection() -> anyhow::Result<()> {
    let (addr, log) = serve().await?;
    let plan = plan(Pattern::Scma, addr, "/ok")?;
    let report = run(&plan, false).await?;

    let (calls, conns) = per_client(&log);
    assert_eq!(
        calls.keys().cloned().collect::<BTreeSet<_>>(),
        expected_ids(&report, 1)
    );
    assert_eq!(calls.values().copied().collect::<Vec<_>>(), vec![25]);
    assert!(
        conns.values().all(|c| c.len() == 1),
        "keep-alive: {conns:?}"
    );

    let s = &report.summary;
    assert_eq!((s.calls, s.ok, s.errors, s.skipped), (25, 25, 0, 0));
    assert!(s.latency_ms.is_some());
    assert!(s.throughput_rps > 0.0);
    let seqs: Vec<_> = report.calls.iter().map(|c| (c.client, c.seq)).collect();
    assert_eq!(seqs, (0..25).map(|i| (0, i)).collect::<Vec<_>>());
    // Sequential: each call starts after the previous one ended.
    for w in report.calls.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let end = a.start_ms.unwrap_or(f64::MAX) + a.latency_ms.unwrap_or(f64::MAX);
        assert!(b.start_ms.unwrap_or(0.0) >= end - 0.001);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcsa_is_many_clients_once_each_spread_over_the_ramp() -> anyhow::Result<()> {
    let (addr, log) = serve().await?;
    let mut plan = plan(Pattern::Mcsa, addr, "/ok")?;
    plan.clients = 10;
    plan.ramp = Duration::from_millis(200);
    let report = run(&plan, false).await?;

    let (calls, conns) = per_client(&log);
    assert_eq!(
        calls.keys().cloned().collect::<BTreeSet<_>>(),
        expected_ids(&report, 10)
    );
    assert!(calls.values().all(|&n| n == 1), "{calls:?}");
    assert!(conns.values().all(|c| c.len() == 1));
    // Ten clients, ten connections.
    let all: BTreeSet<_> = seen(&log).iter().map(|s| s.connection).collect();
    assert_eq!(all.len(), 10);

    let s = &report.summary;
    assert_eq!((s.calls, s.ok, s.errors), (10, 10, 0));
    for c in &report.calls {
        let start = c.start_ms.unwrap_or(-1.0);
        assert!(
            start >= 20.0 * c.client as f64,
            "client {} at {start}",
            c.client
        );
    }
    assert!(s.wall_ms >= 180.0 && s.wall_ms < 2_000.0, "{}", s.wall_ms);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcma_is_many_clients_several_calls_each() -> anyhow::Result<()> {
    let (addr, log) = serve().await?;
    let mut plan = plan(Pattern::Mcma, addr, "/ok")?;
    plan.clients = 4;
    plan.calls_per_client = 3;
    plan.ramp = Duration::from_millis(200);
    let report = run(&plan, false).await?;

    let (calls, conns) = per_client(&log);
    assert_eq!(
        calls.keys().cloned().collect::<BTreeSet<_>>(),
        expected_ids(&report, 4)
    );
    assert!(calls.values().all(|&n| n == 3), "{calls:?}");
    assert!(conns.values().all(|c| c.len() == 1), "{conns:?}");
    let s = &report.summary;
    assert_eq!((s.calls, s.ok, s.errors, s.skipped), (12, 12, 0, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_counted_by_status() -> anyhow::Result<()> {
    let (addr, log) = serve().await?;
    let mut plan = plan(Pattern::Mcma, addr, "/fail")?;
    plan.clients = 2;
    plan.calls_per_client = 2;
    plan.ramp = Duration::ZERO;
    let report = run(&plan, false).await?;

    assert_eq!(seen(&log).len(), 4);
    let s = &report.summary;
    assert_eq!((s.ok, s.errors), (0, 4));
    assert_eq!(s.errors_by_kind, BTreeMap::from([(ErrorKind::Status, 4)]));
    assert_eq!(s.errors_by_status, BTreeMap::from([(500, 4)]));
    assert_eq!(s.latency_ms, None);
    assert!(report.calls.iter().all(|c| c.status == Some(500)));
    // The connection is kept after an error answer.
    let (_, conns) = per_client(&log);
    assert!(conns.values().all(|c| c.len() == 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_connection_is_reopened() -> anyhow::Result<()> {
    let (addr, log) = serve().await?;
    let mut plan = plan(Pattern::Scma, addr, "/close")?;
    plan.calls_per_client = 5;
    let report = run(&plan, false).await?;

    assert_eq!(report.summary.ok, 5);
    let (calls, conns) = per_client(&log);
    assert_eq!(calls.values().copied().collect::<Vec<_>>(), vec![5]);
    assert_eq!(
        conns.values().map(BTreeSet::len).collect::<Vec<_>>(),
        vec![5]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_body_and_headers_are_sent() -> anyhow::Result<()> {
    let (addr, log) = serve().await?;
    let mut plan = plan(Pattern::Mcsa, addr, "/ok?x=1")?;
    plan.clients = 3;
    plan.ramp = Duration::ZERO;
    plan.method = Method::POST;
    plan.body = Some(Bytes::from_static(b"{\"name\":\"wisp\"}"));
    plan.headers
        .insert("x-extra", http::HeaderValue::from_static("yes"));
    // A caller's X-Client-Id is replaced by the run's.
    plan.headers
        .insert("x-client-id", http::HeaderValue::from_static("mine"));
    let report = run(&plan, false).await?;

    assert_eq!(report.summary.ok, 3);
    let seen = seen(&log);
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.body.as_ref(), b"{\"name\":\"wisp\"}");
        assert_eq!(s.extra.as_deref(), Some("yes"));
        assert_eq!(s.host, addr.to_string());
        assert!(s.client_id.starts_with(&report.run_id));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_is_bounded_by_timeout_and_max_duration() -> anyhow::Result<()> {
    let (addr, _log) = serve().await?;
    let mut plan = plan(Pattern::Scma, addr, "/slow")?;
    plan.calls_per_client = 20;
    plan.timeout = Duration::from_millis(100);
    plan.max_duration = Duration::from_millis(450);
    let started = std::time::Instant::now();
    let report = run(&plan, false).await?;
    assert!(started.elapsed() < Duration::from_millis(1_500));

    let s = &report.summary;
    assert_eq!(s.calls, 20);
    assert_eq!(s.ok, 0);
    assert!(s.skipped >= 10, "{s:?}");
    assert_eq!(s.errors + s.skipped, 20);
    assert_eq!(
        s.errors_by_kind.keys().collect::<Vec<_>>(),
        vec![&ErrorKind::Timeout]
    );
    assert!(s.wall_ms < 1_000.0, "{}", s.wall_ms);
    assert!(report.error_samples.contains_key(&ErrorKind::Timeout));
    let skipped = report
        .calls
        .iter()
        .filter(|c| c.error == Some(ErrorKind::Skipped));
    assert!(
        skipped
            .clone()
            .all(|c| c.start_ms.is_none() && c.latency_ms.is_none())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_connect_errors() -> anyhow::Result<()> {
    // A port that was free a moment ago: nothing listens there now.
    let addr = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let mut plan = plan(Pattern::Mcma, addr, "/")?;
    plan.clients = 2;
    plan.calls_per_client = 2;
    plan.ramp = Duration::ZERO;
    let report = run(&plan, false).await?;

    let s = &report.summary;
    assert_eq!((s.ok, s.errors), (0, 4));
    assert_eq!(s.errors_by_kind, BTreeMap::from([(ErrorKind::Connect, 4)]));
    let message = report.error_samples.get(&ErrorKind::Connect);
    assert!(
        message.is_some_and(|m| m.contains(&addr.to_string())),
        "{message:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_invalid_plan_is_refused_before_any_call() -> anyhow::Result<()> {
    let mut plan = Plan::new(Pattern::Scma, "http://127.0.0.1:9/")?;
    plan.clients = 2;
    let e = run(&plan, false).await.err().map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.starts_with("SCMA is a single client")));
    Ok(())
}
