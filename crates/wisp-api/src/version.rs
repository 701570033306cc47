//! Versions of an action: every successful deploy stores an immutable version,
//! and a rollback makes an older one current again.

use serde::{Deserialize, Serialize};

use crate::action::{LimitsView, Shape};

/// One stored version of an action, as `GET .../actions/{name}/versions` lists
/// it (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionView {
    /// Its semantic version (`0.0.N`).
    pub version: String,
    /// SHA-256 of the module it runs, lowercase hex.
    pub module_sha256: String,
    /// Size of that module in bytes.
    pub module_size: u64,
    /// `http` or `command`.
    pub shape: Shape,
    /// When it was deployed, ms since the Unix epoch.
    pub deployed: u64,
    /// Its limits.
    pub limits: LimitsView,
    /// Whether it is the version served now.
    pub current: bool,
}

/// The body of `POST .../actions/{name}/rollback`; without a version, the one
/// before the current one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to make current.
    #[serde(default)]
    pub version: Option<String>,
}
