//! Entry point: parse the command line, set up logging, dispatch.

use anyhow::Context;
use clap::Parser;
use elearning_api::{
    app::{self, App},
    cli::{Cli, Command},
    db, shutdown, telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config;
    let command = cli.command.unwrap_or(Command::Serve);
    let _log_guard = telemetry::init(config.log_format);
    match command {
        Command::Serve => {
            let app = App::build(config).await?;
            tracing::info!(port = app.port(), "listening");
            app.run_until_stopped(shutdown::signal()).await
        }
        Command::Migrate => {
            config.validate(false)?;
            let pool = db::pool::build(&config.db)?;
            let applied = db::migrate::run(&pool).await?;
            tracing::info!(applied, "migrations up to date");
            Ok(())
        }
        Command::Openapi => {
            let doc = app::openapi_document()
                .to_pretty_json()
                .context("rendering OpenAPI")?;
            println!("{doc}");
            Ok(())
        }
    }
}
