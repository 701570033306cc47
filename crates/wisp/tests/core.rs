//! End-to-end tests of the core: the real server, real guests, HTTP and the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::json;

#[test]
fn http_component_serves_web_and_api_calls_relative_to_its_route() {
    let s = Server::start(&[]);
    let d = s.deploy("hello", &example_bytes("hello-http"), json!({}));
    assert_eq!(d["wisp"]["shape"], "http");
    assert_eq!(d["version"], "0.0.1");

    let r = s.web("GET", "/fn/hello/", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello from wisp!\n");
    assert!(r.headers.contains_key("x-openwhisk-activation-id"));
    // The bare route is the component's root too.
    assert_eq!(s.web("GET", "/fn/hello", b"").text(), "Hello from wisp!\n");

    let r = s.web("POST", "/fn/hello/echo", b"echo me");
    assert_eq!((r.status, r.text().as_str()), (200, "echo me"));

    // A body far larger than the host's buffer: the component streams it back
    // while the response is being sent.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = request(
        "POST",
        &format!("{}/fn/hello/echo", s.url),
        None,
        Some("application/x-test"),
        big.clone(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/x-test");
    assert!(
        r.body == big,
        "echoed body differs ({} bytes back)",
        r.body.len()
    );

    let info = s.web("GET", "/fn/hello/info?x=1", b"").json();
    assert_eq!(info["path"], "/info?x=1");
    assert_eq!(info["prefix"], "/fn/hello");
    let info = s
        .web("PUT", "/api/v1/web/guest/default/hello/info", b"")
        .json();
    assert_eq!(info["method"], "PUT");
    assert_eq!(info["path"], "/info");
    assert_eq!(info["prefix"], "/api/v1/web/guest/default/hello");

    let r = s.web("GET", "/fn/hello/nope", b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "not found: /nope\n");

    // API invocation: JSON posted to "/", the response body is the result.
    let r = s.invoke("hello", json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"statusCode": 200, "body": "Hello from wisp!\n"})
    );
}

#[test]
fn cgi_command_follows_cgi_conventions() {
    let s = Server::start(&[]);
    let d = s.deploy("cgi", &example_bytes("cgi-rust"), json!({}));
    assert_eq!(d["wisp"]["shape"], "command");

    let r = s.web("POST", "/fn/cgi/some/path?x=1&y=2", b"hello body");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(r.headers["x-powered-by"], "wisp-cgi");
    assert_eq!(
        r.text(),
        "method=POST path=/some/path query=x=1&y=2 body_bytes=10\nhello body"
    );
    let r = s.web("GET", "/api/v1/web/_/default/cgi/teapot", b"");
    assert_eq!(r.status, 418);
    assert_eq!(r.text(), "short and stout\n");

    // An API call gets the parameters on stdin; this function echoes its input
    // last, so the parameters come back as the result.
    let r = s.invoke("cgi", json!({"a": 1}));
    assert_eq!((r.status, r.json()), (200, json!({"a": 1})));
    // A JSON action whose last line is not JSON: the API says so.
    s.deploy(
        "notjson",
        &wat(r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 16) "plain text\n")
            (data (i32.const 0) "\10\00\00\00\0b\00\00\00")
            (func (export "_start") (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32)))))"#),
        json!({}),
    );
    let r = s.invoke("notjson", json!({}));
    assert_eq!(r.status, 502);
    assert!(r.error().contains("not JSON"), "{}", r.text());
    assert!(r.error().contains("plain text"), "{}", r.text());
}

#[test]
fn json_action_takes_parameters_and_reports_errors_and_logs() {
    let s = Server::start(&[]);
    s.deploy(
        "greet",
        &example_bytes("json-rust"),
        json!({"parameters": [{"key": "name", "value": "default"}]}),
    );
    let r = s.invoke("greet", json!({"name": "edge"}));
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"greeting": "Hello, edge!"}))
    );
    // Default parameters fill in what the call leaves out.
    assert_eq!(
        s.invoke("greet", json!({})).json(),
        json!({"greeting": "Hello, default!"})
    );
    // An application error: 502 with the action's own error object.
    let r = s.invoke("greet", json!({"name": "error"}));
    assert_eq!(
        (r.status, r.json()),
        (502, json!({"error": "asked to fail"}))
    );
    // Parameters must be an object.
    let r = s.invoke("greet", json!([1, 2]));
    assert_eq!(r.status, 400);

    // Blocking without result=true: the activation with logs.
    let r = request(
        "POST",
        &format!("{}?blocking=true", s.action_url("greet")),
        Some(KEY),
        Some("application/json"),
        r#"{"name":"logs"}"#,
    );
    assert_eq!(r.status, 200);
    let a = r.json();
    assert_eq!(a["activationId"].as_str().unwrap().len(), 32);
    assert_eq!(a["response"]["success"], true);
    assert_eq!(a["response"]["result"], json!({"greeting": "Hello, logs!"}));
    let logs: Vec<String> = serde_json::from_value(a["logs"].clone()).unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[0].ends_with("Z stdout: greeting logs"), "{logs:?}");
    assert!(logs[1].ends_with("Z stderr: a line on stderr"), "{logs:?}");

    // Non-blocking: accepted with an activation id.
    let r = request("POST", &s.action_url("greet"), Some(KEY), None, "{}");
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["activationId"].as_str().unwrap().len(), 32);

    // A web call gets CGI: without headers the output is a plain-text body.
    let r = s.web("GET", "/fn/greet", b"");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Hello, stranger!"), "{}", r.text());
}

#[test]
fn c_and_cpp_functions_run_and_no_state_survives_between_calls() {
    let s = Server::start(&[]);
    s.deploy("counter", &example_bytes("c-counter"), json!({}));
    for _ in 0..3 {
        let r = s.invoke("counter", json!({}));
        assert_eq!(r.json(), json!({"calls": 1, "language": "c"}));
    }
    s.deploy("primes", &example_bytes("cpp-primes"), json!({}));
    let r = s.invoke("primes", json!({"n": 100}));
    assert_eq!(r.json(), json!({"n": 100, "primes": 25, "language": "c++"}));
    let r = s.invoke("primes", json!({"n": 1}));
    assert_eq!(r.status, 502);
}

#[test]
fn raw_wasm_deploy_update_list_get_delete_and_restart() {
    // One version kept: a replaced module's code goes at once (with more
    // versions kept it stays for a rollback; operations.rs tests that).
    let mut s = Server::start(&["--keep-versions", "1"]);
    let url = s.action_url("a");
    let counter = example_bytes("c-counter");
    let r = request(
        "PUT",
        &url,
        Some(KEY),
        Some("application/wasm"),
        counter.clone(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], "0.0.1");

    // Exists and no overwrite: 409, and the action is untouched.
    let r = request(
        "PUT",
        &url,
        Some(KEY),
        Some("application/wasm"),
        example_bytes("json-rust"),
    );
    assert_eq!(r.status, 409);
    assert!(r.error().contains("already exists"), "{}", r.text());
    assert_eq!(s.invoke("a", json!({})).json()["calls"], 1);

    // Overwrite with another module: the version moves, the new code runs.
    let r = s.deploy(
        "a",
        &example_bytes("json-rust"),
        json!({"limits": {"timeout": 5000, "memory": 64}}),
    );
    assert_eq!(r["version"], "0.0.2");
    assert_eq!(r["limits"]["timeout"], 5000);
    assert_eq!(
        s.invoke("a", json!({"name": "x"})).json()["greeting"],
        "Hello, x!"
    );

    // An update without code keeps the module and changes the configuration.
    let r = request(
        "PUT",
        &format!("{url}?overwrite=true"),
        Some(KEY),
        Some("application/json"),
        r#"{"parameters":[{"key":"name","value":"kept"}]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.invoke("a", json!({})).json()["greeting"], "Hello, kept!");

    // A failed update leaves the previous version serving.
    let r = request(
        "PUT",
        &format!("{url}?overwrite=true"),
        Some(KEY),
        Some("application/wasm"),
        &b"\0asm\x01\0\0\0garbage"[..],
    );
    assert_eq!(r.status, 400);
    assert_eq!(s.invoke("a", json!({})).json()["greeting"], "Hello, kept!");

    s.deploy("b", &example_bytes("hello-http"), json!({}));
    let list = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/actions", s.url),
        Some(KEY),
        None,
        "",
    )
    .json();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let page = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/actions?limit=1&skip=1", s.url),
        Some(KEY),
        None,
        "",
    )
    .json();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["name"], "b");
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/actions?limit=x", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 400);

    let got = request("GET", &url, Some(KEY), None, "").json();
    assert_eq!(got["exec"]["kind"], "wasm");
    assert!(got["exec"]["code"].as_str().unwrap().len() > 100);
    assert_eq!(got["parameters"], json!([{"key": "name", "value": "kept"}]));

    // Restart: every acknowledged action serves again, and nothing is recompiled
    // (the compiled artifacts on disk are reused as they are).
    let artifacts = cached_artifacts(&s);
    // json-rust and hello-http are compiled; c-counter's code went when "a" was
    // replaced, and the garbage was never compiled.
    assert_eq!(artifacts.len(), 2, "{artifacts:?}");
    // Code no action uses (as a crash mid-delete would leave) goes at start.
    let engine_dir = std::fs::read_dir(s.data_dir.join("cache"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(
        engine_dir.join(format!("{}.cwasm", "0".repeat(64))),
        b"stale",
    )
    .unwrap();
    s.restart();
    assert_eq!(s.invoke("a", json!({})).json()["greeting"], "Hello, kept!");
    assert_eq!(s.web("GET", "/fn/b/", b"").text(), "Hello from wisp!\n");
    assert_eq!(cached_artifacts(&s), artifacts);

    // The port changed with the restart.
    let url = s.action_url("a");
    let r = request("DELETE", &url, Some(KEY), None, "");
    assert_eq!(r.status, 200);
    assert_eq!(request("GET", &url, Some(KEY), None, "").status, 404);
    assert_eq!(request("DELETE", &url, Some(KEY), None, "").status, 404);
    // Its compiled code went with it; "b"'s stays.
    assert_eq!(cached_artifacts(&s).len(), 1);
    s.restart();
    let url = s.action_url("a");
    assert_eq!(request("GET", &url, Some(KEY), None, "").status, 404);
    assert_eq!(s.web("GET", "/fn/b/", b"").status, 200);
}

/// (name, modification time) of every compiled artifact in the disk cache.
fn cached_artifacts(s: &Server) -> Vec<(String, std::time::SystemTime)> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(s.data_dir.join("cache")).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let f = f.unwrap();
            if f.path().extension().is_some_and(|e| e == "cwasm") {
                out.push((
                    f.file_name().to_string_lossy().into_owned(),
                    f.metadata().unwrap().modified().unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn bad_input_gets_the_documented_status_and_message() {
    let s = Server::start(&["--max-body", "1024"]);
    let url = s.action_url("x");
    let put = |ct: &str, body: Vec<u8>| request("PUT", &url, Some(KEY), Some(ct), body);

    let r = put("application/wasm", b"definitely not wasm".to_vec());
    assert_eq!(
        (r.status, r.json()["code"].as_str().unwrap()),
        (400, "bad_request")
    );
    assert!(
        r.error().contains("not a WebAssembly binary"),
        "{}",
        r.text()
    );

    let r = put("application/wasm", b"\0asm\x01\0\0\0\x01\xff".to_vec());
    assert_eq!(r.status, 400);
    assert!(r.error().contains("invalid WebAssembly"), "{}", r.text());

    let unknown = wat(r#"(module
        (import "env" "host_secret" (func))
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "no_such_call" (func))
        (func (export "_start")))"#);
    let r = put("application/wasm", unknown);
    assert_eq!(r.status, 400);
    let msg = r.error();
    assert!(msg.contains("env::host_secret"), "{msg}");
    assert!(
        msg.contains("wasi_snapshot_preview1::no_such_call"),
        "{msg}"
    );
    assert!(!msg.contains("fd_write"), "{msg}");

    let r = put(
        "application/wasm",
        wat(r#"(module (func (export "main")))"#),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("_start"), "{}", r.text());

    let r = put("application/json", b"{not json".to_vec());
    assert_eq!(r.status, 400);
    let r = put(
        "application/json",
        br#"{"exec":{"kind":"nodejs:20","code":"x"}}"#.to_vec(),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("kind 'wasm'"), "{}", r.text());
    let r = put(
        "application/json",
        br#"{"exec":{"kind":"wasm","code":"%%%"}}"#.to_vec(),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("base64"), "{}", r.text());
    let r = put(
        "application/json",
        action_doc(
            &example_bytes("c-counter"),
            json!({"limits": {"timeout": 0}}),
        ),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("limits.timeout"), "{}", r.text());
    let r = put("text/plain", b"x".to_vec());
    assert_eq!(r.status, 415);
    // None of these created the action.
    assert_eq!(request("GET", &url, Some(KEY), None, "").status, 404);

    // Authentication.
    let r = request("GET", &url, None, None, "");
    assert_eq!(r.status, 401);
    assert!(r.headers.contains_key("www-authenticate"));
    assert_eq!(
        request("GET", &url, Some("test-id:wrong"), None, "").status,
        401
    );
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/other/actions", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 403);

    // Unknown things.
    let r = s.invoke("missing", json!({}));
    assert_eq!(r.status, 404);
    assert!(r.error().contains("does not exist"));
    assert_eq!(s.web("GET", "/fn/missing/", b"").status, 404);
    assert_eq!(s.web("GET", "/nothing-here", b"").status, 404);
    assert_eq!(request("PATCH", &url, Some(KEY), None, "").status, 405);
    assert_eq!(
        request("GET", &s.action_url("bad%20name"), Some(KEY), None, "").status,
        400
    );

    // Oversized bodies: 413, for API calls and web calls.
    s.deploy("cgi", &example_bytes("cgi-rust"), json!({}));
    let big = vec![b' '; 2048];
    let r = request(
        "POST",
        &format!("{}?blocking=true", s.action_url("cgi")),
        Some(KEY),
        None,
        big.clone(),
    );
    assert_eq!(r.status, 413);
    assert!(r.error().contains("1024 bytes"), "{}", r.text());
    let r = request("POST", &format!("{}/fn/cgi/", s.url), None, None, big);
    assert_eq!(r.status, 413);
    // And the server still serves.
    assert_eq!(s.web("GET", "/fn/cgi/ok", b"").status, 200);
}

#[test]
fn failing_guests_end_only_their_own_call() {
    let s = Server::start(&[]);
    s.deploy(
        "trap",
        &wat(r#"(module (func (export "_start") unreachable))"#),
        json!({}),
    );
    s.deploy(
        "loop",
        &wat(r#"(module (func (export "_start") (loop (br 0))))"#),
        json!({"limits": {"timeout": 300}}),
    );
    s.deploy(
        "exit3",
        &wat(r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $exit (i32.const 3))))"#),
        json!({}),
    );
    s.deploy("ok", &example_bytes("c-counter"), json!({}));

    let r = s.invoke("trap", json!({}));
    assert_eq!(r.status, 502);
    assert!(r.error().contains("unreachable"), "{}", r.text());
    let r = s.web("GET", "/fn/trap/", b"");
    assert_eq!(r.status, 502);

    let r = s.invoke("loop", json!({}));
    assert_eq!(r.status, 502);
    assert_eq!(
        r.error(),
        "the action exceeded its time limit of 300 milliseconds"
    );
    let r = s.web("GET", "/fn/loop/", b"");
    assert_eq!(r.status, 504);

    let r = s.invoke("exit3", json!({}));
    assert_eq!(r.status, 502);
    assert!(r.error().contains("exited with status 3"), "{}", r.text());

    assert_eq!(s.invoke("ok", json!({})).json()["calls"], 1);
}

#[test]
fn cli_deploys_invokes_lists_gets_and_removes() {
    let s = Server::start(&[]);
    let json_rust = example("json-rust");
    let (ok, out, err) = cli(
        &s,
        &[
            "deploy",
            "greet",
            json_rust.to_str().unwrap(),
            "--param",
            "name=cli",
            "--memory",
            "64",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("deployed greet (version 0.0.1, command function)"),
        "{out}"
    );

    let (ok, out, err) = cli(&s, &["invoke", "greet"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        json!({"greeting": "Hello, cli!"})
    );
    let (ok, out, _) = cli(&s, &["invoke", "greet", "--param", "name=x"]);
    assert!(ok);
    assert!(out.contains("Hello, x!"));
    let (ok, out, _) = cli(&s, &["invoke", "greet", "--data", r#"{"name":"y"}"#]);
    assert!(ok);
    assert!(out.contains("Hello, y!"));
    let (ok, _, err) = cli(&s, &["invoke", "greet", "--param", "name=error"]);
    assert!(!ok);
    assert!(err.contains("asked to fail"), "{err}");

    let (ok, out, _) = cli(&s, &["list"]);
    assert!(ok);
    assert!(out.starts_with("greet "), "{out}");
    assert!(out.contains("64 MB"), "{out}");
    let (ok, out, _) = cli(&s, &["get", "greet"]);
    assert!(ok);
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["limits"]["memory"], 64);
    assert!(got["exec"].get("code").is_none());

    let (ok, out, _) = cli(&s, &["rm", "greet"]);
    assert!(ok);
    assert_eq!(out.trim(), "deleted greet");
    let (ok, _, err) = cli(&s, &["rm", "greet"]);
    assert!(!ok);
    assert!(
        err.starts_with("error: the action 'guest/greet' does not exist (HTTP 404)"),
        "{err}"
    );
    let (ok, _, err) = cli(&s, &["deploy", "x", "/no/such/file.wasm"]);
    assert!(!ok);
    assert!(err.contains("cannot read /no/such/file.wasm"), "{err}");
}
