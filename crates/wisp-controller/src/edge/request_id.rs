//! `X-Request-Id`: taken from the request when it is a sensible id (a proxy in
//! front set it), else made here; sent back on the response and carried by
//! every log line of the request.

use http::{HeaderMap, HeaderValue};

/// The header, as proxies and tracing tools name it.
pub const HEADER: &str = "x-request-id";

/// Longest id accepted from a caller.
pub const MAX_LEN: usize = 128;

/// The caller's id when valid (1 to [`MAX_LEN`] characters of letters, digits
/// and `-_.:/+=@`), else a new one of 16 hex digits.
pub fn take(headers: &HeaderMap) -> HeaderValue {
    match headers.get(HEADER) {
        Some(v) if valid(v.as_bytes()) => v.clone(),
        _ => generate(),
    }
}

/// Whether a caller's id is taken as it is.
pub fn valid(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b))
}

/// A new id: unique, not secret.
fn generate() -> HeaderValue {
    let mut digits = [0u8; 16];
    let word = crate::activations::salt();
    let hex = b"0123456789abcdef";
    for (i, d) in digits.iter_mut().enumerate() {
        *d = hex[((word >> (60 - 4 * i)) & 0xF) as usize];
    }
    // 16 hex digits are a valid header value.
    HeaderValue::from_bytes(&digits).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_id_is_kept_and_anything_else_replaced() {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("abc-123_x.y:z"));
        assert_eq!(take(&h), "abc-123_x.y:z");
        for bad in ["", "has space", "<script>", &"x".repeat(MAX_LEN + 1)] {
            h.insert(HEADER, HeaderValue::from_str(bad).unwrap());
            let id = take(&h);
            assert_ne!(id, bad);
            assert_eq!(id.len(), 16);
        }
        h.remove(HEADER);
        assert_ne!(take(&h), take(&h));
    }
}
