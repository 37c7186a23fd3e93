//! Timestamps as API.md §1 writes them: ISO-8601 UTC with milliseconds
//! (`2026-01-31T12:00:00.000Z`, what JavaScript's `Date.toJSON` gives). Use with
//! `#[serde(serialize_with = "jsontime::ser")]`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// Formats a timestamp.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time, formatted.
pub fn now() -> String {
    iso(Utc::now())
}

/// SQL formatting the `timestamptz` expression `expr` as [`iso`] does, for answers built as JSON
/// in SQL: PostgreSQL's own JSON form (`2026-01-31T12:00:00.123456+00:00`) has microseconds and
/// an offset, which JavaScript engines parse only by heuristics, not by the standard format.
pub fn sql(expr: &str) -> String {
    format!("to_char({expr} at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// serde serializer for `DateTime<Utc>`.
pub fn ser<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso(*t))
}

/// serde serializer for `Option<DateTime<Utc>>`.
pub fn ser_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&iso(*t)),
        None => s.serialize_none(),
    }
}
