//! Signup, login, logout and the caller's profile (API.md §2, "Auth and users").

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::users::{
    handlers::email_taken,
    model::{CreateUser, User},
    repo,
};
use crate::{
    cache::{CacheKind, Cached, Loaded, Tag},
    config::AppEnv,
    error::{AppError, AppResult, ErrorBody, ResultExt},
    extract::{AppJson, AuthUser},
    password,
    state::AppState,
    validate::Validator,
};

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(get_me))
        .routes(routes!(demo_login))
}

/// Body of a demo sign-in.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DemoLogin {
    /// Which demo account: `admin`, `formateur` or `student`.
    #[schema(example = "student")]
    pub role: String,
}

/// Sign in to the demo account of a role without a password (only with
/// `DEMO_LOGIN_ENABLED=true`, which production refuses; otherwise 404).
///
/// The demo accounts are the seed's `admin@example.com`, `formateur@example.com` and
/// `student@example.com`; one missing is created, without a password.
#[utoipa::path(post, path = "/api/auth/demo", tag = "auth", request_body = DemoLogin,
    responses((status = 200, body = Session, headers(("Set-Cookie" = String, description = "`AuthToken`, HttpOnly, SameSite=Lax"))),
        (status = 401, description = "The demo account is suspended", body = ErrorBody),
        (status = 404, description = "Demo sign-in is disabled", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn demo_login(
    state: AppState,
    AppJson(body): AppJson<DemoLogin>,
) -> AppResult<(HeaderMap, AppJson<Session>)> {
    if !state.config.auth.demo_login_enabled {
        return Err(AppError::NotFound("demo sign-in"));
    }
    let role = crate::extract::Role::parse(&body.role.trim().to_ascii_lowercase())
        .ok_or_else(|| AppError::invalid("role", "must be admin, formateur or student"))?;
    let email = format!("{}@example.com", role.as_str());
    let db = state.db().await?;
    let stmt = db
        .prepare_cached(
            "insert into app_user (email, password_hash, first_name, last_name, role)
             values ($1, null, 'Demo', $2, $3) on conflict do nothing",
        )
        .await?;
    let label = match role {
        crate::extract::Role::Admin => "Administrator",
        crate::extract::Role::Formateur => "Instructor",
        crate::extract::Role::Student => "Student",
    };
    db.execute(&stmt, &[&email, &label, &role.as_str()]).await?;
    let user = repo::find_credentials(&db, &email)
        .await?
        .ok_or(AppError::NotFound("demo account"))?
        .user;
    if user.status != "active" {
        return Err(AppError::Unauthenticated {
            message: "this account is suspended",
            code: "account_suspended",
        });
    }
    repo::touch_login(&db, user.id).await?;
    state.cache.invalidate(&[Tag::User(user.id)]).await;
    let token = state.jwt.issue(user.id, user.role.as_str())?;
    let headers = session_cookie(&state, &token, state.jwt.ttl().as_secs());
    Ok((
        headers,
        AppJson(Session {
            success: true,
            user,
            token,
        }),
    ))
}

/// Login body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Login {
    /// E-mail address.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// Password.
    #[schema(example = "correct horse battery")]
    pub password: String,
}

/// A session: the user and their token (also set as the `AuthToken` cookie).
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// Always true.
    pub success: bool,
    /// The user.
    pub user: User,
    /// Bearer token (JWT).
    pub token: String,
}

/// The caller's profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Always true.
    pub success: bool,
    /// The user.
    pub user: User,
}

/// Logout answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOut {
    /// Always true.
    pub success: bool,
}

fn session_cookie(state: &AppState, token: &str, max_age: u64) -> HeaderMap {
    let cookie = crate::auth::session_cookie_value(
        token,
        max_age,
        state.config.http.app_env == AppEnv::Production,
    );
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers
}

/// Create a student account and sign in.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = CreateUser,
    responses((status = 201, body = Session), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn signup(
    state: AppState,
    AppJson(body): AppJson<CreateUser>,
) -> AppResult<(StatusCode, HeaderMap, AppJson<Session>)> {
    let mut v = Validator::new();
    body.validate(&mut v);
    v.finish()?;
    let hash = password::hash(body.password).await?;
    let db = state.db().await?;
    // The role is always `student`: nobody can make themselves admin (the original let them).
    let user = repo::insert_user(
        &db,
        body.email.trim(),
        &hash,
        body.first_name.trim(),
        body.last_name.trim(),
        "student",
        None,
    )
    .await
    .on_constraint("app_user_email_key", email_taken)?;
    state.cache.invalidate(&[Tag::Stats]).await;
    let token = state.jwt.issue(user.id, user.role.as_str())?;
    let headers = session_cookie(&state, &token, state.jwt.ttl().as_secs());
    Ok((
        StatusCode::CREATED,
        headers,
        AppJson(Session {
            success: true,
            user,
            token,
        }),
    ))
}

/// The 429 of an account whose failed sign-ins impose a wait (see [`crate::guard`]).
pub fn too_many_failures(wait: std::time::Duration) -> AppError {
    let reset = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
    AppError::RateLimited {
        retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
        reset_time: crate::jsontime::iso(reset),
    }
}

/// Sign in with e-mail and password.
///
/// A wrong password, an unknown e-mail and a suspended account get the same answer in the same
/// time. After five failed attempts at one account within 15 minutes, each further attempt
/// waits twice as long as the previous (1 s up to 5 minutes) whatever address it comes from:
/// 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or at this account", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn login(
    state: AppState,
    AppJson(body): AppJson<Login>,
) -> AppResult<(HeaderMap, AppJson<Session>)> {
    let mut v = Validator::new();
    v.length("email", &body.email, 1, 254);
    v.length("password", &body.password, 1, 128);
    v.finish()?;
    // Failed attempts at this account slow the next ones down, from any address.
    let email = body.email.trim();
    if let Err(wait) = state.guard.check("login", email).await {
        return Err(too_many_failures(wait));
    }
    let found = {
        let db = state.db().await?;
        repo::find_credentials(&db, email).await?
    };
    let (user, stored) = match found {
        Some(c) => (Some(c.user), c.password_hash),
        None => (None, None),
    };
    let ok = password::verify(body.password, stored).await;
    // A suspended account gets the same answer as a wrong password: telling it apart would
    // confirm the password to whoever guessed it.
    let user = match user {
        Some(u) if ok && u.status == "active" => u,
        _ => {
            state.guard.failed("login", email).await;
            return Err(AppError::Unauthenticated {
                message: "invalid e-mail or password",
                code: "invalid_credentials",
            });
        }
    };
    state.guard.succeeded("login", email).await;
    let db = state.db().await?;
    repo::touch_login(&db, user.id).await?;
    // The profile shows the last login.
    state.cache.invalidate(&[Tag::User(user.id)]).await;
    let token = state.jwt.issue(user.id, user.role.as_str())?;
    let headers = session_cookie(&state, &token, state.jwt.ttl().as_secs());
    Ok((
        headers,
        AppJson(Session {
            success: true,
            user,
            token,
        }),
    ))
}

/// Sign out: clears the `AuthToken` cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 200, body = LoggedOut)))]
pub async fn logout(state: AppState) -> (HeaderMap, AppJson<LoggedOut>) {
    (
        session_cookie(&state, "", 0),
        AppJson(LoggedOut { success: true }),
    )
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn get_me(state: AppState, caller: AuthUser) -> AppResult<Cached> {
    let kind = CacheKind::UserProfile;
    let tags = kind.tags(Some(caller.id), None);
    state
        .cache
        .get_or_load(
            kind,
            Some(caller.role),
            &caller.id.to_string(),
            tags,
            || async {
                let db = state.db().await?;
                let user = repo::find_user(&db, caller.id)
                    .await?
                    .ok_or(AppError::Unauthorized)?;
                Loaded::json(
                    &Me {
                        success: true,
                        user,
                    },
                    vec![],
                )
            },
        )
        .await
}
