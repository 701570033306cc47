//! A `wasi:http/proxy` component, exactly as it would run under `wasmtime serve`.
//!
//! - `/`            → a greeting (any method)
//! - `POST /echo`   → the request body back, with its content type
//! - `GET /info`    → method, path and the route prefix wisp passes in a header
//! - anything else  → 404

use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse,
    ResponseOutparam,
};

struct Hello;

wasip2::http::proxy::export!(Hello);

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        let path_only = path.split('?').next().unwrap_or("/").to_string();
        match (request.method(), path_only.as_str()) {
            (_, "/") => respond(out, 200, "text/plain", b"Hello from wisp!\n"),
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
