//! Typed reads of a document's fields. Every failure is a sentence naming the field (with its
//! path inside the document, e.g. `modules[1].lessons[0].title`), ready for the report.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

/// Why a document cannot be imported, as the report shows it.
pub type Reason = String;

/// The fields of a document, or of an object embedded in one.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Fields<'a> {
    /// A document's top-level fields.
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            path: String::new(),
        }
    }

    /// The name of `key` as the report shows it.
    pub fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`; a `null` reads as absent, as Firestore treats it.
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A text field, trimmed; absent when missing, null or blank. Numbers are read as text.
    pub fn text(&self, key: &str) -> Result<Option<String>, Reason> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                Ok((!s.is_empty()).then(|| s.to_owned()))
            }
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(format!("'{}' must be text", self.name(key))),
        }
    }

    /// The first of `keys` that holds text (the original wrote some fields under two names).
    pub fn text_of(&self, keys: &[&str]) -> Result<Option<String>, Reason> {
        for key in keys {
            if let Some(text) = self.text(key)? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    /// A text field that must be present.
    pub fn required_text(&self, key: &str) -> Result<String, Reason> {
        self.text(key)?.ok_or_else(|| self.missing(key))
    }

    /// The reason for a missing required field.
    pub fn missing(&self, key: &str) -> Reason {
        format!("missing required field '{}'", self.name(key))
    }

    /// A text field of `min..=max` characters (the schema's CHECK), absent when missing.
    pub fn text_within(&self, key: &str, min: usize, max: usize) -> Result<Option<String>, Reason> {
        let text = self.text(key)?;
        if let Some(t) = &text {
            let n = t.chars().count();
            if n < min || n > max {
                return Err(format!(
                    "'{}' must be {min} to {max} characters long (it has {n})",
                    self.name(key)
                ));
            }
        }
        Ok(text)
    }

    /// A required text field of `min..=max` characters.
    pub fn required_within(&self, key: &str, min: usize, max: usize) -> Result<String, Reason> {
        self.text_within(key, min, max)?
            .ok_or_else(|| self.missing(key))
    }

    /// A whole number within `min..=max` (the schema's CHECK), absent when missing.
    pub fn int_within(&self, key: &str, min: i64, max: i64) -> Result<Option<i32>, Reason> {
        match self.int(key)? {
            None => Ok(None),
            Some(n) if n < min || n > max => Err(format!(
                "'{}' must be between {min} and {max} (it is {n})",
                self.name(key)
            )),
            Some(n) => i32::try_from(n)
                .map(Some)
                .map_err(|_| format!("'{}' is too large", self.name(key))),
        }
    }

    /// A whole number; integral floats (`15.0`) and numeric text (`"15"`) are accepted.
    pub fn int(&self, key: &str) -> Result<Option<i64>, Reason> {
        let bad = || format!("'{}' must be a whole number", self.name(key));
        match self.value(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Ok(Some(i)),
                (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Some(f as i64)),
                _ => Err(bad()),
            },
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// A number; numeric text is accepted.
    pub fn number(&self, key: &str) -> Result<Option<f64>, Reason> {
        let bad = || format!("'{}' must be a number", self.name(key));
        match self.value(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Some(f)),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }

    /// A boolean; the text `"true"`/`"false"` (form fields) is accepted.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, Reason> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(format!("'{}' must be true or false", self.name(key))),
        }
    }

    /// A point in time, in any of the forms of [`timestamp`].
    pub fn timestamp(&self, key: &str) -> Result<Option<DateTime<Utc>>, Reason> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v) => timestamp(v).map(Some).ok_or_else(|| {
                format!(
                    "'{}' is not a timestamp (expected {{_seconds, _nanoseconds}}, an ISO-8601 string or epoch milliseconds)",
                    self.name(key)
                )
            }),
        }
    }

    /// An array of objects (modules, lessons, questions, answers); empty when absent.
    pub fn objects(&self, key: &str) -> Result<Vec<Self>, Reason> {
        let items = match self.value(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(format!("'{}' must be an array", self.name(key))),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{i}]", self.name(key));
                match item {
                    Value::Object(map) => Ok(Self { map, path }),
                    _ => Err(format!("'{path}' must be an object")),
                }
            })
            .collect()
    }

    /// An array of texts (numbers are read as text); empty when absent.
    pub fn texts(&self, key: &str) -> Result<Vec<String>, Reason> {
        let items = match self.value(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(format!("'{}' must be an array", self.name(key))),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(format!("'{}[{i}]' must be text", self.name(key))),
            })
            .collect()
    }
}

/// Reads a point in time written as firebase-admin serialises a Timestamp
/// (`{"_seconds": 1755000000, "_nanoseconds": 0}`), as the client SDK's
/// `{seconds, nanoseconds}`, as an ISO-8601 string (with or without an offset; without one it
/// is UTC), or as epoch milliseconds.
pub fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Object(map) => {
            let seconds = map.get("_seconds").or_else(|| map.get("seconds"))?;
            let nanos = map.get("_nanoseconds").or_else(|| map.get("nanoseconds"));
            let nanos = match nanos {
                None | Some(Value::Null) => 0,
                Some(n) => u32::try_from(n.as_u64()?).ok()?,
            };
            DateTime::from_timestamp(seconds.as_i64()?, nanos)
        }
        Value::String(s) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                        .ok()
                        .map(|t| t.and_utc())
                })
        }
        Value::Number(n) => {
            let ms = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?;
            DateTime::from_timestamp_millis(ms)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn timestamps_are_read_in_every_form_the_original_wrote() {
        let expected = DateTime::parse_from_rfc3339("2025-08-12T10:40:00.250Z")
            .expect("valid")
            .with_timezone(&Utc);
        for (case, value) in [
            (
                "firebase-admin",
                json!({"_seconds": 1_754_995_200, "_nanoseconds": 250_000_000}),
            ),
            (
                "client SDK",
                json!({"seconds": 1_754_995_200, "nanoseconds": 250_000_000}),
            ),
            ("ISO with Z", json!("2025-08-12T10:40:00.250Z")),
            ("ISO with offset", json!("2025-08-12T12:40:00.250+02:00")),
            ("ISO without offset", json!("2025-08-12T10:40:00.250")),
            ("epoch ms", json!(1_754_995_200_250_i64)),
        ] {
            assert_eq!(timestamp(&value), Some(expected), "{case}");
        }
        for bad in [json!("yesterday"), json!(true), json!({"_nanoseconds": 1})] {
            assert_eq!(timestamp(&bad), None, "{bad}");
        }
    }

    #[test]
    fn failures_name_the_field_with_its_path() {
        let doc = json!({"modules": [{"lessons": [{"duration": "ten", "title": 3}]}]});
        let Value::Object(map) = &doc else {
            panic!("object")
        };
        let fields = Fields::new(map);
        let lesson = &fields.objects("modules").expect("modules")[0]
            .objects("lessons")
            .expect("lessons")[0];
        assert_eq!(
            lesson.int("duration").expect_err("not a number"),
            "'modules[0].lessons[0].duration' must be a whole number"
        );
        assert_eq!(
            lesson.text("title").expect("number as text"),
            Some("3".into())
        );
        assert_eq!(
            lesson.required_text("content").expect_err("missing"),
            "missing required field 'modules[0].lessons[0].content'"
        );
    }

    #[test]
    fn null_and_blank_read_as_absent() {
        let doc = json!({"a": null, "b": "  ", "c": 15.0, "d": "7"});
        let Value::Object(map) = &doc else {
            panic!("object")
        };
        let fields = Fields::new(map);
        assert_eq!(fields.text("a"), Ok(None));
        assert_eq!(fields.text("b"), Ok(None));
        assert_eq!(fields.int("c"), Ok(Some(15)));
        assert_eq!(fields.int("d"), Ok(Some(7)));
        assert_eq!(fields.timestamp("a"), Ok(None));
    }
}
