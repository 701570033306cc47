//! Every failure at the HTTP edge becomes an [`ApiError`]: a status, a stable
//! machine-readable code and a clear message, sent as
//! `{"error": "...", "code": "..."}`. Internal details are logged, not leaked.
//!
//! An invocation's failure is mapped once, by [`failure`]: refused before it ran
//! (429, 413, 500: no activation), or failed while running (an activation with
//! its [`ActivationStatus`], answered 502 or 504).

use http::StatusCode;
use wisp_api::{ActivationStatus, ResolveError};
use wisp_invoker::{BodyError, InvokeError};

/// An error answered to an API caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code for programs (`not_found`, `conflict`, ...).
    pub code: &'static str,
    /// Message for people.
    pub message: String,
    /// Seconds after which a retry may succeed (429 and 503).
    pub retry_after: Option<u32>,
    /// Why the request was turned away unserved, for 429 and 503 (counted in
    /// `wisp_throttled_total` where every error becomes its response).
    pub throttled: Option<Throttled>,
}

/// Why a request was turned away unserved: the `reason` label of
/// `wisp_throttled_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// 429: the action runs its `limits.instances` and its queue is full or
    /// the wait timed out.
    ActionCap,
    /// 429: the shared pool is busy and its queue is full.
    PoolFull,
    /// 429: no slot of the shared pool came free within `--queue-timeout`.
    QueueTimeout,
    /// 503: the server is draining.
    Draining,
}

impl Throttled {
    /// Every reason, in the order of [`Throttled::index`].
    pub const ALL: [Throttled; 4] = [
        Throttled::ActionCap,
        Throttled::PoolFull,
        Throttled::QueueTimeout,
        Throttled::Draining,
    ];

    /// Its position in [`Throttled::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Throttled::ActionCap => "action_cap",
            Throttled::PoolFull => "pool_full",
            Throttled::QueueTimeout => "queue_timeout",
            Throttled::Draining => "draining",
        }
    }
}

impl From<wisp_invoker::Throttle> for Throttled {
    fn from(t: wisp_invoker::Throttle) -> Self {
        match t {
            wisp_invoker::Throttle::ActionLimit(_) => Throttled::ActionCap,
            wisp_invoker::Throttle::PoolFull => Throttled::PoolFull,
            wisp_invoker::Throttle::QueueTimeout => Throttled::QueueTimeout,
        }
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            throttled: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 401: no or wrong credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403: valid credentials, not allowed here.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 405: known path, wrong method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not supported on this path",
        )
    }
    /// 409: already exists.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 408: the request body did not arrive in time.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message)
    }
    /// 413: body over the cap.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }
    /// 507: a namespace's key-value quota is used up.
    pub fn quota(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded", message)
    }
    /// 415: a body type this route does not take.
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }
    /// 429: throttled, for `reason`.
    pub fn too_many(reason: Throttled, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message);
        e.retry_after = Some(1);
        e.throttled = Some(reason);
        e
    }
    /// 503: the server is draining; another node (or this one, restarted)
    /// will answer.
    pub fn draining() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "the server is shutting down; retry on another node or later",
        );
        e.retry_after = Some(1);
        e.throttled = Some(Throttled::Draining);
        e
    }
    /// 502: the action failed.
    pub fn action_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "action_error", message)
    }
    /// 504: the action ran out of time (web calls).
    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message)
    }
    /// 500: the server's secret key is unusable, or a stored secret does not
    /// open with it; the message names the key file and the action.
    pub fn secret_key(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "secret_key", message)
    }
    /// 500: wisp itself failed; the cause is logged.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error; see the server log",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> wisp_api::ErrorBody {
        wisp_api::ErrorBody {
            error: self.message.clone(),
            code: self.code.to_string(),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(limit) => ApiError::too_large(limit),
            BodyError::Timeout(_) => ApiError::request_timeout(e.to_string()),
            BodyError::Failed(_) => ApiError::bad_request(e.to_string()),
        }
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        ApiError::bad_request(e.message)
    }
}

/// How an invocation that did not produce a result ends.
#[derive(Debug)]
pub enum Failure {
    /// It never ran: throttled, its body unreadable, or wisp failed. No
    /// activation is recorded for a call that was refused in the open.
    Refused(ApiError),
    /// It ran and failed: recorded with this status, answered with this error.
    Failed {
        /// Its activation's status.
        status: ActivationStatus,
        /// The answer (502, or 504 when it ran out of time).
        error: ApiError,
    },
}

/// An invocation error as an answer, whether the call ran or not (for callers
/// that record nothing, such as a refused admission).
impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        match failure(e) {
            Failure::Refused(error) | Failure::Failed { error, .. } => error,
        }
    }
}

/// The one mapping from an invocation error to what the caller sees.
pub fn failure(e: InvokeError) -> Failure {
    match e {
        InvokeError::Throttled(t) => Failure::Refused(ApiError::too_many(t.into(), t.to_string())),
        InvokeError::Request(b) => Failure::Refused(b.into()),
        InvokeError::Internal(m) => Failure::Refused(ApiError::internal(m)),
        InvokeError::Timeout(_) => Failure::Failed {
            status: ActivationStatus::DeveloperError,
            error: ApiError::gateway_timeout(e.to_string()),
        },
        other => Failure::Failed {
            status: ActivationStatus::DeveloperError,
            error: ApiError::action_failed(other.to_string()),
        },
    }
}

impl From<wisp_registry::RegistryError> for ApiError {
    fn from(e: wisp_registry::RegistryError) -> Self {
        match e {
            wisp_registry::RegistryError::Conflict(what) => ApiError::conflict(format!(
                "{what} already exists; use overwrite=true to update it"
            )),
            wisp_registry::RegistryError::NoVersion(why) => ApiError::not_found(why),
            other => ApiError::internal(other),
        }
    }
}

impl From<wisp_registry::KvError> for ApiError {
    fn from(e: wisp_registry::KvError) -> Self {
        use wisp_registry::KvError;
        match e {
            KvError::NoSuchStore { .. } => ApiError::not_found(e.to_string()),
            KvError::StoreExists(_) => ApiError::conflict(e.to_string()),
            KvError::Invalid(why) => ApiError::bad_request(why),
            KvError::TooLarge(why) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", why)
            }
            KvError::Quota { .. } => ApiError::quota(e.to_string()),
            KvError::Storage(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_errors_map_once() {
        let status = |e| match failure(e) {
            Failure::Refused(a) => (a.status, None),
            Failure::Failed { status, error } => (error.status, Some(status)),
        };
        assert_eq!(
            status(InvokeError::Throttled(wisp_invoker::Throttle::PoolFull)),
            (StatusCode::TOO_MANY_REQUESTS, None)
        );
        let reason = |t| match failure(InvokeError::Throttled(t)) {
            Failure::Refused(a) => a.throttled,
            Failure::Failed { .. } => None,
        };
        assert_eq!(
            reason(wisp_invoker::Throttle::ActionLimit(1)),
            Some(Throttled::ActionCap)
        );
        assert_eq!(
            reason(wisp_invoker::Throttle::QueueTimeout),
            Some(Throttled::QueueTimeout)
        );
        assert_eq!(ApiError::draining().throttled, Some(Throttled::Draining));
        for (i, t) in Throttled::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
        }
        assert_eq!(
            status(InvokeError::Request(BodyError::TooLarge(5))),
            (StatusCode::PAYLOAD_TOO_LARGE, None)
        );
        assert_eq!(
            status(InvokeError::Request(BodyError::Timeout(
                std::time::Duration::from_secs(1)
            ))),
            (StatusCode::REQUEST_TIMEOUT, None)
        );
        assert_eq!(
            status(InvokeError::Timeout(5)),
            (
                StatusCode::GATEWAY_TIMEOUT,
                Some(ActivationStatus::DeveloperError)
            )
        );
        assert_eq!(
            status(InvokeError::Trap("x".into())),
            (
                StatusCode::BAD_GATEWAY,
                Some(ActivationStatus::DeveloperError)
            )
        );
        assert_eq!(
            status(InvokeError::Internal("x".into())),
            (StatusCode::INTERNAL_SERVER_ERROR, None)
        );
    }
}
