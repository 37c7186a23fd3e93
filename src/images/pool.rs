//! The image pool: a few low-priority threads, a bounded queue in front of them, a memory
//! budget the jobs in flight share, and the renditions that could not be made.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Instant,
};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use super::{
    BUDGET_WAIT, FAILED_RENDITION_TTL, Output, WIDTHS, mb,
    plan::Header,
    refused,
    render::{self},
};
use crate::{config::ImageConfig, error::AppError};

/// Bytes of originals kept in memory while their renditions are being made.
const ORIGINALS_BYTES: u64 = 48 * 1024 * 1024;

/// Renditions remembered as failed, at most (each entry is a key and a sentence).
const FAILED_RENDITIONS: u64 = 10_000;

/// Figures of the image pool.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageStats {
    /// Threads of the pool (`THREAD_POOL_SIZE`).
    pub threads: usize,
    /// Jobs that may wait (`IMAGE_QUEUE_SIZE`).
    pub queue_capacity: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs waiting for a thread or for memory now.
    pub queued: usize,
    /// Jobs done (uploads checked and renditions made).
    pub processed: u64,
    /// Jobs that ended in an error (refused images included).
    pub failed: u64,
    /// Jobs refused with 503 because the queue was full or the memory budget stayed taken.
    pub rejected: u64,
    /// Images decoded (every job decodes its image once).
    pub decodes: u64,
    /// Mean time of a job on its thread, ms.
    pub mean_processing_ms: f64,
    /// Longest job, ms.
    pub max_processing_ms: f64,
    /// Renditions answered from the cache (memory or Redis).
    pub rendition_hits: u64,
    /// Renditions that had to be made.
    pub rendition_misses: u64,
    /// Renditions answered with a remembered failure (no decode).
    pub failed_rendition_hits: u64,
    /// The memory budget of the jobs in flight (`IMAGE_MEMORY_BUDGET_MB`), bytes.
    pub memory_budget_bytes: u64,
    /// Bytes of the budget taken now: by running jobs, and by the job at the head of the queue
    /// as it gathers its share.
    pub memory_reserved_bytes: u64,
    /// The most bytes taken at once since start (or the last reset), as above.
    pub peak_memory_reserved_bytes: u64,
}

/// Puts the calling thread behind every other thread of the machine.
///
/// On Linux that is `SCHED_IDLE`: the scheduler preempts an idle-class thread as soon as any
/// other thread wakes up on its CPU, where a nice value only shrinks the thread's share.
/// Idle threads still get a small share of a busy CPU, so resizes slow down but never stop.
/// Elsewhere, the lowest nice value.
fn lower_priority() {
    use thread_priority::{ThreadPriority, set_current_thread_priority};
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        match set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
            Ok(()) => return,
            Err(e) => tracing::debug!(error = ?e, "could not make an image thread SCHED_IDLE"),
        }
    }
    if let Err(e) = set_current_thread_priority(ThreadPriority::Min) {
        tracing::debug!(error = ?e, "could not lower an image thread's priority");
    }
}

/// A jemalloc arena of the image threads' own. Their multi-megabyte buffers are allocated,
/// freed and returned to the system there, under that arena's locks: a runtime worker never
/// waits for a lock held by an image thread, which at `SCHED_IDLE` priority may not get the
/// CPU back for a while.
///
/// The arena gives freed pages back to the system at once (no decay): its allocations are few
/// and large, so the cost is a few `madvise` calls per job, and the resident set follows what
/// the jobs in flight hold, which is what the budget bounds. With jemalloc's default decay,
/// the pages of a finished 120 MB decode stay resident for seconds, and a job of another shape
/// that cannot reuse them adds its own on top.
fn own_arena() -> Option<u32> {
    use tikv_jemalloc_ctl::{Access, AsName};
    let arena: u32 = match b"arenas.create\0".name().read() {
        Ok(arena) => arena,
        Err(e) => {
            tracing::debug!(error = %e, "no arena of their own for the image threads");
            return None;
        }
    };
    for knob in ["dirty_decay_ms", "muzzy_decay_ms"] {
        // jemalloc's `ssize_t` setting; the name is NUL-terminated as `Name` requires.
        let name = format!("arena.{arena}.{knob}\0");
        if let Err(e) = name.as_str().name().write(0isize) {
            tracing::debug!(error = %e, knob, "the image arena keeps jemalloc's default decay");
        }
    }
    Some(arena)
}

fn use_arena(arena: u32) {
    use tikv_jemalloc_ctl::{Access, AsName};
    if let Err(e) = b"thread.arena\0".name().write(arena) {
        tracing::debug!(error = %e, "an image thread stays in its default arena");
    }
}

/// The bounded pool.
pub struct ImagePool {
    pool: rayon::ThreadPool,
    permits: Arc<Semaphore>,
    /// The memory budget, one permit per KiB.
    budget: Arc<Semaphore>,
    budget_kib: u32,
    threads: usize,
    queue: usize,
    max_pixels: u64,
    max_aspect: u32,
    running: Arc<AtomicUsize>,
    processed: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    rejected: AtomicU64,
    decodes: Arc<AtomicU64>,
    busy_us: Arc<AtomicU64>,
    max_us: Arc<AtomicU64>,
    peak_reserved_kib: AtomicU64,
    /// Renditions answered from the cache, and made.
    pub hits: AtomicU64,
    /// Renditions that had to be made.
    pub misses: AtomicU64,
    failed_hits: AtomicU64,
    /// Recently used originals by content hash, so the renditions of one image read it from
    /// PostgreSQL once rather than once each.
    originals: moka::future::Cache<String, Bytes>,
    /// Renditions that could not be made, by rendition key: the 422's details.
    failures: moka::sync::Cache<String, Arc<Value>>,
}

impl ImagePool {
    /// A pool sized by the configuration.
    pub fn new(cfg: &ImageConfig) -> anyhow::Result<Self> {
        let threads = cfg.threads();
        let arena = own_arena();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("image-{i}"))
            // Image threads yield the CPU to the async runtime's: a burst of resizes slows
            // other resizes, not every other request.
            .start_handler(move |_| {
                lower_priority();
                if let Some(arena) = arena {
                    use_arena(arena);
                }
            })
            .panic_handler(|_| tracing::error!("an image job panicked"))
            .build()?;
        let budget_kib = u32::try_from(cfg.image_memory_budget_mb.saturating_mul(1024))
            .unwrap_or(u32::MAX)
            .min(u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        Ok(Self {
            pool,
            permits: Arc::new(Semaphore::new(threads + cfg.image_queue_size)),
            budget: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
            threads,
            queue: cfg.image_queue_size,
            max_pixels: cfg.image_max_pixels,
            max_aspect: cfg.image_max_aspect_ratio,
            running: Arc::default(),
            processed: Arc::default(),
            failed: Arc::default(),
            rejected: AtomicU64::new(0),
            decodes: Arc::default(),
            busy_us: Arc::default(),
            max_us: Arc::default(),
            peak_reserved_kib: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            failed_hits: AtomicU64::new(0),
            originals: moka::future::Cache::builder()
                .weigher(|_: &String, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .max_capacity(ORIGINALS_BYTES)
                .time_to_idle(std::time::Duration::from_secs(60))
                .build(),
            failures: moka::sync::Cache::builder()
                .max_capacity(FAILED_RENDITIONS)
                .time_to_live(FAILED_RENDITION_TTL)
                .build(),
        })
    }

    /// The original with content hash `hash`, from memory or loaded by `load` (concurrent
    /// callers share one load).
    pub async fn original<F>(&self, hash: &str, load: F) -> Result<Bytes, AppError>
    where
        F: Future<Output = Result<Bytes, AppError>>,
    {
        self.originals
            .try_get_with(hash.to_owned(), load)
            .await
            .map_err(|e| e.duplicate())
    }

    /// The pixel limit of decoded images.
    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    fn budget_bytes(&self) -> u64 {
        u64::from(self.budget_kib) * 1024
    }

    /// The 422 of a job that needs `cost` bytes when the whole budget is smaller.
    fn over_budget(&self, header: &Header, cost: u64) -> AppError {
        refused(&format!(
            "is {}x{} pixels: decoding and resizing it would take about {} MB of memory, more \
             than the {} MB all image work may use at once (IMAGE_MEMORY_BUDGET_MB); send a \
             smaller image",
            header.width,
            header.height,
            mb(cost),
            mb(self.budget_bytes())
        ))
    }

    /// Checks an upload's header against every rule that does not need its pixels: its shape
    /// (`IMAGE_MAX_ASPECT_RATIO`), that each rendition can be encoded in each format it may be
    /// served in, and that its largest job fits in the memory budget. A 422 names the rule.
    pub fn admit(&self, header: &Header) -> Result<(), AppError> {
        if !header.within_aspect(self.max_aspect) {
            return Err(refused(&format!(
                "is {}x{} pixels, a shape of {}:1; at most {}:1 is accepted \
                 (IMAGE_MAX_ASPECT_RATIO)",
                header.width,
                header.height,
                header.aspect_ratio(),
                self.max_aspect
            )));
        }
        for width in WIDTHS {
            for output in [Output::WebP, Output::Jpeg] {
                if let Some(why) = header.unencodable(width, output) {
                    return Err(refused(&why));
                }
            }
        }
        let cost = header.worst_cost();
        if cost > self.budget_bytes() {
            return Err(self.over_budget(header, cost));
        }
        Ok(())
    }

    /// Decodes an upload whole on the pool (a truncated or corrupt file fails here).
    pub async fn check(&self, bytes: Bytes, header: Header) -> Result<(), AppError> {
        let max_pixels = self.max_pixels;
        self.run(&header, header.decode_cost(), move || {
            render::decode(&bytes, &header, max_pixels).map(drop)
        })
        .await
    }

    /// Makes the rendition `width` wide as `output` on the pool. Renditions that cannot be
    /// encoded, or whose job would exceed the whole budget (images stored before those rules),
    /// are refused before anything is decoded.
    pub async fn render(
        &self,
        bytes: Bytes,
        header: Header,
        width: u32,
        output: Output,
    ) -> Result<Vec<u8>, AppError> {
        if let Some(why) = header.unencodable(width, output) {
            return Err(refused(&why));
        }
        let max_pixels = self.max_pixels;
        self.run(&header, header.render_cost(width, output), move || {
            render::render(&bytes, &header, width, output, max_pixels)
        })
        .await
    }

    /// Runs `job`, which needs `cost` bytes at its peak, on the pool: 503 at once when the pool
    /// and its queue are full; in the queue until the budget has room for `cost` (503 after
    /// [`BUDGET_WAIT`]); 422 when `cost` is more than the whole budget.
    async fn run<T: Send + 'static>(
        &self,
        header: &Header,
        cost: u64,
        job: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        if cost > self.budget_bytes() {
            return Err(self.over_budget(header, cost));
        }
        let busy = || AppError::Unavailable {
            retry_after: 1,
            message: "image processing is busy, please retry",
            code: "images_busy",
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(busy());
        };
        let kib = u32::try_from(cost.div_ceil(1024)).unwrap_or(u32::MAX);
        let reserved = match tokio::time::timeout(
            BUDGET_WAIT,
            Arc::clone(&self.budget).acquire_many_owned(kib),
        )
        .await
        {
            Ok(Ok(reserved)) => reserved,
            Ok(Err(_closed)) => return Err(busy()),
            Err(_elapsed) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(busy());
            }
        };
        let in_use = u64::from(self.budget_kib) - self.budget.available_permits() as u64;
        self.peak_reserved_kib.fetch_max(in_use, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (running, processed, failed, decodes, busy_us, max_us) = (
            Arc::clone(&self.running),
            Arc::clone(&self.processed),
            Arc::clone(&self.failed),
            Arc::clone(&self.decodes),
            Arc::clone(&self.busy_us),
            Arc::clone(&self.max_us),
        );
        self.pool.spawn(move || {
            // Both are released when the job ends, whether or not its caller is still there.
            let _permit = permit;
            let _reserved = reserved;
            running.fetch_add(1, Ordering::Relaxed);
            decodes.fetch_add(1, Ordering::Relaxed);
            let start = Instant::now();
            // A decoder that panics on a hostile file is the file's fault as far as the caller
            // is concerned: a 422, remembered like any other failed rendition.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                .unwrap_or_else(|_| Err(refused("could not be processed")));
            let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
            running.fetch_sub(1, Ordering::Relaxed);
            busy_us.fetch_add(us, Ordering::Relaxed);
            max_us.fetch_max(us, Ordering::Relaxed);
            if result.is_ok() {
                processed.fetch_add(1, Ordering::Relaxed);
            } else {
                failed.fetch_add(1, Ordering::Relaxed);
            }
            // The caller may have gone away; the work is simply dropped then.
            let _ = tx.send(result);
        });
        rx.await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("an image job was lost")))?
    }

    /// The remembered failure of the rendition `key`, if it failed within
    /// [`FAILED_RENDITION_TTL`].
    pub fn failed_rendition(&self, key: &str) -> Option<AppError> {
        let details = self.failures.get(key)?;
        self.failed_hits.fetch_add(1, Ordering::Relaxed);
        Some(AppError::Validation {
            details: (*details).clone(),
        })
    }

    /// Remembers that the rendition `key` failed with `err`, when `err` says something about
    /// the image itself (a 422), not about the moment (busy, database down).
    pub fn remember_failure(&self, key: &str, err: &AppError) {
        if let AppError::Validation { details } = err {
            self.failures
                .insert(key.to_owned(), Arc::new(details.clone()));
        }
    }

    /// Current figures.
    pub fn stats(&self) -> ImageStats {
        let running = self.running.load(Ordering::Relaxed);
        let held = (self.threads + self.queue).saturating_sub(self.permits.available_permits());
        let done = self.processed.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed);
        let reserved_kib = u64::from(self.budget_kib) - self.budget.available_permits() as u64;
        ImageStats {
            threads: self.threads,
            queue_capacity: self.queue,
            running,
            queued: held.saturating_sub(running),
            processed: self.processed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            decodes: self.decodes.load(Ordering::Relaxed),
            mean_processing_ms: if done == 0 {
                0.0
            } else {
                (self.busy_us.load(Ordering::Relaxed) as f64 / done as f64 / 10.0).round() / 100.0
            },
            max_processing_ms: self.max_us.load(Ordering::Relaxed) as f64 / 1000.0,
            rendition_hits: self.hits.load(Ordering::Relaxed),
            rendition_misses: self.misses.load(Ordering::Relaxed),
            failed_rendition_hits: self.failed_hits.load(Ordering::Relaxed),
            memory_budget_bytes: self.budget_bytes(),
            memory_reserved_bytes: reserved_kib * 1024,
            peak_memory_reserved_bytes: self.peak_reserved_kib.load(Ordering::Relaxed) * 1024,
        }
    }

    /// Zeroes the counters (the bot's `/reset`).
    pub fn reset(&self) {
        for c in [
            &*self.processed,
            &*self.failed,
            &self.rejected,
            &*self.decodes,
            &*self.busy_us,
            &*self.max_us,
            &self.peak_reserved_kib,
            &self.hits,
            &self.misses,
            &self.failed_hits,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}
