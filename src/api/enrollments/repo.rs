//! SQL for enrollment requests and enrollments.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{extract::Page, jsontime};

/// An enrollment request with what the reviewer needs to see.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRequest {
    /// Request id.
    pub id: Uuid,
    /// Course.
    pub course_id: Uuid,
    /// Course title.
    pub course_title: String,
    /// Course owner.
    pub instructor_id: Uuid,
    /// Student.
    pub student_id: Uuid,
    /// Student's name.
    pub student_name: String,
    /// Student's e-mail.
    pub student_email: String,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    /// The student's message.
    pub request_message: Option<String>,
    /// The reviewer's answer.
    pub response_message: Option<String>,
    /// Who answered.
    pub responded_by: Option<Uuid>,
    /// When it was answered.
    #[serde(serialize_with = "jsontime::ser_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub responded_at: Option<DateTime<Utc>>,
    /// Creation time.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

const REQUEST_COLUMNS: &str =
    "r.id, r.course_id, c.title as course_title, c.instructor_id, r.student_id,
    s.first_name || ' ' || s.last_name as student_name, s.email as student_email, r.status,
    r.request_message, r.response_message, r.responded_by, r.responded_at, r.created_at";

impl EnrollmentRequest {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            course_id: row.get("course_id"),
            course_title: row.get("course_title"),
            instructor_id: row.get("instructor_id"),
            student_id: row.get("student_id"),
            student_name: row.get("student_name"),
            student_email: row.get("student_email"),
            status: row.get("status"),
            request_message: row.get("request_message"),
            response_message: row.get("response_message"),
            responded_by: row.get("responded_by"),
            responded_at: row.get("responded_at"),
            created_at: row.get("created_at"),
        }
    }
}

/// What enrolling would find: the course's state and the student's current standing.
pub struct EnrollTarget {
    /// Course owner.
    pub instructor_id: Uuid,
    /// Course title.
    pub title: String,
    /// Whether the course is published.
    pub published: bool,
    /// Whether enrollment needs approval.
    pub requires_approval: bool,
    /// Already enrolled.
    pub enrolled: bool,
    /// A pending request exists.
    pub pending: bool,
}

/// The course and the student's standing in it, in one query.
pub async fn enroll_target(
    db: &impl GenericClient,
    course: Uuid,
    student: Uuid,
) -> Result<Option<EnrollTarget>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "select c.instructor_id, c.title, c.status = 'published' as published, c.requires_approval,
                exists (select 1 from enrollment e where e.course_id = c.id and e.user_id = $2) as enrolled,
                exists (select 1 from enrollment_request r where r.course_id = c.id and r.student_id = $2 and r.status = 'pending') as pending
             from course c where c.id = $1",
        )
        .await?;
    Ok(db
        .query_opt(&stmt, &[&course, &student])
        .await?
        .map(|r| EnrollTarget {
            instructor_id: r.get("instructor_id"),
            title: r.get("title"),
            published: r.get("published"),
            requires_approval: r.get("requires_approval"),
            enrolled: r.get("enrolled"),
            pending: r.get("pending"),
        }))
}

/// Creates a pending request.
pub async fn insert_request(
    db: &impl GenericClient,
    course: Uuid,
    student: Uuid,
    message: Option<&str>,
) -> Result<Uuid, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("insert into enrollment_request (course_id, student_id, request_message) values ($1, $2, $3) returning id")
        .await?;
    Ok(db
        .query_one(&stmt, &[&course, &student, &message])
        .await?
        .get(0))
}

/// Enrolls a student; `None` when already enrolled.
pub async fn insert_enrollment(
    db: &impl GenericClient,
    course: Uuid,
    student: Uuid,
    request: Option<Uuid>,
) -> Result<Option<Uuid>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "insert into enrollment (course_id, user_id, enrollment_request_id) values ($1, $2, $3)
             on conflict on constraint enrollment_user_course_key do nothing returning id",
        )
        .await?;
    Ok(db
        .query_opt(&stmt, &[&course, &student, &request])
        .await?
        .map(|r| r.get(0)))
}

/// One page of requests, newest first, optionally by status and by course owner.
pub async fn list_requests(
    db: &impl GenericClient,
    status: Option<&str>,
    owner: Option<Uuid>,
    page: &Page,
) -> Result<Vec<EnrollmentRequest>, tokio_postgres::Error> {
    let (ts, id) = page.bounds();
    let sql = format!(
        "select {REQUEST_COLUMNS}
         from enrollment_request r join course c on c.id = r.course_id join app_user s on s.id = r.student_id
         where ($1::text is null or r.status = $1) and ($2::uuid is null or c.instructor_id = $2)
           and (r.created_at, r.id) < ($3, $4)
         order by r.created_at desc, r.id desc limit $5"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let rows = db
        .query(&stmt, &[&status, &owner, &ts, &id, &page.fetch()])
        .await?;
    Ok(rows.iter().map(EnrollmentRequest::from_row).collect())
}

/// A request, locked for the rest of the transaction.
pub async fn lock_request(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<EnrollmentRequest>, tokio_postgres::Error> {
    let sql = format!(
        "select {REQUEST_COLUMNS}
         from enrollment_request r join course c on c.id = r.course_id join app_user s on s.id = r.student_id
         where r.id = $1 for update of r"
    );
    let stmt = db.prepare_cached(&sql).await?;
    Ok(db
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(EnrollmentRequest::from_row))
}

/// Records the answer to a request.
pub async fn answer_request(
    db: &impl GenericClient,
    id: Uuid,
    status: &str,
    message: Option<&str>,
    by: Uuid,
) -> Result<(), tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "update enrollment_request set status = $2, response_message = $3, responded_by = $4, responded_at = now(), updated_at = now()
             where id = $1",
        )
        .await?;
    db.execute(&stmt, &[&id, &status, &message, &by]).await?;
    Ok(())
}

/// The sort key of a request, for cursors.
pub fn sort_key(r: &EnrollmentRequest) -> (DateTime<Utc>, Uuid) {
    (r.created_at, r.id)
}
