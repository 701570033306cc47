//! WASI preview1 command modules: `_start` with stdin, stdout, stderr and an
//! environment, and nothing else (no preopened directories, no sockets, no host
//! environment variables).

use std::collections::HashSet;

use bytes::Bytes;
use wasmtime::{Engine, InstancePre, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use crate::capture::Capture;
use crate::sandbox::{Limiter, check_quota};
use crate::{DeployError, InvokeError, InvokeLimits, RunFacts, classify};

/// Per-call state of a command instance.
pub(crate) struct CommandState {
    wasi: WasiP1Ctx,
    limiter: Limiter,
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
    let mut store = Store::new(engine, empty_state());
    linker
        .iter(&mut store)
        .map(|(m, n, _)| (m.to_string(), n.to_string()))
        .collect()
}

fn empty_state() -> CommandState {
    CommandState {
        wasi: WasiCtxBuilder::new().build_p1(),
        limiter: Limiter::new(0),
    }
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

/// What a command wrote and how it ended.
pub(crate) struct CommandOutput {
    pub stdout: Bytes,
    pub stderr: Bytes,
    pub exit_code: i32,
    /// Time spent creating the instance.
    pub init: std::time::Duration,
}

impl CommandOutput {
    /// Fails unless the command exited with status 0.
    pub fn success(&self) -> Result<(), InvokeError> {
        if self.exit_code == 0 {
            Ok(())
        } else {
            Err(InvokeError::Exit {
                code: self.exit_code,
                stderr: crate::tail(&self.stderr),
            })
        }
    }
}

/// Caps of a command's captured output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputCaps {
    pub stdout: usize,
    pub stderr: usize,
    /// What stdout is to the caller: `stdout`, or `response` for CGI web calls.
    pub stdout_is: &'static str,
}

/// Runs `_start` in a fresh instance with `stdin` and `env`; stdout and stderr
/// are captured up to the given caps.
pub(crate) async fn run(
    pre: &InstancePre<CommandState>,
    stdin: Bytes,
    env: Vec<(String, String)>,
    limits: &InvokeLimits,
    output: OutputCaps,
    placement: crate::demote::Placement,
) -> Result<CommandOutput, InvokeError> {
    let stdout = Capture::new(output.stdout);
    let stderr = Capture::new(output.stderr);
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdin(MemoryInputPipe::new(stdin))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .envs(&env)
        .arg("main");
    limits
        .grants
        .apply(&mut builder)
        .map_err(InvokeError::Internal)?;
    let state = CommandState {
        wasi: builder.build_p1(),
        limiter: Limiter::new(limits.memory_bytes),
    };
    let mut store = Store::new(pre.module().engine(), state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);

    let pre = pre.clone();
    let timeout = limits.timeout;
    let guest = async move {
        let mut init = std::time::Duration::ZERO;
        let call = async {
            let began = std::time::Instant::now();
            let instance = pre.instantiate_async(&mut store).await?;
            init = began.elapsed();
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call_async(&mut store, ()).await
        };
        let result = tokio::time::timeout(timeout, call).await;
        (result, store.data().limiter.hit_memory, init)
    };
    let (result, hit_memory, init) = crate::demote::run(guest, placement)
        .await
        .map_err(|e| InvokeError::Internal(format!("instance task failed: {e}")))?;
    let exit_code = match result {
        Err(_) => return Err(InvokeError::Timeout(limits.timeout.as_millis() as u64)),
        Ok(Ok(())) => 0,
        Ok(Err(e)) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => exit.0,
            None => {
                return Err(classify(
                    e,
                    &RunFacts {
                        hit_memory,
                        memory_bytes: limits.memory_bytes,
                        stdout: &stdout,
                        stdout_is: output.stdout_is,
                        stderr: &stderr,
                    },
                ));
            }
        },
    };
    check_quota(&limits.grants)?;
    Ok(CommandOutput {
        stdout: stdout.contents(),
        stderr: stderr.contents(),
        exit_code,
        init,
    })
}
