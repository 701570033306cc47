//! Access patterns and the stats view of an action (`GET .../actions/{name}/stats`).

use serde::{Deserialize, Serialize};

/// One of the paper's access patterns, or idle. Ordered by how much traffic it
/// stands for (idle, MCSA, SCMA, MCMA): a module shared by several actions takes
/// the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Pattern {
    /// No calls in the window.
    #[serde(rename = "idle")]
    Idle,
    /// Multiple Client, Single Access.
    #[serde(rename = "MCSA")]
    Mcsa,
    /// Single Client, Multiple Access.
    #[serde(rename = "SCMA")]
    Scma,
    /// Multiple Client, Multiple Access.
    #[serde(rename = "MCMA")]
    Mcma,
}

impl Pattern {
    /// `idle`, `SCMA`, `MCSA` or `MCMA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Idle => "idle",
            Pattern::Scma => "SCMA",
            Pattern::Mcsa => "MCSA",
            Pattern::Mcma => "MCMA",
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Pattern {
    type Err = String;

    /// Any case: `scma`, `SCMA`, `idle`, ...
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "idle" => Ok(Pattern::Idle),
            "scma" => Ok(Pattern::Scma),
            "mcsa" => Ok(Pattern::Mcsa),
            "mcma" => Ok(Pattern::Mcma),
            _ => Err(format!(
                "unknown access pattern '{s}': use scma, mcsa or mcma"
            )),
        }
    }
}

/// A pattern and the figures it was decided from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The pattern.
    pub pattern: Pattern,
    /// What it was decided from.
    pub figures: Figures,
}

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// Call counts since the action was deployed (or the server started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Every recorded call.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Served with compiled code and template in memory.
    pub hot: u64,
    /// Compiled code loaded from the disk cache first.
    pub cold_disk: u64,
    /// Compiled from the binary first.
    pub cold_compiled: u64,
}

/// The stats view of one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its pattern over the window.
    pub pattern: Pattern,
    /// The window, in seconds.
    pub window_seconds: f64,
    /// What the pattern was decided from.
    pub figures: Figures,
    /// Calls the tracker keeps per action: the window holds at most this many.
    pub sampled_calls: usize,
    /// Counts since it was deployed.
    pub calls: Totals,
    /// Calls in flight now.
    pub in_flight: u16,
    /// Latencies of the window's calls (absent without calls).
    pub latency_ms: Option<Latencies>,
    /// Whether its compiled code is in memory.
    pub memory: Memory,
    /// Instance slots the policy set aside for it.
    pub reserved_slots: usize,
}

/// The figures of a window of calls an access pattern is decided from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Calls in the window.
    pub calls: usize,
    /// Distinct clients.
    pub clients: usize,
    /// `calls / clients` (0 when idle).
    pub calls_per_client: f64,
    /// Share of the calls made by the busiest client.
    pub top_client_share: f64,
    /// Most calls in flight at once.
    pub peak_concurrency: u16,
    /// Share of the calls served hot.
    pub hot_share: f64,
}

/// `memory` of [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// Compiled code and template are in memory.
    pub hot: bool,
    /// Bytes of compiled code, when hot.
    pub code_bytes: Option<usize>,
}
