//! The command line: `elearning-api [serve|migrate|check|seed|create-user|import|openapi|telegram]`,
//! configured by environment variables (or the matching flags).

use clap::{Parser, Subcommand};

use crate::{config::Config, telemetry::LogOutput};

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
    /// Check what a deploy needs (settings, secrets, PostgreSQL and its migrations, Redis, the
    /// Telegram webhook); exit non-zero with one line per problem. Render's pre-deploy command.
    Check(crate::check::CheckArgs),
    /// Fill an empty database with a reproducible demo dataset (applies migrations first).
    Seed(crate::seed::SeedOptions),
    /// Create an account, e.g. the first admin.
    CreateUser(CreateUserArgs),
    /// Load data from the original app (applies migrations first).
    #[command(subcommand)]
    Import(crate::import::ImportCommand),
    /// Print the OpenAPI document (what `openapi/openapi.json` holds).
    Openapi,
    /// Register, remove or inspect the Telegram bot's webhook (needs `TELEGRAM_BOT_TOKEN`).
    #[command(subcommand)]
    Telegram(crate::telegram::TelegramCommand),
}

impl Command {
    /// Where the command's logs go: standard error when its standard output is its result.
    pub fn log_output(&self) -> LogOutput {
        match self {
            Self::Import(_) | Self::Check(_) => LogOutput::Stderr,
            _ => LogOutput::Stdout,
        }
    }
}

/// Arguments of `create-user`.
#[derive(Debug, Clone, clap::Args)]
pub struct CreateUserArgs {
    /// E-mail address.
    #[arg(long)]
    pub email: String,
    /// Password (at least 8 characters).
    #[arg(long)]
    pub password: String,
    /// `admin`, `formateur` or `student`.
    #[arg(long, value_parser = ["admin", "formateur", "student"])]
    pub role: String,
    /// Given name.
    #[arg(long, default_value = "Admin")]
    pub first_name: String,
    /// Family name.
    #[arg(long, default_value = "User")]
    pub last_name: String,
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
