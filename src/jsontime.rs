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
