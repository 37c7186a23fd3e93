//! Quotas, measured every `QUOTA_CHECK_INTERVAL` and judged against `ALERT_QUOTA_PERCENT`:
//!
//! - the database's size (`pg_database_size`) against `DATABASE_QUOTA_MB`, the plan's disk
//!   (the disk also holds the server's write-ahead log, so the share is a floor, not a ceiling);
//! - Redis's `used_memory` against `REDIS_QUOTA_MB`, else its own `maxmemory`;
//! - the connections open on the PostgreSQL server (every client's) against its
//!   `max_connections` less the slots reserved for superusers, with this service's share and
//!   this instance's `MAX_CONNECTIONS` beside them.
//!
//! The health check, the stats, `/metrics`, the dashboard and `/quota` read the last figures;
//! a figure that could not be measured keeps its last value, with the time it was measured.

use std::{sync::Mutex, time::Duration};

use fred::{interfaces::ClientLike, types::InfoKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    config::OpsConfig,
    jsontime,
    state::{AppState, Phase},
};

/// Deadline of one measurement.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const MIB: u64 = 1024 * 1024;

/// The quota figures last measured.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaReport {
    /// `ALERT_QUOTA_PERCENT`: the share of a limit past which an alert is raised.
    pub alert_percent: f64,
    /// The database's size (absent until measured).
    pub database: Option<DatabaseQuota>,
    /// Redis's memory (absent until measured).
    pub redis: Option<RedisQuota>,
    /// Connections to the PostgreSQL server (absent until measured).
    pub connections: Option<ConnectionQuota>,
}

/// The database's size against `DATABASE_QUOTA_MB`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseQuota {
    /// `pg_database_size` of this service's database, bytes.
    pub used_bytes: u64,
    /// `DATABASE_QUOTA_MB` in bytes (absent: not configured).
    pub limit_bytes: Option<u64>,
    /// Used share of the limit, %.
    pub percent: Option<f64>,
    /// When it was measured.
    pub checked_at: String,
}

/// Redis's memory against its limit.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisQuota {
    /// `used_memory`, bytes.
    pub used_bytes: u64,
    /// The limit in bytes: `REDIS_QUOTA_MB`, else `maxmemory` (absent: neither is set).
    pub limit_bytes: Option<u64>,
    /// Where the limit comes from: `REDIS_QUOTA_MB` or `maxmemory`.
    pub limit_source: Option<String>,
    /// Used share of the limit, %.
    pub percent: Option<f64>,
    /// `maxmemory-policy` (`allkeys-lru` suits this service: see `elearning-api check`).
    pub eviction_policy: String,
    /// When it was measured.
    pub checked_at: String,
}

/// Connections to the PostgreSQL server against what it allows.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionQuota {
    /// The server's `max_connections`.
    pub server_max: u64,
    /// Of them, reserved for superusers (`superuser_reserved_connections`).
    pub reserved: u64,
    /// What other roles may open: `server_max - reserved`.
    pub available: u64,
    /// Client connections open on the server now, every client's.
    pub in_use: u64,
    /// Of them, this service's (every instance's).
    pub this_service: u64,
    /// This instance's pool size limit (`MAX_CONNECTIONS`).
    pub pool_max: u64,
    /// `in_use` as a share of `available`, %.
    pub percent: f64,
    /// When it was measured.
    pub checked_at: String,
}

/// The last quota figures of this instance.
#[derive(Default)]
pub struct QuotaState {
    last: Mutex<QuotaReport>,
}

impl QuotaState {
    /// The last figures.
    pub fn report(&self) -> QuotaReport {
        self.last.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn percent(used: u64, limit: u64) -> f64 {
    if limit == 0 {
        return 0.0;
    }
    (1000.0 * used as f64 / limit as f64).round() / 10.0
}

/// Measures the quotas as soon as the instance is ready, then every `QUOTA_CHECK_INTERVAL`, and
/// judges them.
pub async fn run(state: AppState) {
    if !super::until_ready(&state).await {
        return;
    }
    let mut tick = tokio::time::interval(state.config.ops.quota_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if state.lifecycle.get() != Phase::Ready {
            continue;
        }
        check(&state).await;
    }
}

/// One quota check: measures what answers, keeps the rest, judges the alerts.
pub async fn check(state: &AppState) -> QuotaReport {
    let cfg = &state.config.ops;
    let (pg, redis) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, postgres(state)),
        tokio::time::timeout(PROBE_TIMEOUT, redis(state, cfg)),
    );
    let report = {
        let Ok(mut last) = state.ops.quota.last.lock() else {
            return QuotaReport::default();
        };
        last.alert_percent = cfg.alert_quota_percent;
        match pg {
            Ok(Ok((db, conns))) => {
                last.database = Some(db);
                last.connections = Some(conns);
            }
            Ok(Err(err)) => tracing::debug!(error = %err, "quota check: PostgreSQL did not answer"),
            Err(_) => tracing::debug!("quota check: PostgreSQL did not answer in time"),
        }
        match redis {
            Ok(Ok(r)) => last.redis = Some(r),
            Ok(Err(err)) => tracing::debug!(error = %err, "quota check: Redis did not answer"),
            Err(_) => tracing::debug!("quota check: Redis did not answer in time"),
        }
        last.clone()
    };
    state.alerts.evaluate_quotas(cfg, &report);
    report
}

async fn postgres(state: &AppState) -> anyhow::Result<(DatabaseQuota, ConnectionQuota)> {
    let client = state.db.get().await?;
    // One statement: a client backend is a connection of any client; background workers and
    // replication do not count against max_connections the same way.
    let row = client
        .query_one(
            "select pg_database_size(current_database()), \
                    current_setting('max_connections')::bigint, \
                    current_setting('superuser_reserved_connections')::bigint, \
                    count(*) filter (where backend_type = 'client backend'), \
                    count(*) filter (where backend_type = 'client backend' \
                                     and application_name = 'elearning-api') \
             from pg_stat_activity",
            &[],
        )
        .await?;
    let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    let (size, max, reserved, in_use, ours) = (n(0), n(1), n(2), n(3), n(4));
    let checked_at = jsontime::now();
    let limit = state.config.ops.database_quota_mb.map(|mb| mb * MIB);
    let available = max.saturating_sub(reserved).max(1);
    Ok((
        DatabaseQuota {
            used_bytes: size,
            limit_bytes: limit,
            percent: limit.map(|l| percent(size, l)),
            checked_at: checked_at.clone(),
        },
        ConnectionQuota {
            server_max: max,
            reserved,
            available,
            in_use,
            this_service: ours,
            pool_max: state.config.db.max_connections as u64,
            percent: percent(in_use, available),
            checked_at,
        },
    ))
}

async fn redis(state: &AppState, cfg: &OpsConfig) -> anyhow::Result<RedisQuota> {
    let info: String = state.redis.fast().info(Some(InfoKind::Memory)).await?;
    let info = parse_info(&info);
    let used = info
        .used_memory
        .ok_or_else(|| anyhow::anyhow!("INFO memory has no used_memory"))?;
    let (limit, source) = match (cfg.redis_quota_mb, info.maxmemory) {
        (Some(mb), _) => (Some(mb * MIB), Some("REDIS_QUOTA_MB")),
        (None, Some(max)) if max > 0 => (Some(max), Some("maxmemory")),
        _ => (None, None),
    };
    Ok(RedisQuota {
        used_bytes: used,
        limit_bytes: limit,
        limit_source: source.map(str::to_owned),
        percent: limit.map(|l| percent(used, l)),
        eviction_policy: info.policy.unwrap_or_else(|| "unknown".to_owned()),
        checked_at: jsontime::now(),
    })
}

/// What the quotas read of `INFO memory`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RedisMemoryInfo {
    /// `used_memory`.
    pub used_memory: Option<u64>,
    /// `maxmemory` (0: no limit).
    pub maxmemory: Option<u64>,
    /// `maxmemory_policy`.
    pub policy: Option<String>,
}

/// Reads `INFO memory`'s `field:value` lines.
pub fn parse_info(info: &str) -> RedisMemoryInfo {
    let mut out = RedisMemoryInfo::default();
    for line in info.lines() {
        let Some((field, value)) = line.trim().split_once(':') else {
            continue;
        };
        match field {
            "used_memory" => out.used_memory = value.parse().ok(),
            "maxmemory" => out.maxmemory = value.parse().ok(),
            "maxmemory_policy" => out.policy = Some(value.to_owned()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{RedisMemoryInfo, parse_info, percent};

    #[test]
    fn info_memory_is_read_field_by_field() {
        let info = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\
                    maxmemory:268435456\r\nmaxmemory_policy:allkeys-lru\r\n";
        assert_eq!(
            parse_info(info),
            RedisMemoryInfo {
                used_memory: Some(1_048_576),
                maxmemory: Some(268_435_456),
                policy: Some("allkeys-lru".to_owned()),
            }
        );
        assert_eq!(parse_info("garbage\nno colon"), RedisMemoryInfo::default());
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(5, 0), 0.0);
    }
}
