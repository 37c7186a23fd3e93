//! Course images: checking uploads and producing renditions, on a bounded thread pool within a
//! memory budget.
//!
//! Decoding and resizing are CPU work measured in milliseconds: run on the async runtime they
//! would stall every request sharing its worker threads. They run on a dedicated rayon pool of
//! `THREAD_POOL_SIZE` threads instead, behind a semaphore of `threads + IMAGE_QUEUE_SIZE`
//! permits: a job that finds no permit is refused at once with 503 + `Retry-After`, so a burst
//! becomes quick refusals rather than an ever-growing backlog.
//!
//! Memory is bounded the same way. Each job reserves its estimated peak ([`plan`]: the decoded
//! image, the resizer's buffers, the encoder's) from a budget of `IMAGE_MEMORY_BUDGET_MB`
//! before it starts, and waits in the queue until the jobs in flight leave enough; what is in
//! flight across the pool never adds up to more than the budget. An upload is refused (422)
//! when any job its renditions need would exceed the whole budget, when its shape is beyond
//! `IMAGE_MAX_ASPECT_RATIO`, or when one of its renditions could not be encoded; an image
//! stored before those rules gets the same 422 when a rendition of it is asked for, and that
//! answer is remembered ([`FAILED_RENDITION_TTL`]) so asking again decodes nothing.
//!
//! Decompression bombs are refused before decoding: the header's dimensions are checked against
//! `IMAGE_MAX_PIXELS`, and the decoder's allocations are capped.

pub mod plan;
mod pool;
mod render;

use std::time::Duration;

use image::{ImageFormat, Limits};

pub use plan::{Header, inspect};
pub use pool::{ImagePool, ImageStats};

use crate::error::AppError;

/// Room for the multipart framing around an upload, on top of `IMAGE_MAX_BYTES`.
pub const MULTIPART_OVERHEAD: usize = 64 * 1024;

/// Widths a rendition may have (`?w=`).
pub const WIDTHS: [u32; 5] = [160, 320, 640, 960, 1280];

/// JPEG quality of renditions.
const JPEG_QUALITY: u8 = 82;

/// WebP quality of renditions (lossy).
const WEBP_QUALITY: f32 = 80.0;

/// The width served when none is asked for.
pub const DEFAULT_WIDTH: u32 = 640;

/// How long a job waits in the queue for its share of the memory budget before the caller gets
/// 503 + `Retry-After` (well inside `REQUEST_TIMEOUT`'s default of 10 s).
const BUDGET_WAIT: Duration = Duration::from_secs(5);

/// How long a rendition that could not be made is remembered: asking again within it answers
/// the same 422 without reading or decoding anything. Short, so that a change of the rules
/// (a larger budget) is seen soon.
pub const FAILED_RENDITION_TTL: Duration = Duration::from_secs(600);

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

    pub(crate) fn format(self) -> ImageFormat {
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

/// The decoder's limits: the pixel limit on each side, and allocations of the decoded image at
/// that limit plus room for the decoder's own buffers.
fn limits(max_pixels: u64) -> Limits {
    let mut limits = Limits::default();
    let side = u32::try_from(max_pixels.min(u64::from(u32::MAX))).unwrap_or(u32::MAX);
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(64 << 20));
    limits
}

fn mb(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
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
