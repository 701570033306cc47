//! The official OpenWhisk JavaScript client (`openwhisk` on npm, pinned in
//! `tests/openwhisk-client/package.json`) against the real server.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn the_openwhisk_js_client_works_unchanged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openwhisk-client");
    assert!(
        dir.join("node_modules/openwhisk").is_dir(),
        "the openwhisk npm client is not installed: run scripts/setup.sh (scripts/test.sh does)"
    );
    let s = Server::start(&[]);
    let r = request(
        "PUT",
        &format!("{}/api/v1/admin/namespaces/other", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let other = r.json()["key"].as_str().unwrap().to_string();
    let out = Command::new("node")
        .arg(dir.join("run.js"))
        .arg(&s.url)
        .arg(KEY)
        .arg(&other)
        .arg(example("json-rust"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("openwhisk client: all steps passed"),
        "{stdout}"
    );
}
