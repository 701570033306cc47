//! wisp's benchmark workloads as a `wasi:http/proxy` component.
//!
//! - `/plate`, `/classify`, `/resize` (any method): runs the workload on the
//!   request body (an empty body uses the embedded sample) and answers 200
//!   with its output (JSON, or a PNG for resize); 400 for an undecodable body
//! - anything else: 404
//!
//! Every answer to a workload route carries `X-Compute-Ns`: the nanoseconds the
//! library call took, read from `wasi:clocks/monotonic-clock` around it (the
//! body read and the response write are not included).
//!
//! The workload is the path's last segment, so the routes work both as wisp
//! passes them (relative to the action's route: `/plate`) and under a prefix
//! (`/some/prefix/plate`).

use wasip2::clocks::monotonic_clock;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Workloads;

wasip2::http::proxy::export!(Workloads);

impl wasip2::exports::http::incoming_handler::Guest for Workloads {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        let name = workload_name(&path);
        if !workloads::WORKLOADS.contains(&name) {
            let text = format!(
                "not found: {path}\nroutes: /plate, /classify, /resize (the request body is the input)\n"
            );
            return respond(out, 404, "text/plain", text.as_bytes(), None);
        }
        let body = read_body(&request);
        let start = monotonic_clock::now();
        let result = workloads::run(name, &body);
        let compute_ns = monotonic_clock::now().saturating_sub(start);
        match result {
            Ok((content_type, output)) => {
                respond(out, 200, content_type, &output, Some(compute_ns))
            }
            Err(e) => respond(
                out,
                400,
                "text/plain",
                format!("{e}\n").as_bytes(),
                Some(compute_ns),
            ),
        }
    }
}

/// The last segment of the path, without query or trailing slash.
fn workload_name(path: &str) -> &str {
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(body) = request.consume() else {
        return out;
    };
    {
        let Ok(stream) = body.stream() else {
            return out;
        };
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            out.extend_from_slice(&chunk);
        }
    }
    IncomingBody::finish(body);
    out
}

fn respond(
    out: ResponseOutparam,
    status: u16,
    content_type: &str,
    body: &[u8],
    compute_ns: Option<u64>,
) {
    let headers = Fields::new();
    let _ = headers.set("content-type", &[content_type.as_bytes().to_vec()]);
    if let Some(ns) = compute_ns {
        let _ = headers.set("x-compute-ns", &[ns.to_string().into_bytes()]);
    }
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
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

#[cfg(test)]
mod tests {
    use super::workload_name;

    #[test]
    fn names_from_paths() {
        assert_eq!(workload_name("/plate"), "plate");
        assert_eq!(workload_name("/plate/?x=1"), "plate");
        assert_eq!(workload_name("/api/demo/classify?x"), "classify");
        assert_eq!(workload_name("/"), "");
        assert_eq!(workload_name(""), "");
    }
}
