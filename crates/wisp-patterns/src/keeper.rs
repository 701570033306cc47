//! The keeper: once a second it classifies every action's recent calls and
//! applies the [`KeepPolicy`]: templates over the memory budget are evicted,
//! reservations resized. It sees the server only through two small traits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wisp_api::{Pattern, Stats, stats::Memory};

use crate::classify;
use crate::policy::{KeepPolicy, Resident};
use crate::tracker::{self, CallLog};

/// How often the keeper applies the policy.
pub const KEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The server's actions, as the keeper sees them.
pub trait Actions: Send + Sync {
    /// One action.
    type Action: Send + Sync;
    /// Every deployed action now.
    fn actions(&self) -> Vec<Arc<Self::Action>>;
    /// The hash of the module it runs (templates are shared by module).
    fn module_hash<'a>(&self, action: &'a Self::Action) -> &'a str;
    /// Its call log.
    fn calls<'a>(&self, action: &'a Self::Action) -> &'a CallLog;
}

/// What the invoker holds for the actions: templates in memory and reserved
/// instance slots.
pub trait Residency<A>: Send + Sync {
    /// Instances that can run at once (the pool).
    fn capacity(&self) -> usize;
    /// Every template in memory: its module hash and bytes of compiled code.
    fn hot(&self) -> Vec<(String, usize)>;
    /// Drops a template from memory (its compiled code stays on disk).
    fn evict(&self, hash: &str);
    /// Slots reserved for an action now.
    fn reserved(&self, action: &A) -> usize;
    /// Sets an action's reservation to `n` slots (0: none).
    fn reserve(&self, action: &A, n: usize);
}

/// A window in milliseconds on the tracker's clock.
pub fn window_ms(window: Duration) -> u32 {
    window.as_millis().min(u128::from(u32::MAX)) as u32
}

/// Applies the policy once: resizes reservations and evicts templates over
/// `budget` bytes of compiled code.
pub fn keep_once<S>(server: &S, policy: &dyn KeepPolicy, window: Duration, budget: usize)
where
    S: Actions + Residency<<S as Actions>::Action>,
{
    let window = window_ms(window);
    let actions = server.actions();
    let now = tracker::now_ms();
    // The strongest pattern (see `Pattern`'s order) and the latest call of each
    // module.
    let mut by_hash: HashMap<&str, (Pattern, Option<u32>)> = HashMap::new();
    let mut traffic = Vec::with_capacity(actions.len());
    for action in &actions {
        let observations = server.calls(action).observations();
        let c = classify::classify(&observations, now, window);
        let idle_ms = observations.iter().map(|o| now.wrapping_sub(o.at_ms)).min();
        let entry = by_hash
            .entry(server.module_hash(action))
            .or_insert((Pattern::Idle, None));
        entry.0 = entry.0.max(c.pattern);
        entry.1 = entry.1.into_iter().chain(idle_ms).min();
        traffic.push(c);
    }
    let wanted = policy.reserve(&traffic, server.capacity());
    for (action, want) in actions.iter().zip(wanted) {
        if want != server.reserved(action) {
            server.reserve(action, want);
        }
    }
    let resident: Vec<Resident> = server
        .hot()
        .into_iter()
        .map(|(hash, code_bytes)| {
            let (pattern, idle_ms) = by_hash
                .get(hash.as_str())
                .copied()
                .unwrap_or((Pattern::Idle, None));
            Resident {
                hash,
                code_bytes,
                pattern,
                idle_ms,
            }
        })
        .collect();
    let evict = policy.evict(&resident, budget);
    if !evict.is_empty() {
        tracing::debug!("evicting {} templates over the memory budget", evict.len());
    }
    for hash in evict {
        server.evict(&hash);
    }
}

/// Runs [`keep_once`] every [`KEEP_INTERVAL`], for ever.
pub fn spawn_keeper<S>(
    server: Arc<S>,
    policy: Arc<dyn KeepPolicy>,
    window: Duration,
    budget: usize,
) -> tokio::task::JoinHandle<()>
where
    S: Actions + Residency<<S as Actions>::Action> + 'static,
{
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(KEEP_INTERVAL).await;
            keep_once(&*server, &*policy, window, budget);
        }
    })
}

/// The stats view of one action: its pattern over `window`, the figures it was
/// decided from, its totals and latencies.
pub fn stats(
    namespace: &str,
    name: &str,
    calls: &CallLog,
    window: Duration,
    memory: Memory,
    reserved_slots: usize,
) -> Stats {
    let now = tracker::now_ms();
    let window_ms = window_ms(window);
    // The window's calls, for the latencies too.
    let observations: Vec<classify::Observation> = calls
        .observations()
        .into_iter()
        .filter(|o| classify::in_window(o, now, window_ms))
        .collect();
    let c = classify::classify(&observations, now, window_ms);
    Stats {
        namespace: namespace.to_string(),
        name: name.to_string(),
        pattern: c.pattern,
        window_seconds: window.as_secs_f64(),
        figures: c.figures,
        sampled_calls: tracker::RING_SLOTS,
        calls: calls.totals(),
        in_flight: calls.in_flight(),
        latency_ms: classify::latencies(&observations),
        memory,
        reserved_slots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use wisp_api::Warmth;

    type Action = (String, Arc<CallLog>);

    /// Actions with their own modules, and a residency that records what the
    /// keeper asks of it.
    struct Fake {
        actions: Vec<Arc<Action>>,
        hot: Vec<(String, usize)>,
        evicted: Mutex<Vec<String>>,
        reserved: Mutex<HashMap<String, usize>>,
    }

    impl Actions for Fake {
        type Action = Action;
        fn actions(&self) -> Vec<Arc<Action>> {
            self.actions.clone()
        }
        fn module_hash<'a>(&self, a: &'a Action) -> &'a str {
            &a.0
        }
        fn calls<'a>(&self, a: &'a Action) -> &'a CallLog {
            &a.1
        }
    }

    impl Residency<Action> for Fake {
        fn capacity(&self) -> usize {
            64
        }
        fn hot(&self) -> Vec<(String, usize)> {
            self.hot.clone()
        }
        fn evict(&self, hash: &str) {
            self.evicted.lock().unwrap().push(hash.to_string());
        }
        fn reserved(&self, a: &Action) -> usize {
            self.reserved
                .lock()
                .unwrap()
                .get(&a.0)
                .copied()
                .unwrap_or(0)
        }
        fn reserve(&self, a: &Action, n: usize) {
            self.reserved.lock().unwrap().insert(a.0.clone(), n);
        }
    }

    #[test]
    fn the_keeper_reserves_for_mcsa_and_evicts_idle_over_budget() {
        let busy: Arc<Action> = Arc::new(("busy".into(), Arc::default()));
        let idle: Arc<Action> = Arc::new(("idle".into(), Arc::default()));
        // Six clients calling once each, all in flight together: MCSA, peak 6.
        let calls: Vec<_> = (0..6u32).map(|client| busy.1.start(client)).collect();
        for c in calls {
            c.end(Warmth::Hot, true);
        }
        let server = Fake {
            actions: vec![busy, idle],
            hot: vec![("busy".into(), 10), ("idle".into(), 10)],
            evicted: Mutex::default(),
            reserved: Mutex::default(),
        };
        keep_once(&server, &crate::PatternPolicy, Duration::from_secs(60), 10);
        assert_eq!(server.reserved.lock().unwrap().get("busy"), Some(&6));
        assert_eq!(server.reserved.lock().unwrap().get("idle"), None);
        assert_eq!(*server.evicted.lock().unwrap(), ["idle"]);
    }
}
