//! Shared application state: one `Arc` cloned into every handler.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{extract::FromRequestParts, http::request::Parts};
use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

use crate::{auth::JwtKeys, cache::Cache, config::Config, error::AppError, redis::Redis};

/// Cheap-to-clone handle on everything a request may need.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

/// The contents of [`AppState`].
pub struct AppInner {
    /// The configuration the service started with.
    pub config: Config,
    /// PostgreSQL pool (connections are opened lazily and by the boot task).
    pub db: Pool,
    /// Redis client with the service's key prefix and fail-fast options.
    pub redis: Redis,
    /// Rate limiters.
    pub limits: std::sync::Arc<crate::ratelimit::RateLimits>,
    /// Load-shedding admission control.
    pub admission: std::sync::Arc<crate::middleware::load_shed::Admission>,
    /// The two-tier cache.
    pub cache: Cache,
    /// Request figures (counts, latency histograms, per-second history).
    pub figures: crate::figures::Figures,
    /// Active alerts.
    pub alerts: crate::alerts::Alerts,
    /// What operators are told: delivery queues, quotas, the day's figures.
    pub ops: crate::ops::Ops,
    /// The pool that decodes and resizes images.
    pub images: crate::images::ImagePool,
    /// Token signing and verification keys.
    pub jwt: JwtKeys,
    /// Failed secret checks per target (sign-in e-mails, operator token guesses).
    pub guard: crate::guard::SecretGuard,
    /// Firestore ids of imported objects, resolved to theirs.
    pub legacy_ids: crate::legacy::LegacyIds,
    /// Firebase ID token verification, when `FIREBASE_PROJECT_ID` is set.
    pub firebase: Option<Arc<crate::firebase::FirebaseAuth>>,
    /// Where the instance is in its life: starting, ready or draining.
    pub lifecycle: Lifecycle,
    /// Latest results of the background dependency probes.
    pub probes: Probes,
    /// When the process started serving.
    pub started_at: Instant,
    /// Cancelled when the service stops, ending the background tasks.
    pub shutdown: CancellationToken,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// Wraps the inner state.
    pub fn new(inner: AppInner) -> Self {
        Self(Arc::new(inner))
    }

    /// A pooled database connection, or a 503 when the database is not usable: still starting
    /// (migrations not applied), or no connection free within `POOL_ACQUIRE_TIMEOUT`.
    pub async fn db(&self) -> Result<deadpool_postgres::Client, AppError> {
        if self.lifecycle.get() == Phase::Starting {
            return Err(AppError::Unavailable {
                retry_after: 5,
                message: "the service is starting, please retry",
                code: "starting",
            });
        }
        // deadpool's wait timeout only covers waiting for a free slot; opening a new connection
        // to a hung server has its own, longer limit. Bound the whole acquisition.
        let limit = self.config.db.pool_acquire_timeout;
        match tokio::time::timeout(limit, self.db.get()).await {
            Ok(client) => Ok(client?),
            Err(_) => Err(AppError::db_unavailable()),
        }
    }
}

impl FromRequestParts<Self> for AppState {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(_: &mut Parts, state: &Self) -> Result<Self, Self::Rejection> {
        Ok(state.clone())
    }
}

/// Phase of the instance's life, read by the health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// PostgreSQL not reached or migrations not applied yet.
    Starting = 0,
    /// Serving.
    Ready = 1,
    /// Shutting down: health answers 503 so traffic moves elsewhere.
    Draining = 2,
}

/// An atomic [`Phase`].
#[derive(Debug, Default)]
pub struct Lifecycle(AtomicU8);

impl Lifecycle {
    /// The current phase.
    pub fn get(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    /// Moves to `phase`; draining is final.
    pub fn set(&self, phase: Phase) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur != Phase::Draining as u8).then_some(phase as u8)
            });
    }
}

/// Last known state of each dependency, refreshed in the background so that the health check
/// never waits on a hanging dependency.
#[derive(Debug, Default)]
pub struct Probes {
    /// PostgreSQL answered the last probe.
    pub postgres_ok: AtomicBool,
    /// Redis answered the last probe.
    pub redis_ok: AtomicBool,
    /// Round trip of the last successful PostgreSQL probe, in microseconds.
    pub postgres_latency_us: AtomicU64,
    /// Round trip of the last successful Redis probe, in microseconds.
    pub redis_latency_us: AtomicU64,
}

impl Probes {
    /// Records one PostgreSQL probe.
    pub fn record_postgres(&self, latency: Option<Duration>) {
        self.postgres_ok.store(latency.is_some(), Ordering::Release);
        if let Some(l) = latency {
            self.postgres_latency_us
                .store(l.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Records one Redis probe.
    pub fn record_redis(&self, latency: Option<Duration>) {
        self.redis_ok.store(latency.is_some(), Ordering::Release);
        if let Some(l) = latency {
            self.redis_latency_us
                .store(l.as_micros() as u64, Ordering::Relaxed);
        }
    }
}
