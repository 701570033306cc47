//! The on-disk compiled-code cache.
//!
//! Native code compiled from a module is written to
//! `DIR/<arch>-<os>-<engine fingerprint>/<module sha256>.cwasm`. The
//! fingerprint covers everything that makes compiled code incompatible
//! (wasmtime version, target, engine settings), so an upgrade or a config
//! change simply starts a new directory and never loads stale code; the
//! target is also spelled out in the name, so a data directory moved from an
//! x86-64 node to an aarch64 one (or shared by both) keeps each one's code
//! apart, and never loads the other's (wasmtime would refuse it too). Files are written to a temporary name and
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
        let dir = root.join(format!(
            "{}-{}-{:016x}",
            std::env::consts::ARCH,
            std::env::consts::OS,
            hasher.finish()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(DiskCache { dir })
    }

    /// Where the artifact of the module with this hash lives.
    pub fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.cwasm"))
    }

    /// Atomically stores an artifact.
    pub fn store(&self, hash: &str, artifact: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(artifact)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.path(hash)).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes an artifact (one that failed to load, or whose module is gone).
    pub fn remove(&self, hash: &str) {
        let _ = std::fs::remove_file(self.path(hash));
    }

    /// Removes every artifact whose module hash `keep` rejects, and leftovers of
    /// interrupted writes; returns how many files went.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let artifact = path.extension().is_some_and(|e| e == "cwasm");
            if (!artifact || !keep(stem)) && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_keeps_only_what_is_used() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = DiskCache::open(root.path(), &engine).unwrap();
        cache.store("aa", b"one").unwrap();
        cache.store("bb", b"two").unwrap();
        std::fs::write(cache.dir.join(".tmpXYZ"), b"half").unwrap();
        assert_eq!(cache.retain(|h| h == "aa"), 2);
        assert!(cache.path("aa").is_file());
        assert!(!cache.path("bb").is_file());
        assert_eq!(std::fs::read_dir(&cache.dir).unwrap().count(), 1);
    }

    #[test]
    fn the_directory_is_named_by_target() {
        let root = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(root.path(), &Engine::default()).unwrap();
        let name = cache.dir.file_name().unwrap().to_str().unwrap();
        let prefix = format!("{}-{}-", std::env::consts::ARCH, std::env::consts::OS);
        assert!(name.starts_with(&prefix), "{name}");
    }
}
