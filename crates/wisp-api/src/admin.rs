//! Namespaces, keys and assets on the wire.

use serde::{Deserialize, Serialize};

/// A namespace and its key ids (`GET /api/v1/admin/namespaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceView {
    /// Its name.
    pub name: String,
    /// The ids of its keys.
    pub keys: Vec<String>,
}

/// A new key, shown once (`PUT /api/v1/admin/namespaces/{ns}`,
/// `POST .../keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    /// The namespace it acts in.
    pub namespace: String,
    /// `ID:SECRET`.
    pub key: String,
}

/// A deleted namespace and what went with it
/// (`DELETE /api/v1/admin/namespaces/{ns}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceDeleted {
    /// Its name.
    pub namespace: String,
    /// Its actions, deleted with every version.
    pub actions: Vec<String>,
    /// The ids of its keys, revoked.
    pub keys: Vec<String>,
    /// Its key-value stores, deleted with their keys.
    pub stores: Vec<String>,
}

/// A revoked key (`DELETE /api/v1/admin/keys/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// Its id.
    pub revoked: String,
    /// The namespace it acted in.
    pub namespace: String,
}

/// An action's replaced assets (`PUT .../actions/{name}/assets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetsView {
    /// The action's namespace.
    pub namespace: String,
    /// The action.
    pub name: String,
    /// What is in `/assets` now.
    pub assets: AssetCount,
}

/// Files and bytes of an asset directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetCount {
    /// Regular files.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// The node at a glance (`GET /api/v1/admin/overview`, server key only): what
/// the dashboard's overview shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// Calls holding an instance slot now.
    pub instances_in_flight: usize,
    /// Instances that may run at once (`--max-instances`).
    pub instance_capacity: usize,
    /// Calls waiting for admission now.
    pub queue_depth: usize,
    /// Calls refused since start, by reason (`pool-full`, …).
    pub throttled: std::collections::BTreeMap<String, u64>,
    /// Bytes of compiled code in memory.
    pub compiled_code_bytes: usize,
    /// Actions deployed on the node.
    pub actions_deployed: usize,
    /// The process's resident memory, bytes, when the system tells.
    pub resident_bytes: Option<u64>,
}
