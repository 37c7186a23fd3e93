//! The OpenAPI document: general information and security schemes. Paths come from the
//! handlers' `#[utoipa::path]` attributes, collected by `api::router()`.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// Information and components shared by every route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "elearning-api",
        description = "REST API of the e-learning platform: courses, lessons, enrollments, progress, quizzes, notifications, dashboards, and the operations endpoints.",
    ),
    modifiers(&SecuritySchemes),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "health", description = "Liveness and health checks"),
        (name = "compat", description = "Firebase-era tools of the original app, retired (410) with what replaced them"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A session token from /api/auth/login, a Firebase ID token of FIREBASE_PROJECT_ID when set, or OPS_TOKEN on the operations endpoints"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("AuthToken"))),
        );
    }
}
