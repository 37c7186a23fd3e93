//! Alerts with the seed's thresholds (all configurable, see [`crate::config::OpsConfig`]):
//! p95 response time, error rate, memory against the configured limit, cache hit rate,
//! requests waiting for a database connection for a sustained period, and the quotas (database
//! size, Redis memory, server connections). The request figures are judged every second by a
//! background task, the quotas after each quota check ([`crate::ops::quota`]).
//!
//! Raising and clearing each write one log line and one [`Change`] to a short log that
//! [`crate::ops::push`] reads to tell the operators; the active alerts show in
//! `GET /api/performance/stats`, `/metrics`, the dashboard and the bot.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::Serialize;
use utoipa::ToSchema;

use crate::{config::OpsConfig, jsontime, ops::quota::QuotaReport};

/// The alerts there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    /// p95 latency over the last minute past `ALERT_P95_MS`.
    SlowResponses,
    /// 5xx share over the last minute past `ALERT_ERROR_RATE`.
    ErrorRate,
    /// Resident memory past `ALERT_MEMORY_PERCENT` of `MEMORY_LIMIT_MB`.
    Memory,
    /// Cache hit rate over the last minute below `ALERT_CACHE_HIT_RATE`.
    CacheHitRate,
    /// Requests waiting for a database connection for `ALERT_POOL_WAIT_SECS`.
    PoolWaiting,
    /// The database's size past `ALERT_QUOTA_PERCENT` of `DATABASE_QUOTA_MB`.
    DatabaseQuota,
    /// Redis memory past `ALERT_QUOTA_PERCENT` of its limit.
    RedisQuota,
    /// Connections to the PostgreSQL server past `ALERT_QUOTA_PERCENT` of its `max_connections`.
    ConnectionQuota,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [Self; 8] = [
        Self::SlowResponses,
        Self::ErrorRate,
        Self::Memory,
        Self::CacheHitRate,
        Self::PoolWaiting,
        Self::DatabaseQuota,
        Self::RedisQuota,
        Self::ConnectionQuota,
    ];

    /// The alert's name in the stats, `/metrics`, logs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::SlowResponses => "slow_responses",
            Self::ErrorRate => "error_rate",
            Self::Memory => "memory",
            Self::CacheHitRate => "cache_hit_rate",
            Self::PoolWaiting => "pool_waiting",
            Self::DatabaseQuota => "quota_database",
            Self::RedisQuota => "quota_redis",
            Self::ConnectionQuota => "quota_connections",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Unit of the figure and the threshold.
    pub fn unit(self) -> &'static str {
        match self {
            Self::SlowResponses => "ms",
            Self::PoolWaiting => "requests waiting",
            Self::ErrorRate
            | Self::Memory
            | Self::CacheHitRate
            | Self::DatabaseQuota
            | Self::RedisQuota
            | Self::ConnectionQuota => "%",
        }
    }

    /// What an operator should look at first.
    pub fn hint(self) -> &'static str {
        match self {
            Self::SlowResponses => {
                "/ultrafast for the slowest routes, /pools for waits on the database, /health \
                 for a slow dependency"
            }
            Self::ErrorRate => {
                "the logs at level error (each 5xx is logged once, with its cause), /health for \
                 PostgreSQL and Redis"
            }
            Self::Memory => {
                "/memory; the memory cache is bounded by MEMORY_CACHE_MAX_BYTES, so a steady \
                 climb beyond it is a leak: restart the instance and report it"
            }
            Self::CacheHitRate => {
                "/cache; a clear-cache, a deploy or a Redis outage empties the cache for a while, \
                 /health shows Redis"
            }
            Self::PoolWaiting => {
                "/pools and /quota; slow queries hold connections (STATEMENT_TIMEOUT), or \
                 MAX_CONNECTIONS is too small for the load"
            }
            Self::DatabaseQuota => {
                "/quota; delete what is no longer needed or move to a bigger disk, then raise \
                 DATABASE_QUOTA_MB"
            }
            Self::RedisQuota => {
                "/quota; the eviction policy should be allkeys-lru (`elearning-api check`), or \
                 a bigger Key Value plan"
            }
            Self::ConnectionQuota => {
                "/quota; instances x MAX_CONNECTIONS (plus other clients) must stay below the \
                 server's max_connections"
            }
        }
    }

    /// Whether `value` against `threshold` is critical rather than a warning.
    fn critical(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::PoolWaiting => true,
            // A full quota breaks writes: 95 % leaves little time.
            Self::DatabaseQuota | Self::RedisQuota | Self::ConnectionQuota => value >= 95.0,
            Self::CacheHitRate => false,
            Self::SlowResponses | Self::ErrorRate | Self::Memory => {
                threshold > 0.0 && value > 2.0 * threshold
            }
        }
    }
}

/// An active alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `slow_responses`, `error_rate`, `memory`, `cache_hit_rate`, `pool_waiting`,
    /// `quota_database`, `quota_redis` or `quota_connections`.
    pub name: String,
    /// `warning` or `critical` (over twice the threshold, a quota at 95 %, or the pool
    /// starved).
    pub severity: String,
    /// What is wrong, for a person.
    pub message: String,
    /// The figure now.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// When it was raised.
    pub since: String,
}

/// An alert raised or cleared, as the notifier reads it.
#[derive(Debug, Clone)]
pub struct Change {
    /// Position in the log (1, 2, …).
    pub seq: u64,
    /// Which alert.
    pub kind: AlertKind,
    /// Raised (`true`) or cleared.
    pub raised: bool,
    /// The alert with the figure at the change (for a clear: the figure that cleared it).
    pub alert: Alert,
    /// For a clear: how long the alert had been raised.
    pub lasted: Option<Duration>,
    /// For a clear: the operator's `/reset` cleared it, not the figure.
    pub by_reset: bool,
}

/// What the alerts judge, gathered by the caller every second.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs {
    /// Requests in the last minute.
    pub requests: u64,
    /// 95th-percentile latency over the last minute, µs.
    pub p95_us: u64,
    /// 5xx share over the last minute, %.
    pub error_rate: f64,
    /// Resident set size, bytes.
    pub rss: u64,
    /// Cache answers that did not reach the database, cumulative.
    pub cache_hits: u64,
    /// Cache answers loaded from the database, cumulative.
    pub cache_misses: u64,
    /// Requests waiting for a database connection now.
    pub pool_waiting: usize,
}

/// Changes kept for the notifier; it reads them every second, and there are at most eight per
/// evaluation, so it never falls this far behind unless it stopped.
const LOG: usize = 256;

/// Alert state of the instance.
#[derive(Default)]
pub struct Alerts {
    inner: Mutex<State>,
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    active: BTreeMap<&'static str, (Alert, Instant)>,
    /// Cumulative (hits, misses) once per evaluation, for the last minute's hit rate.
    cache: VecDeque<(Instant, u64, u64)>,
    pool_waiting_since: Option<Instant>,
    log: VecDeque<Change>,
    seq: u64,
}

impl Alerts {
    /// The active alerts, by name.
    pub fn active(&self) -> Vec<Alert> {
        self.inner
            .lock()
            .map(|s| s.active.values().map(|(a, _)| a.clone()).collect())
            .unwrap_or_default()
    }

    /// The changes after `seq`, oldest first, and whether some were lost (the log is bounded).
    pub fn changes_after(&self, seq: u64) -> (Vec<Change>, bool) {
        let Ok(s) = self.inner.lock() else {
            return (Vec::new(), false);
        };
        let lost = s.log.front().is_some_and(|c| c.seq > seq + 1);
        (
            s.log.iter().filter(|c| c.seq > seq).cloned().collect(),
            lost,
        )
    }

    /// Resolves when a change is logged (or at once if one was logged since the last wait).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Forgets the active alerts and the history they judge (the bot's `/reset`). Each active
    /// alert is logged as cleared, so the operators who were told it was raised hear of it.
    pub fn reset(&self) {
        let Ok(mut s) = self.inner.lock() else { return };
        let active = std::mem::take(&mut s.active);
        for (name, (alert, at)) in active {
            if let Some(kind) = AlertKind::parse(name) {
                s.push(kind, false, alert, Some(at.elapsed()), true);
            }
        }
        s.cache.clear();
        s.pool_waiting_since = None;
        drop(s);
        self.changed.notify_one();
    }

    /// Judges `now` against the thresholds, raising and clearing alerts.
    pub fn evaluate(&self, cfg: &OpsConfig, now: Inputs) {
        let Ok(mut s) = self.inner.lock() else { return };
        let seq = s.seq;
        let at = Instant::now();
        // Last minute of cache lookups.
        s.cache.push_back((at, now.cache_hits, now.cache_misses));
        while s
            .cache
            .front()
            .is_some_and(|(t, ..)| at.duration_since(*t).as_secs() > 60)
        {
            s.cache.pop_front();
        }
        let (hits, misses) = s.cache.front().map_or((0, 0), |(_, h, m)| {
            (
                now.cache_hits.saturating_sub(*h),
                now.cache_misses.saturating_sub(*m),
            )
        });
        let lookups = hits + misses;
        s.pool_waiting_since = match (now.pool_waiting, s.pool_waiting_since) {
            (0, _) => None,
            (_, None) => Some(at),
            (_, since) => since,
        };
        let enough = now.requests >= cfg.alert_min_samples;

        let p95_ms = now.p95_us as f64 / 1000.0;
        let threshold = cfg.alert_p95_ms as f64;
        s.judge(
            AlertKind::SlowResponses,
            enough && p95_ms > threshold,
            p95_ms,
            threshold,
            || format!("p95 response time {p95_ms:.0} ms over the last minute (threshold {threshold} ms)"),
        );
        s.judge(
            AlertKind::ErrorRate,
            enough && now.error_rate > cfg.alert_error_rate,
            now.error_rate,
            cfg.alert_error_rate,
            || {
                format!(
                    "{:.1} % of requests failed with 5xx over the last minute (threshold {} %)",
                    now.error_rate, cfg.alert_error_rate
                )
            },
        );
        let limit = cfg.memory_limit_mb as f64 * 1024.0 * 1024.0;
        let memory = 100.0 * now.rss as f64 / limit;
        s.judge(
            AlertKind::Memory,
            memory > cfg.alert_memory_percent,
            (memory * 10.0).round() / 10.0,
            cfg.alert_memory_percent,
            || {
                format!(
                    "resident memory {} MiB is {memory:.1} % of the {} MiB limit (threshold {} %)",
                    now.rss / (1024 * 1024),
                    cfg.memory_limit_mb,
                    cfg.alert_memory_percent
                )
            },
        );
        let hit_rate = if lookups == 0 {
            100.0
        } else {
            100.0 * hits as f64 / lookups as f64
        };
        s.judge(
            AlertKind::CacheHitRate,
            lookups >= cfg.alert_min_samples && hit_rate < cfg.alert_cache_hit_rate,
            (hit_rate * 10.0).round() / 10.0,
            cfg.alert_cache_hit_rate,
            || {
                format!(
                    "cache hit rate {hit_rate:.1} % over the last minute (threshold {} %)",
                    cfg.alert_cache_hit_rate
                )
            },
        );
        let waited = s
            .pool_waiting_since
            .map_or(0, |t| at.duration_since(t).as_secs());
        s.judge(
            AlertKind::PoolWaiting,
            now.pool_waiting > 0 && waited >= cfg.alert_pool_wait_secs,
            now.pool_waiting as f64,
            0.0,
            || {
                format!(
                    "{} requests waiting for a database connection, for {waited} s",
                    now.pool_waiting
                )
            },
        );
        let changed = s.seq != seq;
        drop(s);
        if changed {
            self.changed.notify_one();
        }
    }

    /// Judges the quotas of the last check against `ALERT_QUOTA_PERCENT`. A quota that could
    /// not be measured, or has no limit, keeps its alert as it was.
    pub fn evaluate_quotas(&self, cfg: &OpsConfig, quota: &QuotaReport) {
        let Ok(mut s) = self.inner.lock() else { return };
        let seq = s.seq;
        let threshold = cfg.alert_quota_percent;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        if let Some(db) = &quota.database
            && let (Some(percent), Some(limit)) = (db.percent, db.limit_bytes)
        {
            s.judge(
                AlertKind::DatabaseQuota,
                percent > threshold,
                percent,
                threshold,
                || {
                    format!(
                        "the database holds {:.1} MiB, {percent:.1} % of DATABASE_QUOTA_MB ({:.0} MiB; threshold {threshold} %)",
                        mib(db.used_bytes),
                        mib(limit)
                    )
                },
            );
        }
        if let Some(redis) = &quota.redis
            && let (Some(percent), Some(limit)) = (redis.percent, redis.limit_bytes)
        {
            s.judge(
                AlertKind::RedisQuota,
                percent > threshold,
                percent,
                threshold,
                || {
                    format!(
                        "Redis uses {:.1} MiB, {percent:.1} % of its {:.0} MiB limit (threshold {threshold} %)",
                        mib(redis.used_bytes),
                        mib(limit)
                    )
                },
            );
        }
        if let Some(c) = &quota.connections {
            s.judge(
                AlertKind::ConnectionQuota,
                c.percent > threshold,
                c.percent,
                threshold,
                || {
                    format!(
                        "{} connections open on the PostgreSQL server, {:.1} % of the {} it allows (threshold {threshold} %)",
                        c.in_use, c.percent, c.available
                    )
                },
            );
        }
        let changed = s.seq != seq;
        drop(s);
        if changed {
            self.changed.notify_one();
        }
    }
}

impl State {
    fn judge(
        &mut self,
        kind: AlertKind,
        firing: bool,
        value: f64,
        threshold: f64,
        message: impl FnOnce() -> String,
    ) {
        let name = kind.name();
        match (firing, self.active.get_mut(name)) {
            (true, Some((alert, _))) => {
                alert.value = value;
                alert.message = message();
            }
            (true, None) => {
                let critical = kind.critical(value, threshold);
                let alert = Alert {
                    name: name.to_owned(),
                    severity: if critical { "critical" } else { "warning" }.to_owned(),
                    message: message(),
                    value,
                    threshold,
                    since: jsontime::now(),
                };
                tracing::warn!(
                    alert = name,
                    value,
                    threshold,
                    "alert raised: {}",
                    alert.message
                );
                self.active.insert(name, (alert.clone(), Instant::now()));
                self.push(kind, true, alert, None, false);
            }
            (false, Some(_)) => {
                if let Some((mut alert, at)) = self.active.remove(name) {
                    tracing::info!(alert = name, value, threshold, "alert cleared");
                    alert.value = value;
                    alert.message = message();
                    self.push(kind, false, alert, Some(at.elapsed()), false);
                }
            }
            (false, None) => {}
        }
    }

    fn push(
        &mut self,
        kind: AlertKind,
        raised: bool,
        alert: Alert,
        lasted: Option<Duration>,
        by_reset: bool,
    ) {
        self.seq += 1;
        if self.log.len() == LOG {
            self.log.pop_front();
        }
        self.log.push_back(Change {
            seq: self.seq,
            kind,
            raised,
            alert,
            lasted,
            by_reset,
        });
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn config() -> OpsConfig {
        crate::cli::Cli::try_parse_from(["elearning-api"])
            .map(|c| c.config.ops)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn names(a: &Alerts) -> Vec<String> {
        a.active().into_iter().map(|a| a.name).collect()
    }

    #[test]
    fn alerts_rise_past_their_thresholds_and_clear_below_them() {
        let cfg = config();
        let alerts = Alerts::default();
        let calm = Inputs {
            requests: 100,
            p95_us: 20_000,
            rss: 50 << 20,
            ..Inputs::default()
        };
        alerts.evaluate(&cfg, calm);
        assert!(names(&alerts).is_empty());

        // p95 of 1.5 s, 8 % errors, 500 MiB of 512.
        let bad = Inputs {
            p95_us: 1_500_000,
            error_rate: 8.0,
            rss: 500 << 20,
            ..calm
        };
        alerts.evaluate(&cfg, bad);
        assert_eq!(names(&alerts), ["error_rate", "memory", "slow_responses"]);
        let slow = alerts
            .active()
            .into_iter()
            .find(|a| a.name == "slow_responses")
            .map(|a| (a.value, a.threshold, a.severity));
        assert_eq!(slow, Some((1500.0, 1000.0, "warning".to_owned())));

        // Too few requests to judge rates: only memory stays.
        alerts.evaluate(&cfg, Inputs { requests: 3, ..bad });
        assert_eq!(names(&alerts), ["memory"]);
        alerts.evaluate(&cfg, calm);
        assert!(names(&alerts).is_empty());
    }

    #[test]
    fn the_pool_alert_needs_a_sustained_wait_and_the_hit_rate_a_minute_of_lookups() {
        let mut cfg = config();
        cfg.alert_pool_wait_secs = 0;
        let alerts = Alerts::default();
        let base = Inputs {
            requests: 100,
            cache_hits: 1000,
            cache_misses: 0,
            ..Inputs::default()
        };
        alerts.evaluate(&cfg, base);
        // Since the first evaluation: 10 hits, 90 misses.
        alerts.evaluate(
            &cfg,
            Inputs {
                cache_hits: 1010,
                cache_misses: 90,
                pool_waiting: 2,
                ..base
            },
        );
        assert_eq!(names(&alerts), ["cache_hit_rate", "pool_waiting"]);
        let pool = alerts
            .active()
            .into_iter()
            .find(|a| a.name == "pool_waiting");
        assert_eq!(pool.map(|a| a.severity), Some("critical".to_owned()));

        cfg.alert_pool_wait_secs = 30;
        let fresh = Alerts::default();
        fresh.evaluate(
            &cfg,
            Inputs {
                pool_waiting: 2,
                ..base
            },
        );
        assert!(names(&fresh).is_empty(), "a brief wait is not an alert");
    }

    #[test]
    fn changes_are_logged_once_each_and_reset_clears_what_was_raised() {
        let cfg = config();
        let alerts = Alerts::default();
        let calm = Inputs {
            requests: 100,
            p95_us: 20_000,
            rss: 50 << 20,
            ..Inputs::default()
        };
        alerts.evaluate(
            &cfg,
            Inputs {
                p95_us: 1_500_000,
                ..calm
            },
        );
        // Still raised: the figure moves, no new change.
        alerts.evaluate(
            &cfg,
            Inputs {
                p95_us: 1_600_000,
                ..calm
            },
        );
        alerts.evaluate(&cfg, calm);
        let (changes, lost) = alerts.changes_after(0);
        assert!(!lost);
        let seen: Vec<_> = changes.iter().map(|c| (c.seq, c.kind, c.raised)).collect();
        assert_eq!(
            seen,
            [
                (1, AlertKind::SlowResponses, true),
                (2, AlertKind::SlowResponses, false)
            ]
        );
        assert_eq!(changes[0].alert.value, 1500.0);
        assert_eq!(changes[1].alert.value, 20.0, "the figure that cleared it");
        assert!(changes[1].lasted.is_some() && !changes[1].by_reset);

        alerts.evaluate(
            &cfg,
            Inputs {
                error_rate: 9.0,
                ..calm
            },
        );
        alerts.reset();
        let (changes, _) = alerts.changes_after(2);
        let seen: Vec<_> = changes
            .iter()
            .map(|c| (c.seq, c.kind, c.raised, c.by_reset))
            .collect();
        assert_eq!(
            seen,
            [
                (3, AlertKind::ErrorRate, true, false),
                (4, AlertKind::ErrorRate, false, true)
            ]
        );
        assert!(alerts.active().is_empty());
        for kind in AlertKind::ALL {
            assert_eq!(AlertKind::parse(kind.name()), Some(kind));
        }
    }

    #[test]
    fn quotas_alert_past_their_share_only_when_they_have_a_limit() {
        use crate::ops::quota::{ConnectionQuota, DatabaseQuota, QuotaReport, RedisQuota};
        let cfg = config();
        let alerts = Alerts::default();
        let mib = 1024 * 1024;
        let report = |used_mib: u64| QuotaReport {
            alert_percent: 80.0,
            database: Some(DatabaseQuota {
                used_bytes: used_mib * mib,
                limit_bytes: Some(1024 * mib),
                percent: Some((used_mib * 1000 / 1024) as f64 / 10.0),
                checked_at: String::new(),
            }),
            redis: Some(RedisQuota {
                used_bytes: 900 * mib,
                limit_bytes: None,
                limit_source: None,
                percent: None,
                eviction_policy: "noeviction".to_owned(),
                checked_at: String::new(),
            }),
            connections: Some(ConnectionQuota {
                server_max: 100,
                reserved: 3,
                available: 97,
                in_use: 50,
                this_service: 10,
                pool_max: 20,
                percent: 51.5,
                checked_at: String::new(),
            }),
        };
        alerts.evaluate_quotas(&cfg, &report(900));
        assert_eq!(names(&alerts), ["quota_database"], "Redis has no limit");
        let raised = alerts.active();
        assert_eq!(raised[0].severity, "warning");
        assert_eq!(raised[0].threshold, 80.0);
        assert!(
            raised[0].message.contains("900.0 MiB"),
            "{}",
            raised[0].message
        );

        // Not measured this time: the alert stays as it was.
        alerts.evaluate_quotas(&cfg, &QuotaReport::default());
        assert_eq!(names(&alerts), ["quota_database"]);
        alerts.evaluate_quotas(&cfg, &report(100));
        assert!(names(&alerts).is_empty());
        alerts.evaluate_quotas(&cfg, &report(1000));
        assert_eq!(
            alerts.active()[0].severity,
            "critical",
            "97.6 % is past 95 %"
        );
    }
}
