//! Pre-initialized snapshots: a module's init export runs once, at deploy, and
//! the instance it leaves becomes the module every call instantiates.
//!
//! The binary is instrumented (wasmtime-wizer exports its globals and memories),
//! compiled and instantiated in a sandbox of its own: the action's memory
//! limit, the server's init time limit, the action's `/assets` read-only, no
//! `/data`, no environment, no arguments, no network. Its init export runs;
//! wizer then reads the instance's memories and globals and writes a new binary
//! whose data segments hold them, without the init export. Each call's fresh
//! instance then maps that memory image copy-on-write instead of rebuilding it.
//!
//! What an init reads of its environment is frozen into the snapshot: clocks,
//! random numbers, the files of `/assets`. A module the snapshot cannot
//! describe (imported memories or tables, reference-typed mutable globals,
//! table mutation, nested components) is refused with the reason.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime_wizer::{ComponentInstanceState, InstanceState, SnapshotVal, ValType, Wizer};
use wisp_api::Init;
use wisp_api::resolve::DEFAULT_INIT_EXPORT;

use crate::capture::Capture;
use crate::runner::{self, Captured, GuestState};
use crate::{DeployError, Grants, InvokeError, InvokeLimits, Invoker, Shape, detect_shape};

/// How an action's init runs at deploy.
#[derive(Debug, Clone)]
pub struct InitSpec {
    /// Which export, from the action's `init` annotation.
    pub init: Init,
    /// The action's memory limit, in bytes.
    pub memory_bytes: usize,
    /// How long the init may run (`wisp serve --init-timeout`).
    pub timeout: Duration,
    /// The action's assets directory, mounted read-only at `/assets`.
    pub assets: Option<PathBuf>,
}

/// A pre-initialized binary.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The snapshot: what every call instantiates.
    pub bytes: Vec<u8>,
    /// The export that ran.
    pub export: String,
    /// How long instantiating and running it took.
    pub took: Duration,
}

/// Bytes of an init's stdout and of its stderr kept, to explain a failure.
const INIT_OUTPUT_BYTES: usize = 64 * 1024;

impl Invoker {
    /// Runs the init export `spec` names (or `wizer-initialize`, when the
    /// binary has it and no annotation says otherwise) and snapshots the
    /// instance. `None` when there is nothing to run. CPU-heavy and blocking:
    /// call it from a blocking context.
    pub fn snapshot(&self, bytes: &[u8], spec: &InitSpec) -> Result<Option<Snapshot>, DeployError> {
        let shape = detect_shape(bytes)?;
        let export = match &spec.init {
            Init::Off => return Ok(None),
            Init::Auto
                if exports(bytes, shape)?
                    .iter()
                    .any(|e| e == DEFAULT_INIT_EXPORT) =>
            {
                DEFAULT_INIT_EXPORT.to_string()
            }
            Init::Auto => return Ok(None),
            Init::Export(name) => {
                let found = exports(bytes, shape)?;
                if !found.iter().any(|e| e == name) {
                    return Err(DeployError::Init(format!(
                        "the init export `{name}` does not exist; the {} exports: {}",
                        shape_noun(shape),
                        found.join(", ")
                    )));
                }
                name.clone()
            }
        };
        let limits = InvokeLimits {
            timeout: spec.timeout,
            memory_bytes: spec.memory_bytes,
            // No /data, no network, no key-value store, no config variables.
            grants: Arc::new(Grants {
                assets: spec.assets.clone(),
                ..Grants::default()
            }),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| DeployError::Invalid(format!("cannot run the init: {e}")))?;
        let mut wizer = Wizer::new();
        wizer.init_func(export.clone());
        let (bytes, took) = match shape {
            Shape::Command => runtime.block_on(self.snapshot_module(&wizer, bytes, &limits))?,
            Shape::Http => runtime.block_on(self.snapshot_component(&wizer, bytes, &limits))?,
        };
        Ok(Some(Snapshot {
            bytes,
            export,
            took,
        }))
    }

    async fn snapshot_module(
        &self,
        wizer: &Wizer,
        bytes: &[u8],
        limits: &InvokeLimits,
    ) -> Result<(Vec<u8>, Duration), DeployError> {
        let (cx, instrumented) = wizer.instrument(bytes).map_err(unsnapshottable)?;
        let module = wasmtime::Module::new(&self.engine, &instrumented)
            .map_err(|e| DeployError::Invalid(format!("invalid WebAssembly: {e:#}")))?;
        let export = wizer.get_init_func().to_string();
        match module.get_export(&export) {
            Some(wasmtime::ExternType::Func(f))
                if f.params().len() == 0 && f.results().len() == 0 => {}
            _ => return Err(not_a_plain_function(&export)),
        }
        let output = Output::new();
        let mut builder = wasmtime_wasi::WasiCtxBuilder::new();
        builder
            .stdout(output.stdout.clone())
            .stderr(output.stderr.clone());
        let mut store = crate::command::new_store(&self.engine, builder, limits)
            .map_err(|e| DeployError::Init(e.to_string()))?;
        let linker = &self.command_linker;
        let began = Instant::now();
        let run = async {
            let instance = linker.instantiate_async(&mut store, &module).await?;
            if export != "_initialize"
                && let Ok(reactor) = instance.get_typed_func::<(), ()>(&mut store, "_initialize")
            {
                reactor.call_async(&mut store, ()).await?;
            }
            let init = instance.get_typed_func::<(), ()>(&mut store, &export)?;
            init.call_async(&mut store, ()).await?;
            Ok::<_, wasmtime::Error>(instance)
        };
        let ran = tokio::time::timeout(limits.timeout, run).await;
        let took = began.elapsed();
        let instance = output.judge(ran, &mut store, limits, &export)?;
        let mut access = CoreAccess {
            store: &mut store,
            instance,
            failed: None,
        };
        let snapshot = wizer
            .snapshot(&cx, &mut access)
            .await
            .map_err(unsnapshottable)?;
        if let Some(why) = access.failed {
            return Err(unsnapshottable(why));
        }
        Ok((snapshot, took))
    }

    async fn snapshot_component(
        &self,
        wizer: &Wizer,
        bytes: &[u8],
        limits: &InvokeLimits,
    ) -> Result<(Vec<u8>, Duration), DeployError> {
        let (cx, instrumented) = wizer.instrument_component(bytes).map_err(unsnapshottable)?;
        let component = wasmtime::component::Component::new(&self.engine, &instrumented)
            .map_err(|e| DeployError::Invalid(format!("invalid WebAssembly component: {e:#}")))?;
        let export = wizer.get_init_func().to_string();
        match component.get_export(None, export.as_str()) {
            Some((wasmtime::component::types::ComponentItem::ComponentFunc(f), _))
                if f.params().len() == 0 && f.results().len() == 0 => {}
            _ => return Err(not_a_plain_function(&export)),
        }
        let output = Output::new();
        let mut store =
            crate::http_component::new_store(&self.engine, limits, &output.stdout, &output.stderr)
                .map_err(|e| DeployError::Init(e.to_string()))?;
        let linker = &self.http_linker;
        let began = Instant::now();
        let run = async {
            let instance = linker.instantiate_async(&mut store, &component).await?;
            let init = instance.get_typed_func::<(), ()>(&mut store, export.as_str())?;
            init.call_async(&mut store, ()).await?;
            Ok::<_, wasmtime::Error>(instance)
        };
        let ran = tokio::time::timeout(limits.timeout, run).await;
        let took = began.elapsed();
        let instance = output.judge(ran, &mut store, limits, &export)?;
        let mut access = ComponentAccess {
            store: &mut store,
            instance,
            failed: None,
        };
        let snapshot = wizer
            .snapshot_component(&cx, &mut access)
            .await
            .map_err(unsnapshottable)?;
        if let Some(why) = access.failed {
            return Err(unsnapshottable(why));
        }
        Ok((snapshot, took))
    }
}

/// An init export of the wrong kind or type.
fn not_a_plain_function(export: &str) -> DeployError {
    DeployError::Init(format!(
        "the init export `{export}` must be a function taking and returning nothing"
    ))
}

/// A binary the snapshot cannot describe.
fn unsnapshottable(e: impl std::fmt::Display) -> DeployError {
    DeployError::Init(format!(
        "the instance its init left cannot be snapshotted: {e:#}"
    ))
}

fn shape_noun(shape: Shape) -> &'static str {
    match shape {
        Shape::Command => "module",
        Shape::Http => "component",
    }
}

/// The names a binary exports: a core module's exports, or a component's
/// top-level ones. Read without compiling it.
pub fn exports(bytes: &[u8], shape: Shape) -> Result<Vec<String>, DeployError> {
    let invalid = |e: wasmparser::BinaryReaderError| {
        DeployError::Invalid(format!("invalid WebAssembly: {e}"))
    };
    let mut names = Vec::new();
    // Nested modules and components have export sections of their own: only
    // the outermost one counts.
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ExportSection(s) if depth == 0 && shape == Shape::Command => {
                for e in s {
                    names.push(e.map_err(invalid)?.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(s)
                if depth == 0 && shape == Shape::Http =>
            {
                for e in s {
                    names.push(e.map_err(invalid)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// An init's stdout and stderr, kept to explain its failure.
struct Output {
    stdout: Capture,
    stderr: Capture,
}

impl Output {
    fn new() -> Self {
        Output {
            stdout: Capture::new(INIT_OUTPUT_BYTES),
            stderr: Capture::new(INIT_OUTPUT_BYTES),
        }
    }

    /// The instance an init left, or why it failed: trapped, exited, out of
    /// memory, out of time.
    fn judge<S: GuestState, T>(
        &self,
        ran: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
        store: &mut Store<S>,
        limits: &InvokeLimits,
        export: &str,
    ) -> Result<T, DeployError> {
        let e = match ran {
            Ok(Ok(instance)) => return Ok(instance),
            Err(_) => {
                return Err(DeployError::Init(format!(
                    "the init export `{export}` timed out: it ran longer than the init time limit of {} ms",
                    limits.timeout.as_millis()
                )));
            }
            Ok(Err(e)) => e,
        };
        let hit_memory = store.data_mut().facts().limiter.hit_memory;
        let why = runner::explain(
            e,
            hit_memory,
            &Captured {
                memory_bytes: limits.memory_bytes,
                stdout: &self.stdout,
                stdout_is: "stdout",
                stderr: &self.stderr,
            },
        );
        Err(DeployError::Init(match why {
            InvokeError::MemoryLimit(mb) => format!(
                "the init export `{export}` ran out of memory: it needed more than the action's memory limit of {mb} MB"
            ),
            InvokeError::Exit { code, stderr } => format!(
                "the init export `{export}` exited with status {code}{}",
                if stderr.is_empty() {
                    String::new()
                } else {
                    format!(": {stderr}")
                }
            ),
            InvokeError::Trap(msg) => format!("the init export `{export}` trapped: {msg}"),
            other => format!("the init export `{export}` failed: {other}"),
        }))
    }
}

/// Wizer's view of a core instance: its exported globals and memories.
struct CoreAccess<'a, S: 'static> {
    store: &'a mut Store<S>,
    instance: wasmtime::Instance,
    /// The first export that could not be read.
    failed: Option<String>,
}

impl<S: Send> InstanceState for CoreAccess<'_, S> {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        let value = self
            .instance
            .get_global(&mut *self.store, name)
            .map(|g| g.get(&mut *self.store));
        match value {
            Some(wasmtime::Val::I32(x)) => SnapshotVal::I32(x),
            Some(wasmtime::Val::I64(x)) => SnapshotVal::I64(x),
            Some(wasmtime::Val::F32(x)) => SnapshotVal::F32(x),
            Some(wasmtime::Val::F64(x)) => SnapshotVal::F64(x),
            Some(wasmtime::Val::V128(x)) => SnapshotVal::V128(x.as_u128()),
            other => {
                self.failed
                    .get_or_insert(format!("global `{name}` holds {other:?}"));
                SnapshotVal::I32(0)
            }
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(memory) => contents(memory.data(&*self.store)),
            None => {
                self.failed
                    .get_or_insert(format!("memory `{name}` is missing"));
                contents(&[]);
            }
        }
    }
}

/// Wizer's view of a component instance: the accessor functions its
/// instrumentation exports.
struct ComponentAccess<'a, S: 'static> {
    store: &'a mut Store<S>,
    instance: wasmtime::component::Instance,
    /// The first accessor that could not be called.
    failed: Option<String>,
}

impl<S: Send> ComponentAccess<'_, S> {
    async fn call<R>(&mut self, instance: &str, func: &str) -> Option<R>
    where
        R: wasmtime::component::Lift + Send + Sync + 'static,
    {
        let result = async {
            let outer = self
                .instance
                .get_export_index(&mut *self.store, None, instance)
                .ok_or_else(|| wasmtime::format_err!("no export `{instance}`"))?;
            let inner = self
                .instance
                .get_export_index(&mut *self.store, Some(&outer), func)
                .ok_or_else(|| wasmtime::format_err!("no export `{instance}#{func}`"))?;
            let f = self
                .instance
                .get_typed_func::<(), (R,)>(&mut *self.store, inner)?;
            Ok::<_, wasmtime::Error>(f.call_async(&mut *self.store, ()).await?.0)
        }
        .await;
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.failed.get_or_insert(format!("{e:#}"));
                None
            }
        }
    }
}

impl<S: Send> ComponentInstanceState for ComponentAccess<'_, S> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        match self
            .call::<wasmtime::component::WasmList<u8>>(instance, func)
            .await
        {
            Some(list) => contents(list.as_le_slice(&*self.store)),
            None => contents(&[]),
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func).await.unwrap_or_default()
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func).await.unwrap_or_default()
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call::<f32>(instance, func)
            .await
            .map(f32::to_bits)
            .unwrap_or_default()
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call::<f64>(instance, func)
            .await
            .map(f64::to_bits)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoker(dir: &std::path::Path) -> Invoker {
        let config = crate::InvokerConfig {
            engine: crate::EngineConfig {
                max_instances: 4,
                max_memory_bytes: 64 << 20,
            },
            queue: crate::QueueConfig {
                queue_timeout: Duration::from_secs(1),
                max_queue: 4,
            },
            max_request_bytes: 1 << 20,
            body_timeout: Duration::from_secs(1),
            max_log_bytes: 1 << 20,
            max_result_bytes: 1 << 20,
            max_response_bytes: 1 << 20,
            long_running_threads: 1,
            count_in_flight: false,
        };
        Invoker::new(&config, dir).unwrap()
    }

    fn spec() -> InitSpec {
        InitSpec {
            init: Init::Auto,
            memory_bytes: 16 << 20,
            timeout: Duration::from_secs(5),
            assets: None,
        }
    }

    /// A component's init sets a global and a word of memory; the snapshot
    /// starts with both, and no longer exports its init.
    #[test]
    fn a_component_snapshot_starts_where_its_init_left_it() {
        let dir = tempfile::tempdir().unwrap();
        let inv = invoker(dir.path());
        let wasm = wat::parse_str(
            r#"(component
                (core module $m
                  (memory (export "memory") 1)
                  (global $g (mut i32) (i32.const 0))
                  (func (export "init")
                    (global.set $g (i32.const 40))
                    (i32.store (i32.const 100) (i32.const 2)))
                  (func (export "get") (result i32)
                    (i32.add (global.get $g) (i32.load (i32.const 100)))))
                (core instance $i (instantiate $m))
                (func (export "wizer-initialize") (canon lift (core func $i "init")))
                (func (export "get") (result s32) (canon lift (core func $i "get"))))"#,
        )
        .unwrap();
        let snap = inv.snapshot(&wasm, &spec()).unwrap().unwrap();
        assert_eq!(snap.export, "wizer-initialize");
        assert_eq!(exports(&snap.bytes, Shape::Http).unwrap(), ["get"]);
        let engine = wasmtime::Engine::default();
        let component = wasmtime::component::Component::new(&engine, &snap.bytes).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = wasmtime::component::Linker::new(&engine)
            .instantiate(&mut store, &component)
            .unwrap();
        let get = instance
            .get_typed_func::<(), (i32,)>(&mut store, "get")
            .unwrap();
        assert_eq!(get.call(&mut store, ()).unwrap(), (42,));
        // `init: false` leaves it alone.
        let off = InitSpec {
            init: Init::Off,
            ..spec()
        };
        assert!(inv.snapshot(&wasm, &off).unwrap().is_none());
    }

    #[test]
    fn a_component_init_of_the_wrong_type_is_refused_before_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let inv = invoker(dir.path());
        let wasm = wat::parse_str(
            r#"(component
                (core module $m (func (export "init") (param i32)))
                (core instance $i (instantiate $m))
                (func (export "wizer-initialize") (param "n" s32) (canon lift (core func $i "init"))))"#,
        )
        .unwrap();
        let err = inv.snapshot(&wasm, &spec()).unwrap_err().to_string();
        assert_eq!(
            err,
            "the init export `wizer-initialize` must be a function taking and returning nothing"
        );
    }

    #[test]
    fn exports_of_the_outer_module_only() {
        let wasm = wat::parse_str(
            r#"(module (func (export "wizer-initialize")) (func (export "_start")))"#,
        )
        .unwrap();
        assert_eq!(
            exports(&wasm, Shape::Command).unwrap(),
            ["wizer-initialize", "_start"]
        );
    }
}
