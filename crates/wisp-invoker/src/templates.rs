//! Templates: a module validated, compiled (or loaded from the disk cache) and
//! linked once, kept in memory by content hash, instantiated for every call.

use std::path::Path;
use std::sync::Arc;

use wasmtime::Engine;

use crate::{
    DeployError, Invoker, Prepared, Shape, Template, Warmth, command, detect_shape, http_component,
};

/// A compiled artifact with its size in bytes and where it came from.
type Loaded<T> = Option<(T, (usize, Warmth))>;

impl Invoker {
    /// The prepared template for this hash, if its compiled code is in memory.
    pub fn cached(&self, hash: &str) -> Option<Arc<Prepared>> {
        self.memory.lock().ok()?.get(hash).cloned()
    }

    /// Validates, compiles and links `bytes`, caching the result in memory and on
    /// disk, and says where it came from. A binary whose compiled code is already
    /// on disk is loaded, not recompiled. CPU-heavy: call it from a blocking
    /// context.
    pub fn prepare(&self, bytes: &[u8]) -> Result<(Arc<Prepared>, Warmth), DeployError> {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        if let Some(p) = self.cached(&hash) {
            return Ok((p, Warmth::Hot));
        }
        let shape = detect_shape(bytes)?;
        // With the binary given, linking always compiles when nothing is cached.
        self.link(hash, shape, Some(bytes))?
            .ok_or_else(|| DeployError::Invalid("the module could not be compiled".into()))
    }

    /// The template of a module already deployed, from memory or from the disk
    /// cache, without its binary: no read of the module, no hash of it. `None`
    /// when its compiled code is not on disk (the caller then [`prepare`]s the
    /// binary). Call it from a blocking context.
    ///
    /// [`prepare`]: Invoker::prepare
    pub fn load(
        &self,
        hash: &str,
        shape: Shape,
    ) -> Result<Option<(Arc<Prepared>, Warmth)>, DeployError> {
        if let Some(p) = self.cached(hash) {
            return Ok(Some((p, Warmth::Hot)));
        }
        self.link(hash.to_string(), shape, None)
    }

    /// Links a template from the disk cache, else (when `bytes` are given) from
    /// freshly compiled code, and keeps it in memory.
    fn link(
        &self,
        hash: String,
        shape: Shape,
        bytes: Option<&[u8]>,
    ) -> Result<Option<(Arc<Prepared>, Warmth)>, DeployError> {
        let linked = match shape {
            Shape::Command => self
                .load_or_compile(&hash, bytes, |e, b| wasmtime::Module::new(e, b))?
                .map(|(module, origin)| {
                    command::prepare(&self.command_linker, &self.command_imports, &module)
                        .map(|pre| (Template::Command(pre), origin))
                })
                .transpose()?,
            Shape::Http => self
                .load_or_compile(&hash, bytes, |e, b| {
                    wasmtime::component::Component::new(e, b)
                })?
                .map(|(component, origin)| {
                    http_component::prepare(&self.http_linker, &component)
                        .map(|pre| (Template::Http(pre), origin))
                })
                .transpose()?,
        };
        let Some((template, (code_bytes, warmth))) = linked else {
            return Ok(None);
        };
        let prepared = Arc::new(Prepared {
            shape,
            hash: hash.clone(),
            code_bytes,
            template,
            runs_long: Arc::default(),
        });
        if let Ok(mut mem) = self.memory.lock() {
            mem.insert(hash, prepared.clone());
        }
        Ok(Some((prepared, warmth)))
    }

    /// Drops a template from memory; its compiled code stays on disk, so the
    /// next call loads it (a cold start) instead of recompiling. Calls in flight
    /// keep their own reference. Returns whether it was in memory.
    pub fn evict(&self, hash: &str) -> bool {
        self.memory
            .lock()
            .map(|mut m| m.remove(hash).is_some())
            .unwrap_or(false)
    }

    /// Forgets a module no action uses any more: its template and its compiled
    /// code on disk.
    pub fn forget(&self, hash: &str) {
        self.evict(hash);
        self.disk.remove(hash);
    }

    /// Removes compiled code on disk of modules `used` rejects (left by a crash
    /// between a registry change and the cleanup). Returns how many went.
    pub fn retain_compiled(&self, used: impl Fn(&str) -> bool) -> usize {
        self.disk.retain(used)
    }

    /// Every template in memory: its hash and the bytes of compiled code it holds.
    pub fn hot(&self) -> Vec<(String, usize)> {
        self.memory
            .lock()
            .map(|m| m.values().map(|p| (p.hash.clone(), p.code_bytes)).collect())
            .unwrap_or_default()
    }

    /// Loads the artifact from the disk cache, or compiles (and stores) it when
    /// `bytes` are given; returns it with its size and where it came from.
    fn load_or_compile<T: Artifact>(
        &self,
        hash: &str,
        bytes: Option<&[u8]>,
        compile: impl Fn(&Engine, &[u8]) -> wasmtime::Result<T>,
    ) -> Result<Loaded<T>, DeployError> {
        let path = self.disk.path(hash);
        if let Ok(meta) = std::fs::metadata(&path) {
            match T::load(&self.engine, &path) {
                Ok(a) => return Ok(Some((a, (meta.len() as usize, Warmth::Disk)))),
                Err(e) => {
                    tracing::warn!(%hash, "discarding unusable cached artifact: {e:#}");
                    self.disk.remove(hash);
                }
            }
        }
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let artifact = compile(&self.engine, bytes)
            .map_err(|e| DeployError::Invalid(format!("invalid WebAssembly: {e:#}")))?;
        let mut size = bytes.len();
        match artifact.serialize() {
            Ok(native) => {
                size = native.len();
                if let Err(e) = self.disk.store(hash, &native) {
                    tracing::warn!(%hash, "could not write compiled code to disk: {e}");
                }
            }
            Err(e) => tracing::warn!(%hash, "could not serialize compiled code: {e:#}"),
        }
        Ok(Some((artifact, (size, Warmth::Compiled))))
    }
}

/// Compiled code that can be written to and read from the disk cache.
trait Artifact: Sized {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;
    fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Self>;
}

impl Artifact for wasmtime::Module {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        wasmtime::Module::serialize(self)
    }
    #[allow(
        unsafe_code,
        reason = "the file was written by this process's DiskCache under a name only it uses; wasmtime checks the engine fingerprint on load"
    )]
    fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: see the reason above: the cache directory holds only artifacts
        // wisp compiled itself, written atomically.
        unsafe { wasmtime::Module::deserialize_file(engine, path) }
    }
}

impl Artifact for wasmtime::component::Component {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        wasmtime::component::Component::serialize(self)
    }
    #[allow(
        unsafe_code,
        reason = "the file was written by this process's DiskCache under a name only it uses; wasmtime checks the engine fingerprint on load"
    )]
    fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: as for modules above.
        unsafe { wasmtime::component::Component::deserialize_file(engine, path) }
    }
}
