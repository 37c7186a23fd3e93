//! `AppJson<T>`: axum's `Json` with rejections mapped onto [`AppError`], and the checks every
//! body gets before it is deserialised: it is a JSON object (serde would otherwise take an array
//! for a struct, field by position), and no string in it holds a NUL character, which PostgreSQL
//! cannot store in text (a 422 naming the field, instead of a database error).

use axum::{
    extract::{FromRequest, Request, rejection::JsonRejection},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::AppError;

/// A JSON body (request) or JSON answer (response) whose failures are API errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(AppError::UnsupportedMediaType(
                "expected `Content-Type: application/json`".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest(e.body_text())
            }
        })?;
        check_body(&bytes)?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(map_rejection(&rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == "application"
                && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
        })
}

/// A body must be a JSON object, and no string in it may hold NUL (`\u0000`).
pub fn check_body(bytes: &[u8]) -> Result<(), AppError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        // Empty or not JSON at all: the parser's own message says what is wrong.
        None => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(AppError::invalid("body", "must be a JSON object"));
        }
        Some(_) => {}
    }
    if memchr::memmem::find(bytes, b"u0000").is_some()
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(path) = nul_path(&value, String::new())
    {
        let field = if path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        return Err(AppError::invalid(
            &field,
            "must not contain the NUL character (\\u0000)",
        ));
    }
    Ok(())
}

/// The path (`a.b[2].c`) of the first key or string holding NUL.
pub fn nul_path(value: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(here)
            } else {
                nul_path(v, here)
            }
        }),
        _ => None,
    }
}

fn map_rejection(rejection: &JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            AppError::UnsupportedMediaType("expected `Content-Type: application/json`".to_owned())
        }
        JsonRejection::JsonSyntaxError(e) => {
            AppError::BadRequest(format!("malformed JSON: {}", e.body_text()))
        }
        // Wrong types, missing fields and unknown enum values: well-formed but invalid.
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            // "Failed to deserialize the JSON body into the target type: title: invalid type…"
            let detail = text
                .split_once("target type: ")
                .map_or(text.as_str(), |(_, rest)| rest);
            let (field, problem) = match detail.split_once(": ") {
                Some((path, rest)) if !path.contains(' ') && path != "." => {
                    (path.to_owned(), rest.to_owned())
                }
                _ => (
                    field_of(detail).unwrap_or_else(|| "body".to_owned()),
                    detail.to_owned(),
                ),
            };
            AppError::invalid(&field, problem)
        }
        JsonRejection::BytesRejection(e)
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            AppError::PayloadTooLarge
        }
        other => AppError::BadRequest(other.body_text()),
    }
}

/// serde_path_to_error style messages start with the field path: `title: invalid type…`.
fn field_of(detail: &str) -> Option<String> {
    if let Some(start) = detail.find("missing field `") {
        let rest = &detail[start + 15..];
        return rest.split('`').next().map(str::to_owned);
    }
    if let Some(start) = detail.find("unknown field `") {
        let rest = &detail[start + 15..];
        return rest.split('`').next().map(str::to_owned);
    }
    None
}
