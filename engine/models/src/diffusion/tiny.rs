//! Tiny Stable Diffusion models of the real architecture with seeded random weights, written as
//! a diffusers folder: what the tests, the reference script (tests/diffusion/reference.py) and
//! the benchmark load through the real loader. No registry ships text-to-image weights, so this
//! is how the loading and sampling code is exercised here.
//!
//! The weights are a pure function of the seed and the tensor's name, so the folder written in
//! CI is byte-identical to the one the reference outputs were recorded from.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::DiffusionError;

/// The sizes of a tiny model.
#[derive(Clone, Debug)]
pub struct TinySpec {
    pub seed: u64,
    pub unet_channels: Vec<usize>,
    pub unet_heads: usize,
    pub vae_channels: Vec<usize>,
    pub clip_hidden: usize,
    pub clip_layers: usize,
    /// Group-norm groups of the autoencoder (the UNet always has 32).
    pub norm_groups: usize,
    pub prediction_type: &'static str,
}

impl Default for TinySpec {
    fn default() -> Self {
        Self {
            seed: 7,
            unet_channels: vec![32, 64],
            unet_heads: 2,
            // Four blocks: 8 pixels per latent, as every released SD autoencoder.
            vae_channels: vec![8, 16, 16, 16],
            clip_hidden: 32,
            clip_layers: 2,
            norm_groups: 8,
            prediction_type: "epsilon",
        }
    }
}

/// The byte-level symbols of GPT-2 / CLIP (printable stand-ins for the 256 bytes).
fn byte_symbols() -> Vec<char> {
    let printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~'))
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut extra = 0;
    let mut out = vec!['\0'; 256];
    for b in 0..256u32 {
        let c = if printable.contains(&b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        out[b as usize] = char::from_u32(c).unwrap_or('?');
    }
    out
}

/// A small CLIP vocabulary: every byte symbol alone and word-final, a few merges, the specials.
fn write_tokenizer(dir: &Path) -> Result<usize, DiffusionError> {
    let symbols = byte_symbols();
    let mut vocab: Vec<String> = symbols.iter().map(ToString::to_string).collect();
    vocab.extend(symbols.iter().map(|c| format!("{c}</w>")));
    let merges = [
        ("t", "h"),
        ("th", "e</w>"),
        ("a", "n"),
        ("an", "d</w>"),
        ("r", "e"),
        ("re", "d</w>"),
        ("o", "r"),
        ("d", "oor</w>"),
        ("o", "o"),
        ("oo", "r</w>"),
    ];
    for (a, b) in merges {
        let joined = format!("{a}{b}");
        if !vocab.contains(&joined) {
            vocab.push(joined);
        }
    }
    vocab.push("<|startoftext|>".into());
    vocab.push("<|endoftext|>".into());
    let map: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), serde_json::Value::from(i)))
        .collect();
    let mut merges_txt = String::from("#version: 0.2\n");
    for (a, b) in merges {
        merges_txt.push_str(&format!("{a} {b}\n"));
    }
    write(
        &dir.join("vocab.json"),
        &serde_json::to_string(&map).unwrap_or_default(),
    )?;
    write(&dir.join("merges.txt"), &merges_txt)?;
    write(
        &dir.join("special_tokens_map.json"),
        r#"{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}"#,
    )?;
    write(
        &dir.join("tokenizer_config.json"),
        r#"{"model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "do_lower_case": true, "tokenizer_class": "CLIPTokenizer"}"#,
    )?;
    Ok(vocab.len())
}

fn write(path: &Path, text: &str) -> Result<(), DiffusionError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DiffusionError::io(parent, &e))?;
    }
    std::fs::write(path, text).map_err(|e| DiffusionError::io(path, &e))
}

/// Fills every variable of `map` with values that depend only on `seed` and the name: norms
/// near one, biases near zero, weights scaled by their fan-in.
fn seeded(map: &VarMap, seed: u64) -> Result<HashMap<String, Tensor>, DiffusionError> {
    use rand::Rng;
    let data = map
        .data()
        .lock()
        .map_err(|_| DiffusionError::Runtime("variable map poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut out = HashMap::new();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let h = blake3::hash(name.as_bytes());
        let mut key = [0u8; 8];
        key.copy_from_slice(&h.as_bytes()[..8]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ u64::from_le_bytes(key));
        let is_norm = name.contains("norm") && dims.len() == 1;
        let fan_in: usize = dims.iter().skip(1).product::<usize>().max(1);
        let (center, spread) = if is_norm && name.ends_with(".weight") {
            (1.0, 0.1)
        } else if dims.len() == 1 {
            (0.0, 0.05)
        } else if name.contains("embedding") {
            (0.0, 0.5)
        } else {
            (0.0, (3.0 / fan_in as f64).sqrt())
        };
        #[allow(clippy::cast_possible_truncation)]
        let values: Vec<f32> = (0..n)
            .map(|_| (center + spread * (rng.random::<f64>() * 2.0 - 1.0)) as f32)
            .collect();
        out.insert(name.clone(), Tensor::from_vec(values, dims, &Device::Cpu)?);
    }
    Ok(out)
}

fn save(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), DiffusionError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DiffusionError::io(parent, &e))?;
    }
    candle_core::safetensors::save(tensors, path)
        .map_err(|e| DiffusionError::io(path, &std::io::Error::other(e.to_string())))
}

/// Which Stable Diffusion a tiny model is shaped like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TinyFamily {
    /// `TinySpec::unet_heads` heads per block, 1x1-conv projections, quick-GELU CLIP.
    #[default]
    Sd1,
    /// 64-dim UNet heads (channels must be multiples of 64), linear projections, GELU CLIP.
    Sd2,
    /// As SD 2 plus a first block without attention, deeper transformers in the last, a second
    /// text encoder with a projection and the size/crop conditioning (`add_embedding`). Written
    /// for the single-file converter; this build's pipeline does not run it.
    Sdxl,
}

/// Writes a tiny SD 1.x-shaped model into `dir` (a diffusers folder).
pub fn write_tiny_model(dir: &Path, spec: &TinySpec) -> Result<(), DiffusionError> {
    write_tiny_family(dir, spec, TinyFamily::Sd1, false)
}

/// Writes a tiny model of `family` into `dir` (a diffusers folder); `inpainting`: the UNet
/// takes the mask and the masked image too (9 input channels).
pub fn write_tiny_family(
    dir: &Path,
    spec: &TinySpec,
    family: TinyFamily,
    inpainting: bool,
) -> Result<(), DiffusionError> {
    let sd1 = family == TinyFamily::Sd1;
    let xl = family == TinyFamily::Sdxl;
    let vocab_size = write_tokenizer(&dir.join("tokenizer"))?;
    if xl {
        write_tokenizer(&dir.join("tokenizer_2"))?;
    }
    // CLIP's heads are 64 wide; the default 32-wide tiny encoder keeps its historical 4.
    let clip_heads = if spec.clip_hidden.is_multiple_of(64) {
        spec.clip_hidden / 64
    } else {
        4
    };
    let clip_json = serde_json::json!({
        "architectures": ["CLIPTextModel"],
        "model_type": "clip_text_model",
        "vocab_size": vocab_size,
        "hidden_size": spec.clip_hidden,
        "intermediate_size": spec.clip_hidden * 2,
        "num_hidden_layers": spec.clip_layers,
        "num_attention_heads": clip_heads,
        "max_position_embeddings": 77,
        "hidden_act": if family == TinyFamily::Sd2 { "gelu" } else { "quick_gelu" },
        "layer_norm_eps": 1e-5,
        "projection_dim": spec.clip_hidden,
        "bos_token_id": vocab_size - 2,
        "eos_token_id": vocab_size - 1,
        "pad_token_id": vocab_size - 1,
        "torch_dtype": "float32"
    });
    let n = spec.unet_channels.len();
    // SD: attention in all blocks but the last; SDXL: in all but the first.
    let down: Vec<&str> = (0..n)
        .map(|i| {
            if (xl && i > 0) || (!xl && i + 1 < n) {
                "CrossAttnDownBlock2D"
            } else {
                "DownBlock2D"
            }
        })
        .collect();
    let heads: serde_json::Value = if sd1 {
        serde_json::json!(spec.unet_heads)
    } else {
        if let Some(c) = spec.unet_channels.iter().find(|c| !c.is_multiple_of(64)) {
            return Err(DiffusionError::Request(format!(
                "a tiny {family:?} model has 64-wide heads; {c} UNet channels do not split into them"
            )));
        }
        serde_json::json!(
            spec.unet_channels
                .iter()
                .map(|c| c / 64)
                .collect::<Vec<_>>()
        )
    };
    let depth: Vec<usize> = (0..n).map(|i| if xl { i.max(1) } else { 1 }).collect();
    let clip2_hidden = spec.clip_hidden;
    let time_dim = 8;
    let up: Vec<&str> = down
        .iter()
        .rev()
        .map(|d| {
            if *d == "DownBlock2D" {
                "UpBlock2D"
            } else {
                "CrossAttnUpBlock2D"
            }
        })
        .collect();
    let mut unet_json = serde_json::json!({
        "_class_name": "UNet2DConditionModel",
        "sample_size": 8,
        "in_channels": if inpainting { 9 } else { 4 },
        "out_channels": 4,
        "block_out_channels": spec.unet_channels,
        "down_block_types": down,
        "up_block_types": up,
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "layers_per_block": 1,
        "attention_head_dim": heads,
        "transformer_layers_per_block": depth,
        "cross_attention_dim": if xl { spec.clip_hidden + clip2_hidden } else { spec.clip_hidden },
        // 32 groups as every released UNet (candle's down/up block resnets assume it).
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "use_linear_projection": !sd1,
        "downsample_padding": 1,
        "flip_sin_to_cos": true,
        "freq_shift": 0,
        "center_input_sample": false,
        "act_fn": "silu"
    });
    // The UNet as our runtime builds it (SDXL's conditioning is added by hand below).
    let base_unet_json = unet_json.clone();
    if xl {
        unet_json["addition_embed_type"] = serde_json::json!("text_time");
        unet_json["addition_time_embed_dim"] = serde_json::json!(time_dim);
        unet_json["projection_class_embeddings_input_dim"] =
            serde_json::json!(clip2_hidden + 6 * time_dim);
    }
    let vae_json = serde_json::json!({
        "_class_name": "AutoencoderKL",
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "block_out_channels": spec.vae_channels,
        "down_block_types": vec!["DownEncoderBlock2D"; spec.vae_channels.len()],
        "up_block_types": vec!["UpDecoderBlock2D"; spec.vae_channels.len()],
        "layers_per_block": 1,
        "norm_num_groups": spec.norm_groups.min(spec.vae_channels[0]),
        "act_fn": "silu",
        "scaling_factor": if xl { 0.13025 } else { 0.18215 },
        "sample_size": 64
    });
    let scheduler_json = serde_json::json!({
        "_class_name": if xl { "EulerDiscreteScheduler" } else { "EulerAncestralDiscreteScheduler" },
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "prediction_type": spec.prediction_type,
        "steps_offset": 1,
        "timestep_spacing": "leading",
        "set_alpha_to_one": false,
        "clip_sample": false,
        "skip_prk_steps": true
    });
    let class = match (xl, inpainting) {
        (false, false) => "StableDiffusionPipeline",
        (false, true) => "StableDiffusionInpaintPipeline",
        (true, false) => "StableDiffusionXLPipeline",
        (true, true) => "StableDiffusionXLInpaintPipeline",
    };
    let mut index = serde_json::json!({
        "_class_name": class,
        "_diffusers_version": "0.30.0",
        "feature_extractor": [null, null],
        "safety_checker": [null, null],
        "requires_safety_checker": false,
        "scheduler": ["diffusers", "EulerAncestralDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]
    });
    if xl {
        index["text_encoder_2"] =
            serde_json::json!(["transformers", "CLIPTextModelWithProjection"]);
        index["tokenizer_2"] = serde_json::json!(["transformers", "CLIPTokenizer"]);
        index["scheduler"] = serde_json::json!(["diffusers", "EulerDiscreteScheduler"]);
        if let Some(o) = index.as_object_mut() {
            o.remove("safety_checker");
            o.remove("feature_extractor");
            o.remove("requires_safety_checker");
        }
    }
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    write(&dir.join("model_index.json"), &pretty(&index))?;
    write(&dir.join("text_encoder/config.json"), &pretty(&clip_json))?;
    write(&dir.join("unet/config.json"), &pretty(&unet_json))?;
    write(&dir.join("vae/config.json"), &pretty(&vae_json))?;
    write(
        &dir.join("scheduler/scheduler_config.json"),
        &pretty(&scheduler_json),
    )?;

    // Shapes come from building each part over an empty VarMap with our own config readers.
    let dev = Device::Cpu;
    let clip_cfg =
        super::config::clip_config(&pretty(&clip_json), &dir.join("text_encoder/config.json"))?;
    let map = VarMap::new();
    super::clip::ClipTextEncoder::new(&VarBuilder::from_varmap(&map, DType::F32, &dev), &clip_cfg)?;
    save(
        &seeded(&map, spec.seed)?,
        &dir.join("text_encoder/model.safetensors"),
    )?;
    if xl {
        // The second encoder: OpenCLIP-shaped (GELU) with a projection, seeded apart.
        let mut clip2 = clip_json.clone();
        clip2["architectures"] = serde_json::json!(["CLIPTextModelWithProjection"]);
        clip2["hidden_size"] = serde_json::json!(clip2_hidden);
        clip2["intermediate_size"] = serde_json::json!(clip2_hidden * 2);
        clip2["hidden_act"] = serde_json::json!("gelu");
        clip2["projection_dim"] = serde_json::json!(clip2_hidden);
        write(&dir.join("text_encoder_2/config.json"), &pretty(&clip2))?;
        let cfg2 =
            super::config::clip_config(&pretty(&clip2), &dir.join("text_encoder_2/config.json"))?;
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
        super::clip::ClipTextEncoder::new(&vb, &cfg2)?;
        vb.get((clip2_hidden, clip2_hidden), "text_projection.weight")?;
        save(
            &seeded(&map, spec.seed.wrapping_add(3))?,
            &dir.join("text_encoder_2/model.safetensors"),
        )?;
    }

    let unet_cfg =
        super::config::unet_config(&pretty(&base_unet_json), &dir.join("unet/config.json"))?;
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
    candle_transformers::models::stable_diffusion::unet_2d::UNet2DConditionModel::new(
        vb.clone(),
        unet_cfg.in_channels,
        4,
        false,
        unet_cfg.candle,
    )?;
    if xl {
        let time_embed = 4 * spec.unet_channels[0];
        let a = vb.pp("add_embedding");
        candle_nn::linear(clip2_hidden + 6 * time_dim, time_embed, a.pp("linear_1"))?;
        candle_nn::linear(time_embed, time_embed, a.pp("linear_2"))?;
    }
    save(
        &seeded(&map, spec.seed.wrapping_add(1))?,
        &dir.join("unet/diffusion_pytorch_model.safetensors"),
    )?;

    let vae_cfg = super::config::vae_config(&pretty(&vae_json), &dir.join("vae/config.json"))?;
    let map = VarMap::new();
    super::vae::Vae::new(&VarBuilder::from_varmap(&map, DType::F32, &dev), &vae_cfg)?;
    // An empty map builds the mid-block attention under its legacy names; write today's.
    let renamed: HashMap<String, Tensor> = seeded(&map, spec.seed.wrapping_add(2))?
        .into_iter()
        .map(|(k, v)| {
            let k = k
                .replace(".query.", ".to_q.")
                .replace(".key.", ".to_k.")
                .replace(".value.", ".to_v.")
                .replace(".proj_attn.", ".to_out.0.");
            (k, v)
        })
        .collect();
    save(
        &renamed,
        &dir.join("vae/diffusion_pytorch_model.safetensors"),
    )?;
    Ok(())
}

fn load_folder_tensors(path: &Path) -> Result<HashMap<String, Tensor>, DiffusionError> {
    candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| DiffusionError::Corrupt {
        file: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn read_json(path: &Path) -> Result<serde_json::Value, DiffusionError> {
    let text = std::fs::read_to_string(path).map_err(|e| DiffusionError::io(path, &e))?;
    super::config::parse_json(&text, path)
}

/// `norm1` -> `in_layers.0` (a UNet resnet part, diffusers to LDM).
fn ldm_unet_resnet(part: &str) -> String {
    let (module, param) = part.rsplit_once('.').unwrap_or((part, ""));
    let m = match module {
        "norm1" => "in_layers.0",
        "conv1" => "in_layers.2",
        "time_emb_proj" => "emb_layers.1",
        "norm2" => "out_layers.0",
        "conv2" => "out_layers.3",
        "conv_shortcut" => "skip_connection",
        other => other,
    };
    format!("{m}.{param}")
}

/// A diffusers UNet name in LDM naming; `layers` per block, `attention[u]`: up block `u` has
/// attention (its upsampler then sits at `.2`).
fn ldm_unet(name: &str, layers: usize, attention: &[bool]) -> String {
    let num = |s: &str| s.parse::<usize>().unwrap_or(0);
    let parts: Vec<&str> = name.splitn(5, '.').collect();
    let rest = |from: usize| parts[from..].join(".");
    let n = layers + 1;
    let fixed = [
        ("time_embedding.linear_1.", "time_embed.0."),
        ("time_embedding.linear_2.", "time_embed.2."),
        ("conv_in.", "input_blocks.0.0."),
        ("conv_norm_out.", "out.0."),
        ("conv_out.", "out.2."),
        ("add_embedding.linear_1.", "label_emb.0.0."),
        ("add_embedding.linear_2.", "label_emb.0.2."),
    ];
    for (d, l) in fixed {
        if let Some(p) = name.strip_prefix(d) {
            return format!("{l}{p}");
        }
    }
    match (parts[0], parts.get(2).copied()) {
        ("down_blocks", Some("resnets")) => format!(
            "input_blocks.{}.0.{}",
            1 + num(parts[1]) * n + num(parts[3]),
            ldm_unet_resnet(&rest(4))
        ),
        ("down_blocks", Some("attentions")) => format!(
            "input_blocks.{}.1.{}",
            1 + num(parts[1]) * n + num(parts[3]),
            rest(4)
        ),
        // down_blocks.B.downsamplers.0.conv.P
        ("down_blocks", Some("downsamplers")) => format!(
            "input_blocks.{}.0.op.{}",
            (num(parts[1]) + 1) * n,
            rest(4).trim_start_matches("conv.")
        ),
        ("mid_block", _) => {
            // mid_block.resnets.K.rest / mid_block.attentions.0.rest
            let p: Vec<&str> = name.splitn(4, '.').collect();
            match p[1] {
                "resnets" => format!("middle_block.{}.{}", 2 * num(p[2]), ldm_unet_resnet(p[3])),
                _ => format!("middle_block.1.{}", p[3]),
            }
        }
        ("up_blocks", Some("resnets")) => format!(
            "output_blocks.{}.0.{}",
            num(parts[1]) * n + num(parts[3]),
            ldm_unet_resnet(&rest(4))
        ),
        ("up_blocks", Some("attentions")) => format!(
            "output_blocks.{}.1.{}",
            num(parts[1]) * n + num(parts[3]),
            rest(4)
        ),
        ("up_blocks", Some("upsamplers")) => {
            let u = num(parts[1]);
            let slot = if attention.get(u).copied().unwrap_or(false) {
                2
            } else {
                1
            };
            format!("output_blocks.{}.{slot}.{}", u * n + layers, rest(4))
        }
        _ => name.to_owned(),
    }
}

/// A diffusers autoencoder name in LDM naming, and whether the weight is a 1x1 conv there.
fn ldm_vae(name: &str, blocks: usize) -> (String, bool) {
    let resnet = |p: &str| p.replace("conv_shortcut", "nin_shortcut");
    let Some((side, rest)) = name.split_once('.') else {
        return (name.to_owned(), false);
    };
    if side != "encoder" && side != "decoder" {
        return (name.to_owned(), false);
    }
    let p: Vec<&str> = rest.splitn(5, '.').collect();
    let num = |s: &str| s.parse::<usize>().unwrap_or(0);
    let out = match p[0] {
        "conv_norm_out" => format!("norm_out.{}", p[1..].join(".")),
        "mid_block" if p[1] == "resnets" => {
            format!("mid.block_{}.{}", num(p[2]) + 1, resnet(&p[3..].join(".")))
        }
        "mid_block" => {
            let tail = p[3..].join(".");
            let (module, param) = tail.rsplit_once('.').unwrap_or((&tail, ""));
            let m = match module {
                "group_norm" => "norm",
                "to_q" => "q",
                "to_k" => "k",
                "to_v" => "v",
                _ => "proj_out",
            };
            return (
                format!("{side}.mid.attn_1.{m}.{param}"),
                m != "norm" && param == "weight",
            );
        }
        "down_blocks" | "up_blocks" => {
            let b = num(p[1]);
            let (kind, sampler, b) = if p[0] == "down_blocks" {
                ("down", "downsample", b)
            } else {
                ("up", "upsample", blocks - 1 - b)
            };
            if p[2] == "resnets" {
                format!("{kind}.{b}.block.{}.{}", p[3], resnet(p[4]))
            } else {
                // (down|up)samplers.0.conv.P
                format!("{kind}.{b}.{sampler}.{}", p[4])
            }
        }
        _ => rest.to_owned(),
    };
    (format!("{side}.{out}"), false)
}

/// Writes OpenCLIP-named tensors of a transformers CLIP under `prefix`: fused q/k/v, the
/// projection transposed.
fn ldm_open_clip(
    te: &HashMap<String, Tensor>,
    prefix: &str,
    layers: usize,
    out: &mut HashMap<String, Tensor>,
) -> Result<(), DiffusionError> {
    let get = |k: &str| {
        te.get(k).cloned().ok_or_else(|| DiffusionError::Missing {
            file: std::path::PathBuf::from(k),
            what: "a tiny text encoder tensor".into(),
        })
    };
    let m = "text_model.";
    out.insert(
        format!("{prefix}token_embedding.weight"),
        get(&format!("{m}embeddings.token_embedding.weight"))?,
    );
    out.insert(
        format!("{prefix}positional_embedding"),
        get(&format!("{m}embeddings.position_embedding.weight"))?,
    );
    for p in ["weight", "bias"] {
        out.insert(
            format!("{prefix}ln_final.{p}"),
            get(&format!("{m}final_layer_norm.{p}"))?,
        );
    }
    if let Some(proj) = te.get("text_projection.weight") {
        out.insert(format!("{prefix}text_projection"), proj.t()?.contiguous()?);
    }
    for i in 0..layers {
        let d = format!("{m}encoder.layers.{i}.");
        let l = format!("{prefix}transformer.resblocks.{i}.");
        for p in ["weight", "bias"] {
            let qkv: Vec<Tensor> = ["q_proj", "k_proj", "v_proj"]
                .iter()
                .map(|x| get(&format!("{d}self_attn.{x}.{p}")))
                .collect::<Result<_, _>>()?;
            out.insert(format!("{l}attn.in_proj_{p}"), Tensor::cat(&qkv, 0)?);
            for (dm, lm) in [
                ("layer_norm1", "ln_1"),
                ("layer_norm2", "ln_2"),
                ("self_attn.out_proj", "attn.out_proj"),
                ("mlp.fc1", "mlp.c_fc"),
                ("mlp.fc2", "mlp.c_proj"),
            ] {
                out.insert(format!("{l}{lm}.{p}"), get(&format!("{d}{dm}.{p}"))?);
            }
        }
    }
    Ok(())
}

/// Writes the tiny diffusers model in `folder` (from [`write_tiny_family`]) as one single-file
/// checkpoint in the original LDM naming, the way A1111 / civitai distribute them, with the
/// weights in `dtype`. Also writes what real files carry and a converter must skip: EMA
/// copies, training buffers, CLIP's `position_ids`, OpenCLIP's `logit_scale`, and for SD 2
/// the projection and one more text layer (SD 2 conditions on the penultimate layer, so
/// diffusers' encoder lacks it). Returns how many tensors were written.
///
/// Test support, written independently of [`super::single_file`]'s tables so that a round
/// trip is not one table read twice; tests/diffusion/reference_single_file.py checks with
/// diffusers' own converters that the file converts back to the folder.
pub fn write_tiny_single_file(
    folder: &Path,
    file: &Path,
    dtype: DType,
) -> Result<usize, DiffusionError> {
    let index = read_json(&folder.join("model_index.json"))?;
    let unet_cfg = read_json(&folder.join("unet/config.json"))?;
    let te_cfg = read_json(&folder.join("text_encoder/config.json"))?;
    let xl = index.get("text_encoder_2").is_some();
    let sd2 = !xl && te_cfg["hidden_act"] == "gelu";
    let layers = unet_cfg["layers_per_block"].as_u64().unwrap_or(1) as usize;
    let attention: Vec<bool> = unet_cfg["up_block_types"]
        .as_array()
        .map(|a| a.iter().map(|t| t != "UpBlock2D").collect())
        .unwrap_or_default();
    let vae_blocks = read_json(&folder.join("vae/config.json"))?["block_out_channels"]
        .as_array()
        .map_or(0, Vec::len);
    let mut out: HashMap<String, Tensor> = HashMap::new();

    let unet = load_folder_tensors(&folder.join("unet/diffusion_pytorch_model.safetensors"))?;
    for (k, t) in &unet {
        out.insert(
            format!("model.diffusion_model.{}", ldm_unet(k, layers, &attention)),
            t.clone(),
        );
    }
    let vae = load_folder_tensors(&folder.join("vae/diffusion_pytorch_model.safetensors"))?;
    for (k, t) in &vae {
        let (name, conv) = ldm_vae(k, vae_blocks);
        let t = if conv {
            let (o, i) = t.dims2()?;
            t.reshape((o, i, 1, 1))?
        } else {
            t.clone()
        };
        out.insert(format!("first_stage_model.{name}"), t);
    }
    let te = load_folder_tensors(&folder.join("text_encoder/model.safetensors"))?;
    let te_layers = te_cfg["num_hidden_layers"].as_u64().unwrap_or(0) as usize;
    let hidden = te_cfg["hidden_size"].as_u64().unwrap_or(0) as usize;
    let seq = te_cfg["max_position_embeddings"].as_u64().unwrap_or(77) as usize;
    let position_ids = Tensor::arange(0i64, seq as i64, &Device::Cpu)?.unsqueeze(0)?;
    if sd2 {
        let prefix = "cond_stage_model.model.";
        ldm_open_clip(&te, prefix, te_layers, &mut out)?;
        // The layer SD 2 skips, its projection and logit scale: in the file, not in diffusers.
        let extra_cfg = serde_json::json!({
            "vocab_size": 2, "hidden_size": hidden, "intermediate_size": te_cfg["intermediate_size"],
            "num_hidden_layers": te_layers + 1, "num_attention_heads": te_cfg["num_attention_heads"],
            "hidden_act": "gelu"
        });
        let cfg = super::config::clip_config(&extra_cfg.to_string(), folder)?;
        let map = VarMap::new();
        super::clip::ClipTextEncoder::new(
            &VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu),
            &cfg,
        )?;
        let extra = seeded(&map, 99)?;
        let mut last = HashMap::new();
        ldm_open_clip(&extra, "x.", te_layers + 1, &mut last)?;
        let tag = format!("x.transformer.resblocks.{te_layers}.");
        for (k, t) in last {
            if let Some(rest) = k.strip_prefix(&tag) {
                out.insert(
                    format!("{prefix}transformer.resblocks.{te_layers}.{rest}"),
                    t,
                );
            }
        }
        out.insert(
            format!("{prefix}text_projection"),
            Tensor::ones((hidden, hidden), DType::F32, &Device::Cpu)?,
        );
        out.insert(
            format!("{prefix}logit_scale"),
            Tensor::new(4.6f32, &Device::Cpu)?,
        );
    } else {
        let prefix = if xl {
            "conditioner.embedders.0.transformer."
        } else {
            "cond_stage_model.transformer."
        };
        for (k, t) in &te {
            out.insert(format!("{prefix}{k}"), t.clone());
        }
        out.insert(
            format!("{prefix}text_model.embeddings.position_ids"),
            position_ids,
        );
    }
    if xl {
        let te2 = load_folder_tensors(&folder.join("text_encoder_2/model.safetensors"))?;
        let cfg2 = read_json(&folder.join("text_encoder_2/config.json"))?;
        let layers2 = cfg2["num_hidden_layers"].as_u64().unwrap_or(0) as usize;
        let prefix = "conditioner.embedders.1.model.";
        ldm_open_clip(&te2, prefix, layers2, &mut out)?;
        out.insert(
            format!("{prefix}logit_scale"),
            Tensor::new(4.6f32, &Device::Cpu)?,
        );
    }
    // Training leftovers every converter must skip.
    let ramp = Tensor::arange(0f32, 1000f32, &Device::Cpu)?;
    out.insert("betas".into(), (&ramp * 1e-5)?);
    out.insert("alphas_cumprod".into(), (1.0 - (&ramp * 1e-3)?)?);
    out.insert(
        "model_ema.decay".into(),
        Tensor::new(0.9999f32, &Device::Cpu)?,
    );
    out.insert(
        "model_ema.num_updates".into(),
        Tensor::new(1000i64, &Device::Cpu)?,
    );
    if let Some(t) = unet.get("conv_in.weight") {
        out.insert(
            "model_ema.diffusion_modelinput_blocks00weight".into(),
            (t * 0.5)?,
        );
    }

    let out: HashMap<String, Tensor> = out
        .into_iter()
        .map(|(k, t)| {
            let t = if t.dtype().is_float() && t.dtype() != dtype {
                t.to_dtype(dtype)?
            } else {
                t
            };
            Ok::<_, candle_core::Error>((k, t))
        })
        .collect::<Result<_, _>>()?;
    let n = out.len();
    save(&out, file)?;
    Ok(n)
}
