//! Schema migrations (refinery, files under `migrations/`), applied at start and by
//! `elearning-api migrate`.
//!
//! refinery takes no lock of its own, so two instances booting together could both try to apply
//! the same migration. Each run holds a PostgreSQL advisory lock on its connection, so the second
//! instance waits and then finds nothing left to do.

use anyhow::Context;
use deadpool_postgres::Pool;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The table in which refinery records the migrations applied.
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// A migration this build carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// Its version (`V3__…` is 3).
    pub version: i64,
    /// Its name (`course_images`).
    pub name: String,
    /// refinery's checksum of its name, version and SQL, as recorded when applied.
    pub checksum: u64,
}

impl std::fmt::Display for Known {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "V{}__{}", self.version, self.name)
    }
}

/// The migrations this build carries, in order.
pub fn known() -> Vec<Known> {
    let mut out: Vec<Known> = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| Known {
            version: i64::from(m.version()),
            name: m.name().to_owned(),
            checksum: m.checksum(),
        })
        .collect();
    out.sort_by_key(|m| m.version);
    out
}

/// Arbitrary constant identifying this service's migration lock.
const MIGRATION_LOCK_KEY: i64 = 0x656c_6561_726e; // "elearn"

/// Applies every pending migration, holding the migration lock.
pub async fn run(pool: &Pool) -> anyhow::Result<usize> {
    let mut conn = pool.get().await.context("connecting to PostgreSQL")?;
    conn.execute("select pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .context("taking the migration lock")?;
    let report = embedded::migrations::runner()
        .run_async(&mut **conn)
        .await
        .context("applying migrations");
    let unlocked = conn
        .execute("select pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    if report.is_err() || unlocked.is_err() {
        // Never hand a connection in an unknown state back to the pool; closing it also frees
        // the session lock.
        let _ = deadpool_postgres::Object::take(conn);
    }
    let report = report?;
    for m in report.applied_migrations() {
        tracing::info!(version = m.version(), name = m.name(), "applied migration");
    }
    Ok(report.applied_migrations().len())
}
