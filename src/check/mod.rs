//! `elearning-api check`: what a deploy needs, verified before it replaces the running instances
//! (Render's pre-deploy command runs `check --migrate`). Each check adds findings, one line
//! each; any `fail` makes the command exit non-zero, so Render cancels the deploy and the
//! healthy instances keep serving.
//!
//! 1. configuration: every setting parsed (by clap, as at start) and validated as at start, all
//!    problems listed rather than the first;
//! 2. secrets: long and random enough, and not reused for one another ([`secrets`]);
//! 3. PostgreSQL: reachable, with the privileges the service needs; migrations applied, pending
//!    (listed) or unknown to this build ([`postgres`]);
//! 4. Redis: reachable, writable, with an eviction policy that suits a cache ([`redis`]);
//! 5. Telegram, when a bot token is set: the token works and the webhook is registered at
//!    `TELEGRAM_WEBHOOK_URL` ([`telegram`]).
//!
//! With `--migrate`, the pending migrations are applied once everything else passed, so a
//! broken deploy leaves the database as it found it. Every network step has a deadline.

mod postgres;
mod redis;
mod secrets;
mod telegram;

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{AppEnv, Config};

/// Arguments of `check`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CheckArgs {
    /// Print the report as one JSON object (for machines) instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Once every check passed, apply the pending migrations (the pre-deploy command).
    #[arg(long)]
    pub migrate: bool,
}

/// How a finding bears on the deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As it should be.
    Ok,
    /// Works, but an operator should know.
    Warn,
    /// The deploy must not go ahead.
    Fail,
    /// Not checked, because of a problem reported above.
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skip => "skip",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `config`, `secrets`, `postgres`, `migrations`, `redis` or `telegram`.
    pub check: &'static str,
    /// Its bearing on the deploy.
    pub status: Status,
    /// What was found, naming the setting at fault.
    pub message: String,
}

/// The migrations, by name (`V3__course_images`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migrations {
    /// Applied before the check.
    pub applied: Vec<String>,
    /// Known to this build and not applied (before `--migrate`).
    pub pending: Vec<String>,
    /// Applied by `--migrate`.
    pub applied_now: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// No `fail`.
    pub ok: bool,
    /// Findings with status `fail`.
    pub problems: usize,
    /// Findings with status `warn`.
    pub warnings: usize,
    /// Every finding, in the order checked.
    pub findings: Vec<Finding>,
    /// What the migrations look like.
    pub migrations: Migrations,
}

/// Findings as they are made.
#[derive(Debug, Default)]
pub struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, check: &'static str, status: Status, message: impl Into<String>) {
        self.0.push(Finding {
            check,
            status,
            message: message.into(),
        });
    }

    fn problems(&self) -> usize {
        self.0.iter().filter(|f| f.status == Status::Fail).count()
    }
}

/// Runs every check.
pub async fn run(config: &Config, args: &CheckArgs) -> Report {
    let mut out = Findings::default();
    check_config(config, &mut out);
    secrets::check(config, &mut out);
    let mut migrations = Migrations::default();
    let pg = postgres::check(config, &mut out, &mut migrations).await;
    redis::check(config, &mut out).await;
    telegram::check(config, &mut out).await;
    if args.migrate {
        postgres::migrate(config, pg, &mut out, &mut migrations).await;
    }
    let problems = out.problems();
    let warnings = out.0.iter().filter(|f| f.status == Status::Warn).count();
    Report {
        ok: problems == 0,
        problems,
        warnings,
        findings: out.0,
        migrations,
    }
}

fn check_config(config: &Config, out: &mut Findings) {
    let problems = config.problems(true);
    if problems.is_empty() {
        let env = match config.http.app_env {
            AppEnv::Production => "production",
            AppEnv::Development => "development",
        };
        out.add(
            "config",
            Status::Ok,
            format!("every setting valid (APP_ENV={env})"),
        );
    }
    for problem in problems {
        out.add("config", Status::Fail, problem.to_string());
    }
    let production = config.http.app_env == AppEnv::Production;
    if !production {
        out.add(
            "config",
            Status::Warn,
            "APP_ENV is not production: the AuthToken cookie is not marked Secure",
        );
    }
    if config.ops.database_quota_mb.is_none() {
        out.add(
            "config",
            Status::Warn,
            "DATABASE_QUOTA_MB unset: the database's size is shown but never alerts",
        );
    }
    if production
        && config
            .http
            .cors_origins
            .iter()
            .any(|o| o.contains("localhost") || o.contains("127.0.0.1"))
    {
        out.add(
            "config",
            Status::Warn,
            "CORS_ORIGINS allows a local origin in production: set it to the frontend's",
        );
    }
}

/// The report as lines: `<status> <check> <message>`, then a verdict.
pub fn render_text(report: &Report) -> String {
    let mut text = String::new();
    for f in &report.findings {
        let _ = writeln!(
            text,
            "{:<4}  {:<10}  {}",
            f.status.label(),
            f.check,
            f.message
        );
    }
    if report.ok {
        let _ = writeln!(
            text,
            "all checks passed ({} warning{})",
            report.warnings,
            if report.warnings == 1 { "" } else { "s" }
        );
    }
    text
}
