//! Every route of the service is reachable from here.

pub mod auth;
pub mod bot;
pub mod compat;
pub mod courses;
pub mod dashboard;
pub mod dashboards;
pub mod enrollments;
pub mod health;
pub mod images;
pub mod metrics;
pub mod notifications;
pub mod operations;
pub mod progress;
pub mod quizzes;
pub mod users;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{openapi::ApiDoc, state::AppState};

/// All documented routes with their OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .merge(auth::routes())
        .merge(users::routes())
        .merge(courses::routes())
        .merge(images::routes())
        .merge(notifications::routes())
        .merge(enrollments::routes())
        .merge(progress::routes())
        .merge(quizzes::routes())
        .merge(dashboards::routes())
        .merge(operations::routes())
        .merge(bot::routes())
        .merge(compat::routes())
}
