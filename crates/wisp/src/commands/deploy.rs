//! `wisp deploy`: create or update an action from a .wasm file and flags, or
//! every function of an app manifest (`wisp deploy -f wisp.toml`).

mod function;
mod manifest;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use wisp_api::action::LimitsDoc;
use wisp_api::admin::AssetsView;
use wisp_api::{ActionView, KeyValue};

use crate::client::{Client, GlobalOptions, HttpError, parse_param};
use function::{Function, Parts};

/// Deploy (create or update) an action, or every function of a wisp.toml.
#[derive(clap::Args, Debug)]
pub struct DeployCommand {
    /// Action name.
    #[arg(required_unless_present = "manifest")]
    name: Option<String>,
    /// The WebAssembly binary (a wasi:http component or a WASI command
    /// module), or a source `wisp build` builds first: a Rust crate
    /// directory, a .c, .cpp, .js or .py file, or a directory `wisp new` made;
    /// or a Wasm artifact in an OCI registry, oci://HOST[:PORT]/REPO[:TAG]
    /// (see `wisp push`).
    #[arg(required_unless_present_any = ["manifest", "sequence"])]
    file: Option<PathBuf>,
    /// Deploy every function of this app manifest instead (see
    /// docs/operations.md, "The app manifest"). Every entry is checked before
    /// any is deployed; a function the server already runs as described is
    /// left alone.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "wisp.toml",
        conflicts_with_all = ["name", "file", "memory", "timeout", "data", "instances", "assets", "allow_hosts", "kv_stores", "params", "secrets", "init", "no_init", "sequence"]
    )]
    manifest: Option<PathBuf>,
    /// Make NAME a sequence of these actions, run in order, each one's result
    /// the next one's parameters (comma-separated names or /namespace/name).
    /// Not a web action. See docs/events.md, "Sequences".
    #[arg(
        long,
        value_name = "A,B,...",
        value_delimiter = ',',
        conflicts_with_all = ["file", "memory", "timeout", "data", "instances", "assets", "allow_hosts", "kv_stores", "init", "no_init"]
    )]
    sequence: Option<Vec<String>>,
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
    /// Let the action open this named key-value store (`wasi:keyvalue`; the
    /// namespace's `default` store needs no grant); repeatable. Create the
    /// store first (`wisp kv create STORE`). See docs/state.md.
    #[arg(long = "kv-store", value_name = "STORE")]
    kv_stores: Vec<String>,
    /// Whether the action answers web calls (`/fn/NAME`, `/api/v1/web/...`):
    /// the `web-export` annotation. Default true.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    web: bool,
    /// Default parameter KEY=VALUE (VALUE is JSON if it parses, else a string);
    /// repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Secret parameter KEY=VALUE (VALUE is taken as a string): a parameter
    /// the `secret-parameters` annotation lists, stored sealed, never shown
    /// (`********`) and redacted from activation records; repeatable. See
    /// docs/secrets.md.
    #[arg(long = "secret", value_name = "KEY=VALUE")]
    secrets: Vec<String>,
    /// Run this export once at deploy and snapshot the instance it leaves:
    /// every call then starts from it (the `init` annotation). Default:
    /// `wizer-initialize`, when the module exports it.
    #[arg(long, value_name = "EXPORT")]
    init: Option<String>,
    /// Do not pre-initialize, even when the module exports `wizer-initialize`.
    #[arg(long, conflicts_with = "init")]
    no_init: bool,
}

impl DeployCommand {
    /// Deploys the one action the flags describe, or the manifest's functions.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        if let Some(path) = &self.manifest {
            return deploy_manifest(path, global);
        }
        if let (Some(name), Some(components)) = (&self.name, &self.sequence) {
            return self.deploy_sequence(name, components, global);
        }
        let (Some(name), Some(file)) = (self.name.clone(), self.file.clone()) else {
            bail!("give NAME and FILE, or a manifest with -f wisp.toml");
        };
        let function = self.function(name, &file)?;
        let client = Client::new(global)?;
        // An explicit single deploy always uploads, as it always has.
        let action = put(&client, &function)?;
        if let Some(assets) = &function.assets {
            let r = upload_assets(&client, &function.name, assets.archive.clone())?;
            println!(
                "uploaded {} asset files ({} bytes) to /assets",
                r.assets.files, r.assets.bytes
            );
        }
        println!(
            "deployed {} (version {}, {} function)",
            function.name,
            action.version,
            action.wisp.shape.as_str()
        );
        Ok(())
    }

    /// Deploys NAME as a sequence of `components`.
    fn deploy_sequence(
        &self,
        name: &str,
        components: &[String],
        global: &GlobalOptions,
    ) -> anyhow::Result<()> {
        let mut parameters = Vec::new();
        for p in &self.params {
            let (key, value) = parse_param(p)?;
            parameters.push(KeyValue { key, value });
        }
        let doc = wisp_api::ActionDoc {
            exec: Some(wisp_api::action::ExecDoc {
                kind: "sequence".into(),
                components: Some(components.to_vec()),
                ..Default::default()
            }),
            parameters: Some(parameters),
            ..Default::default()
        };
        let client = Client::new(global)?;
        let action: ActionView = client.request(
            http::Method::PUT,
            &format!("/api/v1/namespaces/_/actions/{name}?overwrite=true"),
            "application/json",
            serde_json::to_vec(&doc)?,
        )?;
        println!(
            "deployed {name} (version {}, a sequence of {})",
            action.version,
            action.exec.components.unwrap_or_default().join(", ")
        );
        Ok(())
    }

    /// The function the flags describe.
    fn function(&self, name: String, file: &Path) -> anyhow::Result<Function> {
        let module = super::build::module_bytes(file)?;
        let number = |n: Option<u64>| n.map(Value::from);
        let mut parameters = Vec::new();
        for p in &self.params {
            let (key, value) = parse_param(p)?;
            parameters.push(KeyValue { key, value });
        }
        let mut secrets = Vec::new();
        for p in &self.secrets {
            let Some((key, value)) = p.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                bail!(
                    "--secret takes KEY=VALUE, got '{}'",
                    p.split('=').next().unwrap_or("")
                );
            };
            if parameters.iter().any(|kv| kv.key == key) {
                bail!("'{key}' is given both as --param and as --secret");
            }
            parameters.push(KeyValue {
                key: key.to_string(),
                value: Value::String(value.to_string()),
            });
            secrets.push(key.to_string());
        }
        let parts = Parts {
            limits: LimitsDoc {
                memory: number(self.memory),
                timeout: number(self.timeout),
                storage: number(self.data),
                instances: number(self.instances),
                ..LimitsDoc::default()
            },
            parameters,
            web: self.web,
            require_whisk_auth: None,
            allowed_outbound_hosts: self.allow_hosts.clone(),
            keyvalue_stores: self.kv_stores.clone(),
            init: match (&self.init, self.no_init) {
                (_, true) => Some(Value::Bool(false)),
                (Some(export), false) => Some(Value::String(export.clone())),
                (None, false) => None,
            },
            secrets,
        };
        let assets = match &self.assets {
            Some(dir) => Some(function::pack_assets(dir).context("--assets")?),
            None => None,
        };
        Ok(Function::new(name, module, &parts, assets))
    }
}

/// What a manifest deploy did to one function.
enum Outcome {
    Created(ActionView),
    /// The new view and what differed.
    Updated(ActionView, Vec<&'static str>),
    Unchanged(ActionView),
}

/// Checks the whole manifest, then brings each function up to date.
fn deploy_manifest(path: &Path, global: &GlobalOptions) -> anyhow::Result<()> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let functions = match manifest::parse(&text, base) {
        Ok(f) => f,
        Err(problems) => {
            eprint!("{}", manifest::render(&shown, &text, &problems));
            let n = problems.len();
            bail!(
                "{shown}: {n} problem{}; nothing was deployed",
                if n == 1 { "" } else { "s" }
            );
        }
    };
    let client = Client::new(global)?;
    let mut failed = 0;
    for f in &functions {
        match sync(&client, f) {
            Ok(Outcome::Created(v)) => println!(
                "created {} (version {}, {} function)",
                f.name,
                v.version,
                v.wisp.shape.as_str()
            ),
            Ok(Outcome::Updated(v, what)) => println!(
                "updated {} (version {}; {})",
                f.name,
                v.version,
                what.join(", ")
            ),
            Ok(Outcome::Unchanged(v)) => println!("unchanged {} (version {})", f.name, v.version),
            Err(e) => {
                eprintln!("failed {}: {e:#}", f.name);
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} functions in {shown} failed to deploy",
            functions.len()
        );
    }
    Ok(())
}

/// Brings one function up to date: created when the server has no such
/// action, left alone when it runs exactly this, else updated.
fn sync(client: &Client, f: &Function) -> anyhow::Result<Outcome> {
    let path = format!("/api/v1/namespaces/_/actions/{}?code=false", f.name);
    let current: Option<ActionView> =
        match client.request(http::Method::GET, &path, "application/json", Vec::new()) {
            Ok(v) => Some(v),
            Err(e)
                if e.downcast_ref::<HttpError>()
                    .is_some_and(|h| h.status == http::StatusCode::NOT_FOUND) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
    let Some(current) = current else {
        let view = put(client, f)?;
        if let Some(assets) = &f.assets
            && let Err(e) = upload_assets(client, &f.name, assets.archive.clone())
        {
            // The action would claim assets it lacks: take it away again, so
            // the next deploy creates it whole.
            let _ = client.request::<Value>(
                http::Method::DELETE,
                &format!("/api/v1/namespaces/_/actions/{}", f.name),
                "application/json",
                Vec::new(),
            );
            return Err(e.context("uploading its assets (the new action was removed again)"));
        }
        return Ok(Outcome::Created(view));
    };
    let what = f.differences(&current);
    if what.is_empty() {
        return Ok(Outcome::Unchanged(current));
    }
    // Assets go first: if they fail, the action keeps its old digest and the
    // next deploy tries again.
    if what.contains(&"assets") {
        // Assets a manifest uploaded and no longer lists are emptied.
        let archive = match &f.assets {
            Some(a) => a.archive.clone(),
            None => function::empty_archive()?,
        };
        upload_assets(client, &f.name, archive).context("uploading its assets")?;
    }
    let view = put(client, f)?;
    Ok(Outcome::Updated(view, what))
}

/// Creates or replaces the action.
fn put(client: &Client, f: &Function) -> anyhow::Result<ActionView> {
    client.request(
        http::Method::PUT,
        &format!("/api/v1/namespaces/_/actions/{}?overwrite=true", f.name),
        "application/json",
        serde_json::to_vec(&f.doc())?,
    )
}

/// Replaces the action's `/assets` with an archive.
fn upload_assets(client: &Client, name: &str, archive: Vec<u8>) -> anyhow::Result<AssetsView> {
    client.request(
        http::Method::PUT,
        &format!("/api/v1/namespaces/_/actions/{name}/assets"),
        "application/x-tar",
        archive,
    )
}
