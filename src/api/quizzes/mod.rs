//! Quizzes, attempts and statistics, under the original's paths `/api/formateur/quizzes`
//! (API.md §2, "Quizzes"). Correct answers never reach students.

pub mod attempts;
pub mod handlers;
pub mod model;
pub mod repo;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_quizzes, handlers::create_quiz))
        .routes(routes!(handlers::get_quiz))
        .routes(routes!(handlers::get_quiz_stats))
        .routes(routes!(handlers::batch_quiz_stats))
        .routes(routes!(
            attempts::list_quiz_attempts,
            attempts::start_quiz_attempt
        ))
        .routes(routes!(attempts::submit_quiz_attempt))
}
