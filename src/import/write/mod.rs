//! Writing normalised records, one document at a time, inside the caller's transaction.
//!
//! 1. Rows are matched by the Firestore id they keep (`legacy_id`; users by `firebase_uid`;
//!    modules and lessons by `(course_id, legacy_id)`, questions by `(quiz_id, legacy_id)`).
//! 2. A matched row is updated only when an imported field differs (`is distinct from` in the
//!    update's `where`), so a second run over the same export updates nothing.
//! 3. A timestamp the document lacks is `now()` when the row is inserted and left alone by
//!    later runs; other missing optional fields are NULL.
//! 4. References to other documents are resolved here, among the rows already imported: a
//!    missing required one rejects the document, a missing optional one is left empty with a
//!    warning.
//! 5. Embedded objects the document no longer holds are deleted (only those that came from an
//!    import: rows created in this service have no `legacy_id`).

mod catalogue;
mod enrollments;
mod notifications;
mod quizzes;

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{fields::Reason, normalise::Record};

/// What happened to one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its row did not exist.
    Inserted,
    /// Its row, or one of its embedded rows, differed and was written.
    Updated,
    /// Everything was already as the document says.
    Unchanged,
}

impl Outcome {
    /// The outcome of a document whose own row had `self` and whose embedded rows changed
    /// when `children_changed`.
    fn with_children(self, children_changed: bool) -> Self {
        match self {
            Self::Unchanged if children_changed => Self::Updated,
            other => other,
        }
    }

    /// `Updated` when `rows` (of an update guarded by `is distinct from`) is not zero.
    fn updated_if(rows: u64) -> Self {
        if rows == 0 {
            Self::Unchanged
        } else {
            Self::Updated
        }
    }
}

/// Why a document was not written.
#[derive(Debug)]
pub enum Failure {
    /// A reference or uniqueness check failed: the reason, in words.
    Rejected(Reason),
    /// PostgreSQL refused a statement.
    Database(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Database(err)
    }
}

/// The result of writing one document.
pub type Written = Result<Outcome, Failure>;

/// Writes one record (with its embedded rows); warnings about repaired references are pushed
/// onto `warnings`.
pub async fn record(
    db: &impl GenericClient,
    record: &Record,
    warnings: &mut Vec<String>,
) -> Written {
    match record {
        Record::User(r) => catalogue::user(db, r, warnings).await,
        Record::Course(r) => catalogue::course(db, r, warnings).await,
        Record::Request(r) => enrollments::request(db, r, warnings).await,
        Record::Enrollment(r) => enrollments::enrollment(db, r, warnings).await,
        Record::Quiz(r) => quizzes::quiz(db, r, warnings).await,
        Record::Attempt(r) => quizzes::attempt(db, r, warnings).await,
        Record::Notification(r) => notifications::notification(db, r).await,
    }
}

/// A database error in words, for the report (the named constraints of the schema that a
/// document can break).
pub fn explain(err: &tokio_postgres::Error) -> Reason {
    let Some(db) = err.as_db_error() else {
        return format!("database error: {err}");
    };
    let sentence = match db.constraint() {
        Some("app_user_email_key") => "duplicate e-mail: another account already uses this address",
        Some("app_user_firebase_uid_key") => {
            "duplicate Firebase uid: another account is linked to this user"
        }
        Some("course_title_key") => "duplicate title: another course already has this title",
        Some("enrollment_user_course_key") => {
            "duplicate enrollment: the student is already enrolled in this course"
        }
        Some("enrollment_request_pending_key") => {
            "duplicate pending request: the student already has a pending request for this course"
        }
        Some("quiz_attempt_number_key") => {
            "duplicate attempt number: the student already has an attempt with this number on this quiz"
        }
        Some(
            "course_module_position_key" | "lesson_position_key" | "quiz_question_position_key",
        ) => "position clash with modules, lessons or questions added in this service",
        Some(other) => return format!("violates {other}: {}", db.message()),
        None => return format!("database error: {}", db.message()),
    };
    sentence.to_owned()
}

fn dangling(field: &str, id: &str, what: &str) -> Failure {
    Failure::Rejected(format!(
        "dangling reference: {field} '{id}' is not an imported {what}"
    ))
}

/// The account imported from Firebase user `uid`.
async fn find_user(
    db: &impl GenericClient,
    uid: &str,
) -> Result<Option<Uuid>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("select id from app_user where firebase_uid = $1")
        .await?;
    Ok(db.query_opt(&stmt, &[&uid]).await?.map(|row| row.get(0)))
}

/// The account of a required reference (`userId`, `instructorId`…).
async fn required_user(db: &impl GenericClient, field: &str, uid: &str) -> Result<Uuid, Failure> {
    find_user(db, uid)
        .await?
        .ok_or_else(|| dangling(field, uid, "user"))
}

/// The account of an optional reference (`createdBy`, `approvedBy`…); a dangling one is left
/// empty, with a warning.
async fn optional_user(
    db: &impl GenericClient,
    field: &str,
    uid: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Option<Uuid>, tokio_postgres::Error> {
    let Some(uid) = uid else { return Ok(None) };
    let found = find_user(db, uid).await?;
    if found.is_none() {
        warnings.push(format!(
            "{field} '{uid}' is not an imported user: left empty"
        ));
    }
    Ok(found)
}

/// The course imported from document `legacy_id`.
async fn required_course(
    db: &impl GenericClient,
    field: &str,
    legacy_id: &str,
) -> Result<Uuid, Failure> {
    find_legacy(db, Table::Course, legacy_id)
        .await?
        .ok_or_else(|| dangling(field, legacy_id, "course"))
}

/// The id of the row of `table` imported from document `legacy_id`.
async fn find_legacy(
    db: &impl GenericClient,
    table: Table,
    legacy_id: &str,
) -> Result<Option<Uuid>, tokio_postgres::Error> {
    let sql = format!("select id from {} where legacy_id = $1", table.name());
    let stmt = db.prepare_cached(&sql).await?;
    Ok(db
        .query_opt(&stmt, &[&legacy_id])
        .await?
        .map(|row| row.get(0)))
}

/// Tables whose rows are matched by `legacy_id` alone.
#[derive(Debug, Clone, Copy)]
enum Table {
    Course,
    EnrollmentRequest,
    Enrollment,
    Quiz,
    QuizAttempt,
    Notification,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Course => "course",
            Self::EnrollmentRequest => "enrollment_request",
            Self::Enrollment => "enrollment",
            Self::Quiz => "quiz",
            Self::QuizAttempt => "quiz_attempt",
            Self::Notification => "notification",
        }
    }
}
