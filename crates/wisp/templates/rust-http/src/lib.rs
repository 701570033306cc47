//! {{name}}: a `wasi:http/proxy` component; every call runs in a fresh instance.
//!
//! - `GET /any/path?x=1`: a greeting that names the path it was asked for
//! - `POST /any/path`: the request body back, with its content type
//!
//! An API call (`wisp invoke {{name}} --param name=edge`) is a POST of the
//! parameters as JSON to `/`, and the response body is its result: here, the
//! parameters back.

use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse,
    ResponseOutparam,
};

struct Function;

wasip2::http::proxy::export!(Function);

impl wasip2::exports::http::incoming_handler::Guest for Function {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = request.method();
        if matches!(method, Method::Post) {
            let content_type =
                header(&request, "content-type").unwrap_or_else(|| "application/octet-stream".into());
            let body = read_body(&request);
            respond(out, 200, &content_type, &body);
            return;
        }
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        let text = format!("Hello from {{name}}! You asked for {} {path}\n", method_name(&method));
        respond(out, 200, "text/plain; charset=utf-8", text.as_bytes());
    }
}

fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(name) => name,
    }
}

fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    let values = request.headers().get(name);
    values.first().map(|v| String::from_utf8_lossy(v).into_owned())
}

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut data = Vec::new();
    let Ok(body) = request.consume() else { return data };
    if let Ok(stream) = body.stream() {
        // An error is the end of the body.
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            data.extend_from_slice(&chunk);
        }
    }
    IncomingBody::finish(body);
    data
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
