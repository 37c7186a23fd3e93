//! Hit and miss counters per tier and per cache type.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use serde::Serialize;
use utoipa::ToSchema;

use super::{CacheKind, CacheStatus};

#[derive(Default)]
pub(super) struct Counters {
    per_kind: [[AtomicU64; 3]; CacheKind::ALL.len()],
    pub(super) redis_errors: AtomicU64,
    pub(super) evictions: Arc<AtomicU64>,
}

/// Figures of one cache type.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KindStats {
    /// Cache type (`COURSE_LIST`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// Answers from memory.
    pub memory_hits: u64,
    /// Answers from Redis.
    pub redis_hits: u64,
    /// Answers loaded from the database.
    pub misses: u64,
}

/// Cache figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    /// Answers from memory, all types.
    pub memory_hits: u64,
    /// Answers from Redis, all types.
    pub redis_hits: u64,
    /// Answers loaded from the database, all types.
    pub misses: u64,
    /// Share of answers that did not reach the database, in % (0 when nothing was asked).
    pub hit_rate: f64,
    /// Failed or timed-out Redis calls.
    pub redis_errors: u64,
    /// Memory entries evicted for lack of room.
    pub evictions: u64,
    /// Per type.
    pub by_type: Vec<KindStats>,
}

impl Counters {
    pub(super) fn record(&self, kind: CacheKind, status: CacheStatus) {
        let slot = match status {
            CacheStatus::HitMemory => 0,
            CacheStatus::HitRedis => 1,
            CacheStatus::Miss | CacheStatus::Bypass => 2,
        };
        self.per_kind[kind.index()][slot].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn reset(&self) {
        for kind in &self.per_kind {
            for c in kind {
                c.store(0, Ordering::Relaxed);
            }
        }
        self.redis_errors.store(0, Ordering::Relaxed);
        self.evictions.store(0, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> CacheStats {
        let by_type: Vec<KindStats> = CacheKind::ALL
            .iter()
            .map(|k| {
                let c = &self.per_kind[k.index()];
                KindStats {
                    kind: k.name().to_owned(),
                    memory_hits: c[0].load(Ordering::Relaxed),
                    redis_hits: c[1].load(Ordering::Relaxed),
                    misses: c[2].load(Ordering::Relaxed),
                }
            })
            .collect();
        let memory_hits = by_type.iter().map(|k| k.memory_hits).sum();
        let redis_hits = by_type.iter().map(|k| k.redis_hits).sum();
        let misses = by_type.iter().map(|k| k.misses).sum::<u64>();
        let total = memory_hits + redis_hits + misses;
        CacheStats {
            memory_hits,
            redis_hits,
            misses,
            hit_rate: if total == 0 {
                0.0
            } else {
                ((memory_hits + redis_hits) as f64 * 10_000.0 / total as f64).round() / 100.0
            },
            redis_errors: self.redis_errors.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            by_type,
        }
    }
}
