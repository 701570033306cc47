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
