//! The `wisp` binary: the server (`wisp serve`) and the CLI that talks to it.

mod client;
mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// wisp: WebAssembly functions for the edge.
#[derive(Parser)]
#[command(name = "wisp", version, about)]
struct Cli {
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
    let result = match cli.command {
        Command::Serve(c) => c.execute(),
        Command::Deploy(c) => c.execute(),
        Command::Invoke(c) => c.execute(),
        Command::List(c) => c.execute(),
        Command::Get(c) => c.execute(),
        Command::Rm(c) => c.execute(),
        Command::Namespace(c) => c.execute(),
        Command::Stats(c) => c.execute(),
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
