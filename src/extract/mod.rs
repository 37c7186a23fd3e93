//! Extractors that answer with the API's JSON errors instead of axum's plain-text rejections.

pub mod auth;
pub mod json;
pub mod pagination;
pub mod query;

pub use crate::legacy::{IdPath, IdPath2};
pub use auth::{Admins, Allowed, AuthUser, Formateurs, MaybeAuthUser, Role, Staff, Students};
pub use json::AppJson;
pub use pagination::Page;
pub use query::AppQuery;
