//! Modules as OCI artifacts: `wisp push` to Debian's `docker-registry`
//! (Distribution 2.8) on loopback, then `wisp deploy NAME oci://…`, from the
//! command line and from an app manifest; and `wisp serve --artifacts`, the
//! modules kept there and pulled by hash.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::json;

#[test]
fn modules_go_through_an_oci_registry() {
    let reg = OciRegistry::start();
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

#[test]
fn with_artifacts_the_registry_keeps_only_metadata_and_nodes_pull_by_hash() {
    let reg = OciRegistry::start();
    let repo = format!("oci://{}/wisp/modules", reg.addr);
    let mut s = Server::start_logged(&["--artifacts", &repo], &[]);
    let module = example_bytes("hello-http");
    let hash = wisp_registry::module_hash(&module);
    s.deploy("hello", &module, json!({}));
    assert_eq!(s.web("GET", "/fn/hello/", b"").status, 200);

    // The module is an artifact tagged with its hash: it deploys from there.
    let (ok, out, err) = cli(&s, &["deploy", "copy", &format!("{repo}:sha256-{hash}")]);
    assert!(ok, "{out}{err}");
    assert_eq!(s.web("GET", "/fn/copy/", b"").status, 200);

    // A sequence (stored with the empty module) needs nothing from it.
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    let r = s.api(
        "PUT",
        "_/actions/twice?overwrite=true",
        json!({"exec": {"kind": "sequence", "components": ["/_/greet", "/_/greet"]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.invoke("twice", json!({"name": "edge"}));
    assert_eq!(r.status, 200, "{}", r.text());

    // The registry holds no bytes of it, only its placeholder.
    s.stop();
    {
        let local = wisp_registry::RedbRegistry::open(s.data_dir.join("registry.redb")).unwrap();
        use wisp_registry::Registry as _;
        let err = local.get_module(&hash).unwrap_err().to_string();
        assert!(err.contains("kept in an OCI registry"), "{err}");
        assert_eq!(
            local
                .get_action("guest", "hello")
                .unwrap()
                .unwrap()
                .module_size,
            module.len() as u64
        );
    }
    // Without its compiled code, a node pulls the module again.
    std::fs::remove_dir_all(s.data_dir.join("cache")).unwrap();
    s.resume();
    let r = s.web("GET", "/fn/hello/", b"");
    assert_eq!(r.status, 200, "{}", r.text());

    // With the OCI registry gone, a node that must pull says so (in its
    // log: callers see an internal error, not the registry's address).
    drop(reg);
    s.stop();
    std::fs::remove_dir_all(s.data_dir.join("cache")).unwrap();
    s.resume();
    let r = s.web("GET", "/fn/hello/", b"");
    assert_eq!(r.status, 500, "{}", r.text());
    // The log line may come a moment after the answer.
    let logged = |what: &str| {
        (0..50).any(|_| {
            let found = s.log_lines().iter().any(|l| l.contains(what));
            if !found {
                std::thread::sleep(std::time::Duration::from_millis(40));
            }
            found
        })
    };
    assert!(logged("cannot pull module"), "{:?}", s.log_lines());
    // Deploys are refused rather than stored without their module.
    let r = s.try_deploy("other", &example_bytes("json-rust"), json!({}));
    assert!(r.status >= 500, "{} {}", r.status, r.text());
    assert!(logged("cannot push module"), "{:?}", s.log_lines());
    assert_eq!(s.get("/api/v1/namespaces/_/actions/other").status, 404);
}
