//! Prometheus metrics: what the invocation path records, and the exposition
//! `GET /metrics` serves.
//!
//! Recording costs atomics only. Each action's handles ([`ActionMetrics`]) are
//! resolved once, when it is first published, and held in its
//! [`Deployed`](crate::Deployed); an activation then adds to its own counters
//! and histograms in [`Begun::finish`](crate::activations::Begun::finish), with
//! no lookup, lock or allocation, each serving thread in a shard of its own. Everything else (instances in flight, queue
//! depth, patterns, compiled code, the process's own figures) is read when
//! scraped. The exposition is encoded by `prometheus-client` from a snapshot
//! taken at scrape time ([`exposition`]).
//!
//! Label cardinality is bounded: the first `--metrics-max-actions` actions
//! published get series of their own (labels `namespace`, `action`); the calls
//! of any published beyond share one series labelled `namespace="_other"`,
//! `action="_other"`. A deleted action gives its place back.

pub mod exposition;
pub mod histogram;
pub mod process;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use wisp_api::{ActivationStatus, Warmth};
use wisp_invoker::sharded::{Padded, SHARDS, shard};

use crate::error::{ApiError, Throttled};
use histogram::Histogram;

/// The label value of the series that actions beyond the cap share.
pub const OTHER: &str = "_other";

/// The `status` label values, in the order of [`ActivationStatus::code`].
pub const STATUS_LABELS: [&str; 4] = [
    "success",
    "application_error",
    "developer_error",
    "internal_error",
];

/// The `warmth` label values of cold starts: loaded from the disk cache, or
/// compiled.
pub const COLD_LABELS: [&str; 2] = ["cold-disk", "cold-compiled"];

/// What one action's calls add to; shared by the versions of the action (an
/// update keeps it), and by every action beyond the cap. Each serving thread
/// adds to a shard of its own ([`wisp_invoker::sharded`]): calls of one action
/// on several cores share no cache line. About 2 KiB per action.
#[derive(Debug, Default)]
pub struct ActionMetrics {
    shards: [Padded<Shard>; SHARDS],
}

/// One thread's part of an action's figures.
#[derive(Debug, Default)]
struct Shard {
    activations: [AtomicU64; 4],
    cold: [AtomicU64; 2],
    duration: Histogram,
    wait: Histogram,
    init: Histogram,
}

impl ActionMetrics {
    /// Records one activation: its status, where its code came from, its
    /// duration, its wait for admission and, when it ran to an answer
    /// (success or application error), the creation of its instance.
    pub fn record(
        &self,
        status: ActivationStatus,
        warmth: Warmth,
        duration: Duration,
        wait: Duration,
        init: Duration,
    ) {
        let s = &self.shards[shard()].0;
        s.activations[usize::from(status.code())].fetch_add(1, Relaxed);
        match warmth {
            Warmth::Hot => {}
            Warmth::Disk => {
                s.cold[0].fetch_add(1, Relaxed);
            }
            Warmth::Compiled => {
                s.cold[1].fetch_add(1, Relaxed);
            }
        }
        s.duration.observe(duration);
        s.wait.observe(wait);
        // A call that failed (trap, time limit, refusal) reports no init time.
        if matches!(
            status,
            ActivationStatus::Success | ActivationStatus::ApplicationError
        ) {
            s.init.observe(init);
        }
    }

    /// Its values now: the sum of the shards.
    pub fn values(&self) -> exposition::ActionValues {
        let mut v = exposition::ActionValues::default();
        for Padded(s) in &self.shards {
            for (sum, n) in v.activations.iter_mut().zip(&s.activations) {
                *sum += n.load(Relaxed);
            }
            for (sum, n) in v.cold.iter_mut().zip(&s.cold) {
                *sum += n.load(Relaxed);
            }
            v.duration.add(&s.duration.values());
            v.wait.add(&s.wait.values());
            v.init.add(&s.init.values());
        }
        v
    }
}

/// The server's metrics: whether they are on, the cap on actions with series of
/// their own, the shared series beyond it, and the refusals.
#[derive(Debug)]
pub struct Metrics {
    enabled: bool,
    max_actions: usize,
    /// Actions holding series of their own now.
    labelled: AtomicUsize,
    other: Arc<ActionMetrics>,
    /// Refusals by [`Throttled::index`].
    throttled: [AtomicU64; 4],
}

impl Metrics {
    /// Metrics recorded when `enabled`, with at most `max_actions` actions
    /// labelled by name.
    pub fn new(enabled: bool, max_actions: usize) -> Self {
        Metrics {
            enabled,
            max_actions,
            labelled: AtomicUsize::new(0),
            other: Arc::default(),
            throttled: Default::default(),
        }
    }

    /// Whether metrics are recorded and served.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The handles of an action published for the first time: series of its
    /// own while fewer than the cap have them, else the shared `_other` ones;
    /// `None` when metrics are off.
    pub fn for_action(&self) -> Option<Arc<ActionMetrics>> {
        if !self.enabled {
            return None;
        }
        let taken = self.labelled.fetch_update(Relaxed, Relaxed, |n| {
            (n < self.max_actions).then_some(n + 1)
        });
        Some(match taken {
            Ok(_) => Arc::default(),
            Err(_) => self.other.clone(),
        })
    }

    /// Gives back the place of a deleted action's series.
    pub fn release(&self, handles: &Arc<ActionMetrics>) {
        if !self.is_other(handles) {
            let _ = self
                .labelled
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Whether these are the shared `_other` handles.
    pub fn is_other(&self, handles: &Arc<ActionMetrics>) -> bool {
        Arc::ptr_eq(handles, &self.other)
    }

    /// The shared `_other` handles.
    pub fn other(&self) -> &Arc<ActionMetrics> {
        &self.other
    }

    /// Counts an error answered to a client, if it turned the request away
    /// unserved (429, or 503 while draining).
    pub fn answered(&self, error: &ApiError) {
        if let (true, Some(reason)) = (self.enabled, error.throttled) {
            self.throttled[reason.index()].fetch_add(1, Relaxed);
        }
    }

    /// Refusals so far, by [`Throttled::index`].
    pub fn throttled(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.throttled[i].load(Relaxed))
    }
}

/// Every reason with its label value, in the order of [`Metrics::throttled`].
pub fn throttle_labels() -> [&'static str; 4] {
    Throttled::ALL.map(Throttled::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_past_the_cap_share_the_other_series_and_deleting_frees_a_place() {
        let m = Metrics::new(true, 2);
        let a = m.for_action().unwrap();
        let b = m.for_action().unwrap();
        let c = m.for_action().unwrap();
        assert!(!m.is_other(&a) && !m.is_other(&b) && !Arc::ptr_eq(&a, &b));
        assert!(m.is_other(&c));
        // Deleting one that shares `_other` frees nothing...
        m.release(&c);
        assert!(m.is_other(&m.for_action().unwrap()));
        // ...deleting one with its own does.
        m.release(&a);
        assert!(!m.is_other(&m.for_action().unwrap()));
        assert!(Metrics::new(false, 2).for_action().is_none());
    }

    #[test]
    fn an_activation_counts_its_status_cold_start_and_times() {
        let a = ActionMetrics::default();
        let ms = Duration::from_millis;
        a.record(ActivationStatus::Success, Warmth::Hot, ms(1), ms(0), ms(1));
        a.record(
            ActivationStatus::ApplicationError,
            Warmth::Disk,
            ms(2),
            ms(0),
            ms(1),
        );
        a.record(
            ActivationStatus::DeveloperError,
            Warmth::Compiled,
            ms(3),
            ms(5),
            Duration::ZERO,
        );
        let v = a.values();
        assert_eq!(v.activations, [1, 1, 1, 0]);
        assert_eq!(v.cold, [1, 1]);
        assert_eq!(v.duration.count(), 3);
        assert_eq!(v.duration.sum_ns, 6_000_000);
        assert_eq!(v.wait.count(), 3);
        // The failed call reports no instance creation.
        assert_eq!(v.init.count(), 2);
    }

    #[test]
    fn every_threads_share_is_summed() {
        let a = Arc::new(ActionMetrics::default());
        let threads: Vec<_> = (0..SHARDS + 2)
            .map(|_| {
                let a = a.clone();
                std::thread::spawn(move || {
                    let d = Duration::from_micros(30);
                    a.record(ActivationStatus::Success, Warmth::Hot, d, d, d);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let v = a.values();
        let n = (SHARDS + 2) as u64;
        assert_eq!(v.activations[0], n);
        assert_eq!(v.duration.count(), n);
        assert_eq!(v.init.sum_ns, n * 30_000);
    }

    #[test]
    fn only_refusals_are_counted_and_by_reason() {
        let m = Metrics::new(true, 1);
        m.answered(&ApiError::draining());
        m.answered(&ApiError::too_many(Throttled::PoolFull, "x"));
        m.answered(&ApiError::not_found("x"));
        assert_eq!(m.throttled(), [0, 1, 0, 1]);
        let off = Metrics::new(false, 1);
        off.answered(&ApiError::draining());
        assert_eq!(off.throttled(), [0; 4]);
    }
}
