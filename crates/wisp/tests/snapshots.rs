//! Pre-initialized snapshots through the real server: an init export runs once
//! at deploy, every call instantiates the snapshot it left, and an init that
//! fails is a 400 that says how.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::{KEY, Server, cli, example_bytes, request, wat};
use serde_json::json;

/// A deploy that is expected to fail: its status and error message.
fn refused(server: &Server, name: &str, module: &[u8], extra: serde_json::Value) -> (u16, String) {
    let r = server.try_deploy(name, module, extra);
    (r.status, r.error())
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn every_call_starts_from_the_snapshot_the_init_left() {
    let mut server = Server::start(&[]);
    let module = example_bytes("c-preinit");
    let view = server.deploy("pre", &module, json!({}));
    let init = &view["wisp"]["init"];
    assert_eq!(init["export"], "wizer-initialize", "{view}");
    assert!(init["init_us"].as_u64().unwrap() > 0, "{view}");
    assert_eq!(init["source_sha256"], sha256(&module));
    assert_eq!(init["source_size"], module.len());
    // What runs is the snapshot, not the binary as deployed.
    assert_ne!(view["wisp"]["module_sha256"], sha256(&module));

    // The counter the init set is where every call starts: never a previous
    // call's value.
    for _ in 0..3 {
        let r = server.invoke("pre", json!({}));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json(),
            json!({"counter": 42, "preinitialized": true, "square_of_12": 144})
        );
    }

    // The code the API gives back is the binary as deployed, which deploys
    // again to the same action.
    let got = server
        .get("/api/v1/namespaces/_/actions/pre?code=true")
        .json();
    use base64::Engine as _;
    let code = base64::engine::general_purpose::STANDARD
        .decode(got["exec"]["code"].as_str().unwrap())
        .unwrap();
    assert_eq!(code, module);

    // `wisp get` says it is pre-initialized, and how long its init took.
    let (ok, out, err) = cli(&server, &["get", "pre"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"init_us\""), "{out}");
    assert!(
        err.contains("pre: pre-initialized: its init `wizer-initialize` ran for"),
        "{err}"
    );

    // After a restart the snapshot is loaded, not made again.
    server.restart();
    let after = server
        .get("/api/v1/namespaces/_/actions/pre?code=false")
        .json();
    assert_eq!(after["wisp"], view["wisp"]);
    let r = server.invoke("pre", json!({}));
    assert_eq!(r.json()["counter"], 42, "{}", r.text());

    // An update without code makes the snapshot again from the kept binary
    // (here under a new memory limit), and keeps it pre-initialized.
    let r = request(
        "PUT",
        &format!("{}?overwrite=true", server.action_url("pre")),
        Some(KEY),
        Some("application/json"),
        serde_json::to_vec(&json!({"limits": {"memory": 32}})).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["wisp"]["init"]["source_sha256"], sha256(&module));
    assert_eq!(server.invoke("pre", json!({})).json()["counter"], 42);

    // With `init: false` the same binary runs from scratch.
    let plain = server.deploy(
        "plain",
        &module,
        json!({"annotations": [{"key": "init", "value": false}]}),
    );
    assert!(plain["wisp"].get("init").is_none(), "{plain}");
    assert_eq!(plain["wisp"]["module_sha256"], sha256(&module));
    assert_eq!(
        server.invoke("plain", json!({})).json(),
        json!({"counter": 1, "preinitialized": false, "square_of_12": 0})
    );
}

#[test]
fn a_named_init_export_runs_and_must_exist() {
    let server = Server::start(&[]);
    // A WASI command whose `setup` stores 7 at address 16; `_start` prints it.
    let module = wat(r#"(module
        (import "wasi_snapshot_preview1" "fd_write"
            (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 32) "{\"v\":0}\n")
        (func (export "setup") (i32.store8 (i32.const 37) (i32.const 55)))
        (func (export "_start")
            (i32.store (i32.const 0) (i32.const 32))
            (i32.store (i32.const 4) (i32.const 8))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#);
    let named = json!({"annotations": [{"key": "init", "value": "setup"}]});
    let view = server.deploy("named", &module, named);
    assert_eq!(view["wisp"]["init"]["export"], "setup");
    assert_eq!(server.invoke("named", json!({})).json(), json!({"v": 7}));
    // Without the annotation nothing runs (`setup` is not wizer-initialize).
    server.deploy("unnamed", &module, json!({}));
    assert_eq!(server.invoke("unnamed", json!({})).json(), json!({"v": 0}));

    let (status, msg) = refused(
        &server,
        "missing",
        &module,
        json!({"annotations": [{"key": "init", "value": "prepare"}]}),
    );
    assert_eq!(status, 400);
    assert!(msg.contains("`prepare` does not exist"), "{msg}");
    assert!(msg.contains("setup"), "the exports are listed: {msg}");

    let (status, msg) = refused(
        &server,
        "bad",
        &module,
        json!({"annotations": [{"key": "init", "value": 5}]}),
    );
    assert_eq!(status, 400);
    assert!(msg.contains("annotation init"), "{msg}");
}

#[test]
fn a_failing_init_is_a_400_that_says_how_and_the_old_version_serves_on() {
    let server = Server::start(&["--init-timeout", "1"]);
    server.deploy("f", &example_bytes("c-preinit"), json!({}));
    let start = r#"(func (export "_start"))"#;
    let cases = [
        (
            "trap",
            format!(
                r#"(module (memory (export "memory") 1) {start}
                   (func (export "wizer-initialize") unreachable))"#
            ),
            json!({}),
            "the init export `wizer-initialize` trapped",
        ),
        (
            "loop",
            format!(
                r#"(module (memory (export "memory") 1) {start}
                   (func (export "wizer-initialize") (loop $l (br $l))))"#
            ),
            json!({}),
            "timed out: it ran longer than the init time limit of 1000 ms",
        ),
        (
            "memory",
            format!(
                r#"(module (memory (export "memory") 1) {start}
                   (func (export "wizer-initialize")
                     (if (i32.eq (memory.grow (i32.const 200)) (i32.const -1))
                       (then unreachable))))"#
            ),
            json!({"limits": {"memory": 8}}),
            "ran out of memory: it needed more than the action's memory limit of 8 MB",
        ),
        (
            "table",
            format!(
                r#"(module (memory (export "memory") 1) (table 1 funcref) {start}
                   (func (export "wizer-initialize") (table.set (i32.const 0) (ref.null func))))"#
            ),
            json!({}),
            "cannot be snapshotted",
        ),
    ];
    for (what, src, extra, expected) in cases {
        let (status, msg) = refused(&server, "f", &wat(&src), extra);
        assert_eq!(status, 400, "{what}: {msg}");
        assert!(msg.contains(expected), "{what}: {msg}");
        // Nothing changed: the pre-initialized version still answers.
        let r = server.invoke("f", json!({}));
        assert_eq!(r.json()["counter"], 42, "{what}: {}", r.text());
    }
    let versions = server.get("/api/v1/namespaces/_/actions/f/versions").json();
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");
}
