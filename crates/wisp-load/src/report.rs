//! What a run measured: one record per planned call, the summary computed from
//! them, and the CSV, JSON and table writers.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::plan::{LoadPattern, Pattern};

/// Why a call did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The server answered with a status outside 2xx (the record has the status).
    Status,
    /// The TCP connection or the HTTP/1.1 handshake failed.
    Connect,
    /// The call did not finish within its timeout, or was cut off at the end of
    /// the run's maximum duration.
    Timeout,
    /// The connection failed while the request or response was under way.
    Transport,
    /// The call was not started: the run's maximum duration had passed.
    Skipped,
}

impl ErrorKind {
    /// The lowercase name used in CSV and JSON: `status`, `connect`, `timeout`,
    /// `transport` or `skipped`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Status => "status",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Skipped => "skipped",
        }
    }
}

/// One planned call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    /// Client index, from 0.
    pub client: usize,
    /// Position of the call within its client, from 0.
    pub seq: usize,
    /// When the call started, in ms from the start of the run; `None` if skipped.
    pub start_ms: Option<f64>,
    /// From the start of the call to the end of the response body, in ms,
    /// including connecting when the call had to; `None` if skipped, or if the
    /// call failed before an answer arrived (connect, timeout, transport).
    pub latency_ms: Option<f64>,
    /// HTTP status of the answer, if one arrived.
    pub status: Option<u16>,
    /// `None` for a 2xx answer, else why the call failed.
    pub error: Option<ErrorKind>,
}

impl CallRecord {
    /// A 2xx answer, no error.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Latency statistics of the successful (2xx) calls, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Fastest call.
    pub min: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median, nearest-rank.
    pub p50: f64,
    /// 99th percentile, nearest-rank.
    pub p99: f64,
    /// Slowest call.
    pub max: f64,
}

/// The numbers of a run. `ok + errors + skipped == calls`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Calls planned.
    pub calls: usize,
    /// Calls answered with a 2xx status.
    pub ok: usize,
    /// Calls started that failed (any [`ErrorKind`] but `skipped`).
    pub errors: usize,
    /// Calls not started before the maximum duration.
    pub skipped: usize,
    /// `errors` by kind (`status`, `connect`, `timeout`, `transport`).
    pub errors_by_kind: BTreeMap<ErrorKind, usize>,
    /// The `status` errors by HTTP status.
    pub errors_by_status: BTreeMap<u16, usize>,
    /// Latency of the `ok` calls; `None` when there are none.
    pub latency_ms: Option<Latency>,
    /// `ok` calls per second of wall time.
    pub throughput_rps: f64,
    /// From the start of the run until its last call ended, in ms.
    pub wall_ms: f64,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Identifies the run; client `i` sent `X-Client-Id: <run_id>-<i>`.
    pub run_id: String,
    /// The access pattern, lowercase.
    #[serde(serialize_with = "lowercase")]
    pub pattern: Pattern,
    /// The URL called.
    pub url: String,
    /// The HTTP method.
    pub method: String,
    /// Number of clients.
    pub clients: usize,
    /// Calls per client.
    pub calls_per_client: usize,
    /// The ramp-up, in ms.
    pub ramp_ms: f64,
    /// The numbers.
    pub summary: Summary,
    /// The first message seen for each failure kind (to tell what went wrong).
    pub error_samples: BTreeMap<ErrorKind, String>,
    /// One record per planned call, by client then sequence.
    pub calls: Vec<CallRecord>,
}

/// Milliseconds of a duration, as a float.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// The nearest-rank percentile of ascending `sorted` values: the smallest value
/// such that at least `p` percent of the values are at most it, i.e. the value at
/// rank `ceil(p / 100 * n)` (1-based, at least 1). `sorted` must not be empty.
fn nearest_rank(sorted: &[f64], p: usize) -> f64 {
    let n = sorted.len();
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted[rank - 1]
}

/// Computes the summary of call records, `wall` being the run's wall time.
/// Latencies are those of the successful calls only; percentiles are
/// nearest-rank; throughput is successful calls per second of `wall` (0 when
/// `wall` is zero).
pub fn summarize(calls: &[CallRecord], wall: Duration) -> Summary {
    let mut ok = 0;
    let mut skipped = 0;
    let mut errors_by_kind = BTreeMap::new();
    let mut errors_by_status = BTreeMap::new();
    let mut latencies = Vec::new();
    for c in calls {
        match c.error {
            None => {
                ok += 1;
                if let Some(l) = c.latency_ms {
                    latencies.push(l);
                }
            }
            Some(ErrorKind::Skipped) => skipped += 1,
            Some(kind) => {
                *errors_by_kind.entry(kind).or_insert(0) += 1;
                if kind == ErrorKind::Status
                    && let Some(s) = c.status
                {
                    *errors_by_status.entry(s).or_insert(0) += 1;
                }
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let latency_ms = match (latencies.first(), latencies.last()) {
        (Some(&min), Some(&max)) => Some(Latency {
            min,
            mean: latencies.iter().sum::<f64>() / latencies.len() as f64,
            p50: nearest_rank(&latencies, 50),
            p99: nearest_rank(&latencies, 99),
            max,
        }),
        _ => None,
    };
    let secs = wall.as_secs_f64();
    Summary {
        calls: calls.len(),
        ok,
        errors: errors_by_kind.values().sum(),
        skipped,
        errors_by_kind,
        errors_by_status,
        latency_ms,
        throughput_rps: if secs > 0.0 { ok as f64 / secs } else { 0.0 },
        wall_ms: ms(wall),
    }
}

/// Writes one CSV line per call under the header
/// `client,seq,start_ms,latency_ms,status,error`. Times have three decimals
/// (microseconds); a missing value is an empty field; `error` is empty for a
/// successful call, else the [`ErrorKind`] name.
pub fn write_csv(report: &Report, mut out: impl Write) -> io::Result<()> {
    fn opt_ms(v: Option<f64>) -> String {
        v.map(|v| format!("{v:.3}")).unwrap_or_default()
    }
    writeln!(out, "client,seq,start_ms,latency_ms,status,error")?;
    for c in &report.calls {
        writeln!(
            out,
            "{},{},{},{},{},{}",
            c.client,
            c.seq,
            opt_ms(c.start_ms),
            opt_ms(c.latency_ms),
            c.status.map(|s| s.to_string()).unwrap_or_default(),
            c.error.map(ErrorKind::name).unwrap_or_default(),
        )?;
    }
    out.flush()
}

/// Writes the whole report (parameters, summary, every call) as pretty JSON.
pub fn write_json(report: &Report, mut out: impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, report)?;
    writeln!(out)?;
    out.flush()
}

/// Writes the summary as a small table: one header line, one value line, then
/// the errors by kind and status, if any, and the wall time.
pub fn write_table(report: &Report, mut out: impl Write) -> io::Result<()> {
    let s = &report.summary;
    let f = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    let l = s.latency_ms;
    let cells = [
        ("pattern", report.pattern.name().to_string()),
        ("clients", report.clients.to_string()),
        ("calls", s.calls.to_string()),
        ("ok", s.ok.to_string()),
        ("errors", s.errors.to_string()),
        ("skipped", s.skipped.to_string()),
        ("min ms", f(l.map(|l| l.min))),
        ("mean ms", f(l.map(|l| l.mean))),
        ("p50 ms", f(l.map(|l| l.p50))),
        ("p99 ms", f(l.map(|l| l.p99))),
        ("max ms", f(l.map(|l| l.max))),
        ("req/s", format!("{:.1}", s.throughput_rps)),
    ];
    let widths: Vec<usize> = cells.iter().map(|(h, v)| h.len().max(v.len())).collect();
    let line = |values: Vec<&str>| {
        values
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (v, w))| {
                if i == 0 {
                    format!("{v:<w$}")
                } else {
                    format!("{v:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(cells.iter().map(|(h, _)| *h).collect()))?;
    writeln!(
        out,
        "{}",
        line(cells.iter().map(|(_, v)| v.as_str()).collect())
    )?;
    if s.errors > 0 {
        let mut parts = Vec::new();
        for (kind, n) in &s.errors_by_kind {
            if *kind == ErrorKind::Status {
                for (status, n) in &s.errors_by_status {
                    parts.push(format!("HTTP {status}: {n}"));
                }
            } else {
                parts.push(format!("{}: {n}", kind.name()));
            }
        }
        writeln!(out, "errors: {}", parts.join(", "))?;
        for (kind, message) in &report.error_samples {
            writeln!(out, "  first {} error: {message}", kind.name())?;
        }
    }
    writeln!(
        out,
        "wall time: {:.2} s, run id: {}",
        s.wall_ms / 1_000.0,
        report.run_id
    )?;
    out.flush()
}

/// A pattern as the report writes it: `scma`, `mcsa`, `mcma`.
fn lowercase<S: serde::Serializer>(p: &Pattern, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(client: usize, seq: usize, latency: Option<f64>, status: Option<u16>) -> CallRecord {
        let error = match status {
            Some(s) if (200..300).contains(&s) => None,
            Some(_) => Some(ErrorKind::Status),
            None => Some(ErrorKind::Transport),
        };
        CallRecord {
            client,
            seq,
            start_ms: Some(seq as f64 * 10.0),
            latency_ms: latency,
            status,
            error,
        }
    }

    fn failed(kind: ErrorKind) -> CallRecord {
        CallRecord {
            client: 9,
            seq: 0,
            start_ms: (kind != ErrorKind::Skipped).then_some(1.0),
            latency_ms: None,
            status: None,
            error: Some(kind),
        }
    }

    fn report(calls: Vec<CallRecord>, wall: Duration) -> Report {
        Report {
            run_id: "r1".into(),
            pattern: Pattern::Mcma,
            url: "http://127.0.0.1:8080/fn/hello".into(),
            method: "GET".into(),
            clients: 2,
            calls_per_client: 2,
            ramp_ms: 0.0,
            summary: summarize(&calls, wall),
            error_samples: BTreeMap::new(),
            calls,
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 50), 50.0);
        assert_eq!(nearest_rank(&v, 99), 99.0);
        assert_eq!(nearest_rank(&v, 100), 100.0);
        assert_eq!(nearest_rank(&v, 0), 1.0);
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(nearest_rank(&v, 50), 2.0);
        assert_eq!(nearest_rank(&v, 99), 4.0);
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(nearest_rank(&v, 50), 3.0);
        assert_eq!(nearest_rank(&[7.0], 50), 7.0);
        assert_eq!(nearest_rank(&[7.0], 99), 7.0);
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 99), 198.0);
    }

    #[test]
    fn summary_counts_and_latency() {
        let calls = vec![
            rec(0, 0, Some(4.0), Some(200)),
            rec(0, 1, Some(1.0), Some(204)),
            rec(1, 0, Some(3.0), Some(200)),
            rec(1, 1, Some(2.0), Some(200)),
            rec(2, 0, Some(100.0), Some(500)),
            rec(2, 1, Some(50.0), Some(500)),
            rec(3, 0, Some(9.0), Some(429)),
            failed(ErrorKind::Connect),
            failed(ErrorKind::Timeout),
            failed(ErrorKind::Timeout),
            failed(ErrorKind::Skipped),
        ];
        let s = summarize(&calls, Duration::from_secs(2));
        assert_eq!(s.calls, 11);
        assert_eq!(s.ok, 4);
        assert_eq!(s.errors, 6);
        assert_eq!(s.skipped, 1);
        assert_eq!(s.ok + s.errors + s.skipped, s.calls);
        assert_eq!(
            s.errors_by_kind,
            BTreeMap::from([
                (ErrorKind::Status, 3),
                (ErrorKind::Connect, 1),
                (ErrorKind::Timeout, 2)
            ])
        );
        assert_eq!(s.errors_by_status, BTreeMap::from([(429, 1), (500, 2)]));
        assert_eq!(
            s.latency_ms,
            Some(Latency {
                min: 1.0,
                mean: 2.5,
                p50: 2.0,
                p99: 4.0,
                max: 4.0
            })
        );
        assert_eq!(s.throughput_rps, 2.0);
        assert_eq!(s.wall_ms, 2000.0);
    }

    #[test]
    fn summary_without_successes() {
        let s = summarize(&[rec(0, 0, Some(5.0), Some(500))], Duration::ZERO);
        assert_eq!((s.ok, s.errors), (0, 1));
        assert_eq!(s.latency_ms, None);
        assert_eq!(s.throughput_rps, 0.0);
        let s = summarize(&[], Duration::from_secs(1));
        assert_eq!(s.calls, 0);
        assert_eq!(s.latency_ms, None);
    }

    #[test]
    fn csv_has_one_line_per_call() -> anyhow::Result<()> {
        let r = report(
            vec![
                rec(0, 0, Some(1.23456), Some(200)),
                rec(0, 1, Some(2.0), Some(500)),
                failed(ErrorKind::Timeout),
                failed(ErrorKind::Skipped),
            ],
            Duration::from_secs(1),
        );
        let mut out = Vec::new();
        write_csv(&r, &mut out)?;
        assert_eq!(
            String::from_utf8(out)?,
            "client,seq,start_ms,latency_ms,status,error\n\
             0,0,0.000,1.235,200,\n\
             0,1,10.000,2.000,500,status\n\
             9,0,1.000,,,timeout\n\
             9,0,,,,skipped\n"
        );
        Ok(())
    }

    #[test]
    fn json_has_summary_and_calls() -> anyhow::Result<()> {
        let r = report(
            vec![
                rec(0, 0, Some(1.5), Some(200)),
                rec(1, 0, Some(2.0), Some(503)),
            ],
            Duration::from_secs(1),
        );
        let mut out = Vec::new();
        write_json(&r, &mut out)?;
        let v: serde_json::Value = serde_json::from_slice(&out)?;
        assert_eq!(v["pattern"], "mcma");
        assert_eq!(v["summary"]["ok"], 1);
        assert_eq!(v["summary"]["errors_by_kind"]["status"], 1);
        assert_eq!(v["summary"]["errors_by_status"]["503"], 1);
        assert_eq!(v["summary"]["latency_ms"]["p50"], 1.5);
        assert_eq!(v["calls"][1]["error"], "status");
        assert_eq!(v["calls"][0]["error"], serde_json::Value::Null);
        assert_eq!(v["calls"].as_array().map(Vec::len), Some(2));
        Ok(())
    }

    #[test]
    fn table_shows_the_numbers() -> anyhow::Result<()> {
        let r = report(
            vec![
                rec(0, 0, Some(1.0), Some(200)),
                rec(0, 1, Some(3.0), Some(200)),
                rec(1, 0, Some(2.0), Some(500)),
            ],
            Duration::from_secs(1),
        );
        let mut out = Vec::new();
        write_table(&r, &mut out)?;
        let text = String::from_utf8(out)?;
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("pattern  clients  calls  ok  errors  skipped  min ms"));
        assert!(lines[0].ends_with("req/s"));
        let values: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            values,
            [
                "mcma", "2", "3", "2", "1", "0", "1.00", "2.00", "1.00", "3.00", "3.00", "2.0"
            ]
        );
        assert_eq!(lines[2], "errors: HTTP 500: 1");
        assert_eq!(lines[3], "wall time: 1.00 s, run id: r1");
        Ok(())
    }
}
