//! Routes tested in-process: the real Controller, registry and invoker in a
//! temporary directory, requests handed to `dispatch::handle` with in-memory
//! bodies, no socket.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use wisp_controller::{Controller, ServerConfig, dispatch};

const KEY: &str = "test-id:test-secret";

/// A command module that prints `{"ok":true}`.
const OK_COMMAND: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"ok\":true}\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

struct Harness {
    ctl: Arc<Controller>,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(KEY.parse().unwrap(), dir.path());
    config.max_instances = 4;
    let registry = wisp_registry::RedbRegistry::open(config.registry_path()).unwrap();
    let invoker = wisp_invoker::Invoker::new(&config.invoker(), &config.cache_dir()).unwrap();
    let ctl = Controller::new(config, Arc::new(registry), Arc::new(invoker)).unwrap();
    Harness {
        ctl: Arc::new(ctl),
        _dir: dir,
    }
}

fn peer() -> SocketAddr {
    "127.0.0.1:4000".parse().unwrap()
}

async fn send(
    h: &Harness,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> (StatusCode, serde_json::Value) {
    let mut b = Request::builder().method(method).uri(uri).header(
        "authorization",
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(KEY)
        ),
    );
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    let resp = dispatch::handle(&h.ctl, b.body(Full::new(body.into())).unwrap(), peer()).await;
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[tokio::test]
async fn deploy_invoke_and_refusals_without_a_socket() {
    let h = harness();
    let module = wat::parse_str(OK_COMMAND).unwrap();
    let url = "/api/v1/namespaces/_/actions/ok";
    let (status, v) = send(&h, "PUT", url, Some("application/wasm"), module.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["wisp"]["shape"], "command");
    let (status, v) = send(
        &h,
        "POST",
        &format!("{url}?blocking=true&result=true"),
        None,
        "{}",
    )
    .await;
    assert_eq!(
        (status, v),
        (StatusCode::OK, serde_json::json!({"ok": true}))
    );

    // A second PUT without overwrite is a conflict; with it, a new version.
    let (status, _) = send(&h, "PUT", url, Some("application/wasm"), module.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, v) = send(
        &h,
        "PUT",
        &format!("{url}?overwrite=true&memory=64"),
        Some("application/wasm"),
        module.clone(),
    )
    .await;
    assert_eq!(
        (status, v["version"].as_str()),
        (StatusCode::OK, Some("0.0.2"))
    );
    assert_eq!(v["limits"]["memory"], 64);

    // Limits beyond the pool, a body type the route does not take, bad JSON.
    let (status, v) = send(
        &h,
        "PUT",
        &format!("{url}?overwrite=true&instances=5"),
        Some("application/wasm"),
        module.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("limits.instances must be between 0 and 4"),
        "{v}"
    );
    let (status, _) = send(&h, "PUT", url, Some("text/plain"), "x").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, v) = send(&h, "POST", &format!("{url}?blocking=true"), None, "{nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["code"], "bad_request");

    // Not a module at all: 400, and the old version still serves.
    let (status, v) = send(
        &h,
        "PUT",
        &format!("{url}?overwrite=true"),
        Some("application/wasm"),
        "hello",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _) = send(
        &h,
        "POST",
        &format!("{url}?blocking=true&result=true"),
        None,
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let h = harness();
    assert_eq!(
        send(&h, "GET", "/nothing", None, "").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&h, "PATCH", "/api/v1/namespaces/_/actions/x", None, "")
            .await
            .0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        send(&h, "GET", "/api/v1/namespaces/other/actions", None, "")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&h, "GET", "/api/v1/namespaces/_/actions/missing", None, "")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&h, "GET", "/fn/missing/", None, "").await.0,
        StatusCode::NOT_FOUND
    );
}
