//! `wisp push FILE.wasm oci://HOST[:PORT]/REPO[:TAG]`: a module as a Wasm OCI
//! artifact, which `wisp deploy NAME oci://…` then deploys.

use std::path::PathBuf;

use anyhow::Context as _;

/// Push a .wasm file to an OCI registry.
#[derive(clap::Args, Debug)]
pub struct PushCommand {
    /// The WebAssembly binary (a component or a core module).
    file: PathBuf,
    /// Where to: oci://HOST[:PORT]/REPO[:TAG] (plain HTTP on loopback, HTTPS
    /// elsewhere; WISP_OCI_USERNAME and WISP_OCI_PASSWORD for Basic auth).
    reference: String,
}

impl PushCommand {
    /// Runs the subcommand.
    pub fn execute(self) -> anyhow::Result<()> {
        let module = std::fs::read(&self.file)
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        let pushed = crate::oci::push(&module, &self.reference)?;
        println!(
            "pushed {} ({}) to {}",
            self.file.display(),
            pushed.layer_digest,
            pushed.manifest_url
        );
        Ok(())
    }
}
