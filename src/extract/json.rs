//! `AppJson<T>`: axum's `Json` with rejections mapped onto [`AppError`].

use axum::{
    extract::{FromRequest, Request, rejection::JsonRejection},
    response::{IntoResponse, Response},
};
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
        match axum::Json::<T>::from_request(req, state).await {
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
