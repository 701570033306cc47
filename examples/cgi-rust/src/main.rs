//! A CGI function (WASI preview1 command): request facts from the environment,
//! body on stdin, CGI headers then the body on stdout.

use std::io::{Read, Write};

fn main() {
    let method = std::env::var("REQUEST_METHOD").unwrap_or_default();
    let path = std::env::var("PATH_INFO").unwrap_or_default();
    let query = std::env::var("QUERY_STRING").unwrap_or_default();
    let mut body = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut body);

    if query.contains("log") {
        // stdout is the response: a CGI function logs on stderr.
        eprintln!("cgi logged {path}");
    }
    let mut out = std::io::stdout().lock();
    if path == "/teapot" {
        let _ = write!(out, "Status: 418 I'm a teapot\r\nContent-Type: text/plain\r\n\r\nshort and stout\n");
        return;
    }
    let _ = write!(out, "Content-Type: text/plain\r\nX-Powered-By: wisp-cgi\r\n\r\n");
    if query.contains("env") {
        // Every environment variable the function was given.
        for (k, v) in std::env::vars() {
            let _ = writeln!(out, "{k}={v}");
        }
        return;
    }
    let _ = writeln!(out, "method={method} path={path} query={query} body_bytes={}", body.len());
    if !body.is_empty() {
        let _ = out.write_all(&body);
    }
}
