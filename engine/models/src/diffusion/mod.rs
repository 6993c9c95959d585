//! Stable Diffusion on candle: text-to-image, image-to-image and inpainting from a diffusers
//! folder or a single-file checkpoint, with classifier-free guidance, seeded samplers, per-step
//! progress with a cheap preview, and cancellation between steps.
//!
//! * [`layout`]: where the files are (diffusers folder, Hugging Face cache, shards) and checks.
//! * [`config`]: the folder's JSON configs.
//! * [`clip`]: tokenizer and text encoder.
//! * [`vae`]: the autoencoder, decoding large frames in tiles.
//! * [`taesd`]: the tiny autoencoder, for full-resolution per-step previews when present.
//! * [`schedulers`]: DDIM, Euler ancestral, DPM-Solver++ 2M.
//! * [`lora`]: LoRA adapters (kohya and diffusers naming) merged into the weights at load.
//! * [`ip_adapter`]: IP-Adapter, reference pictures as a prompt (a CLIP image encoder and
//!   extra keys and values in every cross-attention layer).
//! * [`single_file`]: single-file checkpoints (A1111 / civitai, original LDM names) converted
//!   to diffusers names and configs in memory.
//! * [`tiny`]: tiny random-weight models of the real architecture, for tests and benchmarks.
//!
//! * [`unet`]: the UNet (candle-transformers' blocks, our top level with SDXL's conditioning).
//!
//! SD 1.x, SD 2.x, SD-Turbo (one CLIP text encoder) and SDXL / SDXL-Turbo (two text encoders,
//! penultimate states concatenated, the second's pooled embedding and the size / crop ids as
//! extra conditioning) run through the same sampler loop.

pub mod attention;
pub mod blocks;
pub mod clip;
pub mod config;
pub mod conv;
pub mod ip_adapter;
pub mod kernels;
pub mod layout;
pub mod lora;
pub mod norm;
pub mod schedulers;
pub mod single_file;
pub mod taesd;
pub mod tiny;
pub mod unet;
pub mod vae;

/// The largest absolute difference between two tensors (tests of the CPU fast paths against
/// candle's operations).
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar::<f32>())
        .unwrap_or(f32::INFINITY)
}

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use previz_jobs::CancelToken;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::device::{DeviceChoice, resolve};
pub use schedulers::SchedulerKind;

/// What can go wrong loading or running a diffusion model; each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    #[error("{}: missing; expected {what}", file.display())]
    Missing { file: PathBuf, what: String },
    #[error("{}: {message}", file.display())]
    Corrupt { file: PathBuf, message: String },
    #[error("{}{}: {message}", file.display(), if *line > 0 { format!(" line {line}") } else { String::new() })]
    Config {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{}: pickled weights are never loaded (they can run code); convert them to .safetensors (e.g. with diffusers' save_pretrained(safe_serialization=True)) and point at those",
        file.display()
    )]
    Pickle { file: PathBuf },
    #[error("{}: {what} is not supported", file.display())]
    Unsupported { file: PathBuf, what: String },
    #[error("{}: the weights do not fit the config: {detail}; the folder mixes files from different models, or a file is damaged", file.display())]
    Weights { file: PathBuf, detail: String },
    #[error("{}: {message}", file.display())]
    Io { file: PathBuf, message: String },
    #[error("the request is not valid: {0}")]
    Request(String),
    #[error("device: {0}")]
    Device(#[from] crate::device::DeviceError),
    #[error("diffusion: {0}")]
    Runtime(String),
    #[error("cancelled")]
    Cancelled,
}

impl DiffusionError {
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        DiffusionError::Io {
            file: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

impl From<candle_core::Error> for DiffusionError {
    fn from(e: candle_core::Error) -> Self {
        DiffusionError::Runtime(e.to_string())
    }
}

/// An 8-bit RGB picture, row-major, no padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// The picture to start from (img2img) and, for inpainting, where to repaint.
#[derive(Clone, Debug)]
pub struct InitImage {
    /// Must already be the request's size.
    pub image: RgbImage,
    /// How much to change it: 0 keeps it, 1 ignores it.
    pub strength: f32,
    /// One byte per pixel at the request's size: 255 repaints, 0 keeps.
    pub mask: Option<Vec<u8>>,
}

/// One frame to draw.
#[derive(Clone, Debug)]
pub struct Request {
    pub prompt: String,
    pub negative_prompt: String,
    pub width: u32,
    pub height: u32,
    pub steps: usize,
    /// Classifier-free guidance scale; at or below 1 the negative prompt is not run (turbo models).
    pub guidance: f32,
    pub scheduler: SchedulerKind,
    pub seed: u64,
    pub init: Option<InitImage>,
    /// Decode a preview every step (a linear map of the latents, microseconds; or TAESD at full
    /// resolution when the model has one, a few convolutions per pixel).
    pub previews: bool,
    /// Reference pictures through an IP-Adapter (a character's look without a LoRA).
    pub reference: Option<Reference>,
}

/// Reference pictures for an IP-Adapter.
#[derive(Clone, Debug)]
pub struct Reference {
    pub adapter: std::sync::Arc<ip_adapter::IpAdapter>,
    /// One or more pictures (several characters: their tokens side by side); any size, the
    /// adapter's image processor resizes and crops them.
    pub images: Vec<RgbImage>,
    /// How strongly they steer: 0 ignores them, 1 as trained (0.5-0.8 leaves room for the text).
    pub scale: f32,
}

impl Default for Request {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            width: 512,
            height: 512,
            steps: 20,
            guidance: 7.5,
            scheduler: SchedulerKind::default(),
            seed: 0,
            init: None,
            previews: true,
            reference: None,
        }
    }
}

/// Progress after a denoising step.
pub struct Step<'a> {
    /// 1-based.
    pub step: usize,
    pub total: usize,
    /// The current estimate of the final image: at full resolution through TAESD when the model
    /// has one, else at latent resolution.
    pub preview: Option<&'a RgbImage>,
}

/// A loaded Stable Diffusion model.
pub struct DiffusionModel {
    pub root: PathBuf,
    /// The pipeline class `model_index.json` names.
    pub class_name: String,
    text: clip::TextStack,
    unet: unet::Unet,
    unet_config: config::UnetConfig,
    vae: vae::Vae,
    /// f32 where the autoencoder overflows in f16 (`force_upcast`), else the model's dtype.
    vae_dtype: DType,
    taesd: Option<taesd::Taesd>,
    schedule: schedulers::Schedule,
    device: Device,
    /// Every weight file, in load order (for hashing and provenance).
    pub weight_files: Vec<PathBuf>,
    /// LoRAs merged into the weights: (file, scale).
    pub loras: Vec<(PathBuf, f32)>,
    /// [`content_hash`](Self::content_hash), computed once.
    hash: std::sync::OnceLock<String>,
}

/// Options for loading.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub device: DeviceChoice,
    /// LoRA adapters merged at load: (file, scale).
    pub loras: Vec<(PathBuf, f32)>,
    /// A TAESD folder for previews (else `<model>/taesd/` when it exists).
    pub taesd: Option<PathBuf>,
    /// Decode in tiles of this many latents when larger: `Some(0)` never, `None`
    /// [`vae::DEFAULT_TILE`] (64 latents, 512 px).
    pub vae_tile: Option<usize>,
}

fn read_text(path: &Path) -> Result<String, DiffusionError> {
    if !path.is_file() {
        return Err(DiffusionError::Missing {
            file: path.to_path_buf(),
            what: "a JSON config".into(),
        });
    }
    std::fs::read_to_string(path).map_err(|e| DiffusionError::io(path, &e))
}

/// A component's weights: safetensors files (a diffusers folder), or tensors already in memory
/// under diffusers names (a converted single-file checkpoint) with the file they came from.
pub(crate) enum Weights {
    Files(Vec<PathBuf>),
    Tensors {
        file: PathBuf,
        tensors: std::collections::HashMap<String, Tensor>,
        /// Diffusers name to the checkpoint's own name, for errors.
        origin: std::collections::HashMap<String, String>,
    },
}

impl Weights {
    /// A VarBuilder over the checked weights with LoRA deltas merged in. Files are read through
    /// candle's safe loader (no `unsafe` mmap in our code: the workspace denies it).
    fn var_builder(
        &mut self,
        dtype: DType,
        device: &Device,
        loras: &[lora::LoraDelta],
    ) -> Result<VarBuilder<'static>, DiffusionError> {
        let tensors = match self {
            Weights::Files(files) => {
                for f in files.iter() {
                    layout::check_safetensors(f)?;
                }
                lora::merged_tensors(files, loras, device)?
            }
            Weights::Tensors { file, tensors, .. } => {
                let mut tensors = std::mem::take(tensors);
                lora::merge(&mut tensors, loras, file)?;
                tensors
            }
        };
        Ok(VarBuilder::from_tensors(tensors, dtype, device))
    }

    /// The weights do not fit the config: name the file (and the checkpoint's tensor).
    fn error(&self, e: &candle_core::Error) -> DiffusionError {
        match self {
            Weights::Files(files) => DiffusionError::Weights {
                file: files.first().cloned().unwrap_or_default(),
                detail: e.to_string(),
            },
            Weights::Tensors { file, origin, .. } => DiffusionError::Weights {
                file: file.clone(),
                detail: single_file::explain(&e.to_string(), origin),
            },
        }
    }
}

/// A VarBuilder over checked safetensors files (LoRA deltas merged in).
fn var_builder(
    files: &[PathBuf],
    dtype: DType,
    device: &Device,
    loras: &[lora::LoraDelta],
) -> Result<VarBuilder<'static>, DiffusionError> {
    Weights::Files(files.to_vec()).var_builder(dtype, device, loras)
}

fn weights_error(file: &Path, e: &candle_core::Error) -> DiffusionError {
    DiffusionError::Weights {
        file: file.to_path_buf(),
        detail: e.to_string(),
    }
}

/// A config's JSON text and the path its errors name.
pub(crate) struct ConfigText {
    pub text: String,
    pub path: PathBuf,
}

impl ConfigText {
    fn read(path: PathBuf) -> Result<Self, DiffusionError> {
        Ok(Self {
            text: read_text(&path)?,
            path,
        })
    }
}

/// One text encoder and its tokenizer.
pub(crate) struct TextPart {
    pub config: ConfigText,
    /// vocab.json + merges.txt (or tokenizer.json).
    pub tokenizer_dir: PathBuf,
    /// The padding token, where the folder does not say (SDXL's second tokenizer pads with
    /// "!", a single file carries no tokenizer files); `None`: the folder's, else `<eos>`.
    pub pad: Option<String>,
    pub weights: Weights,
    /// Which LoRA entries apply to it.
    pub component: lora::Component,
}

/// Everything a model is built from, whichever layout it came in: the folder loader
/// ([`DiffusionModel::load`]) and the single-file loader ([`single_file`]) both fill one and
/// hand it to [`DiffusionModel::build`].
pub(crate) struct Parts {
    pub root: PathBuf,
    pub class_name: String,
    pub unet_config: ConfigText,
    pub vae_config: ConfigText,
    /// `None`: Stable Diffusion's training schedule.
    pub schedule_config: Option<ConfigText>,
    /// One text encoder (SD 1.x / 2.x) or two (SDXL: the second with a projection).
    pub text: Vec<TextPart>,
    /// SDXL: two text encoders, penultimate states, size conditioning.
    pub xl: bool,
    /// An empty negative prompt conditions on zeros (SDXL's `force_zeros_for_empty_prompt`).
    pub force_zeros_for_empty_prompt: bool,
    pub unet: Weights,
    pub vae: Weights,
    /// The files the content hash covers.
    pub weight_files: Vec<PathBuf>,
}

impl DiffusionModel {
    /// Loads the model at `path`: a diffusers folder, a Hugging Face cache entry, or a
    /// single-file `.safetensors` checkpoint (converted in memory, see [`single_file`]; its
    /// tokenizer is looked up as [`single_file::SingleFileOptions`] describes).
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Self, DiffusionError> {
        if single_file::is_single_file(path) {
            return Self::load_single_file(
                path,
                options,
                &single_file::SingleFileOptions::default(),
            );
        }
        let root = layout::resolve_root(path)?;
        let index_path = root.join("model_index.json");
        let index: config::ModelIndex = config::parse_json(&read_text(&index_path)?, &index_path)?;
        let xl = config::ModelIndex::has(index.text_encoder_2.as_ref());
        if !config::ModelIndex::has(index.text_encoder.as_ref()) {
            return Err(DiffusionError::Unsupported {
                file: index_path,
                what: "a pipeline without the first text encoder (SDXL's refiner)".into(),
            });
        }
        let p = |c: &str, f: &str| root.join(c).join(f);
        let schedule_path = p("scheduler", "scheduler_config.json");
        let schedule_config = if schedule_path.is_file() {
            Some(ConfigText::read(schedule_path)?)
        } else {
            None
        };
        let unet_config = ConfigText::read(p("unet", "config.json"))?;
        let vae_config = ConfigText::read(p("vae", "config.json"))?;
        let encoders: &[(&str, &str, lora::Component)] = if xl {
            &[
                ("text_encoder", "tokenizer", lora::Component::TextEncoder),
                (
                    "text_encoder_2",
                    "tokenizer_2",
                    lora::Component::TextEncoder2,
                ),
            ]
        } else {
            &[("text_encoder", "tokenizer", lora::Component::TextEncoder)]
        };
        let mut text = Vec::with_capacity(encoders.len());
        let mut weight_files = Vec::new();
        for (enc, tok, component) in encoders {
            let files = layout::weight_files(&root.join(enc), "model")?;
            weight_files.extend(files.iter().cloned());
            text.push(TextPart {
                config: ConfigText::read(p(enc, "config.json"))?,
                tokenizer_dir: root.join(tok),
                pad: None,
                weights: Weights::Files(files),
                component: *component,
            });
        }
        let unet_files = layout::weight_files(&root.join("unet"), "diffusion_pytorch_model")?;
        let vae_files = layout::weight_files(&root.join("vae"), "diffusion_pytorch_model")?;
        weight_files.extend(unet_files.iter().cloned());
        weight_files.extend(vae_files.iter().cloned());
        Self::build(
            Parts {
                root,
                class_name: index.class_name,
                unet_config,
                vae_config,
                schedule_config,
                text,
                xl,
                force_zeros_for_empty_prompt: index.force_zeros_for_empty_prompt.unwrap_or(xl),
                unet: Weights::Files(unet_files),
                vae: Weights::Files(vae_files),
                weight_files,
            },
            options,
        )
    }

    /// Builds a model from its configs and weights, checking that they fit each other.
    fn build(parts: Parts, options: &LoadOptions) -> Result<Self, DiffusionError> {
        let Parts {
            root,
            class_name,
            unet_config,
            vae_config,
            schedule_config,
            text,
            xl,
            force_zeros_for_empty_prompt,
            mut unet,
            mut vae,
            weight_files,
        } = parts;
        let device = resolve(options.device)?;
        let dtype = if device.is_cuda() {
            DType::F16
        } else {
            DType::F32
        };
        let unet_config_path = unet_config.path;
        let vae_config_path = vae_config.path;
        let unet_config = config::unet_config(&unet_config.text, &unet_config_path)?;
        let vae_config = config::vae_config(&vae_config.text, &vae_config_path)?;
        let schedule_config = match &schedule_config {
            Some(s) => config::schedule_config(&s.text, &s.path)?,
            None => config::ScheduleConfig::default(),
        };

        let mut deltas = Vec::new();
        for (file, scale) in &options.loras {
            deltas.push(lora::LoraDelta::load(file, *scale)?);
        }
        let deltas_for = |c: lora::Component| -> Vec<lora::LoraDelta> {
            deltas.iter().filter_map(|d| d.for_component(c)).collect()
        };

        // The text encoders: SD 1.x / 2.x have one, SDXL two (the second with a projection).
        let mut encoders = Vec::with_capacity(text.len());
        let mut context_dim = 0;
        let mut pooled_dim = None;
        for (i, mut part) in text.into_iter().enumerate() {
            let clip_config = config::clip_config(&part.config.text, &part.config.path)?;
            let tokenizer = clip::ClipTokenizer::load_with_pad(
                &part.tokenizer_dir,
                clip_config.max_position_embeddings,
                part.pad.as_deref(),
            )?;
            let vb = part
                .weights
                .var_builder(dtype, &device, &deltas_for(part.component))?;
            let with_projection = xl && i == 1;
            let encoder = clip::ClipTextEncoder::new(&vb, &clip_config, with_projection)
                .map_err(|e| part.weights.error(&e))?;
            context_dim += clip_config.hidden_size;
            if with_projection {
                pooled_dim = Some(
                    clip_config
                        .projection_dim
                        .unwrap_or(clip_config.hidden_size),
                );
            }
            encoders.push((tokenizer, encoder));
        }
        let mismatch = |message: String| DiffusionError::Config {
            file: unet_config_path.clone(),
            line: 0,
            message,
        };
        if context_dim != unet_config.cross_attention_dim {
            return Err(mismatch(format!(
                "cross_attention_dim {} does not match the text encoders' hidden size {context_dim}",
                unet_config.cross_attention_dim
            )));
        }
        match (unet_config.addition, pooled_dim) {
            (Some(a), Some(d)) if a.text_embed_dim() != d => {
                return Err(mismatch(format!(
                    "projection_class_embeddings_input_dim {} expects a pooled text embedding of {} but text_encoder_2 projects to {d}",
                    a.input_dim,
                    a.text_embed_dim()
                )));
            }
            (Some(_), None) => {
                return Err(mismatch(
                    "the UNet takes SDXL's size conditioning but the pipeline has no text_encoder_2"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(mismatch(
                    "the pipeline has two text encoders (SDXL) but the UNet has no addition_embed_type 'text_time'"
                        .into(),
                ));
            }
            _ => {}
        }
        let text = clip::TextStack {
            encoders,
            xl,
            zeros_for_empty_negative: force_zeros_for_empty_prompt,
        };

        let vb = unet.var_builder(dtype, &device, &deltas_for(lora::Component::Unet))?;
        let unet_model = unet::Unet::new(&vb, &unet_config).map_err(|e| unet.error(&e))?;
        let vae_dtype = if vae_config.force_upcast {
            DType::F32
        } else {
            dtype
        };
        let vb = vae.var_builder(vae_dtype, &device, &[])?;
        let vae = vae::Vae::new(&vb, &vae_config)
            .map_err(|e| vae.error(&e))?
            .with_tile(options.vae_tile);
        if vae.latent_channels != unet_config.out_channels {
            return Err(DiffusionError::Config {
                file: vae_config_path,
                line: 0,
                message: format!(
                    "latent_channels {} does not match the UNet's out_channels {}",
                    vae.latent_channels, unet_config.out_channels
                ),
            });
        }
        // Previews only: not in weight_files (the frames, and so the hash, do not depend on it).
        let taesd = taesd::find(&root, options.taesd.as_deref(), &device, dtype, &vae)?;
        Ok(Self {
            root,
            class_name,
            text,
            unet: unet_model,
            unet_config,
            vae,
            vae_dtype,
            taesd,
            schedule: schedulers::Schedule::new(&schedule_config),
            device,
            weight_files,
            loras: options.loras.clone(),
            hash: std::sync::OnceLock::new(),
        })
    }

    /// About how many bytes the model at `path` takes once loaded on `device` (every weight at
    /// the dtype it runs in), from the files' headers: what the model pool reserves.
    pub fn estimate_bytes(path: &Path, device: DeviceChoice) -> Result<u64, DiffusionError> {
        let cuda = crate::device::cuda_compiled() && !matches!(device, DeviceChoice::Cpu);
        if single_file::is_single_file(path) {
            // Every tensor of the file (EMA copies and training leftovers included: an
            // overestimate on the safe side).
            let packed = if cuda {
                0
            } else {
                layout::conv_weight_count(path)?
            };
            return Ok(layout::parameter_count(path)? * if cuda { 2 } else { 4 } + packed * 4);
        }
        let root = layout::resolve_root(path)?;
        let (mut params, mut packed) = (0, 0);
        for (dir, stem) in [
            ("text_encoder", "model"),
            ("text_encoder_2", "model"),
            ("unet", "diffusion_pytorch_model"),
            ("vae", "diffusion_pytorch_model"),
        ] {
            if !root.join(dir).is_dir() {
                continue;
            }
            for f in layout::weight_files(&root.join(dir), stem)? {
                params += layout::parameter_count(&f)?;
                if !cuda {
                    packed += layout::conv_weight_count(&f)?;
                }
            }
        }
        // f16 on CUDA, f32 on the CPU, where the convolutions also keep a packed f32 copy of
        // their weights; activations come on top (a few hundred MiB at 1024 px with the tiled
        // decode), which the pool's budget leaves room for.
        Ok(params * if cuda { 2 } else { 4 } + packed * 4)
    }

    /// blake3 over every weight file (and each LoRA), hex: the provenance's model hash.
    /// Computed on first use and kept (the files are read once per loaded model).
    pub fn content_hash(&self) -> Result<String, DiffusionError> {
        if let Some(h) = self.hash.get() {
            return Ok(h.clone());
        }
        let mut h = blake3::Hasher::new();
        for f in self
            .weight_files
            .iter()
            .chain(self.loras.iter().map(|(f, _)| f))
        {
            h.update_mmap(f).map_err(|e| DiffusionError::io(f, &e))?;
        }
        for (_, scale) in &self.loras {
            h.update(&scale.to_le_bytes());
        }
        let hex = h.finalize().to_hex().to_string();
        Ok(self.hash.get_or_init(|| hex).clone())
    }

    /// Pixels per latent (8 for released models): sizes must be multiples of it.
    #[must_use]
    pub fn size_step(&self) -> u32 {
        u32::try_from(self.vae.downscale).unwrap_or(8)
    }

    /// The size the model was trained at, in pixels, when its config says.
    #[must_use]
    pub fn native_size(&self) -> Option<u32> {
        self.unet_config
            .sample_size
            .and_then(|s| u32::try_from(s * self.vae.downscale).ok())
    }

    /// Whether this is an SDXL-family model (two text encoders, size conditioning).
    #[must_use]
    pub fn is_xl(&self) -> bool {
        self.text.xl
    }

    /// Whether the UNet takes the mask and masked image (a dedicated inpainting model).
    /// Checks that `adapter` was made for this model and sits on its device.
    pub fn check_ip_adapter(&self, adapter: &ip_adapter::IpAdapter) -> Result<(), DiffusionError> {
        if !adapter.device().same_device(&self.device) {
            return Err(DiffusionError::Request(format!(
                "the IP-Adapter {} is loaded on another device than the model; load both with the same device",
                adapter.file.display()
            )));
        }
        adapter.check(&self.unet, &self.root)
    }

    #[must_use]
    pub fn is_inpainting_model(&self) -> bool {
        self.unet_config.in_channels == 2 * self.unet_config.out_channels + 1
    }

    fn check(&self, r: &Request) -> Result<(), DiffusionError> {
        let step = self.size_step();
        let bad = |m: String| Err(DiffusionError::Request(m));
        if r.width == 0
            || r.height == 0
            || !r.width.is_multiple_of(step)
            || !r.height.is_multiple_of(step)
        {
            return bad(format!(
                "{}x{} is not a multiple of {step} on both sides",
                r.width, r.height
            ));
        }
        if r.width > 4096 || r.height > 4096 {
            return bad(format!(
                "{}x{} is larger than 4096 on a side",
                r.width, r.height
            ));
        }
        if r.steps == 0 || r.steps > 500 {
            return bad(format!("{} steps; use 1 to 500", r.steps));
        }
        if !r.guidance.is_finite() || r.guidance < 0.0 || r.guidance > 50.0 {
            return bad(format!("guidance {}; use 0 to 50", r.guidance));
        }
        if let Some(init) = &r.init {
            if init.image.width != r.width || init.image.height != r.height {
                return bad(format!(
                    "the start image is {}x{} but the request is {}x{}; resize it first",
                    init.image.width, init.image.height, r.width, r.height
                ));
            }
            if init.image.pixels.len() != (r.width * r.height * 3) as usize {
                return bad("the start image's pixel buffer does not match its size".into());
            }
            if !(init.strength > 0.0 && init.strength <= 1.0) {
                return bad(format!(
                    "strength {}; use more than 0 and at most 1",
                    init.strength
                ));
            }
            if let Some(mask) = &init.mask
                && mask.len() != (r.width * r.height) as usize
            {
                return bad("the mask does not match the request's size".into());
            }
        } else if self.is_inpainting_model() {
            return bad("this is an inpainting model: give a start image and a mask".into());
        }
        Ok(())
    }

    /// Draws one frame. `on_step` hears every step; `cancel` is checked between steps.
    pub fn generate(
        &self,
        r: &Request,
        cancel: Option<&CancelToken>,
        on_step: &mut dyn FnMut(Step<'_>),
    ) -> Result<RgbImage, DiffusionError> {
        self.check(r)?;
        let mut rng = ChaCha8Rng::seed_from_u64(r.seed);
        let guided = r.guidance > 1.0;
        let text = self.text.embed(
            &r.prompt,
            guided.then_some(r.negative_prompt.as_str()),
            &self.device,
        )?;
        let context = text.context.to_dtype(self.dtype())?;
        // SDXL: the pooled prompt and the size conditioning (original size = target size =
        // the request's, no crop), one row per guidance branch.
        let added = match (&text.pooled, self.unet.takes_added_conditioning()) {
            (Some(pooled), true) => {
                let rows = pooled.dim(0)?;
                let (h, w) = (f64::from(r.height), f64::from(r.width));
                let ids: Vec<f32> = (0..rows)
                    .flat_map(|_| [h, w, 0.0, 0.0, h, w])
                    .map(|v| v as f32)
                    .collect();
                let ids = Tensor::from_vec(ids, (rows, 6), &self.device)?.to_dtype(self.dtype())?;
                Some((pooled.to_dtype(self.dtype())?, ids))
            }
            _ => None,
        };
        let image_prompt = match &r.reference {
            Some(reference) => {
                self.check_ip_adapter(&reference.adapter)?;
                Some(reference.adapter.prompt(
                    &self.unet,
                    &reference.images,
                    guided,
                    reference.scale,
                )?)
            }
            None => None,
        };
        let cond = unet::Conditioning {
            context: &context,
            added: added.as_ref().map(|(p, t)| (p, t)),
            image: image_prompt.as_ref(),
        };
        let ds = self.vae.downscale;
        let shape = (
            1,
            self.vae.latent_channels,
            r.height as usize / ds,
            r.width as usize / ds,
        );
        let mut gaussian = || gaussian(&mut rng, shape, &self.device);
        let mut sampler = schedulers::sampler(r.scheduler, &self.schedule, r.steps);
        let n = sampler.timesteps().len();
        let scale = self.vae.scaling_factor;

        // Where the denoising starts, and the clean latents an img2img / inpaint keeps.
        let (start, mut latents, keep) = match &r.init {
            None => {
                let noise = gaussian()?;
                (0, (noise * sampler.init_noise_sigma())?, None)
            }
            Some(init) => {
                let pixels = to_tensor(&init.image, &self.device)?.to_dtype(self.vae_dtype)?;
                let (mean, logvar) = self.vae.encode_auto(&pixels)?;
                let (mean, logvar) = (mean.to_dtype(self.dtype())?, logvar.to_dtype(self.dtype())?);
                let eps = gaussian()?.to_dtype(self.dtype())?;
                let z0 = ((mean + (logvar * 0.5)?.exp()?.mul(&eps)?)? * scale)?;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let init_steps = ((n as f32 * init.strength) as usize).min(n);
                let start = (n - init_steps).min(n - 1);
                let noise = gaussian()?.to_dtype(self.dtype())?;
                let latents = sampler.add_noise(&z0, &noise, start)?;
                let mask = match &init.mask {
                    Some(m) => Some(
                        latent_mask(m, r.width, r.height, ds, &self.device)?
                            .to_dtype(self.dtype())?,
                    ),
                    None => None,
                };
                let masked_image = match (&mask, self.is_inpainting_model()) {
                    (Some(_), true) => {
                        let keep_px = pixel_keep_mask(init, r.width, r.height, &self.device)?
                            .to_dtype(self.vae_dtype)?;
                        let (m, _) = self.vae.encode_auto(&pixels.broadcast_mul(&keep_px)?)?;
                        Some((m.to_dtype(self.dtype())? * scale)?)
                    }
                    _ => None,
                };
                (start, latents, Some((z0, noise, mask, masked_image)))
            }
        };

        let total = n - start;
        for i in start..n {
            if cancel.is_some_and(CancelToken::is_cancelled) {
                return Err(DiffusionError::Cancelled);
            }
            let t = sampler.timesteps()[i];
            let input = if guided {
                Tensor::cat(&[&latents, &latents], 0)?
            } else {
                latents.clone()
            };
            let mut input = sampler.scale_model_input(&input, i)?;
            if let Some((_, _, Some(mask), Some(masked))) = &keep {
                let b = input.dim(0)?;
                let mask_b = mask.repeat((b, 1, 1, 1))?;
                let masked_b = masked.repeat((b, 1, 1, 1))?;
                input = Tensor::cat(&[&input, &mask_b, &masked_b], 1)?;
            }
            let out = self.unet.forward(&input, t, &cond)?;
            let out = if guided {
                let parts = out.chunk(2, 0)?;
                let (uncond, cond) = (&parts[0], &parts[1]);
                (uncond + ((cond - uncond)? * f64::from(r.guidance))?)?
            } else {
                out
            };
            latents = sampler.step(&out, i, &latents, &mut || {
                gaussian().and_then(|g| g.to_dtype(self.dtype()))
            })?;
            // A plain model inpaints by putting the kept region back, noised to the next level.
            if let Some((z0, noise, Some(mask), None)) = &keep {
                let known = if i + 1 < n {
                    sampler.add_noise(z0, noise, i + 1)?
                } else {
                    z0.clone()
                };
                let inv = (1.0 - mask)?;
                latents = (latents.broadcast_mul(mask)? + known.broadcast_mul(&inv)?)?;
            }
            let preview = if r.previews {
                // The sampler's estimate of the clean picture, not the noisy latents.
                Some(taesd::preview(
                    self.taesd.as_ref(),
                    sampler.denoised().unwrap_or(&latents),
                    self.text.xl,
                )?)
            } else {
                None
            };
            on_step(Step {
                step: i - start + 1,
                total,
                preview: preview.as_ref(),
            });
        }
        let pixels = self
            .vae
            .decode_auto(&(latents / scale)?.to_dtype(self.vae_dtype)?)?;
        to_image(&pixels)
    }

    fn dtype(&self) -> DType {
        if self.device.is_cuda() {
            DType::F16
        } else {
            DType::F32
        }
    }
}

/// The first `draws` noise tensors a request with `seed` draws, in order (for the reference
/// script, which feeds them to diffusers so both pipelines see the same noise).
pub fn noise_sequence(
    seed: u64,
    shape: (usize, usize, usize, usize),
    draws: usize,
) -> Result<Vec<Tensor>, DiffusionError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..draws)
        .map(|_| gaussian(&mut rng, shape, &Device::Cpu).map_err(DiffusionError::from))
        .collect()
}

/// Standard normal noise from the request's seed (Box-Muller over ChaCha8).
fn gaussian(
    rng: &mut ChaCha8Rng,
    shape: (usize, usize, usize, usize),
    device: &Device,
) -> candle_core::Result<Tensor> {
    use rand::Rng;
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let mut v = Vec::with_capacity(n + 1);
    while v.len() < n {
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        #[allow(clippy::cast_possible_truncation)]
        {
            v.push((r * a.cos()) as f32);
            v.push((r * a.sin()) as f32);
        }
    }
    v.truncate(n);
    Tensor::from_vec(v, shape, device)
}

/// `(1, 3, h, w)` in [-1, 1].
fn to_tensor(image: &RgbImage, device: &Device) -> candle_core::Result<Tensor> {
    let (w, h) = (image.width as usize, image.height as usize);
    let data: Vec<f32> = image
        .pixels
        .iter()
        .map(|&p| f32::from(p) / 127.5 - 1.0)
        .collect();
    Tensor::from_vec(data, (h, w, 3), device)?
        .permute((2, 0, 1))?
        .unsqueeze(0)?
        .contiguous()
}

/// `(1, 3, h, w)` in [-1, 1] to 8-bit RGB.
fn to_image(pixels: &Tensor) -> Result<RgbImage, DiffusionError> {
    let (_, _, h, w) = pixels.dims4()?;
    let bytes = ((pixels.get(0)?.to_dtype(DType::F32)? + 1.0)? * 127.5)?
        .clamp(0.0, 255.0)?
        .round()?
        .permute((1, 2, 0))?
        .flatten_all()?
        .to_dtype(DType::U8)?
        .to_vec1::<u8>()?;
    Ok(RgbImage {
        width: u32::try_from(w).unwrap_or(0),
        height: u32::try_from(h).unwrap_or(0),
        pixels: bytes,
    })
}

/// The mask at latent resolution: a latent is repainted where any of its pixels is.
fn latent_mask(
    mask: &[u8],
    width: u32,
    height: u32,
    ds: usize,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let (w, h) = (width as usize, height as usize);
    let (lw, lh) = (w / ds, h / ds);
    let mut out = vec![0f32; lw * lh];
    for (y, row) in mask.chunks(w).enumerate().take(h) {
        for (x, &m) in row.iter().enumerate() {
            if m >= 128 {
                out[(y / ds).min(lh - 1) * lw + (x / ds).min(lw - 1)] = 1.0;
            }
        }
    }
    Tensor::from_vec(out, (1, 1, lh, lw), device)
}

/// 1 where the start image is kept, 0 where it is repainted, at pixel resolution.
fn pixel_keep_mask(
    init: &InitImage,
    width: u32,
    height: u32,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let keep: Vec<f32> = init
        .mask
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|&m| if m >= 128 { 0.0 } else { 1.0 })
        .collect();
    Tensor::from_vec(keep, (1, 1, height as usize, width as usize), device)
}

/// SD's four latent channels to RGB by a fixed linear map (the factors ComfyUI uses for
/// SD 1.x / 2.x and, with `xl`, for SDXL's autoencoder): a preview in microseconds, at latent
/// resolution.
pub fn linear_preview(latents: &Tensor, xl: bool) -> Result<RgbImage, DiffusionError> {
    const SD: [[f32; 3]; 4] = [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ];
    const XL: [[f32; 3]; 4] = [
        [0.3651, 0.4232, 0.4341],
        [-0.2533, -0.0042, 0.1068],
        [0.1076, 0.1111, -0.0362],
        [-0.3165, -0.2492, -0.2188],
    ];
    let factors = if xl { &XL } else { &SD };
    let l = latents.get(0)?.to_dtype(DType::F32)?;
    let (c, h, w) = l.dims3()?;
    let data = l.flatten_all()?.to_vec1::<f32>()?;
    let mut pixels = Vec::with_capacity(h * w * 3);
    for i in 0..h * w {
        for rgb in 0..3 {
            let v: f32 = if c == 4 {
                factors
                    .iter()
                    .enumerate()
                    .map(|(ch, f)| data[ch * h * w + i] * f[rgb])
                    .sum()
            } else {
                (0..c).map(|ch| data[ch * h * w + i]).sum::<f32>() / c.max(1) as f32
            };
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            pixels.push(((v + 1.0) * 127.5).clamp(0.0, 255.0) as u8);
        }
    }
    Ok(RgbImage {
        width: u32::try_from(w).unwrap_or(0),
        height: u32::try_from(h).unwrap_or(0),
        pixels,
    })
}

impl std::fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("step", &self.step)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DiffusionModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffusionModel")
            .field("root", &self.root)
            .field("class_name", &self.class_name)
            .field("loras", &self.loras)
            .finish_non_exhaustive()
    }
}
