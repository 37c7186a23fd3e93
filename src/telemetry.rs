//! Logging: a `tracing` subscriber writing JSON (for Render) or human-readable lines, through a
//! non-blocking writer so a slow terminal or log pipe never stalls a request.
//!
//! Filtering follows `RUST_LOG` (default `elearning_api=info,tower_http=warn`). Every request is
//! logged once, by the access log, under the target `elearning_api::access`; silence it with
//! `RUST_LOG=elearning_api=info,elearning_api::access=off`.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

const DEFAULT_FILTER: &str = "elearning_api=info,tower_http=warn";

/// Where log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    /// Standard output: the service's logs (Render collects them there).
    Stdout,
    /// Standard error: for commands whose standard output is their result (`import --json`, `check --json`).
    Stderr,
}

/// Installs the global subscriber. Keep the guard alive until exit: dropping it flushes the logs.
pub fn init(format: LogFormat, output: LogOutput) -> WorkerGuard {
    let (writer, guard) = match output {
        LogOutput::Stdout => tracing_appender::non_blocking(std::io::stdout()),
        LogOutput::Stderr => tracing_appender::non_blocking(std::io::stderr()),
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(fmt::layer().pretty().with_writer(writer))
            .try_init(),
        LogFormat::Compact => registry
            .with(fmt::layer().compact().with_writer(writer))
            .try_init(),
    };
    if let Err(err) = result {
        eprintln!("logging was already initialised: {err}");
    }
    guard
}

/// For tests: logs go to the test harness's captured output, and only when `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("elearning_api=debug"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().compact().with_test_writer())
        .try_init();
}
