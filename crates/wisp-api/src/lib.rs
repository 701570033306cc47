//! wisp's wire types: what the server sends and the CLI reads, defined once.
//!
//! - [`action`]: the OpenWhisk action document as a client writes it
//!   ([`ActionDoc`]), the resolved record the registry stores ([`ActionRecord`])
//!   and the view the API answers with ([`ActionView`]);
//! - [`resolve`]: the one step from a raw document to a resolved action, against
//!   the server's [`Policy`]; every limit has a documented range and a value
//!   outside it is a [`ResolveError`] naming the field;
//! - [`activation`]: activation statuses, warmth and OpenWhisk's activation record;
//! - [`stats`]: access patterns and the stats view of an action;
//! - [`admin`]: namespaces, keys and asset uploads;
//! - [`kv`]: key-value stores: limits, store lists and key pages;
//! - [`version`]: an action's stored versions and the rollback request;
//! - [`ErrorBody`]: the JSON body of every API error.
//!
//! ```
//! use wisp_api::{ActionDoc, Policy, resolve};
//! let doc: ActionDoc = serde_json::from_str(r#"{"limits": {"timeout": 5000}}"#).unwrap();
//! let spec = resolve::resolve(doc, None, &Policy::default()).unwrap();
//! assert_eq!(spec.limits.timeout, 5000);
//! let bad: ActionDoc = serde_json::from_str(r#"{"limits": {"instances": 4611686018427387904}}"#).unwrap();
//! let err = resolve::resolve(bad, None, &Policy::default()).unwrap_err();
//! assert_eq!(err.field, "limits.instances");
//! ```

pub mod action;
pub mod activation;
pub mod admin;
pub mod events;
pub mod kv;
pub mod resolve;
pub mod stats;
pub mod version;

pub use action::{
    ActionDoc, ActionRecord, ActionView, KeyValue, Limits, Preinitialized, SECRET_MASK, Shape,
    WebAuth,
};
pub use activation::{ActivationStatus, Warmth};
pub use resolve::{ActionSpec, Init, Policy, ResolveError};
pub use stats::{Classification, Latencies, Pattern, Stats, Totals};
pub use version::{RollbackRequest, VersionView};

use serde::{Deserialize, Serialize};

/// Whether `s` is a valid namespace, package, action or key-value store name:
/// letters, digits and `_`, then also `@ . -`, at most 256 characters
/// (OpenWhisk's entity names, without spaces).
pub fn valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => {}
        _ => return false,
    }
    s.len() <= 256
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'.' | b'-'))
}

/// The header a caller names itself with, for the access-pattern tracker (when it
/// presents no key); `wisp load` sends it.
pub const CLIENT_ID_HEADER: &str = "x-client-id";

/// The header carrying a web action's secret (annotation `require-whisk-auth`).
pub const WEB_SECRET_HEADER: &str = "x-require-whisk-auth";

/// The JSON body of every API error: `{"error": "...", "code": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A message for people.
    pub error: String,
    /// A stable code for programs (`not_found`, `conflict`, ...).
    #[serde(default)]
    pub code: String,
}
