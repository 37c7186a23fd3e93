//! Course images: checking uploads and producing renditions, on a bounded thread pool.
//!
//! Decoding and resizing are CPU work measured in milliseconds: run on the async runtime they
//! would stall every request sharing its worker threads. They run on a dedicated rayon pool of
//! `THREAD_POOL_SIZE` threads instead, behind a semaphore of `threads + IMAGE_QUEUE_SIZE`
//! permits: a job that finds no permit is refused at once with 503 + `Retry-After`, so a burst
//! becomes quick refusals rather than an ever-growing backlog.
//!
//! Decompression bombs are refused before decoding: the header's dimensions are checked against
//! `IMAGE_MAX_PIXELS`, and the decoder's allocations are capped.

use std::{
    io::Cursor,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Instant,
};

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};
use serde::Serialize;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::{config::ImageConfig, error::AppError};

/// Room for the multipart framing around an upload, on top of `IMAGE_MAX_BYTES`.
pub const MULTIPART_OVERHEAD: usize = 64 * 1024;

/// Bytes of originals kept in memory while their renditions are being made.
const ORIGINALS_BYTES: u64 = 48 * 1024 * 1024;

/// Widths a rendition may have (`?w=`).
pub const WIDTHS: [u32; 5] = [160, 320, 640, 960, 1280];

/// JPEG quality of renditions.
const JPEG_QUALITY: u8 = 82;

/// WebP quality of renditions (lossy).
const WEBP_QUALITY: f32 = 80.0;

/// The width served when none is asked for.
pub const DEFAULT_WIDTH: u32 = 640;

/// Formats accepted on upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    WebP,
}

impl Source {
    /// The name stored with the image.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::WebP => "webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::WebP => ImageFormat::WebP,
        }
    }

    /// The format of `bytes`, from their content (magic numbers), never from a file name or a
    /// declared type.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match image::guess_format(bytes).ok()? {
            ImageFormat::Jpeg => Some(Self::Jpeg),
            ImageFormat::Png => Some(Self::Png),
            ImageFormat::WebP => Some(Self::WebP),
            _ => None,
        }
    }

    /// Parses [`Source::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png, Self::WebP]
            .into_iter()
            .find(|f| f.name() == s)
    }
}

/// Formats a rendition is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// WebP (lossy, quality 80, by libwebp), for clients that accept it.
    WebP,
    /// JPEG (quality 82) otherwise.
    Jpeg,
}

impl Output {
    /// From an `Accept` header: WebP when the client takes it.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let webp = accept.is_some_and(|a| {
            a.split(',').any(|part| {
                let mut it = part.split(';');
                let ty = it.next().unwrap_or("").trim();
                let refused = it.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                ty.eq_ignore_ascii_case("image/webp") && !refused
            })
        });
        if webp { Self::WebP } else { Self::Jpeg }
    }

    /// Short name, in keys and ETags.
    pub fn name(self) -> &'static str {
        match self {
            Self::WebP => "webp",
            Self::Jpeg => "jpeg",
        }
    }

    /// The `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::WebP => "image/webp",
            Self::Jpeg => "image/jpeg",
        }
    }
}

/// An upload that decoded.
#[derive(Debug, Clone, Copy)]
pub struct Checked {
    /// Its format.
    pub source: Source,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Why an image was refused.
fn refused(message: &str) -> AppError {
    AppError::invalid("image", message)
}

fn limits(max_pixels: u64) -> Limits {
    let mut limits = Limits::default();
    let side = u32::try_from(max_pixels.min(u64::from(u32::MAX))).unwrap_or(u32::MAX);
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    // Decoded RGBA at the pixel limit, plus room for the decoder's own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(64 << 20));
    limits
}

/// Reads the header, refuses bombs, and decodes the whole image (a truncated or corrupt file
/// fails here).
fn decode(bytes: &[u8], source: Source, max_pixels: u64) -> Result<DynamicImage, AppError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), source.format());
    reader.limits(limits(max_pixels));
    let (w, h) = reader
        .into_dimensions()
        .map_err(|_| refused("could not be read: not a valid image, or truncated"))?;
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(refused(&format!(
            "is {w}x{h} pixels; at most {max_pixels} pixels are accepted"
        )));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), source.format());
    reader.limits(limits(max_pixels));
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => refused("is too large to decode"),
        _ => refused("could not be decoded: corrupt or truncated"),
    })
}

/// Checks an upload: a JPEG, PNG or WebP by content, within the pixel limit, decoding whole.
pub fn check(bytes: &[u8], max_pixels: u64) -> Result<Checked, AppError> {
    let source =
        Source::sniff(bytes).ok_or_else(|| refused("must be a JPEG, PNG or WebP image"))?;
    let image = decode(bytes, source, max_pixels)?;
    Ok(Checked {
        source,
        width: image.width(),
        height: image.height(),
    })
}

/// Resizes the stored original to `width` (never enlarging it) and encodes it as `output`.
pub fn render(
    bytes: &[u8],
    source: Source,
    width: u32,
    output: Output,
    max_pixels: u64,
) -> Result<Vec<u8>, AppError> {
    let image = decode(bytes, source, max_pixels)?;
    let image = if image.width() > width {
        let height =
            (u64::from(image.height()) * u64::from(width) / u64::from(image.width())).max(1);
        image.resize_exact(
            width,
            u32::try_from(height).unwrap_or(u32::MAX),
            FilterType::CatmullRom,
        )
    } else {
        image
    };
    let failed = |e: &dyn std::fmt::Debug| {
        AppError::Internal(anyhow::anyhow!("encoding a rendition: {e:?}"))
    };
    match output {
        Output::Jpeg => {
            let rgb = image.to_rgb8();
            let mut out = Cursor::new(Vec::with_capacity(64 * 1024));
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
                .encode_image(&rgb)
                .map_err(|e| failed(&e))?;
            Ok(out.into_inner())
        }
        // Lossy WebP through libwebp (the `image` crate only writes lossless WebP, several
        // times larger for photographs).
        Output::WebP => {
            let (w, h) = (image.width(), image.height());
            let encoded = if image.color().has_alpha() {
                let rgba = image.to_rgba8();
                webp::Encoder::from_rgba(&rgba, w, h).encode_simple(false, WEBP_QUALITY)
            } else {
                let rgb = image.to_rgb8();
                webp::Encoder::from_rgb(&rgb, w, h).encode_simple(false, WEBP_QUALITY)
            };
            Ok(encoded.map_err(|e| failed(&e))?.to_vec())
        }
    }
}

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
    /// Jobs waiting for a thread now.
    pub queued: usize,
    /// Jobs done (uploads checked and renditions made).
    pub processed: u64,
    /// Jobs that ended in an error (refused images included).
    pub failed: u64,
    /// Jobs refused with 503 because the queue was full.
    pub rejected: u64,
    /// Mean time of a job on its thread, ms.
    pub mean_processing_ms: f64,
    /// Longest job, ms.
    pub max_processing_ms: f64,
    /// Renditions answered from the cache (memory or Redis).
    pub rendition_hits: u64,
    /// Renditions that had to be made.
    pub rendition_misses: u64,
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
fn own_arena() -> Option<u32> {
    use tikv_jemalloc_ctl::{Access, AsName};
    match b"arenas.create\0".name().read() {
        Ok(arena) => Some(arena),
        Err(e) => {
            tracing::debug!(error = %e, "no arena of their own for the image threads");
            None
        }
    }
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
    threads: usize,
    queue: usize,
    max_pixels: u64,
    running: Arc<AtomicUsize>,
    processed: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    rejected: AtomicU64,
    busy_us: Arc<AtomicU64>,
    max_us: Arc<AtomicU64>,
    /// Renditions answered from the cache, and made.
    pub hits: AtomicU64,
    /// Renditions that had to be made.
    pub misses: AtomicU64,
    /// Recently used originals by content hash, so the renditions of one image read it from
    /// PostgreSQL once rather than once each.
    originals: moka::future::Cache<String, bytes::Bytes>,
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
        Ok(Self {
            pool,
            permits: Arc::new(Semaphore::new(threads + cfg.image_queue_size)),
            threads,
            queue: cfg.image_queue_size,
            max_pixels: cfg.image_max_pixels,
            running: Arc::default(),
            processed: Arc::default(),
            failed: Arc::default(),
            rejected: AtomicU64::new(0),
            busy_us: Arc::default(),
            max_us: Arc::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            originals: moka::future::Cache::builder()
                .weigher(|_: &String, v: &bytes::Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .max_capacity(ORIGINALS_BYTES)
                .time_to_idle(std::time::Duration::from_secs(60))
                .build(),
        })
    }

    /// The original with content hash `hash`, from memory or loaded by `load` (concurrent
    /// callers share one load).
    pub async fn original<F>(&self, hash: &str, load: F) -> Result<bytes::Bytes, AppError>
    where
        F: Future<Output = Result<bytes::Bytes, AppError>>,
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

    /// Runs `job` on the pool; 503 at once when the pool and its queue are full.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(AppError::Unavailable {
                retry_after: 1,
                message: "image processing is busy, please retry",
                code: "images_busy",
            });
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (running, processed, failed, busy_us, max_us) = (
            Arc::clone(&self.running),
            Arc::clone(&self.processed),
            Arc::clone(&self.failed),
            Arc::clone(&self.busy_us),
            Arc::clone(&self.max_us),
        );
        self.pool.spawn(move || {
            let _permit = permit;
            running.fetch_add(1, Ordering::Relaxed);
            let start = Instant::now();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                .unwrap_or_else(|_| {
                    Err(AppError::Internal(anyhow::anyhow!("an image job panicked")))
                });
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

    /// Current figures.
    pub fn stats(&self) -> ImageStats {
        let running = self.running.load(Ordering::Relaxed);
        let held = self.threads + self.queue - self.permits.available_permits();
        let done = self.processed.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed);
        ImageStats {
            threads: self.threads,
            queue_capacity: self.queue,
            running,
            queued: held.saturating_sub(running),
            processed: self.processed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            mean_processing_ms: if done == 0 {
                0.0
            } else {
                (self.busy_us.load(Ordering::Relaxed) as f64 / done as f64 / 10.0).round() / 100.0
            },
            max_processing_ms: self.max_us.load(Ordering::Relaxed) as f64 / 1000.0,
            rendition_hits: self.hits.load(Ordering::Relaxed),
            rendition_misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the counters (the bot's `/reset`).
    pub fn reset(&self) {
        for c in [
            &*self.processed,
            &*self.failed,
            &self.rejected,
            &*self.busy_us,
            &*self.max_us,
            &self.hits,
            &self.misses,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webp_is_served_to_clients_that_take_it() {
        assert_eq!(Output::negotiate(None), Output::Jpeg);
        assert_eq!(
            Output::negotiate(Some("image/avif,image/webp,*/*")),
            Output::WebP
        );
        assert_eq!(
            Output::negotiate(Some("image/webp;q=0, image/jpeg")),
            Output::Jpeg
        );
        assert_eq!(Output::negotiate(Some("*/*")), Output::Jpeg);
    }

    #[test]
    fn formats_are_told_by_content() {
        assert_eq!(Source::sniff(b"\x89PNG\r\n\x1a\n...."), Some(Source::Png));
        assert_eq!(Source::sniff(b"\xff\xd8\xff\xe0...."), Some(Source::Jpeg));
        assert_eq!(Source::sniff(b"GIF89a......"), None);
        assert_eq!(Source::sniff(b"hello, I am text"), None);
    }
}
