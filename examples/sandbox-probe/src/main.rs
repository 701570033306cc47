//! A hostile JSON action, used by wisp's isolation tests: each `op` tries to
//! reach or exhaust something. It reports what it could do as JSON.
//!
//! ops: read, write, write_mb, remove, list (filesystem), env (environment), alloc
//! (memory bomb), recurse (stack overflow), panic, spin (busy loop), sleep
//! (blocked host call), flood (huge stdout), count (a global, per instance).

use std::io::{Read, Write};

static mut CALLS: u32 = 0;

fn main() {
    let mut input = String::new();
    let _ = std::io::stdin().read_to_string(&mut input);
    let p: serde_json::Value = serde_json::from_str(&input).unwrap_or_default();
    let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let n = |k: &str| p.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let result = match s("op").as_str() {
        "read" => match std::fs::read(s("path")) {
            Ok(b) => serde_json::json!({"ok": true, "bytes": b.len(), "text": String::from_utf8_lossy(&b)}),
            Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
        },
        "write" => match std::fs::write(s("path"), s("data")) {
            Ok(()) => serde_json::json!({"ok": true}),
            Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
        },
        "write_mb" => {
            let chunk = vec![b'x'; 1 << 20];
            let mut written = 0;
            let r = std::fs::File::create(s("path")).and_then(|mut f| {
                for _ in 0..n("mb") {
                    f.write_all(&chunk)?;
                    written += 1;
                }
                Ok(())
            });
            match r {
                Ok(()) => serde_json::json!({"ok": true, "mb": written}),
                Err(e) => serde_json::json!({"ok": false, "mb": written, "error": e.to_string()}),
            }
        }
        "remove" => match std::fs::remove_file(s("path")) {
            Ok(()) => serde_json::json!({"ok": true}),
            Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
        },
        "list" => match std::fs::read_dir(s("path")) {
            Ok(d) => {
                let mut names: Vec<String> =
                    d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                names.sort();
                serde_json::json!({"ok": true, "names": names})
            }
            Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
        },
        "env" => {
            let vars: serde_json::Map<String, serde_json::Value> =
                std::env::vars().map(|(k, v)| (k, v.into())).collect();
            serde_json::json!({"env": vars})
        }
        "alloc" => {
            let mut blocks = Vec::new();
            for _ in 0..n("mb") {
                let mut b = vec![0u8; 1 << 20];
                b[0] = 1;
                blocks.push(b);
            }
            serde_json::json!({"ok": true, "mb": blocks.len()})
        }
        "recurse" => serde_json::json!({"depth": recurse(0)}),
        "panic" => panic!("the probe was asked to panic"),
        "spin" => {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
                if x == 0 {
                    break;
                }
            }
            serde_json::json!({"x": x})
        }
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(n("ms")));
            serde_json::json!({"slept": n("ms")})
        }
        "flood" => {
            let line = "x".repeat(1023);
            let mut out = std::io::stdout().lock();
            for _ in 0..(n("mb") * 1024) {
                let _ = writeln!(out, "{line}");
            }
            serde_json::json!({"flooded": n("mb")})
        }
        "big_result" => serde_json::json!({"data": "y".repeat(n("bytes") as usize)}),
        "count" => {
            // SAFETY: single-threaded guest.
            let c = unsafe {
                CALLS += 1;
                CALLS
            };
            serde_json::json!({"calls": c})
        }
        other => serde_json::json!({"error": format!("unknown op '{other}'")}),
    };
    println!("{result}");
}

#[inline(never)]
#[allow(unconditional_recursion, reason = "overflowing the stack is the point")]
fn recurse(depth: u64) -> u64 {
    // No locals in linear memory: the frames grow wasm's own call stack.
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))) + 1
}
