//! `GET /metrics` through the real server: exact values after known calls,
//! the cardinality cap, access, the unauthenticated listener, and an
//! exposition `promtool check metrics` accepts.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::json;

/// A response read off a raw connection.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

fn connect(base: &str) -> TcpStream {
    let addr = base.strip_prefix("http://").unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// One request on an open (keep-alive) connection; every answer wisp gives
/// here has a `Content-Length`.
fn send(stream: &mut TcpStream, method: &str, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: wisp\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.lines();
            let status = lines.next().unwrap().split(' ').nth(1).unwrap();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .expect("a Content-Length");
            if buf.len() >= end + 4 + length {
                return Raw {
                    status: status.parse().unwrap(),
                    body: String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned(),
                    headers,
                };
            }
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "connection closed mid-response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One request on a connection of its own.
fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> Raw {
    send(&mut connect(base), "GET", path, headers)
}

/// Every sample of an exposition: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

/// The server's exposition, scraped with its own key.
fn scrape(s: &Server) -> (String, HashMap<String, f64>) {
    let r = get(&s.url, "/metrics", &[("Authorization", &basic(KEY))]);
    assert_eq!(r.status, 200, "{}", r.body);
    let m = samples(&r.body);
    (r.body, m)
}

/// The value of one series (0 when absent would hide mistakes: it must exist).
fn value(m: &HashMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("no series {series}; have:\n{:#?}", sorted(m)))
}

fn sorted(m: &HashMap<String, f64>) -> Vec<(&String, &f64)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn series(metric: &str, action: &str, extra: &str) -> String {
    let ns = if action == "_other" {
        "_other"
    } else {
        "guest"
    };
    if extra.is_empty() {
        format!(r#"{metric}{{namespace="{ns}",action="{action}"}}"#)
    } else {
        format!(r#"{metric}{{namespace="{ns}",action="{action}",{extra}}}"#)
    }
}

fn activations(m: &HashMap<String, f64>, action: &str, status: &str) -> f64 {
    value(
        m,
        &series(
            "wisp_activations_total",
            action,
            &format!(r#"status="{status}""#),
        ),
    )
}

fn count(m: &HashMap<String, f64>, histogram: &str, action: &str) -> f64 {
    value(
        m,
        &series(
            &format!("wisp_activation_{histogram}_seconds_count"),
            action,
            "",
        ),
    )
}

/// `promtool check metrics` must accept the exposition without a word: no
/// error, no lint warning.
fn promtool_accepts(text: &str) {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is missing: scripts/setup.sh installs Debian's prometheus package");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {}\n{said}\n{text}",
        out.status
    );
}

/// A blocking call of the sandbox probe that sleeps `ms`, started in the
/// background; returns once the server counts `in_flight` instances.
fn sleeping(s: &Server, name: &str, ms: u64, in_flight: f64) -> std::thread::JoinHandle<u16> {
    let url = format!("{}?blocking=true&result=true", s.action_url(name));
    let handle = std::thread::spawn(move || {
        let body = format!(r#"{{"op":"sleep","ms":{ms}}}"#);
        request("POST", &url, Some(KEY), Some("application/json"), body).status
    });
    let started = std::time::Instant::now();
    loop {
        let (_, m) = scrape(s);
        if value(&m, "wisp_instances_in_flight") == in_flight {
            return handle;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never {in_flight} instances in flight"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback address no one listens on now.
fn free_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

fn trap() -> Vec<u8> {
    wat(r#"(module (func (export "_start") unreachable))"#)
}

#[test]
fn known_calls_are_counted_exactly() {
    // Two instances in all, nobody waits: refusals come at once.
    let s = Server::start(&["--max-instances", "2", "--max-queue", "0"]);
    let json_rust = example_bytes("json-rust");
    s.deploy("greet", &json_rust, json!({}));
    s.deploy("quiet", &json_rust, json!({}));
    s.deploy("trap", &trap(), json!({}));
    s.deploy("hello", &example_bytes("hello-http"), json!({}));
    s.deploy(
        "one",
        &example_bytes("sandbox-probe"),
        json!({"limits": {"instances": 1}}),
    );
    s.deploy("free", &example_bytes("sandbox-probe"), json!({}));

    for _ in 0..3 {
        assert_eq!(s.invoke("greet", json!({"name": "edge"})).status, 200);
    }
    let r = s.invoke("greet", json!({"name": "error"}));
    assert_eq!(r.json(), json!({"error": "asked to fail"}));
    assert_eq!(s.invoke("trap", json!({})).status, 502);
    for _ in 0..2 {
        assert_eq!(s.web("GET", "/fn/hello/", b"").status, 200);
    }

    // The action's own cap refuses a second call; the pool, once full, a third.
    let slow_one = sleeping(&s, "one", 3000, 1.0);
    assert_eq!(s.invoke("one", json!({"op": "count"})).status, 429);
    let slow_free = sleeping(&s, "free", 3000, 2.0);
    assert_eq!(s.invoke("greet", json!({})).status, 429);
    let (_, busy) = scrape(&s);
    assert_eq!(value(&busy, "wisp_instances_in_flight"), 2.0);
    assert_eq!(value(&busy, "wisp_admission_queue_depth"), 0.0);
    assert_eq!(slow_one.join().unwrap(), 200);
    assert_eq!(slow_free.join().unwrap(), 200);

    let (text, m) = scrape(&s);
    assert_eq!(activations(&m, "greet", "success"), 3.0);
    assert_eq!(activations(&m, "greet", "application_error"), 1.0);
    assert_eq!(activations(&m, "greet", "developer_error"), 0.0);
    assert_eq!(activations(&m, "trap", "developer_error"), 1.0);
    assert_eq!(activations(&m, "trap", "success"), 0.0);
    assert_eq!(activations(&m, "hello", "success"), 2.0);
    assert_eq!(activations(&m, "one", "success"), 1.0);
    assert_eq!(activations(&m, "free", "success"), 1.0);
    assert_eq!(activations(&m, "quiet", "success"), 0.0);
    assert_eq!(activations(&m, "_other", "success"), 0.0);
    // Deploying compiled them: no cold start.
    for action in ["greet", "trap", "hello"] {
        for warmth in ["cold-disk", "cold-compiled"] {
            let name = series(
                "wisp_cold_starts_total",
                action,
                &format!(r#"warmth="{warmth}""#),
            );
            assert_eq!(value(&m, &name), 0.0, "{name}");
        }
    }
    // Every activation has a duration and a wait; those that ran to an answer
    // an init time, web calls included.
    for (action, all, answered) in [("greet", 4.0, 4.0), ("trap", 1.0, 0.0), ("hello", 2.0, 2.0)] {
        assert_eq!(count(&m, "duration", action), all, "{action}");
        assert_eq!(count(&m, "wait", action), all, "{action}");
        assert_eq!(count(&m, "init", action), answered, "{action}");
        let inf = series(
            "wisp_activation_duration_seconds_bucket",
            action,
            r#"le="+Inf""#,
        );
        assert_eq!(value(&m, &inf), all, "{action}");
    }
    let hello_init = value(&m, &series("wisp_activation_init_seconds_sum", "hello", ""));
    assert!(hello_init > 0.0 && hello_init < 1.0, "{hello_init}");
    let greet_time = value(
        &m,
        &series("wisp_activation_duration_seconds_sum", "greet", ""),
    );
    assert!(greet_time > 0.0 && greet_time < 10.0, "{greet_time}");

    // One key called greet again and again; nobody called quiet.
    let pattern = |action: &str, p: &str| {
        value(
            &m,
            &series("wisp_action_pattern", action, &format!(r#"pattern="{p}""#)),
        )
    };
    assert_eq!(pattern("greet", "SCMA"), 1.0);
    assert_eq!(pattern("quiet", "idle"), 1.0);
    for action in ["greet", "quiet", "trap", "hello"] {
        let sum: f64 = ["idle", "SCMA", "MCSA", "MCMA"]
            .iter()
            .map(|p| pattern(action, p))
            .sum();
        assert_eq!(sum, 1.0, "{action}");
    }

    let throttled =
        |reason: &str| value(&m, &format!(r#"wisp_throttled_total{{reason="{reason}"}}"#));
    assert_eq!(throttled("action_cap"), 1.0);
    assert_eq!(throttled("pool_full"), 1.0);
    assert_eq!(throttled("queue_timeout"), 0.0);
    assert_eq!(throttled("draining"), 0.0);
    assert_eq!(value(&m, "wisp_actions"), 6.0);
    assert_eq!(value(&m, "wisp_instances_in_flight"), 0.0);
    assert!(value(&m, "wisp_compiled_code_bytes") > 0.0);
    assert!(value(&m, "process_resident_memory_bytes") > 1e6);
    assert!(value(&m, "process_cpu_seconds_total") > 0.0);
    assert!(value(&m, "process_open_fds") > 0.0);
    assert!(value(&m, "process_start_time_seconds") > 1e9);
    promtool_accepts(&text);

    // The Prometheus text format by default; OpenMetrics for who asks for it.
    let r = get(&s.url, "/metrics", &[("Authorization", &basic(KEY))]);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let r = get(
        &s.url,
        "/metrics",
        &[
            ("Authorization", &basic(KEY)),
            (
                "Accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            ),
        ],
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(r.body.ends_with("# EOF\n"), "{}", r.body);
    assert!(r.body.contains("# TYPE wisp_activations counter\n"));
}

#[test]
fn cold_starts_count_where_the_code_came_from() {
    // A zero budget: the keeper evicts every template each second.
    let mut s = Server::start(&["--hot-budget-mb", "0"]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    let started = std::time::Instant::now();
    while request(
        "GET",
        &format!("{}/stats", s.action_url("greet")),
        Some(KEY),
        None,
        "",
    )
    .json()["memory"]["hot"]
        == true
    {
        assert!(started.elapsed() < Duration::from_secs(10), "never evicted");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.invoke("greet", json!({})).status, 200);
    let (_, m) = scrape(&s);
    let cold = |m: &HashMap<String, f64>, warmth: &str| {
        value(
            m,
            &series(
                "wisp_cold_starts_total",
                "greet",
                &format!(r#"warmth="{warmth}""#),
            ),
        )
    };
    assert_eq!(cold(&m, "cold-disk"), 1.0);
    assert_eq!(cold(&m, "cold-compiled"), 0.0);
    assert_eq!(activations(&m, "greet", "success"), 1.0);
    assert_eq!(count(&m, "init", "greet"), 1.0);

    // Without its compiled code on disk, the module is compiled again. (A
    // restart starts the counters again, as Prometheus expects of a process.)
    s.stop();
    std::fs::remove_dir_all(s.data_dir.join("cache")).unwrap();
    s.resume();
    assert_eq!(s.invoke("greet", json!({})).status, 200);
    let (_, m) = scrape(&s);
    assert_eq!(cold(&m, "cold-disk"), 0.0);
    assert_eq!(cold(&m, "cold-compiled"), 1.0);
    assert_eq!(activations(&m, "greet", "success"), 1.0);
}

#[test]
fn actions_past_the_cap_share_the_other_series() {
    let s = Server::start(&["--metrics-max-actions", "1"]);
    let module = example_bytes("json-rust");
    for name in ["a", "b", "c"] {
        s.deploy(name, &module, json!({}));
        assert_eq!(s.invoke(name, json!({})).status, 200);
    }
    // An update keeps the action's own series.
    s.deploy("a", &module, json!({}));
    assert_eq!(s.invoke("a", json!({})).status, 200);
    let (text, m) = scrape(&s);
    assert_eq!(activations(&m, "a", "success"), 2.0);
    assert_eq!(activations(&m, "_other", "success"), 2.0);
    assert_eq!(count(&m, "duration", "_other"), 2.0);
    assert!(!text.contains(r#"action="b""#) && !text.contains(r#"action="c""#));
    // The shared series has no pattern of its own.
    assert!(!text.contains(r#"wisp_action_pattern{namespace="_other""#));
    assert_eq!(value(&m, "wisp_actions"), 3.0);
    promtool_accepts(&text);

    // A deleted action gives its place to the next one published.
    let r = request("DELETE", &s.action_url("a"), Some(KEY), None, "");
    assert_eq!(r.status, 200, "{}", r.text());
    s.deploy("d", &module, json!({}));
    assert_eq!(s.invoke("d", json!({})).status, 200);
    let (text, m) = scrape(&s);
    assert_eq!(activations(&m, "d", "success"), 1.0);
    assert_eq!(activations(&m, "_other", "success"), 2.0);
    assert!(!text.contains(r#"action="a""#));
}

#[test]
fn access_needs_the_server_key_or_the_metrics_token() {
    let local = free_address();
    let s = Server::start(&[
        "--metrics-token",
        "s3cret-token",
        "--metrics-listen",
        &local,
    ]);
    let (ok, team, err) = cli(&s, &["namespace", "create", "team"]);
    assert!(ok, "{err}");
    let team = team.trim();

    let status = |headers: &[(&str, &str)]| get(&s.url, "/metrics", headers).status;
    let none = get(&s.url, "/metrics", &[]);
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Basic realm=\"wisp\"")
    );
    assert_eq!(status(&[("Authorization", &basic(team))]), 403);
    assert_eq!(status(&[("Authorization", &basic("test-id:wrong"))]), 401);
    assert_eq!(status(&[("Authorization", &basic(KEY))]), 200);
    assert_eq!(status(&[("Authorization", "Bearer s3cret-token")]), 200);
    assert_eq!(status(&[("Authorization", "Bearer s3cret-toke")]), 401);
    assert_eq!(status(&[("Authorization", "Bearer ")]), 401);

    // The node's own listener: /metrics without a key, and nothing else.
    let base = format!("http://{local}");
    let r = get(&base, "/metrics", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("# TYPE wisp_actions gauge"), "{}", r.body);
    promtool_accepts(&r.body);
    assert_eq!(get(&base, "/api/v1", &[]).status, 404);
    assert_eq!(
        get(&base, "/fn/anything/", &[("Authorization", &basic(KEY))]).status,
        404
    );

    // With metrics off there is nothing to read, and calls still run.
    let off = Server::start(&["--no-metrics"]);
    assert_eq!(
        get(&off.url, "/metrics", &[("Authorization", &basic(KEY))]).status,
        404
    );
    off.deploy("greet", &example_bytes("json-rust"), json!({}));
    assert_eq!(off.invoke("greet", json!({})).status, 200);
}

#[test]
fn the_drains_refusals_are_counted_and_metrics_still_answer() {
    let local = free_address();
    let mut s = Server::start(&["--drain-timeout", "10", "--metrics-listen", &local]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    s.deploy("slow", &example_bytes("sandbox-probe"), json!({}));
    // Two connections open before the drain (its listener then closes).
    let mut refused = connect(&s.url);
    let mut scraper = connect(&s.url);
    assert_eq!(send(&mut refused, "GET", "/healthz", &[]).status, 200);
    assert_eq!(send(&mut scraper, "GET", "/healthz", &[]).status, 200);
    // A call in flight keeps the drain going.
    let slow = sleeping(&s, "slow", 5000, 1.0);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));

    let auth = basic(KEY);
    let r = send(
        &mut refused,
        "POST",
        "/api/v1/namespaces/_/actions/greet?blocking=true",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 503, "{}", r.body);
    let r = send(&mut scraper, "GET", "/metrics", &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let m = samples(&r.body);
    assert_eq!(value(&m, r#"wisp_throttled_total{reason="draining"}"#), 1.0);
    assert_eq!(value(&m, "wisp_instances_in_flight"), 1.0);
    promtool_accepts(&r.body);
    // The node's own listener still answers, on a new connection.
    let r = get(&format!("http://{local}"), "/metrics", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let m = samples(&r.body);
    assert_eq!(value(&m, r#"wisp_throttled_total{reason="draining"}"#), 1.0);
    assert_eq!(slow.join().unwrap(), 200);
    s.stop();
}
