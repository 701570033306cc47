//! `wisp deploy -f wisp.toml` against the real server: a manifest deploys all
//! its functions with their limits, parameters, annotations and assets; a
//! second run changes nothing; one changed entry updates that function only;
//! a manifest with any error deploys nothing and names every error's line.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::json;

/// A directory holding a manifest, with the example guests copied into its
/// `build/` (as `scripts/build-examples.sh` lays them out) and an assets
/// directory `files/`.
struct App {
    dir: tempfile::TempDir,
}

impl App {
    fn new() -> App {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("build")).unwrap();
        for name in ["json-rust", "hello-http", "cgi-rust", "sandbox-probe"] {
            std::fs::copy(
                example(name),
                dir.path().join("build").join(format!("{name}.wasm")),
            )
            .unwrap();
        }
        std::fs::create_dir(dir.path().join("files")).unwrap();
        std::fs::write(dir.path().join("files/motd.txt"), "first").unwrap();
        App { dir }
    }

    fn manifest(&self) -> PathBuf {
        self.dir.path().join("wisp.toml")
    }

    fn write(&self, text: &str) -> &Self {
        std::fs::write(self.manifest(), text).unwrap();
        self
    }

    /// `wisp --server URL --api-key KEY deploy -f wisp.toml`: (success,
    /// stdout, stderr).
    fn deploy(&self, s: &Server) -> (bool, String, String) {
        deploy_file(s, &self.manifest())
    }
}

fn deploy_file(s: &Server, manifest: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wisp"))
        .args(["--server", &s.url, "--api-key", KEY, "deploy", "-f"])
        .arg(manifest)
        .env_remove("WISP_SERVER")
        .env_remove("WISP_API_KEY")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const APP: &str = r#"
[[function]]
name = "greet"
source = "build/json-rust.wasm"
memory = 64
timeout = "5s"
instances = 2

[function.parameters]
name = "manifest"

[[function]]
name = "hello"
source = "build/hello-http.wasm"
require-whisk-auth = "let-me-in"

[[function]]
name = "cgi"
source = "build/cgi-rust.wasm"
web = false

[[function]]
name = "probe"
source = "build/sandbox-probe.wasm"
timeout = 2000
assets = "files"
"#;

/// The action as the API shows it (without code).
fn action(s: &Server, name: &str) -> serde_json::Value {
    let r = s.get(&format!("/api/v1/namespaces/_/actions/{name}?code=false"));
    assert_eq!(r.status, 200, "{name}: {}", r.text());
    r.json()
}

fn version(s: &Server, name: &str) -> String {
    action(s, name)["version"].as_str().unwrap().to_string()
}

/// The names of the deployed actions.
fn deployed(s: &Server) -> Vec<String> {
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/actions", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 200);
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

/// A web call with the `X-Require-Whisk-Auth` header; the status.
fn web_with_secret(s: &Server, path: &str, secret: &str) -> u16 {
    let addr = s.url.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Require-Whisk-Auth: {secret}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[test]
fn a_manifest_deploys_every_function_with_its_limits_parameters_and_assets() {
    let s = Server::start(&[]);
    let app = App::new();
    let (ok, out, err) = app.write(APP).deploy(&s);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "created greet (version 0.0.1, command function)",
            "created hello (version 0.0.1, http function)",
            "created cgi (version 0.0.1, command function)",
            "created probe (version 0.0.1, command function)",
        ],
        "{err}"
    );

    // Parameters and limits took effect.
    assert_eq!(
        s.invoke("greet", json!({})).json(),
        json!({"greeting": "Hello, manifest!"})
    );
    let greet = action(&s, "greet");
    assert_eq!(greet["limits"]["memory"], 64);
    assert_eq!(greet["limits"]["timeout"], 5000);
    assert_eq!(greet["limits"]["instances"], 2);
    assert_eq!(
        greet["parameters"],
        json!([{"key": "name", "value": "manifest"}])
    );
    // Limits the manifest leaves out are the server's defaults.
    assert_eq!(action(&s, "hello")["limits"]["memory"], 256);

    // Annotations: a secret guards the web route, web = false closes it.
    assert_eq!(s.web("GET", "/fn/hello/", b"").status, 401);
    assert_eq!(web_with_secret(&s, "/fn/hello/", "let-me-in"), 200);
    assert_eq!(s.web("GET", "/fn/cgi/", b"").status, 404);

    // The assets are in /assets.
    let r = s.invoke("probe", json!({"op": "read", "path": "/assets/motd.txt"}));
    assert_eq!(r.json()["text"], "first", "{}", r.text());
}

#[test]
fn deploying_the_same_manifest_again_leaves_every_function_unchanged() {
    let s = Server::start(&[]);
    let app = App::new();
    let (ok, _, err) = app.write(APP).deploy(&s);
    assert!(ok, "{err}");
    let (ok, out, err) = app.deploy(&s);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "unchanged greet (version 0.0.1)",
            "unchanged hello (version 0.0.1)",
            "unchanged cgi (version 0.0.1)",
            "unchanged probe (version 0.0.1)",
        ]
    );
    for name in ["greet", "hello", "cgi", "probe"] {
        assert_eq!(version(&s, name), "0.0.1", "{name}");
        let r = request(
            "GET",
            &format!("{}/versions", s.action_url(name)),
            Some(KEY),
            None,
            "",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json().as_array().unwrap().len(),
            1,
            "{name}: {}",
            r.text()
        );
    }
}

#[test]
fn changing_one_entry_updates_that_function_only() {
    let s = Server::start(&[]);
    let app = App::new();
    let (ok, _, err) = app.write(APP).deploy(&s);
    assert!(ok, "{err}");

    let changed = APP
        .replace("memory = 64", "memory = 128")
        .replace("name = \"manifest\"", "name = \"again\"");
    let (ok, out, err) = app.write(&changed).deploy(&s);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "updated greet (version 0.0.2; memory, parameters)",
            "unchanged hello (version 0.0.1)",
            "unchanged cgi (version 0.0.1)",
            "unchanged probe (version 0.0.1)",
        ]
    );
    assert_eq!(action(&s, "greet")["limits"]["memory"], 128);
    assert_eq!(
        s.invoke("greet", json!({})).json(),
        json!({"greeting": "Hello, again!"})
    );

    // A changed module and changed assets are changes too.
    std::fs::copy(
        example("c-counter"),
        app.dir.path().join("build/cgi-rust.wasm"),
    )
    .unwrap();
    std::fs::write(app.dir.path().join("files/motd.txt"), "second").unwrap();
    let (ok, out, err) = app.deploy(&s);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "unchanged greet (version 0.0.2)",
            "unchanged hello (version 0.0.1)",
            "updated cgi (version 0.0.2; module)",
            "updated probe (version 0.0.2; assets)",
        ]
    );
    let r = s.invoke("probe", json!({"op": "read", "path": "/assets/motd.txt"}));
    assert_eq!(r.json()["text"], "second", "{}", r.text());
    assert_eq!(
        s.invoke("cgi", json!({})).json(),
        json!({"calls": 1, "language": "c"})
    );
}

#[test]
fn an_invalid_manifest_reports_every_error_with_its_line_and_deploys_nothing() {
    let s = Server::start(&[]);
    let app = App::new();
    app.write(
        r#"[[function]]
name = "fine"
source = "build/json-rust.wasm"

[[function]]
name = "big"
source = "build/json-rust.wasm"
memory = 4096
timeout = "10m"

[[function]]
name = "lost"
source = "build/nope.wasm"

[[function]]
name = "fine"
source = "files/motd.txt"
"#,
    );
    let (ok, out, err) = app.deploy(&s);
    assert!(!ok);
    assert_eq!(out, "");
    let file = app.manifest().display().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 6, "{err}");
    assert_eq!(
        lines[0],
        format!("{file}:8:10: function 'big': memory must be between 1 and 512 MiB, got 4096")
    );
    assert_eq!(
        lines[1],
        format!(
            "{file}:9:11: function 'big': timeout must be between 1 and 300000 milliseconds, got 600000"
        )
    );
    assert!(
        lines[2].starts_with(&format!(
            "{file}:13:10: function 'lost': source 'build/nope.wasm' cannot be read"
        )),
        "{err}"
    );
    assert_eq!(
        lines[3],
        format!("{file}:16:8: the name 'fine' is already used by the function at line 2")
    );
    assert!(
        lines[4].starts_with(&format!(
            "{file}:17:10: function 'fine': source 'files/motd.txt' is not WebAssembly"
        )),
        "{err}"
    );
    assert_eq!(
        lines[5],
        format!("error: {file}: 5 problems; nothing was deployed")
    );
    assert!(deployed(&s).is_empty());
}

#[test]
fn an_unknown_key_is_refused_by_name_and_line() {
    let s = Server::start(&[]);
    let app = App::new();
    app.write(
        "[[function]]\nname = \"a\"\nsource = \"build/json-rust.wasm\"\n\n[[function]]\nname = \"b\"\nsource = \"build/json-rust.wasm\"\nmemroy = 64\n",
    );
    let (ok, out, err) = app.deploy(&s);
    assert!(!ok);
    assert_eq!(out, "");
    let file = app.manifest().display().to_string();
    assert!(
        err.starts_with(&format!(
            "{file}:8:1: unknown field `memroy`, expected one of"
        )),
        "{err}"
    );
    assert!(err.contains("1 problem; nothing was deployed"), "{err}");
    assert!(deployed(&s).is_empty());
}

#[test]
fn a_toml_syntax_error_is_reported_at_its_line() {
    let s = Server::start(&[]);
    let app = App::new();
    app.write("[[function]]\nname = \"a\"\nsource = \"build/json-rust.wasm\nmemory = 64\n");
    let (ok, out, err) = app.deploy(&s);
    assert!(!ok);
    assert_eq!(out, "");
    let file = app.manifest().display().to_string();
    assert!(err.starts_with(&format!("{file}:3:")), "{err}");
    assert!(err.contains("nothing was deployed"), "{err}");
    assert!(deployed(&s).is_empty());
}

#[test]
fn the_servers_own_limits_are_checked_again_and_its_refusal_reported() {
    let s = Server::start(&["--max-memory", "128", "--default-memory", "64"]);
    let app = App::new();
    app.write(
        "[[function]]\nname = \"small\"\nsource = \"build/json-rust.wasm\"\nmemory = 64\n\n[[function]]\nname = \"large\"\nsource = \"build/json-rust.wasm\"\nmemory = 256\n",
    );
    let (ok, out, err) = app.deploy(&s);
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "created small (version 0.0.1, command function)"
    );
    assert!(
        err.contains(
            "failed large: limits.memory must be between 1 and 128 MiB, got 256 (HTTP 400)"
        ),
        "{err}"
    );
    assert!(err.contains("1 of 2 functions"), "{err}");
    assert_eq!(deployed(&s), ["small"]);
}

#[test]
fn the_examples_manifest_describes_the_built_examples() {
    let s = Server::start(&[]);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/wisp.toml");
    let _ = example("hello-http");
    let (ok, out, err) = deploy_file(&s, &manifest);
    assert!(ok, "{err}");
    assert!(out.lines().all(|l| l.starts_with("created ")), "{out}");
    assert!(!deployed(&s).contains(&"sandbox-probe".to_string()));
    assert_eq!(s.web("GET", "/fn/hello-http/", b"").status, 200);
    assert_eq!(
        s.invoke("json-rust", json!({"name": "edge"})).json(),
        json!({"greeting": "Hello, edge!"})
    );
    // Pre-initialized at deploy: the counter its init set, plus this call's one.
    assert_eq!(s.invoke("c-preinit", json!({})).json()["counter"], 42);
    assert_eq!(s.web("POST", "/fn/kv-counter/count", b"").text(), "1\n");
    assert_eq!(
        s.web("GET", "/fn/kv-counter/config/greeting", b"").text(),
        "hello from wasi:config"
    );
}
