//! The foundation's guarantees, through the real server: limits are bounded and
//! a record the server cannot use never stops it from starting; uploads wait for
//! admission before their bodies are read; credentials wisp checked never reach
//! a guest; connections and bodies have caps and timeouts; client flags work
//! anywhere on the command line.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[test]
fn an_absurd_limit_is_a_400_and_a_bad_stored_record_never_stops_a_restart() {
    let mut s = Server::start(&[]);
    let hello = example_bytes("hello-http");
    s.deploy("good", &hello, json!({}));
    // Finding: this stored the record and bricked the node at its next start.
    for (field, value) in [
        ("instances", json!(4_611_686_018_427_387_904u64)),
        ("instances", json!(257)),
        ("memory", json!(-1)),
        ("timeout", json!("soon")),
    ] {
        let r = request(
            "PUT",
            &format!("{}?overwrite=true", s.action_url("absurd")),
            Some(KEY),
            Some("application/json"),
            action_doc(&hello, json!({"limits": {field: value}})),
        );
        assert_eq!(r.status, 400, "{field}={value}: {}", r.text());
        assert!(
            r.error().contains(&format!("limits.{field}")),
            "{}",
            r.text()
        );
        assert!(r.error().contains("between"), "{}", r.text());
    }
    // The same through the raw-module form's query string.
    let r = request(
        "PUT",
        &format!("{}?instances=99999999999", s.action_url("absurd")),
        Some(KEY),
        Some("application/wasm"),
        hello.clone(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        s.invoke("absurd", json!({})).status,
        404,
        "nothing was stored"
    );

    // A data directory holding such a record (as an earlier wisp could write):
    // the server starts, skips it, and serves everything else.
    s.stop();
    {
        use wisp_registry::Registry as _;
        let reg = wisp_registry::RedbRegistry::open(s.data_dir.join("registry.redb")).unwrap();
        let spec = wisp_api::resolve::resolve(
            wisp_api::ActionDoc::default(),
            None,
            &wisp_api::Policy::default(),
        )
        .unwrap();
        let mut rec = wisp_api::ActionRecord::new(
            "guest",
            "bricked",
            wisp_registry::module_hash(&hello),
            wisp_api::Shape::Http,
            spec,
        );
        rec.limits.instances = 4_611_686_018_427_387_904;
        rec.web_export = true;
        reg.put_action(rec, &hello, None, true).unwrap();
    }
    s.resume();
    assert_eq!(s.web("GET", "/fn/good/", b"").text(), "Hello from wisp!\n");
    assert_eq!(s.web("GET", "/fn/bricked/", b"").status, 404);
    // Deploying it again fixes it.
    s.deploy("bricked", &hello, json!({"limits": {"instances": 2}}));
    assert_eq!(s.web("GET", "/fn/bricked/", b"").status, 200);
    s.restart();
    assert_eq!(s.web("GET", "/fn/bricked/", b"").status, 200);
    assert_eq!(s.web("GET", "/fn/good/", b"").status, 200);
}

#[test]
fn concurrent_uploads_to_a_capped_action_wait_unread() {
    let s = Server::start(&["--queue-timeout", "30000"]);
    // A CGI command reads its whole body before it runs: the worst case.
    s.deploy(
        "upload",
        &example_bytes("cgi-rust"),
        json!({"limits": {"instances": 1}}),
    );
    assert_eq!(s.web("POST", "/fn/upload/", b"warm").status, 200);
    let before = s.status_kib("VmRSS");
    let uploads = 64;
    const BODY: usize = 9 << 20;
    let body = bytes::Bytes::from(vec![b'u'; BODY]);
    let url = format!("{}/fn/upload/", s.url);
    let started = Instant::now();
    let calls: Vec<_> = (0..uploads)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || {
                try_request("POST", &url, None, Some("application/octet-stream"), body)
                    .map(|r| (r.status, r.body.len()))
            })
        })
        .collect();
    let mut ok = 0;
    for c in calls {
        match c.join().unwrap() {
            Ok((200, len)) => {
                assert!(len > BODY, "the body came back whole");
                ok += 1;
            }
            Ok((status, _)) => panic!("an upload got {status}"),
            Err(e) => panic!("an upload failed: {e}"),
        }
    }
    let peak = s.status_kib("VmHWM");
    let grew_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "{uploads} x {} MiB uploads, one instance at a time: {ok} answered in {:?}; RSS {} MiB before, peak {} MiB (+{grew_mib} MiB)",
        BODY >> 20,
        started.elapsed(),
        before / 1024,
        peak / 1024
    );
    assert_eq!(ok, uploads);
    // Buffering them all would take 64 x 9 MiB = 576 MiB; one at a time (its
    // body, the guest's copy and its answer) takes a few tens.
    assert!(grew_mib < 160, "peak RSS grew by {grew_mib} MiB");
}

#[test]
fn a_streamed_body_over_the_cap_is_a_413_too() {
    let s = Server::start(&["--max-body", "1048576"]);
    s.deploy("echo", &example_bytes("hello-http"), json!({}));
    let addr = s.url.trim_start_matches("http://").to_string();
    // Chunked, so no length announces it: the component gets the body as it
    // comes, and the answer says it was too large.
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.write_all(b"POST /fn/echo/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = vec![b'c'; 64 << 10];
    for _ in 0..20 {
        let head = format!("{:x}\r\n", chunk.len());
        if conn.write_all(head.as_bytes()).is_err()
            || conn.write_all(&chunk).is_err()
            || conn.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = vec![0; 4096];
    let n = conn.read(&mut answer).unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Within the cap it is echoed whole.
    let r = request(
        "POST",
        &format!("{}/fn/echo/echo", s.url),
        None,
        None,
        vec![b'k'; 1000],
    );
    assert_eq!((r.status, r.body.len()), (200, 1000));
}

#[test]
fn web_actions_never_see_the_credentials_wisp_checked() {
    let s = Server::start(&[]);
    let key_auth = json!({"annotations": [{"key": "require-whisk-auth", "value": true}]});
    let secret = "s3cret-token-123";
    let secret_auth = json!({"annotations": [{"key": "require-whisk-auth", "value": secret}]});
    s.deploy("keyed-http", &example_bytes("hello-http"), key_auth.clone());
    s.deploy(
        "secret-http",
        &example_bytes("hello-http"),
        secret_auth.clone(),
    );
    s.deploy("keyed-cgi", &example_bytes("cgi-rust"), key_auth);
    s.deploy("secret-cgi", &example_bytes("cgi-rust"), secret_auth);
    let encoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(KEY)
    };
    let call = |path: &str, headers: &[(&str, &str)]| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use http_body_util::BodyExt;
            let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http();
            let mut b = http::Request::builder().uri(format!("{}{path}", s.url));
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let resp = client
                .request(b.body(http_body_util::Empty::new()).unwrap())
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).to_lowercase())
        })
    };
    let basic = format!("Basic {encoded}");
    for (path, headers) in [
        (
            "/fn/keyed-http/headers",
            vec![("authorization", basic.as_str()), ("x-seen", "yes")],
        ),
        (
            "/fn/secret-http/headers",
            vec![("x-require-whisk-auth", secret), ("x-seen", "yes")],
        ),
        (
            "/fn/keyed-cgi/?env",
            vec![("authorization", basic.as_str()), ("x-seen", "yes")],
        ),
        (
            "/fn/secret-cgi/?env",
            vec![("x-require-whisk-auth", secret), ("x-seen", "yes")],
        ),
    ] {
        let (status, text) = call(path, &headers);
        assert_eq!(status, 200, "{path}: {text}");
        // The guest does see the request's other headers...
        assert!(
            text.contains("x-seen") || text.contains("x_seen"),
            "{path}: {text}"
        );
        // ...but never the credential wisp checked, in any form.
        for leak in [
            encoded.to_lowercase(),
            secret.to_lowercase(),
            "authorization".into(),
            "whisk".into(),
        ] {
            assert!(!text.contains(&leak), "{path} leaked {leak}: {text}");
        }
    }
    // Without the credential, the guest is not reached at all.
    assert_eq!(call("/fn/keyed-http/headers", &[]).0, 401);
    assert_eq!(
        call("/fn/secret-cgi/?env", &[("x-require-whisk-auth", "wrong")]).0,
        401
    );
}

#[test]
fn slow_clients_are_cut_off_and_connections_are_capped() {
    let s = Server::start(&[
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--max-connections",
        "4",
    ]);
    s.deploy("echo", &example_bytes("cgi-rust"), json!({}));
    let addr = s.url.trim_start_matches("http://").to_string();
    // Headers that never end: the connection is closed after the header timeout.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /fn/echo/ HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    // A body that never arrives: 408 after the body timeout.
    let mut partial = TcpStream::connect(&addr).unwrap();
    partial
        .write_all(b"POST /fn/echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a bit")
        .unwrap();
    partial
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = vec![0; 1024];
    let n = partial.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    drop(partial);
    // Four connections held open: a fifth waits until one closes.
    let held: Vec<_> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let waiting = std::thread::spawn({
        let url = format!("{}/fn/echo/", s.url);
        move || {
            let started = Instant::now();
            let r = request("GET", &url, None, None, "");
            (r.status, started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    drop(held);
    let (status, waited) = waiting.join().unwrap();
    assert_eq!(status, 200);
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
}

#[test]
fn client_flags_are_accepted_anywhere_on_the_line() {
    let s = Server::start(&[]);
    let url = s.url.as_str();
    // Before and after the subcommand, for every client command.
    for args in [
        vec![
            "namespace",
            "create",
            "other",
            "--server",
            url,
            "--api-key",
            KEY,
        ],
        vec!["--server", url, "--api-key", KEY, "namespace", "list"],
        vec!["list", "--server", url, "--api-key", KEY],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wisp"))
            .args(&args)
            .env_remove("WISP_SERVER")
            .env_remove("WISP_API_KEY")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "wisp {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (ok, stdout, _) = cli(&s, &["namespace", "list"]);
    assert!(ok && stdout.contains("other"), "{stdout}");
}
