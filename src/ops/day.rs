//! The last 24 hours by the hour, for the daily summary: requests, 5xx, latency, cache lookups,
//! peak memory, pool saturation, alerts raised, and the same per route.
//!
//! Nothing here runs on a request's path. Once a minute, [`DayFigures::collect`] takes what the
//! request figures ([`crate::figures`]) and the cache counted since the previous minute (the
//! difference of their cumulative counters and histograms) into the current hour; the figures
//! loop adds a sample of memory and pool each second. Each hour is kept twice:
//!
//! - in this instance's memory (the last 25 hours), for a summary when Redis is unreachable;
//! - in Redis, one hash per hour (`<prefix>ops:day:<unix hour>`, kept 26 hours) that every
//!   instance adds its minutes to with one script ([`WRITE`]): counts are added, peaks kept at
//!   their maximum. What could not be written stays pending and goes with the next write.
//!
//! Latency is kept as a coarse histogram: four buckets per doubling (each about 19 % wide), from
//! 1 µs to two minutes, so hours and instances merge by adding counts, and a percentile is read
//! within ±10 %.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::Duration,
};

use fred::types::scripts::Script;
use hdrhistogram::Histogram;

use crate::{cache::CacheStats, figures::Figures, state::AppState};

/// Coarse latency buckets: `4 × log2(µs)`, up to 2^27 µs (134 s).
const BUCKETS: u16 = 108;
/// Hours kept in memory.
const KEEP_HOURS: i64 = 25;
/// Seconds a Redis hour lives.
const REDIS_TTL_SECS: u64 = 26 * 3600;
/// How often the minutes are written to Redis.
const FLUSH_EVERY: Duration = Duration::from_secs(60);
/// Routes left out of the busiest and slowest lists: the platform's and the operators' own
/// calls, not the service's traffic.
const OPERATIONS_ROUTES: [&str; 5] = [
    "/api/health",
    "/api/performance/health",
    "/api/performance/stats",
    "/api/performance/dashboard",
    "/metrics",
];
/// Fewest requests a route needs to be ranked among the slowest (one slow upload says little);
/// when no route has that many, all are ranked.
const SLOWEST_MIN_REQUESTS: u64 = 20;

const WRITE: &str = r"
for i = 2, #ARGV, 3 do
  if ARGV[i] == 'max' then
    if tonumber(ARGV[i + 2]) > tonumber(redis.call('HGET', KEYS[1], ARGV[i + 1]) or '0') then
      redis.call('HSET', KEYS[1], ARGV[i + 1], ARGV[i + 2])
    end
  else
    redis.call('HINCRBY', KEYS[1], ARGV[i + 1], ARGV[i + 2])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1";

const READ: &str = r"
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out";

/// A sparse coarse latency histogram: bucket → count.
pub type Latency = BTreeMap<u16, u64>;

/// One hour of figures, of one instance or merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hour {
    /// Requests answered.
    pub requests: u64,
    /// 5xx answers (a health check's 503 excluded, as in the error-rate alert).
    pub errors: u64,
    /// Cache answers that did not reach the database.
    pub cache_hits: u64,
    /// Cache answers loaded from the database.
    pub cache_misses: u64,
    /// Latency of every request.
    pub latency: Latency,
    /// Highest resident memory of an instance, bytes.
    pub peak_rss: u64,
    /// Highest share of an instance's pool in use, ‰ of `MAX_CONNECTIONS`.
    pub peak_pool_permille: u64,
    /// Seconds during which requests waited for a connection (summed over instances).
    pub pool_wait_secs: u64,
    /// Alerts raised for the fleet, by name.
    pub alerts: BTreeMap<String, u64>,
    /// Per route (`GET /api/courses`).
    pub routes: BTreeMap<String, RouteHour>,
}

/// One route's hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteHour {
    /// Requests.
    pub requests: u64,
    /// 5xx answers.
    pub errors: u64,
    /// Latency.
    pub latency: Latency,
}

fn add_latency(into: &mut Latency, from: &Latency) {
    for (b, n) in from {
        *into.entry(*b).or_default() += n;
    }
}

impl Hour {
    /// Adds `other` to this hour (counts added, peaks kept at their maximum).
    pub fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
        add_latency(&mut self.latency, &other.latency);
        self.peak_rss = self.peak_rss.max(other.peak_rss);
        self.peak_pool_permille = self.peak_pool_permille.max(other.peak_pool_permille);
        self.pool_wait_secs += other.pool_wait_secs;
        for (name, n) in &other.alerts {
            *self.alerts.entry(name.clone()).or_default() += n;
        }
        for (route, r) in &other.routes {
            let into = self.routes.entry(route.clone()).or_default();
            into.requests += r.requests;
            into.errors += r.errors;
            add_latency(&mut into.latency, &r.latency);
        }
    }

    /// The hour as [`WRITE`]'s arguments: `(op, field, value)` triples.
    fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut op = |op: &str, field: String, value: u64| {
            if value > 0 {
                args.extend([op.to_owned(), field, value.to_string()]);
            }
        };
        op("add", "req".into(), self.requests);
        op("add", "err".into(), self.errors);
        op("add", "hit".into(), self.cache_hits);
        op("add", "miss".into(), self.cache_misses);
        for (b, n) in &self.latency {
            op("add", format!("l:{b}"), *n);
        }
        op("max", "rss".into(), self.peak_rss);
        op("max", "pool".into(), self.peak_pool_permille);
        op("add", "wait".into(), self.pool_wait_secs);
        for (name, n) in &self.alerts {
            op("add", format!("a:{name}"), *n);
        }
        for (route, r) in &self.routes {
            op("add", format!("r:{route}|n"), r.requests);
            op("add", format!("r:{route}|e"), r.errors);
            for (b, n) in &r.latency {
                op("add", format!("r:{route}|l:{b}"), *n);
            }
        }
        args
    }

    /// Reads a Redis hour (`HGETALL`'s field, value list); unknown fields are skipped.
    fn from_fields(flat: &[String]) -> Self {
        let mut hour = Self::default();
        for pair in flat.chunks_exact(2) {
            let (field, value) = (pair[0].as_str(), pair[1].parse::<u64>().unwrap_or(0));
            match field {
                "req" => hour.requests = value,
                "err" => hour.errors = value,
                "hit" => hour.cache_hits = value,
                "miss" => hour.cache_misses = value,
                "rss" => hour.peak_rss = value,
                "pool" => hour.peak_pool_permille = value,
                "wait" => hour.pool_wait_secs = value,
                _ => {
                    if let Some(b) = field.strip_prefix("l:").and_then(|b| b.parse().ok()) {
                        hour.latency.insert(b, value);
                    } else if let Some(name) = field.strip_prefix("a:") {
                        hour.alerts.insert(name.to_owned(), value);
                    } else if let Some((route, what)) =
                        field.strip_prefix("r:").and_then(|f| f.rsplit_once('|'))
                    {
                        let r = hour.routes.entry(route.to_owned()).or_default();
                        match what {
                            "n" => r.requests = value,
                            "e" => r.errors = value,
                            _ => {
                                if let Some(b) =
                                    what.strip_prefix("l:").and_then(|b| b.parse().ok())
                                {
                                    r.latency.insert(b, value);
                                }
                            }
                        }
                    }
                }
            }
        }
        hour
    }
}

/// The coarse bucket of a latency.
fn bucket(us: u64) -> u16 {
    if us <= 1 {
        return 0;
    }
    ((us as f64).log2() * 4.0)
        .floor()
        .clamp(0.0, f64::from(BUCKETS - 1)) as u16
}

/// The middle of a bucket (geometric), µs.
fn bucket_value(b: u16) -> u64 {
    2f64.powf((f64::from(b) + 0.5) / 4.0).round() as u64
}

/// The `q` quantile of `latency`, µs (`None` when empty).
pub fn quantile(latency: &Latency, q: f64) -> Option<u64> {
    let total: u64 = latency.values().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (b, n) in latency {
        seen += n;
        if seen >= rank {
            return Some(bucket_value(*b));
        }
    }
    latency.keys().last().map(|b| bucket_value(*b))
}

/// The unix hour of now.
fn this_hour() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(3600)
}

/// What was last collected of a route's cumulative figures.
struct Mark {
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
}

#[derive(Default)]
struct Inner {
    marks: HashMap<(String, String), Mark>,
    cache_mark: (u64, u64),
    /// This instance's hours.
    local: BTreeMap<i64, Hour>,
    /// What Redis has not received yet.
    pending: BTreeMap<i64, Hour>,
}

impl Inner {
    /// Applies `f` to the current hour, locally and in what Redis will receive.
    fn now(&mut self, f: impl Fn(&mut Hour)) {
        let hour = this_hour();
        f(self.local.entry(hour).or_default());
        f(self.pending.entry(hour).or_default());
        let oldest = hour - KEEP_HOURS;
        self.local.retain(|h, _| *h > oldest);
        self.pending.retain(|h, _| *h > oldest);
    }
}

/// The day's figures of this instance.
#[derive(Default)]
pub struct DayFigures {
    inner: Mutex<Inner>,
}

impl DayFigures {
    /// A sample of memory and pool (every second, from the figures loop).
    pub fn sample(&self, rss: u64, pool_in_use: usize, pool_max: usize, pool_waiting: usize) {
        let permille = (pool_in_use * 1000).checked_div(pool_max).unwrap_or(0) as u64;
        if let Ok(mut inner) = self.inner.lock() {
            inner.now(|h| {
                h.peak_rss = h.peak_rss.max(rss);
                h.peak_pool_permille = h.peak_pool_permille.max(permille);
                h.pool_wait_secs += u64::from(pool_waiting > 0);
            });
        }
    }

    /// One raise of `kind` for the fleet.
    pub fn alert_raised(&self, kind: crate::alerts::AlertKind) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.now(|h| *h.alerts.entry(kind.name().to_owned()).or_default() += 1);
        }
    }

    /// Adds what the request figures and the cache counted since the last call to the current
    /// hour. A counter found lower than last time was reset (`/reset`): all of it is new.
    pub fn collect(&self, figures: &Figures, cache: &CacheStats) {
        let routes = figures.route_snapshots();
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let mut delta = Hour::default();
        for snap in routes {
            let key = (snap.method.clone(), snap.route.clone());
            let (requests, errors, latency) = match inner.marks.get(&key) {
                Some(mark) if snap.requests >= mark.requests => {
                    let mut latency = snap.latency.clone();
                    if latency.subtract(&mark.latency).is_err() {
                        latency = snap.latency.clone();
                    }
                    (
                        snap.requests - mark.requests,
                        snap.server_errors.saturating_sub(mark.errors),
                        latency,
                    )
                }
                _ => (snap.requests, snap.server_errors, snap.latency.clone()),
            };
            inner.marks.insert(
                key,
                Mark {
                    requests: snap.requests,
                    errors: snap.server_errors,
                    latency: snap.latency,
                },
            );
            if requests == 0 {
                continue;
            }
            let mut coarse = Latency::new();
            for v in latency.iter_recorded() {
                *coarse.entry(bucket(v.value_iterated_to())).or_default() +=
                    v.count_since_last_iteration();
            }
            delta.requests += requests;
            if snap.route != crate::figures::HEALTH_ROUTE {
                delta.errors += errors;
            }
            add_latency(&mut delta.latency, &coarse);
            delta.routes.insert(
                format!("{} {}", snap.method, snap.route),
                RouteHour {
                    requests,
                    errors,
                    latency: coarse,
                },
            );
        }
        let hits = cache.memory_hits + cache.redis_hits;
        let (last_hits, last_misses) = inner.cache_mark;
        delta.cache_hits = if hits >= last_hits {
            hits - last_hits
        } else {
            hits
        };
        delta.cache_misses = if cache.misses >= last_misses {
            cache.misses - last_misses
        } else {
            cache.misses
        };
        inner.cache_mark = (hits, cache.misses);
        inner.now(|h| h.merge(&delta));
    }

    /// This instance's hours of the last 24 hours.
    pub fn local_hours(&self) -> Vec<Hour> {
        let from = this_hour() - 23;
        self.inner
            .lock()
            .map(|i| i.local.range(from..).map(|(_, h)| h.clone()).collect())
            .unwrap_or_default()
    }

    fn take_pending(&self) -> BTreeMap<i64, Hour> {
        self.inner
            .lock()
            .map(|mut i| std::mem::take(&mut i.pending))
            .unwrap_or_default()
    }

    /// Puts back what could not be written (merged with what came meanwhile).
    fn restore_pending(&self, unsent: BTreeMap<i64, Hour>) {
        if let Ok(mut inner) = self.inner.lock() {
            for (hour, figures) in unsent {
                inner.pending.entry(hour).or_default().merge(&figures);
            }
        }
    }
}

fn hour_key(state: &AppState, hour: i64) -> String {
    state.redis.key(&format!("ops:day:{hour}"))
}

/// Collects the last minutes and writes what Redis has not received.
pub async fn flush(state: &AppState) -> Result<(), fred::error::Error> {
    state.ops.day.collect(&state.figures, &state.cache.stats());
    let mut pending = state.ops.day.take_pending();
    let script = Script::from_lua(WRITE);
    while let Some((hour, figures)) = pending.pop_first() {
        let mut args = vec![REDIS_TTL_SECS.to_string()];
        args.extend(figures.to_args());
        if args.len() == 1 {
            continue;
        }
        let written: Result<i64, _> = script
            .evalsha_with_reload(state.redis.client(), vec![hour_key(state, hour)], args)
            .await;
        if let Err(err) = written {
            pending.insert(hour, figures);
            state.ops.day.restore_pending(pending);
            return Err(err);
        }
    }
    Ok(())
}

/// The fleet's hours of the last 24 hours, from Redis.
pub async fn fleet_hours(state: &AppState) -> Result<Vec<Hour>, fred::error::Error> {
    let now = this_hour();
    let keys: Vec<String> = (now - 23..=now).map(|h| hour_key(state, h)).collect();
    let hours: Vec<Vec<String>> = Script::from_lua(READ)
        .evalsha_with_reload(state.redis.client(), keys, Vec::<String>::new())
        .await?;
    Ok(hours.iter().map(|flat| Hour::from_fields(flat)).collect())
}

/// Writes the minutes to Redis every minute, and once more when the service stops.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let stopping = tokio::select! {
            () = state.shutdown.cancelled() => true,
            _ = tick.tick() => false,
        };
        if let Err(err) = flush(&state).await {
            tracing::debug!(error = %err, "day figures not written to Redis yet");
        }
        if stopping {
            return;
        }
    }
}

/// A route in the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLine {
    /// `GET /api/courses`.
    pub route: String,
    /// Requests.
    pub requests: u64,
    /// 5xx answers.
    pub errors: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
}

/// The last 24 hours, merged.
#[derive(Debug, Clone, PartialEq)]
pub struct DayReport {
    /// Requests.
    pub requests: u64,
    /// 5xx answers.
    pub errors: u64,
    /// 5xx share, %.
    pub error_rate: f64,
    /// Median latency, µs.
    pub p50_us: Option<u64>,
    /// 95th percentile, µs.
    pub p95_us: Option<u64>,
    /// 99th percentile, µs.
    pub p99_us: Option<u64>,
    /// Cache hit rate, % (`None` without lookups).
    pub cache_hit_rate: Option<f64>,
    /// Highest resident memory of an instance, bytes.
    pub peak_rss: u64,
    /// Highest share of an instance's pool in use, %.
    pub peak_pool_percent: f64,
    /// Seconds during which requests waited for a connection.
    pub pool_wait_secs: u64,
    /// Alerts raised, by name, most frequent first.
    pub alerts: Vec<(String, u64)>,
    /// The five busiest routes.
    pub busiest: Vec<RouteLine>,
    /// The five slowest routes by p95.
    pub slowest: Vec<RouteLine>,
}

impl DayReport {
    /// Merges `hours`.
    pub fn of(hours: &[Hour]) -> Self {
        let mut all = Hour::default();
        for h in hours {
            all.merge(h);
        }
        let lookups = all.cache_hits + all.cache_misses;
        let mut alerts: Vec<(String, u64)> = all.alerts.into_iter().collect();
        alerts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let lines: Vec<RouteLine> = all
            .routes
            .iter()
            .filter(|(route, _)| {
                let path = route.split_once(' ').map_or(route.as_str(), |(_, p)| p);
                !OPERATIONS_ROUTES.contains(&path)
            })
            .map(|(route, r)| RouteLine {
                route: route.clone(),
                requests: r.requests,
                errors: r.errors,
                p95_us: quantile(&r.latency, 0.95).unwrap_or(0),
            })
            .collect();
        let mut busiest = lines.clone();
        busiest.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.route.cmp(&b.route)));
        busiest.truncate(5);
        let mut slowest: Vec<RouteLine> = lines
            .iter()
            .filter(|r| r.requests >= SLOWEST_MIN_REQUESTS)
            .cloned()
            .collect();
        if slowest.is_empty() {
            slowest = lines;
        }
        slowest.sort_by(|a, b| b.p95_us.cmp(&a.p95_us).then(a.route.cmp(&b.route)));
        slowest.truncate(5);
        Self {
            requests: all.requests,
            errors: all.errors,
            error_rate: if all.requests == 0 {
                0.0
            } else {
                (10_000.0 * all.errors as f64 / all.requests as f64).round() / 100.0
            },
            p50_us: quantile(&all.latency, 0.5),
            p95_us: quantile(&all.latency, 0.95),
            p99_us: quantile(&all.latency, 0.99),
            cache_hit_rate: (lookups > 0)
                .then(|| (1000.0 * all.cache_hits as f64 / lookups as f64).round() / 10.0),
            peak_rss: all.peak_rss,
            peak_pool_percent: all.peak_pool_permille as f64 / 10.0,
            pool_wait_secs: all.pool_wait_secs,
            alerts,
            busiest,
            slowest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(values: &[(u64, u64)]) -> Latency {
        let mut l = Latency::new();
        for (us, n) in values {
            *l.entry(bucket(*us)).or_default() += n;
        }
        l
    }

    #[test]
    fn coarse_quantiles_stay_within_ten_percent() {
        for us in [1, 7, 150, 999, 12_345, 987_654, 30_000_000] {
            let got = quantile(&latency(&[(us, 1)]), 0.5).unwrap_or(0) as f64;
            let error = (got - us as f64).abs() / us as f64;
            assert!(error <= 0.10 || us < 10, "{us} µs read as {got}");
        }
        // 90 fast, 10 slow: p50 is fast, p95 and p99 slow.
        let l = latency(&[(1_000, 90), (100_000, 10)]);
        assert!(quantile(&l, 0.5) < Some(1_100));
        assert!(quantile(&l, 0.95) > Some(90_000));
        assert_eq!(quantile(&Latency::new(), 0.5), None);
    }

    #[test]
    fn an_hour_survives_redis_and_hours_merge() {
        let mut hour = Hour {
            requests: 120,
            errors: 3,
            cache_hits: 90,
            cache_misses: 10,
            latency: latency(&[(800, 100), (40_000, 20)]),
            peak_rss: 200 << 20,
            peak_pool_permille: 600,
            pool_wait_secs: 4,
            alerts: [("memory".to_owned(), 1)].into(),
            routes: [(
                "GET /api/courses/{id}".to_owned(),
                RouteHour {
                    requests: 120,
                    errors: 3,
                    latency: latency(&[(800, 100), (40_000, 20)]),
                },
            )]
            .into(),
        };
        // What WRITE would store, read back as HGETALL gives it.
        let args = hour.to_args();
        let flat: Vec<String> = args
            .chunks_exact(3)
            .flat_map(|t| [t[1].clone(), t[2].clone()])
            .collect();
        assert_eq!(Hour::from_fields(&flat), hour);

        let other = Hour {
            requests: 30,
            peak_rss: 100 << 20,
            peak_pool_permille: 900,
            ..Hour::default()
        };
        hour.merge(&other);
        assert_eq!(
            (hour.requests, hour.peak_rss, hour.peak_pool_permille),
            (150, 200 << 20, 900)
        );
    }

    #[test]
    fn the_report_ranks_service_routes_and_leaves_health_checks_out() {
        let route = |n, us| RouteHour {
            requests: n,
            errors: 0,
            latency: latency(&[(us, n)]),
        };
        let hour = Hour {
            requests: 5_130,
            errors: 13,
            routes: [
                ("GET /api/performance/health".to_owned(), route(5_000, 50)),
                ("GET /api/courses".to_owned(), route(100, 2_000)),
                (
                    "POST /api/courses/{id}/image".to_owned(),
                    route(25, 300_000),
                ),
                ("GET /api/admin/users".to_owned(), route(5, 9_000_000)),
            ]
            .into(),
            ..Hour::default()
        };
        let report = DayReport::of(&[hour]);
        assert_eq!(report.error_rate, 0.25);
        let busiest: Vec<&str> = report.busiest.iter().map(|r| r.route.as_str()).collect();
        assert_eq!(
            busiest,
            [
                "GET /api/courses",
                "POST /api/courses/{id}/image",
                "GET /api/admin/users"
            ]
        );
        // Five requests are too few to rank among the slowest.
        let slowest: Vec<&str> = report.slowest.iter().map(|r| r.route.as_str()).collect();
        assert_eq!(
            slowest,
            ["POST /api/courses/{id}/image", "GET /api/courses"]
        );
        assert_eq!(report.cache_hit_rate, None);
    }
}
