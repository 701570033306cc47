//! A `wasi:http/proxy` component that keeps state in wisp's key-value stores
//! (`wasi:keyvalue`) and reads its action's parameters (`wasi:config`).
//!
//! - `POST /count`          → increments `count` in the default store, answers the new value
//! - `GET /kv/{store}/{key}` → the key's value in that store (404 when missing; the
//!   error, such as `access-denied`, with status 403)
//! - `PUT /kv/{store}/{key}` → writes the body there; a refusal (a limit, the quota)
//!   is answered with its message and status 400
//! - `GET /config/{name}`   → the config variable (404 when unset)

wit_bindgen::generate!({
    path: ["../../crates/wisp-invoker/wit/keyvalue", "../../crates/wisp-invoker/wit/config", "wit"],
    world: "wisp:kv-counter/kv-counter",
    generate_all,
});

use wasi::config::store as config;
use wasi::keyvalue::{atomics, store};
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Counter;

wasip2::http::proxy::export!(Counter);

impl wasip2::exports::http::incoming_handler::Guest for Counter {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        let path = path.split('?').next().unwrap_or("/").to_string();
        let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
        let (status, body) = match (request.method(), parts.as_slice()) {
            (Method::Post, ["count"]) => count(),
            (Method::Get, ["kv", bucket, key]) => get(bucket, key),
            (Method::Put, ["kv", bucket, key]) => put(bucket, key, &read_body(&request)),
            (Method::Get, ["config", name]) => match config::get(name) {
                Ok(Some(v)) => (200, v.into_bytes()),
                Ok(None) => (404, format!("no config variable '{name}'\n").into_bytes()),
                Err(e) => (500, format!("{e:?}\n").into_bytes()),
            },
            _ => (404, format!("not found: {path}\n").into_bytes()),
        };
        respond(out, status, &body);
    }
}

fn count() -> (u16, Vec<u8>) {
    let n = store::open("default").and_then(|b| atomics::increment(&b, "count", 1));
    match n {
        Ok(n) => (200, format!("{n}\n").into_bytes()),
        Err(e) => (500, text(&e).into_bytes()),
    }
}

fn get(bucket: &str, key: &str) -> (u16, Vec<u8>) {
    match store::open(bucket).and_then(|b| b.get(key)) {
        Ok(Some(v)) => (200, v),
        Ok(None) => (404, format!("no key '{key}'\n").into_bytes()),
        Err(e) => (403, text(&e).into_bytes()),
    }
}

fn put(bucket: &str, key: &str, value: &[u8]) -> (u16, Vec<u8>) {
    match store::open(bucket).and_then(|b| b.set(key, value)) {
        Ok(()) => (200, b"stored\n".to_vec()),
        Err(e) => (400, text(&e).into_bytes()),
    }
}

/// The error as the guest sees it, one line.
fn text(e: &store::Error) -> String {
    match e {
        store::Error::NoSuchStore => "no-such-store\n".into(),
        store::Error::AccessDenied => "access-denied\n".into(),
        store::Error::Other(why) => format!("{why}\n"),
    }
}

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(body) = request.consume() else { return out };
    {
        let Ok(stream) = body.stream() else { return out };
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            out.extend_from_slice(&chunk);
        }
    }
    IncomingBody::finish(body);
    out
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::new();
    let _ = headers.set("content-type", &[b"text/plain".to_vec()]);
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
