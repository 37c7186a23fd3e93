//! Alerts with the seed's thresholds (all configurable, see [`crate::config::OpsConfig`]):
//! p95 response time, error rate, memory against the configured limit, cache hit rate, and
//! requests waiting for a database connection for a sustained period. Evaluated every second
//! by a background task; raising and clearing each write one log line, and the active ones
//! show in `GET /api/performance/stats`, `/metrics`, the dashboard and the bot.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
    time::Instant,
};

use serde::Serialize;
use utoipa::ToSchema;

use crate::{config::OpsConfig, jsontime};

/// An active alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `slow_responses`, `error_rate`, `memory`, `cache_hit_rate` or `pool_waiting`.
    pub name: String,
    /// `warning` or `critical` (over twice the threshold, or the pool starved).
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

/// Alert state of the instance.
#[derive(Default)]
pub struct Alerts {
    inner: Mutex<State>,
}

#[derive(Default)]
struct State {
    active: BTreeMap<&'static str, Alert>,
    /// Cumulative (hits, misses) once per evaluation, for the last minute's hit rate.
    cache: VecDeque<(Instant, u64, u64)>,
    pool_waiting_since: Option<Instant>,
}

impl Alerts {
    /// The active alerts, by name.
    pub fn active(&self) -> Vec<Alert> {
        self.inner
            .lock()
            .map(|s| s.active.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets the active alerts and the history they judge (the bot's `/reset`).
    pub fn reset(&self) {
        if let Ok(mut s) = self.inner.lock() {
            *s = State::default();
        }
    }

    /// Judges `now` against the thresholds, raising and clearing alerts.
    pub fn evaluate(&self, cfg: &OpsConfig, now: Inputs) {
        let Ok(mut s) = self.inner.lock() else { return };
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
            "slow_responses",
            enough && p95_ms > threshold,
            p95_ms,
            threshold,
            || format!("p95 response time {p95_ms:.0} ms over the last minute (threshold {threshold} ms)"),
        );
        s.judge(
            "error_rate",
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
            "memory",
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
            "cache_hit_rate",
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
            "pool_waiting",
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
    }
}

impl State {
    fn judge(
        &mut self,
        name: &'static str,
        firing: bool,
        value: f64,
        threshold: f64,
        message: impl FnOnce() -> String,
    ) {
        match (firing, self.active.get_mut(name)) {
            (true, Some(alert)) => {
                alert.value = value;
                alert.message = message();
            }
            (true, None) => {
                let critical = name == "pool_waiting"
                    || (threshold > 0.0 && name != "cache_hit_rate" && value > 2.0 * threshold);
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
                self.active.insert(name, alert);
            }
            (false, Some(_)) => {
                self.active.remove(name);
                tracing::info!(alert = name, value, threshold, "alert cleared");
            }
            (false, None) => {}
        }
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
}
