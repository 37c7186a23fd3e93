//! `loadtest`: see [`elearning_api::loadtest`]. Built with `--features loadtest`.

use clap::Parser;
use elearning_api::loadtest::{self, Args, Mode};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let json = args.json.clone();
    let report = match loadtest::run(args).await {
        Ok(r) => r,
        Err(err) => {
            eprintln!("error: {err:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    print!("{}", loadtest::render(&report));
    if let Some(path) = json {
        match serde_json::to_vec_pretty(&report) {
            Ok(bytes) => {
                if let Err(e) = std::fs::write(&path, bytes) {
                    eprintln!("error: writing {}: {e}", path.display());
                    return std::process::ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("error: encoding the report: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    if report.mode == Mode::Smoke {
        let problems = loadtest::smoke_failures(&report);
        if !problems.is_empty() {
            eprintln!("smoke test failed:");
            for p in problems {
                eprintln!("  {p}");
            }
            return std::process::ExitCode::FAILURE;
        }
        eprintln!("smoke test passed");
    }
    std::process::ExitCode::SUCCESS
}
