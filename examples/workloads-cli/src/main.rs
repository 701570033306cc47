//! `workload`: runs one of wisp's benchmark workloads from the command line,
//! natively or as a WASI preview1 command.
//!
//! ```text
//! workload NAME < input > output      NAME: plate, classify or resize;
//!                                     an empty stdin uses the embedded sample
//! workload bench NAME ITERS           runs NAME ITERS times on its embedded
//!                                     sample and prints the time per run
//! ```
//!
//! Without arguments and with `REQUEST_METHOD` set, it is a CGI program (as
//! wisp runs a WASI command for a web call): the workload is the last segment
//! of `PATH_INFO`, the request body the input, and the answer CGI headers and
//! the output (404 for an unknown path, 400 for an undecodable body). A run
//! workload's answer also carries `X-Compute-Ns`, the nanoseconds the library
//! call took (monotonic clock around it).

use std::hint::black_box;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

/// Run once by wisp when the action is deployed (it calls the export
/// `wizer-initialize` and snapshots the instance): parses the classifier's
/// weights, so that every call's fresh instance starts with them parsed.
#[cfg(target_family = "wasm")]
#[unsafe(export_name = "wizer-initialize")]
pub extern "C" fn wizer_initialize() {
    workloads::classify::Net::embedded();
}

const USAGE: &str = "usage: workload NAME < input > output\n       workload bench NAME ITERS\n(NAME: plate, classify, resize)\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd, name, iters] if cmd == "bench" => match iters.parse::<u64>() {
            Ok(n) if n > 0 => bench(name, n),
            _ => Err(format!("bad iteration count {iters:?}\n{USAGE}")),
        },
        [name] if workloads::WORKLOADS.contains(&name.as_str()) => run(name),
        [] if std::env::var_os("REQUEST_METHOD").is_some() => cgi(),
        _ => Err(USAGE.trim_end().to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("workload: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str) -> Result<(), String> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("reading stdin: {e}"))?;
    let (_, output) = workloads::run(name, &input)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&output)
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing stdout: {e}"))
}

fn cgi() -> Result<(), String> {
    let path = std::env::var("PATH_INFO").unwrap_or_default();
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let (head, body) = if workloads::WORKLOADS.contains(&name) {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .map_err(|e| format!("reading stdin: {e}"))?;
        let start = Instant::now();
        let result = workloads::run(name, &input);
        let compute_ns = start.elapsed().as_nanos();
        match result {
            Ok((content_type, output)) => (
                format!("Content-Type: {content_type}\r\nX-Compute-Ns: {compute_ns}\r\n\r\n"),
                output,
            ),
            Err(e) => (
                format!(
                    "Status: 400 Bad Request\r\nContent-Type: text/plain\r\nX-Compute-Ns: {compute_ns}\r\n\r\n"
                ),
                format!("{e}\n").into_bytes(),
            ),
        }
    } else {
        (
            "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n".to_string(),
            format!("not found: {path}\nroutes: /plate, /classify, /resize (the request body is the input)\n")
                .into_bytes(),
        )
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(head.as_bytes())
        .and_then(|()| stdout.write_all(&body))
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing stdout: {e}"))
}

/// Times `iters` runs after one warm-up run (which also parses the
/// classifier's weights once) and prints the mean.
fn bench(name: &str, iters: u64) -> Result<(), String> {
    let (_, first) = workloads::run(name, &[])?;
    let start = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..iters {
        let (_, out) = workloads::run(black_box(name), black_box(&[]))?;
        bytes += black_box(out).len();
    }
    let elapsed = start.elapsed().as_nanos();
    if bytes != first.len() * iters as usize {
        return Err("output changed between runs".into());
    }
    println!(
        "{name} iters={iters} ns_per_iter={}",
        elapsed / u128::from(iters)
    );
    Ok(())
}
