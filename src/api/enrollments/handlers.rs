//! Enrollment handlers.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::repo::{self, EnrollmentRequest};
use crate::{
    api::{notifications::repo as notifications, users::handlers::check_filter},
    cache::Tag,
    error::{AppError, AppResult, ErrorBody, ResultExt},
    extract::{Admins, Allowed, AppJson, AppQuery, AuthUser, Formateurs, Page, Role, Students},
    legacy,
    state::AppState,
    validate::Validator,
};

/// Body of `POST /api/enrollment`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Enroll {
    /// The course to join.
    pub course_id: String,
    /// A note to the reviewer.
    pub message: Option<String>,
}

/// Result of an enrollment (the original's shape plus `id` and `status`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Enrolled {
    /// The request id (approval needed) or the enrollment id.
    pub id: Uuid,
    /// Always true.
    pub success: bool,
    /// What happened.
    pub message: String,
    /// The request id, when approval is needed.
    pub request_id: Option<Uuid>,
    /// Whether an approval is awaited.
    pub requires_approval: bool,
    /// `pending` or `active`.
    pub status: String,
}

fn already(code: &'static str) -> AppError {
    match code {
        "already_enrolled" => AppError::conflict(code, "you are already enrolled in this course"),
        _ => AppError::conflict(
            code,
            "your enrollment request for this course is already pending",
        ),
    }
}

/// Enroll the calling student: a pending request when the course requires approval (the
/// default), otherwise an active enrollment.
#[utoipa::path(post, path = "/api/enrollment", tag = "enrollment", request_body = Enroll,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = Enrolled), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn enroll_in_course(
    state: AppState,
    Allowed(caller, ..): Allowed<Students>,
    AppJson(body): AppJson<Enroll>,
) -> AppResult<(StatusCode, AppJson<Enrolled>)> {
    let course = state
        .object_id(legacy::Kind::Course, &body.course_id)
        .await?;
    let mut v = Validator::new();
    v.opt_length("message", body.message.as_deref(), 2000);
    v.finish()?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let target = repo::enroll_target(&tx, course, caller.id)
        .await?
        .filter(|t| t.published)
        .ok_or(AppError::NotFound("course"))?;
    if target.enrolled {
        return Err(already("already_enrolled"));
    }
    if target.pending {
        return Err(already("already_pending"));
    }
    let answer = if target.requires_approval {
        // The partial unique index turns a concurrent duplicate into a 409.
        let id = repo::insert_request(&tx, course, caller.id, body.message.as_deref())
            .await
            .on_constraint("enrollment_request_pending_key", || {
                already("already_pending")
            })?;
        notifications::notify(
            &tx,
            target.instructor_id,
            &notifications::NewNotification {
                title: "New enrollment request",
                message: &format!("A student asked to join \"{}\".", target.title),
                kind: "info",
                link: Some("/formateur/enrollment-requests"),
                data: Some(serde_json::json!({ "courseId": course, "requestId": id })),
            },
        )
        .await?;
        Enrolled {
            id,
            success: true,
            message: "Enrollment request sent; awaiting approval".to_owned(),
            request_id: Some(id),
            requires_approval: true,
            status: "pending".to_owned(),
        }
    } else {
        let id = repo::insert_enrollment(&tx, course, caller.id, None)
            .await?
            .ok_or_else(|| already("already_enrolled"))?;
        Enrolled {
            id,
            success: true,
            message: "Enrolled successfully".to_owned(),
            request_id: None,
            requires_approval: false,
            status: "active".to_owned(),
        }
    };
    tx.commit().await?;
    // The student's dashboard, the owner's notifications and everybody's counters changed;
    // when enrolled at once, also the course (its student count, and the lessons the student
    // may now read).
    let mut tags = vec![
        Tag::Enrollments(caller.id),
        Tag::Notifications(target.instructor_id),
        Tag::Stats,
    ];
    if !answer.requires_approval {
        tags.push(Tag::Course(course));
    }
    state.cache.invalidate(&tags).await;
    Ok((StatusCode::CREATED, AppJson(answer)))
}

/// Query of request lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestListQuery {
    /// `pending`, `approved` or `denied` (default: all).
    pub status: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// A page of requests (the original's `{requests, success}` plus `nextCursor`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestList {
    /// Requests, newest first.
    pub requests: Vec<EnrollmentRequest>,
    /// Always true.
    pub success: bool,
    /// Cursor of the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// Body of an answer to a request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnswerRequest {
    /// The request.
    pub request_id: String,
    /// `approved` or `denied`.
    pub status: String,
    /// Shown to the student.
    pub response_message: Option<String>,
}

/// Result of an answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Answered {
    /// Always true.
    pub success: bool,
    /// What happened.
    pub message: String,
    /// The request's new status.
    pub status: String,
    /// The enrollment created by an approval.
    pub enrollment_id: Option<Uuid>,
}

const REQUEST_STATUSES: &[&str] = &["pending", "approved", "denied"];

async fn list(
    state: &AppState,
    owner: Option<Uuid>,
    q: RequestListQuery,
) -> AppResult<AppJson<RequestList>> {
    let status = check_filter("status", q.status, REQUEST_STATUSES)?;
    let page = Page::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let db = state.db().await?;
    let rows = repo::list_requests(&db, status.as_deref(), owner, &page).await?;
    let (requests, next_cursor) = page.finish(rows, repo::sort_key);
    Ok(AppJson(RequestList {
        requests,
        success: true,
        next_cursor,
    }))
}

/// Answers a pending request; with `owner`, only requests for that formateur's courses exist.
async fn answer(
    state: &AppState,
    caller: AuthUser,
    owner: Option<Uuid>,
    body: AnswerRequest,
) -> AppResult<AppJson<Answered>> {
    let id = state
        .object_id(legacy::Kind::EnrollmentRequest, &body.request_id)
        .await?;
    let mut v = Validator::new();
    v.one_of("status", &body.status, &["approved", "denied"]);
    v.opt_length("responseMessage", body.response_message.as_deref(), 2000);
    v.finish()?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let request = repo::lock_request(&tx, id)
        .await?
        .filter(|r| owner.is_none_or(|o| r.instructor_id == o))
        .ok_or(AppError::NotFound("enrollment request"))?;
    if request.status != "pending" {
        return Err(AppError::conflict(
            "already_answered",
            format!("this request was already {}", request.status),
        ));
    }
    repo::answer_request(
        &tx,
        id,
        &body.status,
        body.response_message.as_deref(),
        caller.id,
    )
    .await?;
    let approved = body.status == "approved";
    let enrollment_id = if approved {
        repo::insert_enrollment(&tx, request.course_id, request.student_id, Some(id)).await?
    } else {
        None
    };
    let mut message = if approved {
        format!(
            "Your request to join \"{}\" was approved.",
            request.course_title
        )
    } else {
        format!(
            "Your request to join \"{}\" was denied.",
            request.course_title
        )
    };
    if let Some(m) = &body.response_message {
        message.push(' ');
        message.push_str(m);
    }
    notifications::notify(
        &tx,
        request.student_id,
        &notifications::NewNotification {
            title: if approved {
                "Enrollment approved"
            } else {
                "Enrollment denied"
            },
            message: &message,
            kind: if approved { "success" } else { "warning" },
            link: Some(&format!("/courses/{}", request.course_id)),
            data: Some(serde_json::json!({ "courseId": request.course_id, "requestId": id })),
        },
    )
    .await?;
    tx.commit().await?;
    let tags = [
        Tag::Enrollments(request.student_id),
        Tag::Course(request.course_id),
        Tag::Notifications(request.student_id),
        Tag::Stats,
    ];
    state.cache.invalidate(&tags).await;
    Ok(AppJson(Answered {
        success: true,
        message: format!("Enrollment request {}", body.status),
        status: body.status,
        enrollment_id,
    }))
}

/// All enrollment requests (admin), optionally by `status`.
#[utoipa::path(get, path = "/api/admin/enrollment-requests", tag = "enrollment", params(RequestListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = RequestList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_admin_enrollment_requests(
    state: AppState,
    caller: AuthUser,
    AppQuery(q): AppQuery<RequestListQuery>,
) -> AppResult<AppJson<RequestList>> {
    caller.require(&[Role::Admin])?;
    list(&state, None, q).await
}

/// Approve or deny any request (admin).
#[utoipa::path(post, path = "/api/admin/enrollment-requests", tag = "enrollment", request_body = AnswerRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Answered), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn answer_admin_enrollment_request(
    state: AppState,
    Allowed(caller, ..): Allowed<Admins>,
    AppJson(body): AppJson<AnswerRequest>,
) -> AppResult<AppJson<Answered>> {
    answer(&state, caller, None, body).await
}

/// Requests for the formateur's own courses, optionally by `status`.
#[utoipa::path(get, path = "/api/formateur/enrollment-requests", tag = "enrollment", params(RequestListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = RequestList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_formateur_enrollment_requests(
    state: AppState,
    caller: AuthUser,
    AppQuery(q): AppQuery<RequestListQuery>,
) -> AppResult<AppJson<RequestList>> {
    caller.require(&[Role::Formateur])?;
    list(&state, Some(caller.id), q).await
}

/// Approve or deny a request for one of the formateur's own courses.
#[utoipa::path(post, path = "/api/formateur/enrollment-requests", tag = "enrollment", request_body = AnswerRequest,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Answered), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn answer_formateur_enrollment_request(
    state: AppState,
    Allowed(caller, ..): Allowed<Formateurs>,
    AppJson(body): AppJson<AnswerRequest>,
) -> AppResult<AppJson<Answered>> {
    answer(&state, caller, Some(caller.id), body).await
}
