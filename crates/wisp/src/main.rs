//! The `wisp` binary: the server (`wisp serve`) and the CLI that talks to it.

mod client;
mod commands;
mod oci;
mod toolchain;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: its small allocations are cheaper and it
/// does not sprawl arenas across threads (see docs/performance.md for the
/// measurement).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Milliseconds mimalloc keeps freed pages before returning them to the kernel.
/// Its default, 1 s, let a server under load hold 20 MiB it no longer used (a
/// burst of activation records written, a module compiled); 0 returns them at
/// once, at no measurable cost in throughput. `MIMALLOC_PURGE_DELAY` overrides.
const PURGE_DELAY_MS: std::ffi::c_long = 0;
/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (include/mimalloc.h);
/// libmimalloc-sys names no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[allow(
    unsafe_code,
    reason = "mi_option_set is mimalloc's own call for setting an option; it takes plain integers"
)]
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a documented mimalloc option and value; no memory is touched.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

/// wisp: WebAssembly functions for the edge.
#[derive(Parser)]
#[command(name = "wisp", version, about)]
struct Cli {
    #[command(flatten)]
    global: client::GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the wisp server.
    Serve(commands::serve::ServeCommand),
    /// Create a function project from a template (rust-http, js-json, python-http, ...).
    New(commands::new::NewCommand),
    /// Build a function's source (Rust crate, .c, .cpp, .js, .py) into a .wasm and print its path.
    Build(commands::build::BuildCommand),
    /// Deploy (create or update) an action from a .wasm file or a source it builds, or every function of a wisp.toml (-f).
    Deploy(commands::deploy::DeployCommand),
    /// Push a .wasm file to an OCI registry as a Wasm artifact (oci://HOST:PORT/REPO:TAG).
    Push(commands::push::PushCommand),
    /// Invoke an action with JSON parameters and print its result.
    Invoke(commands::invoke::InvokeCommand),
    /// List actions.
    List(commands::list::ListCommand),
    /// Show one action.
    Get(commands::get::GetCommand),
    /// Delete an action.
    Rm(commands::rm::RmCommand),
    /// Manage namespaces and their API keys (with the server's own key).
    Namespace(commands::namespace::NamespaceCommand),
    /// Read and write the namespace's key-value stores.
    Kv(commands::kv::KvCommand),
    /// Print an action's activations and their log lines (`--follow`: as they arrive).
    Logs(commands::logs::LogsCommand),
    /// List an action's kept versions.
    Versions(commands::versions::VersionsCommand),
    /// Make a kept version of an action current again (default: the previous one).
    Rollback(commands::versions::RollbackCommand),
    /// Show an action's access pattern, call counts and latency percentiles.
    Stats(commands::stats::StatsCommand),
    /// Drive an HTTP URL with an access pattern (SCMA, MCSA, MCMA) and report latencies.
    Load(commands::load::LoadCommand),
    /// Manage triggers: create, fire, ls, rm.
    Trigger(commands::trigger::TriggerCommand),
    /// Manage rules: create, enable, disable, rm, ls.
    Rule(commands::rule::RuleCommand),
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let g = &cli.global;
    let result = match cli.command {
        Command::Serve(c) => c.execute(g),
        Command::New(c) => c.execute(),
        Command::Build(c) => c.execute(),
        Command::Deploy(c) => c.execute(g),
        Command::Push(c) => c.execute(),
        Command::Invoke(c) => c.execute(g),
        Command::List(c) => c.execute(g),
        Command::Get(c) => c.execute(g),
        Command::Rm(c) => c.execute(g),
        Command::Namespace(c) => c.execute(g),
        Command::Kv(c) => c.execute(g),
        Command::Logs(c) => c.execute(g),
        Command::Versions(c) => c.execute(g),
        Command::Rollback(c) => c.execute(g),
        Command::Stats(c) => c.execute(g),
        Command::Load(c) => c.execute(),
        Command::Trigger(c) => c.execute(g),
        Command::Rule(c) => c.execute(g),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
