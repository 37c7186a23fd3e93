//! `elearning-api import firestore <dir|file> [--dry-run] [--json]`: loads an export of the
//! original app's Firestore collections into PostgreSQL (`docs/migration-from-firebase.md`).
//!
//! 1. The export is read whole first ([`export`]); one that cannot be read stops the run
//!    before the database is touched.
//! 2. Collections are loaded in [`Collection::ALL`]'s order, each document normalised
//!    ([`normalise`]) and written ([`write`]) in a transaction of its own: a document with its
//!    embedded rows is all-or-nothing, an interrupted run keeps what it committed, and one bad
//!    document (even one PostgreSQL refuses) is reported and skipped, never fatal.
//! 3. A dry run writes the same way inside one transaction (each document in a savepoint) and
//!    rolls it back, so its counts are those a real run would give.
//! 4. Running it again changes nothing: rows are matched by the Firestore ids they keep and
//!    updated only when a field differs.
//! 5. After a run that changed rows, the caches of every running instance are cleared
//!    ([`caches`]).

mod caches;
pub mod export;
pub mod fields;
pub mod normalise;
pub mod report;
pub mod write;

use std::{io::IsTerminal, path::PathBuf};

use anyhow::Context;
use deadpool_postgres::{Pool, Transaction};
use indicatif::{ProgressBar, ProgressStyle};

pub use export::{Collection, Export};
pub use report::Report;

use crate::config::Config;
use write::{Failure, Outcome};

/// `import` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ImportCommand {
    /// Load an export of the original's Firestore collections (users, courses, progress,
    /// enrollmentRequests, quizzes, quizAttempts, notifications). Running it again changes
    /// nothing; rejected documents are reported, never fatal.
    Firestore(FirestoreArgs),
}

/// Arguments of `import firestore`.
#[derive(Debug, Clone, clap::Args)]
pub struct FirestoreArgs {
    /// A folder holding `<collection>.json` files (each a JSON array of `{"id", ...fields}`),
    /// or one JSON file holding `{"users": [...], "courses": [...], ...}`.
    pub source: PathBuf,
    /// Report what would change without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as one JSON object on standard output.
    #[arg(long)]
    pub json: bool,
}

/// Runs an `import` subcommand and prints its report. Fails only when the run could not be
/// completed (unreadable export, database unreachable); rejected documents do not fail it.
pub async fn run(config: &Config, command: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Firestore(args) = command;
    let export = export::read(&args.source)?;
    let pool = crate::tools::migrated_pool(config).await?;
    let bar = progress_bar(export.len() as u64);
    let mut report = load(&pool, &export, args.dry_run, &bar).await?;
    bar.finish_and_clear();
    pool.close();
    if report.changed && !args.dry_run {
        report.cache = caches::clear_everywhere(&config.redis).await;
    }
    if args.json {
        let json = serde_json::to_string_pretty(&report).context("rendering the report")?;
        println!("{json}");
    } else {
        print!("{report}");
    }
    Ok(())
}

/// Loads `export` through one connection of `pool`, advancing `bar` per document.
pub async fn load(
    pool: &Pool,
    export: &Export,
    dry_run: bool,
    bar: &ProgressBar,
) -> anyhow::Result<Report> {
    let mut report = Report::new(
        export.source.display().to_string(),
        dry_run,
        export.ignored.clone(),
    );
    let mut client = pool.get().await.context("connecting to PostgreSQL")?;
    let mut session = if dry_run {
        Session::DryRun(
            client
                .transaction()
                .await
                .context("starting the dry run's transaction")?,
        )
    } else {
        Session::Live(&mut client)
    };
    for (collection, entries) in &export.collections {
        bar.set_message(collection.name());
        let order = match collection {
            Collection::Users => normalise::creators_first(entries),
            _ => (0..entries.len()).collect(),
        };
        for entry in order.into_iter().map(|i| &entries[i]) {
            bar.inc(1);
            let doc = match entry {
                Ok(doc) => doc,
                Err(malformed) => {
                    let reason = Err(malformed.reason.clone());
                    report.record(*collection, &malformed.id, reason, Vec::new());
                    continue;
                }
            };
            let mut warnings = Vec::new();
            let result = match normalise::normalise(*collection, doc, &mut warnings) {
                Ok(record) => write_document(&mut session, &record, &mut warnings).await?,
                Err(reason) => Err(reason),
            };
            report.record(*collection, &doc.id, result, warnings);
        }
    }
    if let Session::DryRun(tx) = session {
        tx.rollback().await.context("rolling the dry run back")?;
    }
    Ok(report)
}

/// Where documents are written: straight to the database, or inside the dry run's transaction.
enum Session<'a> {
    Live(&'a mut deadpool_postgres::Client),
    DryRun(Transaction<'a>),
}

impl Session<'_> {
    /// A transaction for one document (a savepoint in a dry run).
    async fn begin(&mut self) -> Result<Transaction<'_>, tokio_postgres::Error> {
        match self {
            Self::Live(client) => client.transaction().await,
            Self::DryRun(tx) => tx.transaction().await,
        }
    }
}

/// Writes one document in a transaction of its own. The outer error is fatal (the connection
/// is gone); the inner one rejects this document only.
async fn write_document(
    session: &mut Session<'_>,
    record: &normalise::Record,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Result<Outcome, String>> {
    let tx = session.begin().await.context("starting a transaction")?;
    // Module and lesson positions are unique only at the end of the document (so they can
    // swap); checking them here, not at commit, also catches a clash in a dry run.
    let written = match tx.batch_execute("set constraints all deferred").await {
        Ok(()) => match write::record(&tx, record, warnings).await {
            Ok(outcome) => tx
                .batch_execute("set constraints all immediate")
                .await
                .map(|()| outcome)
                .map_err(Failure::Database),
            Err(failure) => Err(failure),
        },
        Err(err) => Err(Failure::Database(err)),
    };
    match written {
        Ok(outcome) => match tx.commit().await {
            Ok(()) => Ok(Ok(outcome)),
            Err(err) => rejected(err),
        },
        Err(Failure::Rejected(reason)) => {
            tx.rollback()
                .await
                .context("rolling back a rejected document")?;
            Ok(Err(reason))
        }
        Err(Failure::Database(err)) if err.is_closed() => rejected(err),
        Err(Failure::Database(err)) => {
            tx.rollback()
                .await
                .context("rolling back a rejected document")?;
            rejected(err)
        }
    }
}

/// A document PostgreSQL refused, in words; fatal when the connection itself is gone.
fn rejected(err: tokio_postgres::Error) -> anyhow::Result<Result<Outcome, String>> {
    if err.is_closed() {
        return Err(anyhow::Error::new(err).context("lost the connection to PostgreSQL"));
    }
    Ok(Err(write::explain(&err)))
}

/// A progress bar on the terminal, hidden when standard output or error is not one.
fn progress_bar(total: u64) -> ProgressBar {
    if !(std::io::stdout().is_terminal() && std::io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{msg:>18} [{wide_bar}] {pos}/{len} documents")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
