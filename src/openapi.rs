//! The OpenAPI document: general information and security schemes. Paths come from the
//! handlers' `#[utoipa::path]` attributes, collected by `api::router()`; [`Conventions`] then
//! adds what every operation shares because the middleware stack answers it, not the handler:
//! the statuses of malformed bodies, rate limits, overload and timeouts, and the headers every
//! answer carries. A client generator or a fuzzer reads the same contract the service keeps.

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

/// Completes the document once every route is in it (see [`Conventions`]).
pub fn complete(openapi: &mut utoipa::openapi::OpenApi) {
    Conventions.modify(openapi);
}

/// The statuses and headers the global middleware adds to every operation (see
/// `crate::middleware`), written into each one so that the document says what the service
/// really answers.
struct Conventions;

/// Routes whose reads come from the cache and say so in `X-Cache`.
const CACHED_READS: &[&str] = &[
    "/api/courses",
    "/api/courses/{id}",
    "/api/courses/{id}/image",
    "/api/images/{id}",
    "/api/dashboard/courses",
    "/api/dashboard/stats",
    "/api/formateur/quizzes/{id}",
    "/api/formateur/quizzes/{id}/stats",
    "/api/notifications",
    "/api/auth/me",
];

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{HttpMethod, path::ParameterIn};
        for (path, item) in &mut openapi.paths.paths {
            let group = crate::ratelimit::Group::of(path);
            for method in [
                HttpMethod::Get,
                HttpMethod::Post,
                HttpMethod::Put,
                HttpMethod::Patch,
                HttpMethod::Delete,
            ] {
                let Some(op) = operation(item, &method) else {
                    continue;
                };
                let responses = &mut op.responses.responses;
                if op.request_body.is_some() {
                    add(
                        responses,
                        "400",
                        "Malformed body (not JSON, or not the form)",
                    );
                    add(
                        responses,
                        "413",
                        "Body too large (`BODY_LIMIT`, or `IMAGE_MAX_BYTES` for images)",
                    );
                    add(responses, "415", "Wrong `Content-Type`");
                    add(
                        responses,
                        "422",
                        "Well-formed but invalid: `details` names each field",
                    );
                }
                let has_path_ids = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.parameter_in == ParameterIn::Path);
                if has_path_ids {
                    add(
                        responses,
                        "404",
                        "No such object, or one the caller may not see",
                    );
                }
                if op.security.is_some() {
                    add(responses, "401", "No or bad credentials");
                }
                let probe = path == "/api/health" || path == "/api/performance/health";
                if group.is_some() {
                    add(
                        responses,
                        "429",
                        "Beyond the caller's allowance: `Retry-After` says when to come back",
                    );
                }
                if !probe {
                    add(
                        responses,
                        "503",
                        "A dependency is unavailable or the instance is overloaded: retry after `Retry-After` seconds",
                    );
                    add(
                        responses,
                        "504",
                        "The request took longer than `REQUEST_TIMEOUT`",
                    );
                }
                let cached = method == HttpMethod::Get && CACHED_READS.contains(&path.as_str());
                for (status, response) in responses.iter_mut() {
                    let utoipa::openapi::RefOr::T(response) = response else {
                        continue;
                    };
                    let h = &mut response.headers;
                    header(
                        h,
                        "X-Request-Id",
                        "The request's id (echoed when the caller sent one)",
                    );
                    header(
                        h,
                        "X-Execution-Time",
                        "Time the service spent, e.g. `0.412ms`",
                    );
                    if group.is_some() {
                        header(h, "X-RateLimit-Limit", "Requests allowed in the window");
                        header(h, "X-RateLimit-Remaining", "Requests left in the window");
                        header(
                            h,
                            "X-RateLimit-Reset",
                            "When the window resets (epoch seconds)",
                        );
                        header(
                            h,
                            "RateLimit",
                            "The IETF draft's remaining allowance (`\"group\";r=…;t=…`)",
                        );
                        header(
                            h,
                            "RateLimit-Policy",
                            "The IETF draft's policy (`\"group\";q=…;w=…`)",
                        );
                    }
                    if status == "429" || status == "503" {
                        header(h, "Retry-After", "Seconds to wait before retrying");
                    }
                    if cached && status.starts_with('2') {
                        header(
                            h,
                            "X-Cache",
                            "`HIT-MEMORY`, `HIT-REDIS`, `MISS` or `BYPASS`",
                        );
                    }
                }
            }
        }
    }
}

fn operation<'a>(
    item: &'a mut utoipa::openapi::PathItem,
    method: &utoipa::openapi::HttpMethod,
) -> Option<&'a mut utoipa::openapi::path::Operation> {
    use utoipa::openapi::HttpMethod;
    match method {
        HttpMethod::Get => item.get.as_mut(),
        HttpMethod::Post => item.post.as_mut(),
        HttpMethod::Put => item.put.as_mut(),
        HttpMethod::Patch => item.patch.as_mut(),
        HttpMethod::Delete => item.delete.as_mut(),
        _ => None,
    }
}

/// Adds a JSON error answer for `status` unless the operation documents one already.
fn add(
    responses: &mut std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::Response>,
    >,
    status: &str,
    description: &str,
) {
    use utoipa::openapi::{Ref, ResponseBuilder, content::Content};
    responses.entry(status.to_owned()).or_insert_with(|| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build()
            .into()
    });
}

fn header(
    headers: &mut std::collections::BTreeMap<String, utoipa::openapi::header::Header>,
    name: &str,
    description: &str,
) {
    headers.entry(name.to_owned()).or_insert_with(|| {
        let mut h = utoipa::openapi::header::Header::default();
        h.description = Some(description.to_owned());
        h
    });
}
