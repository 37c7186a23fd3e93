//! From the original's documents to rows this schema accepts.
//!
//! 1. Each document becomes one typed record (with its embedded modules, lessons, questions or
//!    answers) or one [`Reason`] it cannot be imported; nothing here touches the database.
//! 2. Every value is checked against the schema's CHECK constraints (lengths, ranges,
//!    vocabularies) here, so that a bad document is reported in words, not as a SQL error.
//! 3. The original's mixed vocabularies are mapped onto the schema's (`'Published'` and
//!    `'published'` → `published`, `'Formateur'` → `formateur`…); where a value can be
//!    repaired the record gets a warning instead of a rejection, and the rules are the table
//!    in `docs/migration-from-firebase.md`.
//! 4. References to other documents stay Firestore ids: the writer resolves them.

mod catalogue;
mod learning;

use chrono::{DateTime, Utc};

pub use catalogue::{
    CourseRecord, LessonRecord, ModuleRecord, UserRecord, creators_first, split_name,
};
pub use learning::{
    AnswerRecord, AttemptRecord, EnrollmentRecord, NotificationRecord, QuestionRecord, QuizRecord,
    RequestRecord,
};

use super::{
    export::{Collection, Document},
    fields::Reason,
};

/// A document ready to be written.
#[derive(Debug, Clone)]
pub enum Record {
    /// From `users`.
    User(UserRecord),
    /// From `courses`.
    Course(CourseRecord),
    /// From `enrollmentRequests`.
    Request(RequestRecord),
    /// From `progress`.
    Enrollment(EnrollmentRecord),
    /// From `quizzes`.
    Quiz(QuizRecord),
    /// From `quizAttempts`.
    Attempt(AttemptRecord),
    /// From `notifications`.
    Notification(NotificationRecord),
}

/// Normalises one document of `collection`; repairs are pushed onto `warnings`.
pub fn normalise(
    collection: Collection,
    doc: &Document,
    warnings: &mut Vec<String>,
) -> Result<Record, Reason> {
    let limit = match collection {
        Collection::Users => 128,
        _ => 1500,
    };
    if doc.id.chars().count() > limit {
        return Err(format!("the document id is longer than {limit} characters"));
    }
    Ok(match collection {
        Collection::Users => Record::User(catalogue::user(doc, warnings)?),
        Collection::Courses => Record::Course(catalogue::course(doc, warnings)?),
        Collection::EnrollmentRequests => Record::Request(learning::request(doc, warnings)?),
        Collection::Progress => Record::Enrollment(learning::enrollment(doc)?),
        Collection::Quizzes => Record::Quiz(learning::quiz(doc)?),
        Collection::QuizAttempts => Record::Attempt(learning::attempt(doc)?),
        Collection::Notifications => Record::Notification(learning::notification(doc)?),
    })
}

/// Timestamps every imported row has: `created_at` (now when the document has none, and kept
/// as it is by later runs) and `updated_at`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Times {
    /// `createdAt` (or the collection's equivalent).
    pub created: Option<DateTime<Utc>>,
    /// `updatedAt`.
    pub updated: Option<DateTime<Utc>>,
}

/// Maps `value` case-insensitively onto one of `allowed`.
fn one_of(name: &str, value: &str, allowed: &[&'static str]) -> Result<&'static str, Reason> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value.trim()))
        .copied()
        .ok_or_else(|| format!("'{name}' is '{value}', not one of: {}", allowed.join(", ")))
}

/// The first element of `ids` that appears twice.
fn first_duplicate<'a>(ids: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter().find(|id| !seen.insert(*id))
}

/// A course's status: `'Draft'|'draft'` → `draft`, `'Published'|'published'` → `published`,
/// `pending_approval`/`pending` → `pending_approval`, `rejected` → `rejected`.
pub fn course_status(value: &str) -> Option<&'static str> {
    match value.trim().to_ascii_lowercase().replace(' ', "_").as_str() {
        "draft" => Some("draft"),
        "published" => Some("published"),
        "pending_approval" | "pending" => Some("pending_approval"),
        "rejected" => Some("rejected"),
        _ => None,
    }
}

/// An account's role, lowercased; `None` for anything but the three roles.
pub fn role(value: &str) -> Option<&'static str> {
    one_of("role", value, &["admin", "formateur", "student"]).ok()
}

/// An enrollment request's status: `pending`, `approved`, `denied` (also written `rejected`).
pub fn request_status(value: &str) -> Option<&'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "pending" => Some("pending"),
        "approved" => Some("approved"),
        "denied" | "rejected" => Some("denied"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_statuses_are_normalised() {
        for (raw, expected) in [
            ("Draft", Some("draft")),
            ("draft", Some("draft")),
            ("Published", Some("published")),
            ("published", Some("published")),
            ("pending_approval", Some("pending_approval")),
            ("pending", Some("pending_approval")),
            ("rejected", Some("rejected")),
            ("archived", None),
        ] {
            assert_eq!(course_status(raw), expected, "{raw}");
        }
    }

    #[test]
    fn roles_and_request_statuses_are_normalised() {
        assert_eq!(role("Formateur"), Some("formateur"));
        assert_eq!(role("ADMIN"), Some("admin"));
        assert_eq!(role("instructor"), None);
        assert_eq!(request_status("rejected"), Some("denied"));
        assert_eq!(request_status("Approved"), Some("approved"));
        assert_eq!(request_status("active"), None);
    }

    #[test]
    fn vocabularies_match_case_insensitively_and_name_the_allowed_values() {
        assert_eq!(
            one_of("level", "Beginner", &["beginner", "advanced"]),
            Ok("beginner")
        );
        assert_eq!(
            one_of("category", "Data Science", &["programming", "design"]),
            Err("'category' is 'Data Science', not one of: programming, design".to_owned())
        );
    }
}
