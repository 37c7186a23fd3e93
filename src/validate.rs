//! Input validation that reports every failing field at once, as a 422 with `details`
//! (`{"title": "must be at least 5 characters"}`).

use serde_json::{Map, Value};

use crate::error::AppError;

/// Whether `value` has the shape of an e-mail address: at most 254 bytes, one `@` after a
/// non-empty local part, a dot inside the domain, no spaces.
pub fn is_email(value: &str) -> bool {
    value.len() <= 254
        && !value.contains(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
}

/// Collects field problems.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Map<String, Value>,
}

impl Validator {
    /// An empty validator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field` (the first one per field wins).
    pub fn fail(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.errors
            .entry(field.into())
            .or_insert_with(|| Value::String(problem.into()));
    }

    /// Checks the length of a trimmed string, in characters.
    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.trim().chars().count();
        if n < min {
            if min == 1 {
                self.fail(field, "must not be empty");
            } else {
                self.fail(field, format!("must be at least {min} characters"));
            }
        } else if n > max {
            self.fail(field, format!("must be at most {max} characters"));
        }
    }

    /// Checks an optional string's length.
    pub fn opt_length(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value
            && v.chars().count() > max
        {
            self.fail(field, format!("must be at most {max} characters"));
        }
    }

    /// Checks that `value` is one of `allowed`.
    pub fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.fail(field, format!("must be one of: {}", allowed.join(", ")));
        }
    }

    /// Checks a number's range.
    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.fail(field, format!("must be between {min} and {max}"));
        }
    }

    /// Checks an e-mail address's shape (see [`is_email`]).
    pub fn email(&mut self, field: &str, value: &str) {
        if !is_email(value) {
            self.fail(field, "must be a valid e-mail address");
        }
    }

    /// Checks a URL: `http(s)` only (no `javascript:` links), bounded length.
    pub fn url(&mut self, field: &str, value: Option<&str>) {
        if let Some(v) = value {
            // An image uploaded to this service is addressed by its path, exactly as the upload
            // answered it: nothing else that merely starts like one.
            let own_image = own_image_path(v);
            let ok = v.len() <= 2048
                && (own_image
                    || url::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https")));
            if !ok {
                self.fail(
                    field,
                    "must be an http(s) URL of at most 2048 characters, or the `imageUrl`/`url` an upload of this service answered",
                );
            }
        }
    }

    /// Whether nothing failed so far.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok` when nothing failed, else the 422.
    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation {
                details: Value::Object(self.errors),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Validator;

    #[test]
    fn reports_each_failing_field() {
        let mut v = Validator::new();
        v.length("title", "abc", 5, 200);
        v.one_of("level", "expert", &["beginner", "advanced"]);
        v.email("email", "not-an-email");
        v.range("points", 11, 1, 10);
        v.url("url", Some("javascript:alert(1)"));
        let err = v.finish().unwrap_err();
        let crate::error::AppError::Validation { details } = err else {
            panic!("not a validation error")
        };
        for field in ["title", "level", "email", "points", "url"] {
            assert!(details.get(field).is_some(), "{field} missing in {details}");
        }
    }

    #[test]
    fn accepts_valid_values() {
        let mut v = Validator::new();
        v.length("title", "Rust for beginners", 5, 200);
        v.email("email", "ada@example.com");
        v.url("url", Some("https://example.com/x"));
        assert!(v.finish().is_ok());
    }
}

/// Whether `v` is the path of an image this service serves, as its uploads answer it:
/// `/api/courses/<uuid>/image` or `/api/images/<uuid>`, optionally with `?v=<hex>`.
pub fn own_image_path(v: &str) -> bool {
    let (path, query) = v.split_once('?').unwrap_or((v, ""));
    let version_ok = query.is_empty()
        || query.strip_prefix("v=").is_some_and(|h| {
            (1..=64).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit())
        });
    let id_ok = |id: &str| uuid::Uuid::parse_str(id).is_ok() && id.len() == 36;
    let path_ok = match path.strip_prefix("/api/courses/") {
        Some(rest) => rest.strip_suffix("/image").is_some_and(id_ok),
        None => path.strip_prefix("/api/images/").is_some_and(id_ok),
    };
    path_ok && version_ok
}

#[cfg(test)]
mod image_path_tests {
    use super::own_image_path;

    #[test]
    fn only_the_paths_uploads_answer_are_own_images() {
        let id = "6f1c1f0e-3b7a-4a53-9d5e-2f8f6a1b2c3d";
        assert!(own_image_path(&format!(
            "/api/courses/{id}/image?v=0123abcd"
        )));
        assert!(own_image_path(&format!("/api/images/{id}?v=0123abcd")));
        assert!(own_image_path(&format!("/api/images/{id}")));
        for bad in [
            "/api/courses/\"><script>",
            "/api/courses/../../api/auth/logout",
            "/api/courses/x/image",
            &format!("/api/courses/{id}/image?v=<x>"),
            &format!("/api/courses/{id}/image?w=1&v=ab"),
        ] {
            assert!(!own_image_path(bad), "{bad}");
        }
    }
}
