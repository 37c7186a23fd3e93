//! Operations endpoints for operators (API.md §3): clearing the cache and live figures.

use axum::{
    body::Bytes,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    cache::{CacheKind, CacheStats},
    error::{AppError, AppResult, ErrorBody},
    extract::{AppJson, auth::Operator},
    jsontime,
    memory::{self, MemoryUsage},
    state::AppState,
};

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(clear_cache))
        .routes(routes!(get_stats))
        .merge(super::metrics::routes())
        .merge(super::dashboard::routes())
}

/// Body of a clear-cache request (all fields optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearCache {
    /// `all` (default), `memory` or `redis`.
    pub scope: Option<String>,
    /// Only this cache type, e.g. `COURSE_LIST`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Entries removed per tier.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClearedCounts {
    /// Memory entries removed on the instance that answered (the others empty theirs too).
    pub memory: u64,
    /// Redis keys removed.
    pub redis: u64,
}

/// Result of a clear-cache.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheCleared {
    /// False when Redis could not be reached (then the answer is a 503 and only part was done).
    pub success: bool,
    /// `all`, `memory` or `redis`.
    pub scope: String,
    /// The cache type cleared, when one was named.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What was removed.
    pub cleared: ClearedCounts,
    /// When.
    pub timestamp: String,
}

/// Clear this service's cache entries (never other keys, never rate-limit state), on every
/// instance. Operator token or admin.
#[utoipa::path(post, path = "/api/performance/clear-cache", tag = "operations",
    request_body(content = Option<ClearCache>, description = "Optional; defaults to `{\"scope\": \"all\"}`"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CacheCleared), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, description = "Redis unreachable: memory cleared, Redis not", body = CacheCleared)))]
pub async fn clear_cache(state: AppState, op: Operator, body: Bytes) -> AppResult<Response> {
    // An empty body clears everything; anything else must be the JSON object of AppJson's
    // rules (an array would deserialise field by field).
    let request: ClearCache = if body.iter().all(u8::is_ascii_whitespace) {
        ClearCache::default()
    } else {
        crate::extract::json::check_body(&body)?;
        serde_json::from_slice(&body).map_err(|e| AppError::invalid("body", e.to_string()))?
    };
    let scope = request.scope.unwrap_or_else(|| "all".to_owned());
    let (memory, redis) = match scope.as_str() {
        "all" => (true, true),
        "memory" => (true, false),
        "redis" => (false, true),
        _ => {
            return Err(AppError::invalid(
                "scope",
                "must be one of: all, memory, redis",
            ));
        }
    };
    let kind = match request.kind.as_deref() {
        None => None,
        Some(k) => Some(CacheKind::parse(k).ok_or_else(|| {
            let names: Vec<&str> = CacheKind::ALL.iter().map(|k| k.name()).collect();
            AppError::invalid("type", format!("must be one of: {}", names.join(", ")))
        })?),
    };
    let cleared = state.cache.clear(memory, redis, kind).await;
    tracing::info!(
        scope = %scope,
        kind = kind.map(CacheKind::name).unwrap_or("all"),
        by_admin = ?op.admin,
        memory = cleared.memory,
        redis = cleared.redis,
        redis_ok = cleared.redis_ok,
        "cache cleared by an operator"
    );
    let answer = CacheCleared {
        success: cleared.redis_ok,
        scope,
        kind: kind.map(|k| k.name().to_owned()),
        cleared: ClearedCounts {
            memory: cleared.memory,
            redis: cleared.redis,
        },
        timestamp: jsontime::now(),
    };
    let mut response = AppJson(answer).into_response();
    if !cleared.redis_ok {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(5));
    }
    Ok(response)
}

/// Pool figures.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    /// Open connections.
    pub size: usize,
    /// Idle connections.
    pub available: usize,
    /// Connections serving a request now.
    pub in_use: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
    /// `MAX_CONNECTIONS`.
    pub max_size: usize,
}

/// Memory-tier figures.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryTier {
    /// Entries.
    pub entries: u64,
    /// Bytes (keys, bodies, bookkeeping).
    pub bytes: u64,
    /// Whether the cache runs without Redis.
    pub degraded: bool,
}

/// Live figures of this instance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// When.
    pub timestamp: String,
    /// Seconds since start.
    pub uptime: u64,
    /// Requests: totals, rate, error rate and latency percentiles, per route too.
    pub requests: crate::figures::RequestStats,
    /// Alerts active now.
    pub alerts: Vec<crate::alerts::Alert>,
    /// The last quota check: database size, Redis memory, server connections.
    pub quota: crate::ops::quota::QuotaReport,
    /// What the operators are told: alert changes announced, held back, delivered.
    pub notifications: crate::ops::NotifyStats,
    /// Cache hits and misses per tier and type.
    pub cache: CacheStats,
    /// The memory tier.
    pub memory_tier: MemoryTier,
    /// The PostgreSQL pool.
    pub pool: PoolStats,
    /// Process memory.
    pub memory: MemoryUsage,
    /// Requests in flight, queued and shed.
    pub admission: crate::middleware::load_shed::AdmissionStats,
    /// Allowed and refused requests per route group and identity kind.
    pub rate_limits: Vec<crate::ratelimit::GroupStats>,
    /// Callers currently tracked by the rate limiters.
    pub rate_limit_keys: usize,
    /// Round trips the rate limiter made to Redis (leases make them far fewer than requests).
    pub rate_limit_redis_calls: u64,
    /// The image pool: jobs, queue, processing time, rendition cache hits.
    pub images: crate::images::ImageStats,
    /// Google's certificates for Firebase ID tokens (absent without `FIREBASE_PROJECT_ID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firebase: Option<crate::firebase::FirebaseKeysHealth>,
    /// One point per second over the last five minutes (oldest first), for charts.
    pub history: Vec<crate::figures::Point>,
}

/// Live figures of this instance (operator token or admin).
#[utoipa::path(get, path = "/api/performance/stats", tag = "operations", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Stats), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_stats(state: AppState, _op: Operator) -> AppResult<AppJson<Stats>> {
    Ok(AppJson(snapshot(&state).await))
}

/// The live figures of this instance (the stats endpoint, the dashboard and the bot).
pub async fn snapshot(state: &AppState) -> Stats {
    let (entries, bytes) = state.cache.memory_size().await;
    let pool = state.db.status();
    Stats {
        timestamp: jsontime::now(),
        uptime: state.started_at.elapsed().as_secs(),
        requests: state.figures.stats(),
        alerts: state.alerts.active(),
        quota: state.ops.quota.report(),
        notifications: crate::ops::stats(state),
        cache: state.cache.stats(),
        memory_tier: MemoryTier {
            entries,
            bytes,
            degraded: state.cache.degraded(),
        },
        pool: PoolStats {
            size: pool.size,
            available: pool.available,
            in_use: pool.size.saturating_sub(pool.available),
            waiting: pool.waiting,
            max_size: pool.max_size,
        },
        memory: memory::usage(),
        admission: state.admission.stats(),
        rate_limits: state.limits.stats(),
        rate_limit_keys: state.limits.tracked_keys(),
        rate_limit_redis_calls: state.limits.redis_calls(),
        images: state.images.stats(),
        firebase: state.firebase.as_ref().map(|f| f.health()),
        history: state.figures.history(),
    }
}
