//! IP-Adapter (reference pictures as a prompt) on tiny random-weight models, against diffusers.
//!
//! The reference pictures and pixel values in tests/fixtures/diffusion/ip-*.{png,safetensors}
//! were made once by tests/diffusion/reference_ip_adapter.py (run by hand; it needs torch,
//! diffusers and transformers):
//!
//! ```text
//! PREVIZ_DIFFUSION_EXPORT=/tmp/ipref cargo test -p previz-models --test diffusion_ip_adapter
//! python3 tests/diffusion/reference_ip_adapter.py /tmp/ipref engine/models/tests/fixtures/diffusion
//! ```
//!
//! The first command writes the tiny models, their tiny adapters (each beside its
//! `image_encoder/`, a tiny `CLIPVisionModelWithProjection`), the reference pictures, the
//! noise each case draws and the cases; the second loads the adapters with diffusers'
//! `load_ip_adapter`, runs its pipelines with `ip_adapter_image` and that noise, and writes
//! their pictures, plus what transformers' `CLIPImageProcessor` makes of pictures that need
//! resizing and cropping. CI compares ours with them.

mod diffusion_fixtures;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use diffusion_fixtures::{assert_close, fixtures, read_png, save_noise, write_png};

use previz_models::diffusion::ip_adapter::IpAdapter;
use previz_models::diffusion::tiny::{
    TinySpec, test_picture, write_tiny_ip_adapter, write_tiny_model,
};
use previz_models::diffusion::{
    DiffusionError, DiffusionModel, LoadOptions, Reference, Request, RgbImage, SchedulerKind,
};

struct Case {
    name: &'static str,
    xl: bool,
    scheduler: SchedulerKind,
    steps: usize,
    guidance: f32,
    seed: u64,
    scale: f32,
    /// (width, height, seed) of each reference picture.
    pictures: &'static [(u32, u32, u64)],
}

const CASES: [Case; 3] = [
    Case {
        name: "ip-adapter-ddim",
        xl: false,
        scheduler: SchedulerKind::Ddim,
        steps: 4,
        guidance: 7.5,
        seed: 11,
        scale: 0.7,
        pictures: &[(32, 32, 1)],
    },
    Case {
        name: "ip-adapter-two-pictures-no-guidance",
        xl: false,
        scheduler: SchedulerKind::EulerAncestral,
        steps: 3,
        guidance: 0.0,
        seed: 12,
        scale: 1.0,
        pictures: &[(32, 32, 2), (32, 32, 3)],
    },
    Case {
        name: "ip-adapter-xl-euler-a",
        xl: true,
        scheduler: SchedulerKind::EulerAncestral,
        steps: 4,
        guidance: 5.0,
        seed: 13,
        scale: 0.6,
        pictures: &[(32, 32, 4)],
    },
];

/// Pictures that the image processor must resize (down and up) and crop.
const PROCESSED: [(u32, u32, u64); 2] = [(48, 40, 5), (20, 28, 6)];

const PROMPT: &str = "the red door";
const NEGATIVE: &str = "blurry";

/// A tiny model and its adapter: `root/model`, `root/adapter`.
struct Tiny {
    model: DiffusionModel,
    adapter: Arc<IpAdapter>,
    adapter_file: PathBuf,
}

fn tiny(root: &Path, xl: bool) -> Tiny {
    let spec = TinySpec {
        xl,
        ..TinySpec::default()
    };
    let model_dir = root.join("model");
    write_tiny_model(&model_dir, &spec).unwrap();
    let adapter_file = write_tiny_ip_adapter(&root.join("adapter"), &model_dir, 3).unwrap();
    Tiny {
        model: DiffusionModel::load(&model_dir, &LoadOptions::default()).unwrap(),
        adapter: Arc::new(IpAdapter::load(&adapter_file, None, Default::default()).unwrap()),
        adapter_file,
    }
}

fn request(case: &Case, reference: Option<Reference>) -> Request {
    Request {
        prompt: PROMPT.into(),
        negative_prompt: NEGATIVE.into(),
        width: 64,
        height: 64,
        steps: case.steps,
        guidance: case.guidance,
        scheduler: case.scheduler,
        seed: case.seed,
        init: None,
        previews: false,
        reference,
    }
}

fn pictures(case: &Case) -> Vec<RgbImage> {
    case.pictures
        .iter()
        .map(|&(w, h, s)| test_picture(w, h, s))
        .collect()
}

#[test]
fn our_ip_adapter_computes_what_diffusers_computes() {
    let export = std::env::var_os("PREVIZ_DIFFUSION_EXPORT").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let base = export.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let sd = tiny(&base.join("ip-sd"), false);
    let xl = tiny(&base.join("ip-sdxl"), true);
    let mut report = Vec::new();
    for case in &CASES {
        let t = if case.xl { &xl } else { &sd };
        let refs = pictures(case);
        let ours = t
            .model
            .generate(
                &request(
                    case,
                    Some(Reference {
                        adapter: Arc::clone(&t.adapter),
                        images: refs.clone(),
                        scale: case.scale,
                    }),
                ),
                None,
                &mut |_| {},
            )
            .unwrap();
        if let Some(dir) = &export {
            save_noise(dir, case.name, case.seed, case.steps);
            let mut files = Vec::new();
            for (i, p) in refs.iter().enumerate() {
                let f = format!("picture-{}-{i}.png", case.name);
                write_png(&dir.join(&f), p);
                files.push(f);
            }
            write_png(&dir.join(format!("ours-{}.png", case.name)), &ours);
            report.push(serde_json::json!({
                "name": case.name, "scheduler": case.scheduler.as_str(), "steps": case.steps,
                "guidance": case.guidance, "scale": case.scale, "prompt": PROMPT,
                "negative_prompt": NEGATIVE, "width": 64, "height": 64,
                "model": if case.xl { "ip-sdxl/model" } else { "ip-sd/model" },
                "adapter": if case.xl { "ip-sdxl/adapter" } else { "ip-sd/adapter" },
                "pictures": files,
            }));
        } else {
            let reference = read_png(&fixtures().join(format!("{}.png", case.name)));
            assert_close(case.name, &ours, &reference);
        }
    }
    // What the image processor makes of pictures that are not the encoder's size.
    let processed: Vec<(String, candle_core::Tensor)> = PROCESSED
        .iter()
        .map(|&(w, h, s)| {
            let name = format!("processed-{w}x{h}");
            (
                name,
                sd.adapter.pixel_values(&test_picture(w, h, s)).unwrap(),
            )
        })
        .collect();
    if let Some(dir) = &export {
        for (name, _) in &processed {
            let (w, h, s) = PROCESSED
                .iter()
                .copied()
                .find(|&(w, h, _)| *name == format!("processed-{w}x{h}"))
                .unwrap();
            write_png(&dir.join(format!("{name}.png")), &test_picture(w, h, s));
        }
        std::fs::write(
            dir.join("ip-cases.json"),
            serde_json::to_string_pretty(&serde_json::json!({
                "cases": report,
                "processed": processed.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            }))
            .unwrap(),
        )
        .unwrap();
    } else {
        let theirs = candle_core::safetensors::load(
            fixtures().join("ip-pixel-values.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        for (name, ours) in &processed {
            let want = &theirs[name];
            assert_eq!(ours.dims(), want.dims(), "{name}");
            let diff = (ours - want).unwrap().abs().unwrap().flatten_all().unwrap();
            let max = diff.max(0).unwrap().to_scalar::<f32>().unwrap();
            let mean = diff.mean(0).unwrap().to_scalar::<f32>().unwrap();
            eprintln!("{name}: mean |ours - CLIPImageProcessor| = {mean:.4}, max = {max:.4}");
            // Bicubic resampling in the image crate and in Pillow round differently: a level
            // or two of 255 (0.016-0.03 after normalising) on some pixels.
            assert!(mean < 0.01 && max < 0.1, "{name}: mean {mean}, max {max}");
        }
    }
}

#[test]
fn a_reference_steers_the_picture_and_scale_zero_leaves_it_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny(tmp.path(), false);
    let case = &CASES[0];
    let draw = |reference: Option<Reference>| {
        t.model
            .generate(&request(case, reference), None, &mut |_| {})
            .unwrap()
    };
    let with = |seed: u64, scale: f32| {
        Some(Reference {
            adapter: Arc::clone(&t.adapter),
            images: vec![test_picture(32, 32, seed)],
            scale,
        })
    };
    let plain = draw(None);
    let a = draw(with(1, 0.8));
    assert_eq!(
        a,
        draw(with(1, 0.8)),
        "same reference, same seed: same picture"
    );
    assert_ne!(a, plain, "a reference changes the picture");
    assert_ne!(a, draw(with(2, 0.8)), "another reference, another picture");
    assert_eq!(draw(with(1, 0.0)), plain, "scale 0 ignores the reference");
    // A picture of any size goes through the processor.
    draw(Some(Reference {
        adapter: Arc::clone(&t.adapter),
        images: vec![test_picture(90, 51, 3)],
        scale: 0.5,
    }));
    // Out-of-range scale and no pictures are request errors, not panics.
    let err = t
        .model
        .generate(&request(case, with(1, f32::NAN)), None, &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, DiffusionError::Request(_)), "{err}");
    let err = t
        .model
        .generate(
            &request(
                case,
                Some(Reference {
                    adapter: Arc::clone(&t.adapter),
                    images: vec![],
                    scale: 0.5,
                }),
            ),
            None,
            &mut |_| {},
        )
        .unwrap_err();
    assert!(err.to_string().contains("at least one"), "{err}");
}

#[test]
fn bad_adapters_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let sd = tiny(&tmp.path().join("sd"), false);
    let xl = tiny(&tmp.path().join("xl"), true);

    // An adapter made for another base model: named, with the tensor and the layer.
    let err = xl
        .model
        .generate(
            &request(
                &CASES[2],
                Some(Reference {
                    adapter: Arc::clone(&sd.adapter),
                    images: vec![test_picture(32, 32, 1)],
                    scale: 0.5,
                }),
            ),
            None,
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("ip-adapter.safetensors"), "{err}");
    assert!(err.contains("another base model"), "{err}");
    assert!(
        err.contains("to_k_ip") || err.contains("cross-attention layers"),
        "{err}"
    );

    // No image encoder beside it.
    let lonely = tmp.path().join("lonely");
    std::fs::create_dir_all(&lonely).unwrap();
    let file = lonely.join("ip-adapter.safetensors");
    std::fs::copy(&sd.adapter_file, &file).unwrap();
    let err = IpAdapter::load(&file, None, Default::default()).unwrap_err();
    assert!(matches!(err, DiffusionError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("image_encoder"), "{err}");

    // Truncated: the file and where it was cut.
    let bytes = std::fs::read(&sd.adapter_file).unwrap();
    let cut = sd.adapter_file.with_file_name("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = IpAdapter::load(&cut, None, Default::default()).unwrap_err();
    assert!(matches!(err, DiffusionError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("cut.safetensors"), "{err}");

    // Pickles are never read.
    let pickle = sd.adapter_file.with_file_name("ip-adapter.bin");
    std::fs::write(&pickle, b"not read").unwrap();
    let err = IpAdapter::load(&pickle, None, Default::default()).unwrap_err();
    assert!(matches!(err, DiffusionError::Pickle { .. }), "{err}");

    // IP-Adapter Plus (a Resampler) is refused by name.
    let mut tensors =
        candle_core::safetensors::load(&sd.adapter_file, &candle_core::Device::Cpu).unwrap();
    tensors.insert(
        "image_proj.latents".into(),
        candle_core::Tensor::zeros(
            (1, 16, 8),
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap(),
    );
    let plus = sd
        .adapter_file
        .with_file_name("ip-adapter-plus_sd15.safetensors");
    candle_core::safetensors::save(&tensors, &plus).unwrap();
    let err = IpAdapter::load(&plus, None, Default::default()).unwrap_err();
    assert!(matches!(err, DiffusionError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("Plus"), "{err}");

    // A missing per-layer projection names the tensor.
    let mut tensors =
        candle_core::safetensors::load(&sd.adapter_file, &candle_core::Device::Cpu).unwrap();
    tensors.remove("ip_adapter.3.to_v_ip.weight");
    let holed = sd.adapter_file.with_file_name("holed.safetensors");
    candle_core::safetensors::save(&tensors, &holed).unwrap();
    let err = IpAdapter::load(&holed, None, Default::default()).unwrap_err();
    assert!(
        err.to_string().contains("ip_adapter.3.to_v_ip.weight"),
        "{err}"
    );

    // An image encoder that projects to another width than the adapter expects.
    let enc = sd
        .adapter_file
        .parent()
        .unwrap()
        .join("image_encoder/config.json");
    let text = std::fs::read_to_string(&enc).unwrap();
    std::fs::write(
        &enc,
        text.replace("\"projection_dim\": 24", "\"projection_dim\": 16"),
    )
    .unwrap();
    let err = IpAdapter::load(&sd.adapter_file, None, Default::default()).unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
    assert!(err.to_string().contains("projects to 16"), "{err}");
}

/// `h94/IP-Adapter`'s layout: `models/image_encoder` (ViT-H) beside `sdxl_models/image_encoder`
/// (ViT-bigG); an adapter in `sdxl_models/` that takes ViT-H embeddings finds the encoder of its
/// width, not the one beside it.
#[test]
fn an_adapter_finds_the_image_encoder_of_its_width() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_tiny_model(&model, &TinySpec::default()).unwrap();
    let repo = tmp.path().join("IP-Adapter");
    write_tiny_ip_adapter(&repo.join("models"), &model, 3).unwrap();
    // sdxl_models/: another encoder (projecting to 16) and an adapter made for the 24-wide one.
    let other = write_tiny_ip_adapter(&repo.join("sdxl_models"), &model, 4).unwrap();
    let config = repo.join("sdxl_models/image_encoder/config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("\"projection_dim\": 24", "\"projection_dim\": 16"),
    )
    .unwrap();
    assert_eq!(
        IpAdapter::find_encoder(&other).unwrap(),
        repo.join("models/image_encoder")
    );
    let adapter = IpAdapter::load(&other, None, Default::default()).unwrap();
    assert_eq!(adapter.encoder_dir, repo.join("models/image_encoder"));
    // Named explicitly, the wrong one is refused with the reason.
    let err = IpAdapter::load(
        &other,
        Some(&repo.join("sdxl_models/image_encoder")),
        Default::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("projects to 16"), "{err}");
}
