//! Course handlers.

use axum::{
    extract::{FromRequest, Multipart, Request},
    http::{StatusCode, header},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    model::{CATEGORIES, Course, CourseStatus, CourseSummary, CreateCourse, LEVELS},
    repo::{self, CourseFilter},
};
use crate::{
    api::{notifications::repo as notifications, users::handlers::check_filter},
    cache::{CacheKind, Cached, Loaded, Tag},
    error::{AppError, AppResult, ErrorBody, ResultExt},
    extract::pagination::encode_cursor,
    extract::{
        Admins, Allowed, AppJson, AppQuery, AuthUser, IdPath, MaybeAuthUser, Page, Role, Staff,
        pagination::bad_query,
    },
    legacy,
    state::AppState,
};

/// Query of course lists.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CourseListQuery {
    /// Page size, 1–100 (default 20); on `GET /api/formateur/courses`, which the frontend reads
    /// whole, 1–500 (default 500).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only this level.
    pub level: Option<String>,
    /// Words in the title or description (at most 100 characters).
    pub q: Option<String>,
    /// Only this status (admin list only): `Draft`, `pending_approval`, `Published` or `rejected`,
    /// in either spelling (`published`, `draft`, `pending`) and any case.
    pub status: Option<String>,
}

impl CourseListQuery {
    fn filter(self) -> AppResult<(Page, CourseFilter)> {
        let page = Page::parse(self.limit.as_deref(), self.cursor.as_deref())?;
        self.filter_page(page)
    }

    fn filter_page(self, page: Page) -> AppResult<(Page, CourseFilter)> {
        let q = self.q.filter(|s| !s.trim().is_empty());
        if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
            return Err(bad_query("q", "must be at most 100 characters"));
        }
        let filter = CourseFilter {
            category: check_filter("category", self.category, CATEGORIES)?,
            level: check_filter("level", self.level, LEVELS)?,
            status: match self.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => Some(
                    CourseStatus::parse_any(s)
                        .ok_or_else(|| {
                            bad_query(
                                "status",
                                "must be one of: Draft, pending_approval, Published, rejected (any case)",
                            )
                        })?
                        .as_db()
                        .to_owned(),
                ),
            },
            q: q.map(|q| q.trim().to_owned()),
            instructor_id: None,
        };
        Ok((page, filter))
    }
}

/// A page of courses.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CourseList {
    /// Courses, newest first.
    pub courses: Vec<CourseSummary>,
    /// Cursor of the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// A page of courses with the total (admin list, the original's shape).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminCourseList {
    /// Courses, newest first.
    pub courses: Vec<CourseSummary>,
    /// Courses matching the filter, across pages.
    pub total: i64,
    /// Always true.
    pub success: bool,
    /// Cursor of the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// A created, updated or deleted course.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CourseChange {
    /// Course id.
    pub id: Uuid,
    /// The same id, under the original's name.
    pub course_id: Uuid,
    /// Always true.
    pub success: bool,
    /// What happened.
    pub message: String,
    /// The course as it is now (absent after a delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub course: Option<Course>,
}

/// The published catalogue, filtered by `category`, `level` and `q`.
#[utoipa::path(get, path = "/api/courses", tag = "courses", params(CourseListQuery),
    responses((status = 200, body = CourseList), (status = 400, body = ErrorBody)))]
pub async fn list_courses(
    state: AppState,
    AppQuery(q): AppQuery<CourseListQuery>,
) -> AppResult<Cached> {
    let (page, mut filter) = CourseListQuery { status: None, ..q }.filter()?;
    filter.status = Some("published".to_owned());
    // Case-insensitive search: one entry per distinct lowercase query.
    let key = format!(
        "{}|{}|{}|{}|{}",
        page.limit,
        page.after
            .map(|(t, i)| encode_cursor(t, i))
            .unwrap_or_default(),
        filter.category.as_deref().unwrap_or(""),
        filter.level.as_deref().unwrap_or(""),
        filter.q.as_deref().unwrap_or("").to_lowercase()
    );
    let kind = CacheKind::CourseList;
    let mut tags = kind.tags(None, None);
    if filter.q.is_some() {
        tags.push(Tag::Search);
    }
    // Callers can vary the cursor, the search text and the page size without end; only the
    // first default-sized page of each filter (a few dozen entries in all) is worth sharing
    // through Redis. The rest stays in this instance's memory tier, bounded in bytes, whose
    // admission policy keeps one-off keys from pushing out the hot ones.
    let mut policy = kind.policy(None);
    if !shared_page(&page) || filter.q.is_some() {
        policy.redis_ttl = None;
    }
    state
        .cache
        .get_or_load_with(kind, policy, &key, tags, || async {
            let db = state.db().await?;
            let rows = repo::list_courses(&db, &filter, &page).await?;
            let tags = rows.iter().map(|c| Tag::Course(c.id)).collect();
            let (courses, next_cursor) = page.finish(rows, repo::sort_key);
            Loaded::json(
                &CourseList {
                    courses,
                    next_cursor,
                },
                tags,
            )
        })
        .await
}

/// Whether a page of a list is worth a Redis entry: the first, at the default size.
fn shared_page(page: &Page) -> bool {
    page.after.is_none() && page.limit == crate::extract::pagination::DEFAULT_LIMIT
}

/// A course with its modules and lessons. Anyone sees a published course; the owner and
/// admins see the others. Lesson `content` and `url` only go to enrolled students, the owner
/// and admins.
#[utoipa::path(get, path = "/api/courses/{id}", tag = "courses", params(("id" = Uuid, Path, description = "Course id")),
    responses((status = 200, body = Course), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_course(
    state: AppState,
    viewer: MaybeAuthUser,
    IdPath(id, ..): IdPath<legacy::Course>,
) -> AppResult<Cached> {
    // Two shared entries per course: with lesson content for those who may read it, without
    // for everyone else.
    let full = match viewer {
        None => false,
        Some(v) if v.is_admin() => true,
        Some(v) => readable_courses(&state, v).await?.contains(&id),
    };
    let kind = CacheKind::CourseDetails;
    let key = format!("{}:{id}", if full { "full" } else { "public" });
    state
        .cache
        .get_or_load(
            kind,
            viewer.map(|v| v.role),
            &key,
            kind.tags(None, Some(id)),
            || async {
                let db = state.db().await?;
                let (mut course, _) = repo::find_course(&db, id, None)
                    .await?
                    .ok_or(AppError::NotFound("course"))?;
                if !full {
                    if course.summary.status != CourseStatus::Published {
                        return Err(AppError::NotFound("course"));
                    }
                    for lesson in course.modules.iter_mut().flat_map(|m| m.lessons.iter_mut()) {
                        lesson.content = None;
                        lesson.url = None;
                    }
                }
                Loaded::json(&course, vec![])
            },
        )
        .await
}

/// The courses `viewer` may read in full: those they are enrolled in and those they own.
async fn readable_courses(state: &AppState, viewer: AuthUser) -> AppResult<Vec<Uuid>> {
    let kind = CacheKind::CourseAccess;
    let cached = state
        .cache
        .get_or_load(
            kind,
            Some(viewer.role),
            &viewer.id.to_string(),
            kind.tags(Some(viewer.id), None),
            || async {
                let db = state.db().await?;
                Loaded::json(&repo::readable_courses(&db, viewer.id).await?, vec![])
            },
        )
        .await?;
    serde_json::from_slice(&cached.body)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("cached course access: {e}")))
}

/// Creates a course owned by the caller (or, for an admin, by `instructorId`).
async fn create(state: &AppState, caller: AuthUser, body: CreateCourse) -> AppResult<Course> {
    caller.require(&[Role::Formateur, Role::Admin])?;
    body.validate()?;
    let owner = match body.instructor_id {
        Some(id) if caller.is_admin() => id,
        Some(id) if id != caller.id => {
            return Err(AppError::Forbidden(
                "a formateur creates courses for themselves only",
            ));
        }
        _ => caller.id,
    };
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    if caller.is_admin() && owner != caller.id {
        let stmt = tx
            .prepare_cached("select 1 from app_user where id = $1 and role = 'formateur'")
            .await?;
        if tx.query_opt(&stmt, &[&owner]).await?.is_none() {
            return Err(AppError::invalid(
                "instructorId",
                "must be the id of a formateur",
            ));
        }
    }
    let id = repo::insert_course(&tx, owner, &body)
        .await
        .on_constraint("course_title_key", duplicate_title)?;
    let admins = notifications::notify_admins(
        &tx,
        &notifications::NewNotification {
            title: "New course awaiting approval",
            message: &format!("\"{}\" was submitted for review.", body.title.trim()),
            kind: "info",
            link: Some("/admin/course-approvals"),
            data: Some(serde_json::json!({ "courseId": id })),
        },
    )
    .await?;
    tx.commit().await?;
    let mut tags = vec![Tag::Courses, Tag::Stats];
    tags.extend(admins.into_iter().map(Tag::Notifications));
    state.cache.invalidate(&tags).await;
    let (course, _) = repo::find_course(&db, id, None)
        .await?
        .ok_or(AppError::NotFound("course"))?;
    Ok(course)
}

fn duplicate_title() -> AppError {
    AppError::conflict("duplicate_title", "a course with this title already exists")
}

fn created(course: Course, message: &str) -> (StatusCode, AppJson<CourseChange>) {
    let id = course.summary.id;
    (
        StatusCode::CREATED,
        AppJson(CourseChange {
            id,
            course_id: id,
            success: true,
            message: message.to_owned(),
            course: Some(course),
        }),
    )
}

/// Create a course (formateur, admin); it starts `pending_approval`.
#[utoipa::path(post, path = "/api/courses", tag = "courses", request_body = CreateCourse,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = CourseChange), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_course(
    state: AppState,
    Allowed(caller, ..): Allowed<Staff>,
    AppJson(body): AppJson<CreateCourse>,
) -> AppResult<(StatusCode, AppJson<CourseChange>)> {
    let course = create(&state, caller, body).await?;
    Ok(created(course, "Course created and submitted for approval"))
}

/// Checks that `caller` may change course `id`: the owner or an admin. Others get 403 for a
/// course they can see (published) and 404 for one they cannot.
pub(crate) fn check_owner(caller: AuthUser, owner: Uuid, status: &str) -> AppResult<()> {
    if caller.is_admin() || caller.id == owner {
        Ok(())
    } else if status == "published" {
        Err(AppError::Forbidden(
            "only the course's owner or an admin may change it",
        ))
    } else {
        Err(AppError::NotFound("course"))
    }
}

/// Replace a course's fields, modules and lessons (owner, admin).
#[utoipa::path(put, path = "/api/courses/{id}", tag = "courses", request_body = CreateCourse,
    params(("id" = Uuid, Path, description = "Course id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CourseChange), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_course(
    state: AppState,
    caller: AuthUser,
    IdPath(id, ..): IdPath<legacy::Course>,
    AppJson(body): AppJson<CreateCourse>,
) -> AppResult<AppJson<CourseChange>> {
    body.validate()?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let before = repo::lock_course(&tx, id)
        .await?
        .ok_or(AppError::NotFound("course"))?;
    check_owner(caller, before.owner, &before.status)?;
    if body.instructor_id.is_some_and(|i| i != before.owner) {
        return Err(AppError::invalid(
            "instructorId",
            "the owner of a course cannot be changed",
        ));
    }
    let (modules, lessons) = repo::outline_ids(&tx, id).await?;
    let mut v = crate::validate::Validator::new();
    for (i, m) in body.modules.iter().enumerate() {
        if m.id.is_some_and(|mid| !modules.contains(&mid)) {
            v.fail(format!("modules[{i}].id"), "is not a module of this course");
        }
        for (j, l) in m.lessons.iter().enumerate() {
            if l.id.is_some_and(|lid| !lessons.contains(&lid)) {
                v.fail(
                    format!("modules[{i}].lessons[{j}].id"),
                    "is not a lesson of this course",
                );
            }
        }
    }
    v.finish()?;
    repo::update_course(&tx, id, &body, &modules, &lessons)
        .await
        .on_constraint("course_title_key", duplicate_title)?;
    tx.commit().await?;
    // Pages showing the course carry its tag; lists it may join or leave need more.
    let mut tags = vec![Tag::Course(id), Tag::Stats];
    if before.status == "rejected" || before.category != body.category || before.level != body.level
    {
        tags.push(Tag::Courses);
    }
    if before.title != body.title.trim() || before.description != body.description.trim() {
        tags.push(Tag::Search);
    }
    state.cache.invalidate(&tags).await;
    let (course, _) = repo::find_course(&db, id, None)
        .await?
        .ok_or(AppError::NotFound("course"))?;
    Ok(AppJson(CourseChange {
        id,
        course_id: id,
        success: true,
        message: "Course updated".to_owned(),
        course: Some(course),
    }))
}

/// Delete a course with everything in it (owner, admin).
#[utoipa::path(delete, path = "/api/courses/{id}", tag = "courses", params(("id" = Uuid, Path, description = "Course id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CourseChange), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_course(
    state: AppState,
    caller: AuthUser,
    IdPath(id, ..): IdPath<legacy::Course>,
) -> AppResult<AppJson<CourseChange>> {
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let course = repo::lock_course(&tx, id)
        .await?
        .ok_or(AppError::NotFound("course"))?;
    check_owner(caller, course.owner, &course.status)?;
    repo::delete_course(&tx, id).await?;
    tx.commit().await?;
    state
        .cache
        .invalidate(&[Tag::Courses, Tag::Course(id), Tag::Stats])
        .await;
    Ok(AppJson(CourseChange {
        id,
        course_id: id,
        success: true,
        message: "Course deleted".to_owned(),
        course: None,
    }))
}

/// Role-shaped course list: admins see all courses, formateurs their own, students the
/// published catalogue with their `isEnrolled`, `enrollmentProgress` and `enrollmentStatus`.
#[utoipa::path(get, path = "/api/dashboard/courses", tag = "courses", params(CourseListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CourseList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_dashboard_courses(
    state: AppState,
    caller: AuthUser,
    AppQuery(q): AppQuery<CourseListQuery>,
) -> AppResult<Cached> {
    let page = Page::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let kind = CacheKind::DashboardCourses;
    let key = format!(
        "{}:{}|{}",
        caller.id,
        page.limit,
        page.after
            .map(|(t, i)| encode_cursor(t, i))
            .unwrap_or_default()
    );
    let tags = kind.tags(Some(caller.id), None);
    let mut policy = kind.policy(Some(caller.role));
    if !shared_page(&page) {
        policy.redis_ttl = None;
    }
    state
        .cache
        .get_or_load_with(kind, policy, &key, tags, || async {
            let db = state.db().await?;
            let rows = match caller.role {
                Role::Student => repo::list_courses_for_student(&db, caller.id, &page).await?,
                Role::Formateur => {
                    let own = CourseFilter {
                        instructor_id: Some(caller.id),
                        ..CourseFilter::default()
                    };
                    repo::list_courses(&db, &own, &page).await?
                }
                Role::Admin => repo::list_courses(&db, &CourseFilter::default(), &page).await?,
            };
            let tags = rows.iter().map(|c| Tag::Course(c.id)).collect();
            let (courses, next_cursor) = page.finish(rows, repo::sort_key);
            Loaded::json(
                &CourseList {
                    courses,
                    next_cursor,
                },
                tags,
            )
        })
        .await
}

/// The formateur's own courses (admins: all), newest first; up to 500 a page, by default all.
#[utoipa::path(get, path = "/api/formateur/courses", tag = "courses", params(CourseListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CourseList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_formateur_courses(
    state: AppState,
    caller: AuthUser,
    AppQuery(q): AppQuery<CourseListQuery>,
) -> AppResult<AppJson<CourseList>> {
    caller.require(&[Role::Formateur, Role::Admin])?;
    let page = Page::parse_own(q.limit.as_deref(), q.cursor.as_deref())?;
    let (page, mut filter) = q.filter_page(page)?;
    if !caller.is_admin() {
        filter.instructor_id = Some(caller.id);
    }
    let db = state.db().await?;
    let rows = repo::list_courses(&db, &filter, &page).await?;
    let (courses, next_cursor) = page.finish(rows, repo::sort_key);
    Ok(AppJson(CourseList {
        courses,
        next_cursor,
    }))
}

/// Create a course through the original's path: a JSON body as `POST /api/courses`, or a
/// multipart form whose fields are the same names (`modules` as a JSON string).
#[utoipa::path(post, path = "/api/formateur/courses", tag = "courses",
    request_body(content((CreateCourse = "application/json"), (CreateCourse = "multipart/form-data"))),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = CourseChange), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_formateur_course(
    state: AppState,
    Allowed(caller, ..): Allowed<Staff>,
    req: Request,
) -> AppResult<(StatusCode, AppJson<CourseChange>)> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(req, &state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        course_from_form(multipart).await?
    } else {
        AppJson::<CreateCourse>::from_request(req, &state).await?.0
    };
    let course = create(&state, caller, body).await?;
    Ok(created(course, "Course created successfully"))
}

/// Reads a course from multipart form fields into the JSON shape, so one validator applies.
async fn course_from_form(mut form: Multipart) -> AppResult<CreateCourse> {
    let mut map = serde_json::Map::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(e.body_text()))?
    {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let text = field
            .text()
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        let value = match name.as_str() {
            "modules" => serde_json::from_str(&text)
                .map_err(|_| AppError::invalid("modules", "must be a JSON array of modules"))?,
            "duration" | "price" => match text.trim() {
                "" => serde_json::Value::Null,
                // `NaN`, `inf` and `1e400` parse as floats but are no amount of anything.
                t => t
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map(serde_json::Value::from)
                    .ok_or_else(|| AppError::invalid(&name, "must be a finite number"))?,
            },
            "requiresApproval" => serde_json::Value::Bool(text.trim() != "false"),
            // The original's form carried these; the owner is the caller and status starts
            // pending, whatever they say.
            "instructorId" | "status" => continue,
            _ => serde_json::Value::String(text),
        };
        if let Some(path) = crate::extract::json::nul_path(&value, name.clone()) {
            return Err(AppError::invalid(
                &path,
                "must not contain the NUL character (\\u0000)",
            ));
        }
        map.insert(name, value);
    }
    if let Some(d) = map.get("duration").and_then(serde_json::Value::as_f64) {
        map.insert("duration".to_owned(), serde_json::Value::from(d as i64));
    }
    map.entry("modules")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| AppError::invalid("body", e.to_string()))
}

/// All courses with the total (admin), optionally by `status`.
#[utoipa::path(get, path = "/api/admin/courses", tag = "courses", params(CourseListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AdminCourseList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_admin_courses(
    state: AppState,
    caller: AuthUser,
    AppQuery(q): AppQuery<CourseListQuery>,
) -> AppResult<AppJson<AdminCourseList>> {
    caller.require(&[Role::Admin])?;
    let (page, filter) = q.filter()?;
    let db = state.db().await?;
    let (rows, total) = tokio::try_join!(
        repo::list_courses(&db, &filter, &page),
        repo::count_courses(&db, &filter)
    )?;
    let (courses, next_cursor) = page.finish(rows, repo::sort_key);
    Ok(AppJson(AdminCourseList {
        courses,
        total,
        success: true,
        next_cursor,
    }))
}

/// Body of a course review.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CourseReview {
    /// The course.
    pub course_id: String,
    /// `approve` or `reject`.
    pub action: String,
    /// Reason shown to the formateur; empty or blank is no reason (the approvals page sends
    /// `''` when its text box is left empty).
    pub reason: Option<String>,
}

/// Result of a course review.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewResult {
    /// Always true.
    pub success: bool,
    /// What happened.
    pub message: String,
    /// The course's new status: `Published` or `rejected`.
    pub status: CourseStatus,
}

/// Approve or reject a pending course (admin); the owner is notified.
#[utoipa::path(post, path = "/api/admin/course-approval", tag = "courses", request_body = CourseReview,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ReviewResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn review_course(
    state: AppState,
    Allowed(caller, ..): Allowed<Admins>,
    AppJson(body): AppJson<CourseReview>,
) -> AppResult<AppJson<ReviewResult>> {
    let id = state
        .object_id(legacy::Kind::Course, &body.course_id)
        .await?;
    let (status, verb) = match body.action.as_str() {
        "approve" => (CourseStatus::Published, "approved"),
        "reject" => (CourseStatus::Rejected, "rejected"),
        _ => return Err(AppError::invalid("action", "must be `approve` or `reject`")),
    };
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let mut v = crate::validate::Validator::new();
    v.opt_length("reason", reason, 2000);
    v.finish()?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let Some((owner, title)) =
        repo::review_course(&tx, id, caller.id, status.as_db(), reason).await?
    else {
        let exists = repo::lock_course(&tx, id).await?;
        return Err(match exists {
            None => AppError::NotFound("course"),
            Some(_) => AppError::conflict(
                "not_pending",
                "only a course pending approval can be reviewed",
            ),
        });
    };
    let message = match reason {
        Some(r) => format!("Your course \"{title}\" was {verb}: {r}"),
        None => format!("Your course \"{title}\" was {verb}."),
    };
    notifications::notify(
        &tx,
        owner,
        &notifications::NewNotification {
            title: if status == CourseStatus::Published {
                "Course approved"
            } else {
                "Course rejected"
            },
            message: &message,
            kind: if status == CourseStatus::Published {
                "success"
            } else {
                "warning"
            },
            link: Some("/formateur/courses"),
            data: Some(serde_json::json!({ "courseId": id })),
        },
    )
    .await?;
    tx.commit().await?;
    let tags = [
        Tag::Courses,
        Tag::Course(id),
        Tag::Stats,
        Tag::Notifications(owner),
    ];
    state.cache.invalidate(&tags).await;
    Ok(AppJson(ReviewResult {
        success: true,
        message: format!("Course {verb} successfully"),
        status,
    }))
}
