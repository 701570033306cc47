//! One module per subcommand, each a clap struct with an `execute()`.

pub mod build;
pub mod deploy;
pub mod get;
pub mod invoke;
pub mod kv;
pub mod list;
pub mod load;
pub mod logs;
pub mod namespace;
pub mod new;
pub mod push;
pub mod rm;
pub mod rule;
pub mod serve;
pub mod stats;
pub mod trigger;
pub mod versions;
