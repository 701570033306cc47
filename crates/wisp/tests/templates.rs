//! `wisp new`, `wisp build` and `wisp deploy` of a source: every template is
//! created, built with its real toolchain, deployed to a real server and
//! called both ways (a web call and an API call).
//!
//! The toolchains are those scripts/setup.sh installs (the rustup targets,
//! clang + wasi-libc, Emscripten, and toolchains/ for JavaScript and Python).
//! Rust builds share the examples' target directory, so a run rebuilds only
//! the functions themselves.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{KEY, Server};
use serde_json::json;

/// The checkout's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// What one run of the CLI did.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `wisp` in `cwd` against `server` (when given), with the shared build
/// caches and any `env` on top.
fn wisp_in(cwd: &Path, server: Option<&Server>, args: &[&str], env: &[(&str, &Path)]) -> Run {
    let root = repo();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wisp"));
    cmd.args(args)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", root.join("examples/target"))
        .env_remove("WISP_TOOLCHAINS")
        .env_remove("WISP_SERVER")
        .env("WISP_API_KEY", KEY);
    if let Some(s) = server {
        cmd.env("WISP_SERVER", &s.url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let run = Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("$ wisp {}\n{}{}", args.join(" "), run.stdout, run.stderr);
    run
}

fn wisp(cwd: &Path, server: Option<&Server>, args: &[&str]) -> Run {
    wisp_in(cwd, server, args, &[])
}

/// `wisp new TEMPLATE NAME` in `cwd`; the project's directory.
fn new_project(cwd: &Path, template: &str, name: &str) -> PathBuf {
    let r = wisp(cwd, None, &["new", template, name]);
    assert!(r.ok, "wisp new {template} {name}: {}", r.stderr);
    assert!(
        r.stdout.contains(&format!("wisp deploy {name} ")),
        "wisp new prints the deploy line: {}",
        r.stdout
    );
    cwd.join(name)
}

/// `wisp build ARGS` in `cwd`; the path it printed, which must be all of its
/// stdout and an existing WebAssembly file.
fn build(cwd: &Path, args: &[&str]) -> PathBuf {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let r = wisp(cwd, None, &all);
    assert!(r.ok, "wisp {}: {}", all.join(" "), r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is the path alone: {:?}", r.stdout);
    let path = cwd.join(lines[0]);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.starts_with(b"\0asm"),
        "{} is not wasm",
        path.display()
    );
    path
}

/// `wisp deploy NAME FILE` (a .wasm or a source); asserts it deployed.
fn deploy(cwd: &Path, server: &Server, name: &str, file: &str) -> Run {
    let r = wisp(cwd, Some(server), &["deploy", name, file]);
    assert!(r.ok, "wisp deploy {name} {file}: {}", r.stderr);
    assert!(
        r.stdout.contains(&format!("deployed {name} ")),
        "{}",
        r.stdout
    );
    r
}

/// The web and API answers every wasi:http template gives: a greeting naming
/// what was asked for, a POST's body back, and an API call's parameters back.
fn assert_http_template(server: &Server, name: &str) {
    let r = server.web("GET", &format!("/fn/{name}/some/path?x=1"), b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text(),
        format!("Hello from {name}! You asked for GET /some/path?x=1\n")
    );
    let r = server.web("POST", &format!("/fn/{name}/echo"), b"ping");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "ping");
    let r = server.invoke(name, json!({"name": "edge", "n": [1, 2]}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"name": "edge", "n": [1, 2]}));
}

/// The answers every command template (CGI for the web, JSON for the API)
/// gives.
fn assert_command_template(server: &Server, name: &str) {
    let r = server.web("GET", &format!("/fn/{name}/a/b?x=1"), b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text()
            .starts_with(&format!("Hello from {name}! You asked for GET /a/b?x=1\n")),
        "{}",
        r.text()
    );
    assert_eq!(
        r.headers["content-type"].to_str().unwrap(),
        "text/plain; charset=utf-8"
    );
    let r = server.invoke(name, json!({"name": "edge"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"greeting": "Hello, edge!"}));
    let r = server.invoke(name, json!({}));
    assert_eq!(r.json(), json!({"greeting": "Hello, world!"}));
}

/// The answers every main(params) template gives, through its glue.
fn assert_json_template(server: &Server, name: &str) {
    let r = server.invoke(name, json!({"name": "edge"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"greeting": "Hello, edge!"}));
    let r = server.invoke(name, json!({}));
    assert_eq!(r.json(), json!({"greeting": "Hello, world!"}));
    // A web call: the query's parameters, then a JSON body's.
    let r = server.web("GET", &format!("/fn/{name}/?name=web"), b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"greeting": "Hello, web!"}));
    let r = common::request(
        "POST",
        &format!("{}/fn/{name}/", server.url),
        None,
        Some("application/json"),
        r#"{"name":"posted"}"#,
    );
    assert_eq!(r.json(), json!({"greeting": "Hello, posted!"}));
    // Parameters that are not an object are refused.
    let r = common::request(
        "POST",
        &format!("{}?blocking=true&result=true", server.action_url(name)),
        Some(KEY),
        Some("application/json"),
        "[1]",
    );
    assert_ne!(r.status, 200, "{}", r.text());
}

#[test]
fn rust_http_builds_into_a_component() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    new_project(tmp.path(), "rust-http", "rhttp");
    let wasm = build(tmp.path(), &["rhttp", "-o", "out/rhttp.wasm"]);
    assert_eq!(wasm, tmp.path().join("out/rhttp.wasm"));
    deploy(tmp.path(), &server, "rhttp", "out/rhttp.wasm");
    assert_http_template(&server, "rhttp");
}

#[test]
fn rust_cgi_deploys_from_its_crate_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    new_project(tmp.path(), "rust-cgi", "rcgi");
    let r = deploy(tmp.path(), &server, "rcgi", "rcgi");
    assert!(r.stderr.contains("with cargo"), "{}", r.stderr);
    assert!(r.stdout.contains("command function"), "{}", r.stdout);
    assert_command_template(&server, "rcgi");
}

#[test]
fn c_builds_with_clang_and_deploys_from_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    let dir = new_project(tmp.path(), "c", "cfn");
    let wasm = build(&dir, &[]);
    assert_eq!(wasm, dir.join("main.wasm"));
    deploy(tmp.path(), &server, "cfn", "cfn/main.wasm");
    assert_command_template(&server, "cfn");
    // A manifest entry may name the source: it is built, then deployed.
    std::fs::write(
        tmp.path().join("wisp.toml"),
        "[[function]]\nname = \"cfn2\"\nsource = \"cfn/main.c\"\n",
    )
    .unwrap();
    let r = wisp(tmp.path(), Some(&server), &["deploy", "-f", "wisp.toml"]);
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("created cfn2"), "{}", r.stdout);
    let r = server.invoke("cfn2", json!({"name": "manifest"}));
    assert_eq!(r.json(), json!({"greeting": "Hello, manifest!"}));
    // Unchanged source, unchanged function.
    let r = wisp(tmp.path(), Some(&server), &["deploy", "-f", "wisp.toml"]);
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("unchanged cfn2"), "{}", r.stdout);
}

#[test]
fn cpp_builds_with_emscripten() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    new_project(tmp.path(), "cpp", "cppfn");
    deploy(tmp.path(), &server, "cppfn", "cppfn/main.cpp");
    assert_command_template(&server, "cppfn");
}

#[test]
fn js_http_builds_with_componentize_js() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    let dir = new_project(tmp.path(), "js-http", "jshttp");
    let wasm = build(tmp.path(), &["jshttp"]);
    assert_eq!(wasm, dir.join("app.wasm"));
    let r = deploy(tmp.path(), &server, "jshttp", "jshttp/app.wasm");
    assert!(r.stdout.contains("http function"), "{}", r.stdout);
    assert_http_template(&server, "jshttp");
}

#[test]
fn js_json_deploys_from_its_source_file() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    let dir = new_project(tmp.path(), "js-json", "jsjson");
    let r = deploy(tmp.path(), &server, "jsjson", "jsjson/app.js");
    assert!(r.stderr.contains("with componentize-js"), "{}", r.stderr);
    assert!(dir.join("app.wasm").is_file());
    assert_json_template(&server, "jsjson");
}

#[test]
fn python_http_builds_with_componentize_py() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    let dir = new_project(tmp.path(), "python-http", "pyhttp");
    let wasm = build(&dir, &["app.py"]);
    assert_eq!(wasm, dir.join("app.wasm"));
    deploy(tmp.path(), &server, "pyhttp", "pyhttp/app.wasm");
    assert_http_template(&server, "pyhttp");
}

#[test]
fn python_json_deploys_from_its_project_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    new_project(tmp.path(), "python-json", "pyjson");
    let r = deploy(tmp.path(), &server, "pyjson", "pyjson");
    assert!(r.stderr.contains("with componentize-py"), "{}", r.stderr);
    assert_json_template(&server, "pyjson");
}

#[test]
fn what_cannot_be_made_or_built_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    let r = wisp(t, None, &["new", "cobol", "f"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("unknown template 'cobol'"),
        "{}",
        r.stderr
    );
    for name in [
        "rust-http",
        "rust-cgi",
        "c",
        "cpp",
        "js-http",
        "js-json",
        "python-http",
        "python-json",
    ] {
        assert!(
            r.stderr.contains(name),
            "the list names {name}: {}",
            r.stderr
        );
    }
    let r = wisp(t, None, &["new", "c", "2fast"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("not a valid function name"),
        "{}",
        r.stderr
    );
    std::fs::create_dir(t.join("taken")).unwrap();
    std::fs::write(t.join("taken/keep.txt"), "mine").unwrap();
    let r = wisp(t, None, &["new", "c", "taken"]);
    assert!(!r.ok);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(t.join("taken/keep.txt")).unwrap(),
        "mine"
    );

    std::fs::write(t.join("notes.txt"), "hello").unwrap();
    let r = wisp(t, None, &["build", "notes.txt"]);
    assert!(!r.ok);
    assert!(r.stderr.contains("unknown kind of source"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let r = wisp(t, None, &["build", "missing.js"]);
    assert!(!r.ok);
    assert!(r.stderr.contains("cannot read missing.js"), "{}", r.stderr);
    let r = wisp(t, None, &["build"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("holds nothing wisp builds"),
        "{}",
        r.stderr
    );

    // A toolchains directory without the toolchains in it.
    let empty = tempfile::tempdir().unwrap();
    let js = new_project(t, "js-http", "js");
    let r = wisp_in(
        t,
        None,
        &["build", "js"],
        &[("WISP_TOOLCHAINS", empty.path())],
    );
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains("componentize-js 0.23.0 is not installed in")
            && r.stderr.contains("run scripts/setup.sh"),
        "{}",
        r.stderr
    );
    assert!(!js.join("app.wasm").exists());
    new_project(t, "python-json", "py");
    let r = wisp_in(
        t,
        None,
        &["build", "py"],
        &[("WISP_TOOLCHAINS", empty.path())],
    );
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains("componentize-py 0.25.1 is not installed in")
            && r.stderr.contains("--only-binary :all:"),
        "{}",
        r.stderr
    );
    // A source that does not compile fails its build, and leaves no older
    // binary behind to be deployed.
    std::fs::write(js.join("app.js"), "addEventListener('fetch', (e) => {\n").unwrap();
    std::fs::write(js.join("app.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let r = wisp(t, None, &["build", "js"]);
    assert!(!r.ok);
    assert!(r.stderr.contains("componentize-js failed"), "{}", r.stderr);
    assert!(!js.join("app.wasm").exists());
    // A deploy of a source that does not build deploys nothing.
    let server = Server::start(&[]);
    let r = wisp_in(
        t,
        Some(&server),
        &["deploy", "js", "js/app.js"],
        &[("WISP_TOOLCHAINS", empty.path())],
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("not installed"), "{}", r.stderr);
    assert_eq!(server.get("/api/v1/namespaces/_/actions/js").status, 404);
}
