//! Rate limits per route group and caller (API.md §5), with GCRA.
//!
//! Quotas hold across instances through Redis: one Lua script checks the per-IP ceiling and the
//! group's limit and updates both, in one round trip. Every instance also runs the same limits
//! in process (governor, the engine under tower_governor: its layer has one quota per layer and
//! no way to report the remaining allowance in our headers, so the keyed limiters are used
//! directly); their decision is used whenever Redis fails or is being skipped after a failure,
//! so limiting never fails open.
//!
//! The key is the user id for a request with a valid session token, the client IP otherwise
//! (see [`crate::middleware::client_ip`]); every request also counts against a per-IP ceiling,
//! so rotating accounts from one address does not escape. Key maps are pruned every minute
//! (`retain_recent`), so a flood of distinct addresses cannot grow memory without bound.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DashMapStateStore,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// "N requests per S seconds", e.g. `10/60`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    /// Requests allowed in a window (also the burst).
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

impl std::str::FromStr for RateSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected requests/seconds such as 10/60, got {s:?}");
        let (n, w) = s.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = n.trim().parse().map_err(|_| bad())?;
        let secs: u64 = w.trim().parse().map_err(|_| bad())?;
        if limit == 0 || secs == 0 {
            return Err(bad());
        }
        Ok(Self {
            limit,
            window: Duration::from_secs(secs),
        })
    }
}

impl std::fmt::Display for RateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.limit, self.window.as_secs())
    }
}

/// Route groups, each with its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Sign-in and sign-up (`/api/auth/*` but the profile and logout): guards passwords, so it
    /// is counted by address only, whatever session the request carries, and never raised by
    /// the adaptive allowance.
    Auth,
    /// `/api/dashboard/*`.
    Dashboard,
    /// Course routes.
    Courses,
    /// Quiz routes.
    Quizzes,
    /// Uploads.
    Upload,
    /// Everything else under `/api`.
    Default,
}

impl Group {
    /// Every group, in figure order.
    pub const ALL: [Self; 6] = [
        Self::Auth,
        Self::Dashboard,
        Self::Courses,
        Self::Quizzes,
        Self::Upload,
        Self::Default,
    ];

    /// The group of a request: [`Group::of`] its route, except that reading an image is a
    /// course read, not an upload.
    pub fn of_request(method: &axum::http::Method, route: &str) -> Option<Self> {
        let group = Self::of(route)?;
        Some(
            if group == Self::Upload
                && (method == axum::http::Method::GET || method == axum::http::Method::HEAD)
            {
                Self::Courses
            } else {
                group
            },
        )
    }

    /// The group of a route template; `None` for routes never limited (health, metrics, docs).
    pub fn of(route: &str) -> Option<Self> {
        const EXEMPT: &[&str] = &[
            "/api/health",
            "/api/performance/health",
            "/metrics",
            "/api/openapi.json",
            "/api/bot/webhook",
        ];
        if EXEMPT.contains(&route) || route.starts_with("/api/docs") {
            return None;
        }
        Some(if route == "/api/auth/me" || route == "/api/auth/logout" {
            Self::Default
        } else if route.starts_with("/api/auth/") {
            Self::Auth
        } else if route.starts_with("/api/dashboard/") {
            Self::Dashboard
        } else if route.ends_with("/image")
            || route == "/api/upload-image"
            || route.starts_with("/api/images/")
        {
            Self::Upload
        } else if route.contains("/quizzes") {
            Self::Quizzes
        } else if route.starts_with("/api/courses")
            || route.contains("/courses")
            || route == "/api/admin/course-approval"
        {
            Self::Courses
        } else {
            Self::Default
        })
    }

    /// Whether the caller's adaptive allowance scales this group's limit (not the password
    /// group: a failed sign-in would otherwise count as good behaviour and raise it).
    pub fn adaptive(self) -> bool {
        self != Self::Auth
    }

    /// The name in headers and figures.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Dashboard => "dashboard",
            Self::Courses => "courses",
            Self::Quizzes => "quizzes",
            Self::Upload => "upload",
            Self::Default => "default",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|g| *g == self).unwrap_or(5)
    }
}

type Keyed =
    RateLimiter<String, DashMapStateStore<String>, DefaultClock, StateInformationMiddleware>;

struct Limit {
    spec: RateSpec,
    limiter: Keyed,
}

impl Limit {
    fn new(spec: RateSpec) -> Self {
        let burst = NonZeroU32::new(spec.limit).unwrap_or(NonZeroU32::MIN);
        let period = spec.window / spec.limit.max(1);
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        Self {
            spec,
            limiter: RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>(),
        }
    }

    fn check(&self, key: &str) -> Decision {
        self.check_n(key, 1)
    }

    fn check_n(&self, key: &str, cost: u32) -> Decision {
        let period = self.spec.window / self.spec.limit.max(1);
        let n = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        let refused_for = |wait: Duration| Decision {
            allowed: false,
            spec: self.spec,
            remaining: 0,
            reset: wait,
        };
        // More cells than the whole allowance can never pass.
        let Ok(outcome) = self.limiter.check_key_n(&key.to_owned(), n) else {
            return refused_for(self.spec.window);
        };
        match outcome {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                // Time until the allowance is whole again.
                let reset = period * (self.spec.limit - remaining.min(self.spec.limit));
                Decision {
                    allowed: true,
                    spec: self.spec,
                    remaining,
                    reset,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Decision {
                    allowed: false,
                    spec: self.spec,
                    remaining: 0,
                    reset: wait,
                }
            }
        }
    }
}

/// The outcome of a check, with what the headers report.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The limit that decided.
    pub spec: RateSpec,
    /// Requests left in the current allowance.
    pub remaining: u32,
    /// Until the allowance is whole again (allowed) or the next request may pass (refused).
    pub reset: Duration,
}

/// Who is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// A signed-in user.
    User,
    /// An anonymous client, by IP.
    Ip,
}

/// One request to count.
#[derive(Debug, Clone, Copy)]
pub struct RateRequest {
    /// Its route group.
    pub group: Group,
    /// The signed-in user counted, if any; the client address otherwise.
    pub user: Option<Uuid>,
    /// The client address (for the ceiling, and the key of anonymous requests).
    pub ip: IpAddr,
    /// Cells it costs (1, or the items of a bulk request).
    pub cost: u32,
    /// The caller's role multiplier (`RATE_LIMIT_ROLE_MULTIPLIERS`).
    pub role_multiplier: f64,
}

impl RateRequest {
    /// Who is counted.
    pub fn identity(&self) -> Identity {
        if self.user.is_some() {
            Identity::User
        } else {
            Identity::Ip
        }
    }

    /// The caller's key: `u:<user id>` or `ip:<address>`.
    pub fn key(&self) -> String {
        match self.user {
            Some(user) => format!("u:{user}"),
            None => format!("ip:{}", self.ip_key()),
        }
    }

    /// The address as counted: IPv6 clients by their /64 (one host usually holds a whole
    /// /64).
    pub fn ip_key(&self) -> String {
        match self.ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }

    /// The address as counted, as a number.
    fn ip_net(&self) -> u128 {
        match self.ip {
            IpAddr::V4(v4) => u128::from(v4.to_bits()),
            IpAddr::V6(v6) => (v6.to_bits() >> 64) | (1 << 127),
        }
    }

    /// The caller's slot in in-memory maps (adaptive scores).
    fn caller_slot(&self) -> u64 {
        match self.user {
            Some(user) => slot(&(0u8, user.as_u128())),
            None => slot(&(1u8, self.ip_net())),
        }
    }

    /// The slot of this caller's lease in this group (and from this address).
    fn lease_slot(&self) -> u64 {
        slot(&(
            self.group.index(),
            self.user.map(|u| u.as_u128()),
            self.ip_net(),
        ))
    }
}

/// A 64-bit key for a caller's in-memory state, so the hot path allocates nothing to find it.
fn slot(parts: &impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    static SEED: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    SEED.get_or_init(std::collections::hash_map::RandomState::new)
        .hash_one(parts)
}

/// Most callers tracked in memory; past it, state starts afresh (a flood of distinct addresses
/// cannot exhaust memory).
const MAX_TRACKED: usize = 100_000;

/// Adaptive allowances (the original's `AdaptiveRateLimiter`): each caller has a score in
/// [-1, 1], +0.1 for each allowed request and -0.2 for each refused one; their limit is the
/// base times 1 + score/2, so between 0.5x and 1.5x. Scores idle for ten minutes are dropped.
#[derive(Default)]
pub struct Adaptive {
    scores: dashmap::DashMap<u64, (f64, std::time::Instant)>,
}

impl Adaptive {
    /// The caller's multiplier now.
    pub fn multiplier(&self, caller: u64) -> f64 {
        1.0 + self.scores.get(&caller).map_or(0.0, |e| e.0) / 2.0
    }

    /// Moves the caller's score after a decision.
    pub fn record(&self, caller: u64, allowed: bool) {
        self.step(caller, if allowed { 0.1 } else { -0.2 });
    }

    /// Moves the caller's score after `n` allowed requests.
    pub fn record_allowed(&self, caller: u64, n: u32) {
        self.step(caller, 0.1 * f64::from(n));
    }

    fn step(&self, caller: u64, step: f64) {
        let now = std::time::Instant::now();
        let mut entry = self.scores.entry(caller).or_insert((0.0, now));
        entry.0 = (entry.0 + step).clamp(-1.0, 1.0);
        entry.1 = now;
    }

    fn prune(&self) {
        let idle = Duration::from_secs(600);
        self.scores.retain(|_, (_, seen)| seen.elapsed() < idle);
        if self.scores.len() > MAX_TRACKED {
            self.scores.clear();
        }
        self.scores.shrink_to_fit();
    }
}

/// How long a request waits for another's refill of the lease before asking Redis itself.
const REFILL_WAIT: Duration = Duration::from_millis(50);

/// How long a lease slice should last a busy caller.
const SLICE_PACE: Duration = Duration::from_millis(100);

/// Cells of callers' shared allowances this instance holds.
struct Lease {
    left: AtomicI64,
    /// Cells spent since the caller's adaptive score was last moved.
    spent: AtomicU32,
    /// When cells were last granted (to size the next slice by the caller's pace).
    granted_at: std::time::Instant,
    /// Whether a request is taking the next slice from Redis.
    refilling: AtomicBool,
    /// Past this many cells left, the next slice is fetched.
    low_water: i64,
    /// What Redis reported as remaining beyond the lease.
    remaining: u32,
    spec: RateSpec,
    reset_at: std::time::Instant,
    expires: std::time::Instant,
}

/// What the lease of a caller gave.
enum Take {
    /// A held cell; `top_up` asks the caller to fetch the next slice (only one does).
    Hit { decision: Decision, top_up: bool },
    /// Nothing held; `busy` when another request is already fetching a slice.
    Miss { busy: bool },
}

/// Ends the refill a request claimed however the request ends, even when it is dropped
/// half-way (a claimed refill that never ended would stop the caller's leasing).
struct RefillGuard<'a> {
    leases: &'a Leases,
    key: u64,
}

impl Drop for RefillGuard<'_> {
    fn drop(&mut self) {
        self.leases.refill_failed(self.key);
    }
}

#[derive(Default)]
struct Leases {
    map: dashmap::DashMap<u64, Lease>,
    /// Woken whenever a refill ends, for the requests waiting on it.
    refilled: tokio::sync::Notify,
}

impl Lease {
    /// A lease holding nothing yet.
    fn empty(now: std::time::Instant, refilling: bool) -> Self {
        Self {
            left: AtomicI64::new(0),
            spent: AtomicU32::new(0),
            granted_at: now,
            refilling: AtomicBool::new(refilling),
            low_water: 0,
            remaining: 0,
            spec: RateSpec {
                limit: 1,
                window: Duration::ZERO,
            },
            reset_at: now,
            expires: now,
        }
    }
}

impl Leases {
    /// Adds `cells` to the caller's lease (a lease holds at most two slices: cells beyond are
    /// dropped, which only ever admits less) and ends its refill.
    fn grant(&self, key: u64, cells: u32, slice: u32, decision: &Decision) {
        let now = std::time::Instant::now();
        let mut lease = self
            .map
            .entry(key)
            .or_insert_with(|| Lease::empty(now, false));
        let held = if lease.expires > now {
            lease.left.load(Ordering::Acquire).max(0)
        } else {
            0
        };
        let left = (held + i64::from(cells)).min(2 * i64::from(slice.max(cells)));
        lease.left.store(left, Ordering::Release);
        lease.low_water = i64::from(slice / 2);
        lease.remaining = decision.remaining;
        lease.spec = decision.spec;
        lease.reset_at = now + decision.reset;
        lease.granted_at = now;
        lease.expires = now + decision.spec.window;
        lease.refilling.store(false, Ordering::Release);
        drop(lease);
        self.refilled.notify_waiters();
    }

    /// Spends one held cell; when none is held and another request is fetching the next
    /// slice, waits for it (briefly: past [`REFILL_WAIT`] the request asks Redis itself), so
    /// a burst of requests costs one round trip, not one each.
    async fn take_or_wait(&self, key: u64) -> Take {
        let deadline = tokio::time::Instant::now() + REFILL_WAIT;
        loop {
            let notified = self.refilled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.take(key) {
                Take::Miss { busy: true } if tokio::time::Instant::now() < deadline => {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        return Take::Miss { busy: true };
                    }
                }
                other => return other,
            }
        }
    }

    /// Spends one held cell, if any.
    fn take(&self, key: u64) -> Take {
        let Some(lease) = self.map.get(&key) else {
            // The first request of a caller claims the first fetch; others wait for it.
            let mut claimed = false;
            self.map.entry(key).or_insert_with(|| {
                claimed = true;
                Lease::empty(std::time::Instant::now(), true)
            });
            return Take::Miss { busy: !claimed };
        };
        let busy = || Take::Miss {
            busy: lease
                .refilling
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err(),
        };
        let now = std::time::Instant::now();
        if now >= lease.expires {
            return busy();
        }
        let before = lease.left.fetch_sub(1, Ordering::AcqRel);
        if before <= 0 {
            return busy();
        }
        lease.spent.fetch_add(1, Ordering::Relaxed);
        let top_up = before - 1 <= lease.low_water
            && lease
                .refilling
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        Take::Hit {
            decision: Decision {
                allowed: true,
                spec: lease.spec,
                remaining: (lease.remaining + u32::try_from(before - 1).unwrap_or(0))
                    .min(lease.spec.limit),
                reset: lease.reset_at.saturating_duration_since(now),
            },
            top_up,
        }
    }

    /// Cells spent since the last call, and the time since the last grant.
    fn usage(&self, key: u64) -> (u32, Duration) {
        self.map.get(&key).map_or((0, Duration::ZERO), |l| {
            (l.spent.swap(0, Ordering::AcqRel), l.granted_at.elapsed())
        })
    }

    /// Ends a refill that got no cells.
    fn refill_failed(&self, key: u64) {
        if let Some(lease) = self.map.get(&key) {
            lease.refilling.store(false, Ordering::Release);
        }
        self.refilled.notify_waiters();
    }

    fn prune(&self) {
        let now = std::time::Instant::now();
        self.map
            .retain(|_, l| l.expires > now || l.refilling.load(Ordering::Acquire));
        if self.map.len() > MAX_TRACKED {
            self.map.clear();
        }
        self.map.shrink_to_fit();
    }
}

/// All limiters of the instance.
pub struct RateLimits {
    groups: Vec<Limit>,
    ceiling: Limit,
    shared: Option<shared::SharedLimits>,
    adaptive: Adaptive,
    leases: Leases,
    role_multipliers: Vec<(String, f64)>,
    counters: [[[AtomicU64; 2]; 2]; 6],
    redis_calls: AtomicU64,
}

/// Allowed and refused requests of one group.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupStats {
    /// Route group.
    pub group: String,
    /// The limit, `requests/seconds`.
    pub limit: String,
    /// Allowed, for signed-in users.
    pub allowed_users: u64,
    /// Refused, for signed-in users.
    pub limited_users: u64,
    /// Allowed, for anonymous clients.
    pub allowed_ips: u64,
    /// Refused, for anonymous clients.
    pub limited_ips: u64,
}

impl RateLimits {
    /// Limiters for the six groups (in [`Group::ALL`] order) and the per-IP ceiling.
    pub fn new(groups: [RateSpec; 6], ceiling: RateSpec) -> Self {
        Self {
            groups: groups.into_iter().map(Limit::new).collect(),
            ceiling: Limit::new(ceiling),
            shared: None,
            adaptive: Adaptive::default(),
            leases: Leases::default(),
            role_multipliers: Vec::new(),
            counters: Default::default(),
            redis_calls: AtomicU64::new(0),
        }
    }

    /// Scales a role's allowances (`RATE_LIMIT_ROLE_MULTIPLIERS`, parsed once at start).
    pub fn with_role_multipliers(mut self, multipliers: Vec<(String, f64)>) -> Self {
        self.role_multipliers = multipliers;
        self
    }

    /// The multiplier of `role` (1 for a role not listed).
    pub fn role_multiplier(&self, role: &str) -> f64 {
        self.role_multipliers
            .iter()
            .find(|(r, _)| r == role)
            .map_or(1.0, |(_, x)| *x)
    }

    /// Also holds the quotas across instances through `redis`.
    pub fn shared_through(mut self, redis: crate::redis::Redis) -> Self {
        self.shared = Some(shared::SharedLimits::new(redis));
        self
    }

    /// The decision for one request: the instances' shared one when Redis answers, this
    /// instance's own otherwise.
    ///
    /// The shared limit is the group's base scaled by the caller's adaptive multiplier (see
    /// [`Adaptive`]) and role multiplier; the in-process fallback keeps the base.
    pub async fn check_request(self: &Arc<Self>, req: &RateRequest) -> Decision {
        let shared = match &self.shared {
            Some(shared) => self.shared_decision(shared, req).await,
            None => None,
        };
        // In-process limits decide when Redis cannot: they start from a fresh allowance then,
        // which may admit one more burst per instance, never an unlimited flow.
        let decision = match shared {
            Some(decision) => decision,
            None => {
                let decision = self.local_n(req.group, &req.key(), &req.ip_key(), req.cost);
                if req.group.adaptive() {
                    self.adaptive.record(req.caller_slot(), decision.allowed);
                }
                decision
            }
        };
        self.count(req.group, req.identity(), &decision);
        decision
    }

    /// The shared decision, spending this instance's lease of the caller's allowance first.
    ///
    /// A lease is a slice of the caller's allowance (a tenth of the limit, at most 100 cells)
    /// taken from Redis in one call. When half of it is spent, the request that notices fetches
    /// the next slice in the background while the others go on spending; only that one request
    /// talks to Redis, so a busy caller costs one round trip per half slice. The instances
    /// together never admit more than the quota: a slice is taken atomically, never handed out
    /// twice, and an unused one expires with the window. Near the limit, when no slice can be
    /// had, each request asks Redis for its own cell.
    async fn shared_decision(
        self: &Arc<Self>,
        shared: &shared::SharedLimits,
        req: &RateRequest,
    ) -> Option<Decision> {
        let lease_key = req.lease_slot();
        let mut busy = false;
        if req.cost == 1 {
            match self.leases.take_or_wait(lease_key).await {
                Take::Hit { decision, top_up } => {
                    if top_up {
                        let this = Arc::clone(self);
                        let req = *req;
                        tokio::spawn(async move { this.top_up(lease_key, &req).await });
                    }
                    return Some(decision);
                }
                Take::Miss { busy: b } => busy = b,
            }
        }
        let (spec, slice) = self.shared_spec(lease_key, req);
        // With a refill in flight, this request takes only its own cell.
        let leasing = req.cost == 1 && !busy;
        let wanted = if leasing { slice } else { req.cost };
        let refill = leasing.then(|| RefillGuard {
            leases: &self.leases,
            key: lease_key,
        });
        let (decision, taken) = self.ask(shared, req, spec, (wanted, req.cost)).await?;
        if req.group.adaptive() {
            self.adaptive.record(req.caller_slot(), decision.allowed);
        }
        if leasing && decision.allowed && taken > req.cost {
            // The grant ends the refill.
            self.leases
                .grant(lease_key, taken - req.cost, slice, &decision);
            std::mem::forget(refill);
        }
        // The caller's allowance includes what this instance holds for it.
        Some(Decision {
            remaining: (decision.remaining + taken.saturating_sub(req.cost))
                .min(decision.spec.limit),
            ..decision
        })
    }

    /// Fetches the next slice of a caller's lease (all of it or nothing: near the limit the
    /// lease runs dry and requests ask for their own cells).
    async fn top_up(&self, lease_key: u64, req: &RateRequest) {
        let Some(shared) = &self.shared else { return };
        let (spec, slice) = self.shared_spec(lease_key, req);
        let reply = self.ask(shared, req, spec, (slice, slice)).await;
        match reply {
            Some((decision, taken)) if decision.allowed && taken > 0 => {
                self.leases.grant(lease_key, taken, slice, &decision);
            }
            _ => self.leases.refill_failed(lease_key),
        }
    }

    /// One round trip to the shared limits: `cells` is (a lease to take when possible, the
    /// request's own cost).
    async fn ask(
        &self,
        shared: &shared::SharedLimits,
        req: &RateRequest,
        spec: RateSpec,
        cells: (u32, u32),
    ) -> Option<(Decision, u32)> {
        self.redis_calls.fetch_add(1, Ordering::Relaxed);
        shared
            .check(
                req.group.name(),
                &req.key(),
                &req.ip_key(),
                (spec, self.ceiling.spec),
                cells,
            )
            .await
    }

    /// The caller's shared limit (base x adaptive x role) and the size of its lease slices.
    /// Moves the adaptive score by the cells spent from the lease since the last call first.
    ///
    /// A slice is a tenth of the limit, at most 100 cells, or what the caller spends in
    /// [`SLICE_PACE`] when that is more (never over a tenth of the limit): a caller fast
    /// enough to spend a slice before the next one arrives from Redis would otherwise fall
    /// back to one round trip per request.
    fn shared_spec(&self, lease_key: u64, req: &RateRequest) -> (RateSpec, u32) {
        let (spent, since) = self.leases.usage(lease_key);
        if spent > 0 && req.group.adaptive() {
            self.adaptive.record_allowed(req.caller_slot(), spent);
        }
        let base = self.groups[req.group.index()].spec;
        let mut spec = base;
        let adaptive = if req.group.adaptive() {
            self.adaptive.multiplier(req.caller_slot())
        } else {
            1.0
        };
        spec.limit =
            ((f64::from(base.limit) * adaptive * req.role_multiplier).floor() as u32).max(1);
        let tenth = (spec.limit / 10).max(1);
        let paced = if since.is_zero() {
            0.0
        } else {
            f64::from(spent) * SLICE_PACE.as_secs_f64() / since.as_secs_f64()
        };
        let slice = (tenth.min(100)).max((paced as u32).min(tenth));
        (spec, slice)
    }

    fn local_n(&self, group: Group, key: &str, ip: &str, cost: u32) -> Decision {
        let ceiling = self.ceiling.check_n(ip, cost);
        if ceiling.allowed {
            self.groups[group.index()].check_n(key, cost)
        } else {
            ceiling
        }
    }

    /// Counts one request of `group` by `key` coming from `ip` in this instance only: the
    /// per-IP ceiling first, then the group's own limit.
    pub fn check(&self, group: Group, identity: Identity, key: &str, ip: &str) -> Decision {
        let decision = self.local(group, key, ip);
        self.count(group, identity, &decision);
        decision
    }

    fn local(&self, group: Group, key: &str, ip: &str) -> Decision {
        let ceiling = self.ceiling.check(ip);
        if ceiling.allowed {
            self.groups[group.index()].check(key)
        } else {
            ceiling
        }
    }

    fn count(&self, group: Group, identity: Identity, decision: &Decision) {
        let who = usize::from(identity == Identity::Ip);
        let what = usize::from(!decision.allowed);
        self.counters[group.index()][who][what].fetch_add(1, Ordering::Relaxed);
    }

    /// Drops keys whose allowance is whole again, and returns the memory.
    pub fn prune(&self) {
        for l in self.groups.iter().chain(std::iter::once(&self.ceiling)) {
            l.limiter.retain_recent();
            l.limiter.shrink_to_fit();
        }
        self.adaptive.prune();
        self.leases.prune();
    }

    /// Zeroes the allowed and refused counts and the Redis call count.
    pub fn reset_counters(&self) {
        for c in self.counters.iter().flatten().flatten() {
            c.store(0, Ordering::Relaxed);
        }
        self.redis_calls.store(0, Ordering::Relaxed);
    }

    /// Round trips made to Redis so far.
    pub fn redis_calls(&self) -> u64 {
        self.redis_calls.load(Ordering::Relaxed)
    }

    /// Keys currently tracked, all limiters.
    pub fn tracked_keys(&self) -> usize {
        self.groups
            .iter()
            .chain(std::iter::once(&self.ceiling))
            .map(|l| l.limiter.len())
            .sum()
    }

    /// Figures per group.
    pub fn stats(&self) -> Vec<GroupStats> {
        Group::ALL
            .iter()
            .map(|g| {
                let c = &self.counters[g.index()];
                GroupStats {
                    group: g.name().to_owned(),
                    limit: self.groups[g.index()].spec.to_string(),
                    allowed_users: c[0][0].load(Ordering::Relaxed),
                    limited_users: c[0][1].load(Ordering::Relaxed),
                    allowed_ips: c[1][0].load(Ordering::Relaxed),
                    limited_ips: c[1][1].load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> RateSpec {
        s.parse().expect("spec")
    }

    #[test]
    fn specs_parse_and_reject_nonsense() {
        assert_eq!(
            spec("10/60"),
            RateSpec {
                limit: 10,
                window: Duration::from_secs(60)
            }
        );
        for bad in ["", "10", "0/60", "10/0", "a/b", "-1/60"] {
            assert!(bad.parse::<RateSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn exactly_the_limit_passes_then_refusals_say_when_to_retry() {
        let limits = RateLimits::new(
            [
                spec("3/60"),
                spec("5/60"),
                spec("5/60"),
                spec("5/60"),
                spec("5/300"),
                spec("5/60"),
            ],
            spec("100/60"),
        );
        for i in 0..3 {
            let d = limits.check(Group::Auth, Identity::Ip, "ip:1", "1");
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 2 - i);
        }
        let refused = limits.check(Group::Auth, Identity::Ip, "ip:1", "1");
        assert!(!refused.allowed);
        assert!(
            refused.reset > Duration::from_secs(10) && refused.reset <= Duration::from_secs(20),
            "{:?}",
            refused.reset
        );
        assert!(
            limits.check(Group::Auth, Identity::Ip, "ip:2", "2").allowed,
            "other callers are unaffected"
        );
        assert!(
            limits
                .check(Group::Courses, Identity::Ip, "ip:1", "1")
                .allowed,
            "other groups are unaffected"
        );
    }

    #[test]
    fn the_ip_ceiling_catches_rotating_accounts() {
        let limits = RateLimits::new([spec("10/60"); 6], spec("4/60"));
        for u in 0..4 {
            assert!(
                limits
                    .check(Group::Default, Identity::User, &format!("u:{u}"), "9.9.9.9")
                    .allowed
            );
        }
        assert!(
            !limits
                .check(Group::Default, Identity::User, "u:fresh", "9.9.9.9")
                .allowed
        );
    }

    #[test]
    fn routes_fall_into_their_groups() {
        assert_eq!(Group::of("/api/auth/login"), Some(Group::Auth));
        assert_eq!(Group::of("/api/auth/me"), Some(Group::Default));
        assert_eq!(Group::of("/api/auth/logout"), Some(Group::Default));
        assert_eq!(Group::of("/api/dashboard/stats"), Some(Group::Dashboard));
        assert_eq!(Group::of("/api/courses/{id}"), Some(Group::Courses));
        assert_eq!(Group::of("/api/formateur/courses"), Some(Group::Courses));
        assert_eq!(
            Group::of("/api/formateur/quizzes/{id}/attempts"),
            Some(Group::Quizzes)
        );
        assert_eq!(Group::of("/api/notifications"), Some(Group::Default));
        for exempt in [
            "/api/health",
            "/api/performance/health",
            "/metrics",
            "/api/docs/{*rest}",
        ] {
            assert_eq!(Group::of(exempt), None, "{exempt}");
        }
    }
}

/// The shared (Redis) side of the limits.
pub mod shared {
    use std::{
        sync::Mutex,
        time::{Duration, Instant},
    };

    use fred::types::scripts::Script;

    use super::{Decision, RateSpec};
    use crate::redis::Redis;

    /// GCRA over two keys (the IP ceiling, then the group), times in milliseconds: takes
    /// `wanted` cells (a lease) when both allow it, else `needed` (the request's own cost).
    /// Returns
    /// `{allowed, remaining, reset_ms, limited_by_ceiling, cells_taken}`.
    const CHECK: &str = r"
local now = tonumber(ARGV[1])
local function gcra(key, period, burst, cost, write)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + period * cost
  local allow_at = new_tat - period * burst
  if allow_at > now then return false, 0, allow_at - now end
  if write then redis.call('SET', key, tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1) end
  return true, math.floor((now - allow_at) / period), new_tat - now
end
local function try(cost)
  local ok, _, reset = gcra(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]), cost, false)
  if not ok then return {0, 0, math.ceil(reset), 1, 0} end
  local gok, grem, greset = gcra(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]), cost, true)
  if not gok then return {0, 0, math.ceil(greset), 0, 0} end
  gcra(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]), cost, true)
  return {1, grem, math.ceil(greset), 0, cost}
end
local wanted, needed = tonumber(ARGV[6]), tonumber(ARGV[7])
local r = try(wanted)
if r[1] == 1 or wanted == needed then return r end
return try(needed)";

    /// How long Redis is skipped after a failure.
    const BACKOFF: Duration = Duration::from_secs(2);

    /// Shared limits in Redis.
    pub struct SharedLimits {
        redis: Redis,
        script: Script,
        skip_until: Mutex<Option<Instant>>,
    }

    impl SharedLimits {
        /// Limits stored under `<prefix>rl:`.
        pub fn new(redis: Redis) -> Self {
            Self {
                redis,
                script: Script::from_lua(CHECK),
                skip_until: Mutex::new(None),
            }
        }

        /// The shared decision and the cells taken, or `None` when Redis cannot answer now.
        /// `limits` is (the group's limit, the IP ceiling); `cells` is (a lease to take when
        /// possible, the request's own cost).
        pub async fn check(
            &self,
            group: &str,
            key: &str,
            ip: &str,
            limits: (RateSpec, RateSpec),
            cells: (u32, u32),
        ) -> Option<(Decision, u32)> {
            let ((spec, ceiling), (wanted, needed)) = (limits, cells);
            if self
                .skip_until
                .lock()
                .ok()
                .and_then(|g| *g)
                .is_some_and(|t| Instant::now() < t)
            {
                return None;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_millis() as u64;
            let period =
                |s: RateSpec| (s.window.as_millis() as f64 / f64::from(s.limit.max(1))).to_string();
            let keys = vec![
                self.redis.key(&format!("rl:ip:{ip}")),
                self.redis.key(&format!("rl:{group}:{key}")),
            ];
            let args = vec![
                now.to_string(),
                period(ceiling),
                ceiling.limit.to_string(),
                period(spec),
                spec.limit.to_string(),
                wanted.max(needed).max(1).to_string(),
                needed.max(1).to_string(),
            ];
            let reply: Result<Vec<i64>, _> = self
                .script
                .evalsha_with_reload(self.redis.client(), keys, args)
                .await;
            match reply {
                Ok(r) if r.len() == 5 => {
                    let by_ceiling = r[3] == 1;
                    let decision = Decision {
                        allowed: r[0] == 1,
                        spec: if by_ceiling { ceiling } else { spec },
                        remaining: u32::try_from(r[1].max(0)).unwrap_or(0),
                        reset: Duration::from_millis(u64::try_from(r[2].max(0)).unwrap_or(0)),
                    };
                    Some((decision, u32::try_from(r[4].max(0)).unwrap_or(0)))
                }
                Ok(_) | Err(_) => {
                    if let Ok(mut until) = self.skip_until.lock() {
                        *until = Some(Instant::now() + BACKOFF);
                    }
                    tracing::debug!("shared rate limits unavailable; limiting in process");
                    None
                }
            }
        }
    }
}
