//! `GET /api/health` (liveness) and `GET /api/performance/health` (API.md §3).
//!
//! The health check reads the last results of the background probes (see [`crate::app`]), so
//! it answers in microseconds even while a dependency hangs. Its HTTP status only says whether
//! this instance can serve: 503 while starting or draining, otherwise 200 (Render restarts
//! instances that fail it, which cannot fix a shared dependency).

use std::{sync::atomic::Ordering, time::Instant};

use axum::{http::StatusCode, response::IntoResponse};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    extract::AppJson,
    jsontime,
    memory::{self, MemoryUsage},
    state::{AppState, Phase},
};

/// Routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_liveness))
        .routes(routes!(get_health))
}

/// Status word used throughout the health body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Working.
    Healthy,
    /// Working with a failed dependency.
    Degraded,
    /// Not able to serve.
    Unhealthy,
}

impl HealthStatus {
    /// The word used in the health body and by the bot.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// The status of this instance as the background probes last saw it: defined once, read by the
/// health endpoint and the bot's `/health`.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// Where the instance is in its life.
    pub phase: Phase,
    /// Whether PostgreSQL answered the last probe.
    pub postgres_ok: bool,
    /// Whether Redis answered the last probe.
    pub redis_ok: bool,
    /// `unhealthy` while starting or draining, `degraded` with a dependency down.
    pub overall: HealthStatus,
}

impl Verdict {
    /// Reads the probes.
    pub fn of(state: &AppState) -> Self {
        let phase = state.lifecycle.get();
        let postgres_ok = state.probes.postgres_ok.load(Ordering::Acquire);
        let redis_ok = state.probes.redis_ok.load(Ordering::Acquire);
        let overall = match phase {
            Phase::Starting | Phase::Draining => HealthStatus::Unhealthy,
            Phase::Ready if postgres_ok && redis_ok => HealthStatus::Healthy,
            Phase::Ready => HealthStatus::Degraded,
        };
        Self {
            phase,
            postgres_ok,
            redis_ok,
            overall,
        }
    }

    /// `starting`, `ready` or `draining`.
    pub fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
        }
    }
}

/// `GET /api/health` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `healthy` while the process answers.
    pub status: HealthStatus,
    /// Time of the answer (ISO-8601 UTC).
    pub timestamp: String,
}

/// Liveness: the process is up and answering.
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, description = "The process answers", body = Liveness)))]
pub async fn get_liveness() -> AppJson<Liveness> {
    AppJson(Liveness {
        status: HealthStatus::Healthy,
        timestamp: jsontime::now(),
    })
}

/// `GET /api/performance/health` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Time of the answer.
    pub timestamp: String,
    /// The worst status of the instance: `unhealthy` while starting or draining.
    pub overall: HealthStatus,
    /// `starting`, `ready` or `draining`.
    pub phase: &'static str,
    /// Each subsystem.
    pub systems: Systems,
    /// Figures about this check and the process.
    pub performance: Performance,
}

/// Subsystems of the health body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Systems {
    /// The cache tiers.
    pub cache: CacheHealth,
    /// The PostgreSQL pool.
    pub connection_pool: PoolHealth,
    /// The Redis connection.
    pub redis: RedisHealth,
    /// Google's certificates for Firebase ID tokens (absent without `FIREBASE_PROJECT_ID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firebase: Option<crate::firebase::FirebaseKeysHealth>,
    /// The last quota check (every `QUOTA_CHECK_INTERVAL`): database size, Redis memory,
    /// connections to the PostgreSQL server.
    pub quota: crate::ops::quota::QuotaReport,
}

/// Cache subsystem.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheHealth {
    /// `healthy`, or `degraded` when only the memory tier works.
    pub status: HealthStatus,
    /// Entries in the memory tier.
    pub memory_cache_size: u64,
    /// Whether the Redis tier is reachable.
    pub redis_connected: bool,
}

/// PostgreSQL pool subsystem.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolHealth {
    /// `unhealthy` when PostgreSQL does not answer.
    pub status: HealthStatus,
    /// Open connections.
    pub total_connections: usize,
    /// Connections checked out by requests.
    pub active_connections: usize,
    /// Open connections waiting for work.
    pub idle_connections: usize,
    /// Requests waiting for a connection.
    pub waiting_requests: usize,
    /// `MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// Round trip of the last probe, in milliseconds.
    pub latency_ms: f64,
}

/// Redis subsystem.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisHealth {
    /// `unhealthy` when Redis does not answer.
    pub status: HealthStatus,
    /// Whether the last probe got an answer.
    pub connected: bool,
    /// Round trip of the last probe, in milliseconds.
    pub latency_ms: f64,
}

/// Process figures.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Performance {
    /// Milliseconds this check took.
    pub response_time: f64,
    /// Seconds since the service started.
    pub uptime: u64,
    /// Memory in bytes.
    pub memory: MemoryUsage,
}

/// Health of this instance and its dependencies (Render's health check path).
#[utoipa::path(get, path = "/api/performance/health", tag = "health",
    responses(
        (status = 200, description = "The instance can serve (possibly degraded)", body = Health),
        (status = 503, description = "Starting or draining", body = Health),
    ))]
pub async fn get_health(state: AppState) -> impl IntoResponse {
    let start = Instant::now();
    let verdict = Verdict::of(&state);
    let (phase, pg_ok, redis_ok, overall) = (
        verdict.phase,
        verdict.postgres_ok,
        verdict.redis_ok,
        verdict.overall,
    );
    let pool = state.db.status();
    let up = |ok| {
        if ok {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        }
    };
    let pool_status = up(pg_ok && phase != Phase::Starting);
    let http_status = if overall == HealthStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let micros = |v: u64| v as f64 / 1000.0;
    let mut body = Health {
        timestamp: jsontime::now(),
        overall,
        phase: verdict.phase_name(),
        systems: Systems {
            cache: CacheHealth {
                status: if redis_ok && !state.cache.degraded() {
                    HealthStatus::Healthy
                } else {
                    HealthStatus::Degraded
                },
                memory_cache_size: state.cache.memory_entries(),
                redis_connected: redis_ok,
            },
            connection_pool: PoolHealth {
                status: pool_status,
                total_connections: pool.size,
                active_connections: pool.size - pool.available,
                idle_connections: pool.available,
                waiting_requests: pool.waiting,
                max_connections: pool.max_size,
                latency_ms: micros(state.probes.postgres_latency_us.load(Ordering::Relaxed)),
            },
            redis: RedisHealth {
                status: up(redis_ok),
                connected: redis_ok,
                latency_ms: micros(state.probes.redis_latency_us.load(Ordering::Relaxed)),
            },
            firebase: state.firebase.as_ref().map(|f| f.health()),
            quota: state.ops.quota.report(),
        },
        performance: Performance {
            response_time: 0.0,
            uptime: state.started_at.elapsed().as_secs(),
            memory: memory::usage(),
        },
    };
    body.performance.response_time = start.elapsed().as_secs_f64() * 1000.0;
    (
        http_status,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        AppJson(body),
    )
}
