//! What the diffusion reference tests share: the fixtures folder, PNG in and out, the noise a
//! case draws written for the reference scripts, and the pixel comparison with diffusers.

use std::path::{Path, PathBuf};

use previz_models::diffusion::{RgbImage, noise_sequence};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusion")
}

pub fn read_png(path: &Path) -> RgbImage {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    RgbImage {
        width: img.width(),
        height: img.height(),
        pixels: img.into_raw(),
    }
}

pub fn write_png(path: &Path, img: &RgbImage) {
    image::RgbImage::from_raw(img.width, img.height, img.pixels.clone())
        .unwrap()
        .save(path)
        .unwrap();
}

/// Writes the noise a 64×64 case with `seed` draws over `steps` steps, in order, as
/// `dir/noise-<name>.safetensors` (`noise.0`, `noise.1`, …) for the reference scripts.
pub fn save_noise(dir: &Path, name: &str, seed: u64, steps: usize) {
    let draws = noise_sequence(seed, (1, 4, 8, 8), steps + 2).unwrap();
    let map: std::collections::HashMap<String, candle_core::Tensor> = draws
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("noise.{i}"), t))
        .collect();
    candle_core::safetensors::save(&map, dir.join(format!("noise-{name}.safetensors"))).unwrap();
}

/// Ours against diffusers' picture: every pixel within two 8-bit levels, the mean within 0.1.
pub fn assert_close(name: &str, ours: &RgbImage, reference: &RgbImage) {
    assert_eq!(
        (reference.width, reference.height),
        (ours.width, ours.height)
    );
    let diffs: Vec<u32> = ours
        .pixels
        .iter()
        .zip(&reference.pixels)
        .map(|(a, b)| u32::from(a.abs_diff(*b)))
        .collect();
    let mean = f64::from(diffs.iter().sum::<u32>()) / diffs.len() as f64;
    let max = diffs.iter().max().copied().unwrap_or(0);
    eprintln!("{name}: mean |ours - diffusers| = {mean:.3}, max = {max}");
    assert!(
        mean < 0.1 && max <= 2,
        "{name}: mean {mean:.3}, max {max} (8-bit levels)"
    );
}
