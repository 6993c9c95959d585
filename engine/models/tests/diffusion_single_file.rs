//! Single-file (A1111 / civitai, original LDM names) checkpoints through the converter and the
//! real loader, on tiny random-weight models written both as a diffusers folder and as a single
//! file (`tiny::write_tiny_single_file`, whose naming is written apart from the converter's).
//!
//! What ties this to diffusers rather than to our own naming twice: the fixture
//! tests/fixtures/diffusion/single_file.json, made by hand with diffusers' own converters:
//!
//! ```text
//! PREVIZ_DIFFUSION_EXPORT=/tmp/sfref cargo test -p previz-models --test diffusion_single_file
//! python3 tests/diffusion/reference_single_file.py /tmp/sfref engine/models/tests/fixtures/diffusion
//! ```
//!
//! The first writes each family's tiny folder and single file (pure functions of their seeds,
//! so CI rebuilds the same bytes); the second converts every single file with diffusers'
//! `single_file_utils`, asserts that each converted tensor equals the folder's, and records per
//! family and component the tensor count and a blake3 of the converted state dict, and the
//! same of the checkpoint it converted. CI checks that it still writes that checkpoint and
//! that our conversion of it hashes as diffusers' did.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use previz_models::diffusion::config;
use previz_models::diffusion::single_file::{Converted, Family, SingleFileOptions, convert};
use previz_models::diffusion::tiny::{
    TinyFamily, TinySpec, write_tiny_family, write_tiny_single_file,
};
use previz_models::diffusion::{
    DiffusionError, DiffusionModel, InitImage, LoadOptions, Request, RgbImage, SchedulerKind,
};

/// A tiny model per family, shaped so that every rule the weights cannot show (heads, groups,
/// scaling) holds: the configs inferred from the single file must then equal the folder's.
struct Case {
    name: &'static str,
    family: TinyFamily,
    inpainting: bool,
    spec: TinySpec,
}

fn cases() -> Vec<Case> {
    let base = TinySpec {
        seed: 21,
        unet_channels: vec![32, 64],
        // SD 1's rule: 8 heads per block.
        unet_heads: 8,
        // 32 groups, as every released autoencoder.
        vae_channels: vec![32, 32, 32, 32],
        // The tiny writer's 4 CLIP heads, 64 wide as CLIP's (SDXL's second encoder is 16
        // wider: 272 / 64 still gives 4).
        clip_hidden: 256,
        clip_layers: 2,
        norm_groups: 32,
        prediction_type: "epsilon",
        xl: false,
    };
    vec![
        Case {
            name: "sd1",
            family: TinyFamily::Sd1,
            inpainting: false,
            spec: base.clone(),
        },
        Case {
            name: "sd1-inpainting",
            family: TinyFamily::Sd1,
            inpainting: true,
            spec: TinySpec {
                seed: 24,
                ..base.clone()
            },
        },
        Case {
            name: "sd2",
            family: TinyFamily::Sd2,
            inpainting: false,
            spec: TinySpec {
                seed: 22,
                unet_channels: vec![64, 128],
                // diffusers drops `resblocks.23` of SD 2's OpenCLIP: 24 in the file, 23 here.
                clip_layers: 23,
                ..base.clone()
            },
        },
        Case {
            name: "sdxl",
            family: TinyFamily::Sdxl,
            inpainting: false,
            spec: TinySpec {
                seed: 23,
                // The tiny SDXL writer doubles the heads per block: 1, 2, 4 are 64 wide here.
                unet_channels: vec![64, 128, 256],
                unet_heads: 1,
                ..base
            },
        },
    ]
}

fn case(name: &str) -> Case {
    cases().into_iter().find(|c| c.name == name).unwrap()
}

/// Writes `case` as a folder and a single file under `dir`: (folder, file).
fn write(dir: &Path, case: &Case, dtype: DType) -> (PathBuf, PathBuf) {
    let folder = dir.join(case.name);
    write_tiny_family(&folder, &case.spec, case.family, case.inpainting).unwrap();
    let file = dir.join(format!("{}.safetensors", case.name));
    write_tiny_single_file(&folder, &file, dtype).unwrap();
    (folder, file)
}

fn weights_of(folder: &Path, component: &str) -> HashMap<String, Tensor> {
    let file = if component.starts_with("text_encoder") {
        "model.safetensors"
    } else {
        "diffusion_pytorch_model.safetensors"
    };
    candle_core::safetensors::load(folder.join(component).join(file), &Device::Cpu).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// Every component of `c` holds exactly the folder's tensors (names, shapes, values), in
/// `dtype` (the folder's converted to it).
fn assert_same_tensors(c: &Converted, folder: &Path, dtype: DType) {
    for (component, comp) in &c.components {
        let want = weights_of(folder, component);
        let mut missing: Vec<&String> = want
            .keys()
            .filter(|k| !comp.tensors.contains_key(*k))
            .collect();
        let mut extra: Vec<&String> = comp
            .tensors
            .keys()
            .filter(|k| !want.contains_key(*k))
            .collect();
        missing.sort();
        extra.sort();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{component}: missing {missing:?}, extra {extra:?}"
        );
        for (name, w) in &want {
            let got = &comp.tensors[name];
            assert_eq!(got.dtype(), dtype, "{component}.{name}");
            assert_eq!(got.dims(), w.dims(), "{component}.{name}");
            assert!(
                bits(got) == bits(&w.to_dtype(dtype).unwrap()),
                "{component}.{name} differs from the folder's"
            );
        }
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

fn read_json(path: &Path) -> serde_json::Value {
    json(&std::fs::read_to_string(path).unwrap())
}

/// A per-block field as a list (diffusers writes an int when all blocks agree).
fn blocks(v: &serde_json::Value, n: usize) -> serde_json::Value {
    match v {
        serde_json::Value::Array(_) => v.clone(),
        serde_json::Value::Null => serde_json::json!(vec![1; n]),
        other => serde_json::json!(vec![other.clone(); n]),
    }
}

/// The inferred configs say what the folder's say, on every field the weights or the family
/// rules fix (not sample_size, version or class names of the scheduler).
fn assert_equivalent_configs(c: &Converted, folder: &Path) {
    let unet = json(&c.components["unet"].config);
    let want = read_json(&folder.join("unet/config.json"));
    let n = want["block_out_channels"].as_array().unwrap().len();
    for key in [
        "in_channels",
        "out_channels",
        "block_out_channels",
        "down_block_types",
        "up_block_types",
        "layers_per_block",
        "cross_attention_dim",
        "use_linear_projection",
        "norm_num_groups",
        "addition_embed_type",
        "addition_time_embed_dim",
        "projection_class_embeddings_input_dim",
    ] {
        assert_eq!(unet[key], want[key], "unet {key}");
    }
    for key in ["attention_head_dim", "transformer_layers_per_block"] {
        assert_eq!(blocks(&unet[key], n), blocks(&want[key], n), "unet {key}");
    }
    let vae = json(&c.components["vae"].config);
    let want = read_json(&folder.join("vae/config.json"));
    for key in [
        "in_channels",
        "out_channels",
        "latent_channels",
        "block_out_channels",
        "layers_per_block",
        "norm_num_groups",
        "scaling_factor",
    ] {
        assert_eq!(vae[key], want[key], "vae {key}");
    }
    for te in ["text_encoder", "text_encoder_2"] {
        let Some(comp) = c.components.get(te) else {
            continue;
        };
        let got = json(&comp.config);
        let want = read_json(&folder.join(te).join("config.json"));
        for key in [
            "architectures",
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "max_position_embeddings",
            "hidden_act",
            "projection_dim",
        ] {
            assert_eq!(got[key], want[key], "{te} {key}");
        }
    }
    let got = json(&c.scheduler_config);
    let want = read_json(&folder.join("scheduler/scheduler_config.json"));
    for key in [
        "num_train_timesteps",
        "beta_start",
        "beta_end",
        "beta_schedule",
        "prediction_type",
        "steps_offset",
        "timestep_spacing",
        "set_alpha_to_one",
    ] {
        assert_eq!(got[key], want[key], "scheduler {key}");
    }
    let index = read_json(&folder.join("model_index.json"));
    assert_eq!(index["_class_name"], c.class_name.as_str());
}

#[test]
fn every_family_converts_to_exactly_the_folders_tensors_and_configs() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let (folder, file) = write(dir.path(), &case, DType::F32);
        let c = convert(&file, &SingleFileOptions::default()).unwrap();
        let family = match case.family {
            TinyFamily::Sd1 => Family::Sd1,
            TinyFamily::Sd2 => Family::Sd2,
            TinyFamily::Sdxl => Family::Sdxl,
        };
        assert_eq!(c.family, family, "{}", case.name);
        assert_eq!(c.inpainting, case.inpainting, "{}", case.name);
        let names: Vec<&str> = c.components.keys().map(String::as_str).collect();
        let want: &[&str] = if case.family == TinyFamily::Sdxl {
            &["text_encoder", "text_encoder_2", "unet", "vae"]
        } else {
            &["text_encoder", "unet", "vae"]
        };
        assert_eq!(names, want, "{}", case.name);
        assert_same_tensors(&c, &folder, DType::F32);
        assert_equivalent_configs(&c, &folder);
        // What real files carry beside the model is skipped, not converted.
        for skipped in ["betas", "alphas_cumprod", "model_ema.decay"] {
            assert!(
                c.ignored.iter().any(|k| k == skipped),
                "{}: {skipped}",
                case.name
            );
        }
        if case.family == TinyFamily::Sd2 {
            assert!(
                c.ignored
                    .iter()
                    .any(|k| k.starts_with("cond_stage_model.model.transformer.resblocks.23.")),
                "SD 2's last text layer is dropped"
            );
        }
        // Our config readers accept what was inferred and build the same UNet from it.
        let cfg = |name: &str| {
            let comp = &c.components[name];
            (comp.config.clone(), comp.config_path.clone())
        };
        let (t, p) = cfg("vae");
        config::vae_config(&t, &p).unwrap();
        let (t, p) = cfg("text_encoder");
        config::clip_config(&t, &p).unwrap();
        if let Some(comp) = c.components.get("text_encoder_2") {
            config::clip_config(&comp.config, &comp.config_path).unwrap();
        }
        {
            let (t, p) = cfg("unet");
            let ours = config::unet_config(&t, &p).unwrap();
            let theirs = config::unet_config(
                &std::fs::read_to_string(folder.join("unet/config.json")).unwrap(),
                &folder,
            )
            .unwrap();
            assert_eq!(
                format!("{:?}", ours.candle),
                format!("{:?}", theirs.candle),
                "{}: the runtime builds the same UNet",
                case.name
            );
            assert_eq!(
                format!("{:?}", ours.addition),
                format!("{:?}", theirs.addition),
                "{}: the same size conditioning",
                case.name
            );
        }
    }
}

fn request(seed: u64) -> Request {
    Request {
        prompt: "the red door".into(),
        negative_prompt: "blurry".into(),
        width: 64,
        height: 64,
        steps: 2,
        guidance: 7.5,
        scheduler: SchedulerKind::EulerAncestral,
        seed,
        init: None,
        previews: false,
        reference: None,
    }
}

fn inpaint_request(seed: u64) -> Request {
    let pixels: Vec<u8> = (0..64 * 64 * 3).map(|i| (i * 7 % 251) as u8).collect();
    let mask: Vec<u8> = (0..64 * 64)
        .map(|i| if (i % 64) < 32 { 255 } else { 0 })
        .collect();
    Request {
        init: Some(InitImage {
            image: RgbImage {
                width: 64,
                height: 64,
                pixels,
            },
            strength: 1.0,
            mask: Some(mask),
        }),
        ..request(seed)
    }
}

fn image(model: &DiffusionModel, r: &Request) -> RgbImage {
    model.generate(r, None, &mut |_| {}).unwrap()
}

fn with_tokenizer(folder: &Path) -> SingleFileOptions {
    SingleFileOptions {
        tokenizer: Some(folder.join("tokenizer")),
        ..SingleFileOptions::default()
    }
}

#[test]
fn a_picture_from_the_single_file_equals_the_one_from_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["sd1", "sd2", "sd1-inpainting", "sdxl"] {
        let case = case(name);
        let (folder, file) = write(dir.path(), &case, DType::F32);
        let r = if case.inpainting {
            inpaint_request(3)
        } else {
            request(3)
        };
        let from_folder = DiffusionModel::load(&folder, &LoadOptions::default()).unwrap();
        // Inferred configs, no config folder: the family rules alone must rebuild the model.
        let single = DiffusionModel::load_single_file(
            &file,
            &LoadOptions::default(),
            &with_tokenizer(&folder),
        )
        .unwrap();
        assert_eq!(single.is_inpainting_model(), case.inpainting);
        assert_eq!(single.is_xl(), case.family == TinyFamily::Sdxl);
        assert_eq!(single.class_name, from_folder.class_name);
        assert_eq!(single.weight_files, vec![file.clone()]);
        let a = image(&from_folder, &r);
        let b = image(&single, &r);
        assert!(a == b, "{name}: the single file draws another picture");
        // A different seed draws another picture: the comparison is not vacuous.
        assert!(
            image(
                &single,
                &if case.inpainting {
                    inpaint_request(4)
                } else {
                    request(4)
                }
            ) != b
        );
    }
}

#[test]
fn load_on_a_safetensors_file_goes_through_the_converter() {
    let dir = tempfile::tempdir().unwrap();
    let (folder, file) = write(dir.path(), &case("sd1"), DType::F32);
    // The tokenizer beside the checkpoint is found without options.
    let beside = dir.path().join("tokenizer");
    std::fs::create_dir_all(&beside).unwrap();
    for f in ["vocab.json", "merges.txt", "special_tokens_map.json"] {
        std::fs::copy(folder.join("tokenizer").join(f), beside.join(f)).unwrap();
    }
    let model = DiffusionModel::load(&file, &LoadOptions::default()).unwrap();
    assert_eq!(model.class_name, "StableDiffusionPipeline");
    assert_eq!(model.root, file);
    let from_folder = DiffusionModel::load(&folder, &LoadOptions::default()).unwrap();
    assert!(image(&model, &request(5)) == image(&from_folder, &request(5)));
    assert!(!model.content_hash().unwrap().is_empty());

    // SDXL loads too: two text encoders (the second's tokenizer pads with "!"), size
    // conditioning, zeros for an empty negative prompt, as from its folder.
    let xl_dir = dir.path().join("xl");
    let (xl_folder, xl) = write(&xl_dir, &case("sdxl"), DType::F32);
    let beside = xl_dir.join("tokenizer");
    std::fs::create_dir_all(&beside).unwrap();
    for f in ["vocab.json", "merges.txt", "special_tokens_map.json"] {
        std::fs::copy(folder.join("tokenizer").join(f), beside.join(f)).unwrap();
    }
    let model = DiffusionModel::load(&xl, &LoadOptions::default()).unwrap();
    assert!(model.is_xl());
    assert_eq!(model.class_name, "StableDiffusionXLPipeline");
    let from_folder = DiffusionModel::load(&xl_folder, &LoadOptions::default()).unwrap();
    let empty_negative = Request {
        negative_prompt: String::new(),
        ..request(6)
    };
    assert!(image(&model, &empty_negative) == image(&from_folder, &empty_negative));
}

/// The folder's weights rounded through `dtype` and back, as a new folder.
fn rounded_folder(folder: &Path, to: &Path, dtype: DType) {
    copy_dir(folder, to);
    for (component, file) in [
        ("unet", "diffusion_pytorch_model.safetensors"),
        ("vae", "diffusion_pytorch_model.safetensors"),
        ("text_encoder", "model.safetensors"),
    ] {
        let path = to.join(component).join(file);
        let t: HashMap<String, Tensor> = candle_core::safetensors::load(&path, &Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.to_dtype(dtype).unwrap().to_dtype(DType::F32).unwrap()))
            .collect();
        candle_core::safetensors::save(&t, &path).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn half_precision_files_convert_and_load() {
    let dir = tempfile::tempdir().unwrap();
    for dtype in [DType::F16, DType::BF16] {
        let sub = dir.path().join(dtype.as_str());
        let case = case("sd1");
        let (folder, file) = write(&sub, &case, dtype);
        let c = convert(&file, &SingleFileOptions::default()).unwrap();
        assert_same_tensors(&c, &folder, dtype);
        let rounded = sub.join("rounded");
        rounded_folder(&folder, &rounded, dtype);
        let from_folder = DiffusionModel::load(&rounded, &LoadOptions::default()).unwrap();
        let single = DiffusionModel::load_single_file(
            &file,
            &LoadOptions::default(),
            &with_tokenizer(&folder),
        )
        .unwrap();
        assert!(
            image(&single, &request(6)) == image(&from_folder, &request(6)),
            "{dtype:?}"
        );
    }
}

#[test]
fn a_config_folder_a_prediction_type_and_a_yaml_sidecar_say_what_the_weights_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let case = case("sd2");
    let (folder, file) = write(dir.path(), &case, DType::F32);

    // A config folder's configs are used as they are.
    let c = convert(
        &file,
        &SingleFileOptions {
            config: Some(folder.clone()),
            ..SingleFileOptions::default()
        },
    )
    .unwrap();
    for (component, rel) in [
        ("unet", "unet/config.json"),
        ("vae", "vae/config.json"),
        ("text_encoder", "text_encoder/config.json"),
    ] {
        assert_eq!(
            c.components[component].config,
            std::fs::read_to_string(folder.join(rel)).unwrap()
        );
        assert_eq!(c.components[component].config_path, folder.join(rel));
    }
    assert_eq!(
        json(&c.scheduler_config)["_class_name"],
        "EulerAncestralDiscreteScheduler"
    );

    // v-prediction cannot be seen in the weights: the option says it...
    let v = |c: &Converted| json(&c.scheduler_config)["prediction_type"].clone();
    let opt = |p: &str| SingleFileOptions {
        prediction_type: Some(p.into()),
        ..SingleFileOptions::default()
    };
    assert_eq!(
        v(&convert(&file, &opt("v_prediction")).unwrap()),
        "v_prediction"
    );
    assert!(matches!(
        convert(&file, &opt("sample")),
        Err(DiffusionError::Request(_))
    ));
    // ...or the sidecar yaml A1111 reads (its heads too), the option winning over it.
    std::fs::write(
        file.with_extension("yaml"),
        "model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n    parameterization: \"v\"  # 768-v\n    scale_factor: 0.5\n    unet_config:\n      params:\n        num_head_channels: 32\n",
    )
    .unwrap();
    let c = convert(&file, &SingleFileOptions::default()).unwrap();
    assert_eq!(v(&c), "v_prediction");
    assert_eq!(
        json(&c.components["unet"].config)["attention_head_dim"],
        serde_json::json!([2, 4])
    );
    assert_eq!(json(&c.components["unet"].config)["sample_size"], 96);
    assert_eq!(json(&c.components["vae"].config)["scaling_factor"], 0.5);
    assert_eq!(v(&convert(&file, &opt("epsilon")).unwrap()), "epsilon");
    std::fs::write(file.with_extension("yaml"), "    parameterization: x0\n").unwrap();
    let err = convert(&file, &SingleFileOptions::default()).unwrap_err();
    assert!(
        matches!(err, DiffusionError::Config { line: 1, .. }) && err.to_string().contains(".yaml"),
        "{err}"
    );
}

/// Rewrites the single file with `edit` applied to its tensors.
fn edit_file(file: &Path, to: &Path, edit: impl FnOnce(&mut HashMap<String, Tensor>)) {
    let mut t = candle_core::safetensors::load(file, &Device::Cpu).unwrap();
    edit(&mut t);
    candle_core::safetensors::save(&t, to).unwrap();
}

fn load_err(file: &Path, folder: &Path) -> String {
    DiffusionModel::load_single_file(file, &LoadOptions::default(), &with_tokenizer(folder))
        .unwrap_err()
        .to_string()
}

#[test]
fn broken_files_give_errors_that_name_the_file_and_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let case = case("sd1");
    let (folder, file) = write(dir.path(), &case, DType::F32);
    let d = dir.path();

    // Pickles are refused, by extension and by content.
    let ckpt = d.join("model.ckpt");
    std::fs::write(&ckpt, b"\x80\x02}q\x00.").unwrap();
    let err = convert(&ckpt, &SingleFileOptions::default()).unwrap_err();
    assert!(matches!(err, DiffusionError::Pickle { .. }), "{err}");
    let err = DiffusionModel::load(&ckpt, &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, DiffusionError::Pickle { .. }), "{err}");
    let zip = d.join("renamed.safetensors");
    std::fs::write(&zip, b"PK\x03\x04archive/data.pkl....").unwrap();
    let err = convert(&zip, &SingleFileOptions::default()).unwrap_err();
    assert!(matches!(err, DiffusionError::Pickle { .. }), "{err}");

    // Truncated: the first tensor cut off is named.
    let bytes = std::fs::read(&file).unwrap();
    let cut = d.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    let msg = convert(&cut, &SingleFileOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("cut.safetensors") && msg.contains("truncated") && msg.contains("tensor '"),
        "{msg}"
    );

    // A tensor the model needs is missing: the checkpoint's own name is given.
    let gone = "model.diffusion_model.input_blocks.1.0.in_layers.0.weight";
    let f = d.join("missing.safetensors");
    edit_file(&file, &f, |t| {
        t.remove(gone);
    });
    let msg = load_err(&f, &folder);
    assert!(
        msg.contains("missing.safetensors") && msg.contains(gone),
        "{msg}"
    );

    // One the configs are read from: named by the converter itself.
    let gone = "model.diffusion_model.out.2.weight";
    let f = d.join("no-out.safetensors");
    edit_file(&file, &f, |t| {
        t.remove(gone);
    });
    let err = convert(&f, &SingleFileOptions::default()).unwrap_err();
    assert!(
        matches!(err, DiffusionError::Missing { .. })
            && err.to_string().contains("no-out.safetensors")
            && err.to_string().contains(gone),
        "{err}"
    );

    // A wrong shape: the checkpoint's tensor is named.
    let bad = "model.diffusion_model.input_blocks.1.0.in_layers.0.bias";
    let f = d.join("shape.safetensors");
    edit_file(&file, &f, |t| {
        t.insert(
            bad.into(),
            Tensor::zeros(7, DType::F32, &Device::Cpu).unwrap(),
        );
    });
    let msg = load_err(&f, &folder);
    assert!(
        msg.contains("shape.safetensors") && msg.contains(bad),
        "{msg}"
    );

    // A tensor the converter does not know is not silently dropped.
    let f = d.join("odd.safetensors");
    let odd = "model.diffusion_model.input_blocks.1.0.mystery.weight";
    edit_file(&file, &f, |t| {
        t.insert(
            odd.into(),
            Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
        );
    });
    let err = convert(&f, &SingleFileOptions::default()).unwrap_err();
    assert!(
        matches!(err, DiffusionError::Unsupported { .. }) && err.to_string().contains(odd),
        "{err}"
    );

    // Not a Stable Diffusion checkpoint at all (the folder's UNet, in diffusers naming).
    let unet = folder.join("unet/diffusion_pytorch_model.safetensors");
    let err = convert(&unet, &SingleFileOptions::default()).unwrap_err();
    assert!(
        matches!(err, DiffusionError::Unsupported { .. })
            && err.to_string().contains("diffusers naming"),
        "{err}"
    );

    // No tokenizer where one was named.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = DiffusionModel::load_single_file(
        &file,
        &LoadOptions::default(),
        &SingleFileOptions {
            tokenizer: Some(empty.clone()),
            ..SingleFileOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, DiffusionError::Missing { .. }) && err.to_string().contains("vocab.json"),
        "{err}"
    );
}

/// blake3 over a converted state dict: for each name in order, the name, its shape and its
/// values as little-endian f32 (tests/diffusion/reference_single_file.py hashes diffusers'
/// conversion the same way).
fn state_dict_hash(tensors: &HashMap<String, Tensor>) -> String {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut h = blake3::Hasher::new();
    for name in names {
        let t = &tensors[name];
        h.update(name.as_bytes());
        h.update(format!("{:?}", t.dims()).as_bytes());
        for v in t
            .to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
        {
            h.update(&v.to_le_bytes());
        }
    }
    h.finalize().to_hex().to_string()
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusion/single_file.json")
}

#[test]
fn our_conversion_hashes_what_diffusers_conversion_hashes() {
    let export = std::env::var_os("PREVIZ_DIFFUSION_EXPORT").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let root = export.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let mut ours: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    for case in cases() {
        let (_, file) = write(&root, &case, DType::F32);
        let c = convert(&file, &SingleFileOptions::default()).unwrap();
        let entry = ours.entry(case.name.to_owned()).or_default();
        entry.insert("class_name".into(), c.class_name.clone().into());
        // The checkpoint diffusers converted: our writer must still write the same one.
        let written = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
        entry.insert(
            "checkpoint".into(),
            serde_json::json!({"tensors": written.len(), "blake3": state_dict_hash(&written)}),
        );
        for (component, comp) in &c.components {
            entry.insert(
                component.clone(),
                serde_json::json!({
                    "tensors": comp.tensors.len(),
                    "blake3": state_dict_hash(&comp.tensors),
                }),
            );
        }
    }
    let ours = serde_json::to_value(&ours).unwrap();
    if let Some(dir) = &export {
        std::fs::write(
            dir.join("ours.json"),
            serde_json::to_string_pretty(&ours).unwrap(),
        )
        .unwrap();
        eprintln!(
            "exported to {}; now run tests/diffusion/reference_single_file.py",
            dir.display()
        );
    }
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    assert_eq!(
        ours, recorded["families"],
        "our conversion differs from the one diffusers made when the fixture was recorded"
    );
}

/// The real CLIP vocabulary (models/clip_tokenizer.py) gives the ids transformers'
/// CLIPTokenizer gives (recorded in tests/fixtures/diffusion/clip_tokenizer_ids.json).
#[test]
fn the_real_clip_vocabulary_tokenizes_as_transformers_does() {
    let recorded: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/diffusion/clip_tokenizer_ids.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut roots: Vec<PathBuf> = std::env::var_os("PREVIZ_MODELS_DIR")
        .map(|d| std::env::split_paths(&d).collect())
        .unwrap_or_default();
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/cache"));
    let Some(dir) = roots
        .iter()
        .map(|r| r.join("clip-tokenizer"))
        .find(|d| d.join("vocab.json").is_file())
    else {
        assert!(
            std::env::var_os("PREVIZ_REQUIRE_MODELS").is_none(),
            "clip-tokenizer is required (PREVIZ_REQUIRE_MODELS) but missing: run python3 models/clip_tokenizer.py"
        );
        eprintln!("skipped: clip-tokenizer not installed; run python3 models/clip_tokenizer.py");
        return;
    };
    let tok = previz_models::diffusion::clip::ClipTokenizer::load(&dir, 77).unwrap();
    for case in recorded["prompts"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u32::try_from(v.as_u64().unwrap()).unwrap())
            .collect();
        let got = tok.encode(prompt).unwrap();
        assert_eq!(got, want, "{prompt:?}");
    }
}
