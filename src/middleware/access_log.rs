//! One log line per request, the `X-Execution-Time` header, and `Cache-Control: private,
//! no-store` on answers to callers with credentials that set no cache policy of their own.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};
use tracing::Span;

use crate::{
    error::LoggedError,
    extract::auth::{SessionRenewal, credentials_in_cookie},
    state::AppState,
};

/// The route of requests that matched none (404s for unknown paths).
const UNMATCHED: &str = "unmatched";

/// Milliseconds the service spent on the request, e.g. `0.412ms` (API.md §1).
pub const X_EXECUTION_TIME: HeaderName = HeaderName::from_static("x-execution-time");

/// The request span: request id, method and the route template (never the raw URI, which may
/// carry ids and would explode log cardinality).
pub fn make_span(req: &Request) -> Span {
    let request_id = req
        .headers()
        .get(super::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str);
    tracing::info_span!("request", request_id, method = %req.method(), path)
}

/// Whether the request carries a session: a bearer token, the `AuthToken` cookie or an
/// operator's dashboard session.
fn carries_credentials(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
        || crate::extract::auth::cookie(headers, "AuthToken").is_some()
        || crate::extract::auth::cookie(headers, crate::extract::auth::OPS_SESSION_COOKIE).is_some()
}

/// Times the request, sets `X-Execution-Time`, and logs the outcome: 5xx at `error` with the
/// error chain, everything else at `info` under the `elearning_api::access` target. Method, path
/// and request id come from the enclosing request span.
pub async fn log_and_time(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let personal = carries_credentials(req.headers());
    let renewal = credentials_in_cookie(req.headers()).then(SessionRenewal::default);
    let mut req = req;
    if let Some(slot) = &renewal {
        req.extensions_mut().insert(slot.clone());
    }
    let mut response = next.run(req).await;
    if let Some(token) = renewal.as_ref().and_then(SessionRenewal::take)
        && !response.headers().contains_key(header::SET_COOKIE)
    {
        let value = crate::auth::session_cookie_value(
            &token,
            state.jwt.ttl().as_secs(),
            state.config.http.app_env == crate::config::AppEnv::Production,
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    let elapsed = start.elapsed();
    // An answer to a caller with credentials may depend on who they are: unless its handler
    // said otherwise (the shared catalogue, images), no browser or CDN may keep it.
    if personal && !response.headers().contains_key(header::CACHE_CONTROL) {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    if state.config.ops.figures_enabled {
        state.figures.record(
            &method,
            route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
            response.status().as_u16(),
            elapsed,
        );
    }
    // While the instance drains, every answer closes its connection: a client on a kept-alive
    // connection reconnects (to another instance) instead of finding it reset later.
    if state.lifecycle.get() == crate::state::Phase::Draining {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let ms = elapsed.as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("{ms:.3}ms")) {
        response.headers_mut().insert(X_EXECUTION_TIME, v);
    }
    let status = response.status().as_u16();
    if let Some(LoggedError(err)) = response.extensions().get::<LoggedError>() {
        tracing::error!(target: "elearning_api::access", status, duration_ms = ms, error = ?err, "request failed");
    } else if status >= 500 {
        // 503/504 are honest answers to overload or a dependency outage, already reported by
        // the component that saw it: a warning, not a page for someone.
        tracing::warn!(target: "elearning_api::access", status, duration_ms = ms, "request failed");
    } else {
        tracing::info!(target: "elearning_api::access", status, duration_ms = ms, "request");
    }
    response
}
