//! What a request carries: query parameters, paging, flags and capped bodies.
//! Pure but for [`body`], which reads.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Body;
use wisp_invoker::{BoxError, body};

use crate::error::ApiError;

/// What a request body may be: hyper's `Incoming` from a connection, or any
/// in-memory body in tests.
pub trait RequestBody: Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static {}

impl<B> RequestBody for B where B: Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static
{}

/// The raw value of a query parameter, percent-decoded.
pub fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<Cow<'a, str>> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

/// `+` and `%XX` decoded; a malformed escape is kept as it is.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') && !s.contains('+') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// A path segment's text, `%XX` decoded (`+` is itself in a path); `None`
/// when an escape is malformed or the text is not UTF-8.
pub fn path_text(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a flag is set: `?key`, `?key=` or `?key=true`.
pub fn flag(query: Option<&str>, key: &str) -> bool {
    matches!(query_param(query, key).as_deref(), Some("true") | Some(""))
}

/// A non-negative integer parameter, `default` when absent; anything else is a
/// 400 naming it.
pub fn number(query: Option<&str>, key: &str, default: u64) -> Result<u64, ApiError> {
    match query_param(query, key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(format!("'{key}' must be a non-negative integer, got '{v}'"))
        }),
    }
}

/// OpenWhisk's page size: the default page when absent or 0, at most this many.
pub const PAGE_DEFAULT: u64 = 30;
/// The largest page.
pub const PAGE_MAX: u64 = 200;

/// `limit` and `skip` of a listing, as OpenWhisk reads them.
pub fn page(query: Option<&str>) -> Result<(usize, usize), ApiError> {
    let limit = match number(query, "limit", PAGE_DEFAULT)? {
        0 => PAGE_DEFAULT,
        n => n.min(PAGE_MAX),
    };
    let skip = number(query, "skip", 0)?;
    Ok((limit as usize, usize::try_from(skip).unwrap_or(usize::MAX)))
}

/// The media type of a request (`Content-Type` without parameters, lowercase).
pub fn media_type(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Reads a request's whole body: refused with 413 when it declares or reaches
/// more than `limit`, 408 when it does not arrive within `timeout`.
pub async fn whole<B: RequestBody>(
    req: http::Request<B>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    body::check_declared(req.headers(), limit)?;
    Ok(body::read_body(req.into_body(), limit, timeout).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("end%2"), "end%2");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
    }

    #[test]
    fn path_text_is_decoded_strictly() {
        assert_eq!(path_text("a%2Fb+c").as_deref(), Some("a/b+c"));
        assert_eq!(path_text("%e2%82%ac").as_deref(), Some("€"));
        assert_eq!(path_text("bad%zz"), None);
        assert_eq!(path_text("end%2"), None);
        assert_eq!(path_text("%ff"), None);
    }

    #[test]
    fn query_parameters_and_flags() {
        let q = Some("blocking=true&result&name=a%2Fb&limit=x");
        assert!(flag(q, "blocking") && flag(q, "result"));
        assert!(!flag(q, "other") && !flag(None, "blocking"));
        assert_eq!(query_param(q, "name").as_deref(), Some("a/b"));
        assert!(
            number(q, "limit", 0)
                .unwrap_err()
                .message
                .contains("'limit'")
        );
        assert_eq!(number(q, "skip", 7).unwrap(), 7);
    }

    #[test]
    fn pages_follow_openwhisk() {
        assert_eq!(page(None).unwrap(), (30, 0));
        assert_eq!(page(Some("limit=0&skip=3")).unwrap(), (30, 3));
        assert_eq!(page(Some("limit=1000")).unwrap(), (200, 0));
        assert!(page(Some("skip=-1")).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_queries_never_panic(q in ".{0,64}", key in "[a-z]{0,6}") {
                let _ = query_param(Some(&q), &key);
                let _ = flag(Some(&q), &key);
                let _ = number(Some(&q), &key, 1);
                let _ = page(Some(&q));
            }

            #[test]
            fn decoding_plain_text_is_the_identity(s in "[a-zA-Z0-9._~-]{0,32}") {
                prop_assert_eq!(percent_decode(&s), s.as_str());
            }
        }
    }
}
