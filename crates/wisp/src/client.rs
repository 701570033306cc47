//! The CLI's HTTP client: where the server is, which key to use, and one request
//! function that turns API errors into readable messages.

use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

/// Options every client command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientOptions {
    /// URL of the wisp server.
    #[arg(long, env = "WISP_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API key (ID:SECRET). Default: WISP_API_KEY, else the key stored in the data
    /// directory by `wisp serve`.
    #[arg(long, env = "WISP_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Data directory of a local server, where its generated key is read from.
    #[arg(long, env = "WISP_DATA_DIR", default_value = "wisp-data")]
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
    pub fn new(opts: &ClientOptions) -> anyhow::Result<Self> {
        let key = match &opts.api_key {
            Some(k) => k.trim().to_string(),
            None => {
                let path = opts.data_dir.join("api-key");
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

    /// Sends a request; a non-2xx answer becomes an error carrying the server's
    /// message and status.
    pub fn request(
        &self,
        method: http::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<serde_json::Value> {
        let (status, bytes) = self.send(method, path, content_type, body)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
        });
        if !status.is_success() {
            let msg = value
                .get("error")
                .map(|e| match e {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| value.to_string());
            bail!("{msg} (HTTP {})", status.as_u16());
        }
        Ok(value)
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
