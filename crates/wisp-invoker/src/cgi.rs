//! The CGI/WAGI and JSON conventions for WASI preview1 command modules.
//!
//! Pure functions, no I/O: what environment a command sees for a web request, how
//! its stdout becomes an HTTP response, and how its stdout becomes a JSON result.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The facts of a web request a command module is told about, borrowed from the
/// request itself.
#[derive(Debug, Clone, Copy)]
pub struct CgiRequest<'a> {
    /// HTTP method.
    pub method: &'a http::Method,
    /// Request headers (credentials wisp consumed are already gone).
    pub headers: &'a HeaderMap,
    /// Query string without the `?`.
    pub query: &'a str,
    /// Path below the action's route, always starting with `/`.
    pub path_info: &'a str,
    /// The route the action was reached under (e.g. `/fn/hello`).
    pub script_name: &'a str,
    /// Length of the request body in bytes.
    pub content_length: usize,
    /// Peer address, when known.
    pub remote_addr: Option<std::net::SocketAddr>,
}

/// The host name and port a request was addressed to (its `Host` header).
pub fn host_and_port(headers: &HeaderMap) -> (&str, u16) {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    match host.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') => match p.parse::<u16>() {
            Ok(port) => (h, port),
            Err(_) => (host, 80),
        },
        _ => (host, 80),
    }
}

/// The CGI/1.1 environment (RFC 3875) plus `HTTP_*` variables for each header.
/// `Authorization` and `Cookie` are never passed, as CGI servers do not.
pub fn cgi_env(f: &CgiRequest<'_>) -> Vec<(String, String)> {
    let (server_name, server_port) = host_and_port(f.headers);
    let mut env = vec![
        ("GATEWAY_INTERFACE".into(), "CGI/1.1".into()),
        ("SERVER_PROTOCOL".into(), "HTTP/1.1".into()),
        ("SERVER_SOFTWARE".into(), "wisp".into()),
        ("SERVER_NAME".into(), server_name.to_string()),
        ("SERVER_PORT".into(), server_port.to_string()),
        ("REQUEST_METHOD".into(), f.method.to_string()),
        ("SCRIPT_NAME".into(), f.script_name.to_string()),
        ("PATH_INFO".into(), f.path_info.to_string()),
        ("QUERY_STRING".into(), f.query.to_string()),
        ("CONTENT_LENGTH".into(), f.content_length.to_string()),
        (
            "REQUEST_URI".into(),
            if f.query.is_empty() {
                format!("{}{}", f.script_name, f.path_info)
            } else {
                format!("{}{}?{}", f.script_name, f.path_info, f.query)
            },
        ),
    ];
    if let Some(ct) = f.headers.get(http::header::CONTENT_TYPE)
        && let Ok(ct) = ct.to_str()
    {
        env.push(("CONTENT_TYPE".into(), ct.to_string()));
    }
    if let Some(addr) = f.remote_addr {
        env.push(("REMOTE_ADDR".into(), addr.ip().to_string()));
        env.push(("REMOTE_PORT".into(), addr.port().to_string()));
    }
    for (name, value) in f.headers {
        // Credentials are never forwarded to guests.
        if name == http::header::AUTHORIZATION || name == http::header::COOKIE {
            continue;
        }
        if name == http::header::CONTENT_TYPE || name == http::header::CONTENT_LENGTH {
            continue;
        }
        let Ok(v) = value.to_str() else { continue };
        let key = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        if let Some(existing) = env.iter_mut().find(|(k, _)| *k == key) {
            existing.1.push_str(", ");
            existing.1.push_str(v);
        } else {
            env.push((key, v.to_string()));
        }
    }
    env
}

/// A response a command produced on stdout.
#[derive(Debug, Clone, PartialEq)]
pub struct CgiResponse {
    /// Status from a `Status:` header, 302 for a bare `Location:`, else 200.
    pub status: StatusCode,
    /// Headers the command wrote.
    pub headers: HeaderMap,
    /// Everything after the blank line.
    pub body: Bytes,
}

/// Splits `stdout` into CGI headers and body.
///
/// When stdout does not start with a well-formed header block (`Name: value`
/// lines, then a blank line) the whole output is the body, served as
/// `text/plain`; that way a command that only prints still answers web calls.
pub fn parse_cgi_output(stdout: Bytes) -> CgiResponse {
    match split_headers(&stdout) {
        Some((header_lines, body_start)) => {
            let mut headers = HeaderMap::new();
            let mut status = None;
            for (name, value) in header_lines {
                if name.eq_ignore_ascii_case("status") {
                    let code = value.split_whitespace().next().unwrap_or("");
                    status = code
                        .parse::<u16>()
                        .ok()
                        .and_then(|c| StatusCode::from_u16(c).ok());
                    continue;
                }
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    headers.append(n, v);
                }
            }
            let status = status.unwrap_or(if headers.contains_key(http::header::LOCATION) {
                StatusCode::FOUND
            } else {
                StatusCode::OK
            });
            CgiResponse {
                status,
                headers,
                body: stdout.slice(body_start..),
            }
        }
        None => {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            CgiResponse {
                status: StatusCode::OK,
                headers,
                body: stdout,
            }
        }
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The header lines and where the body starts, if `out` begins with a header block.
fn split_headers(out: &[u8]) -> Option<(Vec<(&str, &str)>, usize)> {
    let mut headers = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &out[pos..];
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        if line.is_empty() {
            return if headers.is_empty() {
                None
            } else {
                Some((headers, pos))
            };
        }
        let line = std::str::from_utf8(line).ok()?;
        let (name, value) = line.split_once(':')?;
        if !is_token(name) {
            return None;
        }
        headers.push((name, value.trim()));
    }
}

/// The JSON result of an API invocation: the last non-empty stdout line, which must
/// be a JSON object (OpenWhisk results are objects). Earlier lines are logs.
pub fn json_result(stdout: &[u8]) -> Result<serde_json::Value, String> {
    let text = String::from_utf8_lossy(stdout);
    let Some(last) = text.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
        return Err("the action produced no output; its result must be a JSON object on the last line of stdout".into());
    };
    match serde_json::from_str::<serde_json::Value>(last) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err("the action's result must be a JSON object".into()),
        Err(e) => Err(format!(
            "the last line of the action's stdout is not JSON ({e}): {}",
            truncate(last, 200)
        )),
    }
}

/// Splits captured output into log lines (without the final result line when
/// `skip_result` is set).
pub fn log_lines(stdout: &[u8], skip_result: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(stdout);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if skip_result && let Some(idx) = lines.iter().rposition(|l| !l.trim().is_empty()) {
        lines.truncate(idx);
    }
    lines
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(f: &CgiRequest<'_>) -> std::collections::HashMap<String, String> {
        cgi_env(f).into_iter().collect()
    }

    #[test]
    fn cgi_environment_carries_request_facts() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert("x-thing", HeaderValue::from_static("a"));
        headers.append("x-thing", HeaderValue::from_static("b"));
        headers.insert("authorization", HeaderValue::from_static("Basic secret"));
        headers.insert("host", HeaderValue::from_static("example.com:8080"));
        let f = CgiRequest {
            method: &http::Method::POST,
            path_info: "/a/b",
            query: "x=1",
            script_name: "/fn/echo",
            headers: &headers,
            content_length: 5,
            remote_addr: Some("127.0.0.1:4000".parse().unwrap()),
        };
        let env = env_of(&f);
        assert_eq!(env["REQUEST_METHOD"], "POST");
        assert_eq!(env["PATH_INFO"], "/a/b");
        assert_eq!(env["QUERY_STRING"], "x=1");
        assert_eq!(env["CONTENT_TYPE"], "text/plain");
        assert_eq!(env["CONTENT_LENGTH"], "5");
        assert_eq!(env["HTTP_X_THING"], "a, b");
        assert_eq!(env["REQUEST_URI"], "/fn/echo/a/b?x=1");
        assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
        assert_eq!(
            (env["SERVER_NAME"].as_str(), env["SERVER_PORT"].as_str()),
            ("example.com", "8080")
        );
        assert!(!env.contains_key("HTTP_AUTHORIZATION"));
        assert!(!env.contains_key("HTTP_CONTENT_TYPE"));
    }

    #[test]
    fn host_header_split() {
        let mut h = HeaderMap::new();
        assert_eq!(host_and_port(&h), ("localhost", 80));
        h.insert(
            http::header::HOST,
            HeaderValue::from_static("example.com:8080"),
        );
        assert_eq!(host_and_port(&h), ("example.com", 8080));
        h.insert(http::header::HOST, HeaderValue::from_static("example.com"));
        assert_eq!(host_and_port(&h), ("example.com", 80));
        h.insert(http::header::HOST, HeaderValue::from_static("[::1]:81"));
        assert_eq!(host_and_port(&h), ("[::1]", 81));
        h.insert(http::header::HOST, HeaderValue::from_static("x:notaport"));
        assert_eq!(host_and_port(&h), ("x:notaport", 80));
    }

    #[test]
    fn cgi_output_with_headers() {
        let r = parse_cgi_output(Bytes::from_static(
            b"Content-Type: text/html\r\nStatus: 201 Created\r\nX-A: 1\r\n\r\n<p>hi</p>",
        ));
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.headers["content-type"], "text/html");
        assert_eq!(r.headers["x-a"], "1");
        assert_eq!(&r.body[..], b"<p>hi</p>");
    }

    #[test]
    fn location_alone_redirects() {
        let r = parse_cgi_output(Bytes::from_static(b"Location: /elsewhere\n\n"));
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.headers["location"], "/elsewhere");
        assert!(r.body.is_empty());
    }

    #[test]
    fn output_without_headers_is_plain_body() {
        for out in [
            &b"hello world\n"[..],
            b"{\"greeting\": \"hi\"}\n\nmore",
            b"no newline at all",
            b"\nstarts blank",
        ] {
            let r = parse_cgi_output(Bytes::copy_from_slice(out));
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(&r.body[..], out);
            assert!(
                r.headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain")
            );
        }
    }

    #[test]
    fn bad_status_falls_back_to_ok() {
        let r = parse_cgi_output(Bytes::from_static(b"Status: banana\n\nx"));
        assert_eq!(r.status, StatusCode::OK);
    }

    #[test]
    fn json_result_is_last_non_empty_line() {
        let v = json_result(b"log one\n{\"a\":1}\n\n").unwrap();
        assert_eq!(v, serde_json::json!({"a": 1}));
        assert_eq!(log_lines(b"log one\n{\"a\":1}\n\n", true), ["log one"]);
    }

    #[test]
    fn json_result_errors_are_clear() {
        assert!(json_result(b"").unwrap_err().contains("no output"));
        assert!(json_result(b"[1,2]").unwrap_err().contains("JSON object"));
        assert!(json_result(b"{nope").unwrap_err().contains("not JSON"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_output_parses_into_a_response(out in prop::collection::vec(any::<u8>(), 0..512)) {
                let r = parse_cgi_output(Bytes::from(out.clone()));
                // The body is always a suffix of the output.
                prop_assert!(out.ends_with(&r.body));
            }

            #[test]
            fn header_blocks_are_split_from_their_body(
                headers in prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,12}", "[ -~]{0,20}"), 1..5),
                body in prop::collection::vec(any::<u8>(), 0..64),
            ) {
                let mut out = Vec::new();
                for (k, v) in &headers {
                    out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&body);
                let r = parse_cgi_output(Bytes::from(out));
                prop_assert_eq!(&r.body[..], &body[..]);
            }

            #[test]
            fn json_results_never_panic(out in prop::collection::vec(any::<u8>(), 0..512)) {
                match json_result(&out) {
                    Ok(v) => prop_assert!(v.is_object()),
                    Err(e) => prop_assert!(!e.is_empty()),
                }
                let _ = log_lines(&out, true);
            }

            #[test]
            fn host_headers_never_panic(host in "[ -~]{0,40}") {
                let mut h = HeaderMap::new();
                if let Ok(v) = HeaderValue::from_str(&host) {
                    h.insert(http::header::HOST, v);
                }
                let _ = host_and_port(&h);
            }
        }
    }
}
