//! The policy: what each access pattern needs, as decisions on memory and
//! instance slots. One small trait, so an operator's own policy can replace it.

use wisp_api::{Classification, Pattern};

/// What a policy sees of one template in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Resident {
    /// Module hash (templates are shared by actions with the same module).
    pub hash: String,
    /// Bytes of compiled code it holds.
    pub code_bytes: usize,
    /// The strongest pattern among the actions using it.
    pub pattern: Pattern,
    /// Milliseconds since its last call ended; `None` if never called in the
    /// tracker's ring.
    pub idle_ms: Option<u32>,
}

/// Decides what stays in memory and what gets reserved.
pub trait KeepPolicy: Send + Sync {
    /// The templates to drop from memory, in order, so that the rest fit in
    /// `budget` bytes of compiled code.
    fn evict(&self, resident: &[Resident], budget: usize) -> Vec<String>;
    /// Instance slots to set aside for each action, given every action's
    /// traffic, out of a pool of `capacity`; one figure per action, in order.
    fn reserve(&self, traffic: &[Classification], capacity: usize) -> Vec<usize>;
}

/// wisp's policy, from the paper's requirement for each pattern:
///
/// - idle templates go first (least recently called first, never-called before
///   them): their compiled code stays on disk, so a later call is a cold start
///   from disk, never a recompile;
/// - then MCSA templates, whose calls each need a new instance anyway;
/// - SCMA and MCMA templates are kept hot: their clients come back. Only if they
///   alone exceed the budget do the least recently called of them go; the budget
///   always wins.
///
/// MCSA actions get instance slots reserved: their recent peak concurrency, at
/// least 2 and at most an eighth of the pool, so a burst of new clients finds
/// free slots even while other actions fill the shared ones. All reservations
/// together stay within half the pool ([`RESERVABLE_SHARE`]), so actions of the
/// other patterns always keep the other half; the first actions asking get
/// theirs in full.
#[derive(Debug, Clone, Copy, Default)]
pub struct PatternPolicy;

/// Most of the pool that reservations may take together: half.
pub const RESERVABLE_SHARE: f64 = 0.5;

/// One MCSA action's reservation before the pool-wide cap: its peak
/// concurrency, between 2 and an eighth of the pool.
fn mcsa_slots(traffic: &Classification, capacity: usize) -> usize {
    usize::from(traffic.figures.peak_concurrency).clamp(2, (capacity / 8).max(2))
}

fn keep_rank(p: Pattern) -> u8 {
    match p {
        Pattern::Idle => 0,
        Pattern::Mcsa => 1,
        Pattern::Scma | Pattern::Mcma => 2,
    }
}

impl KeepPolicy for PatternPolicy {
    fn evict(&self, resident: &[Resident], budget: usize) -> Vec<String> {
        let mut total: usize = resident.iter().map(|r| r.code_bytes).sum();
        if total <= budget {
            return Vec::new();
        }
        let mut order: Vec<&Resident> = resident.iter().collect();
        // Lowest rank first; within a rank, never called first, then the
        // longest idle.
        order.sort_by_key(|r| {
            (
                keep_rank(r.pattern),
                std::cmp::Reverse(r.idle_ms.map_or(u64::MAX, u64::from)),
            )
        });
        let mut out = Vec::new();
        for r in order {
            if total <= budget {
                break;
            }
            total -= r.code_bytes;
            out.push(r.hash.clone());
        }
        out
    }

    fn reserve(&self, traffic: &[Classification], capacity: usize) -> Vec<usize> {
        let mut left = (capacity as f64 * RESERVABLE_SHARE) as usize;
        traffic
            .iter()
            .map(|t| {
                let want = match t.pattern {
                    Pattern::Mcsa => mcsa_slots(t, capacity),
                    _ => 0,
                };
                let granted = want.min(left);
                left -= granted;
                granted
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(hash: &str, pattern: Pattern, idle_ms: Option<u32>) -> Resident {
        Resident {
            hash: hash.into(),
            code_bytes: 10,
            pattern,
            idle_ms,
        }
    }

    #[test]
    fn nothing_goes_within_budget() {
        let all = [r("a", Pattern::Idle, None), r("b", Pattern::Scma, Some(1))];
        assert!(PatternPolicy.evict(&all, 20).is_empty());
    }

    #[test]
    fn idle_first_then_mcsa_then_the_least_recent_kept_ones() {
        let all = [
            r("scma-recent", Pattern::Scma, Some(5)),
            r("mcma-older", Pattern::Mcma, Some(500)),
            r("mcsa", Pattern::Mcsa, Some(1)),
            r("idle-recent", Pattern::Idle, Some(61_000)),
            r("never", Pattern::Idle, None),
            r("idle-old", Pattern::Idle, Some(90_000)),
        ];
        assert_eq!(PatternPolicy.evict(&all, 40), ["never", "idle-old"]);
        assert_eq!(
            PatternPolicy.evict(&all, 20),
            ["never", "idle-old", "idle-recent", "mcsa"]
        );
        assert_eq!(
            PatternPolicy.evict(&all, 0),
            [
                "never",
                "idle-old",
                "idle-recent",
                "mcsa",
                "mcma-older",
                "scma-recent"
            ]
        );
    }

    fn traffic(pattern: Pattern, peak_concurrency: u16) -> Classification {
        let mut c = crate::classify::classify(&[], 0, 1);
        c.pattern = pattern;
        c.figures.peak_concurrency = peak_concurrency;
        c
    }

    #[test]
    fn only_mcsa_reserves_slots_within_bounds() {
        let one = |p, n| PatternPolicy.reserve(&[traffic(p, n)], 256)[0];
        assert_eq!(one(Pattern::Idle, 0), 0);
        assert_eq!(one(Pattern::Mcsa, 1), 2);
        assert_eq!(one(Pattern::Mcsa, 20), 20);
        assert_eq!(one(Pattern::Mcsa, 200), 32);
        assert_eq!(one(Pattern::Scma, 200), 0);
        assert_eq!(one(Pattern::Mcma, 200), 0);
    }

    #[test]
    fn reservations_together_stay_within_half_the_pool() {
        // Five MCSA actions each wanting 32 of 256: the first four get theirs
        // (128 = half), the fifth none; other patterns never take any.
        let all: Vec<_> = (0..5)
            .map(|_| traffic(Pattern::Mcsa, 200))
            .chain([traffic(Pattern::Scma, 9)])
            .collect();
        assert_eq!(PatternPolicy.reserve(&all, 256), [32, 32, 32, 32, 0, 0]);
        // A small pool: an eighth rounds down, the floor of 2 holds until half is gone.
        let small: Vec<_> = (0..3).map(|_| traffic(Pattern::Mcsa, 9)).collect();
        assert_eq!(PatternPolicy.reserve(&small, 8), [2, 2, 0]);
    }
}
