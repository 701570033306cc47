//! Test harness: the real `wisp serve` on port 0, a small HTTP client, and the
//! guest fixtures built from `examples/` by `scripts/build-examples.sh`.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub const KEY: &str = "test-id:test-secret";

/// A running `wisp serve`, killed on drop.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    /// The key sealing secret parameters: in the temp dir, outside the data
    /// directory, kept across restarts (change it before `resume` to start
    /// with another key).
    pub key_file: PathBuf,
    extra: Vec<String>,
    envs: Vec<(String, String)>,
    /// The server's stderr lines, when captured.
    log: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server on a fresh data directory.
    pub fn start(extra: &[&str]) -> Server {
        Self::start_with_env(extra, &[])
    }

    /// Starts a server with extra environment variables (to prove guests never
    /// see them).
    pub fn start_with_env(extra: &[&str], envs: &[(&str, &str)]) -> Server {
        Self::launch(extra, envs, false)
    }

    /// Starts a server whose stderr (its log) is kept: see [`Server::log_lines`].
    pub fn start_logged(extra: &[&str], envs: &[(&str, &str)]) -> Server {
        Self::launch(extra, envs, true)
    }

    /// Starts a node of a fleet on a fixed loopback port (a restart keeps
    /// it): its own data directory (its compiled-code cache), the secret key
    /// file every node shares.
    pub fn start_node(extra: &[&str], key_file: &Path, port: u16) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["--listen", listen.as_str()];
        args.extend_from_slice(extra);
        Self::build(&args, &[], false, Some(key_file))
    }

    fn launch(extra: &[&str], envs: &[(&str, &str)], logged: bool) -> Server {
        Self::build(extra, envs, logged, None)
    }

    fn build(
        extra: &[&str],
        envs: &[(&str, &str)],
        logged: bool,
        key_file: Option<&Path>,
    ) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let mut s = Server {
            child: None,
            url: String::new(),
            data_dir,
            key_file: key_file.map_or_else(|| tmp.path().join("secret.key"), Path::to_path_buf),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            log: logged.then(Default::default),
            _tmp: Some(tmp),
        };
        s.spawn();
        s
    }

    /// The log lines written so far (with [`Server::start_logged`]).
    pub fn log_lines(&self) -> Vec<String> {
        self.log
            .as_ref()
            .map(|l| l.lock().unwrap().clone())
            .unwrap_or_default()
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wisp"));
        cmd.arg("serve");
        if !self.extra.iter().any(|a| a == "--listen") {
            cmd.arg("--listen").arg("127.0.0.1:0");
        }
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--api-key")
            .arg(KEY)
            .arg("--secret-key-file")
            .arg(&self.key_file)
            .args(&self.extra)
            .env_remove("WISP_API_KEY")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if self.log.is_some() {
            cmd.stderr(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("start wisp serve");
        if let (Some(log), Some(stderr)) = (self.log.clone(), child.stderr.take()) {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("{line}");
                    log.lock().unwrap().push(line);
                }
            });
        }
        let stdout = child.stdout.take().unwrap();
        // `wisp starting on URL` (and other announcements) first, then
        // `wisp listening on URL` once it serves.
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let url = loop {
            line.clear();
            stdout.read_line(&mut line).unwrap();
            if let Some(url) = line.trim().strip_prefix("wisp listening on ") {
                break url.to_string();
            }
            assert!(!line.is_empty(), "wisp serve ended before it listened");
        };
        self.url = url;
        self.child = Some(child);
    }

    /// Stops the server with SIGTERM and waits; it must exit cleanly.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let status = child.wait().unwrap();
            assert!(status.success(), "wisp serve exited with {status}");
        }
    }

    /// Kills the server with SIGKILL, as a crash would, and waits.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Starts again on the same data directory after [`Server::stop`].
    pub fn resume(&mut self) {
        self.spawn();
    }

    /// Stops and starts again on the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
    /// The message of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Sends one request; a transport failure is an `Err` (e.g. a body cut short).
pub fn try_request(
    method: &str,
    url: &str,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Result<Resp, String> {
    let mut headers = Vec::new();
    if let Some(a) = auth {
        headers.push((
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(a)
            ),
        ));
    }
    if let Some(ct) = content_type {
        headers.push(("content-type", ct.to_string()));
    }
    try_request_with(method, url, &headers, body)
}

/// A request with these headers; `Err` when it cannot be sent or answered.
pub fn try_request_with(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: impl Into<Bytes>,
) -> Result<Resp, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut b = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        let req = b.body(Full::new(body.into())).unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(60), client.request(req))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Resp {
            status,
            headers,
            body,
        })
    })
}

/// Sends one request. `auth` is a `ID:SECRET` key or none.
pub fn request(
    method: &str,
    url: &str,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Resp {
    try_request(method, url, auth, content_type, body)
        .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"))
}

/// Path of a guest built from `examples/`.
pub fn example(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/build")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run scripts/build-examples.sh (scripts/test.sh does)",
        p.display()
    );
    p
}

pub fn example_bytes(name: &str) -> Vec<u8> {
    std::fs::read(example(name)).unwrap()
}

/// The OpenWhisk action document for a module; exported to the web unless
/// `extra` says otherwise.
pub fn action_doc(module: &[u8], extra: serde_json::Value) -> Vec<u8> {
    let mut doc = serde_json::json!({
        "exec": {"kind": "wasm", "code": base64::engine::general_purpose::STANDARD.encode(module), "binary": true},
        "annotations": [{"key": "web-export", "value": true}],
    });
    if let serde_json::Value::Object(m) = extra {
        for (k, v) in m {
            if k == "annotations" {
                let list = doc["annotations"].as_array_mut().unwrap();
                list.extend(v.as_array().unwrap().iter().cloned());
            } else {
                doc[k] = v;
            }
        }
    }
    serde_json::to_vec(&doc).unwrap()
}

impl Server {
    pub fn action_url(&self, name: &str) -> String {
        format!("{}/api/v1/namespaces/_/actions/{name}", self.url)
    }

    /// Deploys (overwriting) through the API and asserts success.
    pub fn deploy(&self, name: &str, module: &[u8], extra: serde_json::Value) -> serde_json::Value {
        let r = self.try_deploy(name, module, extra);
        assert_eq!(r.status, 200, "deploy {name}: {}", r.text());
        r.json()
    }

    /// Deploys (overwriting) through the API; the answer, whatever it is.
    pub fn try_deploy(&self, name: &str, module: &[u8], extra: serde_json::Value) -> Resp {
        request(
            "PUT",
            &format!("{}?overwrite=true", self.action_url(name)),
            Some(KEY),
            Some("application/json"),
            action_doc(module, extra),
        )
    }

    /// A JSON call of `/api/v1/namespaces/{path}` with the server's key; a
    /// `Null` body sends none.
    pub fn api(&self, method: &str, path: &str, body: serde_json::Value) -> Resp {
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        };
        request(
            method,
            &format!("{}/api/v1/namespaces/{path}", self.url),
            Some(KEY),
            Some("application/json"),
            body,
        )
    }

    /// A `GET` of an API path with the server's key.
    pub fn get(&self, path: &str) -> Resp {
        request("GET", &format!("{}{path}", self.url), Some(KEY), None, "")
    }

    /// A blocking invocation returning only the result.
    pub fn invoke(&self, name: &str, params: serde_json::Value) -> Resp {
        request(
            "POST",
            &format!("{}?blocking=true&result=true", self.action_url(name)),
            Some(KEY),
            Some("application/json"),
            serde_json::to_vec(&params).unwrap(),
        )
    }

    pub fn web(&self, method: &str, path: &str, body: &'static [u8]) -> Resp {
        request(method, &format!("{}{path}", self.url), None, None, body)
    }
}

/// Runs the CLI against this server; returns (success, stdout, stderr).
pub fn cli(server: &Server, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wisp"))
        .args(args)
        .env("WISP_SERVER", &server.url)
        .env("WISP_API_KEY", KEY)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `docker-registry serve` on a free loopback port, its storage in a temp
/// directory; killed on drop.
pub struct OciRegistry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl OciRegistry {
    pub fn start() -> OciRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian's package; scripts/setup.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        OciRegistry {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Compiles WAT to a module.
pub fn wat(src: &str) -> Vec<u8> {
    wat::parse_str(src).unwrap()
}
