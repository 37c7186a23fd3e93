//! `GET /api/performance/dashboard`: a live page of the instance's figures, served by the
//! service itself (one HTML document: inline styles and script, no external scripts, fonts or
//! images), polling `GET /api/performance/stats` every second and drawing latency and
//! throughput over the last five minutes.
//!
//! Operators or admins only. An admin's session cookie works as is. An operator opens
//! `/api/performance/dashboard?token=<OPS_TOKEN>` once (or types the token into the form the
//! page shows without credentials): the token is checked, exchanged for an `OpsSession` cookie
//! (a signed session, HttpOnly, SameSite=Strict) and the browser is sent to the clean URL, so
//! the token does not stay in the address bar or the history.

use axum::{
    extract::Query,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{AppError, ErrorBody},
    extract::auth::{OPS_SESSION_COOKIE, OPS_SESSION_ROLE, Operator},
    state::AppState,
};

/// The page.
const PAGE: &str = include_str!("dashboard.html");

/// Where the page lives.
const PATH: &str = "/api/performance/dashboard";

/// The page's policy: nothing but itself and the stats endpoint.
const CSP: &str = "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; \
    script-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The dashboard route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard))
}

/// Query of the dashboard.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DashboardQuery {
    /// The operator token, exchanged once for a session cookie.
    pub token: Option<String>,
}

/// The live dashboard page (operator token or admin; see the module docs for browsers).
#[utoipa::path(get, path = "/api/performance/dashboard", tag = "operations", params(DashboardQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Token accepted: session cookie set, sent to the clean URL"),
        (status = 401, description = "No or wrong credentials: a sign-in form", content_type = "text/html", body = String),
        (status = 403, body = ErrorBody),
        (status = 429, description = "Too many wrong tokens from this address", body = ErrorBody)))]
pub async fn dashboard(
    state: AppState,
    headers: HeaderMap,
    client: Option<axum::Extension<crate::middleware::client_ip::ClientIp>>,
    operator: Result<Operator, AppError>,
    Query(query): Query<DashboardQuery>,
) -> Response {
    if let Some(token) = query.token.as_deref() {
        // Wrong tokens slow their sender down, as on the operations endpoints.
        let ip = client.map_or_else(String::new, |c| c.0.0.to_string());
        if let Err(wait) = state.guard.check("ops", &ip).await {
            return crate::api::auth::too_many_failures(wait).into_response();
        }
        let response = exchange(&state, &headers, token);
        if response.status() == StatusCode::UNAUTHORIZED {
            state.guard.failed("ops", &ip).await;
        }
        return response;
    }
    match operator {
        Ok(_) => html(StatusCode::OK, PAGE),
        Err(AppError::Forbidden(_)) => {
            AppError::Forbidden("an operator token or an admin session is required").into_response()
        }
        Err(_) => sign_in(false),
    }
}

/// Checks a token from the query and trades it for a session cookie.
fn exchange(state: &AppState, headers: &HeaderMap, token: &str) -> Response {
    let valid = state
        .config
        .ops
        .ops_token
        .as_ref()
        .is_some_and(|ops| crate::auth::secret_matches(token.as_bytes(), ops));
    if !valid {
        return sign_in(true);
    }
    let Ok(session) = state.jwt.issue(uuid::Uuid::nil(), OPS_SESSION_ROLE) else {
        return AppError::Internal(anyhow::anyhow!("could not sign an operator session"))
            .into_response();
    };
    // Secure when the client reached us over HTTPS (Render's proxy says so).
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = format!(
        "{OPS_SESSION_COOKIE}={session}; Path=/api/performance; Max-Age={}; HttpOnly; SameSite=Strict{}",
        state.config.auth.jwt_ttl,
        if https { "; Secure" } else { "" }
    );
    let mut response = Redirect::to(PATH).into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// The sign-in form shown to a browser without credentials.
fn sign_in(wrong: bool) -> Response {
    let note = if wrong {
        "<p class=\"bad\">That token is not valid.</p>"
    } else {
        ""
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">\
<title>elearning-api · sign in</title><style>body{{font:15px system-ui,sans-serif;background:#0f1419;color:#e6e9ec;\
display:grid;place-items:center;height:100vh;margin:0}}form{{background:#182029;padding:24px;border-radius:8px}}\
input{{font:inherit;padding:6px;width:320px}}.bad{{color:#f85149}}</style></head><body><form method=\"get\" action=\"{PATH}\">\
<h1 style=\"font-size:18px\">Operator dashboard</h1>{note}<p>Operator token (<code>OPS_TOKEN</code>), or sign in to the app as an admin.</p>\
<input type=\"password\" name=\"token\" autocomplete=\"current-password\" required autofocus> <button>Open</button></form></body></html>"
    );
    let mut response = html(StatusCode::UNAUTHORIZED, &body);
    response
        .extensions_mut()
        .insert(crate::middleware::DeliberateBody);
    response
}

fn html(status: StatusCode, body: &str) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body.to_owned(),
    )
        .into_response()
}
