//! What an import did: counts per collection, each rejected document with its reason, each
//! repair, and what became of the caches. Printed as text, or as one JSON object (`--json`).

use std::fmt;

use serde::Serialize;

use super::{export::Collection, fields::Reason, write::Outcome};

/// The whole report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The export read.
    pub source: String,
    /// Whether nothing was written (`--dry-run`): the counts say what would have happened.
    pub dry_run: bool,
    /// Counts per collection, in import order.
    pub collections: Vec<Counts>,
    /// Documents not imported, each with its reason.
    pub rejected: Vec<Rejection>,
    /// Documents imported with a repair (a default, a reference left empty, a link).
    pub warnings: Vec<Warning>,
    /// Collections of the export that are not imported (they stay in Firestore).
    pub ignored: Vec<String>,
    /// Whether any row was inserted or updated (or would have been, in a dry run).
    pub changed: bool,
    /// What was done about the running instances' caches.
    pub cache: CacheOutcome,
}

/// The counts of one collection.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Firestore collection name.
    pub collection: &'static str,
    /// Documents in the export.
    pub read: u64,
    /// Documents whose rows were created.
    pub inserted: u64,
    /// Documents whose rows existed and differed.
    pub updated: u64,
    /// Documents already imported as they are.
    pub unchanged: u64,
    /// Documents not imported.
    pub rejected: u64,
}

/// A document not imported.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// Firestore collection name.
    pub collection: &'static str,
    /// Document id (`#n` for an entry without one).
    pub id: String,
    /// Why, in words.
    pub reason: Reason,
}

/// A repair made while importing a document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// Firestore collection name.
    pub collection: &'static str,
    /// Document id.
    pub id: String,
    /// What was repaired.
    pub message: String,
}

/// What was done about the caches of the running instances.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum CacheOutcome {
    /// Nothing written (a dry run, or nothing to change): no cache can be stale.
    NotNeeded,
    /// Every live instance emptied its memory tier, and the Redis tier's values were deleted.
    #[serde(rename_all = "camelCase")]
    Cleared {
        /// Redis keys deleted.
        redis_keys: u64,
    },
    /// Redis could not be reached, so the caches were not cleared.
    #[serde(rename_all = "camelCase")]
    Unreachable {
        /// What failed.
        error: String,
    },
}

impl Report {
    /// An empty report for `source`.
    pub fn new(source: String, dry_run: bool, ignored: Vec<String>) -> Self {
        Self {
            source,
            dry_run,
            collections: Collection::ALL
                .iter()
                .map(|c| Counts {
                    collection: c.name(),
                    read: 0,
                    inserted: 0,
                    updated: 0,
                    unchanged: 0,
                    rejected: 0,
                })
                .collect(),
            rejected: Vec::new(),
            warnings: Vec::new(),
            ignored,
            changed: false,
            cache: CacheOutcome::NotNeeded,
        }
    }

    /// Records what happened to document `id` of `collection`. The warnings of a rejected
    /// document are dropped: its reason is what matters.
    pub fn record(
        &mut self,
        collection: Collection,
        id: &str,
        result: Result<Outcome, Reason>,
        warnings: Vec<String>,
    ) {
        let name = collection.name();
        let Some(counts) = self.collections.iter_mut().find(|c| c.collection == name) else {
            return;
        };
        counts.read += 1;
        match result {
            Ok(outcome) => {
                match outcome {
                    Outcome::Inserted => counts.inserted += 1,
                    Outcome::Updated => counts.updated += 1,
                    Outcome::Unchanged => counts.unchanged += 1,
                }
                self.changed |= outcome != Outcome::Unchanged;
                self.warnings
                    .extend(warnings.into_iter().map(|message| Warning {
                        collection: name,
                        id: id.to_owned(),
                        message,
                    }));
            }
            Err(reason) => {
                counts.rejected += 1;
                self.rejected.push(Rejection {
                    collection: name,
                    id: id.to_owned(),
                    reason,
                });
            }
        }
    }

    fn total(&self) -> Counts {
        let mut total = Counts {
            collection: "total",
            read: 0,
            inserted: 0,
            updated: 0,
            unchanged: 0,
            rejected: 0,
        };
        for c in &self.collections {
            total.read += c.read;
            total.inserted += c.inserted;
            total.updated += c.updated;
            total.unchanged += c.unchanged;
            total.rejected += c.rejected;
        }
        total
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(
                f,
                "Dry run of the import of {}: nothing was written.",
                self.source
            )?;
        } else {
            writeln!(f, "Import of {}", self.source)?;
        }
        writeln!(f)?;
        let header = ["read", "inserted", "updated", "unchanged", "rejected"];
        write!(f, "{:<20}", "collection")?;
        for h in header {
            write!(f, "{h:>10}")?;
        }
        writeln!(f)?;
        let total = self.total();
        for c in self.collections.iter().chain([&total]) {
            writeln!(
                f,
                "{:<20}{:>10}{:>10}{:>10}{:>10}{:>10}",
                c.collection, c.read, c.inserted, c.updated, c.unchanged, c.rejected
            )?;
        }
        if !self.rejected.is_empty() {
            writeln!(f, "\nRejected ({}):", self.rejected.len())?;
            for r in &self.rejected {
                writeln!(f, "  {}/{}: {}", r.collection, r.id, r.reason)?;
            }
        }
        if !self.warnings.is_empty() {
            writeln!(f, "\nImported with a repair ({}):", self.warnings.len())?;
            for w in &self.warnings {
                writeln!(f, "  {}/{}: {}", w.collection, w.id, w.message)?;
            }
        }
        if !self.ignored.is_empty() {
            writeln!(
                f,
                "\nNot imported (these stay in Firestore): {}",
                self.ignored.join(", ")
            )?;
        }
        writeln!(f)?;
        match &self.cache {
            CacheOutcome::NotNeeded => {}
            CacheOutcome::Cleared { redis_keys } => writeln!(
                f,
                "Caches: cleared on every running instance ({redis_keys} Redis keys deleted)."
            )?,
            CacheOutcome::Unreachable { error } => writeln!(
                f,
                "Caches: NOT cleared ({error}). Running instances may serve data from before the import: \
                 once Redis answers, call POST /api/performance/clear-cache with {{\"scope\": \"all\"}}."
            )?,
        }
        let verb = if self.dry_run { "would be " } else { "" };
        if self.changed {
            writeln!(
                f,
                "{} documents {verb}inserted, {} {verb}updated, {} unchanged, {} rejected.",
                total.inserted, total.updated, total.unchanged, total.rejected
            )
        } else {
            writeln!(
                f,
                "Nothing to change: {} documents are already imported as they are, {} rejected.",
                total.unchanged, total.rejected
            )
        }
    }
}
