//! WASI preview1 command modules: `_start` with stdin, stdout, stderr, an
//! environment and the action's grants (see [`sandbox`](crate::sandbox):
//! `/data`, `/assets`), and nothing else: no sockets, no host environment.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use wasmtime::{Engine, InstancePre, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use crate::admission::Admitted;
use crate::capture::Capture;
use crate::runner::{self, CallFacts, Captured, Guest, GuestState};
use crate::sandbox::check_quota;
use crate::{DeployError, InvokeError, InvokeLimits};

/// Per-call state of a command instance.
pub(crate) struct CommandState {
    wasi: WasiP1Ctx,
    facts: CallFacts,
}

impl GuestState for CommandState {
    fn facts(&mut self) -> &mut CallFacts {
        &mut self.facts
    }
}

pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<CommandState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut CommandState| &mut s.wasi)?;
    Ok(linker)
}

/// Every `(module, name)` the linker defines, to name missing imports at deploy.
pub(crate) fn provided_imports(
    engine: &Engine,
    linker: &Linker<CommandState>,
) -> HashSet<(String, String)> {
    let mut store = Store::new(
        engine,
        CommandState {
            wasi: WasiCtxBuilder::new().build_p1(),
            facts: CallFacts::new(0),
        },
    );
    linker
        .iter(&mut store)
        .map(|(m, n, _)| (m.to_string(), n.to_string()))
        .collect()
}

pub(crate) fn prepare(
    linker: &Linker<CommandState>,
    provided: &HashSet<(String, String)>,
    module: &Module,
) -> Result<InstancePre<CommandState>, DeployError> {
    let missing: Vec<String> = module
        .imports()
        .filter(|i| !provided.contains(&(i.module().to_string(), i.name().to_string())))
        .map(|i| format!("{}::{}", i.module(), i.name()))
        .collect();
    if !missing.is_empty() {
        return Err(DeployError::MissingImports(missing));
    }
    match module.get_export("_start") {
        Some(wasmtime::ExternType::Func(_)) => {}
        _ => {
            return Err(DeployError::Invalid(
                "the module exports no `_start` function; wisp runs WASI command modules (or wasi:http components)".into(),
            ));
        }
    }
    linker
        .instantiate_pre(module)
        .map_err(|e| DeployError::Invalid(format!("cannot link the module: {e:#}")))
}

/// What a command wrote; it exited with status 0.
pub(crate) struct CommandOutput {
    pub stdout: Bytes,
    pub stderr: Bytes,
    /// Time spent creating the instance.
    pub init: Duration,
}

/// Caps of a command's captured output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputCaps {
    pub stdout: usize,
    pub stderr: usize,
    /// What stdout is to the caller: `stdout`, or `response` for CGI web calls.
    pub stdout_is: &'static str,
}

/// `_start` of a fresh instance; its exit status is its output.
struct Start(InstancePre<CommandState>);

impl Guest for Start {
    type State = CommandState;
    type Output = i32;

    async fn run(self, store: &mut Store<CommandState>) -> wasmtime::Result<i32> {
        let began = std::time::Instant::now();
        let instance = self.0.instantiate_async(&mut *store).await?;
        store.data_mut().facts.init = began.elapsed();
        let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
        match start.call_async(&mut *store, ()).await {
            Ok(()) => Ok(0),
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err(e),
            },
        }
    }
}

/// A store for a command: the stdio and environment `builder` holds, and the
/// grants and memory limit in `limits`.
pub(crate) fn new_store(
    engine: &Engine,
    mut builder: WasiCtxBuilder,
    limits: &InvokeLimits,
) -> Result<Store<CommandState>, InvokeError> {
    limits
        .grants
        .apply(&mut builder)
        .map_err(InvokeError::Internal)?;
    let state = CommandState {
        wasi: builder.build_p1(),
        facts: CallFacts::new(limits.memory_bytes),
    };
    Ok(runner::new_store(engine, state))
}

/// Runs `_start` in a fresh instance with `stdin` and `env`; stdout and stderr
/// are captured up to the given caps. A non-zero exit status is an error.
pub(crate) async fn run(
    pre: &InstancePre<CommandState>,
    stdin: Bytes,
    env: &[(String, String)],
    limits: &InvokeLimits,
    output: OutputCaps,
    admitted: Admitted,
    placement: crate::demote::Placement,
) -> Result<CommandOutput, InvokeError> {
    let stdout = Capture::new(output.stdout);
    let stderr = Capture::new(output.stderr);
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdin(MemoryInputPipe::new(stdin))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .envs(env)
        .arg("main");
    let store = new_store(pre.module().engine(), builder, limits)?;
    let outcome = runner::run(
        store,
        Start(pre.clone()),
        limits.timeout,
        admitted,
        placement,
    )
    .await;
    let init = outcome.init;
    let code = outcome.into_result(&Captured {
        memory_bytes: limits.memory_bytes,
        stdout: &stdout,
        stdout_is: output.stdout_is,
        stderr: &stderr,
    })?;
    check_quota(&limits.grants)?;
    let stderr = stderr.contents();
    if code != 0 {
        return Err(InvokeError::Exit {
            code,
            stderr: runner::tail(&stderr),
        });
    }
    Ok(CommandOutput {
        stdout: stdout.contents(),
        stderr,
        init,
    })
}
