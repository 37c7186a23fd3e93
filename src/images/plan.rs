//! What an image will cost, known from its header before a pixel is decoded: its size, the
//! size of each rendition, whether each rendition can be encoded, and the memory a job needs at
//! its peak (what it reserves from the pool's budget, [`super::ImagePool`]).
//!
//! The estimates follow the code of [`super::render`], phase by phase; a job's peak is the
//! largest phase, since each phase frees what the next does not need:
//!
//! 1. decode: the decoded image (width × height × bytes per pixel of its colour type) plus the
//!    decoder's own working memory (a copy of the file; a progressive JPEG's coefficients, two
//!    bytes per sample; a WebP's intermediate frame, four bytes per pixel);
//! 2. resize: the decoded image, the resizer's intermediate rows (u8 images take the vertical
//!    pass first: source width × target height) and the target image. No float copy of
//!    anything: `fast_image_resize` works on the 8- or 16-bit samples themselves;
//! 3. encode: the rendition, its 8-bit RGB(A) copy and the encoder's buffers and output.

use std::io::Cursor;

use image::{ImageDecoder, ImageReader};

use super::{Output, Source, limits, refused};
use crate::error::AppError;

/// The largest side libwebp encodes (`WEBP_MAX_DIMENSION`).
pub const WEBP_MAX_SIDE: u32 = 16_383;
/// The largest side a JPEG can declare (a 16-bit field).
pub const JPEG_MAX_SIDE: u32 = 65_535;
/// What every job allocates whatever the image: decoder state and tables, the resizer's
/// coefficients, the encoder's fixed buffers.
const FIXED: u64 = 2 << 20;

/// An image as its header describes it.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Its format, by content.
    pub source: Source,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per decoded pixel (3 for 8-bit RGB, 8 for 16-bit RGBA…).
    bytes_per_pixel: u64,
    /// Samples per pixel.
    channels: u64,
    /// A progressive JPEG (its decoder holds every coefficient of the image).
    progressive: bool,
    /// Size of the file.
    file_bytes: u64,
}

/// Reads the header of `bytes`: the format (by content), the dimensions and the colour type.
/// Refuses what is not a JPEG, PNG or WebP and what declares more than `max_pixels`, without
/// decoding anything.
pub fn inspect(bytes: &[u8], max_pixels: u64) -> Result<Header, AppError> {
    let source =
        Source::sniff(bytes).ok_or_else(|| refused("must be a JPEG, PNG or WebP image"))?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), source.format());
    reader.limits(limits(max_pixels));
    let decoder = reader
        .into_decoder()
        .map_err(|_| refused("could not be read: not a valid image, or truncated"))?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(refused(&format!(
            "is {width}x{height} pixels; at most {max_pixels} pixels are accepted"
        )));
    }
    if width == 0 || height == 0 {
        return Err(refused("has no pixels"));
    }
    let color = decoder.color_type();
    Ok(Header {
        source,
        width,
        height,
        bytes_per_pixel: u64::from(color.bytes_per_pixel()),
        channels: u64::from(color.channel_count()),
        progressive: source == Source::Jpeg && jpeg_is_progressive(bytes),
        file_bytes: bytes.len() as u64,
    })
}

impl Header {
    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The size of the rendition `width` pixels wide: the aspect kept, never enlarged.
    pub fn rendition(&self, width: u32) -> (u32, u32) {
        if self.width <= width {
            return (self.width, self.height);
        }
        let height = (u64::from(self.height) * u64::from(width) / u64::from(self.width)).max(1);
        (width, u32::try_from(height).unwrap_or(u32::MAX))
    }

    /// Why the rendition `width` wide cannot be encoded as `output`, if it cannot.
    pub fn unencodable(&self, width: u32, output: Output) -> Option<String> {
        let (w, h) = self.rendition(width);
        let (limit, name) = match output {
            Output::WebP => (WEBP_MAX_SIDE, "WebP"),
            Output::Jpeg => (JPEG_MAX_SIDE, "JPEG"),
        };
        (w > limit || h > limit).then(|| {
            format!(
                "is {}x{} pixels: its {width}-wide rendition would be {w}x{h} pixels, beyond \
                 {name}'s limit of {limit} pixels a side",
                self.width, self.height
            )
        })
    }

    /// `longest side / shortest side`, rounded up.
    pub fn aspect_ratio(&self) -> u32 {
        let (long, short) = (self.width.max(self.height), self.width.min(self.height));
        long.div_ceil(short.max(1))
    }

    /// Whether the longest side is within `max` times the shortest.
    pub fn within_aspect(&self, max: u32) -> bool {
        u64::from(self.width.max(self.height))
            <= u64::from(max) * u64::from(self.width.min(self.height))
    }

    /// Bytes held while the image is decoded (phase 1).
    pub fn decode_cost(&self) -> u64 {
        let px = self.pixels();
        let working = match self.source {
            Source::Png => 0,
            Source::Jpeg if self.progressive => px * self.channels * 2,
            // Baseline JPEGs are decoded a row of blocks (up to 16 pixels high) at a time.
            Source::Jpeg => u64::from(self.width) * 16 * self.channels * 4,
            Source::WebP => px * 4,
        };
        px * self.bytes_per_pixel + working + self.file_bytes + FIXED
    }

    /// Bytes held at the peak of making the rendition `width` wide as `output`.
    pub fn render_cost(&self, width: u32, output: Output) -> u64 {
        let bpp = self.bytes_per_pixel;
        let decoded = self.pixels() * bpp;
        let (w, h) = self.rendition(width);
        let out_px = u64::from(w) * u64::from(h);
        let resize = if w < self.width {
            // The larger of the two pass orders (u8 images go vertical first, 16-bit ones
            // horizontal first).
            let intermediate = (u64::from(self.width) * u64::from(h))
                .max(u64::from(w) * u64::from(self.height))
                * bpp;
            decoded + intermediate + out_px * bpp
        } else {
            0
        };
        let kept = if w < self.width {
            out_px * bpp
        } else {
            decoded
        };
        let encoder = match output {
            Output::Jpeg => out_px * 3,
            // libwebp's YUVA picture, its macroblock state and the output.
            Output::WebP => out_px * 6,
        };
        let encode = kept + out_px * 4 + encoder;
        self.decode_cost().max(resize + FIXED).max(encode + FIXED)
    }

    /// The most any job on this image needs: its check at upload, or its largest rendition.
    pub fn worst_cost(&self) -> u64 {
        super::WIDTHS
            .iter()
            .flat_map(|&w| [Output::WebP, Output::Jpeg].map(|o| self.render_cost(w, o)))
            .fold(self.decode_cost(), u64::max)
    }
}

/// Whether the JPEG in `bytes` is progressive: the first start-of-frame marker is SOF2, SOF6,
/// SOF10 or SOF14. Walks the marker segments up to that frame header.
fn jpeg_is_progressive(bytes: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return false;
        }
        let marker = bytes[at + 1];
        match marker {
            // Fill bytes before a marker.
            0xFF => {
                at += 1;
                continue;
            }
            0xC2 | 0xC6 | 0xCA | 0xCE => return true,
            0xC0 | 0xC1 | 0xC3 | 0xC5 | 0xC7 | 0xC9 | 0xCB | 0xCD | 0xCF => return false,
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        at += 2 + len;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(source: Source, width: u32, height: u32, bytes_per_pixel: u64) -> Header {
        Header {
            source,
            width,
            height,
            bytes_per_pixel,
            channels: bytes_per_pixel.min(4),
            progressive: false,
            file_bytes: 0,
        }
    }

    #[test]
    fn renditions_keep_the_aspect_and_are_never_enlarged() {
        let h = header(Source::Png, 1000, 40_000, 3);
        assert_eq!(h.rendition(160), (160, 6400));
        assert_eq!(h.rendition(1280), (1000, 40_000));
        assert_eq!(header(Source::Png, 10_000, 10, 3).rendition(160), (160, 1));
    }

    #[test]
    fn tall_renditions_are_told_unencodable_by_format() {
        let h = header(Source::Png, 1000, 40_000, 3);
        assert!(h.unencodable(320, Output::WebP).is_none());
        let why = h.unencodable(640, Output::WebP).expect("too tall for WebP");
        assert!(
            why.contains("640-wide rendition would be 640x25600 pixels, beyond WebP's limit"),
            "{why}"
        );
        assert!(h.unencodable(1280, Output::WebP).is_some());
        assert!(h.unencodable(1280, Output::Jpeg).is_none());
        assert_eq!(h.aspect_ratio(), 40);
        assert!(!h.within_aspect(10));
        assert!(header(Source::Png, 1000, 10_000, 3).within_aspect(10));
    }

    #[test]
    fn the_cost_of_a_big_square_png_is_its_decoded_size_and_a_little() {
        let h = header(Source::Png, 6324, 6324, 3);
        let decoded = 6324 * 6324 * 3;
        assert_eq!(h.decode_cost(), decoded + FIXED);
        // The 1280 rendition: the intermediate rows (6324 x 1280) and the target on top.
        let worst = h.worst_cost();
        assert_eq!(
            worst,
            decoded + 6324 * 1280 * 3 + 1280 * 1280 * 3 + FIXED,
            "{worst}"
        );
        assert!(worst < 160 << 20);
        assert!(header(Source::Png, 6324, 6324, 4).worst_cost() > 160 << 20);
    }

    #[test]
    fn progressive_jpegs_are_told_apart() {
        let baseline = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0, 0, 0xFF, 0xC0, 0, 0];
        let progressive = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x02, 0xFF, 0xFF, 0xC2, 0, 0];
        assert!(!jpeg_is_progressive(&baseline));
        assert!(jpeg_is_progressive(&progressive));
        assert!(!jpeg_is_progressive(b"\xFF\xD8"));
    }
}
