//! Namespaces, keys and web exports through the real server and the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::json;

fn ns_cli(s: &Server, args: &[&str]) -> String {
    let mut all = vec!["namespace"];
    all.extend_from_slice(args);
    let (ok, out, err) = cli(s, &all);
    assert!(ok, "wisp namespace {args:?}: {err}");
    out.trim().to_string()
}

fn put(s: &Server, key: &str, ns: &str, name: &str, module: &[u8]) -> Resp {
    request(
        "PUT",
        &format!(
            "{}/api/v1/namespaces/{ns}/actions/{name}?overwrite=true",
            s.url
        ),
        Some(key),
        Some("application/json"),
        action_doc(module, json!({})),
    )
}

#[test]
fn each_key_acts_only_in_its_namespace() {
    let mut s = Server::start(&[]);
    let team = ns_cli(&s, &["create", "team"]);
    assert!(team.contains(':'), "{team}");
    let counter = example_bytes("c-counter");

    // The root key's action and the team's own.
    s.deploy("mine", &counter, json!({}));
    assert_eq!(put(&s, &team, "_", "theirs", &counter).status, 200);
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces", s.url),
        Some(&team),
        None,
        "",
    );
    assert_eq!(r.json(), json!(["team"]));
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/actions", s.url),
        Some(&team),
        None,
        "",
    );
    let names: Vec<_> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, [json!("theirs")]);
    assert_eq!(r.json()[0]["namespace"], "team");
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/actions", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.json().as_array().unwrap().len(), 1);

    // Another namespace's actions and activations: refused, never data.
    for path in [
        "namespaces/guest/actions",
        "namespaces/guest/actions/mine",
        "namespaces/guest/activations",
    ] {
        let r = request(
            "GET",
            &format!("{}/api/v1/{path}", s.url),
            Some(&team),
            None,
            "",
        );
        assert_eq!(r.status, 403, "{path}");
    }
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/actions/mine", s.url),
        Some(&team),
        None,
        "",
    );
    assert_eq!(r.status, 404);
    let r = request(
        "POST",
        &format!(
            "{}/api/v1/namespaces/guest/actions/mine?blocking=true",
            s.url
        ),
        Some(&team),
        None,
        "{}",
    );
    assert_eq!(r.status, 403);
    let r = request(
        "DELETE",
        &format!("{}/api/v1/namespaces/guest/actions/mine", s.url),
        Some(&team),
        None,
        "",
    );
    assert_eq!(r.status, 403);
    // Activation ids of another namespace are not found.
    let a = request(
        "POST",
        &format!("{}?blocking=true", s.action_url("mine")),
        Some(KEY),
        None,
        "{}",
    )
    .json();
    let id = a["activationId"].as_str().unwrap();
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/activations/{id}", s.url),
        Some(&team),
        None,
        "",
    );
    assert_eq!(r.status, 404);
    // The team invokes its own and is the activation's subject.
    let r = request(
        "POST",
        &format!("{}/api/v1/namespaces/_/actions/theirs?blocking=true", s.url),
        Some(&team),
        None,
        "{}",
    );
    assert_eq!(r.json()["subject"], team.split(':').next().unwrap());
    assert_eq!(r.json()["namespace"], "team");
    // Web calls reach it under its namespace.
    assert_eq!(
        s.web("GET", "/api/v1/web/team/default/theirs", b"").status,
        200
    );
    assert_eq!(s.web("GET", "/fn/theirs", b"").status, 404);

    // Only the server's key manages namespaces.
    let r = request(
        "GET",
        &format!("{}/api/v1/admin/namespaces", s.url),
        Some(&team),
        None,
        "",
    );
    assert_eq!(r.status, 403);
    let r = request(
        "PUT",
        &format!("{}/api/v1/admin/namespaces/team", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 409);
    let r = request(
        "PUT",
        &format!("{}/api/v1/admin/namespaces/bad%20name", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 400);

    // Keys survive a restart, and only their hash is stored.
    s.restart();
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/actions", s.url),
        Some(&team),
        None,
        "",
    );
    assert_eq!(r.status, 200);
    let secret = team.split(':').nth(1).unwrap();
    let db = std::fs::read(s.data_dir.join("registry.redb")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "secret stored in clear"
    );

    // Rotation: the old key stops working, the new one works.
    let listed = ns_cli(&s, &["list"]);
    assert!(listed.contains("team"), "{listed}");
    let fresh = ns_cli(&s, &["rotate", "team"]);
    assert_ne!(fresh, team);
    let url = format!("{}/api/v1/namespaces/_/actions", s.url);
    assert_eq!(request("GET", &url, Some(&team), None, "").status, 401);
    assert_eq!(request("GET", &url, Some(&fresh), None, "").status, 200);
    let id = fresh.split(':').next().unwrap();
    assert_eq!(ns_cli(&s, &["revoke", id]), format!("revoked {id}"));
    assert_eq!(request("GET", &url, Some(&fresh), None, "").status, 401);
    let (ok, _, err) = cli(&s, &["namespace", "revoke", id]);
    assert!(!ok && err.contains("no key with id"), "{err}");
}

#[test]
fn only_web_exported_actions_answer_web_calls() {
    let s = Server::start(&[]);
    let counter = example("c-counter");
    let path = counter.to_str().unwrap();
    // Raw deploys carry no annotations: not exported.
    let r = request(
        "PUT",
        &s.action_url("raw"),
        Some(KEY),
        Some("application/wasm"),
        example_bytes("c-counter"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.web("GET", "/fn/raw", b"").status, 404);
    assert_eq!(s.invoke("raw", json!({})).status, 200);
    // The CLI exports unless told not to.
    assert!(cli(&s, &["deploy", "open", path]).0);
    assert_eq!(s.web("GET", "/fn/open", b"").status, 200);
    assert!(cli(&s, &["deploy", "closed", path, "--web", "false"]).0);
    assert_eq!(s.web("GET", "/fn/closed", b"").status, 404);

    // require-whisk-auth with a secret: the header must carry it.
    s.deploy(
        "guarded",
        &example_bytes("c-counter"),
        json!({"annotations": [{"key": "require-whisk-auth", "value": "let-me-in"}]}),
    );
    assert_eq!(s.web("GET", "/fn/guarded", b"").status, 401);
    let r = {
        // The test client sends no custom headers; use a raw request.
        use std::io::{Read, Write};
        let addr = s.url.trim_start_matches("http://");
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        write!(c, "GET /fn/guarded HTTP/1.1\r\nHost: x\r\nX-Require-Whisk-Auth: let-me-in\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    };
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    // require-whisk-auth true: a key of the action's namespace.
    s.deploy(
        "keyed",
        &example_bytes("c-counter"),
        json!({"annotations": [{"key": "require-whisk-auth", "value": true}]}),
    );
    assert_eq!(s.web("GET", "/fn/keyed", b"").status, 401);
    let r = request("GET", &format!("{}/fn/keyed", s.url), Some(KEY), None, "");
    assert_eq!(r.status, 200);
}
