//! `wisp logs` through the real server: past activations with their log lines,
//! `--since`, `--json`, and `--follow` seeing every call made while it runs
//! exactly once, a slow call that ends after later fast ones included.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// A blocking call (an application error answers 502); its activation id, from
/// the header every call carries.
fn call(s: &Server, name: &str, params: Value) -> String {
    let r = s.invoke(name, params);
    assert!(matches!(r.status, 200 | 502), "{} {}", r.status, r.text());
    r.headers["x-openwhisk-activation-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// A background call; its activation id.
fn background(s: &Server, name: &str, params: Value) -> String {
    let r = request(
        "POST",
        &s.action_url(name),
        Some(KEY),
        Some("application/json"),
        serde_json::to_vec(&params).unwrap(),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["activationId"].as_str().unwrap().to_string()
}

/// The header lines of `wisp logs` output (log lines are indented).
fn headers(out: &str) -> Vec<&str> {
    out.lines().filter(|l| !l.starts_with(' ')).collect()
}

/// The activation id a header line ends with.
fn id_of(header: &str) -> &str {
    header.rsplit(' ').next().unwrap()
}

#[test]
fn logs_prints_past_activations_oldest_first_with_their_log_lines() {
    let s = Server::start(&[]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    let ids = [
        call(&s, "greet", json!({"name": "one"})),
        call(&s, "greet", json!({"name": "two"})),
        call(&s, "greet", json!({"name": "error"})),
    ];
    let (ok, out, err) = cli(&s, &["logs", "greet"]);
    assert!(ok, "{err}");
    let heads = headers(&out);
    assert_eq!(
        heads.iter().map(|h| id_of(h)).collect::<Vec<_>>(),
        ids,
        "{out}"
    );
    // Time, status, duration, warmth, version, id.
    let first: Vec<&str> = heads[0].split_whitespace().collect();
    assert!(
        first[0].ends_with('Z') && first[0].contains('T'),
        "{}",
        heads[0]
    );
    assert_eq!(first[1], "success");
    assert!(
        first[2].parse::<u64>().is_ok() && first[3] == "ms",
        "{}",
        heads[0]
    );
    assert!(
        first[4].starts_with("cold-") || first[4] == "hot",
        "{}",
        heads[0]
    );
    assert_eq!(first[5], "0.0.1");
    assert!(
        heads[1].contains(" success ") && heads[1].contains(" hot "),
        "{out}"
    );
    assert!(heads[2].contains(" application error "), "{out}");
    // Each header is followed by its own log lines, indented.
    let blocks: Vec<&str> = out.split_inclusive('\n').collect();
    let lines_after = |id: &str| -> Vec<&str> {
        let at = blocks
            .iter()
            .position(|l| l.trim_end().ends_with(id))
            .unwrap();
        blocks[at + 1..]
            .iter()
            .take_while(|l| l.starts_with("    "))
            .map(|l| l.trim())
            .collect()
    };
    assert_eq!(
        lines_after(&ids[0]),
        ["stdout: greeting one", "stderr: a line on stderr"],
        "{out}"
    );
    assert_eq!(lines_after(&ids[1])[0], "stdout: greeting two", "{out}");

    // --json: one full record per line, logs included, oldest first.
    let (ok, out, err) = cli(&s, &["logs", "greet", "--json"]);
    assert!(ok, "{err}");
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<&str> = records
        .iter()
        .map(|r| r["activationId"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids);
    assert_eq!(records[0]["name"], "greet");
    assert!(
        records[0]["logs"][0]
            .as_str()
            .unwrap()
            .ends_with(" stdout: greeting one")
    );

    // Another action's calls are not among them; an unknown name prints nothing.
    s.deploy("other", &example_bytes("json-rust"), json!({}));
    call(&s, "other", json!({}));
    let (ok, out, _) = cli(&s, &["logs", "greet"]);
    assert!(ok);
    assert_eq!(headers(&out).len(), 3, "{out}");
    let (ok, out, _) = cli(&s, &["logs", "nothing-here"]);
    assert!(ok && out.is_empty(), "{out}");
    let (ok, _, err) = cli(&s, &["logs", "bad/name"]);
    assert!(!ok && err.contains("not a valid action name"), "{err}");
}

#[test]
fn since_leaves_out_older_activations() {
    let s = Server::start(&[]);
    s.deploy("greet", &example_bytes("json-rust"), json!({}));
    let old = call(&s, "greet", json!({"name": "old"}));
    std::thread::sleep(Duration::from_millis(1_500));
    let new = call(&s, "greet", json!({"name": "new"}));
    let (ok, out, err) = cli(&s, &["logs", "greet", "--since", "1s"]);
    assert!(ok, "{err}");
    assert_eq!(
        headers(&out).iter().map(|h| id_of(h)).collect::<Vec<_>>(),
        [new.as_str()],
        "{out}"
    );
    let (ok, out, _) = cli(&s, &["logs", "greet", "--since", "1h"]);
    assert!(ok);
    assert_eq!(
        headers(&out).iter().map(|h| id_of(h)).collect::<Vec<_>>(),
        [old.as_str(), new.as_str()],
        "{out}"
    );
    let (ok, _, err) = cli(&s, &["logs", "greet", "--since", "5"]);
    assert!(!ok && err.contains("no unit"), "{err}");
}

/// `wisp logs NAME --follow` as a child, its stdout read line by line on a
/// thread of its own; killed on drop.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(s: &Server, name: &str) -> Follower {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wisp"))
            .args(["logs", name, "--follow"])
            .env("WISP_SERVER", &s.url)
            .env("WISP_API_KEY", KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Follower { child, lines }
    }

    /// Header lines read until every one of `ids` was seen or `limit` passed;
    /// then `linger` more, to catch a repeat. Returns how often each id came.
    fn count_until(&self, ids: &[String], limit: Duration, linger: Duration) -> Vec<String> {
        let mut got: Vec<String> = Vec::new();
        let deadline = Instant::now() + limit;
        let mut lingering: Option<Instant> = None;
        loop {
            let end = lingering.unwrap_or(deadline);
            let now = Instant::now();
            if now >= end {
                return got;
            }
            match self.lines.recv_timeout(end - now) {
                Ok(line) if !line.starts_with(' ') => {
                    got.push(id_of(&line).to_string());
                    if lingering.is_none() && ids.iter().all(|id| got.contains(id)) {
                        lingering = Some(Instant::now() + linger);
                    }
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => return got,
                Err(mpsc::RecvTimeoutError::Disconnected) => return got,
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn follow_prints_every_call_made_while_it_runs_exactly_once() {
    let s = Server::start(&[]);
    s.deploy(
        "probe",
        &example_bytes("sandbox-probe"),
        json!({"limits": {"timeout": 10_000}}),
    );
    let follower = Follower::start(&s, "probe");
    // It runs: the first call shows up.
    let first = call(&s, "probe", json!({"op": "count"}));
    let got = follower.count_until(
        std::slice::from_ref(&first),
        Duration::from_secs(20),
        Duration::ZERO,
    );
    assert_eq!(got, std::slice::from_ref(&first), "the first call, once");

    // A slow call that starts first and ends after all the fast ones: its record
    // appears last, with the oldest start.
    let url = format!("{}?blocking=true", s.action_url("probe"));
    let slow = std::thread::spawn(move || {
        let r = request(
            "POST",
            &url,
            Some(KEY),
            Some("application/json"),
            r#"{"op":"sleep","ms":2500}"#,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["activationId"].as_str().unwrap().to_string()
    });
    std::thread::sleep(Duration::from_millis(200));
    // 30 fast calls: four clients at once, some in the background.
    let fast: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let s = &s;
                scope.spawn(move || {
                    (0..30)
                        .filter(|i| i % 4 == w)
                        .map(|i| {
                            if i % 5 == 0 {
                                background(s, "probe", json!({"op": "count"}))
                            } else {
                                call(s, "probe", json!({"op": "count"}))
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(fast.len(), 30);
    let slow = slow.join().unwrap();
    let mut all = fast.clone();
    all.push(slow.clone());
    // Until all are seen (30 s at most), then 1.5 s (several polls) more.
    let got = follower.count_until(&all, Duration::from_secs(30), Duration::from_millis(1_500));
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &got {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    for id in &all {
        assert_eq!(counts.get(id.as_str()), Some(&1), "{id} in {got:?}");
    }
    assert_eq!(got.len(), all.len(), "nothing else, nothing twice: {got:?}");
    // The slow call started before every fast one and was printed after some.
    let slow_at = got.iter().position(|id| *id == slow).unwrap();
    assert!(slow_at > 0, "the slow call came in late: {got:?}");
    assert!(
        fast.iter().all(|f| f.as_str() > slow.as_str()),
        "ids begin with their start"
    );
}
