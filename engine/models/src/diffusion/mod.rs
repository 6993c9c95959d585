//! Stable Diffusion on candle: text-to-image, image-to-image and inpainting from a diffusers
//! folder or a single-file checkpoint, with classifier-free guidance, seeded samplers, per-step
//! progress with a cheap preview, and cancellation between steps.
//!
//! * [`layout`]: where the files are (diffusers folder, Hugging Face cache, shards) and checks.
//! * [`config`]: the folder's JSON configs.
//! * [`clip`]: tokenizer and text encoder.
//! * [`vae`]: the autoencoder.
//! * [`schedulers`]: DDIM, Euler ancestral, DPM-Solver++ 2M.
//! * [`lora`]: LoRA adapters (kohya and diffusers naming) merged into the weights at load.
//! * [`single_file`]: single-file checkpoints (A1111 / civitai, original LDM names) converted
//!   to diffusers names and configs in memory.
//! * [`tiny`]: tiny random-weight models of the real architecture, for tests and benchmarks.
//!
//! The UNet is candle-transformers' `UNet2DConditionModel`, configured from `unet/config.json`.

pub mod clip;
pub mod config;
pub mod layout;
pub mod lora;
pub mod schedulers;
pub mod single_file;
pub mod tiny;
pub mod vae;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::stable_diffusion::unet_2d::UNet2DConditionModel;
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
    /// Decode a preview every step (a linear map of the latents: microseconds).
    pub previews: bool,
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
        }
    }
}

/// Progress after a denoising step.
pub struct Step<'a> {
    /// 1-based.
    pub step: usize,
    pub total: usize,
    /// The current estimate of the final image at latent resolution.
    pub preview: Option<&'a RgbImage>,
}

/// A loaded Stable Diffusion model.
pub struct DiffusionModel {
    pub root: PathBuf,
    /// The pipeline class `model_index.json` names.
    pub class_name: String,
    tokenizer: clip::ClipTokenizer,
    text_encoder: clip::ClipTextEncoder,
    unet: UNet2DConditionModel,
    unet_config: config::UnetConfig,
    vae: vae::Vae,
    schedule: schedulers::Schedule,
    device: Device,
    /// Every weight file, in load order (for hashing and provenance).
    pub weight_files: Vec<PathBuf>,
    /// LoRAs merged into the weights: (file, scale).
    pub loras: Vec<(PathBuf, f32)>,
}

/// Options for loading.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub device: DeviceChoice,
    /// LoRA adapters merged at load: (file, scale).
    pub loras: Vec<(PathBuf, f32)>,
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

/// Everything a model is built from, whichever layout it came in: the folder loader
/// ([`DiffusionModel::load`]) and the single-file loader ([`single_file`]) both fill one and
/// hand it to [`DiffusionModel::build`].
pub(crate) struct Parts {
    pub root: PathBuf,
    pub class_name: String,
    pub unet_config: ConfigText,
    pub vae_config: ConfigText,
    pub clip_config: ConfigText,
    /// `None`: Stable Diffusion's training schedule.
    pub schedule_config: Option<ConfigText>,
    /// vocab.json + merges.txt (or tokenizer.json).
    pub tokenizer_dir: PathBuf,
    pub text_encoder: Weights,
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
        if index.text_encoder_2.is_some() {
            return Err(DiffusionError::Unsupported {
                file: index_path,
                what: "SDXL (two text encoders and size conditioning)".into(),
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
        let clip_config = ConfigText::read(p("text_encoder", "config.json"))?;
        let text_files = layout::weight_files(&root.join("text_encoder"), "model")?;
        let unet_files = layout::weight_files(&root.join("unet"), "diffusion_pytorch_model")?;
        let vae_files = layout::weight_files(&root.join("vae"), "diffusion_pytorch_model")?;
        let weight_files = [text_files.clone(), unet_files.clone(), vae_files.clone()].concat();
        Self::build(
            Parts {
                tokenizer_dir: root.join("tokenizer"),
                root,
                class_name: index.class_name,
                unet_config,
                vae_config,
                clip_config,
                schedule_config,
                text_encoder: Weights::Files(text_files),
                unet: Weights::Files(unet_files),
                vae: Weights::Files(vae_files),
                weight_files,
            },
            options,
        )
    }

    /// Builds a model from its configs and weights, checking that they fit each other.
    fn build(mut parts: Parts, options: &LoadOptions) -> Result<Self, DiffusionError> {
        let device = resolve(options.device)?;
        let dtype = if device.is_cuda() {
            DType::F16
        } else {
            DType::F32
        };
        let (uc, vc, cc) = (&parts.unet_config, &parts.vae_config, &parts.clip_config);
        let unet_config = config::unet_config(&uc.text, &uc.path)?;
        let vae_config = config::vae_config(&vc.text, &vc.path)?;
        let clip_config = config::clip_config(&cc.text, &cc.path)?;
        let schedule_config = match &parts.schedule_config {
            Some(s) => config::schedule_config(&s.text, &s.path)?,
            None => config::ScheduleConfig::default(),
        };
        if clip_config.hidden_size != unet_config.cross_attention_dim {
            return Err(DiffusionError::Config {
                file: uc.path.clone(),
                line: 0,
                message: format!(
                    "cross_attention_dim {} does not match the text encoder's hidden_size {}",
                    unet_config.cross_attention_dim, clip_config.hidden_size
                ),
            });
        }
        let tokenizer =
            clip::ClipTokenizer::load(&parts.tokenizer_dir, clip_config.max_position_embeddings)?;

        let mut deltas = Vec::new();
        for (file, scale) in &options.loras {
            deltas.push(lora::LoraDelta::load(file, *scale)?);
        }
        let text_deltas: Vec<lora::LoraDelta> = deltas
            .iter()
            .filter_map(|d| d.for_component(lora::Component::TextEncoder))
            .collect();
        let unet_deltas: Vec<lora::LoraDelta> = deltas
            .iter()
            .filter_map(|d| d.for_component(lora::Component::Unet))
            .collect();

        let vb = parts
            .text_encoder
            .var_builder(dtype, &device, &text_deltas)?;
        let text_encoder = clip::ClipTextEncoder::new(&vb, &clip_config)
            .map_err(|e| parts.text_encoder.error(&e))?;
        let vb = parts.unet.var_builder(dtype, &device, &unet_deltas)?;
        let unet = UNet2DConditionModel::new(
            vb,
            unet_config.in_channels,
            unet_config.out_channels,
            false,
            unet_config.candle.clone(),
        )
        .map_err(|e| parts.unet.error(&e))?;
        let vb = parts.vae.var_builder(dtype, &device, &[])?;
        let vae = vae::Vae::new(&vb, &vae_config).map_err(|e| parts.vae.error(&e))?;
        if vae.latent_channels != unet_config.out_channels {
            return Err(DiffusionError::Config {
                file: parts.vae_config.path.clone(),
                line: 0,
                message: format!(
                    "latent_channels {} does not match the UNet's out_channels {}",
                    vae.latent_channels, unet_config.out_channels
                ),
            });
        }
        Ok(Self {
            root: parts.root,
            class_name: parts.class_name,
            tokenizer,
            text_encoder,
            unet,
            unet_config,
            vae,
            schedule: schedulers::Schedule::new(&schedule_config),
            device,
            weight_files: parts.weight_files,
            loras: options.loras.clone(),
        })
    }

    /// blake3 over every weight file (and each LoRA), hex: the provenance's model hash.
    pub fn content_hash(&self) -> Result<String, DiffusionError> {
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
        Ok(h.finalize().to_hex().to_string())
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

    /// Whether the UNet takes the mask and masked image (a dedicated inpainting model).
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
        let emb = clip::embed_prompts(
            &self.tokenizer,
            &self.text_encoder,
            &r.prompt,
            guided.then_some(r.negative_prompt.as_str()),
            &self.device,
        )?
        .to_dtype(self.dtype())?;
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
                let pixels = to_tensor(&init.image, &self.device)?.to_dtype(self.dtype())?;
                let (mean, logvar) = self.vae.encode(&pixels)?;
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
                            .to_dtype(self.dtype())?;
                        let (m, _) = self.vae.encode(&pixels.broadcast_mul(&keep_px)?)?;
                        Some((m * scale)?)
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
            let out = self.unet.forward(&input, t, &emb)?;
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
                Some(linear_preview(sampler.denoised().unwrap_or(&latents))?)
            } else {
                None
            };
            on_step(Step {
                step: i - start + 1,
                total,
                preview: preview.as_ref(),
            });
        }
        let pixels = self.vae.decode(&(latents / scale)?)?;
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

/// SD's four latent channels to RGB by a fixed linear map (the factors ComfyUI and A1111 use
/// for SD 1.x / 2.x): a preview in microseconds, at latent resolution.
pub fn linear_preview(latents: &Tensor) -> Result<RgbImage, DiffusionError> {
    const FACTORS: [[f32; 3]; 4] = [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ];
    let l = latents.get(0)?.to_dtype(DType::F32)?;
    let (c, h, w) = l.dims3()?;
    let data = l.flatten_all()?.to_vec1::<f32>()?;
    let mut pixels = Vec::with_capacity(h * w * 3);
    for i in 0..h * w {
        for rgb in 0..3 {
            let v: f32 = if c == 4 {
                FACTORS
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
