//! Access patterns, live: every call is tracked ([`tracker`]), each action's
//! recent calls are classified as the paper's SCMA / MCSA / MCMA or idle
//! ([`classify`]), and a [`policy`] turns the patterns into what stays in memory
//! and which actions get instance slots reserved. The keeper applies the policy
//! once a second. See `docs/access-patterns.md`.

pub mod classify;
pub mod policy;
pub mod tracker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

pub use classify::{Classification, Observation, Pattern};
pub use policy::{KeepPolicy, PatternPolicy, Resident};
pub use tracker::{CallLog, client_id};

use crate::{Controller, Deployed};

/// How often the keeper applies the policy.
pub const KEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A window in milliseconds on the tracker's clock.
fn window_ms(window: Duration) -> u32 {
    window.as_millis().min(u128::from(u32::MAX)) as u32
}

/// The `stats` view of an action (a wisp extension).
pub fn stats(ctl: &Controller, action: &Deployed) -> Value {
    let window = ctl.config.pattern_window;
    let now = tracker::now_ms();
    let window_ms = window_ms(window);
    // The window's calls, for the latencies too.
    let observations: Vec<Observation> = action
        .calls
        .observations()
        .into_iter()
        .filter(|o| classify::in_window(o, now, window_ms))
        .collect();
    let c = classify::classify(&observations, now, window_ms);
    let hot = ctl.invoker.cached(&action.record.module_hash);
    let reserved = action.reserved_slots();
    json!({
        "namespace": action.record.namespace,
        "name": action.record.name,
        "pattern": c.pattern,
        "window_seconds": window.as_secs_f64(),
        "figures": {
            "calls": c.calls,
            "clients": c.clients,
            "calls_per_client": c.calls_per_client,
            "top_client_share": c.top_client_share,
            "peak_concurrency": c.peak_concurrency,
            "hot_share": c.hot_share,
            "sampled_calls": tracker::RING_SLOTS,
        },
        "calls": action.calls.totals(),
        "in_flight": action.calls.in_flight(),
        "latency_ms": classify::latencies(&observations),
        "memory": {
            "hot": hot.is_some(),
            "code_bytes": hot.map(|p| p.code_bytes),
        },
        "reserved_slots": reserved,
    })
}

/// Applies the policy once: evicts templates over the budget and resizes
/// reservations.
pub async fn keep_once(ctl: &Arc<Controller>) {
    let window = window_ms(ctl.config.pattern_window);
    let actions: Vec<Arc<Deployed>> = match ctl.actions.read() {
        Ok(map) => map.values().cloned().collect(),
        Err(_) => return,
    };
    let now = tracker::now_ms();
    // The strongest pattern (see `Pattern`'s order) and the latest call of each
    // module.
    let mut by_hash: HashMap<&str, (Pattern, Option<u32>)> = HashMap::new();
    let capacity = ctl.invoker.capacity();
    let mut reservable = capacity / 2;
    for action in &actions {
        let observations = action.calls.observations();
        let c = classify::classify(&observations, now, window);
        let idle_ms = observations.iter().map(|o| now.wrapping_sub(o.at_ms)).min();
        let entry = by_hash
            .entry(action.record.module_hash.as_str())
            .or_insert((Pattern::Idle, None));
        entry.0 = entry.0.max(c.pattern);
        entry.1 = entry.1.into_iter().chain(idle_ms).min();
        let want = ctl.policy.reserve(&c, capacity).min(reservable);
        reservable -= want.min(reservable);
        if want != action.reserved_slots() {
            let new = (want > 0).then(|| ctl.invoker.reserve(want));
            if let Some(old) = action.set_reservation(new) {
                let invoker = ctl.invoker.clone();
                tokio::spawn(async move { invoker.release(old).await });
            }
        }
    }
    let resident: Vec<Resident> = ctl
        .invoker
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
    let evict = ctl.policy.evict(&resident, ctl.config.hot_budget);
    if !evict.is_empty() {
        tracing::debug!("evicting {} templates over the memory budget", evict.len());
    }
    for hash in evict {
        ctl.invoker.evict(&hash);
    }
}

/// Runs [`keep_once`] every [`KEEP_INTERVAL`], for ever.
pub fn spawn_keeper(ctl: &Arc<Controller>) -> tokio::task::JoinHandle<()> {
    let ctl = ctl.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(KEEP_INTERVAL).await;
            keep_once(&ctl).await;
        }
    })
}
