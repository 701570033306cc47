//! Counting without sharing a cache line between cores: each thread adds to
//! its own shard, and a reader sums the shards. wisp serves on one thread per
//! core, and every call of an action, from any of them, adds to its counters:
//! one counter would bounce its cache line between the cores on every call.
//! Threads take shards in turn, the first time they count; with more threads
//! than [`SHARDS`], some share one, which is still correct, only slower.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

/// Shards of a counter: as many serving threads as an edge node has cores
/// count without sharing.
pub const SHARDS: usize = 4;

/// A value alone on its cache lines (128 bytes: the adjacent-line prefetcher
/// pulls lines in pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

/// The shard the calling thread counts in.
pub fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// A gauge that goes up and down on any thread: a call may start on one and
/// end on another, so a shard alone can be negative; the sum is right.
#[derive(Debug, Default)]
pub struct Gauge([Padded<AtomicIsize>; SHARDS]);

impl Gauge {
    /// Adds one, in this thread's shard.
    pub fn inc(&self) {
        self.0[shard()].0.fetch_add(1, Relaxed);
    }

    /// Takes one away, in this thread's shard.
    pub fn dec(&self) {
        self.0[shard()].0.fetch_sub(1, Relaxed);
    }

    /// The sum of the shards (never below zero, even read mid-update).
    pub fn get(&self) -> usize {
        let sum: isize = self.0.iter().map(|s| s.0.load(Relaxed)).sum();
        sum.max(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_sums_what_threads_added_and_removed_anywhere() {
        let g = std::sync::Arc::new(Gauge::default());
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        g.inc();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(g.get(), 6000);
        // Ended on another thread than the one that started it.
        for _ in 0..6000 {
            g.dec();
        }
        assert_eq!(g.get(), 0);
        assert!(shard() < SHARDS);
        assert_eq!(std::mem::align_of::<Padded<u8>>(), 128);
    }
}
