//! The deadpool-postgres pool.
//!
//! deadpool has no "minimum idle" setting (it opens connections on demand and never closes idle
//! ones by itself), so `MIN_CONNECTIONS` and `POOL_IDLE_TIMEOUT` are implemented here: [`warm_up`]
//! checks out and returns `MIN_CONNECTIONS` connections at boot, and [`maintain`] runs in the
//! background, closing idle connections above the minimum and topping the pool back up.

use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

use crate::config::DbConfig;

/// Builds the pool without opening any connection.
pub fn build(cfg: &DbConfig) -> anyhow::Result<Pool> {
    let pg = cfg
        .pg_config()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    // `Fast` recycling only checks that the socket is open; a connection killed by a server
    // restart fails its next query, which maps to a 503 and is then discarded.
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(cfg.max_connections)
        .wait_timeout(Some(cfg.pool_acquire_timeout))
        .create_timeout(Some(cfg.connection_timeout))
        .recycle_timeout(Some(Duration::from_secs(2)))
        .runtime(Runtime::Tokio1)
        .build()
        .context("building the PostgreSQL pool")
}

/// Opens connections until the pool holds at least `min` of them (all returned idle).
pub async fn warm_up(pool: &Pool, min: usize) -> anyhow::Result<()> {
    if pool.status().size >= min {
        return Ok(());
    }
    // Holding `min` checkouts at once forces the pool to open the missing ones.
    let clients = futures::future::try_join_all((0..min).map(|_| pool.get()))
        .await
        .context("opening the minimum number of connections")?;
    drop(clients);
    Ok(())
}

/// Closes connections that sat idle longer than `idle_timeout` while more than `min` exist.
/// Returns how many were closed.
pub fn close_idle(pool: &Pool, min: usize, idle_timeout: Duration) -> usize {
    let mut excess = pool.status().size.saturating_sub(min);
    let result = pool.retain(|_, metrics| {
        if excess > 0 && metrics.last_used() > idle_timeout {
            excess -= 1;
            false
        } else {
            true
        }
    });
    result.removed.len()
}

/// Background upkeep of the pool's size, every `interval` until `stop` is cancelled.
pub async fn maintain(pool: Pool, cfg: DbConfig, interval: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let closed = close_idle(&pool, cfg.min_connections, cfg.pool_idle_timeout);
        if closed > 0 {
            tracing::debug!(closed, "closed idle database connections above the minimum");
        }
        if let Err(err) = warm_up(&pool, cfg.min_connections).await {
            tracing::debug!(error = %err, "could not top the pool up to MIN_CONNECTIONS");
        }
    }
}
