//! Operators' replies named in the seeds: `/quota`, `/ultrafast` (response-time statistics),
//! `/production` (the production profile: instances, workers, pools, cache tiers, limits in
//! force) and `/summary` (the last 24 hours, as the daily summary gives them).

use std::fmt::Write as _;

use super::format::{duration, esc, finish, kv, mib, ms};
use crate::{
    config::AppEnv,
    ops::{quota::QuotaReport, summary},
    state::AppState,
};

fn age(checked_at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(checked_at).map_or_else(
        |_| checked_at.to_owned(),
        |t| {
            let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .num_seconds()
                .max(0);
            format!("{} ago", duration(secs as u64))
        },
    )
}

fn share(percent: Option<f64>, limit: Option<u64>, unset: &str) -> String {
    match (percent, limit) {
        (Some(p), Some(l)) => format!(" of {} ({p:.1} %)", mib(l)),
        _ => format!(" (no limit: {unset})"),
    }
}

/// `/quota`: the last quota check.
pub fn quota(state: &AppState) -> String {
    let QuotaReport {
        alert_percent,
        database,
        redis,
        connections,
    } = state.ops.quota.report();
    let mut out = "💽 <b>Quotas</b>\n".to_owned();
    match &database {
        Some(db) => kv(
            &mut out,
            "Database",
            format!(
                "{}{}, measured {}",
                mib(db.used_bytes),
                share(db.percent, db.limit_bytes, "set DATABASE_QUOTA_MB"),
                age(&db.checked_at)
            ),
        ),
        None => kv(&mut out, "Database", "not measured yet"),
    }
    match &redis {
        Some(r) => kv(
            &mut out,
            "Redis",
            format!(
                "{}{}{}, eviction {}, measured {}",
                mib(r.used_bytes),
                share(r.percent, r.limit_bytes, "no maxmemory; set REDIS_QUOTA_MB"),
                r.limit_source
                    .as_deref()
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default(),
                r.eviction_policy,
                age(&r.checked_at)
            ),
        ),
        None => kv(&mut out, "Redis", "not measured yet"),
    }
    match &connections {
        Some(c) => kv(
            &mut out,
            "Server connections",
            format!(
                "{} of {} ({:.1} %; {} reserved for superusers); this service {}, this instance's pool up to {}",
                c.in_use, c.available, c.percent, c.reserved, c.this_service, c.pool_max
            ),
        ),
        None => kv(&mut out, "Server connections", "not measured yet"),
    }
    kv(&mut out, "Alert past", format!("{alert_percent} %"));
    let raised: Vec<String> = state
        .alerts
        .active()
        .into_iter()
        .filter(|a| a.name.starts_with("quota_"))
        .map(|a| a.name)
        .collect();
    kv(
        &mut out,
        "Raised",
        if raised.is_empty() {
            "none".to_owned()
        } else {
            raised.join(", ")
        },
    );
    finish(out)
}

/// `/ultrafast`: response times, last minute and per route since start.
pub fn ultrafast(state: &AppState) -> String {
    let w = state.figures.window();
    let stats = state.figures.stats();
    let cache = state.cache.stats();
    let mut out = "⚡ <b>Response times</b>\n".to_owned();
    if w.requests == 0 {
        out.push_str("Last minute: no requests\n");
    } else {
        kv(
            &mut out,
            "Last minute",
            format!(
                "{} requests, mean {}",
                w.requests,
                ms(w.mean_us.round() as u64)
            ),
        );
        kv(
            &mut out,
            "p50/p95/p99",
            format!("{} / {} / {}", ms(w.p50_us), ms(w.p95_us), ms(w.p99_us)),
        );
        kv(
            &mut out,
            "Fastest/slowest",
            format!("{} / {}", ms(w.min_us), ms(w.max_us)),
        );
    }
    let lookups = cache.memory_hits + cache.redis_hits + cache.misses;
    if lookups > 0 {
        let pct = |n: u64| n as f64 * 100.0 / lookups as f64;
        kv(
            &mut out,
            "Cached reads",
            format!(
                "{:.1} % from memory, {:.1} % from Redis, {:.1} % from PostgreSQL",
                pct(cache.memory_hits),
                pct(cache.redis_hits),
                pct(cache.misses)
            ),
        );
    }
    let mut routes: Vec<_> = stats.routes.iter().filter(|r| r.requests > 0).collect();
    routes.sort_by(|a, b| b.p95_us.cmp(&a.p95_us).then(a.route.cmp(&b.route)));
    if !routes.is_empty() {
        out.push_str("\n<b>Slowest routes</b> (since start)\n");
        for (i, r) in routes.iter().take(5).enumerate() {
            let _ = writeln!(
                out,
                "{}. {} {} — p95 {}, p99 {}, max {} ({} requests)",
                i + 1,
                esc(&r.method),
                esc(&r.route),
                ms(r.p95_us),
                ms(r.p99_us),
                ms(r.max_us),
                r.requests
            );
        }
    }
    finish(out)
}

/// `/production`: what this deployment runs with.
pub fn production(state: &AppState) -> String {
    let c = &state.config;
    let mut out = "🏭 <b>Production profile</b>\n".to_owned();
    kv(
        &mut out,
        "Environment",
        format!(
            "{} · instance {} · up {}",
            match c.http.app_env {
                AppEnv::Production => "production",
                AppEnv::Development => "development",
            },
            state.ops.instance,
            duration(state.started_at.elapsed().as_secs())
        ),
    );
    let instances = state.cache.live_instances();
    kv(
        &mut out,
        "Instances",
        if instances == 0 {
            "unknown (Redis unreachable)".to_owned()
        } else {
            format!("{instances} live")
        },
    );
    let images = state.images.stats();
    kv(
        &mut out,
        "Workers",
        format!(
            "{} async runtime threads; {} image threads (queue {})",
            tokio::runtime::Handle::current().metrics().num_workers(),
            images.threads,
            images.queue_capacity
        ),
    );
    let pool = state.db.status();
    kv(
        &mut out,
        "Database pool",
        format!(
            "{}–{} connections ({} open now); acquire {} ms, statement {} ms",
            c.db.min_connections,
            c.db.max_connections,
            pool.size,
            c.db.pool_acquire_timeout.as_millis(),
            c.db.statement_timeout.as_millis()
        ),
    );
    kv(
        &mut out,
        "Cache",
        if c.cache.cache_enabled {
            format!(
                "memory {} for {} s, then Redis (default TTL {} s, calls {} ms at most){}",
                mib(c.cache.memory_cache_max_bytes),
                c.cache.memory_cache_ttl.as_secs(),
                c.cache.cache_ttl_default,
                c.redis.redis_command_timeout.as_millis(),
                if state.cache.degraded() {
                    "; degraded: memory only"
                } else {
                    ""
                }
            )
        } else {
            "off (CACHE_ENABLED=false)".to_owned()
        },
    );
    kv(
        &mut out,
        "Requests",
        format!(
            "{} at once, {} queued for {} ms; timeout {} ms; body up to {}",
            c.http.max_concurrent_requests,
            c.http.max_queued_requests,
            c.http.queue_timeout.as_millis(),
            c.http.request_timeout.as_millis(),
            mib(c.http.body_limit as u64)
        ),
    );
    let limits: Vec<String> = state
        .limits
        .stats()
        .into_iter()
        .map(|g| format!("{} {}", g.group, g.limit))
        .collect();
    kv(
        &mut out,
        "Rate limits",
        if c.limits.rate_limit_enabled {
            format!(
                "{}; per address {}",
                limits.join(", "),
                c.limits.rate_limit_ip_ceiling
            )
        } else {
            "off (RATE_LIMIT_ENABLED=false)".to_owned()
        },
    );
    let o = &c.ops;
    kv(
        &mut out,
        "Alerts",
        format!(
            "p95 > {} ms, 5xx > {} %, memory > {} % of {} MiB, hit rate < {} %, pool wait {} s, quotas > {} %",
            o.alert_p95_ms,
            o.alert_error_rate,
            o.alert_memory_percent,
            o.memory_limit_mb,
            o.alert_cache_hit_rate,
            o.alert_pool_wait_secs,
            o.alert_quota_percent
        ),
    );
    kv(
        &mut out,
        "Operators told",
        if state.ops.deliver.enabled() {
            format!(
                "{} by Telegram; cool-down {}; daily summary {}",
                state.ops.deliver.operators(),
                duration(c.notify.alert_cooldown_secs),
                c.notify
                    .daily_summary_hour
                    .0
                    .map_or_else(|| "off".to_owned(), |h| format!("at {h:02}:00 UTC"))
            )
        } else {
            "nobody (TELEGRAM_BOT_TOKEN or TELEGRAM_ADMIN_IDS unset)".to_owned()
        },
    );
    finish(out)
}

/// `/summary`: the daily summary, now.
pub async fn summary(state: &AppState) -> String {
    let (report, scope) = summary::report(state).await;
    summary::render(state, "Summary", &report, scope)
}
