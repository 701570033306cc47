//! The `wisp` binary: the server (`wisp serve`) and the CLI that talks to it.

mod client;
mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: per-thread free lists without arena
/// sprawl keep the server's resident memory flat under load, and its small
/// allocations are cheaper (see docs/performance.md for the measurement).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Deploy (create or update) an action from a .wasm file.
    Deploy(commands::deploy::DeployCommand),
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
    /// Show an action's access pattern, call counts and latency percentiles.
    Stats(commands::stats::StatsCommand),
    /// Drive an HTTP URL with an access pattern (SCMA, MCSA, MCMA) and report latencies.
    Load(commands::load::LoadCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let g = &cli.global;
    let result = match cli.command {
        Command::Serve(c) => c.execute(g),
        Command::Deploy(c) => c.execute(g),
        Command::Invoke(c) => c.execute(g),
        Command::List(c) => c.execute(g),
        Command::Get(c) => c.execute(g),
        Command::Rm(c) => c.execute(g),
        Command::Namespace(c) => c.execute(g),
        Command::Stats(c) => c.execute(g),
        Command::Load(c) => c.execute(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
