//! Courses with their modules and lessons: the public catalogue, course pages, and the
//! formateur and admin views (API.md §2, "Courses").

pub mod handlers;
pub mod model;
pub mod repo;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_courses, handlers::create_course))
        .routes(routes!(
            handlers::get_course,
            handlers::update_course,
            handlers::delete_course
        ))
        .routes(routes!(handlers::list_dashboard_courses))
        .routes(routes!(
            handlers::list_formateur_courses,
            handlers::create_formateur_course
        ))
        .routes(routes!(handlers::list_admin_courses))
        .routes(routes!(handlers::review_course))
}
