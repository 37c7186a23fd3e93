//! Notifications: each user reads and changes only their own (API.md §2).

pub mod handlers;
pub mod repo;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(
        handlers::list_notifications,
        handlers::update_notifications
    ))
}
