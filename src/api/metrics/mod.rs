//! `GET /metrics`: the live figures of [`super::operations::snapshot`] in the OpenMetrics text
//! format (which Prometheus scrapes), encoded by `prometheus-client` at scrape time from the
//! same counters the stats endpoint reads, so the two never disagree and the hot path records
//! everything once. The quota and notification families are in [`ops`].

mod ops;

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet, text::encode},
    metrics::MetricType,
    registry::{Registry, Unit},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::operations::{Stats, snapshot};
use crate::{
    alerts::AlertKind,
    error::{AppError, AppResult, ErrorBody},
    extract::auth::Operator,
    state::AppState,
};

/// The `/metrics` route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_metrics))
}

/// Live figures in the Prometheus/OpenMetrics text format (operator token or admin).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_metrics(state: AppState, _op: Operator) -> AppResult<Response> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot {
        stats: snapshot(&state).await,
        series: state.figures.series(),
    }));
    let mut text = String::with_capacity(16 * 1024);
    encode(&mut text, &registry)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding metrics: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// One scrape's figures.
#[derive(Debug)]
struct Snapshot {
    stats: Stats,
    series: Vec<crate::figures::RouteSeries>,
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// Writes one metric family: a value per label set.
fn family<'a, V: Copy>(
    enc: &mut DescriptorEncoder<'_>,
    (name, help, unit, kind): (&str, &str, Option<&Unit>, MetricType),
    points: impl IntoIterator<Item = (Labels<'a>, V)>,
    write: impl Fn(&mut prometheus_client::encoding::MetricEncoder<'_>, V) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, unit, kind)?;
    for (labels, value) in points {
        if labels.is_empty() {
            write(&mut metric, value)?;
        } else {
            write(&mut metric.encode_family(&labels)?, value)?;
        }
    }
    Ok(())
}

fn counter(m: &mut prometheus_client::encoding::MetricEncoder<'_>, v: u64) -> std::fmt::Result {
    m.encode_counter::<NoLabelSet, _, u64>(&v, None)
}

fn gauge(m: &mut prometheus_client::encoding::MetricEncoder<'_>, v: f64) -> std::fmt::Result {
    m.encode_gauge(&v)
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = &self.stats;
        let seconds = Unit::Seconds;
        let bytes = Unit::Bytes;
        let g = |name, help| (name, help, None, MetricType::Gauge);
        let c = |name, help| (name, help, None, MetricType::Counter);

        family(
            &mut enc,
            (
                "elearning_uptime",
                "Time since the instance started.",
                Some(&seconds),
                MetricType::Gauge,
            ),
            [(vec![], s.uptime as f64)],
            gauge,
        )?;

        // Requests per route.
        family(
            &mut enc,
            c(
                "elearning_http_requests",
                "Requests answered, per method and route template.",
            ),
            s.requests.routes.iter().map(|r| {
                (
                    vec![("method", r.method.as_str()), ("route", r.route.as_str())],
                    r.requests,
                )
            }),
            counter,
        )?;
        family(
            &mut enc,
            c(
                "elearning_http_errors",
                "Error answers (class 4xx or 5xx), per method and route template.",
            ),
            s.requests.routes.iter().flat_map(|r| {
                [
                    (
                        vec![
                            ("method", r.method.as_str()),
                            ("route", r.route.as_str()),
                            ("class", "4xx"),
                        ],
                        r.client_errors,
                    ),
                    (
                        vec![
                            ("method", r.method.as_str()),
                            ("route", r.route.as_str()),
                            ("class", "5xx"),
                        ],
                        r.server_errors,
                    ),
                ]
            }),
            counter,
        )?;
        {
            let mut metric = enc.encode_descriptor(
                "elearning_http_request_duration",
                "Time to answer, per method and route template.",
                Some(&seconds),
                MetricType::Histogram,
            )?;
            for r in &self.series {
                let labels: Labels<'_> =
                    vec![("method", r.method.as_str()), ("route", r.route.as_str())];
                metric
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(r.latency_sum, r.requests, &r.buckets, None)?;
            }
        }
        family(
            &mut enc,
            g(
                "elearning_http_requests_per_second",
                "Requests per second over the last minute.",
            ),
            [(vec![], s.requests.per_second)],
            gauge,
        )?;
        family(
            &mut enc,
            g(
                "elearning_http_error_rate_percent",
                "Share of 5xx answers over the last minute, in %.",
            ),
            [(vec![], s.requests.error_rate)],
            gauge,
        )?;
        family(
            &mut enc,
            g(
                "elearning_http_latency_last_minute",
                "Latency quantiles over the last minute.",
            ),
            [
                (vec![("quantile", "0.5")], s.requests.p50_us as f64 / 1e6),
                (vec![("quantile", "0.95")], s.requests.p95_us as f64 / 1e6),
                (vec![("quantile", "0.99")], s.requests.p99_us as f64 / 1e6),
            ],
            gauge,
        )?;

        // Admission.
        let a = &s.admission;
        family(
            &mut enc,
            g("elearning_http_in_flight", "Requests running now."),
            [(vec![], a.in_flight as f64)],
            gauge,
        )?;
        family(
            &mut enc,
            g(
                "elearning_http_in_flight_peak",
                "Most requests running at once.",
            ),
            [(vec![], a.peak_in_flight as f64)],
            gauge,
        )?;
        family(
            &mut enc,
            g("elearning_http_queued", "Requests waiting for a slot."),
            [(vec![], a.queued as f64)],
            gauge,
        )?;
        family(
            &mut enc,
            c(
                "elearning_http_shed",
                "Requests answered 503 because the instance was full.",
            ),
            [(vec![], a.shed)],
            counter,
        )?;

        // Cache.
        family(
            &mut enc,
            c(
                "elearning_cache_lookups",
                "Cache answers per type and outcome (memory_hit, redis_hit, miss).",
            ),
            s.cache.by_type.iter().flat_map(|k| {
                [
                    (
                        vec![("type", k.kind.as_str()), ("outcome", "memory_hit")],
                        k.memory_hits,
                    ),
                    (
                        vec![("type", k.kind.as_str()), ("outcome", "redis_hit")],
                        k.redis_hits,
                    ),
                    (
                        vec![("type", k.kind.as_str()), ("outcome", "miss")],
                        k.misses,
                    ),
                ]
            }),
            counter,
        )?;
        family(
            &mut enc,
            c(
                "elearning_cache_redis_errors",
                "Failed or timed-out Redis calls of the cache.",
            ),
            [(vec![], s.cache.redis_errors)],
            counter,
        )?;
        family(
            &mut enc,
            c(
                "elearning_cache_evictions",
                "Memory entries evicted for lack of room.",
            ),
            [(vec![], s.cache.evictions)],
            counter,
        )?;
        family(
            &mut enc,
            g(
                "elearning_cache_memory_entries",
                "Entries in the memory tier.",
            ),
            [(vec![], s.memory_tier.entries as f64)],
            gauge,
        )?;
        family(
            &mut enc,
            (
                "elearning_cache_memory",
                "Size of the memory tier.",
                Some(&bytes),
                MetricType::Gauge,
            ),
            [(vec![], s.memory_tier.bytes as f64)],
            gauge,
        )?;

        // Pool.
        let p = &s.pool;
        family(
            &mut enc,
            g(
                "elearning_db_pool_connections",
                "PostgreSQL pool connections (open, idle, in use, max).",
            ),
            [
                (vec![("state", "open")], p.size as f64),
                (vec![("state", "idle")], p.available as f64),
                (vec![("state", "in_use")], p.in_use as f64),
                (vec![("state", "max")], p.max_size as f64),
            ],
            gauge,
        )?;
        family(
            &mut enc,
            g(
                "elearning_db_pool_waiting",
                "Requests waiting for a database connection.",
            ),
            [(vec![], p.waiting as f64)],
            gauge,
        )?;

        // Rate limits.
        family(
            &mut enc,
            c(
                "elearning_rate_limit_decisions",
                "Rate-limit decisions per route group, identity kind and outcome.",
            ),
            s.rate_limits.iter().flat_map(|r| {
                [
                    (
                        vec![
                            ("group", r.group.as_str()),
                            ("identity", "user"),
                            ("outcome", "allowed"),
                        ],
                        r.allowed_users,
                    ),
                    (
                        vec![
                            ("group", r.group.as_str()),
                            ("identity", "user"),
                            ("outcome", "limited"),
                        ],
                        r.limited_users,
                    ),
                    (
                        vec![
                            ("group", r.group.as_str()),
                            ("identity", "ip"),
                            ("outcome", "allowed"),
                        ],
                        r.allowed_ips,
                    ),
                    (
                        vec![
                            ("group", r.group.as_str()),
                            ("identity", "ip"),
                            ("outcome", "limited"),
                        ],
                        r.limited_ips,
                    ),
                ]
            }),
            counter,
        )?;
        family(
            &mut enc,
            c(
                "elearning_rate_limit_redis_calls",
                "Round trips the rate limiter made to Redis.",
            ),
            [(vec![], s.rate_limit_redis_calls)],
            counter,
        )?;
        family(
            &mut enc,
            g(
                "elearning_rate_limit_keys",
                "Callers tracked by the rate limiters.",
            ),
            [(vec![], s.rate_limit_keys as f64)],
            gauge,
        )?;

        // Memory.
        family(
            &mut enc,
            (
                "elearning_memory",
                "Process memory: resident set, allocated by the application, held by the allocator.",
                Some(&bytes),
                MetricType::Gauge,
            ),
            [
                (vec![("kind", "resident")], s.memory.rss as f64),
                (vec![("kind", "heap_allocated")], s.memory.heap_used as f64),
                (vec![("kind", "heap_resident")], s.memory.heap_total as f64),
            ],
            gauge,
        )?;

        // Images.
        let i = &s.images;
        family(
            &mut enc,
            c(
                "elearning_image_jobs",
                "Image pool jobs by outcome (processed, failed, rejected for a full queue).",
            ),
            [
                (vec![("outcome", "processed")], i.processed),
                (vec![("outcome", "failed")], i.failed),
                (vec![("outcome", "rejected")], i.rejected),
            ],
            counter,
        )?;
        family(
            &mut enc,
            g(
                "elearning_image_pool_jobs",
                "Image jobs running and waiting now.",
            ),
            [
                (vec![("state", "running")], i.running as f64),
                (vec![("state", "queued")], i.queued as f64),
            ],
            gauge,
        )?;
        family(
            &mut enc,
            (
                "elearning_image_processing_mean",
                "Mean time of an image job on its thread.",
                Some(&seconds),
                MetricType::Gauge,
            ),
            [(vec![], i.mean_processing_ms / 1000.0)],
            gauge,
        )?;
        family(
            &mut enc,
            c(
                "elearning_image_renditions",
                "Renditions served, from the cache (hit) or made (miss).",
            ),
            [
                (vec![("outcome", "hit")], i.rendition_hits),
                (vec![("outcome", "miss")], i.rendition_misses),
            ],
            counter,
        )?;

        // Alerts.
        family(
            &mut enc,
            g("elearning_alert_active", "1 while the alert is raised."),
            AlertKind::ALL.iter().map(|kind| {
                let on = s.alerts.iter().any(|a| a.name == kind.name());
                (vec![("alert", kind.name())], if on { 1.0 } else { 0.0 })
            }),
            gauge,
        )?;
        ops::encode(s, &mut enc)
    }
}
