//! Hostile guests against the real server: each case asserts the exact status and
//! message the caller gets, and that the server still serves a normal action.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use serde_json::json;

/// Deploys the probe as `name` with extra action fields.
fn probe(s: &Server, name: &str, extra: serde_json::Value) {
    s.deploy(name, &example_bytes("sandbox-probe"), extra);
}

/// A normal action still answers correctly.
fn still_serves(s: &Server) {
    s.deploy("healthy", &example_bytes("c-counter"), json!({}));
    let r = s.invoke("healthy", json!({}));
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"calls": 1, "language": "c"}))
    );
}

#[test]
fn limits_end_only_the_offending_call_with_a_clear_error() {
    let s = Server::start(&["--max-logs", "1048576"]);
    probe(&s, "p", json!({"limits": {"memory": 16, "timeout": 400}}));

    // Memory bomb: growth past the limit fails and is named.
    let r = s.invoke("p", json!({"op": "alloc", "mb": 64}));
    assert_eq!(r.status, 502);
    assert_eq!(r.error(), "the action exceeded its memory limit of 16 MB");
    assert_eq!(
        s.invoke("p", json!({"op": "alloc", "mb": 4})).json(),
        json!({"ok": true, "mb": 4})
    );

    // Stack overflow.
    let r = s.invoke("p", json!({"op": "recurse"}));
    assert_eq!(r.status, 502);
    assert!(r.error().contains("stack overflow"), "{}", r.text());

    // A panic: the guest's own message comes back.
    let r = s.invoke("p", json!({"op": "panic"}));
    assert_eq!(r.status, 502);
    assert!(
        r.error().contains("the probe was asked to panic"),
        "{}",
        r.text()
    );

    // A busy loop and a blocked host call both end at the time limit.
    for op in [json!({"op": "spin"}), json!({"op": "sleep", "ms": 5000})] {
        let started = std::time::Instant::now();
        let r = s.invoke("p", op);
        assert_eq!(r.status, 502);
        assert_eq!(
            r.error(),
            "the action exceeded its time limit of 400 milliseconds"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    let r = s.web("GET", "/fn/p/", b"");
    // A web call with empty stdin gets an unknown op: an application error body.
    assert_eq!(r.status, 200);

    // Flooding stdout is stopped at the cap (logs + result: 1 MiB + 1 MiB).
    let r = s.invoke("p", json!({"op": "flood", "mb": 4}));
    assert_eq!(r.status, 502);
    assert_eq!(
        r.error(),
        "the action's stdout (logs and result together) exceeded the limit of 2097152 bytes"
    );

    // A result over OpenWhisk's 1 MB cap.
    let r = s.invoke("p", json!({"op": "big_result", "bytes": 1_200_000}));
    assert_eq!(r.status, 502);
    assert_eq!(
        r.error(),
        "the action's result exceeded the limit of 1048576 bytes"
    );

    still_serves(&s);
}

#[test]
fn huge_requests_and_responses_are_capped() {
    let s = Server::start(&["--max-response", "1048576", "--max-body", "65536"]);
    // A CGI command writing 4 MB of body: a clear 502 naming the cap.
    s.deploy(
        "flood",
        &wat(r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 2)
            (data (i32.const 0) "\10\00\00\00\00\00\01\00")
            (func (export "_start") (local $i i32)
                (loop $l
                    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $l (i32.lt_u (local.get $i) (i32.const 64))))))"#),
        json!({}),
    );
    let r = s.web("GET", "/fn/flood/", b"");
    assert_eq!(r.status, 502);
    assert_eq!(
        r.error(),
        "the action's response exceeded the limit of 1048576 bytes"
    );

    // A component streaming 20 MB: the body is cut at the cap.
    s.deploy("hello", &example_bytes("hello-http"), json!({}));
    // Either the transfer is cut off (an error here) or what arrived is capped.
    let cut = try_request(
        "GET",
        &format!("{}/fn/hello/flood?kb=20000", s.url),
        None,
        None,
        "",
    );
    if let Ok(r) = cut {
        assert!(
            r.status == 502 || r.body.len() <= 1 << 20,
            "{} bytes",
            r.body.len()
        );
    }
    // A small one passes.
    let r = s.web("GET", "/fn/hello/flood?kb=10", b"");
    assert_eq!((r.status, r.body.len()), (200, 10 * 1024));

    // A request body over the cap: 413 before any instance runs.
    let r = request(
        "POST",
        &format!("{}/fn/hello/echo", s.url),
        None,
        None,
        vec![0u8; 70_000],
    );
    assert_eq!(r.status, 413);
    assert_eq!(
        r.error(),
        "the request body exceeds the limit of 65536 bytes"
    );
    still_serves(&s);
}

#[test]
fn guests_see_no_host_files_and_no_host_environment() {
    let s = Server::start_with_env(&[], &[("WISP_TEST_CANARY", "hunter2")]);
    probe(
        &s,
        "p",
        json!({"parameters": [{"key": "declared", "value": "yes"}]}),
    );
    for path in [
        "/etc/passwd",
        "../etc/passwd",
        "/",
        ".",
        "/data/x",
        "/proc/self/environ",
    ] {
        let r = s.invoke("p", json!({"op": "read", "path": path}));
        assert_eq!(r.json()["ok"], false, "{path}: {}", r.text());
        let r = s.invoke("p", json!({"op": "list", "path": path}));
        assert_eq!(r.json()["ok"], false, "{path}: {}", r.text());
    }
    let r = s.invoke("p", json!({"op": "write", "path": "/tmp/x", "data": "x"}));
    assert_eq!(r.json()["ok"], false);

    // The environment holds only what wisp defines: nothing from the host.
    let env = s.invoke("p", json!({"op": "env"})).json()["env"].clone();
    let env = env.as_object().unwrap();
    assert!(env.is_empty(), "API calls get no environment: {env:?}");
    let r = s.web("GET", "/fn/p/?x=1", b"");
    let text = r.text();
    assert!(
        !text.contains("hunter2") && !text.contains("PATH"),
        "{text}"
    );
    // Web calls get CGI variables and the declared parameters, nothing else.
    let cgi = probe_env_via_web(&s);
    assert_eq!(cgi["declared"], "yes");
    assert_eq!(cgi["REQUEST_METHOD"], "POST");
    for host_var in ["WISP_TEST_CANARY", "PATH", "HOME", "USER", "WISP_API_KEY"] {
        assert!(cgi.get(host_var).is_none(), "{host_var} leaked: {cgi:?}");
    }
    still_serves(&s);
}

/// The probe's environment as seen by a web call (its stdin is the POSTed JSON).
fn probe_env_via_web(s: &Server) -> serde_json::Value {
    let r = request(
        "POST",
        &format!("{}/fn/p/", s.url),
        None,
        None,
        r#"{"op":"env"}"#,
    );
    assert_eq!(r.status, 200);
    let line = r.text().lines().last().unwrap().to_string();
    serde_json::from_str::<serde_json::Value>(&line).unwrap()["env"].clone()
}

#[test]
fn data_directory_is_private_persistent_and_cannot_be_escaped() {
    let s = Server::start(&[]);
    probe(&s, "a", json!({"limits": {"storage": 1}}));
    probe(&s, "b", json!({"limits": {"storage": 1}}));
    probe(&s, "nodata", json!({}));

    let w = s.invoke(
        "a",
        json!({"op": "write", "path": "/data/note.txt", "data": "from a"}),
    );
    assert_eq!(w.json(), json!({"ok": true}));
    // Kept between calls of its own action...
    let r = s.invoke("a", json!({"op": "read", "path": "/data/note.txt"}));
    assert_eq!(r.json()["text"], "from a");
    // ...invisible to every other action.
    let r = s.invoke("b", json!({"op": "list", "path": "/data"}));
    assert_eq!(r.json(), json!({"ok": true, "names": []}));
    let r = s.invoke("b", json!({"op": "read", "path": "/data/note.txt"}));
    assert_eq!(r.json()["ok"], false);
    let r = s.invoke("nodata", json!({"op": "list", "path": "/data"}));
    assert_eq!(r.json()["ok"], false);

    // Climbing out fails, also through links planted in the directory.
    for path in [
        "/data/../etc/passwd",
        "/data/../../b/data/x",
        "/data/./../a",
    ] {
        let r = s.invoke("a", json!({"op": "read", "path": path}));
        assert_eq!(r.json()["ok"], false, "{path}: {}", r.text());
    }
    let data_a = s.data_dir.join("files/guest/a/data");
    std::os::unix::fs::symlink("/etc/passwd", data_a.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../../b/data", data_a.join("rel-link")).unwrap();
    let r = s.invoke("a", json!({"op": "read", "path": "/data/abs-link"}));
    assert_eq!(r.json()["ok"], false, "{}", r.text());
    let r = s.invoke("a", json!({"op": "list", "path": "/data/rel-link"}));
    assert_eq!(r.json()["ok"], false, "{}", r.text());

    // The quota: a call that leaves /data over it fails, and so do later calls
    // until the function cleans up.
    let r = s.invoke("a", json!({"op": "write_mb", "path": "/data/big", "mb": 3}));
    assert_eq!(r.status, 502);
    assert!(
        r.error().starts_with("the action's /data directory holds"),
        "{}",
        r.text()
    );
    assert!(
        r.error().ends_with("over its quota of 1048576 bytes"),
        "{}",
        r.text()
    );
    let r = s.invoke("a", json!({"op": "read", "path": "/data/note.txt"}));
    assert_eq!(r.status, 502);
    let r = s.invoke("a", json!({"op": "remove", "path": "/data/big"}));
    // The call that frees space ends under the quota, so it succeeds.
    assert_eq!((r.status, r.json()), (200, json!({"ok": true})));
    let r = s.invoke("a", json!({"op": "read", "path": "/data/note.txt"}));
    assert_eq!((r.status, r.json()["text"].clone()), (200, json!("from a")));

    // Deleting the action deletes its files.
    let r = request("DELETE", &s.action_url("a"), Some(KEY), None, "");
    assert_eq!(r.status, 200);
    assert!(!s.data_dir.join("files/guest/a").exists());
    still_serves(&s);
}

#[test]
fn assets_are_read_only_and_private() {
    let s = Server::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("models")).unwrap();
    std::fs::write(tmp.path().join("models/model.txt"), "weights").unwrap();
    let probe_wasm = example("sandbox-probe");
    let (ok, out, err) = cli(
        &s,
        &[
            "deploy",
            "m",
            probe_wasm.to_str().unwrap(),
            "--assets",
            tmp.path().to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("uploaded 1 asset files (7 bytes) to /assets"),
        "{out}"
    );
    let r = s.invoke(
        "m",
        json!({"op": "read", "path": "/assets/models/model.txt"}),
    );
    assert_eq!(r.json()["text"], "weights");
    let r = s.invoke(
        "m",
        json!({"op": "write", "path": "/assets/models/model.txt", "data": "x"}),
    );
    assert_eq!(r.json()["ok"], false);
    let r = s.invoke(
        "m",
        json!({"op": "read", "path": "/assets/models/model.txt"}),
    );
    assert_eq!(r.json()["text"], "weights");
    probe(&s, "other", json!({}));
    let r = s.invoke("other", json!({"op": "list", "path": "/assets"}));
    assert_eq!(r.json()["ok"], false);

    // Archives that climb out or carry links are refused, and change nothing.
    for (path, kind) in [
        ("../escape.txt", tar::EntryType::Regular),
        ("link", tar::EntryType::Symlink),
    ] {
        let archive = raw_tar_entry(path, kind);
        let r = request(
            "PUT",
            &format!("{}/assets", s.action_url("m")),
            Some(KEY),
            Some("application/x-tar"),
            archive,
        );
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
    let r = s.invoke(
        "m",
        json!({"op": "read", "path": "/assets/models/model.txt"}),
    );
    assert_eq!(r.json()["text"], "weights");
    assert!(!s.data_dir.join("files/guest/escape.txt").exists());
    still_serves(&s);
}

/// A one-entry tar archive written by hand, so that it can hold paths a normal
/// archiver refuses to write.
fn raw_tar_entry(path: &str, kind: tar::EntryType) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    {
        let bytes = header.as_old_mut();
        bytes.name[..path.len()].copy_from_slice(path.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_size(if kind == tar::EntryType::Regular {
        3
    } else {
        0
    });
    header.set_mode(0o644);
    if kind == tar::EntryType::Symlink {
        header.set_link_name("/etc/passwd").unwrap();
    }
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    if kind == tar::EntryType::Regular {
        let mut block = [0u8; 512];
        block[..3].copy_from_slice(b"bad");
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// A tiny HTTP server on loopback answering `pong` to everything.
fn pong_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\npong",
            );
        }
    });
    addr
}

#[test]
fn outgoing_http_only_to_allowed_hosts() {
    let s = Server::start(&[]);
    let addr = pong_server();
    let module = example_bytes("hello-http");
    s.deploy("closed", &module, json!({}));
    s.deploy(
        "open",
        &module,
        json!({"annotations": [{"key": "allowed-outbound-hosts", "value": [addr.to_string()]}]}),
    );
    let target = format!("/fetch?url=http://{addr}/ping");
    let r = s.web("GET", &format!("/fn/closed{target}"), b"");
    assert_eq!(r.status, 502);
    assert_eq!(r.text(), "fetch failed: ErrorCode::HttpRequestDenied\n");
    let r = s.web("GET", &format!("/fn/open{target}"), b"");
    assert_eq!((r.status, r.text().as_str()), (200, "status 200\npong"));
    // Allowed is per host and port: another port on the same host is refused.
    let other = format!("/fn/open/fetch?url=http://127.0.0.1:{}/", addr.port() + 1);
    let r = s.web("GET", &other, b"");
    assert_eq!(r.text(), "fetch failed: ErrorCode::HttpRequestDenied\n");
    still_serves(&s);
}

/// Starts `n` slow calls of `name` in the background and waits until they run.
fn slow_calls(s: &Server, name: &str, n: usize, ms: u64) -> Vec<std::thread::JoinHandle<u16>> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let url = format!("{}?blocking=true&result=true", s.action_url(name));
            std::thread::spawn(move || {
                let body = format!(r#"{{"op":"sleep","ms":{ms}}}"#);
                request("POST", &url, Some(KEY), Some("application/json"), body).status
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    handles
}

#[test]
fn overload_gets_429_with_retry_after_and_never_piles_up() {
    let s = Server::start(&["--max-instances", "3", "--queue-timeout", "200"]);
    // Per-action cap: one instance of "one" at a time.
    probe(&s, "one", json!({"limits": {"instances": 1}}));
    let slow = slow_calls(&s, "one", 1, 1500);
    let r = s.invoke("one", json!({"op": "count"}));
    assert_eq!(r.status, 429);
    assert_eq!(r.headers["retry-after"], "1");
    assert!(
        r.error().contains("already runs 1 instances, its limit"),
        "{}",
        r.text()
    );
    // A background (non-blocking) call is admitted before it is acknowledged:
    // refused the same way, it gets 429 too, and no activation id is handed out.
    let r = request(
        "POST",
        &s.action_url("one"),
        Some(KEY),
        Some("application/json"),
        r#"{"op":"count"}"#,
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.error().contains("its limit"), "{}", r.text());
    assert!(!r.text().contains("activationId"));
    // Another action is not held up by it.
    probe(&s, "free", json!({}));
    assert_eq!(
        s.invoke("free", json!({"op": "count"})).json(),
        json!({"calls": 1})
    );
    for h in slow {
        assert_eq!(h.join().unwrap(), 200);
    }

    // Global cap: three instances in all; a fourth call waits 200 ms, then 429.
    let slow = slow_calls(&s, "free", 3, 1500);
    let started = std::time::Instant::now();
    let r = s.invoke("free", json!({"op": "count"}));
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.headers.contains_key("retry-after"));
    assert!(started.elapsed() >= Duration::from_millis(200));
    let r = s.web("GET", "/fn/free/", b"");
    assert_eq!(r.status, 429);
    for h in slow {
        assert_eq!(h.join().unwrap(), 200);
    }
    still_serves(&s);
}
