//! The bot's commands and their replies, in Telegram's HTML subset. Every interpolated value goes
//! through [`escape_html`](super::format::escape_html); operator commands pass one check,
//! [`is_operator`]. The replies about quotas, response times, the production profile and the
//! day are in [`super::reports`].

use std::{fmt::Write as _, sync::atomic::Ordering};

use serde::Deserialize;

use super::{
    Incoming,
    format::{duration, esc, finish, kv, mib, ms},
    reports,
};
use crate::{
    api::{
        courses::handlers::{CourseListQuery, list_courses},
        health::{HealthStatus, Verdict},
        operations::{Stats, snapshot},
    },
    error::AppResult,
    extract::AppQuery,
    state::AppState,
};

/// Said when a command failed after the update was recorded.
pub const APOLOGY: &str = "😕 Sorry, something went wrong on our side. Please try again later.";
/// Said when a command did not finish within the reply budget.
pub const TOO_SLOW: &str = "⏳ Sorry, that took too long. Please try again in a moment.";

/// A bot command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Welcome.
    Start,
    /// The list of commands.
    Help,
    /// The newest published courses.
    Courses,
    /// Health of the instance and its dependencies.
    Health,
    /// Request, latency, error and cache figures.
    Stats,
    /// The last minute.
    Realtime,
    /// The cache tiers.
    Cache,
    /// The database pool.
    Pools,
    /// Process memory.
    Memory,
    /// The busiest routes.
    Performance,
    /// Empties both cache tiers.
    ClearCache,
    /// Runs the housekeeping now.
    Maintenance,
    /// Zeroes the counters.
    Reset,
    /// Database, Redis and connection quotas.
    Quota,
    /// Response-time statistics (the seed's "ultra-fast response statistics").
    UltraFast,
    /// The production profile: instances, workers, pools, cache tiers, limits in force.
    Production,
    /// The last 24 hours, as the daily summary gives them.
    Summary,
    /// Anything else.
    Unknown,
}

/// Every command: word, operators only, what it does (the help text).
const COMMANDS: [(Command, &str, bool, &str); 17] = [
    (Command::Start, "start", false, "welcome"),
    (Command::Help, "help", false, "this list"),
    (
        Command::Courses,
        "courses",
        false,
        "the five newest courses",
    ),
    (
        Command::Health,
        "health",
        true,
        "service and dependency status",
    ),
    (
        Command::Stats,
        "stats",
        true,
        "requests, latency, errors, cache",
    ),
    (Command::Realtime, "realtime", true, "the last minute"),
    (Command::Cache, "cache", true, "cache tiers"),
    (Command::Pools, "pools", true, "database connection pool"),
    (Command::Memory, "memory", true, "process memory"),
    (Command::Performance, "performance", true, "busiest routes"),
    (
        Command::ClearCache,
        "clearcache",
        true,
        "empty both cache tiers",
    ),
    (
        Command::Maintenance,
        "maintenance",
        true,
        "run the housekeeping now",
    ),
    (Command::Reset, "reset", true, "zero the counters"),
    (
        Command::Quota,
        "quota",
        true,
        "database size, Redis memory, server connections",
    ),
    (
        Command::UltraFast,
        "ultrafast",
        true,
        "response-time statistics",
    ),
    (
        Command::Production,
        "production",
        true,
        "instances, workers, pools, caches, limits",
    ),
    (Command::Summary, "summary", true, "the last 24 hours"),
];

impl Command {
    /// The command named `word` (without `/`), case-insensitively.
    pub fn parse(word: &str) -> Self {
        COMMANDS
            .iter()
            .find(|(_, name, _, _)| name.eq_ignore_ascii_case(word))
            .map_or(Self::Unknown, |(c, _, _, _)| *c)
    }

    /// Whether only `TELEGRAM_ADMIN_IDS` may run it.
    pub fn for_operators(self) -> bool {
        COMMANDS.iter().any(|(c, _, op, _)| *c == self && *op)
    }
}

/// The command word of `text` (`/health@MyBot now` → `health`), if `text` is a command.
pub fn command_word(text: &str) -> Option<String> {
    let first = text.split_whitespace().next()?.strip_prefix('/')?;
    let word = first.split('@').next().unwrap_or_default();
    Some(word.to_owned())
}

/// A command word as it is repeated back: Telegram's commands have at most 32 characters, so
/// anything past 64 is cut (with an ellipsis) rather than echoed.
fn echoed(word: &str) -> String {
    const MAX: usize = 64;
    match word.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &word[..at]),
        None => word.to_owned(),
    }
}

/// The one authorisation check of every operator command.
fn is_operator(state: &AppState, from: Option<i64>) -> bool {
    from.is_some_and(|id| state.config.telegram.telegram_admin_ids.contains(id))
}

/// The reply to `msg`. Operator commands from anyone else get a refusal and have no effect.
pub async fn answer(state: &AppState, msg: &Incoming) -> AppResult<String> {
    let operator = is_operator(state, msg.from);
    if msg.command.for_operators() && !operator {
        tracing::info!(
            update_id = msg.update_id,
            command = %msg.word,
            "bot operator command refused"
        );
        return Ok(format!(
            "⛔ Sorry, /{} is for operators only. Send /help for what you can use.",
            esc(&msg.word)
        ));
    }
    tracing::info!(
        update_id = msg.update_id,
        command = %msg.word,
        operator,
        "bot command"
    );
    Ok(match msg.command {
        Command::Start => format!(
            "👋 <b>Welcome to the e-learning bot!</b>\nSend /courses for the newest courses, or \
             /help for every command.{}",
            if operator {
                "\nYou are an operator: /help lists your commands too."
            } else {
                ""
            }
        ),
        Command::Help => help(operator),
        Command::Unknown => format!(
            "🤔 I don't know /{}.\n\n{}",
            esc(echoed(&msg.word)),
            help(operator)
        ),
        Command::Courses => courses(state).await?,
        Command::Health => health(state),
        Command::Stats => stats(&snapshot(state).await),
        Command::Realtime => realtime(&snapshot(state).await),
        Command::Cache => cache(&snapshot(state).await),
        Command::Pools => pools(&snapshot(state).await),
        Command::Memory => memory(&snapshot(state).await, state.config.ops.memory_limit_mb),
        Command::Performance => performance(&snapshot(state).await),
        Command::ClearCache => clear_cache(state).await,
        Command::Maintenance => maintenance(state).await,
        Command::Quota => reports::quota(state),
        Command::UltraFast => reports::ultrafast(state),
        Command::Production => reports::production(state),
        Command::Summary => reports::summary(state).await,
        Command::Reset => {
            crate::app::reset_figures(state);
            "♻️ <b>Counters reset</b>\nRequest figures, alerts, cache hit counts, rate-limit \
             counts and the in-flight peak start again from zero."
                .to_owned()
        }
    })
}

fn help(operator: bool) -> String {
    let mut out = "<b>Commands</b>\n".to_owned();
    let lines = |out: &mut String, for_operators: bool| {
        for (_, name, op, about) in COMMANDS {
            if op == for_operators {
                let _ = writeln!(out, "/{name} — {}", esc(about));
            }
        }
    };
    lines(&mut out, false);
    if operator {
        out.push_str("\n<b>Operator commands</b>\n");
        lines(&mut out, true);
    }
    out.trim_end().to_owned()
}

/// A course as `GET /api/courses` lists it.
#[derive(Deserialize)]
struct Listed {
    title: String,
    level: String,
    category: String,
}

#[derive(Deserialize)]
struct Listing {
    courses: Vec<Listed>,
}

/// The five newest published courses, through the same cached read as `GET /api/courses?limit=5`.
async fn courses(state: &AppState) -> AppResult<String> {
    let query = CourseListQuery {
        limit: Some("5".to_owned()),
        ..CourseListQuery::default()
    };
    let cached = list_courses(state.clone(), AppQuery(query)).await?;
    let listing: Listing = serde_json::from_slice(&cached.body)
        .map_err(|e| anyhow::Error::new(e).context("reading the cached course list"))?;
    if listing.courses.is_empty() {
        return Ok("📚 No published courses yet.".to_owned());
    }
    let mut out = "📚 <b>Newest courses</b>\n".to_owned();
    for (i, c) in listing.courses.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. <b>{}</b> — {}, {}",
            i + 1,
            esc(&c.title),
            esc(&c.level),
            esc(&c.category)
        );
    }
    Ok(finish(out))
}

fn health(state: &AppState) -> String {
    let v = Verdict::of(state);
    let icon = match v.overall {
        HealthStatus::Healthy => "✅",
        HealthStatus::Degraded => "⚠️",
        HealthStatus::Unhealthy => "❌",
    };
    let latency = |ok: bool, micros: u64| {
        if ok {
            format!("up ({})", ms(micros))
        } else {
            "down".to_owned()
        }
    };
    let mut out = format!("{icon} <b>Health: {}</b>\n", esc(v.overall.as_str()));
    kv(&mut out, "Phase", v.phase_name());
    kv(
        &mut out,
        "PostgreSQL",
        latency(
            v.postgres_ok,
            state.probes.postgres_latency_us.load(Ordering::Relaxed),
        ),
    );
    kv(
        &mut out,
        "Redis",
        latency(
            v.redis_ok,
            state.probes.redis_latency_us.load(Ordering::Relaxed),
        ),
    );
    let cache = if state.cache.degraded() {
        "degraded (memory tier only)"
    } else {
        "healthy"
    };
    kv(&mut out, "Cache", cache);
    kv(
        &mut out,
        "Uptime",
        duration(state.started_at.elapsed().as_secs()),
    );
    finish(out)
}

fn stats(s: &Stats) -> String {
    let r = &s.requests;
    let mut out = "📊 <b>Statistics</b>\n".to_owned();
    kv(
        &mut out,
        "Requests",
        format!(
            "{} (4xx {}, 5xx {})",
            r.total, r.client_errors, r.server_errors
        ),
    );
    kv(
        &mut out,
        "Rate",
        format!("{:.2} req/s (last minute)", r.per_second),
    );
    kv(&mut out, "Error rate", format!("{:.2} %", r.error_rate));
    kv(
        &mut out,
        "Latency p50/p95/p99",
        format!("{} / {} / {}", ms(r.p50_us), ms(r.p95_us), ms(r.p99_us)),
    );
    kv(
        &mut out,
        "Cache hit rate",
        format!("{:.1} %", s.cache.hit_rate),
    );
    kv(&mut out, "Active alerts", s.alerts.len());
    kv(&mut out, "Uptime", duration(s.uptime));
    finish(out)
}

fn realtime(s: &Stats) -> String {
    let r = &s.requests;
    let a = &s.admission;
    let mut out = "⚡ <b>Last minute</b>\n".to_owned();
    kv(
        &mut out,
        "Requests",
        format!("{} ({:.2} req/s)", r.last_minute, r.per_second),
    );
    kv(&mut out, "p95", ms(r.p95_us));
    kv(&mut out, "Error rate", format!("{:.2} %", r.error_rate));
    kv(
        &mut out,
        "In flight",
        format!(
            "{} (peak {}, capacity {})",
            a.in_flight, a.peak_in_flight, a.capacity
        ),
    );
    kv(
        &mut out,
        "Queued",
        format!("{} (shed since start: {})", a.queued, a.shed),
    );
    if s.alerts.is_empty() {
        out.push_str("Alerts: none\n");
    } else {
        let _ = writeln!(out, "Alerts: {}", s.alerts.len());
        for alert in &s.alerts {
            let _ = writeln!(
                out,
                "• [{}] {}: {}",
                esc(&alert.severity),
                esc(&alert.name),
                esc(&alert.message)
            );
        }
    }
    finish(out)
}

fn cache(s: &Stats) -> String {
    let c = &s.cache;
    let mut out = "🗄 <b>Cache</b>\n".to_owned();
    kv(&mut out, "Memory hits", c.memory_hits);
    kv(&mut out, "Redis hits", c.redis_hits);
    kv(&mut out, "Misses", c.misses);
    kv(&mut out, "Hit rate", format!("{:.1} %", c.hit_rate));
    kv(
        &mut out,
        "Memory tier",
        format!(
            "{} entries, {}",
            s.memory_tier.entries,
            mib(s.memory_tier.bytes)
        ),
    );
    let redis = if s.memory_tier.degraded {
        "degraded (memory tier only)"
    } else {
        "connected"
    };
    kv(&mut out, "Redis tier", redis);
    finish(out)
}

fn pools(s: &Stats) -> String {
    let p = &s.pool;
    let mut out = "🏊 <b>Database pool</b>\n".to_owned();
    kv(&mut out, "Size", p.size);
    kv(&mut out, "Available", p.available);
    kv(&mut out, "Waiting", p.waiting);
    kv(&mut out, "Max", p.max_size);
    finish(out)
}

fn memory(s: &Stats, limit_mb: u64) -> String {
    let m = &s.memory;
    let limit = limit_mb.saturating_mul(1024 * 1024);
    let share = if limit == 0 {
        0.0
    } else {
        m.rss as f64 * 100.0 / limit as f64
    };
    let mut out = "🧠 <b>Memory</b>\n".to_owned();
    kv(
        &mut out,
        "RSS",
        format!("{} of {limit_mb} MiB ({share:.1} %)", mib(m.rss)),
    );
    kv(&mut out, "Heap used", mib(m.heap_used));
    kv(&mut out, "Heap total", mib(m.heap_total));
    finish(out)
}

fn performance(s: &Stats) -> String {
    let mut routes: Vec<_> = s.requests.routes.iter().collect();
    routes.sort_by_key(|r| std::cmp::Reverse(r.requests));
    if routes.is_empty() {
        return "🚀 No requests yet.".to_owned();
    }
    let mut out = "🚀 <b>Busiest routes</b>\n".to_owned();
    for (i, r) in routes.iter().take(5).enumerate() {
        let _ = writeln!(
            out,
            "{}. {} {} — {} requests, p95 {}, {} errors",
            i + 1,
            esc(&r.method),
            esc(&r.route),
            r.requests,
            esc(ms(r.p95_us)),
            r.server_errors
        );
    }
    finish(out)
}

/// The same action as `POST /api/performance/clear-cache` with scope `all`.
async fn clear_cache(state: &AppState) -> String {
    let cleared = state.cache.clear(true, true, None).await;
    tracing::info!(
        memory = cleared.memory,
        redis = cleared.redis,
        redis_ok = cleared.redis_ok,
        "cache cleared from the bot"
    );
    let mut out = "🧹 <b>Cache cleared</b>\n".to_owned();
    kv(&mut out, "Memory entries removed", cleared.memory);
    kv(&mut out, "Redis keys removed", cleared.redis);
    let redis = if cleared.redis_ok {
        "answered"
    } else {
        "did not answer (its entries expire by their TTL)"
    };
    kv(&mut out, "Redis", redis);
    finish(out)
}

async fn maintenance(state: &AppState) -> String {
    let done = crate::app::maintenance(state).await;
    let mut out = "🔧 <b>Maintenance done</b>\n".to_owned();
    kv(
        &mut out,
        "Memory cache entries",
        format!("{} → {}", done.cache_entries.0, done.cache_entries.1),
    );
    kv(&mut out, "Idle connections closed", done.connections_closed);
    kv(
        &mut out,
        "Rate-limit keys",
        format!("{} → {}", done.rate_limit_keys.0, done.rate_limit_keys.1),
    );
    finish(out)
}

#[cfg(test)]
mod tests {
    use super::{Command, command_word, help};
    use crate::api::bot::format::{duration, escape_html};

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<b>Tom & "Jerry"</b>"#),
            "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;"
        );
        assert_eq!(escape_html("plain ✓"), "plain ✓");
    }

    #[test]
    fn command_words_lose_their_slash_bot_name_and_arguments() {
        for (text, word) in [
            ("/health", Some("health")),
            ("/health@MyBot", Some("health")),
            ("/stats@MyBot now please", Some("stats")),
            ("  /Help", Some("Help")),
            ("/", Some("")),
            ("hello /health", None),
            ("", None),
        ] {
            assert_eq!(command_word(text).as_deref(), word, "{text:?}");
        }
        assert_eq!(Command::parse("Help"), Command::Help);
        assert_eq!(Command::parse("clearcache"), Command::ClearCache);
        assert_eq!(Command::parse("nope"), Command::Unknown);
        assert!(Command::Reset.for_operators());
        assert!(!Command::Courses.for_operators());
        assert!(!Command::Unknown.for_operators());
    }

    #[test]
    fn help_lists_operator_commands_only_for_operators() {
        assert!(!help(false).contains("/stats"));
        assert!(help(false).contains("/courses"));
        assert!(help(true).contains("/stats") && help(true).contains("/reset"));
        assert_eq!(duration(3725), "1h 2m 5s");
    }
}
