//! The global middleware stack. This is the only place where its order is decided.
//!
//! Outermost first (a request passes down this list, the response back up):
//!
//! 1. `SetRequestId`: every later span and log line can see the id (echoed when the caller sent
//!    one).
//! 2. `PropagateRequestId`: copies the id onto every response, including a panic's 500 and every
//!    early answer of the layers below.
//! 3. `TraceLayer`: opens the request span (request id, method, matched path). Its own
//!    response/failure events are off: the access log (4) writes the one line per request.
//! 4. Access log, `X-Execution-Time` and the request figures ([`crate::figures`]): outside
//!    everything that can answer early, so panics, timeouts, 413s, 429s, 503s and CORS
//!    rejections are timed, counted and logged too.
//! 5. `CatchPanic`: a panicking handler becomes a JSON 500 (with the error kept for the log).
//! 6. JSON error safety net: outside the layers that answer with empty or plain-text bodies
//!    (timeout, body limit), turning them into the API.md §1 envelope.
//! 7. CORS: answers preflights before any limit counts them.
//! 8. Compression: a cached answer leaves in the compressed form the client accepts, made once
//!    per cache entry (`precompressed`); anything else of 1 KB or more is compressed here at
//!    a moderate level (4: brotli's default, 11, costs about a millisecond per 10 KB).
//! 9. Client IP: resolves the caller's address (trusted proxies only) before anything that
//!    keys on it.
//! 10. Rate limit: per route group and caller, before a refused request takes a slot.
//! 11. Load shedding: at most `MAX_CONCURRENT_REQUESTS` in flight, a short queue, then 503 at
//!     once; outside the timeout so a queued request's wait is not counted against it.
//! 12. Timeout: 504 after `REQUEST_TIMEOUT`; inside compression so the clock covers the handler.
//! 13. Body limit: 413 for a declared or streamed body over `BODY_LIMIT`.
//!
//! Every layer is pinned by a test in `tests/api/middleware.rs` (the client-IP rules by the unit
//! tests of `client_ip.rs`).

mod access_log;
pub mod client_ip;
mod json_errors;
pub mod load_shed;
mod precompressed;
pub mod rate_limit;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    response::IntoResponse,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::{
        CompressionLayer, CompressionLevel,
        predicate::{NotForContentType, Predicate, SizeAbove},
    },
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{error::AppError, state::AppState};

pub use access_log::X_EXECUTION_TIME;
pub use json_errors::DeliberateBody;

/// The request-id header name.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in the whole global stack.
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let http = &state.config.http;
    // `Router::layer` wraps what is already there, so the calls below go from the innermost
    // layer (10) to the outermost (1). Separate calls (rather than one `ServiceBuilder`) let axum
    // convert body types between layers, which `from_fn` middleware needs.
    router
        .layer(DefaultBodyLimit::max(http.body_limit))
        // Image uploads may be larger than other bodies; every extractor still stops at
        // `BODY_LIMIT` (the line above) unless its route allows more.
        .layer(RequestBodyLimitLayer::new(http.body_limit.max(
            state.config.images.image_max_bytes + crate::images::MULTIPART_OVERHEAD,
        )))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            http.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.admission.clone(),
            load_shed::admit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(client_ip::ProxyTrust {
                // Validated at start-up (Config::validate), so nothing is dropped here.
                nets: http.trusted_nets().unwrap_or_default(),
                hops: http.trusted_proxy_hops,
            }),
            client_ip::resolve,
        ))
        .layer(axum::middleware::from_fn(precompressed::send))
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Precise(4))
                .compress_when(
                    SizeAbove::new(crate::cache::encoded::MIN_COMPRESS_BYTES as u16)
                        .and(NotForContentType::GRPC)
                        .and(NotForContentType::IMAGES)
                        .and(NotForContentType::SSE),
                ),
        )
        .layer(cors(&http.cors_origins))
        .layer(axum::middleware::from_fn(json_errors::ensure_json_errors))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                AppError::Internal(anyhow::anyhow!("request handler panicked")).into_response()
            },
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log::log_and_time,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(access_log::make_span)
                .on_request(())
                .on_response(())
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    // Credentials (the `AuthToken` cookie) rule out a wildcard origin: list them explicitly.
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, X_REQUEST_ID])
        .expose_headers([
            X_REQUEST_ID,
            X_EXECUTION_TIME,
            HeaderName::from_static("x-cache"),
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}
