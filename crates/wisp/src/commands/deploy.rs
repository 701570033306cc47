//! `wisp deploy`: create or update an action from a .wasm file.

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;

use wisp_api::action::{ExecDoc, LimitsDoc};
use wisp_api::admin::AssetsView;
use wisp_api::resolve::OUTBOUND_ANNOTATION;
use wisp_api::{ActionDoc, ActionView, KeyValue};

use crate::client::{Client, GlobalOptions, parse_param};

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
    /// Give the action a private `/data` directory with this quota, in MB,
    /// kept between calls. Default: none.
    #[arg(long, value_name = "MB")]
    data: Option<u64>,
    /// Most instances of this action running at once. Default: only the
    /// server's global cap.
    #[arg(long)]
    instances: Option<u64>,
    /// Copy this directory into the action's own storage, mounted read-only at
    /// `/assets` (models, templates, static files).
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// Allow outgoing HTTP (wasi:http components) to this host or host:port;
    /// repeatable. Default: none allowed.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// Whether the action answers web calls (`/fn/NAME`, `/api/v1/web/...`):
    /// the `web-export` annotation. Default true.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    web: bool,
    /// Default parameter KEY=VALUE (VALUE is JSON if it parses, else a string);
    /// repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
}

impl DeployCommand {
    /// Uploads the module; an existing action is replaced.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let module = std::fs::read(&self.file)
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        let number = |n: Option<u64>| n.map(serde_json::Value::from);
        let limits = LimitsDoc {
            memory: number(self.memory),
            timeout: number(self.timeout),
            storage: number(self.data),
            instances: number(self.instances),
            ..LimitsDoc::default()
        };
        let mut annotations = vec![KeyValue {
            key: "web-export".into(),
            value: self.web.into(),
        }];
        if !self.allow_hosts.is_empty() {
            annotations.push(KeyValue {
                key: OUTBOUND_ANNOTATION.into(),
                value: self.allow_hosts.clone().into(),
            });
        }
        let assets = match &self.assets {
            Some(dir) => Some(tar_directory(dir)?),
            None => None,
        };
        let mut parameters = Vec::new();
        for p in &self.params {
            let (key, value) = parse_param(p)?;
            parameters.push(KeyValue { key, value });
        }
        let doc = ActionDoc {
            exec: Some(ExecDoc {
                kind: "wasm".into(),
                code: Some(base64::engine::general_purpose::STANDARD.encode(&module)),
                binary: Some(true),
            }),
            limits: Some(limits),
            parameters: Some(parameters),
            annotations: Some(annotations),
            ..ActionDoc::default()
        };
        let client = Client::new(global)?;
        let action: ActionView = client.request(
            http::Method::PUT,
            &format!("/api/v1/namespaces/_/actions/{}?overwrite=true", self.name),
            "application/json",
            serde_json::to_vec(&doc)?,
        )?;
        if let Some(archive) = assets {
            let r: AssetsView = client.request(
                http::Method::PUT,
                &format!("/api/v1/namespaces/_/actions/{}/assets", self.name),
                "application/x-tar",
                archive,
            )?;
            println!(
                "uploaded {} asset files ({} bytes) to /assets",
                r.assets.files, r.assets.bytes
            );
        }
        println!(
            "deployed {} (version {}, {} function)",
            self.name,
            action.version,
            action.wisp.shape.as_str()
        );
        Ok(())
    }
}

/// Packs a directory into a tar archive (regular files and directories only;
/// symbolic links are refused rather than followed).
fn tar_directory(dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if !dir.is_dir() {
        anyhow::bail!("--assets {}: not a directory", dir.display());
    }
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .with_context(|| format!("cannot read {}", d.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path.strip_prefix(dir)?;
            let kind = e.file_type()?;
            if kind.is_symlink() {
                anyhow::bail!(
                    "--assets: {} is a symbolic link; copy the file instead",
                    path.display()
                );
            } else if kind.is_dir() {
                builder.append_dir(rel, &path)?;
                stack.push(path);
            } else {
                builder.append_path_with_name(&path, rel)?;
            }
        }
    }
    Ok(builder.into_inner()?)
}
