//! Alerts pushed to operators: reads the alerts' log of changes (every second, or at once when
//! one is logged) and decides, per change, whether it is worth a message.
//!
//! The decision is the fleet's, made in Redis by one script per change ([`DECIDE`]):
//!
//! 1. each instance where an alert is raised is a member of the alert's set (refreshed every
//!    second while raised, forgotten after [`PRESENCE`] of silence, so a dead instance does not
//!    hold an alert up forever);
//! 2. the fleet's alert is raised while the set is not empty. The operators are told when that
//!    differs from what they were last told: one message per change across the fleet, whichever
//!    instance saw it first;
//! 3. a raise within `ALERT_COOLDOWN_SECS` of the last announced raise is held back (counted).
//!    A clear is told at once when its raise was. So a flapping alert sends its first raise and
//!    clear, then nothing until the cool-down ends; if it is raised then, the next refresh
//!    announces it with the number of changes held back.
//!
//! When Redis does not answer, the same rules run on this instance alone, and its messages say
//! so: every instance may then send its own.

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use fred::types::scripts::Script;

use crate::{
    alerts::{Alert, AlertKind, Change},
    api::bot::format::{duration, esc},
    state::AppState,
};

/// How long an instance counts as raising an alert after its last refresh.
const PRESENCE: Duration = Duration::from_secs(30);

/// The fleet's decision on one change. Keys: the alert's state (hash: `state`, `raised_at`,
/// `held`) and the set of instances raising it (scored by their last refresh, ms). Arguments:
/// instance, change (`raise`, `clear` or `refresh`), now (ms), cool-down (ms), presence (ms),
/// time to live of both keys (ms). Returns the verdict (`send`, `held` or `same`), 1 when this
/// change raised the alert for the fleet (for the day's count), the raises held back before a
/// `send`, and 1 when the operators now know the alert as raised.
const DECIDE: &str = r"
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
local before = redis.call('ZCARD', KEYS[2]) > 0
if ARGV[2] == 'clear' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], now, ARGV[1])
end
local active = redis.call('ZCARD', KEYS[2]) > 0
local notified = redis.call('HGET', KEYS[1], 'state') == 'raised'
local verdict = 'same'
local held = 0
if active ~= notified then
  if active then
    local last = tonumber(redis.call('HGET', KEYS[1], 'raised_at') or '0')
    if now - last < tonumber(ARGV[4]) then
      redis.call('HINCRBY', KEYS[1], 'held', 1)
      verdict = 'held'
    else
      held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
      redis.call('HSET', KEYS[1], 'state', 'raised', 'raised_at', now, 'held', 0)
      notified = true
      verdict = 'send'
    end
  else
    redis.call('HSET', KEYS[1], 'state', 'cleared')
    notified = false
    verdict = 'send'
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {verdict, (active and not before) and 1 or 0, held, notified and 1 or 0}";

/// The notifier's counters.
#[derive(Debug, Default)]
pub struct PushStats {
    changes: AtomicU64,
    announced: AtomicU64,
    elsewhere: AtomicU64,
    held: AtomicU64,
    alone: AtomicBool,
}

impl PushStats {
    /// Alert changes seen.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }
    /// Changes announced by this instance.
    pub fn announced(&self) -> u64 {
        self.announced.load(Ordering::Relaxed)
    }
    /// Changes another instance had announced.
    pub fn elsewhere(&self) -> u64 {
        self.elsewhere.load(Ordering::Relaxed)
    }
    /// Changes held back by the cool-down.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
    /// Whether the last decision went through Redis.
    pub fn coordinated(&self) -> bool {
        !self.alone.load(Ordering::Relaxed)
    }
}

/// What a change is, for the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Raise,
    Clear,
    Refresh,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Self::Raise => "raise",
            Self::Clear => "clear",
            Self::Refresh => "refresh",
        }
    }
}

/// What to do about a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Tell the operators (for a raise: after `held` raises were held back).
    Send { held: u64 },
    /// A raise within the cool-down.
    Held,
    /// The operators already know (another instance told them, or nothing changed).
    Same,
}

#[derive(Debug, Clone, Copy)]
struct Decision {
    verdict: Verdict,
    /// This change raised the alert for the fleet.
    first_raise: bool,
    /// Decided with the other instances (false: Redis did not answer).
    coordinated: bool,
}

/// What this instance last knew the operators were told, for when Redis does not answer.
#[derive(Debug, Default)]
struct Local {
    notified: bool,
    raised_at: Option<Instant>,
    held: u64,
}

/// Reads the alerts' changes and tells the operators, until the service stops.
pub async fn run(state: AppState) {
    let mut pusher = Pusher {
        seen: 0,
        raised: HashMap::new(),
        local: HashMap::new(),
        script: Script::from_lua(DECIDE),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = state.alerts.changed() => {}
            _ = tick.tick() => {}
        }
        pusher.step(&state).await;
    }
}

struct Pusher {
    /// Last change read.
    seen: u64,
    /// Alerts raised on this instance, as last logged.
    raised: HashMap<AlertKind, Alert>,
    local: HashMap<AlertKind, Local>,
    script: Script,
}

impl Pusher {
    async fn step(&mut self, state: &AppState) {
        let (changes, lost) = state.alerts.changes_after(self.seen);
        if lost {
            // The log moved on without us (it holds minutes of changes): start again from
            // what is raised now.
            tracing::warn!("alert changes were lost before they could be pushed");
            self.raised = state
                .alerts
                .active()
                .into_iter()
                .filter_map(|a| AlertKind::parse(&a.name).map(|k| (k, a)))
                .collect();
        }
        for change in changes {
            self.seen = change.seq;
            state.ops.push.changes.fetch_add(1, Ordering::Relaxed);
            let step = if change.raised {
                self.raised.insert(change.kind, change.alert.clone());
                Step::Raise
            } else {
                self.raised.remove(&change.kind);
                Step::Clear
            };
            let decision = self.decide(state, change.kind, step).await;
            self.act(state, decision, &Message::Change(&change));
        }
        // Refreshing keeps this instance counted as raising the alert, and announces a raise
        // held back by the cool-down once it ends.
        let raised: Vec<AlertKind> = self.raised.keys().copied().collect();
        for kind in raised {
            let decision = self.decide(state, kind, Step::Refresh).await;
            if let Verdict::Send { .. } = decision.verdict {
                let now = state
                    .alerts
                    .active()
                    .into_iter()
                    .find(|a| a.name == kind.name())
                    .or_else(|| self.raised.get(&kind).cloned());
                if let Some(alert) = now {
                    self.act(state, decision, &Message::Still(kind, &alert));
                }
            }
        }
    }

    async fn decide(&mut self, state: &AppState, kind: AlertKind, step: Step) -> Decision {
        let cooldown = Duration::from_secs(state.config.notify.alert_cooldown_secs);
        match self.decide_in_redis(state, kind, step, cooldown).await {
            Ok(decision) => {
                state.ops.push.alone.store(false, Ordering::Relaxed);
                decision
            }
            Err(err) => {
                if !state.ops.push.alone.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %err, "alerts decided by this instance alone: Redis did not answer");
                }
                self.decide_alone(kind, step, cooldown)
            }
        }
    }

    async fn decide_in_redis(
        &mut self,
        state: &AppState,
        kind: AlertKind,
        step: Step,
        cooldown: Duration,
    ) -> Result<Decision, fred::error::Error> {
        let key = state.redis.key(&format!("ops:alert:{}", kind.name()));
        let ttl = cooldown.max(PRESENCE) + Duration::from_secs(86_400);
        let args = vec![
            state.cache.instance().to_string(),
            step.as_str().to_owned(),
            now_ms().to_string(),
            cooldown.as_millis().to_string(),
            PRESENCE.as_millis().to_string(),
            ttl.as_millis().to_string(),
        ];
        let (verdict, first, held, notified): (String, i64, i64, i64) = self
            .script
            .evalsha_with_reload(
                state.redis.client(),
                vec![key.clone(), format!("{key}:on")],
                args,
            )
            .await?;
        let verdict = match verdict.as_str() {
            "send" => Verdict::Send {
                held: u64::try_from(held).unwrap_or(0),
            },
            "held" => Verdict::Held,
            _ => Verdict::Same,
        };
        // Mirror the fleet's view, so that a Redis outage starts from it.
        let local = self.local.entry(kind).or_default();
        local.notified = notified == 1;
        if matches!(verdict, Verdict::Send { .. }) && step != Step::Clear {
            local.raised_at = Some(Instant::now());
        }
        Ok(Decision {
            verdict,
            first_raise: first == 1,
            coordinated: true,
        })
    }

    /// [`DECIDE`]'s rules with this instance as the whole fleet.
    fn decide_alone(&mut self, kind: AlertKind, step: Step, cooldown: Duration) -> Decision {
        let active = step != Step::Clear;
        let local = self.local.entry(kind).or_default();
        let first_raise = step == Step::Raise;
        let verdict = if active == local.notified {
            Verdict::Same
        } else if !active {
            local.notified = false;
            Verdict::Send { held: 0 }
        } else if local.raised_at.is_some_and(|t| t.elapsed() < cooldown) {
            local.held += 1;
            Verdict::Held
        } else {
            local.notified = true;
            local.raised_at = Some(Instant::now());
            Verdict::Send {
                held: std::mem::take(&mut local.held),
            }
        };
        Decision {
            verdict,
            first_raise,
            coordinated: false,
        }
    }

    fn act(&self, state: &AppState, decision: Decision, message: &Message<'_>) {
        let counters = &state.ops.push;
        if decision.first_raise {
            state.ops.day.alert_raised(message.kind());
        }
        let held = match decision.verdict {
            Verdict::Send { held } => held,
            Verdict::Held => {
                counters.held.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    alert = message.kind().name(),
                    "alert change held back by the cool-down"
                );
                return;
            }
            Verdict::Same => {
                if !matches!(message, Message::Still(..)) {
                    counters.elsewhere.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        };
        counters.announced.fetch_add(1, Ordering::Relaxed);
        let text = message.render(state, held, decision.coordinated);
        let queued = state.ops.deliver.broadcast(&text);
        tracing::info!(
            alert = message.kind().name(),
            operators = queued,
            "alert change pushed to operators"
        );
    }
}

/// A message about an alert.
enum Message<'a> {
    /// A change from the log.
    Change(&'a Change),
    /// An alert still raised when the cool-down that held it back ended.
    Still(AlertKind, &'a Alert),
}

impl Message<'_> {
    fn kind(&self) -> AlertKind {
        match self {
            Self::Change(c) => c.kind,
            Self::Still(kind, ..) => *kind,
        }
    }

    fn render(&self, state: &AppState, held: u64, coordinated: bool) -> String {
        let kind = self.kind();
        let unit = kind.unit();
        let mut out = String::new();
        match self {
            Self::Change(c) if !c.raised => {
                let _ = writeln!(out, "✅ <b>Alert cleared: {}</b>", kind.name());
                let cause = if c.by_reset {
                    "cleared by an operator's /reset".to_owned()
                } else {
                    esc(&c.alert.message)
                };
                let _ = writeln!(out, "{cause}");
                let _ = writeln!(
                    out,
                    "Figure now: {} {unit} · threshold: {} {unit}{}",
                    figure(c.alert.value),
                    figure(c.alert.threshold),
                    c.lasted
                        .map(|d| format!(" · raised for {}", duration(d.as_secs())))
                        .unwrap_or_default()
                );
            }
            Self::Change(c) => raised(&mut out, state, kind, &c.alert, held, false),
            Self::Still(_, alert) => raised(&mut out, state, kind, alert, held, true),
        }
        if !coordinated {
            out.push_str("⚠️ Redis unreachable: each instance reports its own alerts.\n");
        }
        let _ = write!(
            out,
            "<i>{} · {}</i>",
            esc(&state.ops.instance),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        );
        out
    }
}

/// The lines of a raise: what, figure and threshold, where to look, what the cool-down held.
fn raised(
    out: &mut String,
    state: &AppState,
    kind: AlertKind,
    alert: &Alert,
    held: u64,
    still: bool,
) {
    let unit = kind.unit();
    let icon = if alert.severity == "critical" {
        "🚨"
    } else {
        "⚠️"
    };
    let _ = writeln!(
        out,
        "{icon} <b>Alert raised: {}</b> ({})",
        kind.name(),
        esc(&alert.severity)
    );
    let _ = writeln!(out, "{}", esc(&alert.message));
    let _ = writeln!(
        out,
        "Figure: {} {unit} · threshold: {} {unit}",
        figure(alert.value),
        figure(alert.threshold)
    );
    let _ = writeln!(out, "👉 Look at {}", esc(kind.hint()));
    if held > 0 || still {
        let _ = writeln!(
            out,
            "Still raised after the {} cool-down ({held} change(s) held back meanwhile).",
            duration(state.config.notify.alert_cooldown_secs)
        );
    }
}

/// A figure as people read it: whole above 100, one decimal below.
fn figure(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
