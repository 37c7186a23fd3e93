//! Keyset pagination: `?limit=` (default 20, at most 100) and an opaque `?cursor=` that encodes
//! the sort key of the last item returned (API.md §1).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::AppError;

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 20;
/// Largest page size.
pub const MAX_LIMIT: i64 = 100;
/// Default and largest page size of a caller's own lists that the frontend reads without
/// paging (the formateur's courses and quizzes).
pub const OWN_LIST_LIMIT: i64 = 500;

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Items to return.
    pub limit: i64,
    /// Sort key of the last item already seen: items strictly after it come next.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

impl Page {
    /// Parses the raw query values; a bad value is a 400 naming the parameter.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, AppError> {
        Self::parse_with(limit, cursor, DEFAULT_LIMIT, MAX_LIMIT)
    }

    /// Parses the query of a caller's own list that the frontend reads whole: up to
    /// [`OWN_LIST_LIMIT`] items, by default all of them.
    pub fn parse_own(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, AppError> {
        Self::parse_with(limit, cursor, OWN_LIST_LIMIT, OWN_LIST_LIMIT)
    }

    fn parse_with(
        limit: Option<&str>,
        cursor: Option<&str>,
        default: i64,
        max: i64,
    ) -> Result<Self, AppError> {
        let limit = match limit.map(str::trim).filter(|s| !s.is_empty()) {
            None => default,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    return Err(bad_query(
                        "limit",
                        format!("must be a whole number between 1 and {max}"),
                    ));
                }
            },
        };
        let after = match cursor.filter(|s| !s.is_empty()) {
            None => None,
            Some(c) => Some(
                decode_cursor(c)
                    .ok_or_else(|| bad_query("cursor", "is not a cursor this API issued"))?,
            ),
        };
        Ok(Self { limit, after })
    }

    /// `limit + 1`, the number of rows to fetch to know whether another page exists.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The cursor bounds for SQL: `(created_at, id) < ($ts, $id)`, with a maximal default.
    pub fn bounds(&self) -> (DateTime<Utc>, Uuid) {
        self.after
            .unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()))
    }

    /// Trims the extra row and returns the next cursor (None at the end).
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> (Vec<T>, Option<String>) {
        if rows.len() as i64 > self.limit {
            rows.truncate(self.limit as usize);
            let next = rows.last().map(|r| {
                let (ts, id) = key(r);
                encode_cursor(ts, id)
            });
            (rows, next)
        } else {
            (rows, None)
        }
    }
}

/// A 400 for a query parameter.
pub fn bad_query(param: &str, problem: impl Into<String>) -> AppError {
    let problem = problem.into();
    let mut map = serde_json::Map::new();
    map.insert(param.to_owned(), serde_json::Value::String(problem.clone()));
    AppError::InvalidQuery {
        message: format!("query parameter `{param}` {problem}"),
        details: serde_json::Value::Object(map),
    }
}

/// An optional id in the query string (`?courseId=`): absent or empty is `None`, anything but
/// a UUID is a 400 naming the parameter.
pub fn id_param(param: &str, raw: Option<&str>) -> Result<Option<Uuid>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Uuid::parse_str(s)
            .map(Some)
            .map_err(|_| bad_query(param, "must be an id (UUID)")),
    }
}

/// Encodes a sort key as an opaque cursor.
pub fn encode_cursor(ts: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", ts.timestamp_micros()))
}

/// Decodes a cursor; `None` for anything this API did not issue.
pub fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (ts, id) = text.split_once(':')?;
    let ts = DateTime::from_timestamp_micros(ts.parse().ok()?)?;
    // Only times this API can have issued: PostgreSQL's range is narrower than chrono's.
    if !(0..=253_402_300_799).contains(&ts.timestamp()) {
        return None;
    }
    Some((ts, id.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let ts = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(decode_cursor(&encode_cursor(ts, id)), Some((ts, id)));
    }

    #[test]
    fn garbage_cursors_are_rejected() {
        let far_future = URL_SAFE_NO_PAD.encode(format!("{}:{}", i64::MAX / 2, Uuid::nil()));
        for c in [
            "",
            "!!",
            "bm90LWEtY3Vyc29y",
            "MTIzOm5vdC1hLXV1aWQ",
            &far_future,
        ] {
            assert_eq!(decode_cursor(c), None, "{c}");
        }
    }

    #[test]
    fn limits_outside_the_range_are_rejected() {
        for l in ["0", "-1", "101", "1e3", "abc", "99999999999999999999"] {
            assert!(Page::parse(Some(l), None).is_err(), "{l}");
        }
        assert_eq!(
            Page::parse(None, None).map(|p| p.limit).ok(),
            Some(DEFAULT_LIMIT)
        );
        assert_eq!(
            Page::parse(Some("100"), None).map(|p| p.limit).ok(),
            Some(100)
        );
    }
}
