//! Users: the admin user management routes (API.md §2, "Auth and users"). The auth routes
//! (signup, login…) live in [`crate::api::auth`] and share this module's repository.

pub mod handlers;
pub mod model;
pub mod repo;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_users, handlers::create_user))
        .routes(routes!(handlers::update_user))
}
