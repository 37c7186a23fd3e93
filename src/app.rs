//! Building and running the service. Tests call exactly what production runs: [`App::build`]
//! on port 0 against their own database, then [`App::run_until_stopped`].

use std::{future::Future, net::SocketAddr, time::Duration};

use anyhow::Context;
use axum::Router;
use rand::Rng;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    api,
    auth::JwtKeys,
    cache::{self, Cache},
    config::Config,
    db,
    error::AppError,
    middleware,
    redis::Redis,
    state::{AppInner, AppState, Lifecycle, Phase, Probes},
};

/// How often the background probes check PostgreSQL and Redis.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// Deadline of one probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A built service: bound listener, router and state.
pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl App {
    /// Binds the listener, builds the pools (lazily) and starts the boot task, which connects to
    /// PostgreSQL with backoff, applies migrations and warms the pool. Until it succeeds the
    /// health check answers 503 `unhealthy`; the process never crash-loops on a missing database.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate(true)?;
        let secret = config
            .auth
            .jwt_secret
            .clone()
            .context("JWT_SECRET is required")?;
        let db = db::pool::build(&config.db)?;
        let redis = Redis::connect(&config.redis)?;
        let addr = SocketAddr::new(config.http.host, config.http.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr} (PORT)"))?;
        let cache = Cache::new(
            redis.clone(),
            config.cache.memory_cache_max_bytes,
            config.cache.memory_cache_ttl,
            config.cache.cache_enabled,
        );
        let admission = std::sync::Arc::new(middleware::load_shed::Admission::new(
            config.http.max_concurrent_requests,
            config.http.max_queued_requests,
            config.http.queue_timeout,
        ));
        let l = &config.limits;
        let limits = std::sync::Arc::new(
            crate::ratelimit::RateLimits::new(
                [
                    l.rate_limit_auth,
                    l.rate_limit_dashboard,
                    l.rate_limit_courses,
                    l.rate_limit_quizzes,
                    l.rate_limit_upload,
                    l.rate_limit_default,
                ],
                l.rate_limit_ip_ceiling,
            )
            .with_role_multipliers(l.parse_multipliers().unwrap_or_default())
            .shared_through(redis.clone()),
        );
        let firebase = match &config.auth.firebase_project_id {
            Some(project) => Some(std::sync::Arc::new(crate::firebase::FirebaseAuth::new(
                project,
                &config.auth.firebase_certs_url,
                config.auth.firebase_auto_provision,
            )?)),
            None => None,
        };
        let state = AppState::new(AppInner {
            firebase,
            legacy_ids: crate::legacy::LegacyIds::default(),
            guard: crate::guard::SecretGuard::new(redis.clone()),
            limits,
            admission,
            cache,
            figures: crate::figures::Figures::new(),
            alerts: crate::alerts::Alerts::default(),
            ops: crate::ops::Ops::new(&config)?,
            images: crate::images::ImagePool::new(&config.images)?,
            jwt: JwtKeys::new(&secret, Duration::from_secs(config.auth.jwt_ttl)),
            config,
            db,
            redis,
            lifecycle: Lifecycle::default(),
            probes: Probes::default(),
            started_at: std::time::Instant::now(),
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(boot(state.clone()));
        tokio::spawn(probe_loop(state.clone()));
        tokio::spawn(prune_rate_limits(state.clone()));
        tokio::spawn(figures_loop(state.clone()));
        crate::ops::spawn(&state);
        if let Some(firebase) = &state.firebase {
            tokio::spawn(firebase.clone().run_refresh(state.shutdown.clone()));
        }
        tokio::spawn(cache::invalidation::listen(
            state.cache.clone(),
            state.config.redis.clone(),
            state.shutdown.clone(),
        ));
        let router = build_router(state.clone());
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    /// The port actually bound (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The shared state (tests read the pool and lifecycle through it).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then drains: health turns 503, new connections are
    /// refused after `SHUTDOWN_DRAIN_DELAY`, in-flight requests finish, pools close. The whole
    /// sequence is cut off after `SHUTDOWN_TIMEOUT`.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            state,
        } = self;
        let draining = CancellationToken::new();
        let signal = {
            let state = state.clone();
            let draining = draining.clone();
            async move {
                shutdown.await;
                tracing::info!(
                    "shutting down: health now answers 503, finishing in-flight requests"
                );
                state.lifecycle.set(Phase::Draining);
                draining.cancel();
                tokio::time::sleep(state.config.http.shutdown_drain_delay).await;
            }
        };
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        let deadline = async {
            draining.cancelled().await;
            tokio::time::sleep(state.config.http.shutdown_timeout).await;
        };
        tokio::select! {
            res = serve => res.context("serving HTTP")?,
            () = deadline => tracing::warn!("shutdown deadline passed with requests still in flight"),
        }
        state.shutdown.cancel();
        state.cache.leave().await;
        state.db.close();
        state.redis.quit().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The router with every route, the docs, the fallbacks and the middleware stack. Shared by
/// production and tests.
pub fn build_router(state: AppState) -> Router {
    let (routes, mut openapi) = api::router().split_for_parts();
    crate::openapi::complete(&mut openapi);
    let routes = routes
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .fallback(|| async { AppError::NotFound("route") })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed });
    middleware::apply(routes, &state).with_state(state)
}

/// The OpenAPI document the routes describe (what `openapi/openapi.json` must contain).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut openapi = api::router().split_for_parts().1;
    crate::openapi::complete(&mut openapi);
    openapi
}

/// Connects to PostgreSQL and migrates, retrying with capped, jittered exponential backoff, then
/// opens `MIN_CONNECTIONS`, marks the instance ready and starts the pool upkeep.
async fn boot(state: AppState) {
    let mut delay = Duration::from_millis(250);
    loop {
        let attempt = async {
            db::migrate::run(&state.db).await?;
            db::pool::warm_up(&state.db, state.config.db.min_connections).await
        };
        let result = tokio::select! {
            () = state.shutdown.cancelled() => return,
            r = attempt => r,
        };
        match result {
            Ok(()) => break,
            Err(err) => {
                let jitter = rand::thread_rng().gen_range(0..=delay.as_millis() as u64 / 4);
                let wait = delay + Duration::from_millis(jitter);
                tracing::warn!(
                    error = format!("{err:#}"),
                    retry_in_ms = wait.as_millis() as u64,
                    "PostgreSQL not ready; retrying"
                );
                tokio::select! {
                    () = state.shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    state.probes.record_postgres(Some(Duration::ZERO));
    state.cache.wait_settled(Duration::from_secs(3)).await;
    state.lifecycle.set(Phase::Ready);
    tracing::info!(
        connections = state.db.status().size,
        "PostgreSQL ready; serving"
    );
    db::pool::maintain(
        state.db.clone(),
        state.config.db.clone(),
        Duration::from_secs(10),
        state.shutdown.clone(),
    )
    .await;
}

/// Refreshes the dependency probes the health check reads, logging each change of state.
async fn probe_loop(state: AppState) {
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = (None, None);
    // Give the first Redis connection a chance before the first verdict.
    let connect = state.config.redis.redis_connect_timeout;
    let _ = tokio::time::timeout(
        connect,
        fred::interfaces::ClientLike::wait_for_connect(state.redis.client()),
    )
    .await;
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // A probe that began while the instance was starting says nothing about PostgreSQL,
        // even if the phase changes before it ends.
        let starting = state.lifecycle.get() == Phase::Starting;
        let pg = async {
            if starting {
                return None;
            }
            let start = std::time::Instant::now();
            let check = async {
                let client = state.db.get().await.ok()?;
                client.simple_query("select 1").await.ok()
            };
            tokio::time::timeout(PROBE_TIMEOUT, check)
                .await
                .ok()
                .flatten()
                .map(|_| start.elapsed())
        };
        let (pg, redis) = tokio::join!(pg, state.redis.ping());
        if !starting {
            state.probes.record_postgres(pg);
        }
        state.probes.record_redis(redis);
        state.cache.set_redis_health(redis.is_some()).await;
        if redis.is_some() {
            state.cache.heartbeat().await;
        }
        // Expired entries only leave memory during cache operations; sweep them when idle.
        state.cache.run_pending_tasks().await;
        // A probe that began while starting measured nothing: it neither logs nor counts as
        // the last known state (the boot task logs when PostgreSQL is ready).
        let now = (
            if starting { last.0 } else { Some(pg.is_some()) },
            Some(redis.is_some()),
        );
        // Ready means the boot task just reached PostgreSQL: that is the state to compare with.
        if now.0.is_some() && now.0 != last.0.or(Some(true)) {
            if pg.is_some() {
                tracing::info!("PostgreSQL reachable");
            } else {
                tracing::warn!("PostgreSQL unreachable; database requests answer 503");
            }
        }
        if now.1 != last.1 {
            if redis.is_some() {
                tracing::info!("Redis reachable");
            } else {
                tracing::warn!("Redis unreachable; running on the memory tier only");
            }
        }
        last = now;
    }
}

/// Every second: closes the second that ended into the figures' history, judges the alerts and
/// samples memory and pool for the day's figures.
async fn figures_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        state.figures.tick();
        let requests = state.figures.window();
        let cache = state.cache.stats();
        let rss = crate::memory::usage().rss;
        let pool = state.db.status();
        state.alerts.evaluate(
            &state.config.ops,
            crate::alerts::Inputs {
                requests: requests.requests,
                p95_us: requests.p95_us,
                error_rate: requests.error_rate,
                rss,
                cache_hits: cache.memory_hits + cache.redis_hits,
                cache_misses: cache.misses,
                pool_waiting: pool.waiting,
            },
        );
        state.ops.day.sample(
            rss,
            pool.size.saturating_sub(pool.available),
            pool.max_size,
            pool.waiting,
        );
    }
}

/// What `/maintenance` did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Maintenance {
    /// Memory-cache entries before and after the sweep of expired ones.
    pub cache_entries: (u64, u64),
    /// Idle database connections closed above `MIN_CONNECTIONS`.
    pub connections_closed: usize,
    /// Rate-limit keys before and after dropping those whose allowance is whole again.
    pub rate_limit_keys: (usize, usize),
}

/// Runs the housekeeping the background tasks do on their own schedules, now: expired cache
/// entries swept, idle connections above the minimum closed, idle rate-limit state dropped.
pub async fn maintenance(state: &AppState) -> Maintenance {
    let before = state.cache.memory_entries();
    state.cache.run_pending_tasks().await;
    let after = state.cache.memory_entries();
    let connections_closed = crate::db::pool::close_idle(
        &state.db,
        state.config.db.min_connections,
        state.config.db.pool_idle_timeout,
    );
    let keys_before = state.limits.tracked_keys();
    state.limits.prune();
    Maintenance {
        cache_entries: (before, after),
        connections_closed,
        rate_limit_keys: (keys_before, state.limits.tracked_keys()),
    }
}

/// Zeroes the counters: request figures, alerts, cache hits and misses, rate-limit counts and
/// the admission peak.
pub fn reset_figures(state: &AppState) {
    state.figures.reset();
    state.alerts.reset();
    state.cache.reset_stats();
    state.limits.reset_counters();
    state.admission.reset_peak();
    state.images.reset();
}

/// Drops rate-limit keys whose allowance is whole again, every minute (governor's key maps never
/// shrink by themselves).
async fn prune_rate_limits(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => state.limits.prune(),
        }
    }
}
