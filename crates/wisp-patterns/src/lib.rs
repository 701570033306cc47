//! Access patterns, live: every call of an action is noted in its [`CallLog`]
//! ([`tracker`]); each action's recent calls are classified as the paper's SCMA,
//! MCSA, MCMA or idle ([`classify`]); a [`KeepPolicy`] ([`policy`]) turns the
//! patterns into what stays in memory and which actions get instance slots
//! reserved, and the [`keeper`] applies it once a second.
//!
//! The crate knows nothing of HTTP or wasm: the server supplies views of its
//! actions ([`Actions`]) and the invoker's residency (what is hot, evict,
//! reserve: [`Residency`]).
//!
//! ```
//! use std::sync::Arc;
//! use wisp_api::{Pattern, Warmth};
//! use wisp_patterns::{CallLog, classify, client_id, now_ms};
//! let log = Arc::new(CallLog::default());
//! for _ in 0..3 {
//!     log.start(client_id("one client")).end(Warmth::Hot, true);
//! }
//! let c = classify::classify(&log.observations(), now_ms(), 60_000);
//! assert_eq!(c.pattern, Pattern::Scma);
//! ```

pub mod classify;
pub mod keeper;
pub mod policy;
pub mod tracker;

pub use classify::Observation;
pub use keeper::{Actions, Residency, keep_once, spawn_keeper, stats};
pub use policy::{KeepPolicy, PatternPolicy, Resident};
pub use tracker::{CallLog, client_id, now_ms};
