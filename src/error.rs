//! The one error type of the HTTP boundary. Every variant maps to a status of API.md §1 and the
//! JSON envelope `{"error", "code", "details"?}`; internals never reach the caller.

use std::sync::Arc;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Result of a handler or anything it calls.
pub type AppResult<T> = Result<T, AppError>;

/// An error answered to the caller.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: malformed JSON or query.
    #[error("{0}")]
    BadRequest(String),
    /// 400: a query parameter is invalid; `details` names it.
    #[error("{message}")]
    InvalidQuery {
        /// Sentence for the caller.
        message: String,
        /// Parameter name → what is wrong with it.
        details: Value,
    },
    /// 401: no or bad credentials.
    #[error("authentication required")]
    Unauthorized,
    /// 401 with a specific reason (wrong password, suspended account…).
    #[error("{message}")]
    Unauthenticated {
        /// Sentence for the caller.
        message: &'static str,
        /// Machine-readable code.
        code: &'static str,
    },
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 403 with a specific reason (a Firebase user this service will not sign in…).
    #[error("{message}")]
    Refused {
        /// Sentence for the caller.
        message: &'static str,
        /// Machine-readable code.
        code: &'static str,
    },
    /// 404: not found, or not visible to this caller.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405: the route exists, not with this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// 409: conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// Sentence for the caller.
        message: String,
        /// Machine-readable code.
        code: &'static str,
    },
    /// 413: body too large.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415: wrong content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid; `details` names the fields.
    #[error("validation failed")]
    Validation {
        /// Field name → what is wrong with it.
        details: Value,
    },
    /// 429: beyond the caller's allowance (API.md §5 body).
    #[error("Rate limit exceeded")]
    RateLimited {
        /// Seconds until a request may pass.
        retry_after: u64,
        /// When, as an ISO timestamp.
        reset_time: String,
    },
    /// 503: a dependency is unavailable or the service is overloaded.
    #[error("{message}")]
    Unavailable {
        /// Seconds the caller should wait before retrying.
        retry_after: u32,
        /// Sentence for the caller.
        message: &'static str,
        /// Machine-readable code.
        code: &'static str,
    },
    /// 504: the request took too long.
    #[error("request timed out")]
    Timeout,
    /// 500: a bug or an unexpected failure; logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A human sentence.
    #[schema(example = "course not found")]
    pub error: String,
    /// A stable snake_case code.
    #[schema(example = "not_found")]
    pub code: String,
    /// Extra information, e.g. which fields failed validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// Kept in the response extensions so the access log can print the full chain of a 500 once.
#[derive(Clone, Debug)]
pub struct LoggedError(pub Arc<anyhow::Error>);

impl AppError {
    /// A 422 for one field.
    pub fn invalid(field: &str, problem: impl Into<String>) -> Self {
        let mut map = serde_json::Map::new();
        map.insert(field.to_owned(), Value::String(problem.into()));
        Self::Validation {
            details: Value::Object(map),
        }
    }

    /// A 409 with a code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            code,
        }
    }

    /// The 503 for a database that cannot be reached or a pool with no free connection.
    pub fn db_unavailable() -> Self {
        Self::Unavailable {
            retry_after: 1,
            message: "database temporarily unavailable, please retry",
            code: "database_unavailable",
        }
    }

    /// A copy for each caller that waited on one shared load (moka hands the error out in an
    /// `Arc`); an internal error keeps its message for the log.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::BadRequest(m) => Self::BadRequest(m.clone()),
            Self::InvalidQuery { message, details } => Self::InvalidQuery {
                message: message.clone(),
                details: details.clone(),
            },
            Self::Unauthorized => Self::Unauthorized,
            Self::Unauthenticated { message, code } => Self::Unauthenticated { message, code },
            Self::Forbidden(m) => Self::Forbidden(m),
            Self::Refused { message, code } => Self::Refused { message, code },
            Self::NotFound(m) => Self::NotFound(m),
            Self::MethodNotAllowed => Self::MethodNotAllowed,
            Self::Conflict { message, code } => Self::Conflict {
                message: message.clone(),
                code,
            },
            Self::PayloadTooLarge => Self::PayloadTooLarge,
            Self::UnsupportedMediaType(m) => Self::UnsupportedMediaType(m.clone()),
            Self::Validation { details } => Self::Validation {
                details: details.clone(),
            },
            Self::Unavailable {
                retry_after,
                message,
                code,
            } => Self::Unavailable {
                retry_after: *retry_after,
                message,
                code,
            },
            Self::Timeout => Self::Timeout,
            Self::RateLimited {
                retry_after,
                reset_time,
            } => Self::RateLimited {
                retry_after: *retry_after,
                reset_time: reset_time.clone(),
            },
            Self::Internal(e) => Self::Internal(anyhow::anyhow!("{e:#}")),
        }
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidQuery { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Refused { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::InvalidQuery { .. } => "invalid_query",
            Self::Unauthorized => "unauthorized",
            Self::Unauthenticated { code, .. }
            | Self::Conflict { code, .. }
            | Self::Refused { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Validation { .. } => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Timeout => "timeout",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::RateLimited {
            retry_after,
            reset_time,
        } = &self
        {
            let body = serde_json::json!({
                "error": "Rate limit exceeded",
                "message": "Too many requests. Please try again later.",
                "resetTime": reset_time,
                "code": "rate_limited",
            });
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            return response;
        }
        let status = self.status();
        let code = self.code();
        let (message, details) = match &self {
            Self::Internal(_) => ("internal server error".to_owned(), None),
            Self::Validation { details } | Self::InvalidQuery { details, .. } => {
                (self.to_string(), Some(details.clone()))
            }
            _ => (self.to_string(), None),
        };
        let body = ErrorBody {
            error: message,
            code: code.to_owned(),
            details,
        };
        let mut response = (status, Json(body)).into_response();
        match self {
            Self::Unavailable { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            Self::Unauthorized | Self::Unauthenticated { .. } => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Internal(err) => {
                response.extensions_mut().insert(LoggedError(Arc::new(err)));
            }
            _ => {}
        }
        response
    }
}

impl From<deadpool_postgres::PoolError> for AppError {
    /// A wait timeout and a failed connect alike mean "try again shortly" (crates.io's rule).
    fn from(err: deadpool_postgres::PoolError) -> Self {
        tracing::warn!(error = %err, "database pool could not hand out a connection");
        Self::db_unavailable()
    }
}

impl From<tokio_postgres::Error> for AppError {
    fn from(err: tokio_postgres::Error) -> Self {
        // A closed connection or a cancelled statement is the database's fault, not a bug:
        // answer 503 so clients retry, as for a pool timeout.
        if err.is_closed() {
            return Self::db_unavailable();
        }
        if let Some(db) = err.as_db_error() {
            let code = db.code();
            if *code == tokio_postgres::error::SqlState::QUERY_CANCELED
                || *code == tokio_postgres::error::SqlState::ADMIN_SHUTDOWN
                || *code == tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW
            {
                return Self::db_unavailable();
            }
            // Class 22 (data exception: a value out of range, text the encoding cannot hold, a
            // timestamp PostgreSQL cannot represent) and the CHECK constraints no handler maps
            // by name: the caller sent a value that cannot be stored. Their fault, and a 422,
            // never a 500; the database's own message stays in the log.
            if code.code().starts_with("22") {
                tracing::info!(sqlstate = code.code(), error = %db, "value refused by PostgreSQL");
                return Self::invalid(
                    "body",
                    "a value cannot be stored (out of range or malformed)",
                );
            }
            if *code == tokio_postgres::error::SqlState::CHECK_VIOLATION {
                tracing::info!(constraint = ?db.constraint(), "value refused by a CHECK constraint");
                let rule = db.constraint().unwrap_or("a rule of the stored data");
                return Self::invalid("body", format!("a value breaks {rule}"));
            }
        }
        Self::Internal(anyhow::Error::new(err).context("database query failed"))
    }
}

/// Maps named constraint violations to caller-facing errors.
pub trait ResultExt<T> {
    /// Turns a violation of `constraint` into `f()`; other errors convert as usual.
    fn on_constraint(self, constraint: &str, f: impl FnOnce() -> AppError) -> AppResult<T>;
}

impl<T> ResultExt<T> for Result<T, tokio_postgres::Error> {
    fn on_constraint(self, constraint: &str, f: impl FnOnce() -> AppError) -> AppResult<T> {
        self.map_err(|err| match err.as_db_error() {
            Some(db) if db.constraint() == Some(constraint) => f(),
            _ => err.into(),
        })
    }
}
