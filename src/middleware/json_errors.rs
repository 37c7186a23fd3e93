//! Safety net: any error answer that is not already JSON (tower-http's timeout and body-limit
//! answers, axum's 405, a future surprise) is rewritten into the API.md §1 envelope.

use axum::{
    Json,
    extract::Request,
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::ErrorBody;

/// Marks an error answer whose non-JSON body is deliberate (a sign-in page for a browser), so
/// the safety net leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct DeliberateBody;

/// Rewrites non-JSON 4xx/5xx answers.
pub async fn ensure_json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || is_json(&response)
        || response.extensions().get::<DeliberateBody>().is_some()
    {
        return response;
    }
    let (error, code) = describe(status);
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let body = ErrorBody {
        error: error.to_owned(),
        code: code.to_owned(),
        details: None,
    };
    let mut rebuilt = (status, Json(body)).into_response();
    for (name, value) in parts.headers.iter() {
        rebuilt.headers_mut().insert(name.clone(), value.clone());
    }
    rebuilt.extensions_mut().extend(parts.extensions);
    rebuilt
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.ends_with("+json"))
}

fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => ("bad request", "bad_request"),
        StatusCode::UNAUTHORIZED => ("authentication required", "unauthorized"),
        StatusCode::FORBIDDEN => ("forbidden", "forbidden"),
        StatusCode::NOT_FOUND => ("no such route", "not_found"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method not allowed on this route", "method_not_allowed")
        }
        StatusCode::NOT_ACCEPTABLE => ("no acceptable content encoding", "not_acceptable"),
        StatusCode::PAYLOAD_TOO_LARGE => ("request body too large", "payload_too_large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported content type", "unsupported_media_type")
        }
        StatusCode::TOO_MANY_REQUESTS => ("Rate limit exceeded", "rate_limited"),
        StatusCode::SERVICE_UNAVAILABLE => ("service temporarily unavailable", "unavailable"),
        StatusCode::GATEWAY_TIMEOUT => ("request timed out", "timeout"),
        s if s.is_server_error() => ("internal server error", "internal_error"),
        _ => ("request failed", "error"),
    }
}
