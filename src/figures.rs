//! Request figures collected on the hot path: requests and errors per route, latency
//! histograms (microseconds, HdrHistogram with two significant digits), and a per-second
//! history of the last minutes for rates, percentiles and the dashboard's charts.
//!
//! Recording a request costs two uncontended-in-the-common-case locks and a few atomics: the
//! route's cumulative histogram and the current second's. [`Figures::tick`] (every second, from
//! a background task) turns the second that just ended into a history point, so nothing on the
//! request path sorts or merges.

use std::{
    collections::VecDeque,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use dashmap::DashMap;
use hdrhistogram::Histogram;
use serde::Serialize;
use utoipa::ToSchema;

/// Slowest latency tracked exactly; slower requests are recorded as this (60 s).
const MAX_MICROS: u64 = 60_000_000;
/// The health check's route, whose 503s are not counted as errors in the error rate.
pub const HEALTH_ROUTE: &str = "/api/performance/health";
/// Seconds in the rolling window of the "last minute" figures.
const WINDOW: usize = 60;
/// Seconds of history kept for the charts.
const HISTORY: usize = 300;

fn histogram() -> Histogram<u64> {
    // Two significant digits from 1 µs to 60 s: about 30 KB per histogram. The bounds are
    // constants that `new_with_bounds` accepts, so this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_MICROS, 2).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS)
}

/// Cumulative figures of one route (method and template).
struct RouteFigures {
    method: axum::http::Method,
    route: String,
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    latency: Mutex<Histogram<u64>>,
}

/// One second of traffic.
struct Second {
    /// Seconds since start this slot holds.
    at: u64,
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
}

/// A point of the history: one second.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Unix time of the second, in milliseconds.
    pub t: i64,
    /// Requests answered in that second.
    pub requests: u64,
    /// 5xx answers in that second.
    pub errors: u64,
    /// Median latency, µs (0 when idle).
    pub p50_us: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
}

/// Figures of one route.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteStats {
    /// HTTP method.
    pub method: String,
    /// Route template (`/api/courses/{id}`).
    pub route: String,
    /// Requests since start (or the last reset).
    pub requests: u64,
    /// 4xx answers.
    pub client_errors: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Slowest, µs.
    pub max_us: u64,
}

/// Request figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestStats {
    /// Requests since start (or the last reset).
    pub total: u64,
    /// 4xx answers since start.
    pub client_errors: u64,
    /// 5xx answers since start.
    pub server_errors: u64,
    /// Requests per second over the last minute (or since start, when younger).
    pub per_second: f64,
    /// Share of 5xx answers over the last minute, in % (a health check's 503 excluded: it
    /// reports a dependency's state by design).
    pub error_rate: f64,
    /// Requests in the last minute.
    pub last_minute: u64,
    /// Median latency over the last minute, µs.
    pub p50_us: u64,
    /// 95th percentile over the last minute, µs.
    pub p95_us: u64,
    /// 99th percentile over the last minute, µs.
    pub p99_us: u64,
    /// Mean latency over the last minute, µs.
    pub mean_us: f64,
    /// Per route, busiest first.
    pub routes: Vec<RouteStats>,
}

/// The last minute in brief.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Requests.
    pub requests: u64,
    /// 5xx answers.
    pub errors: u64,
    /// 5xx share, %.
    pub error_rate: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Mean latency, µs.
    pub mean_us: f64,
    /// Fastest answer, µs (0 when idle).
    pub min_us: u64,
    /// Slowest answer, µs.
    pub max_us: u64,
}

/// A route's cumulative figures with a copy of its latency histogram (for the day's figures,
/// once a minute).
pub struct RouteSnapshot {
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// Requests.
    pub requests: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Latency, µs.
    pub latency: Histogram<u64>,
}

/// A route's cumulative figures, for Prometheus.
#[derive(Debug)]
pub struct RouteSeries {
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// Requests.
    pub requests: u64,
    /// 4xx.
    pub client_errors: u64,
    /// 5xx.
    pub server_errors: u64,
    /// Sum of latencies, seconds.
    pub latency_sum: f64,
    /// Requests per latency bucket (upper bound in seconds, non-cumulative), ending with +Inf.
    pub buckets: Vec<(f64, u64)>,
}

/// Bucket bounds of the Prometheus latency histogram, seconds.
const BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// All request figures of the instance.
pub struct Figures {
    started: Instant,
    /// By a hash of method and route template (found without allocating).
    routes: DashMap<u64, RouteFigures>,
    hasher: std::collections::hash_map::RandomState,
    seconds: Vec<Mutex<Second>>,
    history: Mutex<VecDeque<Point>>,
    /// Seconds since start already turned into history points.
    closed: AtomicU64,
}

impl Default for Figures {
    fn default() -> Self {
        Self::new()
    }
}

impl Figures {
    /// Empty figures.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            routes: DashMap::new(),
            hasher: std::collections::hash_map::RandomState::new(),
            seconds: (0..WINDOW + 1)
                .map(|_| {
                    Mutex::new(Second {
                        at: u64::MAX,
                        requests: 0,
                        errors: 0,
                        latency: histogram(),
                    })
                })
                .collect(),
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            closed: AtomicU64::new(0),
        }
    }

    fn now_second(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Records one answered request.
    pub fn record(&self, method: &axum::http::Method, route: &str, status: u16, took: Duration) {
        let us = micros(took);
        let server_error = status >= 500;
        let client_error = (400..500).contains(&status);
        let bump = |f: &RouteFigures| {
            f.requests.fetch_add(1, Ordering::Relaxed);
            if server_error {
                f.server_errors.fetch_add(1, Ordering::Relaxed);
            } else if client_error {
                f.client_errors.fetch_add(1, Ordering::Relaxed);
            }
            if let Ok(mut h) = f.latency.lock() {
                h.saturating_record(us);
            }
        };
        // Route templates are a fixed set (unmatched paths share one), so the map stays small.
        let key = std::hash::BuildHasher::hash_one(&self.hasher, (method, route));
        match self.routes.get(&key) {
            Some(f) => bump(&f),
            None => bump(&self.routes.entry(key).or_insert_with(|| RouteFigures {
                method: method.clone(),
                route: route.to_owned(),
                requests: AtomicU64::new(0),
                client_errors: AtomicU64::new(0),
                server_errors: AtomicU64::new(0),
                latency: Mutex::new(histogram()),
            })),
        }
        let now = self.now_second();
        if let Ok(mut s) = self.seconds[now as usize % self.seconds.len()].lock() {
            if s.at != now {
                s.at = now;
                s.requests = 0;
                s.errors = 0;
                s.latency.reset();
            }
            s.requests += 1;
            // A health check's 503 reports a dependency's state to the load balancer by design;
            // it is not a failed request (it still counts in the route's own figures).
            if server_error && route != HEALTH_ROUTE {
                s.errors += 1;
            }
            s.latency.saturating_record(us);
        }
    }

    /// Turns the seconds that ended since the last call into history points. Called every
    /// second by a background task.
    pub fn tick(&self) {
        let now = self.now_second();
        let from = self.closed.swap(now, Ordering::AcqRel);
        let from = from.max(now.saturating_sub(WINDOW as u64));
        let epoch_ms = chrono::Utc::now().timestamp_millis()
            - i64::try_from(self.started.elapsed().as_millis()).unwrap_or(0);
        let Ok(mut history) = self.history.lock() else {
            return;
        };
        for second in from..now {
            let point = match self.seconds[second as usize % self.seconds.len()].lock() {
                Ok(s) if s.at == second => Point {
                    t: epoch_ms + i64::try_from(second * 1000).unwrap_or(0),
                    requests: s.requests,
                    errors: s.errors,
                    p50_us: s.latency.value_at_quantile(0.5),
                    p95_us: s.latency.value_at_quantile(0.95),
                    p99_us: s.latency.value_at_quantile(0.99),
                },
                _ => Point {
                    t: epoch_ms + i64::try_from(second * 1000).unwrap_or(0),
                    requests: 0,
                    errors: 0,
                    p50_us: 0,
                    p95_us: 0,
                    p99_us: 0,
                },
            };
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(point);
        }
    }

    /// The per-second history, oldest first (at most five minutes).
    pub fn history(&self) -> Vec<Point> {
        self.history
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The last minute in brief (for the alerts, every second): requests, 5xx share (%) and
    /// p95 (µs).
    pub fn window(&self) -> Window {
        let now = self.now_second();
        let mut latency = histogram();
        let (mut requests, mut errors) = (0, 0);
        for slot in &self.seconds {
            if let Ok(s) = slot.lock()
                && s.at != u64::MAX
                && s.at + (WINDOW as u64) > now
            {
                requests += s.requests;
                errors += s.errors;
                let _ = latency.add(&s.latency);
            }
        }
        Window {
            requests,
            errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                100.0 * errors as f64 / requests as f64
            },
            p50_us: latency.value_at_quantile(0.5),
            p95_us: latency.value_at_quantile(0.95),
            p99_us: latency.value_at_quantile(0.99),
            mean_us: latency.mean(),
            min_us: if latency.is_empty() { 0 } else { latency.min() },
            max_us: latency.max(),
        }
    }

    /// Each route's cumulative figures with a copy of its histogram. Never on the request path:
    /// copying a histogram holds its lock for a memcpy of about 20 KB.
    pub fn route_snapshots(&self) -> Vec<RouteSnapshot> {
        self.routes
            .iter()
            .filter_map(|e| {
                let f = e.value();
                let latency = f.latency.lock().ok()?.clone();
                Some(RouteSnapshot {
                    method: f.method.to_string(),
                    route: f.route.clone(),
                    requests: f.requests.load(Ordering::Relaxed),
                    server_errors: f.server_errors.load(Ordering::Relaxed),
                    latency,
                })
            })
            .collect()
    }

    /// Figures now: totals since start, rates and percentiles over the last minute.
    pub fn stats(&self) -> RequestStats {
        let w = self.window();
        let span = (self.started.elapsed().as_secs_f64()).clamp(1.0, WINDOW as f64);
        let mut routes: Vec<RouteStats> = self
            .routes
            .iter()
            .map(|e| {
                let f = e.value();
                let (method, route) = (&f.method, &f.route);
                let (p50, p95, p99, max) = f.latency.lock().map_or((0, 0, 0, 0), |h| {
                    (
                        h.value_at_quantile(0.5),
                        h.value_at_quantile(0.95),
                        h.value_at_quantile(0.99),
                        h.max(),
                    )
                });
                RouteStats {
                    method: method.to_string(),
                    route: route.clone(),
                    requests: f.requests.load(Ordering::Relaxed),
                    client_errors: f.client_errors.load(Ordering::Relaxed),
                    server_errors: f.server_errors.load(Ordering::Relaxed),
                    p50_us: p50,
                    p95_us: p95,
                    p99_us: p99,
                    max_us: max,
                }
            })
            .collect();
        routes.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.route.cmp(&b.route)));
        RequestStats {
            total: routes.iter().map(|r| r.requests).sum(),
            client_errors: routes.iter().map(|r| r.client_errors).sum(),
            server_errors: routes.iter().map(|r| r.server_errors).sum(),
            per_second: round2(w.requests as f64 / span),
            error_rate: round2(w.error_rate),
            last_minute: w.requests,
            p50_us: w.p50_us,
            p95_us: w.p95_us,
            p99_us: w.p99_us,
            mean_us: round2(w.mean_us),
            routes,
        }
    }

    /// Cumulative per-route series for Prometheus.
    pub fn series(&self) -> Vec<RouteSeries> {
        let mut out: Vec<RouteSeries> = self
            .routes
            .iter()
            .map(|e| {
                let f = e.value();
                let (method, route) = (&f.method, &f.route);
                let (sum, buckets) = f.latency.lock().map_or((0.0, Vec::new()), |h| {
                    let mut buckets = Vec::with_capacity(BUCKETS.len() + 1);
                    let mut below = 0;
                    for bound in BUCKETS {
                        let upto = h.count_between(1, (bound * 1e6) as u64);
                        buckets.push((bound, upto.saturating_sub(below)));
                        below = upto;
                    }
                    buckets.push((f64::INFINITY, h.len().saturating_sub(below)));
                    (h.mean() * h.len() as f64 / 1e6, buckets)
                });
                RouteSeries {
                    method: method.to_string(),
                    route: route.clone(),
                    requests: f.requests.load(Ordering::Relaxed),
                    client_errors: f.client_errors.load(Ordering::Relaxed),
                    server_errors: f.server_errors.load(Ordering::Relaxed),
                    latency_sum: sum,
                    buckets,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.route, &a.method).cmp(&(&b.route, &b.method)));
        out
    }

    /// Zeroes every figure (the bot's `/reset`).
    pub fn reset(&self) {
        self.routes.clear();
        for slot in &self.seconds {
            if let Ok(mut s) = slot.lock() {
                s.at = u64::MAX;
                s.requests = 0;
                s.errors = 0;
                s.latency.reset();
            }
        }
        if let Ok(mut h) = self.history.lock() {
            h.clear();
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_errors_follow_what_was_recorded() {
        let f = Figures::new();
        let get = axum::http::Method::GET;
        for i in 1..=100u64 {
            f.record(&get, "/api/courses", 200, Duration::from_micros(i * 10));
        }
        f.record(&get, "/api/courses", 503, Duration::from_micros(5));
        f.record(&get, "/api/users", 404, Duration::from_micros(5));
        let s = f.stats();
        assert_eq!(s.total, 102);
        assert_eq!(s.server_errors, 1);
        assert_eq!(s.client_errors, 1);
        assert_eq!(s.last_minute, 102);
        assert!((480..=520).contains(&s.p50_us), "{}", s.p50_us);
        assert!((940..=1000).contains(&s.p95_us), "{}", s.p95_us);
        assert_eq!(s.routes[0].route, "/api/courses");
        assert_eq!(s.routes[0].requests, 101);
        let series = f.series();
        let courses = series
            .iter()
            .find(|r| r.route == "/api/courses")
            .expect("route");
        assert_eq!(courses.buckets.iter().map(|b| b.1).sum::<u64>(), 101);
        assert_eq!(courses.buckets.last().map(|b| b.0), Some(f64::INFINITY));
        f.reset();
        assert_eq!(f.stats().total, 0);
    }
}
