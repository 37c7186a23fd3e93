//! The command line: `elearning-api [serve|migrate|openapi]`, configured by environment variables
//! (or the matching flags).

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Fast, fault-tolerant REST API for an e-learning platform.
#[derive(Debug, Parser)]
#[command(name = "elearning-api", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings, from the environment.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document (what `openapi/openapi.json` holds).
    Openapi,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
