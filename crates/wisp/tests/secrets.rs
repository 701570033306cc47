//! Secret parameters through the real server: marked by the
//! `secret-parameters` annotation (or `wisp deploy --secret`), never shown,
//! redacted from activation records, sealed at rest under a key kept outside
//! the data directory, and still given to the guests.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

const SECRET: &str = "hunter2-json-7Qx9";
const CGI_SECRET: &str = "cgi-token-Zr41pL";
const MASK: &str = "********";

fn api(s: &Server, path: &str) -> Value {
    let r = request(
        "GET",
        &format!("{}/api/v1/namespaces/_/{path}", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

fn blocking(s: &Server, name: &str, params: Value) -> Value {
    let r = request(
        "POST",
        &format!("{}?blocking=true", s.action_url(name)),
        Some(KEY),
        Some("application/json"),
        serde_json::to_vec(&params).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains(SECRET), "{}", r.text());
    r.json()
}

fn param<'a>(view: &'a Value, key: &str) -> &'a Value {
    &view["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv["key"] == key)
        .unwrap_or_else(|| panic!("no parameter {key} in {view}"))["value"]
}

fn greet_doc() -> Value {
    json!({
        "parameters": [{"key": "name", "value": SECRET}, {"key": "plain", "value": "visible"}],
        "annotations": [{"key": "secret-parameters", "value": ["name"]}]
    })
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(p.display().to_string());
                }
            }
        }
    }
    found
}

/// The JSON action's record, logs and blocking answer show `********` where
/// the secret went: the guest had it, the record does not.
fn check_greet(s: &Server) {
    let a = blocking(s, "greet", json!({}));
    assert_eq!(
        a["response"]["result"],
        json!({"greeting": format!("Hello, {MASK}!")})
    );
    let id = a["activationId"].as_str().unwrap();
    let rec = api(s, &format!("activations/{id}"));
    assert_eq!(rec["response"]["result"], a["response"]["result"]);
    let logs = api(s, &format!("activations/{id}/logs"));
    let lines: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(&format!("stdout: greeting {MASK}"))),
        "{lines:?}"
    );
    assert!(!rec.to_string().contains(SECRET) && !logs.to_string().contains(SECRET));
    let list = api(s, "activations?docs=true&name=greet");
    assert!(!list.to_string().contains(SECRET), "{list}");
    // The call's own parameters still go over the defaults.
    let a = blocking(s, "greet", json!({"name": "caller"}));
    assert_eq!(
        a["response"]["result"],
        json!({"greeting": "Hello, caller!"})
    );
}

#[test]
fn secrets_are_masked_redacted_sealed_and_reach_the_guests() {
    let mut s = Server::start_logged(&[], &[("WISP_LOG", "info")]);
    let deployed = s.deploy("greet", &example_bytes("json-rust"), greet_doc());
    assert_eq!(param(&deployed, "name"), MASK);

    // Every view masks the value and keeps the key, the annotation and the
    // other parameters.
    for path in [
        "actions/greet",
        "actions/greet?code=true",
        "actions/greet?code=false",
    ] {
        let v = api(&s, path);
        assert_eq!(param(&v, "name"), MASK, "{path}");
        assert_eq!(param(&v, "plain"), "visible", "{path}");
        assert!(
            v["annotations"]
                .as_array()
                .unwrap()
                .contains(&json!({"key": "secret-parameters", "value": ["name"]})),
            "{path}: {v}"
        );
    }
    let list = api(&s, "actions");
    assert_eq!(param(&list[0], "name"), MASK);
    check_greet(&s);

    // An update that leaves parameters out keeps them (sealed again), and a
    // masked value given back keeps the current one.
    let r = s.try_deploy("greet", &example_bytes("json-rust"), json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut again = greet_doc();
    again["parameters"][0]["value"] = json!(MASK);
    s.deploy("greet", &example_bytes("json-rust"), again);
    check_greet(&s);
    let versions = api(&s, "actions/greet/versions");
    assert_eq!(versions.as_array().unwrap().len(), 3, "{versions}");
    assert!(!versions.to_string().contains(SECRET));

    // A CGI command, deployed with the CLI's --secret: the variable is in its
    // environment.
    let cgi = example("cgi-rust");
    let (ok, out, err) = cli(
        &s,
        &[
            "deploy",
            "cgi",
            cgi.to_str().unwrap(),
            "--secret",
            &format!("TOKEN={CGI_SECRET}"),
        ],
    );
    assert!(ok, "{out}{err}");
    let v = api(&s, "actions/cgi");
    assert_eq!(param(&v, "TOKEN"), MASK);
    let env_of_cgi = |s: &Server| {
        let r = s.web("GET", "/fn/cgi/x?env", b"");
        assert_eq!(r.status, 200);
        assert!(
            r.text().lines().any(|l| l == format!("TOKEN={CGI_SECRET}")),
            "{}",
            r.text()
        );
    };
    env_of_cgi(&s);
    let (ok, out, _) = cli(&s, &["get", "cgi"]);
    assert!(ok && !out.contains(CGI_SECRET), "{out}");

    // At rest: in no file of the data directory, before or after a restart;
    // the actions still work after it.
    s.restart();
    check_greet(&s);
    env_of_cgi(&s);
    s.stop();
    for secret in [SECRET, CGI_SECRET] {
        let found = files_containing(&s.data_dir, secret.as_bytes());
        assert!(found.is_empty(), "{secret} in {found:?}");
    }
    // Nor in the server's own log.
    let log = s.log_lines().join("\n");
    assert!(!log.is_empty());
    assert!(!log.contains(SECRET) && !log.contains(CGI_SECRET), "{log}");
    assert_eq!(std::fs::read(&s.key_file).unwrap().len(), 32);
    assert!(!s.key_file.starts_with(&s.data_dir));
}

#[test]
fn another_key_skips_only_the_actions_with_secrets() {
    let mut s = Server::start_logged(&[], &[]);
    s.deploy("greet", &example_bytes("json-rust"), greet_doc());
    s.deploy("open", &example_bytes("json-rust"), json!({}));
    s.stop();

    // A different key: the action with a secret is skipped, with the action
    // and the key file named; the other one serves.
    s.key_file = s.key_file.with_file_name("other.key");
    s.resume();
    let log = s.log_lines().join("\n");
    assert!(
        log.lines().any(|l| l.contains("guest/greet")
            && l.contains("skipping")
            && l.contains("other.key")
            && l.contains("'name'")),
        "{log}"
    );
    assert_eq!(s.get("/api/v1/namespaces/_/actions/greet").status, 404);
    assert_eq!(
        s.invoke("open", json!({"name": "x"})).json(),
        json!({"greeting": "Hello, x!"})
    );
    // Deploying it again under the new key fixes it.
    s.deploy("greet", &example_bytes("json-rust"), greet_doc());
    check_greet(&s);
    s.stop();

    // A key file of the wrong size: named in the log; a deploy with a secret
    // is refused with its name, one without still works.
    std::fs::write(&s.key_file, b"short").unwrap();
    s.resume();
    let log = s.log_lines().join("\n");
    assert!(
        log.contains("other.key") && log.contains("holds 5 bytes, not 32"),
        "{log}"
    );
    let r = s.try_deploy("greet", &example_bytes("json-rust"), greet_doc());
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().contains("other.key"), "{}", r.text());
    assert_eq!(
        s.invoke("open", json!({"name": "y"})).json(),
        json!({"greeting": "Hello, y!"})
    );
}

#[test]
fn a_bad_secret_parameters_annotation_is_refused() {
    let s = Server::start(&[]);
    for (value, says) in [
        (json!("name"), "JSON array"),
        (json!([1]), "JSON array"),
        (json!(["missing"]), "'missing'"),
    ] {
        let r = s.try_deploy(
            "bad",
            &example_bytes("json-rust"),
            json!({
                "parameters": [{"key": "name", "value": SECRET}],
                "annotations": [{"key": "secret-parameters", "value": value}]
            }),
        );
        assert_eq!(r.status, 400, "{value}: {}", r.text());
        assert!(r.text().contains("secret-parameters"), "{}", r.text());
        assert!(r.text().contains(says), "{}", r.text());
        assert!(!r.text().contains(SECRET), "{}", r.text());
    }
    assert_eq!(s.get("/api/v1/namespaces/_/actions/bad").status, 404);
}

#[test]
fn a_rollback_opens_the_sealed_values_of_its_version() {
    let s = Server::start(&[]);
    let doc = |token: &str| {
        json!({
            "parameters": [{"key": "TOKEN", "value": token}],
            "annotations": [{"key": "secret-parameters", "value": ["TOKEN"]}]
        })
    };
    let token_of = |s: &Server| {
        let r = s.web("GET", "/fn/cgi/x?env", b"");
        assert_eq!(r.status, 200);
        r.text()
            .lines()
            .find_map(|l| l.strip_prefix("TOKEN=").map(str::to_string))
            .unwrap()
    };
    s.deploy("cgi", &example_bytes("cgi-rust"), doc("first-token-1"));
    s.deploy("cgi", &example_bytes("cgi-rust"), doc("second-token-2"));
    assert_eq!(token_of(&s), "second-token-2");
    let r = request(
        "POST",
        &format!("{}/rollback", s.action_url("cgi")),
        Some(KEY),
        Some("application/json"),
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("first-token-1"), "{}", r.text());
    assert_eq!(token_of(&s), "first-token-1");
}
