//! Stable Diffusion through the real loader and samplers, on tiny random-weight models of the
//! real architecture written as diffusers folders (no registry ships text-to-image weights).

use std::path::{Path, PathBuf};

use previz_jobs::CancelToken;
use previz_models::diffusion::tiny::{TinySpec, write_tiny_model};
use previz_models::diffusion::{
    DiffusionError, DiffusionModel, InitImage, LoadOptions, Request, RgbImage, SchedulerKind,
};

fn tiny(dir: &Path) -> PathBuf {
    let root = dir.join("tiny-sd");
    write_tiny_model(&root, &TinySpec::default()).unwrap();
    root
}

fn load(root: &Path) -> DiffusionModel {
    DiffusionModel::load(root, &LoadOptions::default()).unwrap()
}

fn request(seed: u64, scheduler: SchedulerKind) -> Request {
    Request {
        prompt: "the red door".into(),
        negative_prompt: "blurry".into(),
        width: 64,
        height: 64,
        steps: 3,
        guidance: 7.5,
        scheduler,
        seed,
        init: None,
        previews: true,
        reference: None,
    }
}

/// Each step as (step, total, preview size).
type StepLog = Vec<(usize, usize, Option<(u32, u32)>)>;

fn run(model: &DiffusionModel, r: &Request) -> (RgbImage, StepLog) {
    let mut steps = Vec::new();
    let image = model
        .generate(r, None, &mut |s| {
            steps.push((s.step, s.total, s.preview.map(|p| (p.width, p.height))));
        })
        .unwrap();
    (image, steps)
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    a.pixels
        .iter()
        .zip(&b.pixels)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .sum::<f64>()
        / a.pixels.len() as f64
}

#[test]
fn text_to_image_runs_every_scheduler_and_seeds_reproduce() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(&tiny(dir.path()));
    assert_eq!(model.size_step(), 8);
    for scheduler in SchedulerKind::ALL {
        let (a, steps) = run(&model, &request(1, scheduler));
        assert_eq!((a.width, a.height, a.pixels.len()), (64, 64, 64 * 64 * 3));
        assert_eq!(
            steps,
            vec![
                (1, 3, Some((8, 8))),
                (2, 3, Some((8, 8))),
                (3, 3, Some((8, 8)))
            ],
            "{scheduler}"
        );
        let (again, _) = run(&model, &request(1, scheduler));
        assert_eq!(a, again, "{scheduler}: same seed, same image");
        let (other, _) = run(&model, &request(2, scheduler));
        assert!(
            mean_abs_diff(&a, &other) > 0.5,
            "{scheduler}: seeds must differ"
        );
        // Not a flat picture: random weights still give structure.
        let min = a.pixels.iter().min().unwrap();
        let max = a.pixels.iter().max().unwrap();
        assert!(max - min > 10, "{scheduler}: range {min}..{max}");
    }
    // Other sizes that are multiples of 8, and a bad one with a clear error.
    let mut wide = request(3, SchedulerKind::Ddim);
    wide.width = 96;
    wide.height = 48;
    let (img, _) = run(&model, &wide);
    assert_eq!((img.width, img.height), (96, 48));
    wide.width = 100;
    let err = model.generate(&wide, None, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("multiple of 8"), "{err}");
}

#[test]
fn guidance_and_the_negative_prompt_change_the_picture() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(&tiny(dir.path()));
    let base = run(&model, &request(5, SchedulerKind::Ddim)).0;
    let mut neg = request(5, SchedulerKind::Ddim);
    neg.negative_prompt = "a dark night".into();
    assert!(mean_abs_diff(&base, &run(&model, &neg).0) > 0.0);
    // Guidance <= 1 skips the unconditional pass (turbo models): the negative prompt is unused.
    let mut turbo = request(5, SchedulerKind::Ddim);
    turbo.guidance = 0.0;
    let a = run(&model, &turbo).0;
    turbo.negative_prompt = "anything else".into();
    assert_eq!(a, run(&model, &turbo).0);
}

#[test]
fn image_to_image_starts_part_way_and_keeps_the_picture_at_low_strength() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(&tiny(dir.path()));
    let start = run(&model, &request(9, SchedulerKind::EulerAncestral)).0;
    let mut r = request(4, SchedulerKind::EulerAncestral);
    r.steps = 4;
    r.init = Some(InitImage {
        image: start.clone(),
        strength: 0.5,
        mask: None,
    });
    let (out, steps) = run(&model, &r);
    assert_eq!(steps.len(), 2, "strength 0.5 of 4 steps runs the last 2");
    assert_eq!(steps[0].1, 2);
    let (again, _) = run(&model, &r);
    assert_eq!(out, again, "img2img reproduces with its seed");
    r.init.as_mut().unwrap().strength = 1.0;
    assert_eq!(run(&model, &r).1.len(), 4);

    // Inpainting with a plain model: the kept half stays closer to the start than the
    // repainted half does.
    let mut mask = vec![0u8; 64 * 64];
    for y in 0..64 {
        for x in 32..64 {
            mask[y * 64 + x] = 255;
        }
    }
    r.init = Some(InitImage {
        image: start.clone(),
        strength: 1.0,
        mask: Some(mask),
    });
    let (painted, _) = run(&model, &r);
    let half = |img: &RgbImage, right: bool| -> Vec<u8> {
        (0..64)
            .flat_map(|y| {
                let x0 = if right { 32 } else { 0 };
                img.pixels[(y * 64 + x0) * 3..(y * 64 + x0 + 32) * 3].to_vec()
            })
            .collect()
    };
    let d = |a: &[u8], b: &[u8]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (i32::from(*x) - i32::from(*y)).unsigned_abs())
            .sum::<u32>()
    };
    let kept = d(&half(&painted, false), &half(&start, false));
    let repainted = d(&half(&painted, true), &half(&start, true));
    assert!(kept < repainted, "kept {kept} vs repainted {repainted}");
}

#[test]
fn cancellation_stops_between_steps() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(&tiny(dir.path()));
    let token = CancelToken::new();
    let mut seen = 0;
    let mut r = request(1, SchedulerKind::DpmPlusPlus2M);
    r.steps = 6;
    let result = model.generate(&r, Some(&token), &mut |s| {
        seen = s.step;
        if s.step == 2 {
            token.cancel();
        }
    });
    assert!(
        matches!(result, Err(DiffusionError::Cancelled)),
        "{result:?}"
    );
    assert_eq!(seen, 2, "no step runs after the cancel");
}

fn load_err(root: &Path) -> String {
    DiffusionModel::load(root, &LoadOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn broken_folders_give_errors_that_name_the_file_and_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny(dir.path());

    // A truncated download.
    let unet = root.join("unet/diffusion_pytorch_model.safetensors");
    let bytes = std::fs::read(&unet).unwrap();
    std::fs::write(&unet, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let e = load_err(&root);
    assert!(
        e.contains("diffusion_pytorch_model.safetensors")
            && e.contains("truncated")
            && e.contains("tensor '"),
        "{e}"
    );
    std::fs::write(&unet, &bytes).unwrap();

    // Weights from another model: the config says more channels than the file has.
    let cfg_path = root.join("unet/config.json");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(
        &cfg_path,
        cfg.replace(
            "\"block_out_channels\": [\n    32,",
            "\"block_out_channels\": [\n    64,",
        ),
    )
    .unwrap();
    let e = load_err(&root);
    assert!(e.contains("unet") && e.contains("do not fit"), "{e}");
    assert!(
        e.contains("conv_in") || e.contains("shape"),
        "names the tensor: {e}"
    );

    // Bad JSON: file and line.
    std::fs::write(&cfg_path, "{\n  \"in_channels\": 4,\n  oops\n}").unwrap();
    let e = load_err(&root);
    assert!(e.contains("unet/config.json line 3"), "{e}");
    std::fs::write(&cfg_path, &cfg).unwrap();

    // Missing VAE weights; pickled weights are refused.
    let vae = root.join("vae/diffusion_pytorch_model.safetensors");
    std::fs::rename(&vae, root.join("vae/diffusion_pytorch_model.bin")).unwrap();
    let e = load_err(&root);
    assert!(
        e.contains("diffusion_pytorch_model.bin") && e.contains("pickle"),
        "{e}"
    );
    std::fs::remove_file(root.join("vae/diffusion_pytorch_model.bin")).unwrap();
    let e = load_err(&root);
    assert!(
        e.contains("vae/diffusion_pytorch_model.safetensors: missing"),
        "{e}"
    );

    // Not a model folder at all.
    let e = load_err(dir.path());
    assert!(e.contains("model_index.json"), "{e}");
}

#[test]
fn the_hugging_face_cache_layout_loads() {
    let dir = tempfile::tempdir().unwrap();
    let entry = dir.path().join("models--previz--tiny-sd");
    let snapshot = entry.join("snapshots/0123abcd");
    write_tiny_model(&snapshot, &TinySpec::default()).unwrap();
    std::fs::create_dir_all(entry.join("refs")).unwrap();
    std::fs::write(entry.join("refs/main"), "0123abcd\n").unwrap();
    let model = DiffusionModel::load(&entry, &LoadOptions::default()).unwrap();
    assert_eq!(model.root, snapshot);
    assert_eq!(model.class_name, "StableDiffusionPipeline");
    assert_eq!(model.content_hash().unwrap().len(), 64);
}

/// Writes a LoRA over the UNet's first attention's `to_q` and the text encoder's first `q_proj`
/// in kohya or diffusers (PEFT) naming.
fn write_lora(path: &Path, kohya: bool) {
    use candle_core::{Device, Tensor};
    let dev = Device::Cpu;
    let mut t = std::collections::HashMap::new();
    let rank = 2;
    let ramp = |n: usize, k: f32| {
        (0..n)
            .map(|i| ((i as f32 * 0.37 + k).sin()) * 0.5)
            .collect::<Vec<f32>>()
    };
    let unet_module = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
    let te_module = "text_model.encoder.layers.0.self_attn.q_proj";
    for (module, dim, comp) in [(unet_module, 32, "unet"), (te_module, 32, "te")] {
        let down = Tensor::from_vec(ramp(rank * dim, 1.0), (rank, dim), &dev).unwrap();
        let up = Tensor::from_vec(ramp(dim * rank, 2.0), (dim, rank), &dev).unwrap();
        if kohya {
            let key = format!("lora_{comp}_{}", module.replace('.', "_"));
            t.insert(format!("{key}.lora_down.weight"), down);
            t.insert(format!("{key}.lora_up.weight"), up);
            t.insert(
                format!("{key}.alpha"),
                Tensor::new(&[rank as f32], &dev).unwrap(),
            );
        } else {
            let prefix = if comp == "unet" {
                "unet"
            } else {
                "text_encoder"
            };
            t.insert(format!("{prefix}.{module}.lora_A.weight"), down);
            t.insert(format!("{prefix}.{module}.lora_B.weight"), up);
        }
    }
    candle_core::safetensors::save(&t, path).unwrap();
}

#[test]
fn loras_merge_in_both_namings_at_a_chosen_scale() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny(dir.path());
    let kohya = dir.path().join("look-kohya.safetensors");
    let peft = dir.path().join("look-peft.safetensors");
    write_lora(&kohya, true);
    write_lora(&peft, false);
    let with = |loras: Vec<(PathBuf, f32)>| {
        let model = DiffusionModel::load(
            &root,
            &LoadOptions {
                loras,
                ..LoadOptions::default()
            },
        )
        .unwrap();
        run(&model, &request(3, SchedulerKind::Ddim)).0
    };
    let base = with(vec![]);
    let k = with(vec![(kohya.clone(), 1.0)]);
    let p = with(vec![(peft.clone(), 1.0)]);
    assert!(
        mean_abs_diff(&base, &k) > 0.1,
        "the LoRA changes the picture"
    );
    assert!(
        mean_abs_diff(&k, &p) < 0.01,
        "kohya and diffusers naming merge the same delta"
    );
    assert!(
        mean_abs_diff(&base, &with(vec![(kohya.clone(), 0.0)])) < 0.01,
        "scale 0 is the base model"
    );

    // A LoRA for another model family is refused by name.
    let other = dir.path().join("sdxl-only.safetensors");
    let dev = candle_core::Device::Cpu;
    let mut t = std::collections::HashMap::new();
    t.insert(
        "lora_unet_nonexistent_block_to_q.lora_down.weight".to_string(),
        candle_core::Tensor::zeros((2, 8), candle_core::DType::F32, &dev).unwrap(),
    );
    t.insert(
        "lora_unet_nonexistent_block_to_q.lora_up.weight".to_string(),
        candle_core::Tensor::zeros((8, 2), candle_core::DType::F32, &dev).unwrap(),
    );
    candle_core::safetensors::save(&t, &other).unwrap();
    let e = DiffusionModel::load(
        &root,
        &LoadOptions {
            loras: vec![(other, 1.0)],
            ..LoadOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("sdxl-only.safetensors") && e.contains("another model family"),
        "{e}"
    );
}

fn tiny_xl(dir: &Path) -> PathBuf {
    let root = dir.join("tiny-sdxl");
    let spec = TinySpec {
        xl: true,
        ..TinySpec::default()
    };
    write_tiny_model(&root, &spec).unwrap();
    root
}

#[test]
fn sdxl_runs_with_both_text_encoders_and_its_size_conditioning() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_xl(dir.path());
    let model = load(&root);
    assert!(model.is_xl());
    let r = request(5, SchedulerKind::EulerAncestral);
    let (a, steps) = run(&model, &r);
    assert_eq!((a.width, a.height), (64, 64));
    assert_eq!(steps.len(), 3);
    assert!(
        steps.iter().all(|s| s.2 == Some((8, 8))),
        "a preview per step"
    );
    assert_eq!(run(&model, &r).0, a, "same seed, same picture");
    let other_size = Request {
        width: 48,
        height: 80,
        ..r.clone()
    };
    let b = run(&model, &other_size).0;
    assert_eq!((b.width, b.height), (48, 80));
    // An empty negative prompt is zeros (force_zeros_for_empty_prompt), not the encoding of "".
    let empty = Request {
        negative_prompt: String::new(),
        ..r.clone()
    };
    let space = Request {
        negative_prompt: " ".into(),
        ..r.clone()
    };
    assert!(mean_abs_diff(&run(&model, &empty).0, &run(&model, &space).0) > 0.5);
    // img2img from the picture.
    let i2i = Request {
        init: Some(InitImage {
            image: a.clone(),
            strength: 0.5,
            mask: None,
        }),
        ..r
    };
    let (c, steps) = run(&model, &i2i);
    assert!(steps.len() < 3 && mean_abs_diff(&a, &c) > 0.0);
}

#[test]
fn sdxl_parts_that_do_not_fit_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_xl(dir.path());
    let unet_cfg = root.join("unet/config.json");
    let cfg = std::fs::read_to_string(&unet_cfg).unwrap();

    // A base UNet in an SDXL pipeline.
    let mut j: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    j.as_object_mut().unwrap().remove("addition_embed_type");
    std::fs::write(&unet_cfg, j.to_string()).unwrap();
    let e = load_err(&root);
    assert!(
        e.contains("unet/config.json") && e.contains("text_time"),
        "{e}"
    );

    // The pooled embedding's width disagrees with text_encoder_2's projection.
    let mut j: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    j["projection_class_embeddings_input_dim"] = 70.into();
    std::fs::write(&unet_cfg, j.to_string()).unwrap();
    let e = load_err(&root);
    assert!(
        e.contains("projection_class_embeddings_input_dim 70") && e.contains("text_encoder_2"),
        "{e}"
    );

    // An unknown conditioning kind.
    let mut j: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    j["addition_embed_type"] = "image".into();
    std::fs::write(&unet_cfg, j.to_string()).unwrap();
    let e = load_err(&root);
    assert!(e.contains("addition_embed_type 'image'"), "{e}");
    std::fs::write(&unet_cfg, &cfg).unwrap();

    // The refiner (no first text encoder) is refused by name.
    let index = root.join("model_index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    let mut j: serde_json::Value = serde_json::from_str(&text).unwrap();
    j["text_encoder"] = serde_json::json!([null, null]);
    std::fs::write(&index, j.to_string()).unwrap();
    let e = load_err(&root);
    assert!(
        e.contains("model_index.json") && e.contains("refiner"),
        "{e}"
    );
    std::fs::write(&index, &text).unwrap();

    // A missing second tokenizer.
    std::fs::remove_dir_all(root.join("tokenizer_2")).unwrap();
    let e = load_err(&root);
    assert!(e.contains("tokenizer_2"), "{e}");
}

#[test]
fn sdxl_loras_reach_the_second_text_encoder() {
    use candle_core::{Device, Tensor};
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_xl(dir.path());
    let dev = Device::Cpu;
    let module = "text_model.encoder.layers.0.self_attn.q_proj";
    let dim = 48; // text_encoder_2 is 16 wider than the first.
    let ramp = |n: usize, k: f32| {
        (0..n)
            .map(|i| ((i as f32 * 0.37 + k).sin()) * 0.5)
            .collect::<Vec<f32>>()
    };
    let write = |path: &Path, kohya: bool| {
        let down = Tensor::from_vec(ramp(2 * dim, 1.0), (2, dim), &dev).unwrap();
        let up = Tensor::from_vec(ramp(dim * 2, 2.0), (dim, 2), &dev).unwrap();
        let mut t = std::collections::HashMap::new();
        if kohya {
            let key = format!("lora_te2_{}", module.replace('.', "_"));
            t.insert(format!("{key}.lora_down.weight"), down);
            t.insert(format!("{key}.lora_up.weight"), up);
        } else {
            t.insert(format!("text_encoder_2.{module}.lora_A.weight"), down);
            t.insert(format!("text_encoder_2.{module}.lora_B.weight"), up);
        }
        candle_core::safetensors::save(&t, path).unwrap();
    };
    let kohya = dir.path().join("te2-kohya.safetensors");
    let peft = dir.path().join("te2-peft.safetensors");
    write(&kohya, true);
    write(&peft, false);
    let with = |loras: Vec<(PathBuf, f32)>| {
        let model = DiffusionModel::load(
            &root,
            &LoadOptions {
                loras,
                ..LoadOptions::default()
            },
        )
        .unwrap();
        run(&model, &request(3, SchedulerKind::Ddim)).0
    };
    let base = with(vec![]);
    let k = with(vec![(kohya, 1.0)]);
    assert!(
        mean_abs_diff(&base, &k) > 0.1,
        "the LoRA changes the picture"
    );
    assert!(
        mean_abs_diff(&k, &with(vec![(peft, 1.0)])) < 0.01,
        "both namings merge the same delta"
    );
}

#[test]
fn the_memory_estimate_counts_the_packed_convolution_weights_on_the_cpu() {
    use previz_models::device::DeviceChoice;
    use previz_models::diffusion::layout;
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), &TinySpec::default()).unwrap();
    let (mut params, mut convs) = (0, 0);
    for (sub, stem) in [
        ("text_encoder", "model"),
        ("unet", "diffusion_pytorch_model"),
        ("vae", "diffusion_pytorch_model"),
    ] {
        let f = dir.path().join(sub).join(format!("{stem}.safetensors"));
        params += layout::parameter_count(&f).unwrap();
        convs += layout::conv_weight_count(&f).unwrap();
    }
    assert!(convs > 0 && convs < params);
    let estimate = DiffusionModel::estimate_bytes(dir.path(), DeviceChoice::Cpu).unwrap();
    assert_eq!(estimate, (params + convs) * 4);
}
