//! The on-disk compiled-code cache.
//!
//! Native code compiled from a module is written to
//! `DIR/<engine fingerprint>/<module sha256>.cwasm`. The fingerprint covers
//! everything that makes compiled code incompatible (wasmtime version, target,
//! engine settings), so an upgrade or a config change simply starts a new
//! directory and never loads stale code. Files are written to a temporary name and
//! renamed, so a crash never leaves a half-written artifact under a real name.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;

/// A directory of precompiled artifacts for one engine configuration.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// Opens (creating) the cache below `root` for `engine`.
    pub fn open(root: &Path, engine: &Engine) -> std::io::Result<Self> {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("{:016x}", hasher.finish()));
        std::fs::create_dir_all(&dir)?;
        Ok(DiskCache { dir })
    }

    /// Where the artifact of the module with this hash lives.
    pub fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.cwasm"))
    }

    /// Whether an artifact exists for this hash.
    pub fn contains(&self, hash: &str) -> bool {
        self.path(hash).is_file()
    }

    /// Atomically stores an artifact.
    pub fn store(&self, hash: &str, artifact: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(artifact)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.path(hash)).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes an artifact that failed to load, so it is rebuilt next time.
    pub fn remove(&self, hash: &str) {
        let _ = std::fs::remove_file(self.path(hash));
    }
}
