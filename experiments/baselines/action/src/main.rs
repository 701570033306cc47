//! Stand-in function for the container baselines.
//!
//! Speaks the OpenWhisk action-proxy protocol over plain HTTP/1.1:
//!
//! * `POST /init` — accepts any body, answers `200 {"ok":true}`.
//! * `POST /run`  — body `{"value": {...}}`. Without a program it answers
//!   `200 {"greeting":"hello"}`. With a program (`--program PATH` or the
//!   environment variable `ACTION_PROGRAM`), it decodes `value.input` (base64,
//!   missing = empty), pipes those bytes to the program's stdin, and answers
//!   `200 {"output":"<base64 of the program's stdout>"}`; a program that fails
//!   gives `502 {"error":"..."}`. `value.args`, an array of strings, gives the
//!   program its arguments (none when missing). A number `value.sleep_ms` (at most 60000)
//!   makes the call wait that long first, to hold a container busy in tests.
//!
//! Modes:
//!
//! * server (default): listens on `--listen ADDR` (else `ACTION_LISTEN`, else
//!   `0.0.0.0:8080`), one thread per connection, persistent connections.
//! * `--once`: reads one `/run` body from stdin, writes the response body to
//!   stdout and exits (0 for a 200 answer, 1 otherwise). This is what the
//!   container-per-call baselines (runc, crun) run, so no network is needed
//!   inside their containers.
//!
//! Only std is used; the HTTP handling is the minimum the baselines need
//! (Content-Length bodies, no chunked requests).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::thread;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;

struct Config {
    once: bool,
    listen: String,
    program: Option<String>,
}

fn usage() -> &'static str {
    "usage: action [--once] [--listen ADDR] [--program PATH]\n\
     \n\
     Serves POST /init and POST /run (OpenWhisk action-proxy protocol) on ADDR\n\
     (default $ACTION_LISTEN or 0.0.0.0:8080). With --once, reads one /run body\n\
     from stdin and writes the answer to stdout. With --program (or\n\
     $ACTION_PROGRAM), /run pipes base64-decoded value.input to PATH's stdin (with\n\
     the strings of value.args as its arguments) and answers\n\
     {\"output\": base64(stdout)}; otherwise it answers {\"greeting\":\"hello\"}.\n"
}

fn parse_args() -> Result<Config, String> {
    let mut cfg = Config {
        once: false,
        listen: std::env::var("ACTION_LISTEN").unwrap_or_else(|_| "0.0.0.0:8080".to_string()),
        program: std::env::var("ACTION_PROGRAM")
            .ok()
            .filter(|p| !p.is_empty()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--once" => cfg.once = true,
            "--listen" => cfg.listen = args.next().ok_or("--listen needs an address")?,
            "--program" => cfg.program = Some(args.next().ok_or("--program needs a path")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("action: {e}");
            }
            eprint!("{}", usage());
            return ExitCode::from(2);
        }
    };
    if cfg.once {
        let mut body = Vec::new();
        if let Err(e) = io::stdin().read_to_end(&mut body) {
            eprintln!("action: reading stdin: {e}");
            return ExitCode::from(1);
        }
        let (status, answer) = run(&body, cfg.program.as_deref());
        let mut out = io::stdout().lock();
        let _ = out.write_all(answer.as_bytes());
        let _ = out.flush();
        return if status == 200 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let listener = match TcpListener::bind(&cfg.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("action: cannot listen on {}: {e}", cfg.listen);
            return ExitCode::from(1);
        }
    };
    let program: Option<&'static str> = cfg.program.map(|p| &*Box::leak(p.into_boxed_str()));
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                thread::spawn(move || {
                    let _ = serve(stream, program);
                });
            }
            Err(e) => eprintln!("action: accept: {e}"),
        }
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------- HTTP

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    keep_alive: bool,
}

/// Reads one request; `Ok(None)` when the peer closed the connection between requests.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader.read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "truncated head",
                ))
            };
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                // Stray empty line before a request line: skip it.
                head.clear();
                continue;
            }
            break;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default();
    let version = parts.next().unwrap_or("HTTP/1.0");
    let path = target.split('?').next().unwrap_or_default().to_string();
    let mut keep_alive = version == "HTTP/1.1";
    let mut length = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = value
                    .parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?
            }
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
            "transfer-encoding" => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunked requests are not supported",
                ));
            }
            _ => {}
        }
    }
    if length > MAX_BODY {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        body,
        keep_alive,
    }))
}

fn serve(stream: TcpStream, program: Option<&str>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) => {
                let body = format!("{{\"error\":{}}}", json_string(&e.to_string()));
                respond(&mut writer, 400, &body, false)?;
                return Ok(());
            }
        };
        let (status, body) = match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/init") => (200, "{\"ok\":true}".to_string()),
            ("POST", "/run") => run(&req.body, program),
            (_, "/init" | "/run") => (405, "{\"error\":\"method not allowed\"}".to_string()),
            _ => (404, "{\"error\":\"not found\"}".to_string()),
        };
        respond(&mut writer, status, &body, req.keep_alive)?;
        if !req.keep_alive {
            return Ok(());
        }
    }
}

fn respond(w: &mut TcpStream, status: u16, body: &str, keep_alive: bool) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Bad Gateway",
    };
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{body}",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    w.write_all(msg.as_bytes())
}

// ---------------------------------------------------------------- /run

fn run(body: &[u8], program: Option<&str>) -> (u16, String) {
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(_) => return error(400, "body is not UTF-8"),
    };
    let doc = if text.trim().is_empty() {
        Json::Obj(Vec::new())
    } else {
        match Parser::new(text).parse_document() {
            Ok(v) => v,
            Err(e) => return error(400, &format!("body is not JSON: {e}")),
        }
    };
    if let Some(Json::Num(ms)) = doc.get("value").and_then(|v| v.get("sleep_ms"))
        && ms.is_finite()
        && *ms > 0.0
    {
        thread::sleep(std::time::Duration::from_secs_f64(
            ms.min(60_000.0) / 1000.0,
        ));
    }
    let Some(program) = program else {
        return (200, "{\"greeting\":\"hello\"}".to_string());
    };
    let input = match doc.get("value").and_then(|v| v.get("input")) {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Str(s)) => match base64_decode(s) {
            Some(b) => b,
            None => return error(400, "value.input is not base64"),
        },
        Some(_) => return error(400, "value.input must be a base64 string"),
    };
    let args = match doc.get("value").and_then(|v| v.get("args")) {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Arr(items)) => {
            let mut args = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Json::Str(s) => args.push(s.as_str()),
                    _ => return error(400, "value.args must be an array of strings"),
                }
            }
            args
        }
        Some(_) => return error(400, "value.args must be an array of strings"),
    };
    match pipe_through(program, &args, &input) {
        Ok(out) => (200, format!("{{\"output\":\"{}\"}}", base64_encode(&out))),
        Err(e) => error(502, &e),
    }
}

fn error(status: u16, msg: &str) -> (u16, String) {
    (status, format!("{{\"error\":{}}}", json_string(msg)))
}

fn pipe_through(program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    // Write from another thread so a program that writes before it has read
    // everything cannot deadlock against us.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_end(&mut out)
        .map_err(|e| format!("reading {program}'s stdout: {e}"))?;
    let _ = writer.join();
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{program} exited with {status}"))
    }
}

// ---------------------------------------------------------------- base64

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- JSON

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Just enough of a JSON tree to find `value.input`, `value.args` and
/// `value.sleep_ms`.
enum Json {
    Null,
    Bool,
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser {
            s: s.as_bytes(),
            i: 0,
            depth: 0,
        }
    }

    fn parse_document(&mut self) -> Result<Json, String> {
        let v = self.value()?;
        self.ws();
        if self.i != self.s.len() {
            return Err(format!("trailing data at byte {}", self.i));
        }
        Ok(v)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(format!("unexpected token at byte {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.peek() {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool),
            Some(b'f') => self.literal("false", Json::Bool),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad number at byte {start}"))
            }
            _ => Err(format!("unexpected token at byte {}", self.i)),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Json, String>) -> Result<Json, String> {
        self.depth += 1;
        if self.depth > 256 {
            return Err("nesting too deep".into());
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn object(&mut self) -> Result<Json, String> {
        self.expect(b'{')?;
        let mut fields = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Obj(fields));
        }
        loop {
            self.ws();
            let k = self.string()?;
            self.ws();
            self.expect(b':')?;
            let v = self.value()?;
            fields.push((k, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                _ => return Err(format!("expected ',' or '}}' at byte {}", self.i)),
            }
        }
    }

    fn array(&mut self) -> Result<Json, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(format!("expected ',' or ']' at byte {}", self.i)),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or("truncated \\u escape")?;
        let v = u32::from_str_radix(std::str::from_utf8(h).map_err(|_| "bad \\u escape")?, 16)
            .map_err(|_| "bad \\u escape")?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return Err(format!("bad escape at byte {}", self.i)),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| "string is not UTF-8".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for data in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0, 255, 128, 7],
        ] {
            assert_eq!(base64_decode(&base64_encode(data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn finds_value_input() {
        let doc = Parser::new(r#"{"value": {"n": [1, 2.5e3, {"x": null}], "input": "aGk\u003d"}}"#)
            .parse_document()
            .unwrap();
        match doc.get("value").and_then(|v| v.get("input")) {
            Some(Json::Str(s)) => assert_eq!(base64_decode(s).unwrap(), b"hi"),
            _ => panic!("no input"),
        }
    }

    #[test]
    fn run_without_program_greets() {
        assert_eq!(
            run(b"{\"value\":{}}", None),
            (200, "{\"greeting\":\"hello\"}".to_string())
        );
        let t = std::time::Instant::now();
        assert_eq!(run(br#"{"value":{"sleep_ms":30}}"#, None).0, 200);
        assert!(t.elapsed() >= std::time::Duration::from_millis(30));
        assert_eq!(run(b"not json", None).0, 400);
    }

    #[test]
    fn run_pipes_through_program() {
        let (status, body) = run(br#"{"value":{"input":"aGVsbG8="}}"#, Some("/bin/cat"));
        assert_eq!(status, 200);
        assert_eq!(body, "{\"output\":\"aGVsbG8=\"}");
    }

    #[test]
    fn run_passes_args_to_program() {
        let (status, body) = run(
            br#"{"value":{"args":["-c","printf %s \"$0\"","hi"]}}"#,
            Some("/bin/sh"),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, "{\"output\":\"aGk=\"}");
        assert_eq!(run(br#"{"value":{"args":[1]}}"#, Some("/bin/cat")).0, 400);
        assert_eq!(run(br#"{"value":{"args":"x"}}"#, Some("/bin/cat")).0, 400);
    }
}
