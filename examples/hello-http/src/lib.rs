//! A `wasi:http/proxy` component, exactly as it would run under `wasmtime serve`.
//!
//! - `/`            → a greeting (any method)
//! - `POST /echo`   → the request body back, with its content type
//! - `GET /info`    → method, path and the route prefix wisp passes in a header
//! - `/log`         → writes a line to stdout and one to stderr (activation logs)
//! - `GET /fetch?url=http://host:port/path` → fetches the URL with outgoing HTTP
//!   and answers its status and body (or the error, when the host denies it)
//! - `GET /flood?kb=N` → streams N KiB of body
//! - anything else  → 404

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest,
    OutgoingResponse, ResponseOutparam, Scheme,
};

struct Hello;

wasip2::http::proxy::export!(Hello);

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        let path_only = path.split('?').next().unwrap_or("/").to_string();
        match (request.method(), path_only.as_str()) {
            (_, "/") => respond(out, 200, "text/plain", b"Hello from wisp!\n"),
            (_, "/log") => {
                println!("a line on stdout");
                eprintln!("a line on stderr");
                respond(out, 200, "text/plain", b"logged\n");
            }
            (_, "/echo") => {
                let ct = header(&request, "content-type").unwrap_or_else(|| "application/octet-stream".into());
                let body = read_body(&request);
                respond(out, 200, &ct, &body);
            }
            (m, "/info") => {
                let prefix = header(&request, "x-wisp-route-prefix").unwrap_or_default();
                let text = format!(
                    "{{\"method\":\"{}\",\"path\":\"{}\",\"prefix\":\"{}\"}}\n",
                    method_name(&m),
                    path,
                    prefix
                );
                respond(out, 200, "application/json", text.as_bytes());
            }
            (_, "/headers") => {
                // Every request header, one `name: value` per line.
                let mut text = String::new();
                for (name, value) in request.headers().entries() {
                    text.push_str(&format!("{name}: {}\n", String::from_utf8_lossy(&value)));
                }
                respond(out, 200, "text/plain", text.as_bytes());
            }
            (_, "/fetch") => {
                let url = query_value(&path, "url").unwrap_or_default();
                match fetch(&url) {
                    Ok((status, body)) => {
                        let mut text = format!("status {status}\n").into_bytes();
                        text.extend_from_slice(&body);
                        respond(out, 200, "text/plain", &text)
                    }
                    Err(e) => respond(out, 502, "text/plain", format!("fetch failed: {e}\n").as_bytes()),
                }
            }
            (_, "/flood") => {
                let kb: usize = query_value(&path, "kb").and_then(|v| v.parse().ok()).unwrap_or(1);
                let body = vec![b'z'; kb * 1024];
                respond(out, 200, "application/octet-stream", &body)
            }
            _ => respond(out, 404, "text/plain", format!("not found: {path}\n").as_bytes()),
        }
    }
}

fn method_name(m: &Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Head => "HEAD".into(),
        Method::Patch => "PATCH".into(),
        Method::Options => "OPTIONS".into(),
        Method::Other(s) => s.clone(),
        _ => "OTHER".into(),
    }
}

fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    let values = request.headers().get(name);
    values
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(body) = request.consume() else { return out };
    {
        let Ok(stream) = body.stream() else { return out };
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(_) => break,
            }
        }
    }
    IncomingBody::finish(body);
    out
}

fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::new();
    let _ = headers.set("content-type", &[content_type.as_bytes().to_vec()]);
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

fn query_value(path: &str, key: &str) -> Option<String> {
    let q = path.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%3A", ":").replace("%2F", "/"))
    })
}

/// GETs `http://host[:port]/path` with wasi:http's outgoing handler.
fn fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let req = OutgoingRequest::new(Fields::new());
    req.set_method(&Method::Get).map_err(|()| "bad method")?;
    req.set_scheme(Some(&Scheme::Http)).map_err(|()| "bad scheme")?;
    req.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    req.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    let future = outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = future
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let mut body = Vec::new();
    if let Ok(incoming) = response.consume() {
        if let Ok(stream) = incoming.stream() {
            while let Ok(chunk) = stream.blocking_read(64 * 1024) {
                body.extend_from_slice(&chunk);
            }
        }
    }
    Ok((status, body))
}
