//! Activation records: OpenWhisk's account of every invocation, written to the
//! registry off the invocation path, in batches.
//!
//! The invocation path only queues the raw facts of a call ([`Activation`]: the
//! action it ran, times, status, result); they are encoded into OpenWhisk's JSON
//! document by the writer, off the request path, or when read before then.
//! A record is visible the moment its id is handed out (from memory until it is
//! flushed). Pending records are written every [`FLUSH_INTERVAL`] in one
//! transaction, and all of them on a clean shutdown; after a crash at most the last
//! interval's records can be missing. Retention (count and age) is applied once a
//! minute.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use wisp_api::{ActivationStatus, KeyValue, Warmth};
use wisp_invoker::LogLine;
use wisp_registry::{ActivationBatch, ActivationQuery, Registry, now_millis};

use crate::Deployed;

/// About how many bytes one encoded record takes (a web call's, without logs).
const RECORD_BYTES_HINT: usize = 640;

/// How often pending records are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(25);

/// Who and what an activation that takes no time of its own was (a trigger's
/// firing, a feed call), for [`ActivationLog::record_instant`].
#[derive(Debug)]
pub struct InstantRecord<'a> {
    /// The namespace it is recorded in.
    pub namespace: &'a str,
    /// The name it is listed under.
    pub name: &'a str,
    /// The entity's version.
    pub version: &'a str,
    /// The key it ran as.
    pub subject: &'a str,
    /// Annotation `kind`: `trigger` or `feed`.
    pub kind: &'a str,
    /// Annotation `path`.
    pub path: &'a str,
}
/// How often retention is applied.
const PRUNE_EVERY: Duration = Duration::from_secs(5);

/// How many activation records are kept, for how long, and in how much disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Most records kept, all namespaces together.
    pub max_count: usize,
    /// Oldest record kept.
    pub max_age: Duration,
    /// Most bytes all records take (whole batches go first, oldest first).
    pub max_bytes: u64,
}

/// The activation log of one server.
pub struct ActivationLog {
    registry: Arc<dyn Registry>,
    enabled: bool,
    retention: Retention,
    /// Records not yet written, in order: recording one is a move into this
    /// vector under a lock, with no allocation of its own.
    pending: Mutex<Vec<Activation>>,
    /// The batch being written now, still readable until the write completes.
    in_flight: Mutex<Arc<Vec<Activation>>>,
    /// Held for a whole flush: the writer thread and a shutdown's flush never
    /// write at once.
    writing: Mutex<()>,
}

impl ActivationLog {
    /// A log writing to `registry`; a disabled log records nothing.
    pub fn new(registry: Arc<dyn Registry>, enabled: bool, retention: Retention) -> Self {
        ActivationLog {
            registry,
            enabled,
            retention,
            pending: Mutex::new(Vec::new()),
            in_flight: Mutex::new(Arc::default()),
            writing: Mutex::new(()),
        }
    }

    /// Whether records are kept.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Queues a record; never blocks on storage.
    pub fn record(&self, activation: Activation) {
        if !self.enabled {
            return;
        }
        if let Ok(mut p) = self.pending.lock() {
            p.push(activation);
        }
    }

    /// Writes the record of an activation that took no time of its own (a
    /// trigger's firing, a feed call) at once, as a batch of one, and returns
    /// it; a storage failure is logged, never lost silently.
    pub fn record_instant(
        &self,
        what: &InstantRecord<'_>,
        id: &ActivationId,
        start_us: u64,
        result: Value,
        logs: Vec<String>,
    ) -> Value {
        let start_ms = start_us / 1000;
        let doc = serde_json::json!({
            "activationId": id.as_str(),
            "namespace": what.namespace,
            "name": what.name,
            "version": what.version,
            "subject": what.subject,
            "publish": false,
            "start": start_ms,
            "end": start_ms,
            "duration": 0,
            "statusCode": 0,
            "response": {"status": "success", "statusCode": 0, "success": true, "result": result},
            "logs": logs,
            "annotations": [KeyValue { key: "kind".into(), value: what.kind.into() },
                            KeyValue { key: "path".into(), value: what.path.into() }],
        });
        if self.enabled {
            let mut batch = wisp_registry::ActivationBatch::with_capacity(512);
            batch.push(what.namespace, what.name, id.as_str(), start_us, |out| {
                let _ = serde_json::to_writer(out, &doc);
            });
            if let Err(e) = self.registry.put_activations(&batch) {
                tracing::warn!(activation = %id.as_str(), "{} activation not written: {e}", what.kind);
            }
        }
        doc
    }

    /// Unwritten records (in flight, then pending) that `keep` selects, copied
    /// out so they are encoded outside the locks. Both locks are held together,
    /// in the order `flush` takes them, so a batch moving from pending to in
    /// flight is seen in one place or the other, never in neither.
    fn unwritten(&self, keep: impl Fn(&Activation) -> bool) -> Vec<Activation> {
        let (in_flight, mut found) = {
            let (Ok(pending), Ok(in_flight)) = (self.pending.lock(), self.in_flight.lock()) else {
                return Vec::new();
            };
            let kept: Vec<Activation> = pending.iter().filter(|a| keep(a)).cloned().collect();
            (Arc::clone(&in_flight), kept)
        };
        let mut all: Vec<Activation> = in_flight.iter().filter(|a| keep(a)).cloned().collect();
        all.append(&mut found);
        all
    }

    /// One record of a namespace.
    pub fn get(&self, namespace: &str, id: &str) -> wisp_registry::Result<Option<Value>> {
        if let Some(a) = self.unwritten(|a| a.id.as_str() == id).first() {
            return Ok((a.action.record.namespace == namespace).then(|| a.to_value()));
        }
        self.registry.get_activation(namespace, id)
    }

    /// Records of a namespace, newest first, the unwritten ones included.
    pub fn list(&self, namespace: &str, q: &ActivationQuery) -> wisp_registry::Result<Vec<Value>> {
        let window = ActivationQuery {
            skip: 0,
            limit: q.skip + q.limit,
            ..q.clone()
        };
        let mut records: Vec<(u64, String, Value)> = Vec::new();
        for a in self.unwritten(|a| a.action.record.namespace == namespace) {
            let name_ok = q.name.as_deref().is_none_or(|n| a.action.record.name == n);
            let ms = a.start_us / 1000;
            let time_ok = q.since.is_none_or(|s| ms >= s) && q.upto.is_none_or(|u| ms <= u);
            if name_ok && time_ok {
                records.push((a.start_us, a.id.as_str().to_string(), a.to_value()));
            }
        }
        for (order, r) in self.registry.list_activations(namespace, &window)? {
            let id = r["activationId"].as_str().unwrap_or_default().to_string();
            if records.iter().any(|(_, i, _)| *i == id) {
                continue;
            }
            records.push((order, id, r));
        }
        records.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        Ok(records
            .into_iter()
            .skip(q.skip)
            .take(q.limit)
            .map(|(_, _, r)| r)
            .collect())
    }

    /// Writes every pending record now, off the async threads.
    pub async fn flush(self: &Arc<Self>) {
        let log = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || log.flush_now()).await {
            tracing::error!("activation writer failed: {e}");
        }
    }

    /// Writes every pending record, on the calling thread. On a storage error the
    /// records stay pending and are retried at the next flush.
    fn flush_now(&self) {
        let Ok(_writing) = self.writing.lock() else {
            return;
        };
        // Move the batch to in-flight under both locks, so a reader always finds
        // each record in exactly one place.
        let batch = {
            let (Ok(mut p), Ok(mut f)) = (self.pending.lock(), self.in_flight.lock()) else {
                return;
            };
            if p.is_empty() {
                return;
            }
            // The next interval likely sees as many calls: no regrowing.
            let capacity = p.len();
            *f = Arc::new(std::mem::replace(&mut *p, Vec::with_capacity(capacity)));
            f.clone()
        };
        // Each record is encoded straight into the batch's one buffer.
        let mut encoded = ActivationBatch::with_capacity(batch.len() * RECORD_BYTES_HINT);
        for a in batch.iter() {
            let rec = &a.action.record;
            encoded.push(
                &rec.namespace,
                &rec.name,
                a.id.as_str(),
                a.start_us,
                |out| a.encode_into(out),
            );
        }
        match self.registry.put_activations(&encoded) {
            Ok(()) => {
                if let Ok(mut f) = self.in_flight.lock() {
                    *f = Arc::default();
                }
            }
            Err(e) => {
                tracing::error!("could not write {} activation records: {e}", batch.len());
                // Back in front of the newer ones, under the pending lock so a
                // reader never misses them.
                if let (Ok(mut p), Ok(mut f)) = (self.pending.lock(), self.in_flight.lock()) {
                    *f = Arc::default();
                    drop(encoded);
                    let mut again = Arc::unwrap_or_clone(batch);
                    again.append(&mut p);
                    *p = again;
                }
            }
        }
    }

    /// Applies retention now.
    pub async fn prune(self: &Arc<Self>) {
        let log = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || log.prune_now()).await {
            tracing::error!("activation retention failed: {e}");
        }
    }

    fn prune_now(&self) {
        let keep = self.retention.max_count;
        let older_than = now_millis().saturating_sub(self.retention.max_age.as_millis() as u64);
        match self
            .registry
            .prune_activations(keep, older_than, self.retention.max_bytes)
        {
            Ok(n) if n > 0 => tracing::info!("retention removed {n} activation records"),
            Ok(_) => {}
            Err(e) => tracing::warn!("activation retention failed: {e}"),
        }
    }

    /// Starts the writer: a thread of its own that flushes every
    /// [`FLUSH_INTERVAL`] and prunes every [`PRUNE_EVERY`] until the log is dropped. It
    /// runs at the serving threads' priority: a lower one let records pile up
    /// (and memory grow) whenever the serving threads kept the cores busy.
    pub fn spawn_writer(self: &Arc<Self>) -> std::io::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let log = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("wisp-activations".into())
            .spawn(move || {
                let mut since_prune = Duration::ZERO;
                loop {
                    std::thread::sleep(FLUSH_INTERVAL);
                    let Some(log) = log.upgrade() else { return };
                    log.flush_now();
                    since_prune += FLUSH_INTERVAL;
                    if since_prune >= PRUNE_EVERY {
                        since_prune = Duration::ZERO;
                        log.prune_now();
                    }
                }
            })
            .map(drop)
    }
}

/// An activation id: 32 lowercase hex digits, the first 16 its start in
/// microseconds. Kept inline, so recording a call allocates nothing for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationId([u8; 32]);

impl ActivationId {
    /// The id of a call that started at `start_us`, made unique by `salt`.
    pub fn new(start_us: u64, salt: u64) -> Self {
        let mut digits = [0u8; 32];
        let hex = b"0123456789abcdef";
        for (i, d) in digits.iter_mut().enumerate() {
            let word = if i < 16 { start_us } else { salt };
            *d = hex[((word >> (60 - 4 * (i % 16))) & 0xF) as usize];
        }
        ActivationId(digits)
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for ActivationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call that has begun: its action, id and start. [`Begun::finish`] is the one
/// way an [`Activation`] is made.
#[derive(Debug)]
pub struct Begun {
    action: Arc<Deployed>,
    id: ActivationId,
    start_us: u64,
    subject: Option<String>,
    warmth: Warmth,
}

impl Begun {
    /// A new activation of `action` by `subject` (`None` for web calls, which act
    /// for the action's owner): its start (µs, unique and increasing) and its
    /// 32-hex-digit id, which begins with that start so the record can be found
    /// from the id alone.
    pub fn new(action: &Arc<Deployed>, subject: Option<String>, warmth: Warmth) -> Self {
        let start_us = next_order();
        let begun = Begun {
            action: action.clone(),
            id: ActivationId::new(start_us, salt()),
            start_us,
            subject,
            warmth,
        };
        // The request's log lines carry the activation from here on.
        tracing::Span::current().record("activation_id", begun.id.as_str());
        begun
    }

    /// Its id.
    pub fn id(&self) -> ActivationId {
        self.id
    }

    /// The record of how it ended, now; its metrics recorded.
    pub fn finish(self, mut end: Ended) -> Activation {
        let end_us = now_micros();
        // No secret value of the action is ever recorded.
        let redact = &self.action.redact;
        if !redact.is_empty() {
            match &mut end.result {
                ActivationResult::Value(v) => crate::secrets::redact_value(redact, v),
                ActivationResult::Error(e) => {
                    *e = crate::secrets::redact_str(redact, e).into_owned();
                }
                ActivationResult::Status(_) => {}
            }
            if let Logs::Lines(lines) = &mut end.logs {
                crate::secrets::redact_lines(redact, lines);
            }
        }
        if let Some(m) = &self.action.metrics {
            m.record(
                end.status,
                self.warmth,
                Duration::from_micros(end_us.saturating_sub(self.start_us)),
                end.wait,
                end.init,
            );
        }
        Activation {
            action: self.action,
            id: self.id,
            subject: self.subject,
            start_us: self.start_us,
            warmth: self.warmth,
            end_ms: end_us / 1000,
            status: end.status,
            result: end.result,
            logs: end.logs,
            wait: end.wait,
            init: end.init,
        }
    }
}

/// How a call ended.
#[derive(Debug)]
pub struct Ended {
    /// Its status.
    pub status: ActivationStatus,
    /// What it produced.
    pub result: ActivationResult,
    /// The guest's output.
    pub logs: Logs,
    /// Time spent waiting for admission.
    pub wait: Duration,
    /// Time spent creating the instance.
    pub init: Duration,
}

impl Ended {
    /// A call that ended without running (its logs empty, no times).
    pub fn refused(status: ActivationStatus, message: String) -> Self {
        Ended {
            status,
            result: ActivationResult::Value(serde_json::json!({ "error": message })),
            logs: Logs::Lines(Vec::new()),
            wait: Duration::ZERO,
            init: Duration::ZERO,
        }
    }
}

/// Ids must be unique, not secret: a per-thread SplitMix64 generator seeded once
/// from the OS avoids a system call per request.
pub(crate) fn salt() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            u64::from_le_bytes(seed)
        });
    }
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// One invocation as the invocation path records it: the facts only, encoded
/// into OpenWhisk's document by [`Activation::encode`] when it is written or read.
#[derive(Debug, Clone)]
pub struct Activation {
    /// The action that ran (namespace, name, version, path, limits).
    pub action: Arc<Deployed>,
    /// Its id, beginning with `start_us`.
    pub id: ActivationId,
    /// The key that invoked it; `None` for web calls, which act for the
    /// action's owner.
    pub subject: Option<String>,
    /// Start in microseconds since the Unix epoch, unique and increasing.
    pub start_us: u64,
    /// Whether the compiled code was in memory (annotation `warmth`).
    pub warmth: Warmth,
    /// End in milliseconds since the Unix epoch.
    pub end_ms: u64,
    /// How it ended.
    pub status: ActivationStatus,
    /// What the call produced.
    pub result: ActivationResult,
    /// The guest's output lines.
    pub logs: Logs,
    /// Time spent waiting for admission.
    pub wait: Duration,
    /// Time spent creating the instance.
    pub init: Duration,
}

/// An activation's logs: lines known when the call returned, or a web call's
/// output read when the record is encoded (a component can still be streaming
/// its body, and writing, after its call returned).
#[derive(Debug, Clone)]
pub enum Logs {
    /// Complete.
    Lines(Vec<LogLine>),
    /// Read when encoded.
    Web(wisp_invoker::WebLogs),
    /// A sequence's: the activation ids of the actions it ran, in order.
    Components(Vec<ActivationId>),
}

/// An activation's `response.result`.
#[derive(Debug, Clone)]
pub enum ActivationResult {
    /// The action's own JSON result.
    Value(Value),
    /// A web call: the HTTP status it answered.
    Status(u16),
    /// A web call that failed before answering.
    Error(String),
}

impl Activation {
    /// OpenWhisk's activation record, encoded.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_BYTES_HINT);
        self.encode_into(&mut out);
        out
    }

    /// OpenWhisk's activation record, appended to `out` as JSON.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        use std::borrow::Cow;
        use wisp_api::activation::{
            ActivationDoc, ActivationLimits, ActivationResponse, Annotation, AnnotationValue,
        };
        let rec = &self.action.record;
        let start = self.start_us / 1000;
        let end = self.end_ms.max(start);
        let result = match &self.result {
            ActivationResult::Value(v) => Cow::Borrowed(v),
            ActivationResult::Status(s) => Cow::Owned(serde_json::json!({ "statusCode": s })),
            ActivationResult::Error(e) => Cow::Owned(serde_json::json!({ "error": e })),
        };
        fn text<'a>(key: &'static str, value: &'a str) -> Annotation<'a> {
            Annotation {
                key: Cow::Borrowed(key),
                value: AnnotationValue::Text(Cow::Borrowed(value)),
            }
        }
        fn number(key: &'static str, value: u64) -> Annotation<'static> {
            Annotation {
                key: Cow::Borrowed(key),
                value: AnnotationValue::Number(value),
            }
        }
        let doc = ActivationDoc {
            activation_id: Cow::Borrowed(self.id.as_str()),
            namespace: Cow::Borrowed(&rec.namespace),
            name: Cow::Borrowed(&rec.name),
            version: Cow::Borrowed(&rec.version),
            subject: Cow::Borrowed(self.subject.as_deref().unwrap_or(&rec.namespace)),
            publish: false,
            start,
            end,
            duration: end - start,
            status_code: self.status.code(),
            response: ActivationResponse {
                status: self.status,
                status_code: self.status.code(),
                success: self.status.is_success(),
                result: Some(result),
            },
            logs: match &self.logs {
                Logs::Lines(lines) => log_lines(end, lines),
                Logs::Web(web) => {
                    let mut lines = web.lines();
                    crate::secrets::redact_lines(&self.action.redact, &mut lines);
                    log_lines(end, &lines)
                }
                Logs::Components(ids) => ids.iter().map(|id| id.as_str().to_string()).collect(),
            },
            annotations: vec![
                text("path", &self.action.path),
                text(
                    "kind",
                    if rec.sequence.is_some() {
                        "sequence"
                    } else {
                        "wasm"
                    },
                ),
                Annotation {
                    key: Cow::Borrowed("limits"),
                    value: AnnotationValue::Limits(ActivationLimits {
                        timeout: rec.limits.timeout,
                        memory: rec.limits.memory,
                        logs: 10,
                        concurrency: 1,
                    }),
                },
                number("waitTime", self.wait.as_millis() as u64),
                number("initTime", self.init.as_millis() as u64),
                text("warmth", self.warmth.as_str()),
            ],
        };
        let _ = serde_json::to_writer(out, &doc);
    }

    /// The record as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.encode()).unwrap_or(Value::Null)
    }
}

/// Now, in microseconds since the Unix epoch.
fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A unique, increasing start time in microseconds for a new record.
pub fn next_order() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// A summary of a record for listings without `docs=true`: no logs, no result.
pub fn summary(record: &Value) -> Value {
    let mut r = record.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("logs");
        if let Some(resp) = o.get_mut("response").and_then(Value::as_object_mut) {
            resp.remove("result");
        }
    }
    r
}

/// `2026-11-29T15:34:55.123Z` for a time in milliseconds since the Unix epoch.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Log lines in OpenWhisk's form: `<ISO time> stdout: <text>`.
pub fn log_lines(at_ms: u64, lines: &[LogLine]) -> Vec<String> {
    if lines.is_empty() {
        return Vec::new();
    }
    let t = iso8601(at_ms);
    lines
        .iter()
        .map(|l| format!("{t} {}: {}", l.stream, l.text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_start_then_salt_in_hex() {
        let id = ActivationId::new(0x0006_4a5b_1c2d_3e4f, 0xdead_beef_0000_0001);
        assert_eq!(id.as_str(), "00064a5b1c2d3e4fdeadbeef00000001");
        assert_eq!(id.to_string().len(), 32);
    }

    #[test]
    fn iso_times() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_795_966_495_123), "2026-11-29T15:34:55.123Z");
    }

    #[test]
    fn summaries_drop_logs_and_result() {
        use serde_json::json;
        let r = json!({"activationId": "x", "logs": ["a"], "response": {"status": "success", "result": {"a": 1}}});
        assert_eq!(
            summary(&r),
            json!({"activationId": "x", "response": {"status": "success"}})
        );
    }
}
