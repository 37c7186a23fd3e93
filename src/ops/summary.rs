//! The daily summary: the last 24 hours of the fleet (requests, error rate, p50/p95/p99, cache
//! hit rate, peak memory, pool saturation, alerts raised, the busiest and the slowest routes),
//! pushed to the operators once a day at `DAILY_SUMMARY_HOUR` (UTC) and shown by `/summary`.
//!
//! Once a day across the fleet: during that hour each instance checks every half minute, and
//! the first to create the day's key in Redis (`SET NX`) sends it. An instance that starts
//! during the hour sends it if nobody has; outside the hour nothing is caught up (a summary at
//! an unexpected time is noise). When Redis does not answer, each instance sends its own
//! figures, once, and says so.

use std::{fmt::Write as _, sync::Mutex, time::Duration};

use chrono::{NaiveDate, Timelike, Utc};
use fred::{
    interfaces::KeysInterface,
    types::{Expiration, SetOptions},
};

use super::day::{self, DayReport};
use crate::{
    api::bot::format::{esc, mib, ms},
    state::{AppState, Phase},
};

/// How often the schedule is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(30);

/// The schedule's memory.
#[derive(Debug, Default)]
pub struct SummaryState {
    settled: Mutex<Option<NaiveDate>>,
}

impl SummaryState {
    /// The last day whose summary this instance settled: sent it, or found that another
    /// instance had.
    pub fn settled_day(&self) -> Option<String> {
        self.settled
            .lock()
            .ok()
            .and_then(|d| d.map(|d| d.to_string()))
    }

    /// Marks `day` settled; false when it already was.
    fn settle(&self, day: NaiveDate) -> bool {
        self.settled
            .lock()
            .map(|mut d| d.replace(day) != Some(day))
            .unwrap_or(false)
    }
}

/// Where a summary's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every instance, through Redis.
    Fleet,
    /// This instance only: Redis did not answer.
    ThisInstance,
}

/// The last 24 hours: the fleet's from Redis (after writing this instance's last minutes), or
/// this instance's when Redis does not answer.
pub async fn report(state: &AppState) -> (DayReport, Scope) {
    let fleet = async {
        day::flush(state).await?;
        day::fleet_hours(state).await
    };
    match fleet.await {
        Ok(hours) => (DayReport::of(&hours), Scope::Fleet),
        Err(err) => {
            tracing::debug!(error = %err, "summary from this instance's figures: Redis did not answer");
            (
                DayReport::of(&state.ops.day.local_hours()),
                Scope::ThisInstance,
            )
        }
    }
}

/// The summary in Telegram's HTML subset, under `title`.
pub fn render(state: &AppState, title: &str, r: &DayReport, scope: Scope) -> String {
    let mut out = format!(
        "📅 <b>{}</b>\nLast 24 hours, to {}\n",
        esc(title),
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let line = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "{label}: {}", esc(value));
    };
    line(
        &mut out,
        "Requests",
        format!("{} (5xx {})", group(r.requests), group(r.errors)),
    );
    line(&mut out, "Error rate", format!("{:.2} %", r.error_rate));
    let q = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), ms);
    line(
        &mut out,
        "Latency p50/p95/p99",
        format!("{} / {} / {}", q(r.p50_us), q(r.p95_us), q(r.p99_us)),
    );
    line(
        &mut out,
        "Cache hit rate",
        r.cache_hit_rate
            .map_or_else(|| "no lookups".to_owned(), |h| format!("{h:.1} %")),
    );
    let limit = state.config.ops.memory_limit_mb;
    line(
        &mut out,
        "Peak memory",
        format!(
            "{} ({:.0} % of {limit} MiB)",
            mib(r.peak_rss),
            r.peak_rss as f64 * 100.0 / (limit * 1024 * 1024).max(1) as f64
        ),
    );
    line(
        &mut out,
        "Pool saturation",
        format!(
            "peak {:.0} % of MAX_CONNECTIONS in use; requests waited for a connection during {} s",
            r.peak_pool_percent, r.pool_wait_secs
        ),
    );
    if r.alerts.is_empty() {
        out.push_str("Alerts raised: none\n");
    } else {
        let total: u64 = r.alerts.iter().map(|(_, n)| n).sum();
        let names: Vec<String> = r.alerts.iter().map(|(n, c)| format!("{n} ×{c}")).collect();
        line(
            &mut out,
            "Alerts raised",
            format!("{total} ({})", names.join(", ")),
        );
    }
    out.push_str("\n<b>Busiest routes</b>\n");
    if r.busiest.is_empty() {
        out.push_str("no requests\n");
    }
    for (i, route) in r.busiest.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. {} — {} requests, {} errors",
            i + 1,
            esc(&route.route),
            group(route.requests),
            group(route.errors)
        );
    }
    out.push_str("\n<b>Slowest routes</b> (p95)\n");
    if r.slowest.is_empty() {
        out.push_str("no requests\n");
    }
    for (i, route) in r.slowest.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. {} — p95 {} ({} requests)",
            i + 1,
            esc(&route.route),
            ms(route.p95_us),
            group(route.requests)
        );
    }
    let _ = write!(
        out,
        "\n<i>{}; health checks and operator calls are left out of the route lists · {}</i>",
        match scope {
            Scope::Fleet => "All instances",
            Scope::ThisInstance => "⚠️ Redis unreachable: this instance's figures only",
        },
        esc(&state.ops.instance)
    );
    out
}

/// `12345678` as `12,345,678`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Sends the day's summary once across the fleet during `DAILY_SUMMARY_HOUR`.
pub async fn run(state: AppState) {
    let Some(hour) = state.config.notify.daily_summary_hour.0 else {
        return;
    };
    if !state.ops.deliver.enabled() {
        return;
    }
    // The first look is as soon as the instance serves: one that starts during the hour sends
    // the summary if nobody has.
    if !super::until_ready(&state).await {
        return;
    }
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Utc::now();
        let today = now.date_naive();
        if now.hour() != hour || state.lifecycle.get() != Phase::Ready {
            continue;
        }
        if !state.ops.summary.settle(today) {
            continue;
        }
        let key = state.redis.key(&format!("ops:summary:{today}"));
        let claimed: Result<Option<String>, _> = state
            .redis
            .client()
            .set(
                key,
                state.ops.instance.as_str(),
                Some(Expiration::EX(2 * 86_400)),
                Some(SetOptions::NX),
                false,
            )
            .await;
        match claimed {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::debug!("today's summary was sent by another instance");
                continue;
            }
            Err(err) => {
                tracing::warn!(error = %err, "daily summary decided by this instance alone: Redis did not answer");
            }
        }
        let (report, scope) = report(&state).await;
        let text = render(&state, "Daily summary", &report, scope);
        let operators = state.ops.deliver.broadcast(&text);
        tracing::info!(operators, "daily summary pushed to operators");
    }
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_000), "1,000");
        assert_eq!(group(12_345_678), "12,345,678");
    }
}
