//! Admin user management.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    model::{CreateUser, UpdateUser, User},
    repo::{self, UserFilter},
};
use crate::{
    cache::Tag,
    error::{AppError, AppResult, ErrorBody, ResultExt},
    extract::{Admins, Allowed, AppJson, AppQuery, AuthUser, IdPath, Page, Role, Staff},
    legacy, password,
    state::AppState,
    validate::Validator,
};

const ROLES: &[&str] = &["admin", "formateur", "student"];
const STATUSES: &[&str] = &["active", "suspended"];

/// Query of the admin user list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Cursor from the previous page's `nextCursor`.
    pub cursor: Option<String>,
    /// Only this role.
    pub role: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Substring of e-mail or name.
    pub q: Option<String>,
}

/// A page of users (the original's `{users, total, success}` plus `nextCursor`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserList {
    /// Users, newest first.
    pub users: Vec<User>,
    /// Users matching the filter, across all pages.
    pub total: i64,
    /// Always true.
    pub success: bool,
    /// Cursor of the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// A created or updated user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserEnvelope {
    /// The user's id.
    pub id: uuid::Uuid,
    /// Always true.
    pub success: bool,
    /// The user.
    pub user: User,
}

/// List users (admin).
#[utoipa::path(get, path = "/api/admin/users", tag = "users", params(UserListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    state: AppState,
    user: AuthUser,
    AppQuery(q): AppQuery<UserListQuery>,
) -> AppResult<AppJson<UserList>> {
    user.require(&[Role::Admin])?;
    let page = Page::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let filter = UserFilter {
        role: check_filter("role", q.role, ROLES)?,
        status: check_filter("status", q.status, STATUSES)?,
        q: q.q
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.chars().take(100).collect()),
    };
    let db = state.db().await?;
    let (users, total) = repo::list_users(&db, &filter, &page).await?;
    let (users, next_cursor) = page.finish(users, repo::sort_key);
    Ok(AppJson(UserList {
        users,
        total,
        success: true,
        next_cursor,
    }))
}

/// A query filter restricted to `allowed` values; 400 otherwise.
pub fn check_filter(
    param: &str,
    value: Option<String>,
    allowed: &[&str],
) -> AppResult<Option<String>> {
    match value.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
        Some(_) => Err(crate::extract::pagination::bad_query(
            param,
            format!("must be one of: {}", allowed.join(", ")),
        )),
    }
}

/// Create a user (admin: any role; formateur: students only).
#[utoipa::path(post, path = "/api/admin/users", tag = "users", request_body = CreateUser,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = UserEnvelope), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    state: AppState,
    Allowed(caller, ..): Allowed<Staff>,
    AppJson(body): AppJson<CreateUser>,
) -> AppResult<(StatusCode, AppJson<UserEnvelope>)> {
    let mut v = Validator::new();
    body.validate(&mut v);
    let role = body.role.as_deref().unwrap_or("student");
    v.one_of("role", role, ROLES);
    v.finish()?;
    // permissions.ts of the original: a formateur may only create students.
    if caller.role == Role::Formateur && role != "student" {
        return Err(AppError::Forbidden(
            "a formateur may only create student accounts",
        ));
    }
    let hash = password::hash(body.password).await?;
    let db = state.db().await?;
    let user = repo::insert_user(
        &db,
        body.email.trim(),
        &hash,
        body.first_name.trim(),
        body.last_name.trim(),
        role,
        Some(caller.id),
    )
    .await
    .on_constraint("app_user_email_key", email_taken)?;
    state.cache.invalidate(&[Tag::Stats]).await;
    Ok((
        StatusCode::CREATED,
        AppJson(UserEnvelope {
            id: user.id,
            success: true,
            user,
        }),
    ))
}

/// The 409 for an e-mail address already in use.
pub fn email_taken() -> AppError {
    AppError::conflict(
        "email_taken",
        "an account with this e-mail address already exists",
    )
}

/// Change a user's role, status or name (admin). A suspended user's tokens stop working at once.
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = uuid::Uuid, Path, description = "User id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserEnvelope), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    state: AppState,
    Allowed(caller, ..): Allowed<Admins>,
    IdPath(id, ..): IdPath<legacy::User>,
    AppJson(body): AppJson<UpdateUser>,
) -> AppResult<AppJson<UserEnvelope>> {
    let mut v = Validator::new();
    if let Some(r) = &body.role {
        v.one_of("role", r, ROLES);
    }
    if let Some(s) = &body.status {
        v.one_of("status", s, STATUSES);
    }
    if let Some(n) = &body.first_name {
        v.length("firstName", n, 1, 100);
    }
    if let Some(n) = &body.last_name {
        v.length("lastName", n, 1, 100);
    }
    // An admin locking themselves out would leave nobody to undo it.
    if id == caller.id
        && (body.role.as_deref().is_some_and(|r| r != "admin")
            || body.status.as_deref() == Some("suspended"))
    {
        v.fail("role", "you cannot demote or suspend your own account");
    }
    v.finish()?;
    let db = state.db().await?;
    let user = repo::update_user(
        &db,
        id,
        body.role.as_deref(),
        body.status.as_deref(),
        body.first_name.as_deref().map(str::trim),
        body.last_name.as_deref().map(str::trim),
    )
    .await?
    .ok_or(AppError::NotFound("user"))?;
    // Role and suspension apply at the next request on every instance.
    state
        .cache
        .invalidate(&[Tag::User(id), Tag::Users, Tag::Stats])
        .await;
    Ok(AppJson(UserEnvelope {
        id: user.id,
        success: true,
        user,
    }))
}
