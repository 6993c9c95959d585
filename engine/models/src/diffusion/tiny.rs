//! Tiny Stable Diffusion models of the real architecture with seeded random weights, written as
//! a diffusers folder: what the tests, the reference script (tests/diffusion/reference.py) and
//! the benchmark load through the real loader. No registry ships text-to-image weights, so this
//! is how the loading and sampling code is exercised here.
//!
//! The weights are a pure function of the seed and the tensor's name, so the folder written in
//! CI is byte-identical to the one the reference outputs were recorded from.
//!
//! [`write_tiny_taesd`] writes a tiny TAESD (diffusers' `AutoencoderTiny`) the same way, for the
//! preview tests and tests/diffusion/reference_vae.py.

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
    /// SDXL's layout: two text encoders (the second wider, with a projection and the `!` pad
    /// token), the first down block without attention, two transformer layers in the second,
    /// linear projections, and the `text_time` size conditioning.
    pub xl: bool,
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
            xl: false,
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
fn write_tokenizer(dir: &Path, pad: &str) -> Result<usize, DiffusionError> {
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
    let specials = serde_json::json!({
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": pad,
        "unk_token": "<|endoftext|>"
    });
    let mut config = specials.clone();
    config["model_max_length"] = 77.into();
    config["do_lower_case"] = true.into();
    config["tokenizer_class"] = "CLIPTokenizer".into();
    write(&dir.join("special_tokens_map.json"), &specials.to_string())?;
    write(&dir.join("tokenizer_config.json"), &config.to_string())?;
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

/// The config of a tiny CLIP text encoder (`projection`: SDXL's second, with
/// `text_projection`, GELU and transformers' legacy `eos_token_id`).
fn clip_json(
    vocab_size: usize,
    hidden: usize,
    layers: usize,
    projection: bool,
) -> serde_json::Value {
    serde_json::json!({
        "architectures": [if projection { "CLIPTextModelWithProjection" } else { "CLIPTextModel" }],
        "model_type": "clip_text_model",
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "max_position_embeddings": 77,
        "hidden_act": if projection { "gelu" } else { "quick_gelu" },
        "layer_norm_eps": 1e-5,
        "projection_dim": if projection { hidden / 2 } else { hidden },
        "bos_token_id": if projection { 0 } else { vocab_size - 2 },
        "eos_token_id": if projection { 2 } else { vocab_size - 1 },
        "pad_token_id": if projection { 1 } else { vocab_size - 1 },
        "torch_dtype": "float32"
    })
}

/// Which Stable Diffusion a tiny model is shaped like ([`write_tiny_family`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TinyFamily {
    /// [`write_tiny_model`]'s SD 1.x layout: `TinySpec::unet_heads` heads per block, 1x1-conv
    /// projections, quick-GELU CLIP.
    #[default]
    Sd1,
    /// SD 1.x's layout with SD 2's rules: 64-dim UNet heads (channels must be multiples of
    /// 64), linear projections, GELU CLIP.
    Sd2,
    /// [`write_tiny_model`]'s SDXL layout (`TinySpec::xl`).
    Sdxl,
}

/// Writes a tiny SD-shaped model into `dir` (a diffusers folder): SD 1.x's layout, or SDXL's
/// with `spec.xl`.
pub fn write_tiny_model(dir: &Path, spec: &TinySpec) -> Result<(), DiffusionError> {
    write_tiny(dir, spec, false, false)
}

/// Writes a tiny model of `family` into `dir` (a diffusers folder; `spec.xl` is set by the
/// family); `inpainting`: the UNet takes the mask and the masked image too (9 input channels).
/// [`TinyFamily::Sd1`] and [`TinyFamily::Sdxl`] without inpainting write exactly what
/// [`write_tiny_model`] writes.
pub fn write_tiny_family(
    dir: &Path,
    spec: &TinySpec,
    family: TinyFamily,
    inpainting: bool,
) -> Result<(), DiffusionError> {
    let spec = TinySpec {
        xl: family == TinyFamily::Sdxl,
        ..spec.clone()
    };
    write_tiny(dir, &spec, family == TinyFamily::Sd2, inpainting)
}

/// [`write_tiny_model`] with SD 2's rules (`sd2`) or 9 UNet input channels (`inpainting`).
fn write_tiny(
    dir: &Path,
    spec: &TinySpec,
    sd2: bool,
    inpainting: bool,
) -> Result<(), DiffusionError> {
    if let Some(c) = spec
        .unet_channels
        .iter()
        .find(|c| sd2 && !c.is_multiple_of(64))
    {
        return Err(DiffusionError::Request(format!(
            "a tiny SD 2 model has 64-wide heads; {c} UNet channels do not split into them"
        )));
    }
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let dev = Device::Cpu;
    let vocab_size = write_tokenizer(&dir.join("tokenizer"), "<|endoftext|>")?;
    let mut first = clip_json(vocab_size, spec.clip_hidden, spec.clip_layers, false);
    if sd2 {
        first["hidden_act"] = "gelu".into();
    }
    let mut encoders = vec![("text_encoder", first)];
    if spec.xl {
        write_tokenizer(&dir.join("tokenizer_2"), "!")?;
        encoders.push((
            "text_encoder_2",
            clip_json(
                vocab_size,
                spec.clip_hidden + 16,
                spec.clip_layers + 1,
                true,
            ),
        ));
    }
    let mut context_dim = 0;
    let mut pooled_dim = 0;
    for (i, (name, json)) in encoders.iter().enumerate() {
        let path = dir.join(name).join("config.json");
        write(&path, &pretty(json))?;
        // Shapes come from building each part over an empty VarMap with our own readers.
        let cfg = super::config::clip_config(&pretty(json), &path)?;
        context_dim += cfg.hidden_size;
        pooled_dim = cfg.projection_dim.unwrap_or(cfg.hidden_size);
        let map = VarMap::new();
        super::clip::ClipTextEncoder::new(
            &VarBuilder::from_varmap(&map, DType::F32, &dev),
            &cfg,
            i == 1,
        )?;
        let seed = spec.seed.wrapping_add(if i == 0 { 0 } else { 10 });
        save(
            &seeded(&map, seed)?,
            &dir.join(name).join("model.safetensors"),
        )?;
    }

    let n = spec.unet_channels.len();
    // SD 1.x: attention everywhere but the last block; SDXL: everywhere but the first.
    let cross = |i: usize| if spec.xl { i > 0 } else { i + 1 < n };
    let down: Vec<&str> = (0..n)
        .map(|i| {
            if cross(i) {
                "CrossAttnDownBlock2D"
            } else {
                "DownBlock2D"
            }
        })
        .collect();
    let up: Vec<&str> = (0..n)
        .rev()
        .map(|i| {
            if cross(i) {
                "CrossAttnUpBlock2D"
            } else {
                "UpBlock2D"
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
        "attention_head_dim": spec.unet_heads,
        "cross_attention_dim": context_dim,
        // 32 groups as every released UNet (candle's down/up block resnets assume it).
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "use_linear_projection": false,
        "downsample_padding": 1,
        "flip_sin_to_cos": true,
        "freq_shift": 0,
        "center_input_sample": false,
        "act_fn": "silu"
    });
    if sd2 {
        let heads: Vec<usize> = spec.unet_channels.iter().map(|c| c / 64).collect();
        unet_json["attention_head_dim"] = serde_json::json!(heads);
        unet_json["use_linear_projection"] = true.into();
    }
    if spec.xl {
        let time_dim = 8;
        let heads: Vec<usize> = (0..n).map(|i| spec.unet_heads << i).collect();
        let layers: Vec<usize> = (0..n).map(|i| i.max(1)).collect();
        for (k, v) in [
            ("attention_head_dim", serde_json::json!(heads)),
            ("transformer_layers_per_block", serde_json::json!(layers)),
            ("use_linear_projection", true.into()),
            ("addition_embed_type", "text_time".into()),
            ("addition_time_embed_dim", time_dim.into()),
            (
                "projection_class_embeddings_input_dim",
                (6 * time_dim + pooled_dim).into(),
            ),
        ] {
            unet_json[k] = v;
        }
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
        "scaling_factor": if spec.xl { 0.13025 } else { 0.18215 },
        "sample_size": 64
    });
    let scheduler_json = serde_json::json!({
        "_class_name": "EulerAncestralDiscreteScheduler",
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
    let mut index = serde_json::json!({
        "_class_name": "StableDiffusionPipeline",
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
    if spec.xl {
        let o = index
            .as_object_mut()
            .ok_or_else(|| DiffusionError::Runtime("index".into()))?;
        o.remove("safety_checker");
        o.remove("requires_safety_checker");
        o.insert("_class_name".into(), "StableDiffusionXLPipeline".into());
        o.insert(
            "text_encoder_2".into(),
            serde_json::json!(["transformers", "CLIPTextModelWithProjection"]),
        );
        o.insert(
            "tokenizer_2".into(),
            serde_json::json!(["transformers", "CLIPTokenizer"]),
        );
        o.insert("force_zeros_for_empty_prompt".into(), true.into());
        o.insert("image_encoder".into(), serde_json::json!([null, null]));
    }
    if inpainting {
        let class = if spec.xl {
            "StableDiffusionXLInpaintPipeline"
        } else {
            "StableDiffusionInpaintPipeline"
        };
        index["_class_name"] = class.into();
    }
    write(&dir.join("model_index.json"), &pretty(&index))?;
    write(&dir.join("unet/config.json"), &pretty(&unet_json))?;
    write(&dir.join("vae/config.json"), &pretty(&vae_json))?;
    write(
        &dir.join("scheduler/scheduler_config.json"),
        &pretty(&scheduler_json),
    )?;

    let unet_cfg = super::config::unet_config(&pretty(&unet_json), &dir.join("unet/config.json"))?;
    let map = VarMap::new();
    super::unet::Unet::new(&VarBuilder::from_varmap(&map, DType::F32, &dev), &unet_cfg)?;
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

/// Writes a tiny TAESD into `dir` (diffusers' `AutoencoderTiny` folder: `config.json`,
/// `diffusion_pytorch_model.safetensors`): TAESD's real layout (stages of 1, 3, 3, 3 encoder
/// and 3, 3, 3, 1 decoder blocks, 8 pixels per latent, 4 latent channels) at `channels` wide,
/// with encoder and decoder weights that depend only on `seed`.
pub fn write_tiny_taesd(dir: &Path, seed: u64, channels: usize) -> Result<(), DiffusionError> {
    let json = serde_json::json!({
        "_class_name": "AutoencoderTiny",
        "_diffusers_version": "0.35.1",
        "act_fn": "relu",
        "decoder_block_out_channels": vec![channels; 4],
        "encoder_block_out_channels": vec![channels; 4],
        "force_upcast": false,
        "in_channels": 3,
        "latent_channels": 4,
        "latent_magnitude": 3,
        "latent_shift": 0.5,
        "num_decoder_blocks": [3, 3, 3, 1],
        "num_encoder_blocks": [1, 3, 3, 3],
        "out_channels": 3,
        "scaling_factor": 1.0,
        "shift_factor": 0.0,
        "upsample_fn": "nearest",
        "upsampling_scaling_factor": 2
    });
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    write(&dir.join("config.json"), &text)?;
    let config = super::taesd::taesd_config(&text, &dir.join("config.json"))?;
    let map = VarMap::new();
    super::taesd::Taesd::build(
        &VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu),
        &config,
        true,
    )?;
    save(
        &seeded(&map, seed)?,
        &dir.join("diffusion_pytorch_model.safetensors"),
    )
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
            false,
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

/// Writes a tiny IP-Adapter for the tiny model at `model` into `dir`, as `h94/IP-Adapter` lays
/// one out: `dir/ip-adapter.safetensors` (the image projection to 4 tokens of the UNet's
/// context width, and `to_k_ip` / `to_v_ip` for every cross-attention layer, numbered 1, 3,
/// 5, … in diffusers' order) beside `dir/image_encoder/` (a tiny `CLIPVisionModelWithProjection`
/// on 32×32 pictures with GELU like ViT-H/14, and its `preprocessor_config.json`). Weights depend
/// only on `seed`. Returns the adapter file.
pub fn write_tiny_ip_adapter(
    dir: &Path,
    model: &Path,
    seed: u64,
) -> Result<std::path::PathBuf, DiffusionError> {
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let dev = Device::Cpu;
    let vision = serde_json::json!({
        "architectures": ["CLIPVisionModelWithProjection"],
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_channels": 3,
        "image_size": 32,
        "patch_size": 8,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
        "projection_dim": 24,
        "torch_dtype": "float32"
    });
    let encoder_dir = dir.join("image_encoder");
    let config_path = encoder_dir.join("config.json");
    write(&config_path, &pretty(&vision))?;
    write(
        &encoder_dir.join("preprocessor_config.json"),
        &pretty(&serde_json::json!({
            "image_processor_type": "CLIPImageProcessor",
            "do_resize": true,
            "size": {"shortest_edge": 32},
            "resample": 3,
            "do_center_crop": true,
            "crop_size": {"height": 32, "width": 32},
            "do_rescale": true,
            "rescale_factor": 1.0 / 255.0,
            "do_normalize": true,
            "image_mean": [0.481_454_66, 0.457_827_5, 0.408_210_73],
            "image_std": [0.268_629_54, 0.261_302_58, 0.275_777_11],
            "do_convert_rgb": true
        })),
    )?;
    let cfg = super::config::clip_vision_config(&pretty(&vision), &config_path)?;
    let map = VarMap::new();
    super::clip::ClipVisionEncoder::new(&VarBuilder::from_varmap(&map, DType::F32, &dev), &cfg)?;
    save(
        &seeded(&map, seed.wrapping_add(20))?,
        &encoder_dir.join("model.safetensors"),
    )?;

    // The adapter: its per-layer projections take their shapes from the model's UNet.
    let unet_path = model.join("unet/config.json");
    let text =
        std::fs::read_to_string(&unet_path).map_err(|e| DiffusionError::io(&unet_path, &e))?;
    let unet_cfg = super::config::unet_config(&text, &unet_path)?;
    let unet_map = VarMap::new();
    let unet = super::unet::Unet::new(
        &VarBuilder::from_varmap(&unet_map, DType::F32, &dev),
        &unet_cfg,
    )?;
    let cross = unet_cfg.cross_attention_dim;
    let tokens = 4;
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
    vb.get(
        (tokens * cross, cfg.projection_dim),
        "image_proj.proj.weight",
    )?;
    vb.get(tokens * cross, "image_proj.proj.bias")?;
    vb.get(cross, "image_proj.norm.weight")?;
    vb.get(cross, "image_proj.norm.bias")?;
    for (i, attn) in unet.cross_attentions().iter().enumerate() {
        let (_, shape) = attn.key_shape();
        let id = 2 * i + 1;
        vb.get(shape, &format!("ip_adapter.{id}.to_k_ip.weight"))?;
        vb.get(shape, &format!("ip_adapter.{id}.to_v_ip.weight"))?;
    }
    let file = dir.join("ip-adapter.safetensors");
    save(&seeded(&map, seed.wrapping_add(30))?, &file)?;
    Ok(file)
}

/// A deterministic test picture (smooth gradients and a disc whose place depends on `seed`),
/// for reference-image tests.
#[must_use]
pub fn test_picture(width: u32, height: u32, seed: u64) -> super::RgbImage {
    let (cx, cy) = (
        f64::from(width) * (0.3 + 0.4 * ((seed % 7) as f64 / 6.0)),
        f64::from(height) * (0.3 + 0.4 * ((seed % 5) as f64 / 4.0)),
    );
    let r = f64::from(width.min(height)) * 0.25;
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let inside = (f64::from(x) - cx).hypot(f64::from(y) - cy) < r;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let px = if inside {
                [230, (40 + seed * 50 % 200) as u8, 60]
            } else {
                [
                    (x * 255 / width.max(1)) as u8,
                    (y * 255 / height.max(1)) as u8,
                    ((x + y) * 127 / (width + height).max(1)) as u8,
                ]
            };
            pixels.extend_from_slice(&px);
        }
    }
    super::RgbImage {
        width,
        height,
        pixels,
    }
}
