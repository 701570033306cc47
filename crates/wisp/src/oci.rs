//! Modules as OCI artifacts: `wisp push FILE.wasm oci://HOST[:PORT]/REPO[:TAG]`
//! and `wisp deploy NAME oci://…`, in the Wasm OCI artifact layout that
//! wasmCloud, `wkg` and other Wasm tools read: one `application/wasm` layer
//! and an `application/vnd.wasm.config.v0+json` config naming the
//! architecture (`wasm`) and the WASI version (`wasip1` for a core module,
//! `wasip2` for a component).
//!
//! Registries on loopback (`localhost`, `127.0.0.1`, `[::1]`) are spoken to
//! over plain HTTP, every other one over HTTPS. `WISP_OCI_USERNAME` and
//! `WISP_OCI_PASSWORD` give HTTP Basic credentials; without them access is
//! anonymous.

use anyhow::{Context as _, bail};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};

/// The layer media type of a Wasm binary.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The config media type of a Wasm artifact.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The layer type older Wasm artifacts (OCI's own `wasm` example) use; pulled
/// too.
const LEGACY_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";

/// Whether a deploy source names an OCI artifact.
pub fn is_reference(source: &str) -> bool {
    source.starts_with("oci://")
}

/// Parses `oci://HOST[:PORT]/REPO[:TAG|@DIGEST]`.
fn reference(source: &str) -> anyhow::Result<Reference> {
    let Some(rest) = source.strip_prefix("oci://") else {
        bail!("'{source}' is not an OCI reference: write oci://HOST[:PORT]/REPO[:TAG]");
    };
    if !rest.contains('/') {
        bail!("'{source}' names no repository: write oci://HOST[:PORT]/REPO[:TAG]");
    }
    rest.parse::<Reference>()
        .with_context(|| format!("'{source}' is not a valid OCI reference"))
}

fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => registry,
    };
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

fn client(reference: &Reference) -> Client {
    let registry = reference.resolve_registry().to_string();
    Client::new(ClientConfig {
        protocol: if is_loopback(&registry) {
            ClientProtocol::HttpsExcept(vec![registry])
        } else {
            ClientProtocol::Https
        },
        ..ClientConfig::default()
    })
}

fn auth() -> RegistryAuth {
    match (
        std::env::var("WISP_OCI_USERNAME"),
        std::env::var("WISP_OCI_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) => RegistryAuth::Basic(user, password),
        _ => RegistryAuth::Anonymous,
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // TLS (for registries off loopback) through ring, the one crypto library
    // wisp already builds; a second call finds it installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the OCI client")
}

/// What a push made: the module's digest and the manifest's URL.
#[derive(Debug)]
pub struct Pushed {
    /// `sha256:…` of the module (the layer).
    pub layer_digest: String,
    /// Where the registry keeps the manifest.
    pub manifest_url: String,
}

/// Pushes a Wasm binary as an artifact.
pub fn push(module: &[u8], target: &str) -> anyhow::Result<Pushed> {
    if !module.starts_with(b"\0asm") {
        bail!("only a WebAssembly binary (a .wasm file) can be pushed");
    }
    let reference = reference(target)?;
    let layer_digest = format!("sha256:{}", hex::encode(Sha256::digest(module)));
    // A component's version field is 0x0d; a core module's is 1.
    let os = if module.get(4..8) == Some(&[0x0d, 0, 0x01, 0]) {
        "wasip2"
    } else {
        "wasip1"
    };
    let config = serde_json::json!({
        "created": jiff::Timestamp::now().to_string(),
        "architecture": "wasm",
        "os": os,
        "layerDigests": [layer_digest],
    });
    let config = Config {
        data: serde_json::to_vec(&config)?.into(),
        media_type: CONFIG_MEDIA_TYPE.to_string(),
        annotations: None,
    };
    let layers = [ImageLayer::new(
        module.to_vec(),
        LAYER_MEDIA_TYPE.to_string(),
        None,
    )];
    let manifest = OciImageManifest::build(&layers, &config, None);
    let pushed = runtime()?
        .block_on(client(&reference).push(&reference, &layers, config, &auth(), Some(manifest)))
        .with_context(|| format!("cannot push to {target}"))?;
    Ok(Pushed {
        layer_digest,
        manifest_url: pushed.manifest_url,
    })
}

/// Pulls the Wasm binary of an artifact.
pub fn pull(source: &str) -> anyhow::Result<Vec<u8>> {
    let reference = reference(source)?;
    let image = runtime()?
        .block_on(client(&reference).pull(
            &reference,
            &auth(),
            vec![LAYER_MEDIA_TYPE, LEGACY_LAYER_MEDIA_TYPE],
        ))
        .with_context(|| format!("cannot pull {source}"))?;
    let mut layers = image.layers.into_iter();
    match (layers.next(), layers.next()) {
        (Some(layer), None) => {
            if !layer.data.starts_with(b"\0asm") {
                bail!("{source} is not a WebAssembly artifact: its layer is no .wasm binary");
            }
            Ok(layer.data.to_vec())
        }
        (None, _) => bail!("{source} has no Wasm layer"),
        (Some(_), Some(_)) => bail!("{source} has more than one layer: wisp deploys one module"),
    }
}

/// Runs `f` on a thread of its own: the OCI client's runtime may not start
/// on a thread that drives the server's.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Module binaries in an OCI repository (`wisp serve --artifacts
/// oci://HOST[:PORT]/REPO`): each module a Wasm artifact tagged
/// `sha256-HASH`, its layer's digest `sha256:HASH`, so a node that lacks a
/// module pulls it by the hash its record names and checks it.
pub struct OciModules {
    /// `oci://HOST[:PORT]/REPO`.
    repository: String,
}

impl OciModules {
    /// The repository `url` names (no tag or digest: each module gets its
    /// own).
    pub fn new(url: &str) -> anyhow::Result<OciModules> {
        let url = url.trim_end_matches('/');
        reference(url)?;
        let repo_part = url.rsplit('/').next().unwrap_or_default();
        if repo_part.contains(':') || repo_part.contains('@') {
            bail!(
                "--artifacts names a repository, oci://HOST[:PORT]/REPO, without a tag: each module is tagged with its hash"
            );
        }
        Ok(OciModules {
            repository: url.to_string(),
        })
    }

    fn tag(&self, hash: &str) -> String {
        format!("{}:sha256-{hash}", self.repository)
    }
}

impl wisp_registry::ModuleStore for OciModules {
    fn put(&self, hash: &str, bytes: &[u8]) -> wisp_registry::Result<()> {
        let target = self.tag(hash);
        off_runtime(|| push(bytes, &target)).map_err(|e| {
            wisp_registry::RegistryError::Storage(format!(
                "cannot push module {hash} to {}: {e:#}",
                self.repository
            ))
        })?;
        Ok(())
    }

    fn get(&self, hash: &str) -> wisp_registry::Result<Option<Vec<u8>>> {
        let source = self.tag(hash);
        let bytes = off_runtime(|| pull(&source)).map_err(|e| {
            wisp_registry::RegistryError::Storage(format!(
                "cannot pull module {hash} from {}: {e:#}",
                self.repository
            ))
        })?;
        if hex::encode(Sha256::digest(&bytes)) != hash {
            return Err(wisp_registry::RegistryError::Storage(format!(
                "{source} does not hold module {hash}: its content has another hash"
            )));
        }
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_a_registry_and_a_repository() {
        let r = reference("oci://127.0.0.1:5000/fns/hello:v1").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "fns/hello");
        assert_eq!(r.tag(), Some("v1"));
        assert!(is_loopback(r.resolve_registry()));
        assert!(!is_loopback("ghcr.io"));
        assert!(reference("127.0.0.1:5000/fns/hello").is_err());
        assert!(reference("oci://hello").is_err());
        assert!(reference("oci://host/UPPER:tag").is_err());
    }
}
