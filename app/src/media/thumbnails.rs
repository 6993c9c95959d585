//! Image assets as textures: decoding (in jobs) to a bounded size, and the texture caches the
//! storyboard (thumbnails) and the viewer (full frames) draw from.

use std::io::Cursor;

use image::imageops::FilterType;

use super::cache::Lru;
use previz_core::ContentHash;

/// Thumbnails are at most this many pixels on their long side: a storyboard card is ~220
/// points wide, so this stays sharp at 2× display scaling.
pub const THUMBNAIL_MAX_SIDE: u32 = 512;
/// Full frames for the viewer are never larger than this (nor than the GPU's texture limit).
pub const FRAME_MAX_SIDE: u32 = 8192;
/// Images wider or taller than this are refused before decoding (a corrupt or hostile header
/// can claim any size; the decoder's allocation limit is 512 MiB on top of this).
const DECODE_MAX_SIDE: u32 = 16_384;

/// Why an image asset could not become a texture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageDecodeError {
    #[error("not an image the studio reads (PNG or JPEG)")]
    UnknownFormat,
    #[error("damaged or unreadable {format} image: {reason}")]
    Decode {
        format: &'static str,
        reason: String,
    },
}

/// Decodes a PNG or JPEG and scales it down (Lanczos-3, in premultiplied alpha so transparent
/// edges do not darken) to at most `max_side` pixels on its long side; smaller images keep
/// their size.
pub fn decode_image(bytes: &[u8], max_side: u32) -> Result<egui::ColorImage, ImageDecodeError> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageDecodeError::UnknownFormat)?;
    let format = match reader.format() {
        Some(image::ImageFormat::Png) => "PNG",
        Some(image::ImageFormat::Jpeg) => "JPEG",
        _ => return Err(ImageDecodeError::UnknownFormat),
    };
    let fail = |reason: String| ImageDecodeError::Decode { format, reason };
    let mut reader = reader;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(DECODE_MAX_SIDE);
    limits.max_image_height = Some(DECODE_MAX_SIDE);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| fail(e.to_string()))?;
    let mut rgba = decoded.into_rgba8();
    let opaque = rgba.pixels().all(|p| p.0[3] == u8::MAX);
    if !opaque {
        for p in rgba.pixels_mut() {
            let a = u16::from(p.0[3]);
            for c in &mut p.0[..3] {
                // Rounded c * a / 255; never above 255 since both factors are at most 255.
                *c = u8::try_from((u16::from(*c) * a + 127) / 255).unwrap_or(u8::MAX);
            }
        }
    }
    let (width, height) = rgba.dimensions();
    let (target_w, target_h) = fit_within(width, height, max_side.max(1));
    let scaled = if (target_w, target_h) == (width, height) {
        rgba
    } else {
        image::imageops::resize(&rgba, target_w, target_h, FilterType::Lanczos3)
    };
    let size = [scaled.width() as usize, scaled.height() as usize];
    let pixels = scaled
        .pixels()
        .map(|p| {
            let [r, g, b, a] = p.0;
            // The filter's overshoot can leave a colour above its alpha: clamp to stay valid
            // premultiplied colour.
            egui::Color32::from_rgba_premultiplied(r.min(a), g.min(a), b.min(a), a)
        })
        .collect();
    Ok(egui::ColorImage::new(size, pixels))
}

/// The size of a `width`×`height` image scaled to fit `max_side` (never upscaled, at least 1).
#[must_use]
pub fn fit_within(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max_side {
        return (width.max(1), height.max(1));
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(max_side) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled).unwrap_or(max_side).clamp(1, max_side)
    };
    (scale(width), scale(height))
}

/// One image in a cache: decoded pixels wait for the next draw call (which has the egui
/// context) to become a texture.
pub(crate) enum Slot {
    Decoded(egui::ColorImage),
    Texture(egui::TextureHandle),
}

/// Textures of image assets at one bound (thumbnails or full frames).
pub(crate) struct TextureCache {
    slots: Lru<ContentHash, Slot>,
    label: &'static str,
    options: egui::TextureOptions,
}

impl std::fmt::Debug for TextureCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextureCache")
            .field("label", &self.label)
            .field("entries", &self.slots.len())
            .field("bytes", &self.slots.cost())
            .finish()
    }
}

fn bytes_of(image: &egui::ColorImage) -> usize {
    image.pixels.len() * 4
}

fn bytes_of_size([w, h]: [usize; 2]) -> usize {
    w * h * 4
}

impl TextureCache {
    pub(crate) fn new(label: &'static str, max_entries: usize, max_bytes: usize) -> Self {
        Self {
            slots: Lru::new(max_entries, max_bytes),
            label,
            options: egui::TextureOptions {
                mipmap_mode: Some(egui::TextureFilter::Linear),
                ..egui::TextureOptions::LINEAR
            },
        }
    }

    /// The texture, uploading decoded pixels first if they are waiting. `None` when the image
    /// is not here, or is larger than this GPU takes (then it is dropped to be decoded again
    /// at the right bound).
    pub(crate) fn texture(
        &mut self,
        ctx: &egui::Context,
        hash: &ContentHash,
    ) -> Option<egui::TextureHandle> {
        let max = ctx.input(|i| i.max_texture_side);
        let label = self.label;
        let options = self.options;
        match self.slots.get_mut(hash)? {
            Slot::Texture(handle) => return Some(handle.clone()),
            Slot::Decoded(image) if image.width() <= max && image.height() <= max => {
                let image = std::mem::take(image);
                let handle =
                    ctx.load_texture(format!("{label}:{}", &hash.to_hex()[..16]), image, options);
                // Same cost as the pixels it replaces: they now live on the GPU.
                self.slots.insert(
                    *hash,
                    Slot::Texture(handle.clone()),
                    bytes_of_size(handle.size()),
                );
                return Some(handle);
            }
            Slot::Decoded(_) => {}
        }
        self.slots.remove(hash);
        None
    }

    pub(crate) fn insert(&mut self, hash: ContentHash, image: egui::ColorImage) {
        let cost = bytes_of(&image);
        self.slots.insert(hash, Slot::Decoded(image), cost);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn small_png() -> Vec<u8> {
        let mut png = Vec::new();
        image::RgbImage::from_fn(24, 16, |x, y| image::Rgb([x as u8 * 10, y as u8 * 15, 99]))
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn damaged_pngs_are_errors_not_panics(
            edits in proptest::collection::vec((0usize..400, any::<u8>()), 1..6),
            cut in 0usize..400,
        ) {
            let mut bytes = small_png();
            for (at, value) in edits {
                if let Some(b) = bytes.get_mut(at) {
                    *b = value;
                }
            }
            bytes.truncate(cut.max(8));
            if let Ok(image) = decode_image(&bytes, 8) {
                prop_assert_eq!(image.pixels.len(), image.size[0] * image.size[1]);
                prop_assert!(image.size[0] <= 8 && image.size[1] <= 8);
            }
        }
    }

    #[test]
    fn fit_keeps_aspect_and_never_upscales() {
        assert_eq!(fit_within(1920, 1080, 512), (512, 288));
        assert_eq!(fit_within(1080, 1920, 512), (288, 512));
        assert_eq!(fit_within(300, 200, 512), (300, 200));
        assert_eq!(fit_within(10_000, 1, 512), (512, 1));
    }

    #[test]
    fn transparent_pixels_stay_premultiplied() {
        let mut png = Vec::new();
        let image = image::RgbaImage::from_fn(64, 64, |x, _| {
            if x < 32 {
                image::Rgba([255, 0, 0, 255])
            } else {
                image::Rgba([0, 255, 0, 0])
            }
        });
        image
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let decoded = decode_image(&png, 16).unwrap();
        assert_eq!(decoded.size, [16, 16]);
        // Fully transparent green contributes nothing: no green fringe at the edge.
        assert!(
            decoded.pixels.iter().all(|p| p.g() == 0),
            "{:?}",
            decoded.pixels[7]
        );
        assert_eq!(decoded.pixels[0], egui::Color32::from_rgb(255, 0, 0));
        assert_eq!(decoded.pixels[15].a(), 0);
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(
            decode_image(b"not an image", 16),
            Err(ImageDecodeError::UnknownFormat)
        );
        let err = decode_image(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("damaged or unreadable PNG image"),
            "{err}"
        );
    }
}
