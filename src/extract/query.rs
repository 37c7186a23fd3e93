//! `AppQuery<T>`: axum's `Query` with a JSON 400 for a malformed query string, and a 422 naming
//! the parameter for a NUL character, which PostgreSQL cannot store in text.

use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Query parameters. Numeric parameters are declared as strings and validated by the handler,
/// so that the error can name the parameter.
#[derive(Debug, Clone, Default)]
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if let Some(raw) = parts.uri.query()
            && raw.contains("%00")
            && let Some((name, _)) = url::form_urlencoded::parse(raw.as_bytes())
                .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            let name = name.replace('\0', "");
            let mut map = serde_json::Map::new();
            map.insert(
                name,
                serde_json::Value::String("must not contain the NUL character (%00)".to_owned()),
            );
            return Err(AppError::Validation {
                details: serde_json::Value::Object(map),
            });
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| AppError::BadRequest(format!("malformed query string: {}", e.body_text())))
    }
}
