//! One log line per request, and the `X-Execution-Time` header.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use tracing::Span;

use crate::{error::LoggedError, state::AppState};

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

/// Times the request, sets `X-Execution-Time`, and logs the outcome: 5xx at `error` with the
/// error chain, everything else at `info` under the `elearning_api::access` target. Method, path
/// and request id come from the enclosing request span.
pub async fn log_and_time(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(req).await;
    let elapsed = start.elapsed();
    if state.config.ops.figures_enabled {
        state.figures.record(
            &method,
            route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
            response.status().as_u16(),
            elapsed,
        );
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
