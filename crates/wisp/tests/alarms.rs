//! Alarms through the real server: the `/whisk.system/alarms/*` feeds fire
//! their triggers (and so the triggers' rules) on schedule, stop when told,
//! when used up or when their trigger goes, refuse bad parameters clearly, and
//! survive a restart without a burst of missed ticks.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{Value, json};

/// A lifecycle call of a feed, as OpenWhisk's clients make it; only its
/// result.
fn feed(s: &Server, feed: &str, event: &str, trigger: &str, params: Value) -> Resp {
    let mut body =
        json!({"lifecycleEvent": event, "triggerName": format!("/_/{trigger}"), "authKey": KEY});
    body.as_object_mut()
        .unwrap()
        .extend(params.as_object().unwrap().clone());
    s.api(
        "POST",
        &format!("whisk.system/actions/alarms/{feed}?blocking=true&result=true"),
        body,
    )
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The start times (ms) of the activations of `name`, waiting up to 15 s
/// until `pred` holds of their number.
fn starts(s: &Server, name: &str, pred: impl Fn(usize) -> bool) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = s.get(&format!(
            "/api/v1/namespaces/_/activations?name={name}&docs=true&limit=200"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        let list: Vec<i64> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["start"].as_i64().unwrap())
            .collect();
        if pred(list.len()) || Instant::now() > deadline {
            return list;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn trigger(s: &Server, name: &str) {
    let r = s.api("PUT", &format!("_/triggers/{name}"), json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn alarms_fire_on_schedule_stop_when_told_and_refuse_bad_parameters() {
    let s = Server::start(&[]);
    s.deploy("echo", &example_bytes("json-rust"), json!({}));
    trigger(&s, "tick");
    let r = s.api(
        "PUT",
        "_/rules/on-tick",
        json!({"trigger": "/_/tick", "action": "/_/echo"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Every second, with a payload the rule's action receives.
    let r = feed(
        &s,
        "alarm",
        "CREATE",
        "tick",
        json!({"cron": "* * * * * *", "trigger_payload": {"name": "alarm"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["config"]["cron"], "* * * * * *");
    assert_eq!(r.json()["status"]["active"], true);
    let fired = starts(&s, "tick", |n| n >= 2);
    assert!(fired.len() >= 2, "the alarm fired {} times", fired.len());
    starts(&s, "echo", |n| n >= 1);
    let r = s.get("/api/v1/namespaces/_/activations?name=echo&docs=true&limit=1");
    let echoed = &r.json()[0];
    assert_eq!(
        echoed["response"]["result"]["greeting"], "Hello, alarm!",
        "{echoed}"
    );

    // READ shows its state; the whole activation (without ?result) is a
    // record of the feed action.
    let r = s.api(
        "POST",
        "whisk.system/actions/alarms/alarm?blocking=true",
        json!({"lifecycleEvent": "READ", "triggerName": "/_/tick", "authKey": KEY}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let read = r.json();
    assert_eq!(read["name"], "alarm");
    assert!(
        read["response"]["result"]["status"]["fired"]
            .as_u64()
            .unwrap()
            >= 2
    );
    assert!(read["response"]["result"]["status"]["nextTick"].is_string());
    let id = read["activationId"].as_str().unwrap();
    assert_eq!(
        s.get(&format!("/api/v1/namespaces/_/activations/{id}"))
            .status,
        200
    );
    assert!(!read.to_string().contains("test-secret"), "{read}");

    // PAUSE holds it; UNPAUSE resumes it.
    let r = feed(&s, "alarm", "PAUSE", "tick", json!({}));
    assert_eq!(r.json()["status"]["state"], "paused", "{}", r.text());
    let paused_at = now_ms();
    std::thread::sleep(Duration::from_millis(2500));
    let all = starts(&s, "tick", |_| true);
    assert!(
        all.iter().all(|&t| t <= paused_at),
        "a paused alarm fired: {all:?} (paused at {paused_at})"
    );
    let before = all.len();
    let r = feed(&s, "alarm", "UNPAUSE", "tick", json!({}));
    assert_eq!(r.json()["status"]["state"], "active", "{}", r.text());
    let after = starts(&s, "tick", |n| n > before);
    assert!(after.len() > before, "the alarm did not resume");

    // DELETE stops it.
    let r = feed(&s, "alarm", "DELETE", "tick", json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let deleted_at = now_ms();
    std::thread::sleep(Duration::from_millis(2500));
    let all = starts(&s, "tick", |_| true);
    assert!(
        all.iter().all(|&t| t <= deleted_at),
        "a deleted alarm fired: {all:?} (deleted at {deleted_at})"
    );
    assert_eq!(feed(&s, "alarm", "READ", "tick", json!({})).status, 404);

    // maxTriggers: it fires that many times, then is completed.
    trigger(&s, "twice");
    let r = feed(
        &s,
        "alarm",
        "CREATE",
        "twice",
        json!({"cron": "* * * * * *", "maxTriggers": 2}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(starts(&s, "twice", |n| n >= 2).len(), 2);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        starts(&s, "twice", |_| true).len(),
        2,
        "it fired past maxTriggers"
    );
    let r = feed(&s, "alarm", "READ", "twice", json!({}));
    assert_eq!(r.json()["status"]["state"], "completed", "{}", r.text());
    assert_eq!(r.json()["status"]["fired"], 2);

    // once: at its date, then never again.
    trigger(&s, "once");
    let r = feed(
        &s,
        "once",
        "CREATE",
        "once",
        json!({"date": now_ms() + 3000}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(starts(&s, "once", |n| n >= 1).len(), 1);
    let r = feed(&s, "once", "READ", "once", json!({}));
    assert_eq!(r.json()["status"]["state"], "completed", "{}", r.text());

    // interval: its first tick one period after it was made.
    trigger(&s, "hourly");
    let made = now_ms();
    let r = feed(&s, "interval", "CREATE", "hourly", json!({"minutes": 60}));
    assert_eq!(r.status, 200, "{}", r.text());
    let next: jiff::Timestamp = r.json()["status"]["nextTick"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (next.as_millisecond() - (made + 3_600_000)).abs() < 5_000,
        "next tick {next}, made at {made}"
    );

    // One alarm per trigger; UPDATE changes it.
    let r = feed(&s, "interval", "CREATE", "hourly", json!({"minutes": 5}));
    assert_eq!(r.status, 409, "{}", r.text());
    let r = feed(&s, "interval", "UPDATE", "hourly", json!({"minutes": 5}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["config"]["minutes"], 5);
    let r = feed(
        &s,
        "alarm",
        "UPDATE",
        "hourly",
        json!({"cron": "* * * * *"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("interval"), "{}", r.error());

    // Deleting the trigger deletes its alarm.
    let r = s.api("DELETE", "_/triggers/hourly", Value::Null);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        feed(&s, "interval", "READ", "hourly", json!({})).status,
        404
    );

    // Bad input: clear errors, the right status.
    trigger(&s, "bad");
    for (feed_name, params, status, words) in [
        ("alarm", json!({"cron": "* * *"}), 400, "5 fields"),
        (
            "alarm",
            json!({"cron": "99 * * * *"}),
            400,
            "not a valid cron",
        ),
        ("alarm", json!({}), 400, "needs 'cron'"),
        (
            "alarm",
            json!({"cron": "* * * * *", "timezone": "Mars/Base"}),
            400,
            "time zone",
        ),
        (
            "alarm",
            json!({"cron": "* * * * *", "minutes": 3}),
            400,
            "does not take 'minutes'",
        ),
        (
            "alarm",
            json!({"cron": "* * * * *", "trigger_payload": [1]}),
            400,
            "JSON object",
        ),
        (
            "alarm",
            json!({"cron": "* * * * *", "startDate": "2030-01-02T00:00:00Z", "stopDate": "2030-01-01T00:00:00Z"}),
            400,
            "after 'startDate'",
        ),
        (
            "alarm",
            json!({"cron": "* * * * *", "stopDate": "2001-01-01T00:00:00Z"}),
            400,
            "never fire",
        ),
        ("interval", json!({"minutes": 0}), 400, "minutes"),
        ("interval", json!({"minutes": "soon"}), 400, "minutes"),
        (
            "once",
            json!({"date": "2001-01-01T00:00:00Z"}),
            400,
            "not in the future",
        ),
        ("once", json!({"date": "tomorrow"}), 400, "RFC 3339"),
        ("weekly", json!({}), 404, "alarm, interval and once"),
    ] {
        let r = feed(&s, feed_name, "CREATE", "bad", params.clone());
        assert_eq!(r.status, status, "{feed_name} {params}: {}", r.text());
        assert!(
            r.error().contains(words),
            "{feed_name} {params}: {}",
            r.error()
        );
    }
    let r = feed(
        &s,
        "alarm",
        "CREATE",
        "missing",
        json!({"cron": "* * * * *"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.error().contains("create it before"), "{}", r.error());
    let r = feed(&s, "alarm", "FROB", "bad", json!({}));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.api(
        "POST",
        "whisk.system/actions/alarms/alarm",
        json!({"lifecycleEvent": "CREATE", "triggerName": "/other/bad", "cron": "* * * * *"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("namespace"), "{}", r.error());
    let r = s.api("POST", "whisk.system/actions/alarms/alarm", json!([1]));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = request(
        "POST",
        &format!(
            "{}/api/v1/namespaces/whisk.system/actions/alarms/alarm",
            s.url
        ),
        None,
        Some("application/json"),
        b"{}".to_vec(),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(feed(&s, "alarm", "READ", "bad", json!({})).status, 404);

    // The CLI: a trigger with its alarm in one command, replaced by another.
    let (ok, out, err) = cli(
        &s,
        &[
            "trigger",
            "create",
            "cli",
            "--cron",
            "0 0 1 1 *",
            "--timezone",
            "Europe/Berlin",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("next firing"), "{out}");
    let (ok, out, err) = cli(
        &s,
        &[
            "trigger",
            "create",
            "cli",
            "--cron",
            "* * * * * *",
            "--max-triggers",
            "1",
        ],
    );
    assert!(ok, "{out}{err}");
    assert_eq!(starts(&s, "cli", |n| n >= 1).len(), 1);
    // A bad expression for a trigger that has an alarm changes nothing.
    let (ok, _, err) = cli(&s, &["trigger", "create", "cli", "--cron", "70 * * * * *"]);
    assert!(!ok);
    assert!(err.contains("not a valid cron"), "{err}");
    let r = feed(&s, "alarm", "READ", "cli", json!({}));
    assert_eq!(r.json()["config"]["cron"], "* * * * * *", "{}", r.text());
    // Without --cron: the trigger alone.
    let (ok, out, err) = cli(&s, &["trigger", "create", "plain"]);
    assert!(ok, "{err}");
    assert!(out.contains("trigger guest/plain version 0.0.1"), "{out}");
    let (ok, out, err) = cli(&s, &["trigger", "create", "cli2", "--cron", "70 * * * * *"]);
    assert!(!ok, "{out}");
    assert!(err.contains("not a valid cron"), "{err}");
    // The trigger it made for the alarm is gone again.
    assert_eq!(s.api("GET", "_/triggers/cli2", Value::Null).status, 404);
}

#[test]
fn an_alarm_survives_a_restart_without_a_burst() {
    let mut s = Server::start(&[]);
    trigger(&s, "beat");
    let r = feed(
        &s,
        "alarm",
        "CREATE",
        "beat",
        json!({"cron": "* * * * * *"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    starts(&s, "beat", |n| n >= 1);

    // Down for about 4 ticks.
    s.stop();
    std::thread::sleep(Duration::from_millis(4200));
    let back = now_ms();
    s.resume();
    std::thread::sleep(Duration::from_millis(2500));
    let after: Vec<i64> = starts(&s, "beat", |_| true)
        .into_iter()
        .filter(|&t| t >= back)
        .collect();
    // The missed ticks fire once at start, then the schedule goes on: about 3
    // firings in 2.5 s, where a burst would be about 7.
    let first = *after.iter().min().expect("no firing after the restart");
    assert!(
        first - back < 5000,
        "the first firing came {} ms after the restart",
        first - back
    );
    let first_second = after.iter().filter(|&&t| t < first + 1000).count();
    assert!(
        (1..=2).contains(&first_second),
        "{first_second} firings in the first second after the restart: {after:?}"
    );
    assert!(
        (2..=5).contains(&after.len()),
        "{} firings in 2.5 s after the restart: {after:?}",
        after.len()
    );
}
