//! The JSON configs of a diffusers folder, read into the shapes our runtime builds.
//!
//! Each reader takes the file's text and its path (for errors) and checks what the runtime
//! cannot do (class-embedding UNets, block layouts that are not mirrored) up front, so a
//! user learns at load time, with the file named, instead of halfway through a batch.

use std::path::Path;

use candle_transformers::models::stable_diffusion::unet_2d::{
    BlockConfig, UNet2DConditionModelConfig,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::DiffusionError;

/// Parses a JSON config, naming the file, line and column on error.
pub(crate) fn parse_json<T: DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, DiffusionError> {
    serde_json::from_str(text).map_err(|e| DiffusionError::Config {
        file: path.to_path_buf(),
        line: e.line(),
        message: format!("{e} (column {})", e.column()),
    })
}

fn config_error(path: &Path, message: impl Into<String>) -> DiffusionError {
    DiffusionError::Config {
        file: path.to_path_buf(),
        line: 0,
        message: message.into(),
    }
}

/// `model_index.json`: which pipeline and which components.
#[derive(Clone, Debug, Deserialize)]
pub struct ModelIndex {
    #[serde(rename = "_class_name", default)]
    pub class_name: String,
    #[serde(rename = "_diffusers_version", default)]
    pub diffusers_version: String,
    /// `[library, class]`, or `[null, null]` when the pipeline has none (SDXL's refiner).
    #[serde(default)]
    pub text_encoder: Option<serde_json::Value>,
    #[serde(default)]
    pub text_encoder_2: Option<serde_json::Value>,
    /// SDXL: an empty negative prompt is all zeros rather than the encoding of "".
    #[serde(default)]
    pub force_zeros_for_empty_prompt: Option<bool>,
}

impl ModelIndex {
    /// Whether a component is named and not `[null, null]`.
    #[must_use]
    pub fn has(component: Option<&serde_json::Value>) -> bool {
        match component {
            Some(serde_json::Value::Array(a)) => a.iter().any(|v| !v.is_null()),
            Some(v) => !v.is_null(),
            None => false,
        }
    }
}

/// An `int` or a per-block list (diffusers writes both).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum PerBlock {
    One(usize),
    Each(Vec<usize>),
}

impl PerBlock {
    fn get(&self, i: usize) -> Option<usize> {
        match self {
            PerBlock::One(v) => Some(*v),
            PerBlock::Each(v) => v.get(i).copied(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
struct UnetJson {
    #[serde(default = "four")]
    in_channels: usize,
    #[serde(default = "four")]
    out_channels: usize,
    block_out_channels: Vec<usize>,
    down_block_types: Vec<String>,
    up_block_types: Vec<String>,
    #[serde(default = "two")]
    layers_per_block: usize,
    #[serde(default)]
    attention_head_dim: Option<PerBlock>,
    #[serde(default)]
    num_attention_heads: Option<PerBlock>,
    #[serde(default)]
    transformer_layers_per_block: Option<PerBlock>,
    cross_attention_dim: usize,
    #[serde(default = "thirty_two")]
    norm_num_groups: usize,
    #[serde(default = "norm_eps")]
    norm_eps: f64,
    #[serde(default)]
    use_linear_projection: bool,
    #[serde(default = "one")]
    downsample_padding: usize,
    #[serde(default = "one_f")]
    mid_block_scale_factor: f64,
    #[serde(default = "yes")]
    flip_sin_to_cos: bool,
    #[serde(default)]
    freq_shift: f64,
    #[serde(default)]
    center_input_sample: bool,
    #[serde(default)]
    addition_embed_type: Option<String>,
    #[serde(default)]
    addition_time_embed_dim: Option<usize>,
    #[serde(default)]
    projection_class_embeddings_input_dim: Option<usize>,
    #[serde(default)]
    class_embed_type: Option<String>,
    #[serde(default)]
    sample_size: Option<usize>,
}

fn four() -> usize {
    4
}
fn two() -> usize {
    2
}
fn one() -> usize {
    1
}
fn thirty_two() -> usize {
    32
}
fn norm_eps() -> f64 {
    1e-5
}
fn one_f() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// The UNet as our runtime builds it.
#[derive(Clone, Debug)]
pub struct UnetConfig {
    pub candle: UNet2DConditionModelConfig,
    pub in_channels: usize,
    pub out_channels: usize,
    pub cross_attention_dim: usize,
    /// Latent size the model was trained at (64 for SD 1.5 = 512 px).
    pub sample_size: Option<usize>,
    /// SDXL's size and pooled-text conditioning (`addition_embed_type: "text_time"`).
    pub addition: Option<AddedConditioning>,
}

/// The sizes of SDXL's `add_time_proj` / `add_embedding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddedConditioning {
    /// Sinusoid channels per time id (256 for SDXL).
    pub time_embed_dim: usize,
    /// `add_embedding`'s input: the pooled text embedding plus six time ids' sinusoids.
    pub input_dim: usize,
}

impl AddedConditioning {
    /// The pooled text embedding's width the UNet expects.
    #[must_use]
    pub fn text_embed_dim(&self) -> usize {
        self.input_dim.saturating_sub(6 * self.time_embed_dim)
    }
}

/// Reads `unet/config.json`.
pub fn unet_config(text: &str, path: &Path) -> Result<UnetConfig, DiffusionError> {
    let j: UnetJson = parse_json(text, path)?;
    let addition = match j.addition_embed_type.as_deref() {
        None => None,
        Some("text_time") => {
            let (Some(time_embed_dim), Some(input_dim)) = (
                j.addition_time_embed_dim,
                j.projection_class_embeddings_input_dim,
            ) else {
                return Err(config_error(
                    path,
                    "addition_embed_type 'text_time' needs addition_time_embed_dim and projection_class_embeddings_input_dim",
                ));
            };
            if time_embed_dim == 0 || input_dim <= 6 * time_embed_dim {
                return Err(config_error(
                    path,
                    format!(
                        "projection_class_embeddings_input_dim {input_dim} leaves no room for the pooled text embedding after 6 x addition_time_embed_dim {time_embed_dim}"
                    ),
                ));
            }
            Some(AddedConditioning {
                time_embed_dim,
                input_dim,
            })
        }
        Some(kind) => {
            return Err(config_error(
                path,
                format!(
                    "addition_embed_type '{kind}' is not supported; supported: none (SD 1.x / 2.x) and 'text_time' (SDXL)"
                ),
            ));
        }
    };
    if let Some(kind) = &j.class_embed_type {
        return Err(config_error(
            path,
            format!("class_embed_type '{kind}' (upscaler / unCLIP models) is not supported"),
        ));
    }
    let n = j.block_out_channels.len();
    if n == 0 || j.down_block_types.len() != n || j.up_block_types.len() != n {
        return Err(config_error(
            path,
            format!(
                "block_out_channels has {n} entries but down_block_types has {} and up_block_types {}; they must match",
                j.down_block_types.len(),
                j.up_block_types.len()
            ),
        ));
    }
    let mut blocks = Vec::with_capacity(n);
    for (i, kind) in j.down_block_types.iter().enumerate() {
        let cross = match kind.as_str() {
            "CrossAttnDownBlock2D" => true,
            "DownBlock2D" => false,
            other => {
                return Err(config_error(
                    path,
                    format!(
                        "down block {i} is '{other}'; supported: CrossAttnDownBlock2D, DownBlock2D"
                    ),
                ));
            }
        };
        let up = &j.up_block_types[n - 1 - i];
        let expected = if cross {
            "CrossAttnUpBlock2D"
        } else {
            "UpBlock2D"
        };
        if up != expected {
            return Err(config_error(
                path,
                format!(
                    "up block {} is '{up}' but mirrors down block {i} ('{kind}'); expected '{expected}'",
                    n - 1 - i
                ),
            ));
        }
        // diffusers' legacy `attention_head_dim` is the number of heads (as candle reads it);
        // newer configs say `num_attention_heads`.
        let heads = j
            .num_attention_heads
            .as_ref()
            .or(j.attention_head_dim.as_ref())
            .and_then(|h| h.get(i))
            .unwrap_or(8);
        let layers = j
            .transformer_layers_per_block
            .as_ref()
            .and_then(|t| t.get(i))
            .unwrap_or(1);
        let out_channels = j.block_out_channels[i];
        if heads == 0 || !out_channels.is_multiple_of(heads) {
            return Err(config_error(
                path,
                format!("block {i}: {out_channels} channels do not split into {heads} heads"),
            ));
        }
        if j.norm_num_groups == 0 || !out_channels.is_multiple_of(j.norm_num_groups) {
            return Err(config_error(
                path,
                format!(
                    "block {i}: {out_channels} channels do not split into norm_num_groups = {}",
                    j.norm_num_groups
                ),
            ));
        }
        blocks.push(BlockConfig {
            out_channels,
            use_cross_attn: cross.then_some(layers),
            attention_head_dim: heads,
        });
    }
    Ok(UnetConfig {
        candle: UNet2DConditionModelConfig {
            center_input_sample: j.center_input_sample,
            flip_sin_to_cos: j.flip_sin_to_cos,
            freq_shift: j.freq_shift,
            blocks,
            layers_per_block: j.layers_per_block,
            downsample_padding: j.downsample_padding,
            mid_block_scale_factor: j.mid_block_scale_factor,
            norm_num_groups: j.norm_num_groups,
            norm_eps: j.norm_eps,
            cross_attention_dim: j.cross_attention_dim,
            sliced_attention_size: None,
            use_linear_projection: j.use_linear_projection,
        },
        in_channels: j.in_channels,
        out_channels: j.out_channels,
        cross_attention_dim: j.cross_attention_dim,
        sample_size: j.sample_size,
        addition,
    })
}

/// `vae/config.json` (AutoencoderKL).
#[derive(Clone, Debug, Deserialize)]
pub struct VaeConfig {
    #[serde(default = "three")]
    pub in_channels: usize,
    #[serde(default = "three")]
    pub out_channels: usize,
    pub block_out_channels: Vec<usize>,
    #[serde(default = "one")]
    pub layers_per_block: usize,
    #[serde(default = "four")]
    pub latent_channels: usize,
    #[serde(default = "thirty_two")]
    pub norm_num_groups: usize,
    #[serde(default = "sd15_scale")]
    pub scaling_factor: f64,
    #[serde(default = "yes")]
    pub use_quant_conv: bool,
    #[serde(default = "yes")]
    pub use_post_quant_conv: bool,
    /// The autoencoder overflows in f16 (SDXL's): decode in f32 on CUDA.
    #[serde(default = "yes")]
    pub force_upcast: bool,
}

fn three() -> usize {
    3
}
fn sd15_scale() -> f64 {
    0.18215
}

/// Reads `vae/config.json`.
pub fn vae_config(text: &str, path: &Path) -> Result<VaeConfig, DiffusionError> {
    let c: VaeConfig = parse_json(text, path)?;
    if c.block_out_channels.is_empty()
        || c.norm_num_groups == 0
        || c.block_out_channels
            .iter()
            .any(|ch| !ch.is_multiple_of(c.norm_num_groups))
    {
        return Err(config_error(
            path,
            format!(
                "block_out_channels {:?} must be non-empty and each divisible by norm_num_groups = {}",
                c.block_out_channels, c.norm_num_groups
            ),
        ));
    }
    if c.latent_channels == 0 || c.in_channels != 3 || c.out_channels != 3 {
        return Err(config_error(
            path,
            "expected an RGB autoencoder (in_channels = out_channels = 3) with latent channels",
        ));
    }
    Ok(c)
}

/// `text_encoder/config.json` (transformers' CLIPTextConfig).
#[derive(Clone, Debug, Deserialize)]
pub struct ClipConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "seventy_seven")]
    pub max_position_embeddings: usize,
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    #[serde(default = "norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub projection_dim: Option<usize>,
    /// transformers' rule for the pooled token: 2 (the legacy value) means "the highest id".
    #[serde(default)]
    pub eos_token_id: Option<usize>,
}

fn seventy_seven() -> usize {
    77
}
fn quick_gelu() -> String {
    "quick_gelu".into()
}

/// What both CLIP towers need: heads that split the width, an activation we have.
fn check_transformer(
    path: &Path,
    hidden: usize,
    heads: usize,
    act: &str,
) -> Result<(), DiffusionError> {
    if heads == 0 || !hidden.is_multiple_of(heads) {
        return Err(config_error(
            path,
            format!("hidden_size {hidden} does not split into {heads} attention heads"),
        ));
    }
    if !matches!(act, "quick_gelu" | "gelu") {
        return Err(config_error(
            path,
            format!("hidden_act '{act}' is not supported; expected quick_gelu or gelu"),
        ));
    }
    Ok(())
}

/// Reads `text_encoder/config.json`.
pub fn clip_config(text: &str, path: &Path) -> Result<ClipConfig, DiffusionError> {
    let c: ClipConfig = parse_json(text, path)?;
    check_transformer(path, c.hidden_size, c.num_attention_heads, &c.hidden_act)?;
    if c.max_position_embeddings < 3 || c.vocab_size < 2 {
        return Err(config_error(
            path,
            "max_position_embeddings and vocab_size are too small for a text encoder",
        ));
    }
    Ok(c)
}

/// `image_encoder/config.json` (transformers' `CLIPVisionConfig`, the vision tower of a
/// `CLIPVisionModelWithProjection`): what an IP-Adapter encodes its reference images with.
/// Both the bare vision config and a full `CLIPConfig` with a `vision_config` section are read.
#[derive(Clone, Debug, Deserialize)]
pub struct ClipVisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub image_size: usize,
    pub patch_size: usize,
    #[serde(default = "three")]
    pub num_channels: usize,
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    #[serde(default = "norm_eps")]
    pub layer_norm_eps: f64,
    pub projection_dim: usize,
}

/// Reads an image encoder's `config.json`.
pub fn clip_vision_config(text: &str, path: &Path) -> Result<ClipVisionConfig, DiffusionError> {
    #[derive(Deserialize)]
    struct Full {
        vision_config: serde_json::Value,
        #[serde(default)]
        projection_dim: Option<usize>,
    }
    let c: ClipVisionConfig = match parse_json::<Full>(text, path) {
        Ok(full) => {
            let mut v = full.vision_config;
            if let (Some(obj), Some(p)) = (v.as_object_mut(), full.projection_dim) {
                obj.entry("projection_dim").or_insert(p.into());
            }
            serde_json::from_value(v).map_err(|e| {
                config_error(
                    path,
                    format!("vision_config: {e}; is this a CLIP image encoder?"),
                )
            })?
        }
        Err(_) => parse_json(text, path)?,
    };
    check_transformer(path, c.hidden_size, c.num_attention_heads, &c.hidden_act)?;
    if c.patch_size == 0
        || c.image_size < c.patch_size
        || !c.image_size.is_multiple_of(c.patch_size)
    {
        return Err(config_error(
            path,
            format!(
                "image_size {} is not a whole number of {}-pixel patches",
                c.image_size, c.patch_size
            ),
        ));
    }
    if c.num_channels != 3 {
        return Err(config_error(
            path,
            format!(
                "num_channels {}; expected an RGB image encoder (3)",
                c.num_channels
            ),
        ));
    }
    Ok(c)
}

/// `preprocessor_config.json` (transformers' `CLIPImageProcessor`): how a reference image is
/// resized, cropped and normalised before the image encoder sees it.
#[derive(Clone, Debug, Deserialize)]
pub struct ImageProcessorConfig {
    #[serde(default = "yes")]
    pub do_resize: bool,
    /// `{"shortest_edge": N}` (or a bare number in old files).
    #[serde(default)]
    pub size: Option<serde_json::Value>,
    #[serde(default = "yes")]
    pub do_center_crop: bool,
    /// `{"height": H, "width": W}` (or a bare number).
    #[serde(default)]
    pub crop_size: Option<serde_json::Value>,
    #[serde(default = "yes")]
    pub do_normalize: bool,
    #[serde(default = "clip_mean")]
    pub image_mean: [f32; 3],
    #[serde(default = "clip_std")]
    pub image_std: [f32; 3],
}

/// OpenAI CLIP's normalisation (transformers' `OPENAI_CLIP_MEAN` / `OPENAI_CLIP_STD`).
fn clip_mean() -> [f32; 3] {
    [0.481_454_66, 0.457_827_5, 0.408_210_73]
}
fn clip_std() -> [f32; 3] {
    [0.268_629_54, 0.261_302_6, 0.275_777_1]
}

impl ImageProcessorConfig {
    /// transformers' defaults for an encoder that sees `image_size` pixels.
    #[must_use]
    pub fn for_size(image_size: usize) -> Self {
        Self {
            do_resize: true,
            size: Some(serde_json::json!({ "shortest_edge": image_size })),
            do_center_crop: true,
            crop_size: Some(serde_json::json!({ "height": image_size, "width": image_size })),
            do_normalize: true,
            image_mean: clip_mean(),
            image_std: clip_std(),
        }
    }

    /// The shortest edge after resizing.
    #[must_use]
    pub fn shortest_edge(&self, image_size: usize) -> usize {
        match &self.size {
            Some(serde_json::Value::Number(n)) => n.as_u64().map_or(image_size, |v| v as usize),
            Some(v) => v
                .get("shortest_edge")
                .and_then(serde_json::Value::as_u64)
                .map_or(image_size, |v| v as usize),
            None => image_size,
        }
    }

    /// The centre crop, (height, width).
    #[must_use]
    pub fn crop(&self, image_size: usize) -> (usize, usize) {
        let get = |v: &serde_json::Value, k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .map_or(image_size, |v| v as usize)
        };
        match &self.crop_size {
            Some(serde_json::Value::Number(n)) => {
                let s = n.as_u64().map_or(image_size, |v| v as usize);
                (s, s)
            }
            Some(v) => (get(v, "height"), get(v, "width")),
            None => (image_size, image_size),
        }
    }
}

/// `scheduler/scheduler_config.json`: the noise schedule the model was trained with.
#[derive(Clone, Debug, Deserialize)]
pub struct ScheduleConfig {
    #[serde(rename = "_class_name", default)]
    pub class_name: String,
    #[serde(default = "thousand")]
    pub num_train_timesteps: usize,
    #[serde(default = "beta_start")]
    pub beta_start: f64,
    #[serde(default = "beta_end")]
    pub beta_end: f64,
    #[serde(default = "scaled_linear")]
    pub beta_schedule: String,
    #[serde(default = "epsilon")]
    pub prediction_type: String,
    #[serde(default)]
    pub steps_offset: usize,
    #[serde(default = "leading")]
    pub timestep_spacing: String,
    #[serde(default = "yes")]
    pub set_alpha_to_one: bool,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            class_name: String::new(),
            num_train_timesteps: 1000,
            beta_start: beta_start(),
            beta_end: beta_end(),
            beta_schedule: scaled_linear(),
            prediction_type: epsilon(),
            steps_offset: 1,
            timestep_spacing: leading(),
            set_alpha_to_one: false,
        }
    }
}

fn thousand() -> usize {
    1000
}
fn beta_start() -> f64 {
    0.00085
}
fn beta_end() -> f64 {
    0.012
}
fn scaled_linear() -> String {
    "scaled_linear".into()
}
fn epsilon() -> String {
    "epsilon".into()
}
fn leading() -> String {
    "leading".into()
}

/// Reads `scheduler/scheduler_config.json`.
pub fn schedule_config(text: &str, path: &Path) -> Result<ScheduleConfig, DiffusionError> {
    let c: ScheduleConfig = parse_json(text, path)?;
    if !matches!(c.beta_schedule.as_str(), "scaled_linear" | "linear") {
        return Err(config_error(
            path,
            format!(
                "beta_schedule '{}' is not supported; expected scaled_linear or linear",
                c.beta_schedule
            ),
        ));
    }
    if !matches!(c.prediction_type.as_str(), "epsilon" | "v_prediction") {
        return Err(config_error(
            path,
            format!(
                "prediction_type '{}' is not supported; expected epsilon or v_prediction",
                c.prediction_type
            ),
        ));
    }
    if !matches!(
        c.timestep_spacing.as_str(),
        "leading" | "linspace" | "trailing"
    ) {
        return Err(config_error(
            path,
            format!(
                "timestep_spacing '{}' is not supported; expected leading, linspace or trailing",
                c.timestep_spacing
            ),
        ));
    }
    if c.num_train_timesteps < 2 || !(c.beta_start > 0.0 && c.beta_end < 1.0) {
        return Err(config_error(
            path,
            "num_train_timesteps must be at least 2 and betas within (0, 1)",
        ));
    }
    Ok(c)
}
