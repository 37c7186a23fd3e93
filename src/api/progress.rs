//! Lesson progress: enrolled students mark lessons complete; the student, the course owner and
//! admins read it (API.md §2).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    cache::Tag,
    error::{AppError, AppResult, ErrorBody},
    extract::{AppJson, AppQuery, AuthUser, Page, Role, pagination::bad_query},
    jsontime, legacy,
    state::AppState,
};

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_progress, complete_lesson))
}

/// A student's progress in a course.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressRecord {
    /// Enrollment id.
    pub id: Uuid,
    /// Student.
    pub user_id: Uuid,
    /// Course.
    pub course_id: Uuid,
    /// Course title.
    pub course_title: String,
    /// 0–100.
    pub progress: i32,
    /// True at 100.
    pub completed: bool,
    /// `active` or `completed`.
    pub status: String,
    /// Ids of the completed lessons.
    pub completed_lessons: Vec<Uuid>,
    /// Enrollment time.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTime<Utc>,
    /// When progress reached 100.
    #[serde(serialize_with = "jsontime::ser_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Last change.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

const RECORD_COLUMNS: &str = "e.id, e.user_id, e.course_id, c.title as course_title, e.progress, e.status,
    e.started_at, e.completed_at, e.updated_at,
    coalesce(array(select cl.lesson_id from completed_lesson cl where cl.enrollment_id = e.id order by cl.completed_at), '{}') as completed_lessons";

impl ProgressRecord {
    fn from_row(row: &Row) -> Self {
        let status: String = row.get("status");
        Self {
            id: row.get("id"),
            user_id: row.get("user_id"),
            course_id: row.get("course_id"),
            course_title: row.get("course_title"),
            progress: row.get("progress"),
            completed: status == "completed",
            status,
            completed_lessons: row.get("completed_lessons"),
            started_at: row.get("started_at"),
            completed_at: row.get("completed_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

/// Body of `POST /api/progress`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteLesson {
    /// The course.
    pub course_id: String,
    /// A lesson of that course.
    pub lesson_id: String,
}

/// Result of completing a lesson (the original's `{success, progress}`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LessonCompleted {
    /// Always true.
    pub success: bool,
    /// 0–100.
    pub progress: i32,
    /// True at 100.
    pub completed: bool,
    /// The whole record.
    pub record: ProgressRecord,
}

/// Mark a lesson complete for the calling, enrolled student; progress is recomputed from the
/// lessons the course has now.
#[utoipa::path(post, path = "/api/progress", tag = "progress", request_body = CompleteLesson,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = LessonCompleted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn complete_lesson(
    state: AppState,
    caller: AuthUser,
    AppJson(body): AppJson<CompleteLesson>,
) -> AppResult<AppJson<LessonCompleted>> {
    let course = state
        .object_id(legacy::Kind::Course, &body.course_id)
        .await?;
    let lesson = state
        .lesson_id(course, &body.lesson_id)
        .await?
        .ok_or(AppError::NotFound("lesson"))?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "select e.id, exists (select 1 from lesson l where l.id = $3 and l.course_id = $2) as lesson_ok
             from enrollment e where e.user_id = $1 and e.course_id = $2 for update of e",
        )
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&caller.id, &course, &lesson]).await? else {
        return Err(AppError::Forbidden("you are not enrolled in this course"));
    };
    let enrollment: Uuid = row.get(0);
    if !row.get::<_, bool>(1) {
        return Err(AppError::NotFound("lesson"));
    }
    let record = record_completion(&tx, enrollment, lesson).await?;
    tx.commit().await?;
    state
        .cache
        .invalidate(&[Tag::Enrollments(caller.id), Tag::Stats])
        .await;
    Ok(AppJson(LessonCompleted {
        success: true,
        progress: record.progress,
        completed: record.completed,
        record,
    }))
}

/// Inserts the completion (idempotent) and recomputes the enrollment's progress.
async fn record_completion(
    db: &impl GenericClient,
    enrollment: Uuid,
    lesson: Uuid,
) -> Result<ProgressRecord, tokio_postgres::Error> {
    let insert = db
        .prepare_cached("insert into completed_lesson (enrollment_id, lesson_id) values ($1, $2) on conflict do nothing")
        .await?;
    db.execute(&insert, &[&enrollment, &lesson]).await?;
    let sql = format!(
        "with counts as (
            select (select count(*) from completed_lesson cl join lesson l on l.id = cl.lesson_id where cl.enrollment_id = e.id) as done,
                   (select count(*) from lesson l where l.course_id = e.course_id) as total
            from enrollment e where e.id = $1
         ), updated as (
            update enrollment e set
                progress = least(100, round(100.0 * counts.done / greatest(counts.total, 1)))::int,
                status = case when counts.done >= counts.total then 'completed' else 'active' end,
                completed_at = case when counts.done >= counts.total then coalesce(e.completed_at, now()) else null end,
                updated_at = now()
            from counts where e.id = $1
            returning e.*
         )
         select {RECORD_COLUMNS} from updated e join course c on c.id = e.course_id"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let row = db.query_one(&stmt, &[&enrollment]).await?;
    Ok(ProgressRecord::from_row(&row))
}

/// Query of `GET /api/progress`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ProgressQuery {
    /// The course (required for owners and admins; students may omit it to list all theirs).
    pub course_id: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// Progress records.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressList {
    /// Records, newest enrollment first.
    pub progress: Vec<ProgressRecord>,
    /// Cursor of the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// Progress records: a student sees their own; the course owner and admins see every student
/// of the course.
#[utoipa::path(get, path = "/api/progress", tag = "progress", params(ProgressQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ProgressList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_progress(
    state: AppState,
    caller: AuthUser,
    AppQuery(q): AppQuery<ProgressQuery>,
) -> AppResult<AppJson<ProgressList>> {
    let page = Page::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let course = state
        .query_id(legacy::Kind::Course, "courseId", q.course_id.as_deref())
        .await?;
    let db = state.db().await?;
    // Whose records the caller may read: a student only their own; otherwise the course's.
    let only_user = match caller.role {
        Role::Student => Some(caller.id),
        Role::Formateur | Role::Admin => {
            let course = course.ok_or_else(|| bad_query("courseId", "is required"))?;
            if caller.role == Role::Formateur {
                let stmt = db
                    .prepare_cached("select 1 from course where id = $1 and instructor_id = $2")
                    .await?;
                if db.query_opt(&stmt, &[&course, &caller.id]).await?.is_none() {
                    return Err(AppError::NotFound("course"));
                }
            }
            None
        }
    };
    let (ts, id) = page.bounds();
    let sql = format!(
        "select {RECORD_COLUMNS} from enrollment e join course c on c.id = e.course_id
         where ($1::uuid is null or e.user_id = $1) and ($2::uuid is null or e.course_id = $2)
           and (e.started_at, e.id) < ($3, $4)
         order by e.started_at desc, e.id desc limit $5"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let rows = db
        .query(&stmt, &[&only_user, &course, &ts, &id, &page.fetch()])
        .await?;
    let records: Vec<ProgressRecord> = rows.iter().map(ProgressRecord::from_row).collect();
    let (progress, next_cursor) = page.finish(records, |r| (r.started_at, r.id));
    Ok(AppJson(ProgressList {
        progress,
        next_cursor,
    }))
}
