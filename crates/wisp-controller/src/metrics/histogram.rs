//! A latency histogram made of atomics: an observation is two relaxed
//! additions (its bucket and the sum), no lock. The count is the sum of the
//! buckets, read at scrape time, so a scrape always sees a count that matches
//! its buckets.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the buckets, in nanoseconds: 10 µs to 30 s. A hello call
/// runs in tens of microseconds, a cold start takes milliseconds, the longest
/// time limit is minutes; 14 bounds keep a histogram at 17 series.
pub const BOUNDS_NS: [u64; 14] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    10_000_000,
    50_000_000,
    250_000_000,
    1_000_000_000,
    5_000_000_000,
    30_000_000_000,
];

/// Buckets: one per bound, then `+Inf`.
pub const BUCKETS: usize = BOUNDS_NS.len() + 1;

/// Observations of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

/// A histogram's values at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistogramValues {
    /// Observations per bucket (not cumulative), the last one `+Inf`.
    pub buckets: [u64; BUCKETS],
    /// Sum of the observations, nanoseconds.
    pub sum_ns: u64,
}

/// The bucket a duration of `ns` nanoseconds falls in.
fn bucket(ns: u64) -> usize {
    BOUNDS_NS
        .iter()
        .position(|&b| ns <= b)
        .unwrap_or(BOUNDS_NS.len())
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(ns)].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Its values now.
    pub fn values(&self) -> HistogramValues {
        HistogramValues {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            sum_ns: self.sum_ns.load(Relaxed),
        }
    }
}

impl HistogramValues {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Adds `other`'s observations to these.
    pub fn add(&mut self, other: &HistogramValues) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.sum_ns = self.sum_ns.wrapping_add(other.sum_ns);
    }

    /// `(upper bound in seconds, observations)` per bucket, as the encoder
    /// takes them (it makes them cumulative); the last bound is `+Inf`.
    pub fn seconds(&self) -> [(f64, u64); BUCKETS] {
        std::array::from_fn(|i| {
            let bound = BOUNDS_NS
                .get(i)
                .map_or(f64::INFINITY, |&ns| ns as f64 / 1e9);
            (bound, self.buckets[i])
        })
    }

    /// The sum in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_increasing_and_inclusive() {
        assert!(BOUNDS_NS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(10_000), 0);
        assert_eq!(bucket(10_001), 1);
        assert_eq!(bucket(30_000_000_000), BOUNDS_NS.len() - 1);
        assert_eq!(bucket(u64::MAX), BOUNDS_NS.len());
    }

    #[test]
    fn observations_land_in_their_bucket_and_sum() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(20));
        h.observe(Duration::from_micros(20));
        h.observe(Duration::from_secs(100));
        let v = h.values();
        assert_eq!(v.count(), 3);
        assert_eq!(v.buckets[1], 2);
        assert_eq!(v.buckets[BUCKETS - 1], 1);
        assert_eq!(v.sum_ns, 100_000_040_000);
        let s = v.seconds();
        assert_eq!(s[0].0, 1e-5);
        assert_eq!(s[BUCKETS - 2].0, 30.0);
        assert!(s[BUCKETS - 1].0.is_infinite());
        let mut total = v;
        total.add(&v);
        assert_eq!(total.count(), 6);
    }
}
