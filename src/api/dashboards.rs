//! Role dashboards (API.md §2, "Dashboards"): figures scoped to the caller's own data, unlike
//! the original, whose dashboards were readable by anyone with a cookie header.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::courses::model::STATUS_WIRE_SQL,
    cache::{CacheKind, Cached, Loaded},
    error::{AppResult, ErrorBody},
    extract::{AppJson, AuthUser, Role},
    jsontime,
    state::AppState,
};

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_dashboard_stats))
        .routes(routes!(get_admin_dashboard))
        .routes(routes!(get_formateur_dashboard))
        .routes(routes!(get_student_dashboard))
}

/// `{stats}`, shaped by role.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardStats {
    /// Admin: users, courses, enrollments, pending requests and approvals, recent activity.
    /// Formateur: own courses by status, students, enrollments, recent activity. Student: own
    /// enrollments, completions, average progress, recent activity.
    #[schema(value_type = Object)]
    pub stats: Value,
}

/// A role dashboard: `stats` plus lists (documentation of the JSON the handlers build in SQL).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    /// Counters.
    #[schema(value_type = Object)]
    pub stats: Value,
    /// Latest courses (20).
    #[schema(value_type = Vec<Object>)]
    pub courses: Value,
    /// Admin: latest users (50, without password data).
    #[schema(value_type = Option<Vec<Object>>)]
    pub users: Option<Value>,
    /// Formateur and student: latest enrollments (20).
    #[schema(value_type = Option<Vec<Object>>)]
    pub enrollments: Option<Value>,
    /// Admin: pending enrollment requests (20).
    #[schema(value_type = Option<Vec<Object>>)]
    pub enrollment_requests: Option<Value>,
    /// Admin: users per role.
    #[schema(value_type = Option<Object>)]
    pub role_distribution: Option<Value>,
}

// Each dashboard is one statement: every figure is a scalar subquery, every list a json_agg.
// Timestamps go through `jsontime::sql`, so they read as everywhere else in the API.

fn admin_stats() -> String {
    format!(
        "select json_build_object(
    'totalUsers', (select count(*) from app_user),
    'totalCourses', (select count(*) from course),
    'totalEnrollments', (select count(*) from enrollment),
    'pendingEnrollmentRequests', (select count(*) from enrollment_request where status = 'pending'),
    'pendingCourseApprovals', (select count(*) from course where status = 'pending_approval'),
    'recentActivity', coalesce((select json_agg(a) from (
        select 'enrollment' as type, {started} as \"createdAt\", c.id as \"courseId\", c.title as \"courseTitle\",
               u.first_name || ' ' || u.last_name as \"userName\"
        from enrollment e join course c on c.id = e.course_id join app_user u on u.id = e.user_id
        order by e.started_at desc limit 10) a), '[]'::json)
)",
        started = jsontime::sql("e.started_at")
    )
}

fn formateur_stats() -> String {
    format!(
        "select json_build_object(
    'totalCourses', (select count(*) from course where instructor_id = $1),
    'publishedCourses', (select count(*) from course where instructor_id = $1 and status = 'published'),
    'pendingCourses', (select count(*) from course where instructor_id = $1 and status = 'pending_approval'),
    'rejectedCourses', (select count(*) from course where instructor_id = $1 and status = 'rejected'),
    'totalStudents', (select count(distinct e.user_id) from enrollment e join course c on c.id = e.course_id where c.instructor_id = $1),
    'totalEnrollments', (select count(*) from enrollment e join course c on c.id = e.course_id where c.instructor_id = $1),
    'recentActivity', coalesce((select json_agg(a) from (
        select 'enrollment' as type, {started} as \"createdAt\", c.id as \"courseId\", c.title as \"courseTitle\",
               u.first_name || ' ' || u.last_name as \"userName\"
        from enrollment e join course c on c.id = e.course_id join app_user u on u.id = e.user_id
        where c.instructor_id = $1 order by e.started_at desc limit 10) a), '[]'::json)
)",
        started = jsontime::sql("e.started_at")
    )
}

fn student_stats() -> String {
    format!(
        "select json_build_object(
    'totalEnrollments', (select count(*) from enrollment where user_id = $1),
    'completedCourses', (select count(*) from enrollment where user_id = $1 and status = 'completed'),
    'inProgressCourses', (select count(*) from enrollment where user_id = $1 and status = 'active'),
    'averageProgress', (select coalesce(round(avg(progress)), 0) from enrollment where user_id = $1),
    'pendingRequests', (select count(*) from enrollment_request where student_id = $1 and status = 'pending'),
    'recentActivity', coalesce((select json_agg(a) from (
        select 'enrollment' as type, {started} as \"createdAt\", c.id as \"courseId\", c.title as \"courseTitle\", e.progress
        from enrollment e join course c on c.id = e.course_id
        where e.user_id = $1 order by e.started_at desc limit 10) a), '[]'::json)
)",
        started = jsontime::sql("e.started_at")
    )
}

/// Figures for the caller's role.
#[utoipa::path(get, path = "/api/dashboard/stats", tag = "dashboards", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = DashboardStats), (status = 401, body = ErrorBody)))]
pub async fn get_dashboard_stats(state: AppState, caller: AuthUser) -> AppResult<Cached> {
    let kind = CacheKind::DashboardStats;
    let key = caller.id.to_string();
    let tags = kind.tags(Some(caller.id), None);
    state
        .cache
        .get_or_load(kind, Some(caller.role), &key, tags, || async {
            let db = state.db().await?;
            let row = match caller.role {
                Role::Admin => {
                    db.query_one(&db.prepare_cached(&admin_stats()).await?, &[])
                        .await?
                }
                Role::Formateur => {
                    db.query_one(&db.prepare_cached(&formateur_stats()).await?, &[&caller.id])
                        .await?
                }
                Role::Student => {
                    db.query_one(&db.prepare_cached(&student_stats()).await?, &[&caller.id])
                        .await?
                }
            };
            Loaded::json(&DashboardStats { stats: row.get(0) }, vec![])
        })
        .await
}

/// A course of a dashboard list: the fields the frontend's dashboards read (its `Course` type),
/// with its modules and their lessons' titles (never their content).
pub fn course_json() -> String {
    format!(
        "json_build_object('id', c.id, 'title', c.title, 'description', c.description,
        'imageUrl', c.image_url, 'aiHint', c.ai_hint, 'status', {STATUS_WIRE_SQL},
        'category', c.category, 'level', c.level,
        'instructorId', coalesce((select u.firebase_uid from app_user u where u.id = c.instructor_id), c.instructor_id::text),
        'instructorName', (select trim(u.first_name || ' ' || u.last_name) from app_user u where u.id = c.instructor_id),
        'createdAt', {created}, 'updatedAt', {updated},
        'studentCount', (select count(*) from enrollment e where e.course_id = c.id),
        'modules', coalesce((select json_agg(json_build_object('id', m.id, 'title', m.title,
            'position', m.position,
            'lessons', coalesce((select json_agg(json_build_object('id', l.id, 'title', l.title,
                'position', l.position, 'contentType', l.content_type, 'duration', l.duration_minutes)
                order by l.position) from lesson l where l.module_id = m.id), '[]'::json))
            order by m.position) from course_module m where m.course_id = c.id), '[]'::json))",
        created = jsontime::sql("c.created_at"),
        updated = jsontime::sql("c.updated_at"),
    )
}

/// A user of the admin dashboard: `uid` is the id the frontend knows (the Firebase uid of a
/// linked account, else this service's id), `displayName` the name it shows.
fn user_json() -> String {
    format!(
        "json_build_object('id', u.id, 'uid', coalesce(u.firebase_uid, u.id::text),
        'email', u.email, 'firstName', u.first_name, 'lastName', u.last_name,
        'displayName', trim(u.first_name || ' ' || u.last_name), 'role', u.role, 'status', u.status,
        'createdAt', {created})",
        created = jsontime::sql("u.created_at")
    )
}

/// Admin overview: counts, role distribution, latest courses, users and pending requests.
#[utoipa::path(get, path = "/api/dashboard/admin", tag = "dashboards", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Dashboard), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_admin_dashboard(state: AppState, caller: AuthUser) -> AppResult<AppJson<Value>> {
    caller.require(&[Role::Admin])?;
    let (course, user) = (course_json(), user_json());
    let request_created = jsontime::sql("r.created_at");
    let sql = format!(
        "with roles as (select coalesce(json_object_agg(role, n), '{{}}'::json) as d from (select role, count(*) as n from app_user group by role) r)
         select json_build_object(
            'stats', json_build_object(
                'totalUsers', (select count(*) from app_user),
                'activeUsers', (select count(*) from app_user where status = 'active'),
                'totalCourses', (select count(*) from course),
                'publishedCourses', (select count(*) from course where status = 'published'),
                'draftCourses', (select count(*) from course where status in ('draft', 'pending_approval')),
                'totalEnrollments', (select count(*) from enrollment),
                'roleDistribution', (select d from roles)),
            'roleDistribution', (select d from roles),
            'courses', coalesce((select json_agg({course} order by c.created_at desc) from (select * from course order by created_at desc limit 20) c), '[]'::json),
            'users', coalesce((select json_agg({user} order by u.created_at desc)
                from (select * from app_user order by created_at desc limit 50) u), '[]'::json),
            'enrollmentRequests', coalesce((select json_agg(json_build_object('id', r.id, 'courseId', r.course_id, 'studentId', r.student_id,
                'status', r.status, 'createdAt', {request_created}) order by r.created_at desc)
                from (select * from enrollment_request where status = 'pending' order by created_at desc limit 20) r), '[]'::json)
         )"
    );
    let db = state.db().await?;
    let row = db.query_one(&db.prepare_cached(&sql).await?, &[]).await?;
    Ok(AppJson(row.get(0)))
}

/// A formateur's overview of their own courses and enrollments (admins: their own too).
#[utoipa::path(get, path = "/api/dashboard/formateur", tag = "dashboards", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Dashboard), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_formateur_dashboard(
    state: AppState,
    caller: AuthUser,
) -> AppResult<AppJson<Value>> {
    caller.require(&[Role::Formateur, Role::Admin])?;
    let course = course_json();
    let started = jsontime::sql("e.started_at");
    let sql = format!(
        "select json_build_object(
            'stats', json_build_object(
                'totalCourses', (select count(*) from course where instructor_id = $1),
                'publishedCourses', (select count(*) from course where instructor_id = $1 and status = 'published'),
                'draftCourses', (select count(*) from course where instructor_id = $1 and status in ('draft', 'pending_approval')),
                'totalEnrollments', (select count(*) from enrollment e join course c on c.id = e.course_id where c.instructor_id = $1),
                'totalStudents', (select count(distinct e.user_id) from enrollment e join course c on c.id = e.course_id where c.instructor_id = $1)),
            'courses', coalesce((select json_agg({course} order by c.created_at desc)
                from (select * from course where instructor_id = $1 order by created_at desc limit 20) c), '[]'::json),
            'enrollments', coalesce((select json_agg(json_build_object('id', e.id, 'courseId', e.course_id, 'courseTitle', e.title,
                'userId', e.user_id, 'progress', e.progress, 'status', e.status, 'startedAt', {started}) order by e.started_at desc)
                from (select e.*, c.title from enrollment e join course c on c.id = e.course_id where c.instructor_id = $1
                      order by e.started_at desc limit 20) e), '[]'::json)
         )"
    );
    let db = state.db().await?;
    let row = db
        .query_one(&db.prepare_cached(&sql).await?, &[&caller.id])
        .await?;
    Ok(AppJson(row.get(0)))
}

/// A student's overview: published courses and their own enrollments (admins: their own too).
#[utoipa::path(get, path = "/api/dashboard/student", tag = "dashboards", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Dashboard), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_student_dashboard(state: AppState, caller: AuthUser) -> AppResult<AppJson<Value>> {
    caller.require(&[Role::Student, Role::Admin])?;
    let course = course_json();
    let started = jsontime::sql("e.started_at");
    let sql = format!(
        "select json_build_object(
            'stats', json_build_object(
                'totalCourses', (select count(*) from course where status = 'published'),
                'enrolledCourses', (select count(*) from enrollment where user_id = $1),
                'completedCourses', (select count(*) from enrollment where user_id = $1 and status = 'completed'),
                'inProgressCourses', (select count(*) from enrollment where user_id = $1 and status = 'active')),
            'courses', coalesce((select json_agg({course} order by c.created_at desc)
                from (select * from course where status = 'published' order by created_at desc limit 20) c), '[]'::json),
            'enrollments', coalesce((select json_agg(json_build_object('id', e.id, 'courseId', e.course_id, 'courseTitle', e.title,
                'progress', e.progress, 'status', e.status, 'startedAt', {started}) order by e.started_at desc)
                from (select e.*, c.title from enrollment e join course c on c.id = e.course_id where e.user_id = $1
                      order by e.started_at desc limit 20) e), '[]'::json)
         )"
    );
    let db = state.db().await?;
    let row = db
        .query_one(&db.prepare_cached(&sql).await?, &[&caller.id])
        .await?;
    Ok(AppJson(row.get(0)))
}
