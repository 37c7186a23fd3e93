//! Extractors that answer with the API's JSON errors instead of axum's plain-text rejections.

pub mod json;

pub use json::AppJson;
