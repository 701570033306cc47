//! The tracker: what each call of an action was, recorded without locks.
//!
//! Every action has a [`CallLog`]: counters and a ring of the last
//! [`RING_SLOTS`] calls, allocated on the first call. Recording a call is a few
//! relaxed atomic operations; no call waits for another. A slot is two words
//! written one after the other, so a reader racing a writer of the same slot can
//! see one call's time with another's figures: harmless for statistics, and
//! rare (the writer must lap the ring while a reader looks).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use wisp_api::{Totals, Warmth};

use crate::classify::Observation;

/// Calls kept per action: the classifier sees the calls of the window, at most
/// this many (2 KiB per action that was ever called).
pub const RING_SLOTS: usize = 128;

/// Milliseconds on the tracker's clock: since the process started, wrapping
/// after 49 days (the classifier compares times with wrapping arithmetic).
pub fn now_ms() -> u32 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u32
}

/// A caller's identity (a key id, an `X-Client-Id`, an address), hashed to 32
/// bits.
pub fn client_id<T: Hash + ?Sized>(identity: &T) -> u32 {
    let mut h = std::hash::DefaultHasher::new();
    identity.hash(&mut h);
    h.finish() as u32
}

#[derive(Default)]
struct Slot {
    /// `at_ms << 32 | client`.
    when_who: AtomicU64,
    /// `latency_us << 32 | in_flight << 16 | hot << 1 | ok`; 0 = never written.
    figures: AtomicU64,
}

/// The calls of one action.
#[derive(Default)]
pub struct CallLog {
    ring: OnceLock<Box<[Slot]>>,
    next: AtomicU64,
    in_flight: AtomicU16,
    calls: AtomicU64,
    errors: AtomicU64,
    hot: AtomicU64,
    cold_disk: AtomicU64,
    cold_compiled: AtomicU64,
}

impl std::fmt::Debug for CallLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLog")
            .field("totals", &self.totals())
            .finish()
    }
}

/// A call in progress; [`CallLog::end`] records it.
#[derive(Debug)]
pub struct Call {
    log: Arc<CallLog>,
    client: u32,
    in_flight: u16,
    started: Instant,
    done: bool,
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.done {
            // A call abandoned (its client went away): no longer in flight.
            self.log.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

impl Call {
    /// Records the call's end.
    pub fn end(mut self, warmth: Warmth, ok: bool) {
        self.done = true;
        let log = &*self.log;
        log.in_flight.fetch_sub(1, Relaxed);
        let latency_us = self.started.elapsed().as_micros().min(u32::MAX as u128) as u64;
        log.calls.fetch_add(1, Relaxed);
        if !ok {
            log.errors.fetch_add(1, Relaxed);
        }
        let hot = warmth == Warmth::Hot;
        match warmth {
            Warmth::Hot => &log.hot,
            Warmth::Disk => &log.cold_disk,
            Warmth::Compiled => &log.cold_compiled,
        }
        .fetch_add(1, Relaxed);
        let ring = log
            .ring
            .get_or_init(|| (0..RING_SLOTS).map(|_| Slot::default()).collect());
        let slot = &ring[(log.next.fetch_add(1, Relaxed) % RING_SLOTS as u64) as usize];
        slot.when_who
            .store(u64::from(now_ms()) << 32 | u64::from(self.client), Relaxed);
        slot.figures.store(
            latency_us << 32
                | u64::from(self.in_flight) << 16
                | u64::from(hot) << 1
                | u64::from(ok)
                | 1 << 2,
            Relaxed,
        );
    }
}

impl CallLog {
    /// Notes the start of a call by `client`.
    pub fn start(self: &Arc<Self>, client: u32) -> Call {
        let in_flight = self.in_flight.fetch_add(1, Relaxed).saturating_add(1);
        Call {
            log: self.clone(),
            client,
            in_flight,
            started: Instant::now(),
            done: false,
        }
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u16 {
        self.in_flight.load(Relaxed)
    }

    /// Counts since the log began.
    pub fn totals(&self) -> Totals {
        Totals {
            calls: self.calls.load(Relaxed),
            errors: self.errors.load(Relaxed),
            hot: self.hot.load(Relaxed),
            cold_disk: self.cold_disk.load(Relaxed),
            cold_compiled: self.cold_compiled.load(Relaxed),
        }
    }

    /// The calls in the ring, oldest slots first (not sorted by time).
    pub fn observations(&self) -> Vec<Observation> {
        let Some(ring) = self.ring.get() else {
            return Vec::new();
        };
        ring.iter()
            .filter_map(|slot| {
                let figures = slot.figures.load(Relaxed);
                if figures == 0 {
                    return None;
                }
                let when_who = slot.when_who.load(Relaxed);
                Some(Observation {
                    at_ms: (when_who >> 32) as u32,
                    client: when_who as u32,
                    in_flight: (figures >> 16) as u16,
                    hot: figures & 2 != 0,
                    ok: figures & 1 != 0,
                    latency_us: (figures >> 32) as u32,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_calls_and_counts() {
        let log = Arc::new(CallLog::default());
        assert!(log.observations().is_empty());
        let a = log.start(client_id("a"));
        let b = log.start(client_id("b"));
        assert_eq!(log.in_flight(), 2);
        a.end(Warmth::Disk, true);
        b.end(Warmth::Hot, false);
        assert_eq!(log.in_flight(), 0);
        let t = log.totals();
        assert_eq!((t.calls, t.errors, t.hot, t.cold_disk), (2, 1, 1, 1));
        let o = log.observations();
        assert_eq!(o.len(), 2);
        assert_eq!(
            (o[0].client, o[0].in_flight, o[0].hot, o[0].ok),
            (client_id("a"), 1, false, true)
        );
        assert_eq!(
            (o[1].client, o[1].in_flight, o[1].hot, o[1].ok),
            (client_id("b"), 2, true, false)
        );
    }

    #[test]
    fn the_ring_keeps_the_latest_calls() {
        let log = Arc::new(CallLog::default());
        for i in 0..(RING_SLOTS as u32 + 10) {
            log.start(i).end(Warmth::Hot, true);
        }
        let o = log.observations();
        assert_eq!(o.len(), RING_SLOTS);
        assert!(o.iter().all(|o| o.client >= 10));
        assert_eq!(log.totals().calls, RING_SLOTS as u64 + 10);
    }

    #[test]
    fn an_abandoned_call_leaves_the_flight() {
        let log = Arc::new(CallLog::default());
        drop(log.start(1));
        assert_eq!(log.in_flight(), 0);
        assert_eq!(log.totals().calls, 0);
    }
}
