//! `wisp logs`: an action's activations with their log lines, once or as they
//! arrive.
//!
//! Built on the activations list (`name`, `since`, newest first, paged with
//! `limit` and `skip`). A record becomes visible when its call ends, but it is
//! filed under its start, which can lie up to the action's timeout in the past.
//! So every poll re-reads the window of starts a record still unseen could have
//! (the [`Cursor`]): from the newest start the previous poll saw, back by the
//! timeout plus a margin. Records seen before are recognised by id and not
//! printed again; ids older than the window are forgotten, since no later poll
//! asks for them.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize as _;
use serde_json::Value;
use wisp_api::activation::{ActivationDoc, AnnotationValue};

use crate::client::{Client, GlobalOptions, HttpError};

/// Records per request: the server's largest page.
const PAGE: usize = wisp_controller::edge::extract::PAGE_MAX as usize;

/// Time between polls with `--follow`: a call shows about this soon after it
/// ends, and an idle follow costs the server a few small requests a second.
const POLL_INTERVAL: Duration = Duration::from_millis(300);

/// Added to the window beyond the action's timeout: the runner's grace past the
/// timeout, the time from a call's end to its record, and clocks read a little
/// apart. A record later than this is never a question of the window.
const MARGIN_MS: u64 = 2_000;

/// A web call to a command action reads its request body after the call
/// started, for up to the server's body timeout (30 s unless `wisp serve` was
/// told otherwise), so such an action's window is that much wider.
const WEB_COMMAND_BODY_MS: u64 = wisp_controller::config::defaults::BODY_TIMEOUT_S * 1000;

/// Most pages one poll reads (a million records): a window holding more cannot
/// be read in one poll, and the command says so instead of reading forever.
const MAX_PAGES: usize = 5_000;

/// Longest wait between retries while the server cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Print an action's activations, oldest first: for each its start (UTC),
/// status, duration, warmth, version and id, then its log lines.
#[derive(clap::Args, Debug)]
pub struct LogsCommand {
    /// Action name.
    name: String,
    /// Keep printing activations as they arrive, until interrupted. Each is
    /// printed once, also a long call that ends after later ones.
    #[arg(long, short)]
    follow: bool,
    /// Only activations started at most this long ago (`30s`, `10m`, `2h`,
    /// `0` for none before now). 10 minutes by default: the calls of a debugging
    /// session, not the whole history.
    #[arg(long, value_parser = wisp_load::parse_duration, default_value = "10m", value_name = "DURATION")]
    since: Duration,
    /// Print each activation record as one line of JSON (OpenWhisk's record,
    /// logs included).
    #[arg(long)]
    json: bool,
}

impl LogsCommand {
    /// Prints the activations; with `--follow`, polls until interrupted.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        if !wisp_controller::routes::valid_name(&self.name) {
            bail!("'{}' is not a valid action name", self.name);
        }
        let client = Client::new(global)?;
        let since = wisp_registry::now_millis().saturating_sub(self.since.as_millis() as u64);
        let mut cursor = Cursor::new(since, PAGE);
        match self.run(&client, &mut cursor) {
            Err(e) if is_broken_pipe(&e) => Ok(()),
            other => other,
        }
    }

    fn run(&self, client: &Client, cursor: &mut Cursor) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if !self.follow {
            let fresh = cursor.poll(|since, skip| self.page(client, since, skip))?;
            return self.emit(&mut out, &fresh);
        }
        let mut failures: u32 = 0;
        loop {
            match self.follow_once(client, cursor) {
                Ok(fresh) => {
                    if failures > 0 {
                        eprintln!("wisp logs: the server answers again");
                        failures = 0;
                    }
                    self.emit(&mut out, &fresh)?;
                    std::thread::sleep(POLL_INTERVAL);
                }
                Err(e) if retryable(&e) => {
                    if failures == 0 {
                        eprintln!("wisp logs: {e:#}; retrying");
                    }
                    failures = failures.saturating_add(1);
                    std::thread::sleep(backoff(failures));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One poll of a follow: the action's window (it may have been redeployed
    /// with a longer timeout), then the new records.
    fn follow_once(&self, client: &Client, cursor: &mut Cursor) -> anyhow::Result<Vec<Value>> {
        match client.request::<wisp_api::ActionView>(
            http::Method::GET,
            &format!("/api/v1/namespaces/_/actions/{}?code=false", self.name),
            "application/json",
            Vec::new(),
        ) {
            Ok(view) => cursor.widen(window_of(&view)),
            // Deleted, or not deployed yet: its records (if any) still carry
            // their limits, and the window never narrows.
            Err(e) if is_not_found(&e) => cursor.widen(Window {
                timeout_ms: wisp_api::Limits::default().timeout,
                body_ms: 0,
            }),
            Err(e) => return Err(e),
        }
        cursor.poll(|since, skip| self.page(client, since, skip))
    }

    /// One page of full records (logs included), newest first.
    fn page(&self, client: &Client, since: u64, skip: usize) -> anyhow::Result<Vec<Value>> {
        client.request(
            http::Method::GET,
            &format!(
                "/api/v1/namespaces/_/activations?name={}&since={since}&limit={PAGE}&skip={skip}&docs=true",
                self.name
            ),
            "application/json",
            Vec::new(),
        )
    }

    fn emit(&self, out: &mut impl Write, records: &[Value]) -> anyhow::Result<()> {
        for r in records {
            if self.json {
                serde_json::to_writer(&mut *out, r).map_err(std::io::Error::from)?;
                out.write_all(b"\n")?;
            } else {
                let doc = ActivationDoc::deserialize(r)?;
                out.write_all(render(&doc).as_bytes())?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// How far back a poll looks for records it has not seen, in parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Window {
    /// The longest timeout a call may run under (ms).
    timeout_ms: u64,
    /// Time a call may spend reading its request body after it started (ms).
    body_ms: u64,
}

/// The window of an action as deployed now.
fn window_of(view: &wisp_api::ActionView) -> Window {
    let web_export = view
        .annotations
        .iter()
        .any(|kv| kv.key == "web-export" && kv.value == Value::Bool(true));
    Window {
        timeout_ms: view.limits.timeout,
        body_ms: if web_export && view.wisp.shape == wisp_api::Shape::Command {
            WEB_COMMAND_BODY_MS
        } else {
            0
        },
    }
}

/// Where a follow stands: the oldest start the next poll asks for, the window,
/// and the records already shown whose start is in it.
///
/// Why nothing is missed: a record becomes visible at most `overlap()` after its
/// start. Every record visible when a poll's first page is read is returned by
/// one of its pages: the list is newest first and only grows, so a record moves
/// only towards later pages while the poll pages on, and the poll stops at a
/// short page. A record not yet visible then became visible after that moment,
/// which is after the newest start the first page saw; so it started after that
/// start minus the window, where the next poll begins. Why nothing repeats: an
/// id is remembered while its start is in the window, and `since` never moves
/// back, so no poll returns a record that was forgotten.
#[derive(Debug)]
struct Cursor {
    /// The oldest start (ms) the next poll asks for; never decreases.
    since: u64,
    /// The newest start (ms) any poll's first page has seen.
    newest: u64,
    /// The widest window seen (it never narrows: a call of an earlier version
    /// may still be running under its longer timeout).
    window: Window,
    /// Records shown, as (start ms, id), all at or after `since`.
    seen: BTreeSet<(u64, String)>,
    /// Records per page; a shorter page is the last.
    page: usize,
}

impl Cursor {
    fn new(since: u64, page: usize) -> Self {
        Cursor {
            since,
            newest: 0,
            window: Window::default(),
            seen: BTreeSet::new(),
            page: page.max(1),
        }
    }

    /// Widens the window to cover `w` too.
    fn widen(&mut self, w: Window) {
        self.window.timeout_ms = self.window.timeout_ms.max(w.timeout_ms);
        self.window.body_ms = self.window.body_ms.max(w.body_ms);
    }

    /// How far back from the newest start a poll looks (ms).
    fn overlap(&self) -> u64 {
        self.window
            .timeout_ms
            .saturating_add(self.window.body_ms)
            .saturating_add(MARGIN_MS)
    }

    /// One poll: pages through every record started at or after `since`
    /// (`fetch(since, skip)` answers one page, newest first) and returns those
    /// not shown before, oldest first; then moves the window on.
    fn poll<E: From<anyhow::Error>>(
        &mut self,
        mut fetch: impl FnMut(u64, usize) -> Result<Vec<Value>, E>,
    ) -> Result<Vec<Value>, E> {
        let since = self.since;
        let mut fresh: Vec<(u64, String, Value)> = Vec::new();
        let mut skip = 0;
        let mut pages = 0;
        loop {
            if pages == MAX_PAGES {
                return Err(anyhow::anyhow!(
                    "more than {} activations started in the last {} ms: too many to follow",
                    MAX_PAGES * self.page,
                    self.overlap()
                )
                .into());
            }
            let page = fetch(since, skip)?;
            pages += 1;
            let full = page.len() >= self.page;
            skip += page.len();
            for record in page {
                let (start, id) = key(&record)?;
                if pages == 1 {
                    self.newest = self.newest.max(start);
                }
                if start < since || self.seen.contains(&(start, id.clone())) {
                    continue;
                }
                if let Some(timeout_ms) = limits_timeout(&record) {
                    self.widen(Window {
                        timeout_ms,
                        body_ms: 0,
                    });
                }
                self.seen.insert((start, id.clone()));
                fresh.push((start, id, record));
            }
            if !full {
                break;
            }
        }
        self.since = self.since.max(self.newest.saturating_sub(self.overlap()));
        self.seen = self.seen.split_off(&(self.since, String::new()));
        fresh.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(fresh.into_iter().map(|(_, _, r)| r).collect())
    }
}

/// A record's start (ms) and id.
fn key(record: &Value) -> anyhow::Result<(u64, String)> {
    let start = record["start"].as_u64();
    let id = record["activationId"].as_str();
    match (start, id) {
        (Some(start), Some(id)) => Ok((start, id.to_string())),
        _ => bail!("the server sent an activation record without a start or an id: {record}"),
    }
}

/// The timeout in a record's `limits` annotation.
fn limits_timeout(record: &Value) -> Option<u64> {
    record["annotations"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == "limits")?["value"]["timeout"]
        .as_u64()
}

/// One activation as the command prints it: a header line, then its log lines
/// indented (without their time: every line carries the call's end).
fn render(doc: &ActivationDoc<'_>) -> String {
    let warmth = match doc.annotation("warmth") {
        Some(AnnotationValue::Text(w)) => w.as_ref(),
        _ => "-",
    };
    let mut out = format!(
        "{} {:<22} {:>6} ms {:<13} {} {}\n",
        wisp_controller::activations::iso8601(doc.start),
        doc.response.status.as_str(),
        doc.duration,
        warmth,
        doc.version,
        doc.activation_id,
    );
    for line in &doc.logs {
        out += "    ";
        out += without_time(line);
        out += "\n";
    }
    out
}

/// `stdout: text` of `<ISO time> stdout: text`; any other line as it is.
fn without_time(line: &str) -> &str {
    match line.split_once(' ') {
        Some((time, rest)) if time.ends_with('Z') && time.contains('T') => rest,
        _ => line,
    }
}

/// Whether a follow should try again: the server could not be reached, or
/// answered that it cannot serve now (5xx, 429). Anything else is final.
fn retryable(e: &anyhow::Error) -> bool {
    if let Some(h) = e.downcast_ref::<HttpError>() {
        return h.status.is_server_error() || h.status == http::StatusCode::TOO_MANY_REQUESTS;
    }
    e.downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some()
        || e.downcast_ref::<hyper::Error>().is_some()
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<HttpError>()
        .is_some_and(|h| h.status == http::StatusCode::NOT_FOUND)
}

/// Output closed by its reader (`wisp logs NAME -f | head`): a normal end.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The wait before retry number `failures` (from 1): doubling from the poll
/// interval up to [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    POLL_INTERVAL
        .saturating_mul(1 << failures.saturating_sub(1).min(8))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(start: u64, id: &str) -> Value {
        json!({"activationId": id, "start": start})
    }

    /// A fake activation list: calls become visible when they end, and are
    /// listed newest first as the server does.
    struct Log {
        /// (start, end, id) of every call.
        calls: Vec<(u64, u64, String)>,
        now: u64,
    }

    impl Log {
        fn list(&self, since: u64, skip: usize, limit: usize) -> Vec<Value> {
            let mut visible: Vec<&(u64, u64, String)> = self
                .calls
                .iter()
                .filter(|(start, end, _)| *end <= self.now && *start >= since)
                .collect();
            visible.sort_by(|a, b| (b.0, &b.2).cmp(&(a.0, &a.2)));
            visible
                .into_iter()
                .skip(skip)
                .take(limit)
                .map(|(start, _, id)| record(*start, id))
                .collect()
        }
    }

    fn ids(records: &[Value]) -> Vec<String> {
        records
            .iter()
            .map(|r| r["activationId"].as_str().unwrap().to_string())
            .collect()
    }

    /// One poll of `calls` finished calls in pages of 3: what it printed and
    /// which `skip`s it asked for.
    fn poll_pages(calls: u64) -> (Vec<Value>, Vec<usize>) {
        let log = Log {
            calls: (0..calls)
                .map(|i| (100 + i, 101 + i, format!("a{i}")))
                .collect(),
            now: 1_000,
        };
        let mut c = Cursor::new(0, 3);
        let mut asked = Vec::new();
        let got = c
            .poll(|since, skip| {
                asked.push(skip);
                Ok::<_, anyhow::Error>(log.list(since, skip, 3))
            })
            .unwrap();
        (got, asked)
    }

    #[test]
    fn a_poll_prints_oldest_first_across_pages() {
        let (got, asked) = poll_pages(7);
        assert_eq!(ids(&got), ["a0", "a1", "a2", "a3", "a4", "a5", "a6"]);
        assert_eq!(asked, [0, 3, 6], "pages until a short one");
    }

    #[test]
    fn a_full_last_page_is_followed_by_an_empty_one() {
        let (got, asked) = poll_pages(6);
        assert_eq!(got.len(), 6);
        assert_eq!(asked, [0, 3, 6]);
    }

    #[test]
    fn records_seen_before_are_not_printed_again() {
        let mut log = Log {
            calls: vec![(100, 110, "a".into()), (105, 120, "b".into())],
            now: 115,
        };
        let mut c = Cursor::new(0, 200);
        c.widen(Window {
            timeout_ms: 1_000,
            body_ms: 0,
        });
        let first = c
            .poll(|s, k| Ok::<_, anyhow::Error>(log.list(s, k, 200)))
            .unwrap();
        assert_eq!(ids(&first), ["a"]);
        log.now = 200;
        let second = c
            .poll(|s, k| Ok::<_, anyhow::Error>(log.list(s, k, 200)))
            .unwrap();
        assert_eq!(ids(&second), ["b"], "the late one, and not a again");
        let third = c
            .poll(|s, k| Ok::<_, anyhow::Error>(log.list(s, k, 200)))
            .unwrap();
        assert!(third.is_empty());
    }

    #[test]
    fn a_long_call_that_ends_after_later_ones_is_printed_when_it_ends() {
        let mut log = Log {
            calls: vec![
                (1_000, 9_000, "slow".into()),
                (2_000, 2_010, "fast1".into()),
                (8_000, 8_010, "fast2".into()),
            ],
            now: 8_500,
        };
        let mut c = Cursor::new(0, 200);
        c.widen(Window {
            timeout_ms: 10_000,
            body_ms: 0,
        });
        let first = c
            .poll(|s, k| Ok::<_, anyhow::Error>(log.list(s, k, 200)))
            .unwrap();
        assert_eq!(ids(&first), ["fast1", "fast2"]);
        log.now = 9_100;
        let second = c
            .poll(|s, k| Ok::<_, anyhow::Error>(log.list(s, k, 200)))
            .unwrap();
        assert_eq!(ids(&second), ["slow"]);
    }

    #[test]
    fn since_never_moves_back_and_the_seen_set_keeps_only_the_window() {
        let mut log = Log {
            calls: Vec::new(),
            now: 0,
        };
        let mut c = Cursor::new(0, 200);
        c.widen(Window {
            timeout_ms: 1_000,
            body_ms: 0,
        });
        let mut last_since = 0;
        for t in 0..200u64 {
            let start = t * 100;
            log.calls.push((start, start + 5, format!("{start:08}")));
            log.now = start + 50;
            c.poll(|s, k| Ok::<_, anyhow::Error>(log.list(s, k, 200)))
                .unwrap();
            assert!(c.since >= last_since);
            last_since = c.since;
            assert!(c.seen.iter().all(|(s, _)| *s >= c.since));
        }
        // 1 s of timeout plus the margin holds 31 records at one per 100 ms.
        assert!(c.seen.len() <= 31, "{}", c.seen.len());
        // A narrower window later does not narrow it.
        c.widen(Window {
            timeout_ms: 10,
            body_ms: 0,
        });
        assert_eq!(c.overlap(), 1_000 + MARGIN_MS);
    }

    #[test]
    fn a_record_widens_the_window_to_its_own_timeout() {
        let mut c = Cursor::new(0, 200);
        let r = json!({"activationId": "x", "start": 5, "annotations": [
            {"key": "path", "value": "guest/a"},
            {"key": "limits", "value": {"timeout": 45_000, "memory": 64, "logs": 10, "concurrency": 1}},
        ]});
        c.poll(|_, _| Ok::<_, anyhow::Error>(vec![r.clone()]))
            .unwrap();
        assert_eq!(c.overlap(), 45_000 + MARGIN_MS);
    }

    #[test]
    fn a_web_command_action_adds_the_body_timeout() {
        let view = |web: bool, shape: &str| -> wisp_api::ActionView {
            serde_json::from_value(json!({
                "namespace": "guest", "name": "a", "version": "0.0.1", "publish": false,
                "exec": {"kind": "wasm", "binary": true},
                "limits": {"timeout": 5000, "memory": 64, "logs": 10, "concurrency": 1, "storage": 0, "instances": 0},
                "parameters": [], "annotations": [{"key": "web-export", "value": web}],
                "updated": 0, "wisp": {"module_sha256": "h", "module_size": 1, "shape": shape}
            }))
            .unwrap()
        };
        let w = window_of(&view(true, "command"));
        assert_eq!((w.timeout_ms, w.body_ms), (5000, WEB_COMMAND_BODY_MS));
        assert_eq!(window_of(&view(false, "command")).body_ms, 0);
        assert_eq!(window_of(&view(true, "http")).body_ms, 0);
    }

    /// Many calls of random lengths, records appearing between the pages of
    /// a poll, several in the same millisecond: each is printed exactly once.
    #[test]
    fn a_busy_follow_prints_every_call_exactly_once() {
        let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let timeout = 3_000;
        let calls: Vec<(u64, u64, String)> = (0..2_000)
            .map(|i| {
                let start = 1_000 + next(20_000);
                // Mostly short, some up to the timeout.
                let len = if next(10) == 0 {
                    next(timeout)
                } else {
                    next(20)
                };
                (start, start + len, format!("{start:08}{i:05}"))
            })
            .collect();
        let log = std::cell::RefCell::new(Log { calls, now: 0 });
        let mut c = Cursor::new(0, 7);
        c.widen(Window {
            timeout_ms: timeout,
            body_ms: 0,
        });
        let mut printed: Vec<String> = Vec::new();
        for poll in 0..200u64 {
            {
                // Paging takes time too: the clock never goes back.
                let mut l = log.borrow_mut();
                l.now = l.now.max(poll * 150);
            }
            let got = c
                .poll(|s, k| {
                    let mut l = log.borrow_mut();
                    // Time passes between pages: records appear meanwhile.
                    l.now += 3;
                    Ok::<_, anyhow::Error>(l.list(s, k, 7))
                })
                .unwrap();
            let starts: Vec<u64> = got.iter().map(|r| r["start"].as_u64().unwrap()).collect();
            assert!(starts.is_sorted(), "oldest first within a poll");
            printed.extend(ids(&got));
        }
        let mut all: Vec<String> = log.borrow().calls.iter().map(|c| c.2.clone()).collect();
        all.sort();
        let mut sorted = printed.clone();
        sorted.sort();
        assert_eq!(sorted.len(), printed.len());
        assert_eq!(sorted, all, "every call exactly once");
    }

    #[test]
    fn a_record_without_an_id_is_an_error() {
        let mut c = Cursor::new(0, 200);
        let r = c.poll(|_, _| Ok::<_, anyhow::Error>(vec![json!({"start": 1})]));
        assert!(r.is_err());
    }

    #[test]
    fn renders_a_header_and_indented_lines() {
        let doc: ActivationDoc<'_> = serde_json::from_value(json!({
            "activationId": "0006448a0a6b8f3c1f2e3d4c5b6a7988", "namespace": "guest", "name": "greet",
            "version": "0.0.2", "subject": "k", "publish": false,
            "start": 1_764_430_495_123u64, "end": 1_764_430_495_135u64, "duration": 12, "statusCode": 0,
            "response": {"status": "success", "statusCode": 0, "success": true},
            "logs": ["2025-11-29T15:34:55.135Z stdout: greeting one", "2025-11-29T15:34:55.135Z stderr: oops"],
            "annotations": [{"key": "warmth", "value": "hot"}, {"key": "waitTime", "value": 0}]
        }))
        .unwrap();
        assert_eq!(
            render(&doc),
            "2025-11-29T15:34:55.123Z success                    12 ms hot           0.0.2 0006448a0a6b8f3c1f2e3d4c5b6a7988\n    stdout: greeting one\n    stderr: oops\n"
        );
    }

    #[test]
    fn log_lines_keep_text_that_is_not_a_time() {
        assert_eq!(
            without_time("2025-11-29T15:34:55.135Z stdout: a b"),
            "stdout: a b"
        );
        assert_eq!(without_time("stdout: a b"), "stdout: a b");
        assert_eq!(without_time("plain"), "plain");
    }

    #[test]
    fn retries_wait_longer_up_to_a_bound() {
        assert_eq!(backoff(1), POLL_INTERVAL);
        assert_eq!(backoff(2), POLL_INTERVAL * 2);
        assert_eq!(backoff(100), MAX_BACKOFF);
        let refused: anyhow::Error = HttpError {
            status: http::StatusCode::UNAUTHORIZED,
            message: "no".into(),
        }
        .into();
        assert!(!retryable(&refused));
        let busy: anyhow::Error = HttpError {
            status: http::StatusCode::SERVICE_UNAVAILABLE,
            message: "draining".into(),
        }
        .into();
        assert!(retryable(&busy));
        assert!(!retryable(&anyhow::anyhow!("bad JSON")));
    }
}
