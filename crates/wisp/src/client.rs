//! The CLI's HTTP client: where the server is, which key to use, and one request
//! function that turns API errors into readable messages.

use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

/// Options of every subcommand, accepted anywhere on the command line.
#[derive(clap::Args, Debug, Clone)]
pub struct GlobalOptions {
    /// URL of the wisp server the client commands talk to.
    #[arg(
        long,
        global = true,
        env = "WISP_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// API key (ID:SECRET). Client commands: default WISP_API_KEY, else the key
    /// stored in the data directory by `wisp serve`. `wisp serve`: the key it
    /// accepts; default the stored one, generated and printed once on first
    /// start.
    #[arg(long, global = true, env = "WISP_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Data directory: where `wisp serve` keeps actions, compiled code and its
    /// generated key, and where client commands read that key.
    #[arg(long, global = true, env = "WISP_DATA_DIR", default_value = wisp_controller::config::defaults::DATA_DIR)]
    pub data_dir: PathBuf,
}

/// A connection to one server with one key.
pub struct Client {
    base: String,
    auth: String,
    http: HyperClient<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    /// Resolves the server and the key.
    pub fn new(opts: &GlobalOptions) -> anyhow::Result<Self> {
        let key = match &opts.api_key {
            Some(k) => k.trim().to_string(),
            None => {
                let path = wisp_controller::ServerConfig::key_file(&opts.data_dir);
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "no API key: set WISP_API_KEY or --api-key, or run where {} exists",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_string()
            }
        };
        if !key.contains(':') {
            bail!("the API key must have the form ID:SECRET");
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = {
            let _guard = runtime.enter();
            HyperClient::builder(TokioExecutor::new()).build_http()
        };
        Ok(Client {
            base: opts.server.trim_end_matches('/').to_string(),
            auth: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(key)
            ),
            http,
            runtime,
        })
    }

    /// Sends a request and decodes the answer as `T`; a non-2xx answer becomes
    /// an error carrying the server's message ([`wisp_api::ErrorBody`]) and
    /// status.
    pub fn request<T: serde::de::DeserializeOwned>(
        &self,
        method: http::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<T> {
        let bytes = self.request_bytes(method, path, content_type, body)?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "the server's answer is not what this client expects: {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    }

    /// Sends a request and returns the answer's body as it is; a non-2xx
    /// answer is an error as in [`Client::request`].
    pub fn request_bytes(
        &self,
        method: http::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Bytes> {
        let (status, bytes) = self.send(method, path, content_type, body)?;
        if !status.is_success() {
            let msg = match serde_json::from_slice::<wisp_api::ErrorBody>(&bytes) {
                Ok(e) => e.error,
                Err(_) => String::from_utf8_lossy(&bytes).trim().to_string(),
            };
            return Err(HttpError {
                status,
                message: msg,
            }
            .into());
        }
        Ok(bytes)
    }

    fn send(
        &self,
        method: http::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(http::StatusCode, Bytes)> {
        let url = format!("{}{}", self.base, path);
        let req = http::Request::builder()
            .method(method)
            .uri(&url)
            .header(http::header::AUTHORIZATION, &self.auth)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .with_context(|| format!("invalid server URL {url}"))?;
        self.runtime.block_on(async {
            let resp = self
                .http
                .request(req)
                .await
                .with_context(|| format!("cannot reach the wisp server at {}", self.base))?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            Ok((status, bytes))
        })
    }
}

/// A non-2xx answer: the server's message and the status, so a caller can tell
/// a refusal (4xx) from a server that may recover (5xx).
#[derive(Debug)]
pub struct HttpError {
    /// The answer's status.
    pub status: http::StatusCode,
    /// The server's message ([`wisp_api::ErrorBody::error`]), else the body.
    pub message: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.status.as_u16())
    }
}

impl std::error::Error for HttpError {}

/// Percent-encodes text for a path segment or a query value: everything but
/// letters, digits and `-._~`.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses `KEY=VALUE`; the value is JSON when it parses as JSON, else a string.
pub fn parse_param(s: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let Some((k, v)) = s.split_once('=') else {
        bail!("a parameter has the form KEY=VALUE, got '{s}'");
    };
    if k.is_empty() {
        bail!("a parameter needs a name, got '{s}'");
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.into()));
    Ok((k.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("user/1 +&="), "user%2F1%20%2B%26%3D");
        assert_eq!(encode("€"), "%E2%82%AC");
    }

    #[test]
    fn params_are_json_or_strings() {
        assert_eq!(
            parse_param("a=1").unwrap(),
            ("a".into(), serde_json::json!(1))
        );
        assert_eq!(
            parse_param("a=hi").unwrap(),
            ("a".into(), serde_json::json!("hi"))
        );
        assert_eq!(
            parse_param("a=").unwrap(),
            ("a".into(), serde_json::json!(""))
        );
        assert!(parse_param("nokey").is_err());
        assert!(parse_param("=1").is_err());
    }
}
