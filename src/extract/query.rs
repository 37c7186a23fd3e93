//! `AppQuery<T>`: axum's `Query` with a JSON 400 for a malformed query string.

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
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| AppError::BadRequest(format!("malformed query string: {}", e.body_text())))
    }
}
