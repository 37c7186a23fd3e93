//! Routes the original frontend calls that belong to no resource of their own: the admins'
//! course-approval queue, and the Firebase-era repair tools, which the import replaced.

use axum::{Json, http::StatusCode, response::IntoResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::dashboards::course_json,
    error::{AppResult, ErrorBody},
    extract::{AppJson, AuthUser, Role},
    state::AppState,
};

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_course_approvals))
        .routes(routes!(fix_blob_urls))
        .routes(routes!(fix_course_images))
        .routes(routes!(fix_all_course_images))
        .routes(routes!(generate_course_images))
        .routes(routes!(test_simple))
}

/// Most courses the approval queue lists (oldest first: the longest waiting on top).
const APPROVAL_QUEUE_LIMIT: i64 = 500;

/// The admins' approval queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct CourseApprovals {
    /// Always true.
    pub success: bool,
    /// Courses pending approval, oldest first (at most 500), each with `id`, `title`,
    /// `description`, `instructorName`, `category`, `level`, `modules` (with their lessons'
    /// titles), `createdAt` and the other fields of a dashboard course.
    #[schema(value_type = Vec<Object>)]
    pub courses: Value,
    /// Courses pending approval in all.
    pub total: i64,
}

/// Courses waiting for an admin's review (admin).
#[utoipa::path(get, path = "/api/admin/course-approvals", tag = "courses",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CourseApprovals), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_course_approvals(
    state: AppState,
    caller: AuthUser,
) -> AppResult<AppJson<CourseApprovals>> {
    caller.require(&[Role::Admin])?;
    let sql = format!(
        "select coalesce((select json_agg({course} order by c.created_at, c.id)
            from (select * from course where status = 'pending_approval'
                  order by created_at, id limit {APPROVAL_QUEUE_LIMIT}) c), '[]'::json),
            (select count(*) from course where status = 'pending_approval')",
        course = course_json()
    );
    let db = state.db().await?;
    let row = db.query_one(&db.prepare_cached(&sql).await?, &[]).await?;
    Ok(AppJson(CourseApprovals {
        success: true,
        courses: row.get(0),
        total: row.get(1),
    }))
}

/// The answer of a retired Firebase-era tool.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retired {
    /// What happened, for the page that shows `error`.
    #[schema(example = "this tool was retired")]
    pub error: String,
    /// What replaced it, for the page that shows `message`.
    pub message: String,
    /// Always `gone`.
    #[schema(example = "gone")]
    pub code: String,
}

fn retired(tool: &str, replacement: &str) -> impl IntoResponse + use<> {
    (
        StatusCode::GONE,
        Json(Retired {
            error: format!("{tool} was a repair tool for the Firestore data and is retired"),
            message: replacement.to_owned(),
            code: "gone".to_owned(),
        }),
    )
}

const IMPORT_FIXES_IMAGES: &str = "Course images are fixed when the Firestore data is imported \
    (`elearning-api import firestore`); covers are now uploaded with POST /api/courses/{id}/image \
    or POST /api/upload-image and served by this API.";

/// Retired: blob URLs are rewritten by the import.
#[utoipa::path(post, path = "/api/fix-blob-urls", tag = "compat",
    responses((status = 410, description = "Retired; `message` says what replaced it", body = Retired)))]
pub async fn fix_blob_urls() -> impl IntoResponse {
    retired("fix-blob-urls", IMPORT_FIXES_IMAGES)
}

/// Retired: course images are fixed by the import.
#[utoipa::path(post, path = "/api/admin/fix-course-images", tag = "compat",
    responses((status = 410, description = "Retired; `message` says what replaced it", body = Retired)))]
pub async fn fix_course_images() -> impl IntoResponse {
    retired("fix-course-images", IMPORT_FIXES_IMAGES)
}

/// Retired: course images are fixed by the import.
#[utoipa::path(post, path = "/api/admin/fix-all-course-images", tag = "compat",
    responses((status = 410, description = "Retired; `message` says what replaced it", body = Retired)))]
pub async fn fix_all_course_images() -> impl IntoResponse {
    retired("fix-all-course-images", IMPORT_FIXES_IMAGES)
}

/// Retired: covers are uploaded, not generated.
#[utoipa::path(post, path = "/api/admin/generate-course-images", tag = "compat",
    responses((status = 410, description = "Retired; `message` says what replaced it", body = Retired)))]
pub async fn generate_course_images() -> impl IntoResponse {
    retired("generate-course-images", IMPORT_FIXES_IMAGES)
}

/// Retired: a Firebase debugging page.
#[utoipa::path(get, path = "/api/test-simple", tag = "compat",
    responses((status = 410, description = "Retired; `message` says what replaced it", body = Retired)))]
pub async fn test_simple() -> impl IntoResponse {
    retired(
        "test-simple",
        "Use GET /api/auth/me to see who you are signed in as, and GET /api/performance/health for the service.",
    )
}
