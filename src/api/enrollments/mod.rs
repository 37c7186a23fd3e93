//! Enrollment: students ask to join courses, admins and course owners answer (API.md §2,
//! "Enrollment, progress, notifications").
//!
//! One status vocabulary: a request is `pending`, `approved` or `denied`; an enrollment is
//! `active` or `completed`.

pub mod handlers;
pub mod repo;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::enroll_in_course))
        .routes(routes!(
            handlers::list_admin_enrollment_requests,
            handlers::answer_admin_enrollment_request
        ))
        .routes(routes!(
            handlers::list_formateur_enrollment_requests,
            handlers::answer_formateur_enrollment_request
        ))
}
