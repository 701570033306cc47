//! Operating wisp through the real server: health during start and drain, a
//! drain with calls in flight, JSON logs carrying the request and activation
//! ids, and versions with rollback (an in-flight call across one included).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use serde_json::json;
use sha2::Digest;

/// One HTTP/1.1 request on an open connection; the status, the headers
/// (lowercase names) and the body.
fn raw(
    conn: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: wisp\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    req += body;
    conn.write_all(req.as_bytes()).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line
        .split(' ')
        .nth(1)
        .unwrap_or_else(|| panic!("no status in {line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        let (k, v) = (k.to_ascii_lowercase(), v.trim().to_string());
        if k == "content-length" {
            length = v.parse().unwrap();
        }
        headers.push((k, v));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

fn connect(s: &Server) -> TcpStream {
    let addr = s.url.strip_prefix("http://").unwrap();
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c
}

/// A blocking call of the sandbox probe that sleeps `ms`, on its own thread.
fn slow_call(s: &Server, name: &str, ms: u64) -> std::thread::JoinHandle<Resp> {
    let url = format!("{}?blocking=true", s.action_url(name));
    std::thread::spawn(move || {
        request(
            "POST",
            &url,
            Some(KEY),
            Some("application/json"),
            serde_json::to_vec(&json!({"op": "sleep", "ms": ms})).unwrap(),
        )
    })
}

#[test]
fn health_answers_while_starting_and_serving() {
    // A data directory with a hot set to load back makes the start take a while.
    let mut s = Server::start(&[]);
    for i in 0..40 {
        let module = wat(&format!(
            r#"(module (func (export "_start")) (memory (export "memory") 1) (global i32 (i32.const {i})))"#
        ));
        s.deploy(&format!("f{i}"), &module, json!({}));
    }
    s.stop();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wisp"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--data-dir",
        ])
        .arg(&s.data_dir)
        .arg("--secret-key-file")
        .arg(&s.key_file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("wisp starting on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let addr = url.strip_prefix("http://").unwrap().to_string();
    // Readiness goes from 503 (starting) to 200 once, never back; liveness
    // is 200 throughout; other requests get 503 with Retry-After meanwhile.
    let mut ready_seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "never ready: {ready_seen:?}");
        let mut c = TcpStream::connect(&addr).unwrap();
        let (status, _, body) = raw(&mut c, "GET", "/healthz", &[], "");
        assert_eq!(status, 200, "{body}");
        let mut c = TcpStream::connect(&addr).unwrap();
        let (ready, headers, body) = raw(&mut c, "GET", "/readyz", &[], "");
        ready_seen.push(ready);
        if ready == 200 {
            break;
        }
        assert_eq!(ready, 503, "{body}");
        assert!(body.contains("starting"), "{body}");
        assert_eq!(header(&headers, "retry-after"), Some("1"));
        let mut c = TcpStream::connect(&addr).unwrap();
        let (status, headers, body) = raw(
            &mut c,
            "GET",
            "/api/v1/namespaces/_/actions",
            &[("authorization", &basic())],
            "",
        );
        if status == 503 {
            assert!(body.contains("starting"), "{body}");
            assert_eq!(header(&headers, "retry-after"), Some("1"));
        }
    }
    assert_eq!(
        ready_seen.first(),
        Some(&503),
        "the start was not seen: {ready_seen:?}"
    );
    for _ in 0..5 {
        let mut c = TcpStream::connect(&addr).unwrap();
        assert_eq!(raw(&mut c, "GET", "/readyz", &[], "").0, 200);
    }
    let mut c = TcpStream::connect(&addr).unwrap();
    assert_eq!(
        raw(
            &mut c,
            "GET",
            "/api/v1/namespaces/_/actions?limit=100",
            &[("authorization", &basic())],
            ""
        )
        .0,
        200
    );
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_drain_finishes_calls_in_flight_refuses_new_ones_and_flushes_their_records() {
    let mut s = Server::start(&["--drain-timeout", "20"]);
    s.deploy("probe", &example_bytes("sandbox-probe"), json!({}));
    // Connections a client already holds open when the drain begins.
    let mut open = [connect(&s), connect(&s), connect(&s)];
    for c in &mut open {
        assert_eq!(raw(c, "GET", "/readyz", &[], "").0, 200);
    }
    let slow = [slow_call(&s, "probe", 1500), slow_call(&s, "probe", 2500)];
    std::thread::sleep(Duration::from_millis(400));
    let started = Instant::now();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(s.pid().to_string())
        .status();
    std::thread::sleep(Duration::from_millis(200));

    // Readiness fails, new requests on open connections get 503 with
    // Retry-After and the connection is closed; new connections are refused.
    let (status, headers, body) = raw(&mut open[0], "GET", "/readyz", &[], "");
    assert_eq!(
        (status, header(&headers, "retry-after")),
        (503, Some("1")),
        "{body}"
    );
    assert!(body.contains("draining"), "{body}");
    let path = "/api/v1/namespaces/_/actions/probe?blocking=true";
    let (status, headers, body) = raw(
        &mut open[1],
        "POST",
        path,
        &[("authorization", &basic())],
        r#"{"op":"count"}"#,
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(header(&headers, "retry-after"), Some("1"));
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert!(body.contains("shutting down"), "{body}");
    let (status, _, _) = raw(&mut open[2], "GET", "/fn/probe/", &[], "");
    assert_eq!(status, 503);
    let addr = s.url.strip_prefix("http://").unwrap().to_string();
    assert!(
        TcpStream::connect(&addr).is_err(),
        "a new connection was accepted while draining"
    );

    // The calls in flight finish, with their results.
    let mut ids = Vec::new();
    for call in slow {
        let r = call.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let record = r.json();
        assert_eq!(record["response"]["status"], "success", "{record}");
        ids.push(record["activationId"].as_str().unwrap().to_string());
    }
    // The process exits 0 once they are done, well before the drain timeout.
    s.stop();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // Their records were flushed before the exit.
    s.resume();
    for id in ids {
        let r = request(
            "GET",
            &format!("{}/api/v1/namespaces/_/activations/{id}", s.url),
            Some(KEY),
            None,
            "",
        );
        assert_eq!(r.status, 200, "record {id} was lost: {}", r.text());
    }
}

#[test]
fn json_logs_carry_the_request_and_activation_ids() {
    let s = Server::start_logged(&["--log-format", "json"], &[("WISP_LOG", "info")]);
    s.deploy("echo", &example_bytes("json-rust"), json!({}));
    let mut c = connect(&s);
    let path = "/api/v1/namespaces/_/actions/echo?blocking=true&result=true";
    let (status, headers, body) = raw(
        &mut c,
        "POST",
        path,
        &[("authorization", &basic()), ("x-request-id", "req-42.a:b")],
        r#"{"name":"logs"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-request-id"), Some("req-42.a:b"));
    let activation = header(&headers, "x-openwhisk-activation-id")
        .unwrap()
        .to_string();
    // An id that is not one is replaced, and the made one returned.
    let (_, headers, _) = raw(
        &mut c,
        "GET",
        "/healthz",
        &[("x-request-id", "no spaces <allowed>")],
        "",
    );
    let made = header(&headers, "x-request-id").unwrap().to_string();
    assert_eq!(made.len(), 16, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));

    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut call_line, mut health_line) = (None, None);
    while Instant::now() < deadline && (call_line.is_none() || health_line.is_none()) {
        for l in s.log_lines() {
            let v: serde_json::Value = serde_json::from_str(&l)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
            assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
            if v["span"]["request_id"] == "req-42.a:b" && v["message"] == "request" {
                call_line = Some(v.clone());
            }
            if v["span"]["request_id"] == made.as_str() {
                health_line = Some(v);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let call_line = call_line.expect("no log line of the call");
    assert_eq!(
        call_line["span"]["activation_id"],
        activation.as_str(),
        "{call_line}"
    );
    assert_eq!(call_line["status"], 200);
    assert_eq!(call_line["path"], "/api/v1/namespaces/_/actions/echo");
    let health_line = health_line.expect("no log line of the health check");
    assert!(
        health_line["span"].get("activation_id").is_none(),
        "{health_line}"
    );
}

/// The version list of an action.
fn versions(s: &Server, name: &str) -> Vec<serde_json::Value> {
    let r = s.get(&format!("/api/v1/namespaces/_/actions/{name}/versions"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().unwrap().clone()
}

fn rollback(s: &Server, name: &str, body: &str) -> Resp {
    request(
        "POST",
        &format!("{}/rollback", s.action_url(name)),
        Some(KEY),
        Some("application/json"),
        body.to_string(),
    )
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn versions_roll_back_instantly_and_calls_in_flight_finish_on_theirs() {
    let mut s = Server::start(&["--keep-versions", "3"]);
    let (v1, v2) = (example_bytes("json-rust"), example_bytes("sandbox-probe"));
    s.deploy("f", &v1, json!({"limits": {"timeout": 5000}}));
    s.deploy("f", &v2, json!({"limits": {"timeout": 20000}}));
    let list = versions(&s, "f");
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["version"].as_str(), list[0]["current"].as_bool()),
        (Some("0.0.2"), Some(true))
    );
    assert_eq!(
        (list[1]["version"].as_str(), list[1]["current"].as_bool()),
        (Some("0.0.1"), Some(false))
    );
    assert_eq!(list[0]["module_sha256"], sha256(&v2));
    assert_eq!(list[1]["module_sha256"], sha256(&v1));
    assert_eq!(list[1]["limits"]["timeout"], 5000);
    assert!(list[0]["deployed"].as_u64().unwrap() >= list[1]["deployed"].as_u64().unwrap());

    // A call running version 0.0.2 while the action rolls back to 0.0.1.
    let slow = slow_call(&s, "f", 1500);
    std::thread::sleep(Duration::from_millis(400));
    let r = rollback(&s, "f", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], "0.0.1");
    let code_from = r.headers["x-wisp-code-from"].to_str().unwrap().to_string();
    assert_ne!(code_from, "cold-compiled", "a rollback recompiled");
    // New calls run 0.0.1 at once, from compiled code already loaded.
    let r = request(
        "POST",
        &format!("{}?blocking=true", s.action_url("f")),
        Some(KEY),
        Some("application/json"),
        r#"{"name":"back"}"#,
    );
    let record = r.json();
    assert_eq!(record["version"], "0.0.1", "{record}");
    assert!(
        record["response"]["result"].to_string().contains("back"),
        "{record}"
    );
    let warmth = record["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "warmth")
        .map(|a| a["value"].clone());
    assert_eq!(warmth, Some(json!("hot")), "{record}");
    // The call in flight finished on the version it started on.
    let before = slow.join().unwrap().json();
    assert_eq!(before["version"], "0.0.2", "{before}");
    assert_eq!(before["response"]["status"], "success", "{before}");
    assert_eq!(versions(&s, "f")[1]["current"], true);

    // Errors: no such version, nothing before the oldest, a bad body, no action.
    let r = rollback(&s, "f", r#"{"version":"0.0.9"}"#);
    assert_eq!(r.status, 404);
    assert!(
        r.error().contains("0.0.9") && r.error().contains("0.0.2, 0.0.1")
            || r.error().contains("0.0.1, 0.0.2"),
        "{}",
        r.error()
    );
    let r = rollback(&s, "f", "");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.error().contains("before the current one (0.0.1)"),
        "{}",
        r.error()
    );
    let r = rollback(&s, "f", r#"{"version": 3, "extra": true}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(rollback(&s, "nope", "").status, 404);

    // A deploy after the rollback numbers after the newest; only three are kept.
    s.deploy("f", &v2, json!({}));
    s.deploy("f", &v1, json!({}));
    let list: Vec<_> = versions(&s, "f")
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(list, ["0.0.4", "0.0.3", "0.0.2"]);

    // After a restart the kept versions' compiled code is on disk: a rollback
    // loads it, never recompiles. The CLI lists and rolls back too.
    s.restart();
    let r = rollback(&s, "f", r#"{"version":"0.0.2"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers["x-wisp-code-from"], "cold-disk");
    let (ok, out, err) = cli(&s, &["rollback", "f", "0.0.3"]);
    assert!(ok, "{err}");
    assert!(out.contains("0.0.3"), "{out}");
    let (ok, out, err) = cli(&s, &["versions", "f"]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with('*') && l.contains("0.0.3")),
        "{out}"
    );
    assert_eq!(out.lines().count(), 4, "{out}");
    let r = s.invoke("f", json!({"op": "count"}));
    assert_eq!(r.status, 200, "{}", r.text());

    // Deleting the action deletes every version.
    let r = request("DELETE", &s.action_url("f"), Some(KEY), None, "");
    assert_eq!(r.status, 200);
    let r = request(
        "GET",
        &format!("{}/versions", s.action_url("f")),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 404);
    assert_eq!(s.deploy("f", &v1, json!({}))["version"], "0.0.1");
    assert_eq!(versions(&s, "f").len(), 1);
}

#[test]
fn a_second_server_on_a_port_in_use_refuses_to_start() {
    let s = Server::start(&[]);
    let addr = s.url.trim_start_matches("http://").to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wisp"))
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--secret-key-file")
        .arg(dir.path().join("secret.key"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "a second server started on {addr}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on {addr}")) && err.contains("another server"),
        "{err}"
    );
    // The first one still answers every request.
    for _ in 0..8 {
        assert_eq!(s.web("GET", "/healthz", b"").status, 200);
    }
}
