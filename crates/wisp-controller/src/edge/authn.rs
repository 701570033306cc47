//! Who sent a request: API keys for the API, `require-whisk-auth` for web
//! actions. Credentials wisp checks are its own: [`web`] removes them from the
//! request before it reaches a guest.

use http::{HeaderMap, header};
use wisp_api::{WEB_SECRET_HEADER, WebAuth};

use crate::error::ApiError;
use crate::keys::{Caller, KeyRing, constant_time_eq};

/// The caller a request's `Authorization` header identifies.
pub fn authenticate(keys: &KeyRing, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "this resource requires authentication: send the API key (ID:SECRET) with HTTP Basic auth",
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| keys.check(v))
        .ok_or_else(|| ApiError::unauthorized("the supplied API key is not valid"))
}

/// Authenticates the caller of a namespace's resource; `_` is the caller's own
/// namespace, another namespace is refused.
pub fn authorize(keys: &KeyRing, headers: &HeaderMap, namespace: &str) -> Result<Caller, ApiError> {
    let caller = authenticate(keys, headers)?;
    if namespace == "_" || namespace == caller.namespace {
        Ok(caller)
    } else {
        Err(ApiError::forbidden(format!(
            "the API key has no access to namespace '{namespace}'"
        )))
    }
}

/// Enforces a web action's `require-whisk-auth`, then removes the credential it
/// checked from `headers`, so the guest never sees it. Returns the key id when a
/// key was presented.
pub fn web(
    keys: &KeyRing,
    headers: &mut HeaderMap,
    auth: &WebAuth,
    namespace: &str,
) -> Result<Option<String>, ApiError> {
    match auth {
        WebAuth::None => Ok(None),
        WebAuth::Key => {
            let caller = authenticate(keys, headers)?;
            if caller.namespace != namespace {
                return Err(ApiError::forbidden(
                    "this web action needs a key of its own namespace",
                ));
            }
            headers.remove(header::AUTHORIZATION);
            Ok(Some(caller.key_id))
        }
        WebAuth::Secret(secret) => {
            let given = headers
                .get(WEB_SECRET_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if !constant_time_eq(given, secret.as_bytes()) {
                return Err(ApiError::unauthorized(
                    "this web action needs the right X-Require-Whisk-Auth header",
                ));
            }
            headers.remove(WEB_SECRET_HEADER);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use http::HeaderValue;

    fn basic(key: &str) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(key)
        ))
        .unwrap()
    }

    #[test]
    fn web_credentials_are_checked_then_removed() {
        let keys = KeyRing::new("root:s3cret".parse().unwrap(), Vec::new());
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, basic("root:s3cret"));
        h.insert("x-other", HeaderValue::from_static("kept"));
        assert_eq!(
            web(&keys, &mut h, &WebAuth::Key, "guest")
                .unwrap()
                .as_deref(),
            Some("root")
        );
        assert!(!h.contains_key(header::AUTHORIZATION));
        assert!(h.contains_key("x-other"));

        let mut h = HeaderMap::new();
        h.insert(WEB_SECRET_HEADER, HeaderValue::from_static("pw"));
        h.insert(header::AUTHORIZATION, basic("someone:else"));
        assert!(web(&keys, &mut h, &WebAuth::Secret("pw".into()), "guest").is_ok());
        assert!(!h.contains_key(WEB_SECRET_HEADER));
        // A header wisp did not check is the guest's own business.
        assert!(h.contains_key(header::AUTHORIZATION));

        let mut h = HeaderMap::new();
        h.insert(WEB_SECRET_HEADER, HeaderValue::from_static("wrong"));
        let e = web(&keys, &mut h, &WebAuth::Secret("pw".into()), "guest").unwrap_err();
        assert_eq!(e.status, http::StatusCode::UNAUTHORIZED);

        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, basic("root:s3cret"));
        let e = web(&keys, &mut h, &WebAuth::Key, "team").unwrap_err();
        assert_eq!(e.status, http::StatusCode::FORBIDDEN);
    }
}
