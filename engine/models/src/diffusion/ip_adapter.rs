//! IP-Adapter: a reference picture as a prompt (Ye et al. 2023, "IP-Adapter: Text Compatible
//! Image Prompt Adapter"), so a character keeps their face and costume from shot to shot
//! without training a LoRA on them.
//!
//! Three parts, as diffusers loads them (`load_ip_adapter`):
//! * the **image encoder**, a CLIP vision tower with its projection
//!   (`CLIPVisionModelWithProjection`: `image_encoder/config.json` + `model.safetensors`,
//!   normally beside the adapter file, as in the `h94/IP-Adapter` repository);
//! * the adapter's **image projection** (`image_proj.proj`, `image_proj.norm`: diffusers'
//!   `ImageProjection`): the image embedding to a few context tokens;
//! * per cross-attention layer, **extra key and value projections** (`ip_adapter.N.to_k_ip`,
//!   `ip_adapter.N.to_v_ip`, N = 1, 3, 5, … in diffusers' processor order, see
//!   [`Unet::cross_attentions`]). Each layer attends to the image tokens with its own queries
//!   and adds the result, times the scale, to its text attention.
//!
//! Several reference pictures (the characters of a two-shot) give one set of tokens each,
//! concatenated, as diffusers does for a list of images. With classifier-free guidance the
//! negative branch sees the projection of an all-zero embedding, as diffusers' pipelines do.
//!
//! Not supported (refused by name at load): IP-Adapter Plus / Plus-Face (a Resampler, which
//! conditions on the encoder's penultimate hidden states) and FaceID (InsightFace embeddings).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};

use super::attention::ImagePrompt;
use super::clip::ClipVisionEncoder;
use super::config::{self, ImageProcessorConfig};
use super::layout;
use super::unet::Unet;
use super::{DiffusionError, RgbImage};
use crate::device::{DeviceChoice, resolve};

/// A loaded IP-Adapter with its image encoder.
pub struct IpAdapter {
    /// The adapter's weights (`ip-adapter_sd15.safetensors`).
    pub file: PathBuf,
    /// The image encoder's folder.
    pub encoder_dir: PathBuf,
    proj: Linear,
    norm: LayerNorm,
    /// Context tokens per reference picture (4 for the base adapters).
    pub tokens: usize,
    /// The width of those tokens: the UNet's `cross_attention_dim`.
    pub cross_dim: usize,
    /// `(to_k_ip, to_v_ip)` in processor order, with the name of the first's weight (errors).
    layers: Vec<(String, Linear, Linear)>,
    encoder: ClipVisionEncoder,
    processor: ImageProcessorConfig,
    device: Device,
    dtype: DType,
    weight_files: Vec<PathBuf>,
    hash: std::sync::OnceLock<String>,
}

fn corrupt(file: &Path, message: String) -> DiffusionError {
    DiffusionError::Corrupt {
        file: file.to_path_buf(),
        message,
    }
}

impl IpAdapter {
    /// Where the image encoder of the adapter at `file` is looked for when none is given: an
    /// `image_encoder/` folder beside the file, then beside its folder, then in its folder's
    /// sibling folders (by name): `h94/IP-Adapter` keeps `models/image_encoder` (ViT-H) and
    /// `sdxl_models/image_encoder` (ViT-bigG), and some `sdxl_models/` adapters use the former.
    #[must_use]
    pub fn encoder_candidates(file: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = file
            .ancestors()
            .skip(1)
            .take(2)
            .map(|dir| dir.join("image_encoder"))
            .collect();
        let folder = file.parent();
        if let Some(grand) = folder.and_then(Path::parent)
            && let Ok(entries) = std::fs::read_dir(grand)
        {
            let mut siblings: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir() && Some(p.as_path()) != folder)
                .map(|p| p.join("image_encoder"))
                .filter(|p| p.is_dir())
                .collect();
            siblings.sort();
            out.extend(siblings);
        }
        out
    }

    /// The image encoder of the adapter at `file`: of the
    /// [`encoder_candidates`](Self::encoder_candidates) that exist, the first whose projection is
    /// as wide as the adapter's image projection takes (h94's `sdxl_models/` holds a ViT-bigG
    /// encoder while its `ip-adapter_sdxl_vit-h` wants the ViT-H one in `models/`), else the
    /// first (whose mismatch [`load`](Self::load) then names).
    pub fn find_encoder(file: &Path) -> Result<PathBuf, DiffusionError> {
        let candidates = Self::encoder_candidates(file);
        let present: Vec<&PathBuf> = candidates
            .iter()
            .filter(|d| d.join("config.json").is_file())
            .collect();
        let Some(first) = present.first() else {
            return Err(DiffusionError::Missing {
                file: candidates.first().cloned().unwrap_or_default(),
                what: format!(
                    "the IP-Adapter's image encoder (a CLIP vision model: config.json and model.safetensors); looked in {}; put it there",
                    candidates
                        .iter()
                        .map(|c| c.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            });
        };
        // The header alone (a damaged file is reported when it is loaded).
        let wanted = layout::safetensors_entries(file)
            .ok()
            .and_then(|entries| {
                entries
                    .into_iter()
                    .find(|e| e.name == "image_proj.proj.weight")
            })
            .and_then(|e| e.shape.get(1).copied());
        let width = |dir: &Path| {
            let path = dir.join("config.json");
            let text = std::fs::read_to_string(&path).ok()?;
            config::clip_vision_config(&text, &path)
                .ok()
                .map(|c| c.projection_dim)
        };
        Ok(present
            .iter()
            .find(|d| wanted.is_some() && width(d) == wanted)
            .unwrap_or(first)
            .to_path_buf())
    }

    /// Loads the adapter at `file` and its image encoder (`encoder`, else the first of
    /// [`encoder_candidates`](Self::encoder_candidates) that exists).
    pub fn load(
        file: &Path,
        encoder: Option<&Path>,
        device: DeviceChoice,
    ) -> Result<Self, DiffusionError> {
        if file.extension().is_some_and(|e| {
            ["bin", "ckpt", "pt", "pth"]
                .iter()
                .any(|p| e.eq_ignore_ascii_case(p))
        }) {
            return Err(DiffusionError::Pickle {
                file: file.to_path_buf(),
            });
        }
        if !file.is_file() {
            return Err(DiffusionError::Missing {
                file: file.to_path_buf(),
                what: "an IP-Adapter (.safetensors with image_proj.* and ip_adapter.* tensors)"
                    .into(),
            });
        }
        let encoder_dir = match encoder {
            Some(dir) => dir.to_path_buf(),
            None => Self::find_encoder(file)?,
        };
        let device = resolve(device)?;
        let dtype = if device.is_cuda() {
            DType::F16
        } else {
            DType::F32
        };

        // The adapter file.
        let names = layout::check_safetensors(file)?;
        for (key, what) in [
            (
                "image_proj.latents",
                "IP-Adapter Plus (a Resampler image projection)",
            ),
            (
                "image_proj.proj.0.weight",
                "IP-Adapter Full-Face / FaceID (an MLP image projection)",
            ),
            (
                "image_proj.perceiver_resampler.proj_in.weight",
                "IP-Adapter FaceID Plus",
            ),
        ] {
            if names.iter().any(|n| n == key) {
                return Err(DiffusionError::Unsupported {
                    file: file.to_path_buf(),
                    what: format!(
                        "{what}; use a base adapter (ip-adapter_sd15, ip-adapter_sd15_light, ip-adapter_sdxl, ip-adapter_sdxl_vit-h)"
                    ),
                });
            }
        }
        let tensors = candle_core::safetensors::load(file, &Device::Cpu)
            .map_err(|e| corrupt(file, e.to_string()))?;
        let get = |name: &str| -> Result<Tensor, DiffusionError> {
            let t = tensors.get(name).ok_or_else(|| DiffusionError::Weights {
                file: file.to_path_buf(),
                detail: format!("no tensor '{name}'; is this an IP-Adapter?"),
            })?;
            Ok(t.to_dtype(dtype)?.to_device(&device)?)
        };
        let proj_w = get("image_proj.proj.weight")?;
        let proj_b = get("image_proj.proj.bias")?;
        let norm_w = get("image_proj.norm.weight")?;
        let norm_b = get("image_proj.norm.bias")?;
        let cross_dim = norm_w.dim(0)?;
        let (proj_out, embed_dim) = proj_w.dims2()?;
        if cross_dim == 0 || proj_out % cross_dim != 0 || proj_b.dims() != [proj_out] {
            return Err(DiffusionError::Weights {
                file: file.to_path_buf(),
                detail: format!(
                    "image_proj.proj.weight is {:?} but image_proj.norm is {cross_dim} wide: the projection must make whole tokens of that width",
                    proj_w.dims()
                ),
            });
        }
        let mut layers = Vec::new();
        for id in (1..).step_by(2) {
            let k_name = format!("ip_adapter.{id}.to_k_ip.weight");
            if !tensors.contains_key(&k_name) {
                break;
            }
            let k = get(&k_name)?;
            let v = get(&format!("ip_adapter.{id}.to_v_ip.weight"))?;
            if k.dims() != v.dims() || k.rank() != 2 || k.dim(1)? != cross_dim {
                return Err(DiffusionError::Weights {
                    file: file.to_path_buf(),
                    detail: format!(
                        "{k_name} is {:?} and its to_v_ip {:?}; both must be [inner, {cross_dim}]",
                        k.dims(),
                        v.dims()
                    ),
                });
            }
            layers.push((k_name, Linear::new(k, None), Linear::new(v, None)));
        }
        if layers.is_empty() {
            return Err(DiffusionError::Weights {
                file: file.to_path_buf(),
                detail: "no ip_adapter.1.to_k_ip.weight: the file has no per-layer key and value projections".into(),
            });
        }

        // The image encoder.
        let config_path = encoder_dir.join("config.json");
        if !config_path.is_file() {
            return Err(DiffusionError::Missing {
                file: config_path,
                what: "the image encoder's config (a CLIP vision model)".into(),
            });
        }
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| DiffusionError::io(&config_path, &e))?;
        let vision = config::clip_vision_config(&text, &config_path)?;
        if vision.projection_dim != embed_dim {
            return Err(DiffusionError::Config {
                file: config_path,
                line: 0,
                message: format!(
                    "the image encoder projects to {} but {} expects image embeddings of {embed_dim}; use the encoder the adapter was trained with (ViT-H/14 for most, ViT-bigG/14 for ip-adapter_sdxl)",
                    vision.projection_dim,
                    file.display()
                ),
            });
        }
        let processor_path = encoder_dir.join("preprocessor_config.json");
        let processor = if processor_path.is_file() {
            let text = std::fs::read_to_string(&processor_path)
                .map_err(|e| DiffusionError::io(&processor_path, &e))?;
            config::parse_json(&text, &processor_path)?
        } else {
            ImageProcessorConfig::for_size(vision.image_size)
        };
        let encoder_files = layout::weight_files(&encoder_dir, "model")?;
        for f in &encoder_files {
            layout::check_safetensors(f)?;
        }
        let mut encoder_tensors = HashMap::new();
        for f in &encoder_files {
            encoder_tensors.extend(
                candle_core::safetensors::load(f, &device)
                    .map_err(|e| corrupt(f, e.to_string()))?,
            );
        }
        let vb = VarBuilder::from_tensors(encoder_tensors, dtype, &device);
        let encoder =
            ClipVisionEncoder::new(&vb, &vision).map_err(|e| DiffusionError::Weights {
                file: encoder_files.first().cloned().unwrap_or_default(),
                detail: e.to_string(),
            })?;
        let mut weight_files = vec![file.to_path_buf()];
        weight_files.extend(encoder_files);
        Ok(Self {
            file: file.to_path_buf(),
            encoder_dir,
            proj: Linear::new(proj_w, Some(proj_b)),
            norm: LayerNorm::new(norm_w, norm_b, 1e-5),
            tokens: proj_out / cross_dim,
            cross_dim,
            layers,
            encoder,
            processor,
            device,
            dtype,
            weight_files,
            hash: std::sync::OnceLock::new(),
        })
    }

    /// The device its weights are on.
    #[must_use]
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// About how many bytes the adapter at `file` and its encoder take once loaded.
    pub fn estimate_bytes(file: &Path, device: DeviceChoice) -> Result<u64, DiffusionError> {
        let per = if matches!(resolve(device), Ok(d) if d.is_cuda()) {
            2
        } else {
            4
        };
        let mut n = layout::parameter_count(file)?;
        if let Ok(dir) = Self::find_encoder(file) {
            for f in layout::weight_files(&dir, "model")? {
                n += layout::parameter_count(&f)?;
            }
        }
        Ok(n * per)
    }

    /// A hash of the adapter's and the encoder's weights (for a take's provenance), computed
    /// once.
    pub fn content_hash(&self) -> Result<String, DiffusionError> {
        if let Some(h) = self.hash.get() {
            return Ok(h.clone());
        }
        let mut h = blake3::Hasher::new();
        for f in &self.weight_files {
            h.update_mmap(f).map_err(|e| DiffusionError::io(f, &e))?;
        }
        let hex = h.finalize().to_hex().to_string();
        Ok(self.hash.get_or_init(|| hex).clone())
    }

    /// The encoder's input for one picture, `(1, 3, H, W)`: resized so its shortest side is
    /// the processor's (bicubic), centre-cropped, scaled to [0, 1] and normalised, as
    /// transformers' `CLIPImageProcessor` does.
    pub fn pixel_values(&self, image: &RgbImage) -> Result<Tensor, DiffusionError> {
        let p = &self.processor;
        let size = self.encoder.image_size;
        let bad = |m: String| DiffusionError::Request(format!("reference image: {m}"));
        if image.width == 0
            || image.height == 0
            || image.pixels.len() != (image.width * image.height * 3) as usize
        {
            return Err(bad(format!(
                "{}x{} with {} bytes is not an RGB picture",
                image.width,
                image.height,
                image.pixels.len()
            )));
        }
        let mut buf: image::RgbImage =
            image::ImageBuffer::from_raw(image.width, image.height, image.pixels.clone())
                .ok_or_else(|| bad("the pixel buffer does not match its size".into()))?;
        if p.do_resize {
            let edge = p.shortest_edge(size).max(1) as f64;
            let (w, h) = (f64::from(buf.width()), f64::from(buf.height()));
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let (nw, nh) = if w <= h {
                (edge as u32, (edge * h / w) as u32)
            } else {
                ((edge * w / h) as u32, edge as u32)
            };
            if (nw, nh) != (buf.width(), buf.height()) {
                buf = image::imageops::resize(
                    &buf,
                    nw.max(1),
                    nh.max(1),
                    image::imageops::FilterType::CatmullRom,
                );
            }
        }
        let (ch, cw) = if p.do_center_crop {
            p.crop(size)
        } else {
            (buf.height() as usize, buf.width() as usize)
        };
        if (ch, cw) != (size, size) {
            return Err(DiffusionError::Request(format!(
                "the image encoder's processor crops to {cw}x{ch} but the encoder takes {size}x{size}"
            )));
        }
        // transformers' centre crop: the top-left corner at the floor of half the excess;
        // a picture smaller than the crop is padded with zeros around it.
        let (w, h) = (buf.width() as i64, buf.height() as i64);
        let top = (h - ch as i64).div_euclid(2);
        let left = (w - cw as i64).div_euclid(2);
        let mut data = vec![0f32; 3 * ch * cw];
        for y in 0..ch {
            for x in 0..cw {
                let (sy, sx) = (top + y as i64, left + x as i64);
                for c in 0..3 {
                    let v = if (0..h).contains(&sy) && (0..w).contains(&sx) {
                        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
                        let px = buf.get_pixel(sx as u32, sy as u32);
                        f32::from(px[c]) / 255.0
                    } else {
                        0.0
                    };
                    data[c * ch * cw + y * cw + x] = if p.do_normalize {
                        (v - p.image_mean[c]) / p.image_std[c]
                    } else {
                        v
                    };
                }
            }
        }
        Ok(Tensor::from_vec(data, (1, 3, ch, cw), &self.device)?.to_dtype(self.dtype)?)
    }

    /// The image embeddings of `images`, `(images, projection_dim)`.
    pub fn image_embeds(&self, images: &[RgbImage]) -> Result<Tensor, DiffusionError> {
        let pixels = images
            .iter()
            .map(|i| self.pixel_values(i))
            .collect::<Result<Vec<_>, _>>()?;
        let pixels = Tensor::cat(&pixels, 0)?;
        Ok(self.encoder.image_embeds(&pixels)?)
    }

    /// Checks that the adapter was made for this UNet: one pair of projections per
    /// cross-attention layer, each as wide as the layer.
    pub fn check(&self, unet: &Unet, model: &Path) -> Result<(), DiffusionError> {
        let layers = unet.cross_attentions();
        let other = |detail: String| DiffusionError::Weights {
            file: self.file.clone(),
            detail: format!(
                "{detail}: the adapter was made for another base model than {}",
                model.display()
            ),
        };
        if layers.len() != self.layers.len() {
            return Err(other(format!(
                "{} pairs of ip_adapter.N.to_k_ip / to_v_ip but the UNet has {} cross-attention layers",
                self.layers.len(),
                layers.len()
            )));
        }
        for (attn, (name, k, _)) in layers.iter().zip(&self.layers) {
            let (path, shape) = attn.key_shape();
            let (inner, ctx) = k.weight().dims2()?;
            if (inner, ctx) != shape {
                return Err(other(format!(
                    "{name} is [{inner}, {ctx}] but {path} needs [{}, {}]",
                    shape.0, shape.1
                )));
            }
        }
        Ok(())
    }

    /// Every cross-attention layer's keys and values of the image tokens of `images`, one
    /// batch row per guidance branch (the negative first, from an all-zero embedding), for
    /// [`Unet::forward`] through its conditioning.
    pub fn prompt(
        &self,
        unet: &Unet,
        images: &[RgbImage],
        guided: bool,
        scale: f32,
    ) -> Result<ImagePrompt, DiffusionError> {
        if images.is_empty() {
            return Err(DiffusionError::Request(
                "an image prompt needs at least one reference picture".into(),
            ));
        }
        if !scale.is_finite() || !(0.0..=2.0).contains(&scale) {
            return Err(DiffusionError::Request(format!(
                "reference scale {scale}; use 0 to 2 (diffusers' set_ip_adapter_scale; 0.5-0.8 usual)"
            )));
        }
        let embeds = self.image_embeds(images)?;
        let tokens = |e: &Tensor| -> Result<Tensor, DiffusionError> {
            // (images, E) → (images, T, C) → (1, images·T, C)
            let t = self
                .proj
                .forward(e)?
                .reshape((images.len(), self.tokens, self.cross_dim))?;
            Ok(self
                .norm
                .forward(&t)?
                .reshape((1, images.len() * self.tokens, self.cross_dim))?)
        };
        let cond = tokens(&embeds)?;
        let batch = if guided {
            Tensor::cat(&[&tokens(&embeds.zeros_like()?)?, &cond], 0)?
        } else {
            cond
        };
        let mut layers = HashMap::with_capacity(self.layers.len());
        for (attn, (_, k, v)) in unet.cross_attentions().iter().zip(&self.layers) {
            let (path, _) = attn.key_shape();
            layers.insert(path.to_owned(), (k.forward(&batch)?, v.forward(&batch)?));
        }
        Ok(ImagePrompt {
            layers,
            scale: f64::from(scale),
        })
    }
}

impl std::fmt::Debug for IpAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpAdapter")
            .field("file", &self.file)
            .field("encoder_dir", &self.encoder_dir)
            .field("tokens", &self.tokens)
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}
