//! What the simulated users saw, per endpoint: latency in microseconds (HdrHistogram), status
//! codes, unexpected answers and the `X-Cache` verdicts. Goose schedules the users; this keeps
//! the figures the verdict needs, phase by phase.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{LazyLock, Mutex},
    time::Duration,
};

use hdrhistogram::Histogram;
use serde::Serialize;

/// One request's outcome.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// The status, or `None` when the request failed before an answer (refused, reset, timeout).
    pub status: Option<u16>,
    /// Time to the whole response body.
    pub elapsed: Duration,
    /// Whether the status is one the scenario expects (a 2xx, or e.g. a 409 for a quiz attempt
    /// beyond the allowed number).
    pub expected: bool,
    /// The `X-Cache` header, when the endpoint is cacheable.
    pub cache: Option<CacheVerdict>,
}

/// The `X-Cache` header's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheVerdict {
    /// `HIT-MEMORY` or `HIT-REDIS`.
    Hit,
    /// `MISS`.
    Miss,
    /// `BYPASS` (the cache is off).
    Bypass,
}

impl CacheVerdict {
    /// Parses the header value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "HIT-MEMORY" | "HIT-REDIS" => Some(Self::Hit),
            "MISS" => Some(Self::Miss),
            "BYPASS" => Some(Self::Bypass),
            _ => None,
        }
    }
}

/// Figures for one endpoint (a method and a path template).
#[derive(Debug, Clone)]
pub struct Endpoint {
    latency_us: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    unexpected: u64,
    cache_hits: u64,
    cache_misses: u64,
}

impl Endpoint {
    fn new() -> Self {
        Self {
            // 1 µs to 2 minutes, 3 significant digits.
            latency_us: Histogram::new_with_bounds(1, 120_000_000, 3)
                .expect("constant histogram bounds are valid"),
            statuses: BTreeMap::new(),
            transport_errors: 0,
            unexpected: 0,
            cache_hits: 0,
            cache_misses: 0,
        }
    }

    fn add(&mut self, o: &Outcome) {
        let us = u64::try_from(o.elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_us.saturating_record(us);
        match o.status {
            Some(s) => *self.statuses.entry(s).or_default() += 1,
            None => self.transport_errors += 1,
        }
        if !o.expected {
            self.unexpected += 1;
        }
        match o.cache {
            Some(CacheVerdict::Hit) => self.cache_hits += 1,
            Some(CacheVerdict::Miss) => self.cache_misses += 1,
            _ => {}
        }
    }

    fn merge(&mut self, other: &Self) {
        let _ = self.latency_us.add(&other.latency_us);
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.unexpected += other.unexpected;
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
    }

    /// A summary for the report.
    pub fn summary(&self, name: &str, seconds: f64) -> EndpointSummary {
        let h = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        let requests = h.len();
        EndpointSummary {
            endpoint: name.to_owned(),
            requests,
            rps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
            statuses: self
                .statuses
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            transport_errors: self.transport_errors,
            unexpected: self.unexpected,
            cache_hits: self.cache_hits,
            cache_misses: self.cache_misses,
        }
    }
}

/// One endpoint in the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSummary {
    pub endpoint: String,
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub statuses: BTreeMap<String, u64>,
    pub transport_errors: u64,
    pub unexpected: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

impl EndpointSummary {
    /// Hits over hits and misses (`X-Cache`), when the endpoint is cacheable.
    pub fn hit_percent(&self) -> Option<f64> {
        let lookups = self.cache_hits + self.cache_misses;
        (lookups > 0).then(|| self.cache_hits as f64 * 100.0 / lookups as f64)
    }
}

/// The figures of one phase, per endpoint and over all of them.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    endpoints: HashMap<&'static str, Endpoint>,
}

impl Snapshot {
    /// All endpoints merged.
    pub fn total(&self) -> Endpoint {
        let mut all = Endpoint::new();
        for e in self.endpoints.values() {
            all.merge(e);
        }
        all
    }

    /// Per-endpoint summaries, busiest first.
    pub fn endpoints(&self, seconds: f64) -> Vec<EndpointSummary> {
        let mut v: Vec<_> = self
            .endpoints
            .iter()
            .map(|(name, e)| e.summary(name, seconds))
            .collect();
        v.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then(a.endpoint.cmp(&b.endpoint))
        });
        v
    }
}

static RECORDER: LazyLock<Mutex<Snapshot>> = LazyLock::new(|| Mutex::new(Snapshot::default()));

/// Records one request.
pub fn record(endpoint: &'static str, outcome: &Outcome) {
    let mut guard = RECORDER.lock().unwrap_or_else(|p| p.into_inner());
    guard
        .endpoints
        .entry(endpoint)
        .or_insert_with(Endpoint::new)
        .add(outcome);
}

/// Takes what was recorded since the last call and starts afresh.
pub fn take() -> Snapshot {
    let mut guard = RECORDER.lock().unwrap_or_else(|p| p.into_inner());
    std::mem::take(&mut *guard)
}

/// A copy of what was recorded so far, leaving it in place.
pub fn peek() -> Snapshot {
    RECORDER.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
