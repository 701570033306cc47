//! Triggers and rules through the real server: CRUD, error cases, and a fired
//! trigger running its active rules' actions with the payload.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn call(s: &Server, method: &str, path: &str, body: Value) -> Resp {
    s.api(method, &format!("_/{path}"), body)
}

/// The activations of `name` (newest first), waiting until `pred` holds.
fn wait_activations(s: &Server, name: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = s.get(&format!(
            "/api/v1/namespaces/_/activations?name={name}&docs=true&limit=100"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        let list = r.json().as_array().unwrap().clone();
        if pred(&list) || Instant::now() > deadline {
            return list;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn triggers_and_rules_crud_errors_and_firing() {
    let s = Server::start(&[]);
    s.deploy("echo", &example_bytes("json-rust"), json!({}));

    // Triggers: create, 409, get, list.
    let r = call(
        &s,
        "PUT",
        "triggers/t",
        json!({"parameters": [{"key": "base", "value": 1}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], "0.0.1");
    let r = call(&s, "PUT", "triggers/t", json!({}));
    assert_eq!(r.status, 409, "{}", r.text());
    let r = call(
        &s,
        "PUT",
        "triggers/t?overwrite=true",
        json!({"parameters": [{"key": "base", "value": 1}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], "0.0.2");
    assert_eq!(
        call(&s, "GET", "triggers/t", Value::Null).json()["name"],
        "t"
    );
    assert_eq!(
        call(&s, "GET", "triggers", Value::Null)
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(call(&s, "GET", "triggers/nope", Value::Null).status, 404);
    let r = call(&s, "PUT", "triggers/bad", json!({"parameters": "x"}));
    assert_eq!(r.status, 400, "{}", r.text());

    // Rules: bad documents, missing trigger or action.
    let r = call(&s, "PUT", "rules/r", json!({"action": "/_/echo"}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("'trigger'"), "{}", r.error());
    let r = call(
        &s,
        "PUT",
        "rules/r",
        json!({"trigger": "/_/t", "action": "/other/echo"}),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("'action'"), "{}", r.error());
    let r = call(
        &s,
        "PUT",
        "rules/r",
        json!({"trigger": "/_/missing", "action": "/_/echo"}),
    );
    assert_eq!(r.status, 404);
    assert!(r.error().contains("trigger"), "{}", r.error());
    let r = call(
        &s,
        "PUT",
        "rules/r",
        json!({"trigger": "/_/t", "action": "/_/missing"}),
    );
    assert_eq!(r.status, 404);
    assert!(r.error().contains("action"), "{}", r.error());
    let r = call(
        &s,
        "PUT",
        "rules/r",
        json!({"trigger": "/_/t", "action": "/_/echo"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "active");
    assert_eq!(r.json()["trigger"], json!({"path": "guest", "name": "t"}));
    assert_eq!(
        call(
            &s,
            "PUT",
            "rules/r",
            json!({"trigger": "t", "action": "echo"})
        )
        .status,
        409
    );
    assert_eq!(
        call(&s, "GET", "rules", Value::Null)
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        call(&s, "POST", "rules/r", json!({"status": "paused"})).status,
        400
    );

    // Firing runs the action with the payload merged over the trigger's parameters.
    let r = call(&s, "POST", "triggers/t", json!({"name": "first"}));
    assert_eq!(r.status, 202, "{}", r.text());
    let trigger_id = r.json()["activationId"].as_str().unwrap().to_string();
    let runs = wait_activations(&s, "echo", |l| !l.is_empty());
    assert_eq!(runs.len(), 1, "{runs:?}");
    let text = runs[0].to_string();
    assert_eq!(
        runs[0]["response"]["result"]["greeting"], "Hello, first!",
        "{text}"
    );
    let rec = wait_activations(&s, "t", |l| !l.is_empty());
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0]["activationId"], trigger_id.as_str());
    assert_eq!(
        rec[0]["response"]["result"],
        json!({"base": 1, "name": "first"})
    );
    let line: Value = serde_json::from_str(rec[0]["logs"][0].as_str().unwrap()).unwrap();
    assert_eq!(line["success"], true, "{line}");
    assert_eq!(line["rule"], "guest/r");
    assert_eq!(line["activationId"], runs[0]["activationId"]);

    // Disabled: the action does not run.
    assert_eq!(
        call(&s, "POST", "rules/r", json!({"status": "inactive"})).json()["status"],
        "inactive"
    );
    assert_eq!(
        call(&s, "POST", "triggers/t", json!({"name": "second"})).status,
        202
    );
    wait_activations(&s, "t", |l| l.len() >= 2);
    std::thread::sleep(Duration::from_millis(500));
    let runs = wait_activations(&s, "echo", |_| true);
    assert_eq!(runs.len(), 1, "a disabled rule ran: {runs:?}");

    // Deletes.
    assert_eq!(call(&s, "DELETE", "rules/r", Value::Null).status, 200);
    assert_eq!(call(&s, "GET", "rules/r", Value::Null).status, 404);
    assert_eq!(call(&s, "DELETE", "triggers/t", Value::Null).status, 200);
    assert_eq!(call(&s, "POST", "triggers/t", json!({})).status, 404);
}

#[test]
fn a_throttled_rule_invocation_is_recorded() {
    let s = Server::start(&["--queue-timeout", "200"]);
    s.deploy(
        "slow",
        &example_bytes("sandbox-probe"),
        json!({"limits": {"instances": 1}}),
    );
    assert_eq!(call(&s, "PUT", "triggers/busy", json!({})).status, 200);
    let r = call(
        &s,
        "PUT",
        "rules/r1",
        json!({"trigger": "busy", "action": "slow"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Hold the action's one instance.
    let url = format!("{}?blocking=true&result=true", s.action_url("slow"));
    let holder = std::thread::spawn(move || {
        request(
            "POST",
            &url,
            Some(KEY),
            Some("application/json"),
            r#"{"op":"sleep","ms":2000}"#,
        )
        .status
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        call(&s, "POST", "triggers/busy", json!({"op": "count"})).status,
        202
    );
    let rec = wait_activations(&s, "busy", |l| !l.is_empty());
    assert_eq!(rec.len(), 1, "{rec:?}");
    let line: Value = serde_json::from_str(rec[0]["logs"][0].as_str().unwrap()).unwrap();
    assert_eq!(line["success"], false, "{line}");
    assert_eq!(line["statusCode"], 429, "{line}");
    assert!(line["error"].as_str().unwrap().contains("limit"), "{line}");
    let refused = line["activationId"].as_str().unwrap().to_string();
    let runs = wait_activations(&s, "slow", |l| {
        l.iter().any(|a| a["activationId"] == refused.as_str())
    });
    let a = runs
        .iter()
        .find(|a| a["activationId"] == refused.as_str())
        .expect("the refused invocation has a record");
    assert_eq!(a["response"]["status"], "whisk internal error", "{a}");
    assert_eq!(holder.join().unwrap(), 200);
}

#[test]
fn cli_manages_triggers_and_rules() {
    let s = Server::start(&[]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    let (ok, out, err) = cli(
        &s,
        &["trigger", "create", "tc", "--payload", r#"{"name":"cli"}"#],
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(&s, &["rule", "create", "rc", "tc", "greet"]);
    assert!(ok && out.contains("active"), "{out}{err}");
    let (ok, out, _) = cli(&s, &["trigger", "ls"]);
    assert!(ok && out.contains("tc"), "{out}");
    let (ok, out, err) = cli(&s, &["trigger", "fire", "tc"]);
    assert!(ok && out.trim().len() == 32, "{out}{err}");
    let runs = wait_activations(&s, "greet", |l| !l.is_empty());
    assert_eq!(runs[0]["response"]["result"]["greeting"], "Hello, cli!");
    let (ok, out, _) = cli(&s, &["rule", "disable", "rc"]);
    assert!(ok && out.contains("inactive"), "{out}");
    let (ok, out, _) = cli(&s, &["rule", "ls"]);
    assert!(ok && out.contains("rc\tinactive"), "{out}");
    let (ok, _, err) = cli(&s, &["trigger", "fire", "tc", "[1]"]);
    assert!(!ok && err.contains("JSON object"), "{err}");
    assert!(cli(&s, &["rule", "rm", "rc"]).0);
    assert!(cli(&s, &["trigger", "rm", "tc"]).0);
    let (ok, _, err) = cli(&s, &["trigger", "rm", "tc"]);
    assert!(!ok && err.contains("does not exist"), "{err}");
}
