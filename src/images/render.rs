//! Decoding, resizing and encoding, on the image pool's threads. Every buffer here is counted
//! by [`super::plan`]; a change here needs a change there.

use std::io::Cursor;

use fast_image_resize::{FilterType, MulDiv, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageReader};

use super::{JPEG_QUALITY, Output, WEBP_QUALITY, limits, plan::Header, refused};
use crate::error::AppError;

/// Decodes the whole image (a truncated or corrupt file fails here).
pub fn decode(bytes: &[u8], header: &Header, max_pixels: u64) -> Result<DynamicImage, AppError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), header.source.format());
    reader.limits(limits(max_pixels));
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => refused("is too large to decode"),
        _ => refused("could not be decoded: corrupt or truncated"),
    })
}

/// Resizes `image` to `width` × `height` with a Catmull-Rom filter on its own 8- or 16-bit
/// samples (the `image` crate's `resize` would first fill a float buffer of source width ×
/// target height, 16 bytes a pixel). Transparent images are premultiplied in place and
/// divided back in the result, so no copy of the source is made.
pub fn resize(mut image: DynamicImage, width: u32, height: u32) -> Result<DynamicImage, AppError> {
    let failed = |e: &dyn std::fmt::Display| refused(&format!("could not be resized ({e})"));
    let alpha = image.color().has_alpha();
    let mul_div = MulDiv::default();
    if alpha {
        mul_div
            .multiply_alpha_inplace(&mut image)
            .map_err(|e| failed(&e))?;
    }
    let mut out = DynamicImage::new(width, height, image.color());
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom))
        .use_alpha(false);
    Resizer::new()
        .resize(&image, &mut out, &options)
        .map_err(|e| failed(&e))?;
    drop(image);
    if alpha {
        mul_div
            .divide_alpha_inplace(&mut out)
            .map_err(|e| failed(&e))?;
    }
    Ok(out)
}

/// Encodes `image` as `output`. An encoder's refusal is the image's fault (its size), so it is
/// a 422 like any other refused image.
pub fn encode(image: DynamicImage, output: Output) -> Result<Vec<u8>, AppError> {
    let (w, h) = (image.width(), image.height());
    match output {
        Output::Jpeg => {
            let rgb = image.into_rgb8();
            let mut out = Cursor::new(Vec::with_capacity(64 * 1024));
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
                .encode_image(&rgb)
                .map_err(|e| refused(&format!("could not be encoded as JPEG ({e})")))?;
            Ok(out.into_inner())
        }
        // Lossy WebP through libwebp (the `image` crate only writes lossless WebP, several
        // times larger for photographs).
        Output::WebP => {
            let encoded = if image.color().has_alpha() {
                let rgba = image.into_rgba8();
                webp::Encoder::from_rgba(&rgba, w, h)
                    .encode_simple(false, WEBP_QUALITY)
                    .map(|m| m.to_vec())
            } else {
                let rgb = image.into_rgb8();
                webp::Encoder::from_rgb(&rgb, w, h)
                    .encode_simple(false, WEBP_QUALITY)
                    .map(|m| m.to_vec())
            };
            encoded.map_err(|e| refused(&format!("could not be encoded as WebP ({e:?})")))
        }
    }
}

/// The rendition `width` wide of the original `bytes`, as `output`.
pub fn render(
    bytes: &[u8],
    header: &Header,
    width: u32,
    output: Output,
    max_pixels: u64,
) -> Result<Vec<u8>, AppError> {
    let image = decode(bytes, header, max_pixels)?;
    let (w, h) = header.rendition(width);
    let image = if w < image.width() {
        resize(image, w, h)?
    } else {
        image
    };
    encode(image, output)
}

#[cfg(test)]
mod tests {
    use image::{Rgb, RgbImage, imageops::FilterType as ImageFilter};

    use super::*;

    /// Peak signal-to-noise ratio of `b` against `a`, dB.
    fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
        let se: f64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum();
        let mse = se / a.as_raw().len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    #[test]
    fn the_u8_resize_matches_the_float_one_it_replaced() {
        // A photograph-like picture: gradients, edges and fine detail.
        let src = RgbImage::from_fn(1200, 900, |x, y| {
            let v = ((x as f64 / 7.0).sin() * 60.0 + (y as f64 / 11.0).cos() * 60.0) as i32;
            let edge = if (x / 150 + y / 150) % 2 == 0 { 40 } else { 0 };
            Rgb([
                (128 + v + edge).clamp(0, 255) as u8,
                ((x * 255 / 1200) as i32).clamp(0, 255) as u8,
                ((y * 255 / 900) as i32 - edge).clamp(0, 255) as u8,
            ])
        });
        let float = image::imageops::resize(&src, 320, 240, ImageFilter::CatmullRom);
        let ours = resize(DynamicImage::ImageRgb8(src), 320, 240)
            .expect("resize")
            .into_rgb8();
        let db = psnr(&float, &ours);
        println!("u8 Catmull-Rom against the float one: PSNR {db:.1} dB");
        assert!(db > 45.0, "PSNR {db:.1} dB");
    }

    #[test]
    fn transparent_pixels_do_not_darken_their_neighbours() {
        // Left half opaque white, right half fully transparent black.
        let src = image::RgbaImage::from_fn(400, 100, |x, _| {
            if x < 200 {
                image::Rgba([255, 255, 255, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        let out = resize(DynamicImage::ImageRgba8(src), 100, 25)
            .expect("resize")
            .into_rgba8();
        // The edge pixel is partly transparent, but still white where it is opaque.
        let edge = out.get_pixel(49, 10).0;
        assert!(edge[3] > 0 && edge[0] > 240, "{edge:?}");
    }
}
