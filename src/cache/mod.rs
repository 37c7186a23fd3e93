//! The two-tier cache of API.md §4: moka in process memory (microseconds, no network), Redis
//! shared by every instance, invalidated by tags on every write.
//!
//! Reads go through [`Cache::get_or_load`]: memory, then Redis (a hit there fills memory), then
//! the loader (the database), whose result fills both. Concurrent misses of one key run the
//! loader once (moka's `try_get_with`); a failed load is not cached.
//!
//! Writes call [`Cache::invalidate`] after they commit: the tags' entries leave this instance's
//! memory at once, and one Redis script deletes them from Redis and publishes the tags to the
//! other instances, which drop them from their memory and acknowledge; the write returns once
//! every live instance has (see [`invalidation`]).
//!
//! Redis failures never reach callers: a breaker stops trying for two seconds after five
//! consecutive failures, reads fall back to memory and the database, and while Redis is away
//! the memory tier keeps entries only `DEGRADED_MEMORY_TTL` (the other instances' writes cannot
//! reach us, so staleness is bounded by that). Invalidations that could not reach Redis are
//! replayed before the Redis tier is used again, and the memory tier is flushed when Redis comes
//! back (messages published meanwhile were lost).

pub mod encoded;
pub mod invalidation;
pub mod policy;
pub mod shared;
mod stats;

use std::{
    collections::HashSet,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use moka::{Expiry, future::Cache as Moka};
use uuid::Uuid;

pub use policy::{Browser, CacheKind, Policy, Tag};
pub use stats::{CacheStats, KindStats};

use crate::{error::AppError, extract::Role, redis::Redis};
use encoded::{Encodings, Precompressible};
use shared::SharedTier;

/// How long memory entries live while Redis is unreachable.
pub const DEGRADED_MEMORY_TTL: Duration = Duration::from_secs(5);
const BREAKER_THRESHOLD: u32 = 5;
/// Invalidations remembered for the overlap check; an older load is conservatively not kept.
const RECENT: usize = 256;
const BREAKER_OPEN: Duration = Duration::from_secs(2);

/// Where an answer came from (`X-Cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// From this instance's memory.
    HitMemory,
    /// From Redis.
    HitRedis,
    /// Loaded from the database.
    Miss,
    /// Not cached at all (e.g. uncacheable request).
    Bypass,
}

impl CacheStatus {
    /// The `X-Cache` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HitMemory => "HIT-MEMORY",
            Self::HitRedis => "HIT-REDIS",
            Self::Miss => "MISS",
            Self::Bypass => "BYPASS",
        }
    }
}

/// An invalidation seen: its epoch and its tags (`None`: everything).
type Invalidation = (u64, Option<Box<[String]>>);

/// A memory entry: the serialized answer, the tags that invalidate it, its own lifetime.
#[derive(Debug)]
pub struct Entry {
    /// JSON body.
    pub body: Bytes,
    tags: Box<[String]>,
    ttl: Duration,
    /// Its compressed forms, made on first demand.
    encodings: Arc<Encodings>,
}

impl Entry {
    fn new(body: Bytes, tags: Box<[String]>, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            body,
            tags,
            ttl,
            encodings: Arc::default(),
        })
    }
}

struct PerEntryTtl;

impl Expiry<String, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, value: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// What a loader produced: the body and the tags of what it read (e.g. each course of a page).
pub struct Loaded {
    /// JSON body.
    pub body: Bytes,
    /// Tags besides the kind's own.
    pub tags: Vec<Tag>,
}

impl Loaded {
    /// Serializes `value` as the body.
    pub fn json<T: serde::Serialize>(value: &T, tags: Vec<Tag>) -> Result<Self, AppError> {
        let body = serde_json::to_vec(value).map_err(|e| AppError::Internal(e.into()))?;
        Ok(Self {
            body: Bytes::from(body),
            tags,
        })
    }
}

/// A cached answer, ready to send with `X-Cache` and `Cache-Control`.
#[derive(Debug, Clone)]
pub struct Cached {
    /// JSON body.
    pub body: Bytes,
    /// Where it came from.
    pub status: CacheStatus,
    /// Its policy (for `Cache-Control`).
    pub policy: Policy,
    /// The compressed forms of `body`, shared with the memory entry.
    pub encodings: Arc<Encodings>,
}

/// `X-Cache` header name.
pub const X_CACHE: header::HeaderName = header::HeaderName::from_static("x-cache");

impl IntoResponse for Cached {
    fn into_response(self) -> Response {
        let cache_control = match self.policy.browser {
            Browser::Public { s_maxage } => public_cache_control(s_maxage),
            Browser::Private => HeaderValue::from_static("private, no-store"),
        };
        let compressible = self.body.len() >= encoded::MIN_COMPRESS_BYTES;
        let mut response = (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, cache_control),
                (X_CACHE, HeaderValue::from_static(self.status.as_str())),
            ],
            self.body.clone(),
        )
            .into_response();
        if compressible {
            response.extensions_mut().insert(Precompressible {
                body: self.body,
                encodings: self.encodings,
            });
        }
        response
    }
}

/// `Cache-Control` of a public entry: browsers revalidate, shared caches (CDNs) keep it
/// `s_maxage` seconds. The common values are static, so a hit allocates nothing here.
fn public_cache_control(s_maxage: u32) -> HeaderValue {
    match s_maxage {
        60 => HeaderValue::from_static("public, max-age=0, s-maxage=60, stale-while-revalidate=30"),
        n => HeaderValue::from_str(&format!(
            "public, max-age=0, s-maxage={n}, stale-while-revalidate=30"
        ))
        .unwrap_or(HeaderValue::from_static("no-store")),
    }
}

/// The cache facade shared by every handler.
#[derive(Clone)]
pub struct Cache(Arc<Inner>);

struct Inner {
    memory: Moka<String, Arc<Entry>>,
    enabled: bool,
    shared: SharedTier,
    memory_ttl: Duration,
    instance: Uuid,
    /// Bumped by every invalidation this instance sees.
    epoch: AtomicU64,
    /// The latest invalidations, `(epoch, tags)` (`None`: everything), so that a load which
    /// overlapped one of its own tags' invalidations is not kept.
    recent: Mutex<std::collections::VecDeque<Invalidation>>,
    breaker_failures: AtomicU32,
    breaker_open_until: Mutex<Option<Instant>>,
    redis_healthy: AtomicBool,
    /// Sequence number of this instance's broadcasts, and the highest one heard back.
    sent: AtomicU64,
    /// Acknowledgements received for each of our broadcasts: who has applied it.
    acks: Mutex<std::collections::HashMap<u64, HashSet<Uuid>>>,
    ack_notify: tokio::sync::Notify,
    /// Set once the first subscription to the invalidation channel succeeded or gave up.
    settled: AtomicBool,
    settled_notify: tokio::sync::Notify,
    /// Tags whose invalidation has not reached Redis yet.
    pending: Mutex<HashSet<String>>,
    stats: stats::Counters,
    /// Live instances counted by the last heartbeat (0: unknown).
    live: AtomicU64,
}

/// Result of a clear-cache.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cleared {
    /// Memory entries removed on this instance.
    pub memory: u64,
    /// Redis keys removed.
    pub redis: u64,
    /// Whether Redis could be reached.
    pub redis_ok: bool,
}

impl Cache {
    /// A cache holding at most `max_bytes` in memory, with entries living `memory_ttl` there.
    pub fn new(redis: Redis, max_bytes: u64, memory_ttl: Duration, enabled: bool) -> Self {
        let counters = stats::Counters::default();
        let evictions = counters.evictions.clone();
        let memory = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &Arc<Entry>| {
                let tags: usize = v.tags.iter().map(String::len).sum();
                // The compressed forms come later, on demand: half the body is room for both
                // (JSON compresses to well under a quarter with either coding).
                let body = v.body.len() + v.body.len() / 2;
                u32::try_from(k.len() + body + tags + 96).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .eviction_listener(move |_, _, cause| {
                if cause == moka::notification::RemovalCause::Size {
                    evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self(Arc::new(Inner {
            memory,
            enabled,
            shared: SharedTier::new(redis),
            memory_ttl,
            instance: Uuid::new_v4(),
            epoch: AtomicU64::new(0),
            recent: Mutex::new(std::collections::VecDeque::with_capacity(RECENT)),
            breaker_failures: AtomicU32::new(0),
            breaker_open_until: Mutex::new(None),
            redis_healthy: AtomicBool::new(true),
            sent: AtomicU64::new(0),
            acks: Mutex::new(std::collections::HashMap::new()),
            ack_notify: tokio::sync::Notify::new(),
            settled: AtomicBool::new(false),
            settled_notify: tokio::sync::Notify::new(),
            pending: Mutex::new(HashSet::new()),
            stats: counters,
            live: AtomicU64::new(0),
        }))
    }

    /// The answer for `kind` and `key`, from memory, Redis or `load`.
    ///
    /// `role` selects the policy row, `key` holds everything the answer depends on (the viewer
    /// id for user-scoped kinds), `tags` are the kind's tags for this key.
    pub async fn get_or_load<F, Fut>(
        &self,
        kind: CacheKind,
        role: Option<Role>,
        key: &str,
        tags: Vec<Tag>,
        load: F,
    ) -> Result<Cached, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded, AppError>>,
    {
        self.get_or_load_with(kind, kind.policy(role), key, tags, load)
            .await
    }

    /// [`Cache::get_or_load`] with a policy decided by the caller (a TTL from the
    /// configuration, e.g. `IMAGE_CACHE_TTL`).
    pub async fn get_or_load_with<F, Fut>(
        &self,
        kind: CacheKind,
        policy: Policy,
        key: &str,
        tags: Vec<Tag>,
        load: F,
    ) -> Result<Cached, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded, AppError>>,
    {
        if !self.0.enabled {
            let loaded = load().await?;
            self.0.stats.record(kind, CacheStatus::Bypass);
            return Ok(Cached {
                body: loaded.body,
                status: CacheStatus::Bypass,
                policy,
                encodings: Arc::default(),
            });
        }
        let full_key = format!("{}:{key}", kind.name());
        let inner = &self.0;
        // The fast path: a plain lookup, cheaper than the coalescing entry API below.
        if let Some(entry) = inner.memory.get(&full_key).await {
            inner.stats.record(kind, CacheStatus::HitMemory);
            return Ok(Cached {
                body: entry.body.clone(),
                status: CacheStatus::HitMemory,
                policy,
                encodings: entry.encodings.clone(),
            });
        }
        let source = AtomicU8::new(0);
        let result = inner
            .memory
            .try_get_with::<_, AppError>(full_key.clone(), async {
                let epoch = inner.epoch.load(Ordering::Acquire);
                let tag_keys: Vec<String> = tags.iter().map(Tag::key).collect();
                let mut gens = None;
                if policy.redis_ttl.is_some() && self.redis_usable().await {
                    match inner.shared.get(&full_key, &tag_keys).await {
                        Ok(lookup) => {
                            self.redis_ok();
                            if let Some(stored) = lookup.value
                                && let Some((stored_tags, body)) = decode(&stored)
                            {
                                source.store(1, Ordering::Release);
                                let ttl = self.memory_ttl(&policy, epoch, &stored_tags);
                                return Ok(Entry::new(body, stored_tags.into(), ttl));
                            }
                            gens = Some(lookup.gens);
                        }
                        Err(err) => self.redis_failed(&err),
                    }
                }
                let loaded = load().await?;
                source.store(2, Ordering::Release);
                let mut all_tags = tag_keys;
                for extra in &loaded.tags {
                    let k = extra.key();
                    if !all_tags.contains(&k) {
                        all_tags.push(k);
                    }
                }
                if let (Some(ttl), Some(mut gens)) = (policy.redis_ttl, gens) {
                    // Tags found by the load were not read before it, so there is no generation
                    // to compare: they are stored unchecked (an empty generation). Reading them
                    // just before storing would cost a round trip and catch nothing.
                    gens.resize(all_tags.len(), String::new());
                    self.store_shared(&full_key, &all_tags, &gens, &loaded.body, ttl)
                        .await;
                }
                let ttl = self.memory_ttl(&policy, epoch, &all_tags);
                Ok(Entry::new(loaded.body, all_tags.into(), ttl))
            })
            .await;
        let status = match source.load(Ordering::Acquire) {
            0 => CacheStatus::HitMemory,
            1 => CacheStatus::HitRedis,
            _ => CacheStatus::Miss,
        };
        inner.stats.record(kind, status);
        match result {
            Ok(entry) => Ok(Cached {
                body: entry.body.clone(),
                status,
                policy,
                encodings: entry.encodings.clone(),
            }),
            Err(err) => Err(err.duplicate()),
        }
    }

    /// The memory lifetime of a new entry: none at all if an invalidation happened during the
    /// load (it may hold what was just invalidated), short while Redis is away.
    fn memory_ttl(&self, policy: &Policy, epoch_before: u64, tags: &[String]) -> Duration {
        if self.0.epoch.load(Ordering::Acquire) != epoch_before
            && self.overlapped(epoch_before, tags)
        {
            return Duration::ZERO;
        }
        let ttl = policy.memory_ttl.unwrap_or(self.0.memory_ttl);
        if self.degraded() {
            ttl.min(DEGRADED_MEMORY_TTL)
        } else {
            ttl
        }
    }

    /// Whether an invalidation after `epoch_before` touched one of `tags`.
    fn overlapped(&self, epoch_before: u64, tags: &[String]) -> bool {
        let Ok(recent) = self.0.recent.lock() else {
            return true;
        };
        match recent.front() {
            Some((oldest, _)) if *oldest <= epoch_before + 1 => {}
            _ => return true,
        }
        recent
            .iter()
            .filter(|(e, _)| *e > epoch_before)
            .any(|(_, inv)| match inv {
                None => true,
                Some(inv) => inv.iter().any(|t| tags.contains(t)),
            })
    }

    fn record_invalidation(&self, tags: Option<&[String]>) {
        let epoch = self.0.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        if let Ok(mut recent) = self.0.recent.lock() {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back((epoch, tags.map(Into::into)));
        }
    }

    async fn store_shared(
        &self,
        key: &str,
        tags: &[String],
        gens: &[String],
        body: &Bytes,
        ttl: Duration,
    ) {
        match self
            .0
            .shared
            .put(key, encode(tags, body), ttl.as_secs().max(1), tags, gens)
            .await
        {
            Ok(_) => self.redis_ok(),
            Err(err) => self.redis_failed(&err),
        }
    }

    /// Drops every entry tagged with one of `tags`, here, in Redis and on every other instance.
    /// Call it after the write committed.
    pub async fn invalidate(&self, tags: &[Tag]) {
        let keys: Vec<String> = tags.iter().map(Tag::key).collect();
        self.invalidate_local(&keys);
        if !self.redis_usable().await {
            self.defer(&keys);
            return;
        }
        let seq = self.0.sent.fetch_add(1, Ordering::AcqRel) + 1;
        let message = invalidation::Message::Tags(keys.clone()).encode(self.0.instance, seq);
        match self.0.shared.invalidate(&keys, &message).await {
            Ok(live) => {
                self.redis_ok();
                self.await_acks(seq, &live).await;
            }
            Err(err) => {
                self.redis_failed(&err);
                self.defer(&keys);
            }
        }
    }

    /// Drops the tagged entries from this instance's memory only.
    pub fn invalidate_local(&self, tags: &[String]) {
        self.record_invalidation(Some(tags));
        let tags: HashSet<String> = tags.iter().cloned().collect();
        // Applied lazily by moka, but a `get` never returns an entry matching the predicate.
        let _ = self
            .0
            .memory
            .invalidate_entries_if(move |_, v| v.tags.iter().any(|t| tags.contains(t)));
    }

    /// Empties this instance's memory tier (all, or one kind); returns the entries removed.
    pub async fn clear_memory(&self, kind: Option<CacheKind>) -> u64 {
        self.record_invalidation(None);
        let memory = &self.0.memory;
        memory.run_pending_tasks().await;
        let count = match kind {
            None => {
                let n = memory.entry_count();
                memory.invalidate_all();
                n
            }
            Some(kind) => {
                let prefix = format!("{}:", kind.name());
                let n = memory
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .count() as u64;
                let _ = memory.invalidate_entries_if(move |k, _| k.starts_with(&prefix));
                n
            }
        };
        memory.run_pending_tasks().await;
        count
    }

    /// The operators' clear-cache: this instance's memory and/or the Redis tier, broadcast to
    /// the other instances so that they empty their memory too.
    pub async fn clear(&self, memory: bool, redis: bool, kind: Option<CacheKind>) -> Cleared {
        let mut out = Cleared {
            redis_ok: true,
            ..Cleared::default()
        };
        if memory {
            out.memory = self.clear_memory(kind).await;
            let seq = self.0.sent.fetch_add(1, Ordering::AcqRel) + 1;
            let message = invalidation::Message::Clear(kind.map(|k| k.name().to_owned()))
                .encode(self.0.instance, seq);
            // An invalidation without tags: only the broadcast (and the list of who must ack).
            match self.0.shared.invalidate(&[], &message).await {
                Ok(live) => self.await_acks(seq, &live).await,
                Err(err) => {
                    self.redis_failed(&err);
                    out.redis_ok = false;
                }
            }
        }
        if redis {
            match self.0.shared.clear(kind.map(CacheKind::name)).await {
                Ok(n) => out.redis = n,
                Err(err) => {
                    self.redis_failed(&err);
                    out.redis_ok = false;
                }
            }
        }
        out
    }

    /// Waits until every other live instance acknowledged broadcast `seq`, i.e. has applied
    /// it to its memory tier, so that when a write returns no instance still serves what it
    /// replaced. An instance that does not answer within 250 ms is not waited for (it is
    /// overloaded or partitioned; its entries expire by their TTL, shortened while it cannot
    /// reach Redis).
    async fn await_acks(&self, seq: u64, live: &[String]) {
        let me = self.0.instance;
        let peers: HashSet<Uuid> = live
            .iter()
            .filter_map(|s| s.parse().ok())
            .filter(|id| *id != me)
            .collect();
        if !peers.is_empty() {
            let wait = async {
                loop {
                    let notified = self.0.ack_notify.notified();
                    let done = self.0.acks.lock().map_or(true, |acks| {
                        acks.get(&seq).is_some_and(|got| peers.is_subset(got))
                    });
                    if done {
                        return;
                    }
                    notified.await;
                }
            };
            if tokio::time::timeout(Duration::from_millis(250), wait)
                .await
                .is_err()
            {
                tracing::warn!(
                    seq,
                    peers = peers.len(),
                    "not every instance acknowledged a cache invalidation within 250 ms"
                );
            }
        }
        if let Ok(mut acks) = self.0.acks.lock() {
            acks.remove(&seq);
        }
    }

    /// Records that `from` applied our broadcast `seq`.
    pub fn acked(&self, seq: u64, from: Uuid) {
        if seq > self.0.sent.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut acks) = self.0.acks.lock() {
            // Only broadcasts still awaited, and a bounded number of them.
            if acks.len() < 10_000 {
                acks.entry(seq).or_default().insert(from);
            }
        }
        self.0.ack_notify.notify_waiters();
    }

    /// Tells `to` that this instance applied its broadcast `seq`.
    pub async fn acknowledge(&self, to: Uuid, seq: u64) {
        let message = invalidation::Message::Ack(to).encode(self.0.instance, seq);
        if let Err(err) = self.0.shared.publish(&message).await {
            self.redis_failed(&err);
        }
    }

    /// Marks the first subscription attempt as done.
    pub fn subscription_settled(&self) {
        self.0.settled.store(true, Ordering::Release);
        self.0.settled_notify.notify_waiters();
    }

    /// Waits (at most `max`) for the first subscription attempt, so that an instance is listening
    /// to invalidations before it serves.
    pub async fn wait_settled(&self, max: Duration) {
        let wait = async {
            loop {
                let notified = self.0.settled_notify.notified();
                if self.0.settled.load(Ordering::Acquire) {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(max, wait).await;
    }

    /// Heartbeat: tells the other instances this one is alive (and must acknowledge).
    pub async fn heartbeat(&self) {
        match self.0.shared.register(&self.0.instance.to_string()).await {
            Ok(live) => self
                .0
                .live
                .store(u64::try_from(live).unwrap_or(0), Ordering::Relaxed),
            Err(err) => {
                self.0.live.store(0, Ordering::Relaxed);
                tracing::debug!(error = %err, "cache heartbeat failed");
            }
        }
    }

    /// Instances alive at the last heartbeat, this one included (0: unknown, Redis away).
    pub fn live_instances(&self) -> u64 {
        self.0.live.load(Ordering::Relaxed)
    }

    /// Leaves the set of live instances (at shutdown).
    pub async fn leave(&self) {
        let _ = self.0.shared.unregister(&self.0.instance.to_string()).await;
    }

    fn defer(&self, tags: &[String]) {
        if let Ok(mut pending) = self.0.pending.lock() {
            pending.extend(tags.iter().cloned());
        }
    }

    /// Whether Redis may be tried now: the breaker is closed and earlier invalidations that
    /// failed have been replayed (so Redis holds nothing this instance knows to be stale).
    async fn redis_usable(&self) -> bool {
        if self.breaker_open() {
            return false;
        }
        let pending: Vec<String> = match self.0.pending.lock() {
            Ok(p) if !p.is_empty() => p.iter().cloned().collect(),
            _ => return true,
        };
        let seq = self.0.sent.fetch_add(1, Ordering::AcqRel) + 1;
        let message = invalidation::Message::Tags(pending.clone()).encode(self.0.instance, seq);
        match self.0.shared.invalidate(&pending, &message).await {
            Ok(_) => {
                if let Ok(mut p) = self.0.pending.lock() {
                    for t in &pending {
                        p.remove(t);
                    }
                }
                self.redis_ok();
                true
            }
            Err(err) => {
                self.redis_failed(&err);
                false
            }
        }
    }

    fn redis_ok(&self) {
        self.0.breaker_failures.store(0, Ordering::Release);
    }

    fn redis_failed(&self, err: &fred::error::Error) {
        self.0.stats.redis_errors.fetch_add(1, Ordering::Relaxed);
        let failures = self.0.breaker_failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= BREAKER_THRESHOLD {
            if let Ok(mut until) = self.0.breaker_open_until.lock() {
                if until.is_none_or(|u| Instant::now() >= u) {
                    tracing::warn!(error = %err, "Redis cache tier failing; skipping it for {}s", BREAKER_OPEN.as_secs());
                }
                *until = Some(Instant::now() + BREAKER_OPEN);
            }
        } else {
            tracing::debug!(error = %err, "Redis cache call failed; answered from memory or the database");
        }
    }

    /// Whether the cache runs without Redis (breaker open or the health probe failing).
    pub fn degraded(&self) -> bool {
        self.breaker_open() || !self.0.redis_healthy.load(Ordering::Acquire)
    }

    /// Whether the breaker keeps Redis out for now.
    fn breaker_open(&self) -> bool {
        self.0
            .breaker_open_until
            .lock()
            .ok()
            .and_then(|g| *g)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Called by the health probe. When Redis comes back, the memory tier is flushed:
    /// invalidations published while it was away never reached this instance.
    pub async fn set_redis_health(&self, up: bool) {
        let was = self.0.redis_healthy.swap(up, Ordering::AcqRel);
        if up && !was {
            let n = self.clear_memory(None).await;
            tracing::info!(entries = n, "Redis is back: flushed the memory tier");
        }
    }

    /// Entries and bytes in memory (after applying pending maintenance).
    pub async fn memory_size(&self) -> (u64, u64) {
        self.0.memory.run_pending_tasks().await;
        (self.0.memory.entry_count(), self.0.memory.weighted_size())
    }

    /// Entries in memory, without maintenance (cheap, approximate).
    pub fn memory_entries(&self) -> u64 {
        self.0.memory.entry_count()
    }

    /// Hit and miss counts.
    pub fn stats(&self) -> CacheStats {
        self.0.stats.snapshot()
    }

    /// Zeroes the hit, miss, error and eviction counts.
    pub fn reset_stats(&self) {
        self.0.stats.reset();
    }

    /// Runs moka's pending maintenance (expired entries, evictions).
    pub async fn run_pending_tasks(&self) {
        self.0.memory.run_pending_tasks().await;
    }

    /// This instance's id in invalidation messages.
    pub fn instance(&self) -> Uuid {
        self.0.instance
    }

    /// The Redis tier.
    pub fn shared(&self) -> &SharedTier {
        &self.0.shared
    }
}

/// Redis values carry their tags, so a Redis hit can fill memory with an invalidatable entry:
/// `tag,tag,…\n<json>`.
fn encode(tags: &[String], body: &Bytes) -> Bytes {
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(tags.join(",").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body);
    Bytes::from(out)
}

fn decode(stored: &Bytes) -> Option<(Vec<String>, Bytes)> {
    let split = stored.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&stored[..split]).ok()?;
    let tags = header
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    Some((tags, stored.slice(split + 1..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip_with_their_tags() {
        let tags = vec!["courses".to_owned(), "course:1".to_owned()];
        let body = Bytes::from_static(br#"{"a":"x\ny"}"#);
        let (t, b) = decode(&encode(&tags, &body)).expect("decodes");
        assert_eq!(t, tags);
        assert_eq!(b, body);
    }
}
