//! Path ids: a malformed UUID is a 404 before any SQL runs (no such resource can exist).

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};
use uuid::Uuid;

use crate::error::AppError;

/// One `{id}` path parameter.
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub Uuid);

/// Two path parameters, e.g. `{id}` and `{attemptId}`.
#[derive(Debug, Clone, Copy)]
pub struct IdPath2(pub Uuid, pub Uuid);

fn parse(s: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(s).map_err(|_| AppError::NotFound("resource"))
}

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound("resource"))?;
        Ok(Self(parse(&raw)?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdPath2 {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound("resource"))?;
        Ok(Self(parse(&a)?, parse(&b)?))
    }
}
