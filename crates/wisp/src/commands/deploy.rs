//! `wisp deploy`: create or update an action from a .wasm file.

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;

use crate::client::{Client, ClientOptions, parse_param};

/// Deploy (create or update) an action.
#[derive(clap::Args, Debug)]
pub struct DeployCommand {
    /// Action name.
    name: String,
    /// The WebAssembly binary: a wasi:http component or a WASI command module.
    file: PathBuf,
    /// Memory limit in MB. Default: the server's (256).
    #[arg(long)]
    memory: Option<u64>,
    /// Time limit in milliseconds. Default: the server's (60000).
    #[arg(long)]
    timeout: Option<u64>,
    /// Default parameter KEY=VALUE (VALUE is JSON if it parses, else a string);
    /// repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    #[command(flatten)]
    client: ClientOptions,
}

impl DeployCommand {
    /// Uploads the module; an existing action is replaced.
    pub fn execute(self) -> anyhow::Result<()> {
        let module = std::fs::read(&self.file)
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        let mut limits = serde_json::Map::new();
        if let Some(m) = self.memory {
            limits.insert("memory".into(), m.into());
        }
        if let Some(t) = self.timeout {
            limits.insert("timeout".into(), t.into());
        }
        let mut parameters = Vec::new();
        for p in &self.params {
            let (key, value) = parse_param(p)?;
            parameters.push(serde_json::json!({"key": key, "value": value}));
        }
        let doc = serde_json::json!({
            "exec": {"kind": "wasm", "code": base64::engine::general_purpose::STANDARD.encode(&module), "binary": true},
            "limits": limits,
            "parameters": parameters,
        });
        let client = Client::new(&self.client)?;
        let action = client.request(
            http::Method::PUT,
            &format!("/api/v1/namespaces/_/actions/{}?overwrite=true", self.name),
            "application/json",
            serde_json::to_vec(&doc)?,
        )?;
        println!(
            "deployed {} (version {}, {} function)",
            self.name,
            action["version"].as_str().unwrap_or("?"),
            action["wisp"]["shape"].as_str().unwrap_or("?")
        );
        Ok(())
    }
}
