//! The tiny autoencoder (TAESD) and tiled autoencoder decoding, against diffusers and against
//! our own whole decode, and TAESD's per-step previews through the real loader.
//!
//! The reference outputs in tests/fixtures/diffusion/vae-reference.safetensors were made once
//! by tests/diffusion/reference_vae.py (run by hand; it needs torch and diffusers):
//!
//! ```text
//! PREVIZ_DIFFUSION_EXPORT=/tmp/vaeref cargo test -p previz-models --test diffusion_vae
//! python3 tests/diffusion/reference_vae.py /tmp/vaeref engine/models/tests/fixtures/diffusion
//! ```
//!
//! The first command writes the tiny TAESD, the tiny SD model and the inputs (pure functions of
//! their seeds, so CI rebuilds the same bytes) under /tmp/vaeref/vae/; the second decodes with
//! diffusers' `AutoencoderTiny` and `AutoencoderKL` (tiled with `enable_tiling()`, and whole).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use previz_models::diffusion::taesd::Taesd;
use previz_models::diffusion::tiny::{TinySpec, write_tiny_model, write_tiny_taesd};
use previz_models::diffusion::vae::Vae;
use previz_models::diffusion::{
    DiffusionModel, LoadOptions, Request, RgbImage, SchedulerKind, noise_sequence,
};

/// Tile side in latents for the reference (reference_vae.py's TILE).
const TILE: usize = 8;
const TAESD_SEED: u64 = 11;
const TAESD_CHANNELS: usize = 8;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/diffusion/vae-reference.safetensors")
}

/// The decode input: 16 x 14 latents, so 8-latent tiles with a quarter overlap make 3 x 3 tiles
/// and the last column is a 2-latent tile inside its neighbour's overlap.
fn latents() -> Tensor {
    noise_sequence(21, (1, 4, 16, 14), 1).unwrap().remove(0)
}

/// The encoder's input: pixels in [-1, 1].
fn pixels() -> Tensor {
    let n = noise_sequence(22, (1, 3, 64, 48), 1).unwrap().remove(0);
    (n * 0.5).unwrap().clamp(-1.0, 1.0).unwrap()
}

/// The tiled encoder's input: 128 x 112 pixels, so 64 px tiles (8 latents) with a quarter
/// overlap make 3 x 3 tiles.
fn pixels_large() -> Tensor {
    let n = noise_sequence(23, (1, 3, 128, 112), 1).unwrap().remove(0);
    (n * 0.5).unwrap().clamp(-1.0, 1.0).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn mean_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn tiny_taesd(dir: &Path) -> PathBuf {
    let path = dir.join("tiny-taesd");
    write_tiny_taesd(&path, TAESD_SEED, TAESD_CHANNELS).unwrap();
    path
}

fn tiny_sd(dir: &Path) -> PathBuf {
    let root = dir.join("tiny-sd");
    write_tiny_model(&root, &TinySpec::default()).unwrap();
    root
}

#[test]
fn taesd_and_tiled_decoding_compute_what_diffusers_computes() {
    let export = std::env::var_os("PREVIZ_DIFFUSION_EXPORT").map(|d| PathBuf::from(d).join("vae"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = export.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let taesd = Taesd::load(&tiny_taesd(&dir), &Device::Cpu, DType::F32).unwrap();
    let vae = Vae::load(&tiny_sd(&dir).join("vae"), &Device::Cpu, DType::F32).unwrap();
    let (z, px, large) = (latents(), pixels(), pixels_large());
    let (tiled_mean, tiled_logvar) = vae.encode_tiled(&large, TILE, 0.25).unwrap();
    let (whole_mean, _) = vae.encode(&large).unwrap();
    let ours: HashMap<&str, Tensor> = HashMap::from([
        ("kl.tiled_encode.mean", tiled_mean),
        ("kl.tiled_encode.logvar", tiled_logvar),
        ("kl.whole_encode.mean", whole_mean),
        ("taesd.decode", taesd.decode_scaled(&z).unwrap()),
        ("taesd.encode", taesd.encode(&px).unwrap()),
        ("kl.tiled", vae.decode_tiled(&z, TILE, 0.25).unwrap()),
        ("kl.whole", vae.decode(&z).unwrap()),
    ]);
    if let Some(dir) = &export {
        let inputs = HashMap::from([
            ("latents".to_owned(), z),
            ("pixels".to_owned(), px),
            ("pixels_large".to_owned(), large),
        ]);
        candle_core::safetensors::save(&inputs, dir.join("inputs.safetensors")).unwrap();
        eprintln!(
            "exported to {}; now run tests/diffusion/reference_vae.py",
            dir.display()
        );
        return;
    }
    let reference = candle_core::safetensors::load(fixture(), &Device::Cpu).unwrap();
    assert_eq!(
        max_abs_diff(&reference["latents"], &z),
        0.0,
        "the input latents are not the ones the reference was recorded from"
    );
    // The outputs' spread, to show the tolerance is tight relative to them.
    let taesd_out = &ours["taesd.decode"];
    let spread = taesd_out
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        - taesd_out
            .flatten_all()
            .unwrap()
            .min(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
    assert!(
        spread > 0.5,
        "the tiny TAESD's output is nearly flat ({spread}): a weak test"
    );
    for (name, tensor) in &ours {
        let d = max_abs_diff(tensor, &reference[*name]);
        eprintln!(
            "{name} {:?}: max |ours - diffusers| = {d:.2e}",
            tensor.dims()
        );
        assert!(d < 1e-4, "{name}: max |ours - diffusers| = {d}");
    }
    // Tiling really changed the picture (else kl.tiled would not test the blending).
    let tiling = max_abs_diff(&ours["kl.tiled"], &ours["kl.whole"]);
    assert!(tiling > 1e-3, "tiled and whole decodes agree to {tiling}");
    let tiling = max_abs_diff(&ours["kl.tiled_encode.mean"], &ours["kl.whole_encode.mean"]);
    assert!(tiling > 1e-3, "tiled and whole encodes agree to {tiling}");
}

#[test]
fn tiled_decoding_stays_close_to_a_whole_decode_and_keeps_the_size() {
    let tmp = tempfile::tempdir().unwrap();
    let vae = Vae::load(&tiny_sd(tmp.path()).join("vae"), &Device::Cpu, DType::F32).unwrap();
    let z = latents();
    let whole = vae.decode(&z).unwrap();
    let tiled = vae.decode_tiled(&z, TILE, 0.25).unwrap();
    let (max, mean) = (max_abs_diff(&tiled, &whole), mean_abs_diff(&tiled, &whole));
    eprintln!("tiled (8, 0.25) vs whole: max {max:.4}, mean {mean:.4}");
    // Only a sanity bound: each tile normalises with its own group-norm statistics, which on
    // this random-weight model over 64 px tiles are far from the whole picture's; diffusers'
    // own tiling differs from its whole decode by the same (max 4.56, mean 0.27, for outputs
    // of mean magnitude 0.47). That ours tiles exactly as diffusers does is checked above.
    assert!(
        mean < 0.35 && max < 6.0,
        "tiled vs whole: max {max}, mean {mean}"
    );
    // One tile covering everything (a stride of 16 latents) is the whole decode, bit for bit.
    assert_eq!(
        max_abs_diff(&vae.decode_tiled(&z, 22, 0.25).unwrap(), &whole),
        0.0
    );
    // Odd sizes, no overlap, and a tile wider than the stride of the last one keep the size.
    for (h, w, tile, overlap) in [(13, 7, 4, 0.25), (9, 5, 4, 0.0), (5, 11, 3, 0.5)] {
        let z = noise_sequence(23, (1, 4, h, w), 1).unwrap().remove(0);
        let out = vae.decode_tiled(&z, tile, overlap).unwrap();
        assert_eq!(out.dims(), &[1, 3, h * 8, w * 8], "{h}x{w} tile {tile}");
    }
    assert!(
        vae.decode_tiled(&z, 1, 0.5).is_err(),
        "a tile that does not advance"
    );
    // decode_auto tiles only above the threshold.
    let vae = vae.with_tile(Some(14));
    let z16 = latents();
    let z14 = z16.narrow(2, 0, 14).unwrap();
    assert_eq!(
        max_abs_diff(&vae.decode_auto(&z14).unwrap(), &vae.decode(&z14).unwrap()),
        0.0
    );
    assert_eq!(
        max_abs_diff(
            &vae.decode_auto(&z16).unwrap(),
            &vae.decode_tiled(&z16, 14, 0.25).unwrap()
        ),
        0.0
    );
}

fn request(steps: usize) -> Request {
    Request {
        prompt: "the red door".into(),
        negative_prompt: "blurry".into(),
        width: 64,
        height: 64,
        steps,
        guidance: 7.5,
        scheduler: SchedulerKind::EulerAncestral,
        seed: 3,
        init: None,
        previews: true,
        reference: None,
    }
}

/// The frame and each step's (step, preview size).
fn run(model: &DiffusionModel, r: &Request) -> (RgbImage, Vec<(usize, Option<RgbImage>)>) {
    let mut steps = Vec::new();
    let image = model
        .generate(r, None, &mut |s| steps.push((s.step, s.preview.cloned())))
        .unwrap();
    (image, steps)
}

fn image_diff(a: &RgbImage, b: &RgbImage) -> (f64, u8) {
    let mean = a
        .pixels
        .iter()
        .zip(&b.pixels)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.pixels.len() as f64;
    let max = a
        .pixels
        .iter()
        .zip(&b.pixels)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0);
    (mean, max)
}

#[test]
fn a_taesd_folder_gives_full_resolution_previews_on_every_step() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tiny_sd(tmp.path());
    let plain = DiffusionModel::load(&root, &LoadOptions::default()).unwrap();
    let (plain_image, plain_steps) = run(&plain, &request(3));
    assert!(
        plain_steps
            .iter()
            .all(|(_, p)| p.as_ref().map(|p| (p.width, p.height)) == Some((8, 8))),
        "without TAESD the previews are the linear map at latent resolution"
    );

    write_tiny_taesd(&root.join("taesd"), TAESD_SEED, TAESD_CHANNELS).unwrap();
    let model = DiffusionModel::load(&root, &LoadOptions::default()).unwrap();
    let (image, steps) = run(&model, &request(3));
    assert_eq!(
        steps.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let previews: Vec<RgbImage> = steps.into_iter().map(|(_, p)| p.unwrap()).collect();
    for p in &previews {
        assert_eq!((p.width, p.height), (64, 64), "TAESD previews at full size");
        assert_eq!(p.pixels.len(), 64 * 64 * 3);
    }
    assert_ne!(previews[0], previews[2], "the previews follow the sampler");
    // The preview decoder does not touch the frame.
    assert_eq!(image, plain_image);
    // The last preview is TAESD's picture of the final latents, so it resembles the frame
    // only as much as two different random decoders can: just check it is not flat.
    let last = &previews[2];
    let lo = last.pixels.iter().min().unwrap();
    let hi = last.pixels.iter().max().unwrap();
    assert!(hi - lo > 20, "a flat preview ({lo}..{hi})");

    // The same TAESD given in the options, from elsewhere, makes the same previews.
    let elsewhere = tiny_taesd(tmp.path());
    std::fs::remove_dir_all(root.join("taesd")).unwrap();
    let options = LoadOptions {
        taesd: Some(elsewhere),
        ..LoadOptions::default()
    };
    let model = DiffusionModel::load(&root, &options).unwrap();
    let (_, steps) = run(&model, &request(3));
    let again: Vec<RgbImage> = steps.into_iter().map(|(_, p)| p.unwrap()).collect();
    assert_eq!(again, previews);
}

#[test]
fn forcing_a_small_tile_decodes_the_frame_in_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tiny_sd(tmp.path());
    let whole = DiffusionModel::load(
        &root,
        &LoadOptions {
            vae_tile: Some(0),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    // The default tiles above 64 latents: a 64 px frame (8 latents) decodes whole.
    let default = DiffusionModel::load(&root, &LoadOptions::default()).unwrap();
    let tiled = DiffusionModel::load(
        &root,
        &LoadOptions {
            vae_tile: Some(6),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let mut r = request(2);
    r.previews = false;
    let (a, _) = run(&whole, &r);
    let (b, _) = run(&default, &r);
    let (c, _) = run(&tiled, &r);
    assert_eq!(a, b);
    let (mean, max) = image_diff(&a, &c);
    eprintln!("frame tiled in 6-latent tiles vs whole: mean {mean:.3}, max {max} (8-bit levels)");
    assert!(max > 0, "a forced tile must change the decode path");
    // A sanity bound (6-latent tiles of a random-weight model differ from the whole picture by
    // about 11 levels on average; see the decode test).
    assert!(
        mean < 16.0,
        "tiled frame far from the whole one: mean {mean}"
    );
}

fn load_err(root: &Path, options: &LoadOptions) -> String {
    DiffusionModel::load(root, options).unwrap_err().to_string()
}

#[test]
fn a_broken_taesd_gives_an_error_that_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tiny_sd(tmp.path());
    let taesd = root.join("taesd");
    let weights = taesd.join("diffusion_pytorch_model.safetensors");
    let config = taesd.join("config.json");

    // Truncated weights.
    write_tiny_taesd(&taesd, TAESD_SEED, TAESD_CHANNELS).unwrap();
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(&root, &LoadOptions::default());
    assert!(
        e.contains(&weights.display().to_string()) && e.contains("truncated"),
        "{e}"
    );

    // Missing weights.
    std::fs::remove_file(&weights).unwrap();
    let e = load_err(&root, &LoadOptions::default());
    assert!(e.contains(&weights.display().to_string()), "{e}");

    // A tensor missing from otherwise good weights.
    write_tiny_taesd(&taesd, TAESD_SEED, TAESD_CHANNELS).unwrap();
    let mut tensors = candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    tensors.remove("decoder.layers.18.bias").unwrap();
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let e = load_err(&root, &LoadOptions::default());
    assert!(
        e.contains(&weights.display().to_string()) && e.contains("decoder.layers.18.bias"),
        "{e}"
    );

    // Bad JSON names the line.
    write_tiny_taesd(&taesd, TAESD_SEED, TAESD_CHANNELS).unwrap();
    std::fs::write(&config, "{\n  \"latent_channels\": 4,\n  oops\n}").unwrap();
    let e = load_err(&root, &LoadOptions::default());
    assert!(e.contains(&format!("{} line 3", config.display())), "{e}");

    // A config the decoder cannot build.
    std::fs::write(&config, r#"{"act_fn": "tanh"}"#).unwrap();
    let e = load_err(&root, &LoadOptions::default());
    assert!(
        e.contains(&config.display().to_string()) && e.contains("tanh"),
        "{e}"
    );

    // No config.
    std::fs::remove_file(&config).unwrap();
    let e = load_err(&root, &LoadOptions::default());
    assert!(
        e.contains(&config.display().to_string()) && e.contains("missing"),
        "{e}"
    );

    // A TAESD given in the options that is not there.
    std::fs::remove_dir_all(&taesd).unwrap();
    let gone = tmp.path().join("no-such-taesd");
    let e = load_err(
        &root,
        &LoadOptions {
            taesd: Some(gone.clone()),
            ..LoadOptions::default()
        },
    );
    assert!(
        e.contains(&gone.display().to_string()) && e.contains("TAESD"),
        "{e}"
    );

    // And without a taesd/ folder the model loads as before.
    DiffusionModel::load(&root, &LoadOptions::default()).unwrap();
}
