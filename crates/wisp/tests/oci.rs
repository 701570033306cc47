//! Modules as OCI artifacts: `wisp push` to Debian's `docker-registry`
//! (Distribution 2.8) on loopback, then `wisp deploy NAME oci://…`, from the
//! command line and from an app manifest.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// `docker-registry serve` on a free loopback port, its storage in a temp
/// directory; killed on drop.
struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian's package; scripts/setup.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn modules_go_through_an_oci_registry() {
    let reg = Registry::start();
    let s = Server::start(&[]);
    let hello = example("hello-http");
    let json_rust = example("json-rust");

    // A component and a core module, pushed as Wasm artifacts.
    let component_ref = format!("oci://{}/fns/hello-http:v1", reg.addr);
    let (ok, out, err) = cli(&s, &["push", hello.to_str().unwrap(), &component_ref]);
    assert!(ok, "{out}{err}");
    let digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            std::fs::read(&hello).unwrap()
        ))
    );
    assert!(out.contains(&digest), "{out}");
    let module_ref = format!("oci://{}/fns/json-rust:v1", reg.addr);
    let (ok, out, err) = cli(&s, &["push", json_rust.to_str().unwrap(), &module_ref]);
    assert!(ok, "{out}{err}");

    // The registry holds them in the Wasm OCI layout.
    let manifest = try_request_with(
        "GET",
        &format!("http://{}/v2/fns/hello-http/manifests/v1", reg.addr),
        &[(
            "accept",
            "application/vnd.oci.image.manifest.v1+json".into(),
        )],
        "",
    )
    .unwrap();
    assert_eq!(manifest.status, 200, "{}", manifest.text());
    let m = manifest.json();
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(m["layers"][0]["digest"], digest.as_str());
    let config = request(
        "GET",
        &format!(
            "http://{}/v2/fns/hello-http/blobs/{}",
            reg.addr,
            m["config"]["digest"].as_str().unwrap()
        ),
        None,
        None,
        "",
    )
    .json();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");

    // Deployed straight from the registry, from the CLI...
    let (ok, out, err) = cli(&s, &["deploy", "hello", &component_ref]);
    assert!(ok, "{out}{err}");
    let r = s.web("GET", "/fn/hello/", b"");
    assert_eq!((r.status, r.text().trim()), (200, "Hello from wisp!"));
    // ... and from a manifest.
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("wisp.toml");
    std::fs::write(
        &manifest,
        format!("[[function]]\nname = \"greet\"\nsource = \"{module_ref}\"\n"),
    )
    .unwrap();
    let (ok, out, err) = cli(&s, &["deploy", "-f", manifest.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let r = s.invoke("greet", json!({"name": "oci"}));
    assert_eq!(r.json()["greeting"], "Hello, oci!", "{}", r.text());

    // Clear errors: a missing tag, a registry that is not there, not a wasm
    // file, not a reference.
    let missing = format!("oci://{}/fns/hello-http:nope", reg.addr);
    let (ok, _, err) = cli(&s, &["deploy", "hello", &missing]);
    assert!(!ok);
    assert!(err.contains("cannot pull"), "{err}");
    let (ok, _, err) = cli(&s, &["deploy", "hello", "oci://127.0.0.1:1/fns/x:v1"]);
    assert!(!ok);
    assert!(err.contains("cannot pull"), "{err}");
    let text = dir.path().join("not.wasm");
    std::fs::write(&text, "hello").unwrap();
    let (ok, _, err) = cli(&s, &["push", text.to_str().unwrap(), &component_ref]);
    assert!(!ok);
    assert!(err.contains("WebAssembly"), "{err}");
    let (ok, _, err) = cli(&s, &["push", hello.to_str().unwrap(), "oci://nowhere"]);
    assert!(!ok);
    assert!(err.contains("no repository"), "{err}");
    // The action still serves what it was deployed with.
    assert_eq!(s.web("GET", "/fn/hello/", b"").status, 200);
}
