//! Responses: JSON bodies, and the one mapping from an [`ApiError`] to a response.

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use wisp_invoker::{Body, full_body};

use crate::error::ApiError;

/// What every handler returns.
pub type ApiResult = Result<Response<Body>, ApiError>;

/// A response whose body is already-encoded JSON.
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full_body(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A JSON response of any serializable value.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    json_bytes(status, body)
}

/// The response of an error: its JSON body, `WWW-Authenticate` on 401 and
/// `Retry-After` on 429 and 503.
pub fn error(e: ApiError) -> Response<Body> {
    let mut r = json(e.status, &e.body());
    if e.status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"wisp\""),
        );
    }
    if let Some(secs) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// Adds `x-openwhisk-activation-id` to a response.
pub fn with_activation_id(mut r: Response<Body>, id: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert("x-openwhisk-activation-id", v);
    }
    r
}
