//! Activation records through the real server: every invocation leaves one, they
//! can be listed and filtered, and they survive a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn get(s: &Server, path: &str) -> Resp {
    request(
        "GET",
        &format!("{}/api/v1/namespaces/_/{path}", s.url),
        Some(KEY),
        None,
        "",
    )
}

fn blocking(s: &Server, name: &str, params: Value) -> Value {
    let r = request(
        "POST",
        &format!("{}?blocking=true", s.action_url(name)),
        Some(KEY),
        Some("application/json"),
        serde_json::to_vec(&params).unwrap(),
    );
    r.json()
}

#[test]
fn records_can_be_read_listed_and_filtered() {
    let s = Server::start(&[]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    s.deploy("count", &example_bytes("c-counter"), json!({}));
    let a = blocking(&s, "greet", json!({"name": "one"}));
    let id = a["activationId"].as_str().unwrap().to_string();
    assert_eq!(a["response"]["status"], "success");
    assert_eq!(a["response"]["statusCode"], 0);
    let annotations = a["annotations"].as_array().unwrap();
    for key in ["path", "kind", "limits", "waitTime", "initTime"] {
        assert!(
            annotations.iter().any(|kv| kv["key"] == key),
            "{key} missing"
        );
    }
    assert_eq!(
        a["duration"].as_u64().unwrap(),
        a["end"].as_u64().unwrap() - a["start"].as_u64().unwrap()
    );

    // The record, its logs and its result.
    let r = get(&s, &format!("activations/{id}")).json();
    assert_eq!(r["activationId"], id.as_str());
    assert_eq!(r["response"]["result"], json!({"greeting": "Hello, one!"}));
    let logs = get(&s, &format!("activations/{id}/logs")).json();
    let lines = logs["logs"].as_array().unwrap();
    assert!(
        lines[0]
            .as_str()
            .unwrap()
            .ends_with(" stdout: greeting one"),
        "{lines:?}"
    );
    let result = get(&s, &format!("activations/{id}/result")).json();
    assert_eq!(result["result"], json!({"greeting": "Hello, one!"}));
    assert_eq!(result["success"], true);

    // An application error and a developer error are recorded as such.
    let e = blocking(&s, "greet", json!({"name": "error"}));
    assert_eq!(
        (
            e["response"]["status"].as_str(),
            e["response"]["statusCode"].as_u64()
        ),
        (Some("application error"), Some(1))
    );
    // Web calls leave records too, with their id in a header.
    let w = s.web("GET", "/fn/greet/", b"");
    let wid = w.headers["x-openwhisk-activation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let wr = get(&s, &format!("activations/{wid}")).json();
    assert_eq!(wr["response"]["result"], json!({"statusCode": 200}));
    blocking(&s, "count", json!({}));

    // Listing: newest first, summaries unless docs=true.
    let list = get(&s, "activations").json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["name"], "count");
    assert!(list[0].get("logs").is_none());
    let docs = get(&s, "activations?docs=true").json();
    assert!(docs[0].get("logs").is_some());
    let by_name = get(&s, "activations?name=greet").json();
    assert_eq!(by_name.as_array().unwrap().len(), 3);
    let page = get(&s, "activations?name=greet&limit=1&skip=2").json();
    assert_eq!(page[0]["activationId"], id.as_str());
    let start = a["start"].as_u64().unwrap();
    let since = get(&s, &format!("activations?since={}", start + 1)).json();
    assert!(
        since
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["activationId"] != id.as_str())
    );
    let upto = get(&s, &format!("activations?upto={start}")).json();
    assert_eq!(
        upto.as_array().unwrap().last().unwrap()["activationId"],
        id.as_str()
    );

    // Errors.
    assert_eq!(
        get(&s, "activations/0123456789abcdef0123456789abcdef").status,
        404
    );
    assert_eq!(get(&s, "activations/not-an-id").status, 404);
    assert_eq!(get(&s, "activations?limit=x").status, 400);
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/other/activations", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 403);
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/activations", s.url),
        None,
        None,
        "",
    );
    assert_eq!(r.status, 401);
}

#[test]
fn non_blocking_ids_can_be_fetched_and_records_survive_restart() {
    let mut s = Server::start(&[]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    let r = request(
        "POST",
        &s.action_url("greet"),
        Some(KEY),
        Some("application/json"),
        r#"{"name":"later"}"#,
    );
    assert_eq!(r.status, 202);
    let id = r.json()["activationId"].as_str().unwrap().to_string();
    let mut record = None;
    for _ in 0..100 {
        let r = get(&s, &format!("activations/{id}"));
        if r.status == 200 {
            record = Some(r.json());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let record = record.expect("the background activation was recorded");
    assert_eq!(
        record["response"]["result"],
        json!({"greeting": "Hello, later!"})
    );

    // Right after a call, a clean restart keeps every record.
    let a = blocking(&s, "greet", json!({"name": "kept"}));
    let kept = a["activationId"].as_str().unwrap().to_string();
    s.restart();
    for id in [&id, &kept] {
        let r = get(&s, &format!("activations/{id}"));
        assert_eq!(r.status, 200, "{id} lost over a restart");
    }
}

#[test]
fn retention_keeps_the_newest() {
    let mut s = Server::start(&["--activation-retention-count", "3"]);
    s.deploy("count", &example_bytes("c-counter"), json!({}));
    let ids: Vec<String> = (0..5)
        .map(|_| {
            blocking(&s, "count", json!({}))["activationId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // Retention runs at start (and every 5 s).
    s.restart();
    let list = get(&s, "activations?limit=10").json();
    let kept: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["activationId"].as_str().unwrap())
        .collect();
    let newest: Vec<&str> = ids.iter().rev().take(3).map(String::as_str).collect();
    assert_eq!(kept, newest);
    assert_eq!(get(&s, &format!("activations/{}", ids[0])).status, 404);
}

#[test]
fn web_calls_record_the_guests_output() {
    let mut s = Server::start(&[]);
    s.deploy("hello", &example_bytes("hello-http"), json!({}));
    s.deploy("cgi", &example_bytes("cgi-rust"), json!({}));
    let id_of = |r: &Resp| {
        r.headers["x-openwhisk-activation-id"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let logs = |s: &Server, id: &str| -> Vec<String> {
        get(s, &format!("activations/{id}/logs")).json()["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    // A component: stdout and stderr lines, each with its stream.
    let r = s.web("GET", "/fn/hello/log", b"");
    assert_eq!(r.text(), "logged\n");
    let component = id_of(&r);
    // A CGI command: its stdout is the response, so only stderr is a log.
    let r = s.web("GET", "/fn/cgi/x?log=1", b"");
    assert_eq!(r.status, 200);
    let cgi = id_of(&r);
    let check = |s: &Server| {
        let lines = logs(s, &component);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].ends_with(" stdout: a line on stdout"), "{lines:?}");
        assert!(lines[1].ends_with(" stderr: a line on stderr"), "{lines:?}");
        let lines = logs(s, &cgi);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].ends_with(" stderr: cgi logged /x"), "{lines:?}");
    };
    check(&s);
    // Written and read back from the registry alike.
    std::thread::sleep(Duration::from_millis(300));
    check(&s);
    s.restart();
    check(&s);
}
