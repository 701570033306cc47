//! Sequences through the real server: each action's result is the next one's
//! parameters, one activation for the sequence listing its actions' ids, an
//! error stops it, and sequences that contain themselves are refused.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::{Value, json};

/// A JSON command that answers its parameters unchanged (stdin to stdout).
const ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32)
    (block $done (loop $more
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 60000))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (br_if $done (i32.eqz (local.get $n)))
      (i32.store (i32.const 16) (i32.const 1024))
      (i32.store (i32.const 20) (local.get $n))
      (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (br $more)))))"#;

fn put_sequence(s: &Server, name: &str, components: &[&str], extra: Value) -> Resp {
    let mut doc = json!({"exec": {"kind": "sequence", "components": components}});
    if let Value::Object(more) = extra {
        doc.as_object_mut().unwrap().extend(more);
    }
    request(
        "PUT",
        &format!("{}?overwrite=true", s.action_url(name)),
        Some(KEY),
        Some("application/json"),
        serde_json::to_vec(&doc).unwrap(),
    )
}

fn invoke_record(s: &Server, name: &str, params: Value) -> Resp {
    request(
        "POST",
        &format!("{}?blocking=true", s.action_url(name)),
        Some(KEY),
        Some("application/json"),
        serde_json::to_vec(&params).unwrap(),
    )
}

/// The activation record, once the writer has stored it.
fn activation(s: &Server, id: &str) -> Value {
    for _ in 0..100 {
        let r = s.get(&format!("/api/v1/namespaces/_/activations/{id}"));
        if r.status == 200 {
            return r.json();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("activation {id} was never recorded");
}

fn setup() -> Server {
    let s = Server::start(&[]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    s.deploy(
        "echo",
        &wat(ECHO),
        json!({"parameters": [{"key": "from_echo", "value": true}]}),
    );
    s
}

#[test]
fn each_result_is_the_next_parameters_and_the_sequence_lists_its_activations() {
    let mut s = setup();
    let r = put_sequence(&s, "hello", &["/guest/greet", "echo"], json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let view = r.json();
    assert_eq!(view["exec"]["kind"], "sequence");
    assert_eq!(
        view["exec"]["components"],
        json!(["/guest/greet", "/guest/echo"])
    );
    assert!(view["exec"].get("code").is_none());

    let r = invoke_record(&s, "hello", json!({"name": "Ada"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = r.json();
    // greet's result, then echo's defaults merged under it.
    assert_eq!(
        rec["response"]["result"],
        json!({"greeting": "Hello, Ada!", "from_echo": true})
    );
    assert_eq!(rec["name"], "hello");
    let kind = rec["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "kind")
        .unwrap()["value"]
        .clone();
    assert_eq!(kind, "sequence");
    let ids: Vec<String> = rec["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{rec}");
    let first = activation(&s, &ids[0]);
    assert_eq!(first["name"], "greet");
    assert_eq!(
        first["response"]["result"],
        json!({"greeting": "Hello, Ada!"})
    );
    assert_eq!(activation(&s, &ids[1])["name"], "echo");
    // The sequence's own record is stored too.
    assert_eq!(
        activation(&s, rec["activationId"].as_str().unwrap())["logs"],
        json!(ids)
    );

    // A sequence in a sequence.
    let r = put_sequence(&s, "twice", &["/_/hello", "/guest/echo"], json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.invoke("twice", json!({"name": "Bo"}));
    assert_eq!(
        r.json(),
        json!({"greeting": "Hello, Bo!", "from_echo": true})
    );

    // Non-blocking: 202 with an id, recorded when done.
    let r = request(
        "POST",
        &s.action_url("hello"),
        Some(KEY),
        Some("application/json"),
        br#"{"name":"Cy"}"#.to_vec(),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["activationId"].as_str().unwrap().to_string();
    assert_eq!(
        activation(&s, &id)["response"]["result"]["greeting"],
        "Hello, Cy!"
    );

    // The CLI makes one too.
    let (ok, out, err) = cli(
        &s,
        &["deploy", "cli-seq", "--sequence", "greet,/guest/echo"],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("a sequence of /guest/greet, /guest/echo"),
        "{out}"
    );
    assert_eq!(
        s.invoke("cli-seq", json!({"name": "Eve"})).json()["greeting"],
        "Hello, Eve!"
    );

    // Kept across a restart.
    s.restart();
    let r = s.invoke("hello", json!({"name": "Di"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["greeting"], "Hello, Di!");
}

#[test]
fn an_error_stops_the_sequence_and_is_its_result() {
    let s = setup();
    assert_eq!(
        put_sequence(&s, "seq", &["greet", "echo"], json!({})).status,
        200
    );
    let r = invoke_record(&s, "seq", json!({"name": "error"}));
    assert_eq!(r.status, 502, "{}", r.text());
    let rec = r.json();
    assert_eq!(rec["response"]["result"], json!({"error": "asked to fail"}));
    assert_eq!(rec["response"]["status"], "application error");
    assert_eq!(
        rec["logs"].as_array().unwrap().len(),
        1,
        "echo never ran: {rec}"
    );

    // A component deleted after the sequence was made: a clear error.
    let r = request("DELETE", &s.action_url("echo"), Some(KEY), None, "");
    assert_eq!(r.status, 200);
    let r = invoke_record(&s, "seq", json!({"name": "Ed"}));
    assert_eq!(r.status, 502);
    let rec = r.json();
    assert!(
        rec["response"]["result"]["error"]
            .as_str()
            .unwrap()
            .contains("'/guest/echo' does not exist"),
        "{rec}"
    );
    assert_eq!(rec["logs"].as_array().unwrap().len(), 1);
}

#[test]
fn sequences_that_contain_themselves_or_run_too_much_are_refused() {
    let s = setup();
    assert_eq!(put_sequence(&s, "a", &["greet"], json!({})).status, 200);
    assert_eq!(put_sequence(&s, "b", &["a", "echo"], json!({})).status, 200);
    // a → b → a.
    let r = put_sequence(&s, "a", &["b"], json!({}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("would contain itself"), "{}", r.error());
    let r = put_sequence(&s, "b", &["b"], json!({}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("would contain itself"), "{}", r.error());
    // The old versions still run.
    assert_eq!(
        s.invoke("b", json!({"name": "Fay"})).json()["greeting"],
        "Hello, Fay!"
    );

    let r = put_sequence(&s, "c", &["nope"], json!({}));
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("'/guest/nope' does not exist"),
        "{}",
        r.error()
    );
    let r = put_sequence(&s, "c", &["/other/greet"], json!({}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("another namespace"), "{}", r.error());
    let r = put_sequence(&s, "c", &[], json!({}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("exec.components"), "{}", r.error());
    let r = put_sequence(&s, "c", &["a/b/c/d"], json!({}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("not an action path"), "{}", r.error());
    let many = vec!["greet"; 51];
    let r = put_sequence(&s, "c", &many, json!({}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("1 to 50"), "{}", r.error());
    // 30 + 30 nested: more than 50 actions in all.
    let thirty = vec!["greet"; 30];
    assert_eq!(put_sequence(&s, "t", &thirty, json!({})).status, 200);
    let r = put_sequence(&s, "c", &["t", "t"], json!({}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("more than 50 actions"), "{}", r.error());
    let r = put_sequence(
        &s,
        "c",
        &["greet"],
        json!({"annotations": [{"key": "web-export", "value": true}]}),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("not a web action"), "{}", r.error());
}
