//! Entry point: parse the command line, set up logging, dispatch.

use anyhow::Context;
use clap::Parser;
use elearning_api::{
    app::{self, App},
    check,
    cli::{Cli, Command},
    import, seed, shutdown, telegram,
    telemetry::{self, LogOutput},
    tools,
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let output = cli
        .command
        .as_ref()
        .map_or(LogOutput::Stdout, Command::log_output);
    let log_guard = telemetry::init(cli.config.log_format, output);
    let result = run(cli).await;
    drop(log_guard);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line, naming the cause chain (e.g. the variable at fault), never a backtrace.
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::Serve => {
            // Every connection is a file descriptor: take all the kernel allows this process.
            match rlimit::increase_nofile_limit(u64::MAX) {
                Ok(limit) => tracing::debug!(limit, "open-file limit"),
                Err(err) => tracing::warn!(%err, "could not raise the open-file limit"),
            }
            let app = App::build(config).await?;
            tracing::info!(port = app.port(), "listening");
            app.run_until_stopped(shutdown::signal()).await
        }
        Command::Migrate => {
            let pool = tools::migrated_pool(&config).await?;
            drop(pool);
            Ok(())
        }
        Command::Check(args) => {
            let report = check::run(&config, &args).await;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).context("rendering the report")?
                );
            } else {
                print!("{}", check::render_text(&report));
            }
            anyhow::ensure!(
                report.ok,
                "{} problem(s): the lines marked fail must be fixed before this deploy goes ahead",
                report.problems
            );
            Ok(())
        }
        Command::Seed(opts) => seed::run(&tools::migrated_pool(&config).await?, &opts).await,
        Command::CreateUser(args) => {
            tools::create_user(&tools::migrated_pool(&config).await?, &args).await
        }
        Command::Import(command) => import::run(&config, command).await,
        Command::Openapi => {
            let doc = app::openapi_document()
                .to_pretty_json()
                .context("rendering OpenAPI")?;
            println!("{doc}");
            Ok(())
        }
        Command::Telegram(command) => {
            config.validate(false)?;
            println!("{}", telegram::run(&config.telegram, command).await?);
            Ok(())
        }
    }
}
