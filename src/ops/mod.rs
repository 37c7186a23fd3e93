//! Operators are told, not only asked: every alert raised or cleared and a daily summary are
//! pushed to `TELEGRAM_ADMIN_IDS`, and the quotas are watched.
//!
//! 1. [`quota`] measures, every `QUOTA_CHECK_INTERVAL`, the database's size, Redis's memory and
//!    the server's connections, and hands them to the alerts.
//! 2. [`push`] reads the alerts' log of changes (it never sits on a request's path) and decides,
//!    with the other instances through Redis, which change is worth a message: one per change
//!    across the fleet, a flapping alert held back by `ALERT_COOLDOWN_SECS`.
//! 3. [`deliver`] sends the messages, one queue and one task per operator (so a chat that is
//!    rate limited delays no other), retrying with backoff and honouring the Bot API's
//!    `retry_after`, each message given up after `NOTIFY_RETRY_WINDOW`.
//! 4. [`day`] keeps the last 24 hours by the hour, in Redis for the whole fleet and in memory
//!    for when Redis is away; [`summary`] turns them into the daily summary, sent once a day
//!    across the fleet at `DAILY_SUMMARY_HOUR` and shown on demand by `/summary`.
//!
//! With Redis unreachable, each instance decides alone and says so in its messages.

pub mod day;
pub mod deliver;
pub mod push;
pub mod quota;
pub mod summary;

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    config::Config,
    state::{AppState, Phase},
    telegram::BotApi,
};

/// Deadline of one Bot API call from the service.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The operators' side of the state: who to tell, what was measured, the day's figures.
pub struct Ops {
    /// This instance's name in messages.
    pub instance: String,
    /// The delivery queues (empty without a bot token or operators).
    pub deliver: deliver::Delivery,
    /// The notifier's counters.
    pub push: push::PushStats,
    /// The last quota figures.
    pub quota: quota::QuotaState,
    /// The last 24 hours by the hour.
    pub day: day::DayFigures,
    /// The daily summary's schedule.
    pub summary: summary::SummaryState,
}

impl Ops {
    /// Builds the operators' state; the delivery tasks start with [`spawn`].
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let api = BotApi::from_config(&config.telegram, CALL_TIMEOUT)?;
        let operators = &config.telegram.telegram_admin_ids.0;
        Ok(Self {
            instance: instance_name(config),
            deliver: deliver::Delivery::new(api, operators, config.notify.notify_retry_window),
            push: push::PushStats::default(),
            quota: quota::QuotaState::default(),
            day: day::DayFigures::default(),
            summary: summary::SummaryState::default(),
        })
    }
}

/// Starts the background tasks: quota checks, the notifier, the delivery queues, the day's
/// figures and the daily summary. Each stops with the service.
pub fn spawn(state: &AppState) {
    state.ops.deliver.start(&state.shutdown);
    tokio::spawn(quota::run(state.clone()));
    tokio::spawn(push::run(state.clone()));
    tokio::spawn(day::run(state.clone()));
    tokio::spawn(summary::run(state.clone()));
}

/// Waits until the instance serves (migrations applied); false if it stops first.
async fn until_ready(state: &AppState) -> bool {
    while state.lifecycle.get() != Phase::Ready {
        tokio::select! {
            () = state.shutdown.cancelled() => return false,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    true
}

/// `RENDER_INSTANCE_ID`, else the host name, else `this instance`.
fn instance_name(config: &Config) -> String {
    config
        .notify
        .render_instance_id
        .clone()
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .or_else(|| std::env::var("HOSTNAME").ok())
        })
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "this instance".to_owned())
}

/// What the operators are told, for the stats and `/metrics`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotifyStats {
    /// Whether messages are sent (`TELEGRAM_BOT_TOKEN` and `TELEGRAM_ADMIN_IDS` set).
    pub enabled: bool,
    /// Operators told.
    pub operators: usize,
    /// `ALERT_COOLDOWN_SECS`.
    pub cooldown_secs: u64,
    /// Whether the last decision was shared with the other instances through Redis (false:
    /// Redis was unreachable and this instance decided alone).
    pub coordinated: bool,
    /// Alert changes this instance saw.
    pub changes: u64,
    /// Changes announced by this instance.
    pub announced: u64,
    /// Changes another instance had already announced.
    pub announced_elsewhere: u64,
    /// Changes held back by the cool-down.
    pub held: u64,
    /// Messages delivered (one per operator).
    pub sent: u64,
    /// Messages given up (permanent refusal, or `NOTIFY_RETRY_WINDOW` passed).
    pub failed: u64,
    /// Messages dropped because an operator's queue was full.
    pub dropped: u64,
    /// Retried attempts.
    pub retries: u64,
    /// 429 answers (flood control) honoured.
    pub rate_limited: u64,
    /// Messages waiting to be delivered.
    pub queued: usize,
    /// `DAILY_SUMMARY_HOUR` (absent: off).
    pub daily_summary_hour: Option<u32>,
    /// The last day (UTC) whose summary this instance settled: sent it, or found it sent by
    /// another instance.
    pub summary_settled_for: Option<String>,
}

/// The notifier's figures now.
pub fn stats(state: &AppState) -> NotifyStats {
    let d = state.ops.deliver.stats();
    let p = &state.ops.push;
    NotifyStats {
        enabled: state.ops.deliver.enabled(),
        operators: state.ops.deliver.operators(),
        cooldown_secs: state.config.notify.alert_cooldown_secs,
        coordinated: p.coordinated(),
        changes: p.changes(),
        announced: p.announced(),
        announced_elsewhere: p.elsewhere(),
        held: p.held(),
        sent: d.sent,
        failed: d.failed,
        dropped: d.dropped,
        retries: d.retries,
        rate_limited: d.rate_limited,
        queued: d.queued,
        daily_summary_hour: state.config.notify.daily_summary_hour.0,
        summary_settled_for: state.ops.summary.settled_day(),
    }
}
