//! The classifier: a window of observed calls → the action's access pattern.
//!
//! Pure and IO-free. The rules, with the paper's definitions, are in
//! `docs/access-patterns.md`:
//!
//! - no call in the window → [`Pattern::Idle`];
//! - one client, at least two calls → [`Pattern::Scma`];
//! - otherwise, fewer than [`REPEAT_CALLS_PER_CLIENT`] calls per client on
//!   average (most calls are their client's first) → [`Pattern::Mcsa`];
//! - otherwise → [`Pattern::Mcma`].

use std::collections::HashMap;

use wisp_api::{Classification, Latencies, Pattern, stats::Figures};

/// Mean calls per client from which clients count as calling again (MCMA
/// rather than MCSA): halfway between one call each (pure single access) and
/// two calls each (every client's second call can reuse what its first warmed).
pub const REPEAT_CALLS_PER_CLIENT: f64 = 1.5;

/// One observed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// When it ended, in milliseconds on the tracker's clock.
    pub at_ms: u32,
    /// Who called (a hash of the caller's identity).
    pub client: u32,
    /// Calls of the action in flight when it started, itself included.
    pub in_flight: u16,
    /// Whether its compiled code and template were in memory.
    pub hot: bool,
    /// Whether it succeeded.
    pub ok: bool,
    /// How long it took, in microseconds.
    pub latency_us: u32,
}

/// Whether a call ended within `window_ms` before `now_ms` (inclusive; the
/// clock wraps).
pub fn in_window(o: &Observation, now_ms: u32, window_ms: u32) -> bool {
    now_ms.wrapping_sub(o.at_ms) <= window_ms
}

/// Classifies the observations that ended within `window_ms` before `now_ms`
/// (on the same wrapping millisecond clock).
pub fn classify(observations: &[Observation], now_ms: u32, window_ms: u32) -> Classification {
    let recent: Vec<&Observation> = observations
        .iter()
        .filter(|o| in_window(o, now_ms, window_ms))
        .collect();
    let calls = recent.len();
    let mut per_client: HashMap<u32, usize> = HashMap::new();
    for o in &recent {
        *per_client.entry(o.client).or_default() += 1;
    }
    let clients = per_client.len();
    let top = per_client.values().copied().max().unwrap_or(0);
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let calls_per_client = ratio(calls, clients);
    let pattern = if calls == 0 {
        Pattern::Idle
    } else if clients == 1 && calls >= 2 {
        Pattern::Scma
    } else if calls_per_client < REPEAT_CALLS_PER_CLIENT {
        Pattern::Mcsa
    } else {
        Pattern::Mcma
    };
    Classification {
        pattern,
        figures: Figures {
            calls,
            clients,
            calls_per_client,
            top_client_share: ratio(top, calls),
            peak_concurrency: recent.iter().map(|o| o.in_flight).max().unwrap_or(0),
            hot_share: ratio(recent.iter().filter(|o| o.hot).count(), calls),
        },
    }
}

/// Nearest-rank percentiles of the latencies (`None` without calls).
pub fn latencies(observations: &[Observation]) -> Option<Latencies> {
    let mut us: Vec<u32> = observations.iter().map(|o| o.latency_us).collect();
    if us.is_empty() {
        return None;
    }
    us.sort_unstable();
    let rank = |p: f64| {
        let i = ((p / 100.0) * us.len() as f64).ceil() as usize;
        f64::from(us[i.clamp(1, us.len()) - 1]) / 1000.0
    };
    Some(Latencies {
        p50: rank(50.0),
        p90: rank(90.0),
        p99: rank(99.0),
        max: rank(100.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(at_ms: u32, client: u32) -> Observation {
        Observation {
            at_ms,
            client,
            in_flight: 1,
            hot: true,
            ok: true,
            latency_us: 100,
        }
    }

    /// `clients` clients making `each` calls, all within the window.
    fn traffic(clients: u32, each: u32) -> Vec<Observation> {
        (0..clients)
            .flat_map(|c| (0..each).map(move |i| call(1_000 + c * 10 + i, c)))
            .collect()
    }

    #[test]
    fn no_calls_is_idle() {
        let c = classify(&[], 5_000, 60_000);
        assert_eq!(c.pattern, Pattern::Idle);
        assert_eq!(
            (
                c.figures.calls,
                c.figures.clients,
                c.figures.calls_per_client
            ),
            (0, 0, 0.0)
        );
    }

    #[test]
    fn calls_outside_the_window_do_not_count() {
        let old = traffic(1, 25);
        assert_eq!(classify(&old, 70_000, 60_000).pattern, Pattern::Idle);
        // The window's edge is inclusive.
        let edge = [call(10_000, 1), call(10_000, 1)];
        assert_eq!(classify(&edge, 70_000, 60_000).pattern, Pattern::Scma);
        assert_eq!(classify(&edge, 70_001, 60_000).pattern, Pattern::Idle);
    }

    #[test]
    fn one_client_calling_again_is_scma() {
        assert_eq!(
            classify(&traffic(1, 2), 2_000, 60_000).pattern,
            Pattern::Scma
        );
        let c = classify(&traffic(1, 25), 2_000, 60_000);
        assert_eq!(c.pattern, Pattern::Scma);
        assert_eq!(
            (
                c.figures.calls,
                c.figures.clients,
                c.figures.top_client_share
            ),
            (25, 1, 1.0)
        );
    }

    #[test]
    fn a_single_call_is_single_access() {
        assert_eq!(
            classify(&traffic(1, 1), 2_000, 60_000).pattern,
            Pattern::Mcsa
        );
    }

    #[test]
    fn many_clients_once_each_is_mcsa() {
        let c = classify(&traffic(25, 1), 2_000, 60_000);
        assert_eq!(c.pattern, Pattern::Mcsa);
        assert_eq!(
            (
                c.figures.calls,
                c.figures.clients,
                c.figures.calls_per_client
            ),
            (25, 25, 1.0)
        );
    }

    #[test]
    fn the_repeat_threshold_separates_mcsa_from_mcma() {
        // 4 clients, 5 calls: 1.25 per client → MCSA.
        let mut o = traffic(4, 1);
        o.push(call(1_500, 0));
        assert_eq!(classify(&o, 2_000, 60_000).pattern, Pattern::Mcsa);
        // 2 clients, 3 calls: exactly 1.5 per client → MCMA.
        let o = [call(1, 1), call(2, 1), call(3, 2)];
        assert_eq!(classify(&o, 2_000, 60_000).pattern, Pattern::Mcma);
        // Just under 1.5 → MCSA.
        let mut o = traffic(100, 1);
        o.extend((0..49).map(|i| call(1_900, i)));
        let c = classify(&o, 2_000, 60_000);
        assert!(c.figures.calls_per_client < REPEAT_CALLS_PER_CLIENT);
        assert_eq!(c.pattern, Pattern::Mcsa);
    }

    #[test]
    fn many_clients_many_calls_is_mcma() {
        let c = classify(&traffic(5, 5), 2_000, 60_000);
        assert_eq!(c.pattern, Pattern::Mcma);
        assert_eq!(c.figures.calls_per_client, 5.0);
        assert_eq!(c.figures.top_client_share, 0.2);
    }

    #[test]
    fn figures_count_concurrency_and_hot_calls() {
        let mut o = traffic(3, 1);
        o[1].in_flight = 7;
        o[2].hot = false;
        let c = classify(&o, 2_000, 60_000);
        assert_eq!(c.figures.peak_concurrency, 7);
        assert!((c.figures.hot_share - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_clock_may_wrap() {
        let o = [call(u32::MAX - 5, 1), call(u32::MAX, 1)];
        assert_eq!(classify(&o, 10, 60_000).pattern, Pattern::Scma);
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(latencies(&[]), None);
        let o: Vec<Observation> = (1..=100)
            .map(|i| Observation {
                latency_us: i * 1000,
                ..call(0, 0)
            })
            .collect();
        let l = latencies(&o).unwrap();
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        let one = latencies(&o[..1]).unwrap();
        assert_eq!((one.p50, one.max), (1.0, 1.0));
    }
}
