//! Key-value stores and config variables through the real server: the
//! `kv-counter` component (`wasi:keyvalue`, `wasi:config`), the REST routes
//! and `wisp kv`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::*;
use serde_json::json;

fn counter(s: &Server, name: &str, extra: serde_json::Value) {
    s.deploy(name, &example_bytes("kv-counter"), extra);
}

/// A web call of `kv-counter` with a body.
fn call(s: &Server, method: &str, path: &str, body: impl Into<bytes::Bytes>) -> Resp {
    request(method, &format!("{}{path}", s.url), None, None, body)
}

fn kv_url(s: &Server, rest: &str) -> String {
    format!("{}/api/v1/namespaces/_/kv{rest}", s.url)
}

fn rest(method: &str, url: &str, key: &str, body: impl Into<bytes::Bytes>) -> Resp {
    request(
        method,
        url,
        Some(key),
        Some("application/octet-stream"),
        body,
    )
}

#[test]
fn thirty_two_concurrent_counts_end_at_32_and_survive_a_restart() {
    let mut s = Server::start(&[]);
    counter(&s, "kvc", json!({}));
    let url = format!("{}/fn/kvc/count", s.url);
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let r = request("POST", &url, None, None, "");
                assert_eq!(r.status, 200, "{}", r.text());
                r.text().trim().parse::<u64>().unwrap()
            })
        })
        .collect();
    let mut seen: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    seen.sort_unstable();
    // Every increment was atomic: each call saw its own value.
    assert_eq!(seen, (1..=32).collect::<Vec<_>>());
    assert_eq!(call(&s, "GET", "/fn/kvc/kv/default/count", "").text(), "32");
    s.restart();
    assert_eq!(call(&s, "GET", "/fn/kvc/kv/default/count", "").text(), "32");
    assert_eq!(call(&s, "POST", "/fn/kvc/count", "").text().trim(), "33");
}

#[test]
fn a_named_store_opens_only_with_the_grant_and_only_when_it_exists() {
    let s = Server::start(&[]);
    counter(&s, "plain", json!({}));
    counter(
        &s,
        "granted",
        json!({"annotations": [{"key": "keyvalue-stores", "value": ["cache", "missing"]}]}),
    );
    assert_eq!(rest("PUT", &kv_url(&s, "/cache"), KEY, "").status, 200);

    let denied = call(&s, "PUT", "/fn/plain/kv/cache/k", "v");
    assert_eq!(
        (denied.status, denied.text().trim()),
        (400, "access-denied")
    );
    let r = call(&s, "GET", "/fn/plain/kv/cache/k", "");
    assert_eq!((r.status, r.text().trim()), (403, "access-denied"));

    assert_eq!(
        call(&s, "PUT", "/fn/granted/kv/cache/k", "cached").status,
        200
    );
    assert_eq!(
        call(&s, "GET", "/fn/granted/kv/cache/k", "").text(),
        "cached"
    );
    // The same store over REST; the default store is another one.
    assert_eq!(
        rest("GET", &kv_url(&s, "/cache/k"), KEY, "").text(),
        "cached"
    );
    assert_eq!(rest("GET", &kv_url(&s, "/default/k"), KEY, "").status, 404);
    // Granted but never created; created but not granted.
    let r = call(&s, "GET", "/fn/granted/kv/missing/k", "");
    assert_eq!(r.text().trim(), "no-such-store");
    assert_eq!(rest("PUT", &kv_url(&s, "/other"), KEY, "").status, 200);
    let r = call(&s, "GET", "/fn/granted/kv/other/k", "");
    assert_eq!(r.text().trim(), "access-denied");
    // Every action has its namespace's default store.
    assert_eq!(call(&s, "PUT", "/fn/plain/kv/default/k", "d").status, 200);
    assert_eq!(call(&s, "GET", "/fn/granted/kv/default/k", "").text(), "d");

    // The CLI grants with --kv-store; redeploying without it takes it away.
    let wasm = example("kv-counter");
    let wasm = wasm.to_str().unwrap();
    let (ok, out, err) = cli(&s, &["deploy", "viacli", wasm, "--kv-store", "cache"]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        call(&s, "GET", "/fn/viacli/kv/cache/k", "").text(),
        "cached"
    );
    let (ok, out, err) = cli(&s, &["deploy", "viacli", wasm]);
    assert!(ok, "{out}{err}");
    let r = call(&s, "GET", "/fn/viacli/kv/cache/k", "");
    assert_eq!(r.text().trim(), "access-denied");
    let (ok, _, err) = cli(&s, &["deploy", "viacli", wasm, "--kv-store", "no/slash"]);
    assert!(!ok);
    assert!(err.contains("keyvalue-stores"), "{err}");
}

#[test]
fn every_limit_is_a_clear_error_inside_the_guest_and_the_server_goes_on() {
    let s = Server::start(&["--kv-quota-bytes", "4096"]);
    counter(&s, "kvc", json!({}));
    let long_key = "k".repeat(1025);
    let r = call(&s, "PUT", &format!("/fn/kvc/kv/default/{long_key}"), "v");
    assert_eq!(
        (r.status, r.text().trim()),
        (400, "key is longer than 1024 bytes")
    );
    let r = call(
        &s,
        "PUT",
        "/fn/kvc/kv/default/big",
        vec![7u8; (1 << 20) + 1],
    );
    assert_eq!(
        (r.status, r.text().trim()),
        (400, "value is larger than 1048576 bytes")
    );
    assert_eq!(
        call(&s, "PUT", "/fn/kvc/kv/default/a", vec![1u8; 3000]).status,
        200
    );
    let r = call(&s, "PUT", "/fn/kvc/kv/default/b", vec![1u8; 2000]);
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("quota of 4096 bytes is used up"),
        "{}",
        r.text()
    );
    // Nothing of the refused writes was stored, and the server still serves.
    assert_eq!(call(&s, "GET", "/fn/kvc/kv/default/b", "").status, 404);
    assert_eq!(call(&s, "POST", "/fn/kvc/count", "").text().trim(), "1");
    assert_eq!(s.get("/healthz").status, 200);
    // Over REST: 507 past the quota, 413 past the value limit, 400 past the key's.
    let r = rest("PUT", &kv_url(&s, "/default/c"), KEY, vec![0u8; 2000]);
    assert_eq!(r.status, 507, "{}", r.text());
    assert!(r.error().contains("quota"), "{}", r.error());
    // Refused on its announced length, before any of the body is read: the
    // answer comes back without the body being sent (a client that pushes it
    // all anyway may see the connection close under it).
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, KEY);
    write!(
        conn,
        "PUT /api/v1/namespaces/_/kv/default/c HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\n\r\n",
        (1 << 20) + 1
    )
    .unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut answer = vec![0; 4096];
    let n = std::io::Read::read(&mut conn, &mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let r = rest("GET", &kv_url(&s, &format!("/default/{long_key}")), KEY, "");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("1024"), "{}", r.error());
    let list = rest("GET", &kv_url(&s, ""), KEY, "").json();
    assert_eq!(list["quota_bytes"], 4096);
    assert!(list["used_bytes"].as_u64().unwrap() <= 4096);
}

#[test]
fn rest_puts_gets_deletes_and_lists_with_prefix_and_cursor() {
    let s = Server::start(&[]);
    assert_eq!(rest("PUT", &kv_url(&s, "/users"), KEY, "").status, 200);
    assert_eq!(rest("PUT", &kv_url(&s, "/users"), KEY, "").status, 409);
    assert_eq!(rest("PUT", &kv_url(&s, "/bad%20name"), KEY, "").status, 400);
    let stores = rest("GET", &kv_url(&s, ""), KEY, "").json();
    assert_eq!(stores["stores"], json!(["default", "users"]));

    let binary: Vec<u8> = (0..=255).collect();
    for i in 1..=5 {
        let r = rest(
            "PUT",
            &kv_url(&s, &format!("/users/user%2F{i}")),
            KEY,
            binary.clone(),
        );
        assert_eq!(r.status, 204, "{}", r.text());
    }
    assert_eq!(rest("PUT", &kv_url(&s, "/users/zed"), KEY, "z").status, 204);
    let r = rest("GET", &kv_url(&s, "/users/user%2F3"), KEY, "");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/octet-stream");
    assert_eq!(r.body.as_ref(), binary.as_slice());
    // A key may also be written with its slashes as they are.
    assert_eq!(
        rest("GET", &kv_url(&s, "/users/user/3"), KEY, "")
            .body
            .len(),
        256
    );

    let page = |q: &str| rest("GET", &kv_url(&s, &format!("/users?{q}")), KEY, "").json();
    let first = page("prefix=user%2F&limit=2");
    assert_eq!(first["keys"], json!(["user/1", "user/2"]));
    assert_eq!(first["cursor"], "user/2");
    let second = page("prefix=user%2F&limit=2&cursor=user%2F2");
    assert_eq!(second["keys"], json!(["user/3", "user/4"]));
    let last = page("prefix=user%2F&limit=2&cursor=user%2F4");
    assert_eq!(last["keys"], json!(["user/5"]));
    assert!(last.get("cursor").is_none(), "{last}");
    assert_eq!(page("")["keys"].as_array().unwrap().len(), 6);
    assert_eq!(
        rest("GET", &kv_url(&s, "/users?limit=0"), KEY, "").status,
        400
    );

    assert_eq!(
        rest("DELETE", &kv_url(&s, "/users/user%2F3"), KEY, "").status,
        204
    );
    assert_eq!(
        rest("GET", &kv_url(&s, "/users/user%2F3"), KEY, "").status,
        404
    );
    assert_eq!(rest("GET", &kv_url(&s, "/nope/k"), KEY, "").status, 404);
    assert_eq!(
        rest("GET", &kv_url(&s, "/users/bad%zz"), KEY, "").status,
        400
    );

    // Another namespace's key reaches its own stores only.
    let (ok, team, err) = cli(&s, &["namespace", "create", "team"]);
    assert!(ok, "{err}");
    let team = team.trim();
    let r = rest(
        "GET",
        &format!("{}/api/v1/namespaces/guest/kv/users/zed", s.url),
        team,
        "",
    );
    assert_eq!(r.status, 403);
    assert_eq!(rest("GET", &kv_url(&s, "/users/zed"), team, "").status, 404);
    assert_eq!(request("GET", &kv_url(&s, ""), None, None, "").status, 401);

    // Deleting a store deletes its keys; `default` stays.
    assert_eq!(rest("DELETE", &kv_url(&s, "/users"), KEY, "").status, 200);
    assert_eq!(rest("GET", &kv_url(&s, "/users/zed"), KEY, "").status, 404);
    assert_eq!(rest("DELETE", &kv_url(&s, "/default"), KEY, "").status, 400);
    assert_eq!(
        rest("GET", &kv_url(&s, ""), KEY, "").json()["used_bytes"],
        0
    );
}

fn kv(s: &Server, args: &[&str]) -> String {
    let mut all = vec!["kv"];
    all.extend_from_slice(args);
    let (ok, out, err) = cli(s, &all);
    assert!(ok, "wisp kv {args:?}: {err}");
    out
}

#[test]
fn the_cli_reads_and_writes_stores() {
    let s = Server::start(&[]);
    assert_eq!(kv(&s, &["create", "notes"]).trim(), "created notes");
    kv(&s, &["set", "notes", "todo/1", "buy milk"]);
    kv(&s, &["set", "notes", "todo/2 +&", "call"]);
    kv(&s, &["set", "default", "greeting", "hi"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wisp"))
        .args(["kv", "set", "notes", "from-stdin", "-"])
        .env("WISP_SERVER", &s.url)
        .env("WISP_API_KEY", KEY)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped\nbytes")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(kv(&s, &["get", "notes", "from-stdin"]), "piped\nbytes");
    assert_eq!(kv(&s, &["get", "notes", "todo/2 +&"]), "call");
    assert_eq!(
        kv(&s, &["ls", "notes", "--prefix", "todo/"]),
        "todo/1\ntodo/2 +&\n"
    );
    assert_eq!(kv(&s, &["ls", "notes"]).lines().count(), 3);
    assert_eq!(kv(&s, &["stores"]), "default\nnotes\n");
    kv(&s, &["rm", "notes", "todo/1"]);
    let (ok, _, err) = cli(&s, &["kv", "get", "notes", "todo/1"]);
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, _, err) = cli(&s, &["kv", "set", "nowhere", "k", "v"]);
    assert!(!ok && err.contains("no key-value store 'nowhere'"), "{err}");
    assert_eq!(kv(&s, &["drop", "notes"]).trim(), "deleted notes");
    assert_eq!(kv(&s, &["stores"]), "default\n");
}

#[test]
fn deleting_a_namespace_deletes_its_stores_actions_and_keys() {
    let s = Server::start(&[]);
    let create = || {
        let (ok, key, err) = cli(&s, &["namespace", "create", "team"]);
        assert!(ok, "{err}");
        key.trim().to_string()
    };
    let team = create();
    let url = |rest: &str| format!("{}/api/v1/namespaces/team/kv{rest}", s.url);
    assert_eq!(rest("PUT", &url("/cache"), &team, "").status, 200);
    assert_eq!(rest("PUT", &url("/cache/k"), &team, "v").status, 204);
    assert_eq!(rest("PUT", &url("/default/k"), &team, "v").status, 204);
    let r = request(
        "PUT",
        &format!("{}/api/v1/namespaces/team/actions/kvc", s.url),
        Some(&team),
        Some("application/json"),
        action_doc(&example_bytes("kv-counter"), json!({})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The guest's own key-value data stays.
    rest("PUT", &kv_url(&s, "/default/mine"), KEY, "kept");

    // Only the server's key deletes a namespace.
    let del = format!("{}/api/v1/admin/namespaces/team", s.url);
    assert_eq!(request("DELETE", &del, Some(&team), None, "").status, 403);
    let (ok, out, err) = cli(&s, &["namespace", "delete", "team"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "deleted team (1 actions, 1 keys, 2 stores)");
    assert_eq!(request("DELETE", &del, Some(KEY), None, "").status, 404);
    let guest = format!("{}/api/v1/admin/namespaces/guest", s.url);
    assert_eq!(request("DELETE", &guest, Some(KEY), None, "").status, 400);

    // Its key is gone, and a namespace of the same name starts empty.
    assert_eq!(rest("GET", &url(""), &team, "").status, 401);
    let team = create();
    assert_eq!(
        rest("GET", &url(""), &team, "").json()["stores"],
        json!(["default"])
    );
    assert_eq!(rest("GET", &url("/default/k"), &team, "").status, 404);
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/team/actions/kvc", s.url),
        Some(&team),
        None,
        "",
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        rest("GET", &kv_url(&s, "/default/mine"), KEY, "").text(),
        "kept"
    );
}

#[test]
fn config_variables_are_the_actions_parameters() {
    let s = Server::start(&[]);
    counter(
        &s,
        "kvc",
        json!({"parameters": [
            {"key": "greeting", "value": "hello"},
            {"key": "n", "value": 5},
            {"key": "obj", "value": {"a": [1, true]}},
        ]}),
    );
    assert_eq!(
        call(&s, "GET", "/fn/kvc/config/greeting", "").text(),
        "hello"
    );
    assert_eq!(call(&s, "GET", "/fn/kvc/config/n", "").text(), "5");
    assert_eq!(
        call(&s, "GET", "/fn/kvc/config/obj", "").text(),
        r#"{"a":[1,true]}"#
    );
    assert_eq!(call(&s, "GET", "/fn/kvc/config/missing", "").status, 404);
    // An update's parameters are what the next call reads.
    counter(
        &s,
        "kvc",
        json!({"parameters": [{"key": "greeting", "value": "hey"}]}),
    );
    assert_eq!(call(&s, "GET", "/fn/kvc/config/greeting", "").text(), "hey");
    assert_eq!(call(&s, "GET", "/fn/kvc/config/n", "").status, 404);
}
