//! LoRA adapters merged into a model's weights at load: `W += scale * alpha / rank * up @ down`.
//!
//! Both namings in the wild are read:
//! * kohya / A1111: `lora_unet_<module with _ for .>.lora_down.weight`, `.lora_up.weight`,
//!   `.alpha`; `lora_te_...` (SDXL: `lora_te1_` / `lora_te2_`) for the text encoders;
//! * diffusers / PEFT: `unet.<module>.lora_A.weight` / `.lora_B.weight` (also `.lora.down` /
//!   `.lora_linear_layer.down` and the older `<module>_lora.down` processor form);
//!   `text_encoder.<module>...` / `text_encoder_2.<module>...` for the text encoders.
//!
//! Conv LoRAs (LoCon) and linear LoRAs over 1x1 convs are reshaped to the base weight.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::DiffusionError;
use super::layout::check_safetensors;

/// Which part of the model a LoRA entry changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    Unet,
    TextEncoder,
    /// SDXL's second text encoder (`lora_te2_`, `text_encoder_2.`).
    TextEncoder2,
}

#[derive(Clone)]
struct Pair {
    up: Option<Tensor>,
    down: Option<Tensor>,
    alpha: Option<f32>,
}

/// One LoRA file at a scale, its entries keyed by the module they change.
#[derive(Clone)]
pub struct LoraDelta {
    pub file: PathBuf,
    pub scale: f32,
    /// `(component, key)`: the key is `d:<dotted module>` or `k:<underscored module>`.
    pairs: HashMap<(Component, String), Pair>,
}

enum Part {
    Up,
    Down,
    Alpha,
}

/// Splits a LoRA tensor name into (component, module key, part).
fn classify(name: &str) -> Option<(Component, String, Part)> {
    let (component, rest, kohya) = if let Some(r) = name.strip_prefix("lora_unet_") {
        (Component::Unet, r, true)
    } else if let Some(r) = name
        .strip_prefix("lora_te_")
        .or_else(|| name.strip_prefix("lora_te1_"))
    {
        (Component::TextEncoder, r, true)
    } else if let Some(r) = name.strip_prefix("lora_te2_") {
        (Component::TextEncoder2, r, true)
    } else if let Some(r) = name.strip_prefix("unet.") {
        (Component::Unet, r, false)
    } else if let Some(r) = name.strip_prefix("text_encoder_2.") {
        (Component::TextEncoder2, r, false)
    } else if let Some(r) = name.strip_prefix("text_encoder.") {
        (Component::TextEncoder, r, false)
    } else {
        return None;
    };
    const SUFFIXES: [(&str, u8); 11] = [
        (".lora_down.weight", 0),
        (".lora_up.weight", 1),
        (".lora_A.weight", 0),
        (".lora_B.weight", 1),
        (".lora.down.weight", 0),
        (".lora.up.weight", 1),
        (".lora_linear_layer.down.weight", 0),
        (".lora_linear_layer.up.weight", 1),
        ("_lora.down.weight", 0),
        ("_lora.up.weight", 1),
        (".alpha", 2),
    ];
    let (module, part) = SUFFIXES.iter().find_map(|(suffix, part)| {
        rest.strip_suffix(suffix).map(|m| {
            (
                m,
                match part {
                    0 => Part::Down,
                    1 => Part::Up,
                    _ => Part::Alpha,
                },
            )
        })
    })?;
    let key = if kohya {
        format!("k:{module}")
    } else {
        // The old attention-processor form names `attn1.processor.to_q_lora`.
        format!("d:{}", module.replace(".processor.", "."))
    };
    Some((component, key, part))
}

impl LoraDelta {
    /// Reads a LoRA file (safetensors only).
    pub fn load(file: &Path, scale: f32) -> Result<Self, DiffusionError> {
        if !scale.is_finite() {
            return Err(DiffusionError::Request(format!(
                "LoRA {}: scale {scale} is not a number",
                file.display()
            )));
        }
        if file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("ckpt") || e.eq_ignore_ascii_case("pt"))
        {
            return Err(DiffusionError::Pickle {
                file: file.to_path_buf(),
            });
        }
        check_safetensors(file)?;
        let tensors = candle_core::safetensors::load(file, &Device::Cpu).map_err(|e| {
            DiffusionError::Corrupt {
                file: file.to_path_buf(),
                message: e.to_string(),
            }
        })?;
        let mut pairs: HashMap<(Component, String), Pair> = HashMap::new();
        for (name, t) in tensors {
            let Some((component, key, part)) = classify(&name) else {
                continue;
            };
            let p = pairs.entry((component, key)).or_insert(Pair {
                up: None,
                down: None,
                alpha: None,
            });
            match part {
                Part::Up => p.up = Some(t.to_dtype(DType::F32)?),
                Part::Down => p.down = Some(t.to_dtype(DType::F32)?),
                Part::Alpha => {
                    p.alpha = t
                        .to_dtype(DType::F32)?
                        .flatten_all()?
                        .to_vec1::<f32>()?
                        .first()
                        .copied();
                }
            }
        }
        pairs.retain(|_, p| p.up.is_some() && p.down.is_some());
        if pairs.is_empty() {
            return Err(DiffusionError::Corrupt {
                file: file.to_path_buf(),
                message: "no LoRA pairs (lora_down/lora_up or lora_A/lora_B) for the UNet or text encoder; is this a LoRA for Stable Diffusion?".into(),
            });
        }
        Ok(Self {
            file: file.to_path_buf(),
            scale,
            pairs,
        })
    }

    /// The entries for one component, or `None` when the file has none for it.
    #[must_use]
    pub fn for_component(&self, component: Component) -> Option<LoraDelta> {
        let pairs: HashMap<_, _> = self
            .pairs
            .iter()
            .filter(|((c, _), _)| *c == component)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!pairs.is_empty()).then(|| LoraDelta {
            file: self.file.clone(),
            scale: self.scale,
            pairs,
        })
    }

    /// The pair that changes `module` (a dotted weight path), by either naming: two hash
    /// lookups per component, not a scan.
    fn find(&self, module: &str) -> Option<&Pair> {
        let dotted = format!("d:{module}");
        let underscored = format!("k:{}", module.replace('.', "_"));
        [
            Component::Unet,
            Component::TextEncoder,
            Component::TextEncoder2,
        ]
        .into_iter()
        .find_map(|c| {
            self.pairs
                .get(&(c, dotted.clone()))
                .or_else(|| self.pairs.get(&(c, underscored.clone())))
        })
    }
}

/// `up @ down` shaped as `base`, times `scale * alpha / rank`.
fn delta(pair: &Pair, scale: f32, base: &Tensor) -> candle_core::Result<Tensor> {
    let (Some(up), Some(down)) = (&pair.up, &pair.down) else {
        candle_core::bail!("incomplete LoRA pair");
    };
    let rank = down.dim(0)?;
    let up2 = up.reshape((up.dim(0)?, ()))?.to_device(base.device())?;
    let down2 = down.reshape((rank, ()))?.to_device(base.device())?;
    let alpha = pair.alpha.unwrap_or(rank as f32);
    let factor = f64::from(scale * alpha / rank.max(1) as f32);
    up2.matmul(&down2)?.reshape(base.shape())? * factor
}

/// The base weights of `files` on `device` with every matching LoRA entry added (the
/// VarBuilder converts them to the model's dtype).
pub fn merged_tensors(
    files: &[PathBuf],
    loras: &[LoraDelta],
    device: &Device,
) -> Result<HashMap<String, Tensor>, DiffusionError> {
    let mut all = HashMap::new();
    for f in files {
        let t = candle_core::safetensors::load(f, device).map_err(|e| DiffusionError::Corrupt {
            file: f.clone(),
            message: e.to_string(),
        })?;
        all.extend(t);
    }
    let base = files
        .first()
        .map_or(Path::new("(no weight files)"), PathBuf::as_path);
    merge(&mut all, loras, base)?;
    Ok(all)
}

/// Adds every matching LoRA entry to `all` (weights already in memory, diffusers names);
/// `base` names the model in errors.
pub fn merge(
    all: &mut HashMap<String, Tensor>,
    loras: &[LoraDelta],
    base: &Path,
) -> Result<(), DiffusionError> {
    for lora in loras {
        let mut matched = 0usize;
        for (name, weight) in all.iter_mut() {
            let Some(module) = name.strip_suffix(".weight") else {
                continue;
            };
            let Some(pair) = lora.find(module) else {
                continue;
            };
            let base32 = weight.to_dtype(DType::F32)?;
            let d = delta(pair, lora.scale, &base32).map_err(|e| DiffusionError::Weights {
                file: lora.file.clone(),
                detail: format!("the LoRA for '{name}' does not fit its weight: {e}"),
            })?;
            *weight = (base32 + d)?;
            matched += 1;
        }
        if matched == 0 {
            return Err(DiffusionError::Weights {
                file: lora.file.clone(),
                detail: format!(
                    "none of its {} entries match a weight of {}; it was made for another model family",
                    lora.pairs.len(),
                    base.display()
                ),
            });
        }
    }
    Ok(())
}

impl std::fmt::Debug for LoraDelta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoraDelta")
            .field("file", &self.file)
            .field("scale", &self.scale)
            .field("pairs", &self.pairs.len())
            .finish()
    }
}
