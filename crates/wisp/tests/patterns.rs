//! Access patterns through the real server and the real CLI: `wisp load` makes
//! each of the paper's patterns, `wisp stats` names it; the memory policy evicts
//! and the evicted action still answers, from disk.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Runs the CLI; it must succeed.
fn wisp(s: &Server, args: &[&str]) -> String {
    let (ok, stdout, stderr) = cli(s, args);
    assert!(ok, "wisp {args:?} failed: {stdout}{stderr}");
    stdout
}

fn stats(s: &Server, name: &str) -> Value {
    serde_json::from_str(&wisp(s, &["stats", name, "--json"])).unwrap()
}

#[test]
fn load_patterns_are_recognised() {
    let s = Server::start(&[]);
    let hello = example_bytes("hello-http");
    for name in ["quiet", "single", "crowd", "regulars"] {
        s.deploy(name, &hello, json!({}));
    }
    let url = |name: &str| format!("{}/fn/{name}/", s.url);

    let out = wisp(
        &s,
        &["load", &url("single"), "--pattern", "scma", "--no-progress"],
    );
    assert!(out.contains("25"), "{out}");
    let out = wisp(
        &s,
        &[
            "load",
            &url("crowd"),
            "--pattern",
            "mcsa",
            "--clients",
            "12",
            "--ramp",
            "600ms",
            "--no-progress",
        ],
    );
    assert!(out.contains("12"), "{out}");
    wisp(
        &s,
        &[
            "load",
            &url("regulars"),
            "--pattern",
            "mcma",
            "--clients",
            "4",
            "--calls",
            "3",
            "--ramp",
            "400ms",
            "--no-progress",
        ],
    );

    // The human summary names the pattern.
    let text = wisp(&s, &["stats", "quiet"]);
    assert!(text.starts_with("guest/quiet: idle"), "{text}");
    for (name, pattern, calls, clients) in [
        ("single", "SCMA", 25, 1),
        ("crowd", "MCSA", 12, 12),
        ("regulars", "MCMA", 12, 4),
    ] {
        let text = wisp(&s, &["stats", name]);
        assert!(
            text.starts_with(&format!("guest/{name}: {pattern}")),
            "{text}"
        );
        let st = stats(&s, name);
        assert_eq!(st["pattern"], pattern, "{st}");
        assert_eq!(st["figures"]["calls"], calls, "{st}");
        assert_eq!(st["figures"]["clients"], clients, "{st}");
        assert_eq!(st["calls"]["calls"], calls, "{st}");
        assert_eq!(st["calls"]["errors"], 0, "{st}");
        assert!(st["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{st}");
    }
    let st = stats(&s, "quiet");
    assert_eq!(st["figures"]["calls"], 0);
    assert_eq!(st["latency_ms"], Value::Null);

    // MCSA gets instance slots set aside by the keeper (it runs every second).
    std::thread::sleep(Duration::from_millis(1500));
    let st = stats(&s, "crowd");
    assert!(st["reserved_slots"].as_u64().unwrap() >= 2, "{st}");
    assert_eq!(stats(&s, "single")["reserved_slots"], 0);

    // Stats of an unknown action: 404 with a message.
    let r = request(
        "GET",
        &format!("{}/stats", s.action_url("nope")),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 404);
    assert!(r.error().contains("nope"), "{}", r.text());
}

#[test]
fn api_callers_are_their_keys() {
    let s = Server::start(&[]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    for _ in 0..3 {
        assert_eq!(s.invoke("greet", json!({})).status, 200);
    }
    let st = stats(&s, "greet");
    assert_eq!(st["pattern"], "SCMA", "{st}");
    assert_eq!(st["figures"]["clients"], 1);
}

fn warmth(activation: &Value) -> String {
    activation["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv["key"] == "warmth")
        .map(|kv| kv["value"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no warmth annotation: {activation}"))
}

fn blocking(s: &Server, name: &str) -> Value {
    let r = request(
        "POST",
        &format!("{}?blocking=true", s.action_url(name)),
        Some(KEY),
        Some("application/json"),
        r#"{"name": "edge"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn an_evicted_action_answers_from_disk() {
    // A zero budget: the keeper evicts every template each second.
    let s = Server::start(&["--hot-budget-mb", "0"]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    // Deploying compiled it: the first call is hot.
    let a = blocking(&s, "greet");
    assert_eq!(warmth(&a), "hot");
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(stats(&s, "greet")["memory"]["hot"], false);
    // Evicted: loaded from the disk cache, not recompiled, and still right.
    let a = blocking(&s, "greet");
    assert_eq!(warmth(&a), "cold-disk");
    assert_eq!(a["response"]["result"], json!({"greeting": "Hello, edge!"}));
    let st = stats(&s, "greet");
    assert_eq!(st["calls"]["cold_disk"], 1, "{st}");
    assert_eq!(st["calls"]["hot"], 1, "{st}");
    assert_eq!(st["calls"]["cold_compiled"], 0, "{st}");
    assert!(st["figures"]["hot_share"].as_f64().unwrap() < 1.0);
}

#[test]
fn what_was_hot_is_hot_again_after_a_restart() {
    let mut s = Server::start(&[]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    assert_eq!(warmth(&blocking(&s, "greet")), "hot");
    s.restart();
    // Loaded back before the first call.
    assert_eq!(stats(&s, "greet")["memory"]["hot"], true);
    assert_eq!(warmth(&blocking(&s, "greet")), "hot");

    // What the policy had evicted stays on disk until called.
    let mut s = Server::start(&["--hot-budget-mb", "0"]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    blocking(&s, "greet");
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(stats(&s, "greet")["memory"]["hot"], false);
    s.restart();
    assert_eq!(stats(&s, "greet")["memory"]["hot"], false);
    assert_eq!(warmth(&blocking(&s, "greet")), "cold-disk");
}

#[test]
fn within_budget_actions_stay_hot() {
    let s = Server::start(&[]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    blocking(&s, "greet");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(warmth(&blocking(&s, "greet")), "hot");
    assert_eq!(stats(&s, "greet")["memory"]["hot"], true);
}
