//! Single-file Stable Diffusion checkpoints (the A1111 / civitai `.safetensors` with the
//! original LDM tensor names) converted in memory to diffusers names and configs, so that
//! [`DiffusionModel::load`] builds the same components from one file as from a folder.
//!
//! Covered:
//! * SD 1.x (`cond_stage_model.transformer.*`, transformers-style CLIP),
//! * SD 2.x (`cond_stage_model.model.*`, OpenCLIP: `in_proj_weight` split into q/k/v,
//!   `resblocks` to `layers`; the last layer is dropped, as SD 2 conditions on the penultimate),
//! * inpainting variants of both (9 UNet input channels),
//! * SDXL base (`conditioner.embedders.0.transformer.*` and `conditioner.embedders.1.model.*`
//!   with `text_projection`; the UNet's `label_emb` becomes `add_embedding`); its second
//!   tokenizer is the same CLIP vocabulary padding with "!", and an empty negative prompt
//!   conditions on zeros (`force_zeros_for_empty_prompt`), as diffusers' SDXL pipeline.
//!
//! The configs are inferred from tensor shapes (channels, layers per block, transformer depth,
//! cross-attention dim, context length, in/out channels). What the weights cannot show follows
//! each family's rule: attention heads (SD 1: 8 per block; SD 2 and SDXL: 64-dim heads; CLIP:
//! 64-dim heads), group-norm groups (32), the VAE's scaling factor (0.18215; SDXL 0.13025),
//! the prediction type (epsilon). Three ways to say otherwise, strongest first:
//! [`SingleFileOptions::prediction_type`]; [`SingleFileOptions::config`], a diffusers folder
//! whose configs are used instead (as diffusers' `from_single_file(config=...)`); a sidecar
//! `<name>.yaml` (the LDM config A1111 reads) of which only `parameterization`,
//! `scale_factor`, `num_heads` and `num_head_channels` are read, by a line scan rather than a
//! YAML parser (enough for the configs Stability ships; anchors or flow style are not read).
//!
//! A single file carries no tokenizer: [`SingleFileOptions::tokenizer`] names one, else the
//! config folder's `tokenizer/`, else a `tokenizer/` folder beside the checkpoint, else
//! `clip-tokenizer/` in a models directory (written by `python3 models/clip_tokenizer.py` from
//! the PyPI wheel of open_clip).
//!
//! Not covered: pickled checkpoints (`.ckpt`, `.pt`, `.bin`: refused, they can run code), the
//! SDXL refiner (OpenCLIP only), upscalers, unCLIP, ControlNet, SD 3 / Flux, checkpoints that
//! are already in diffusers naming, VAE-only or LoRA files. EMA weights (`model_ema.*`) are
//! ignored (the regular weights are used), as are the training buffers (`betas`,
//! `alphas_cumprod`, ...) and losses (`first_stage_model.loss.*`); they are listed in
//! [`Converted::ignored`]. Any other tensor under the UNet, VAE or text-encoder prefixes that
//! has no diffusers counterpart is an error naming it, not silently dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::{Value, json};

use super::layout::{TensorEntry, safetensors_entries};
use super::{ConfigText, DiffusionError, DiffusionModel, LoadOptions, Parts, TextPart, Weights};

/// Which Stable Diffusion a checkpoint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Sd1,
    Sd2,
    Sdxl,
}

/// How to read a single-file checkpoint.
#[derive(Clone, Debug, Default)]
pub struct SingleFileOptions {
    /// A diffusers folder (or Hugging Face cache entry) whose configs to use instead of the
    /// inferred ones, as diffusers' `from_single_file(config=...)`; its `tokenizer/` too.
    pub config: Option<PathBuf>,
    /// `epsilon` or `v_prediction`: the weights cannot tell (SD 2.x 768 is v-prediction).
    pub prediction_type: Option<String>,
    /// A tokenizer folder: `vocab.json` + `merges.txt` (or `tokenizer.json`).
    pub tokenizer: Option<PathBuf>,
}

/// One component in diffusers form.
#[derive(Debug)]
pub struct Component {
    /// Its diffusers config (`unet/config.json`, ...), JSON text.
    pub config: String,
    /// Where the config came from: the config folder's file, or `<checkpoint>#<name>` when
    /// inferred (errors name it).
    pub config_path: PathBuf,
    /// The weights under diffusers names, in the checkpoint's dtype.
    pub tensors: HashMap<String, Tensor>,
    /// Diffusers name to the checkpoint's name (several diffusers names can share one: q/k/v).
    pub origin: HashMap<String, String>,
}

/// A checkpoint converted to diffusers names and configs.
#[derive(Debug)]
pub struct Converted {
    pub file: PathBuf,
    pub family: Family,
    pub inpainting: bool,
    /// The diffusers pipeline class (`StableDiffusionPipeline`, ...).
    pub class_name: String,
    /// `unet`, `vae`, `text_encoder`, and `text_encoder_2` for SDXL.
    pub components: BTreeMap<String, Component>,
    /// `scheduler/scheduler_config.json`, JSON text.
    pub scheduler_config: String,
    /// Tensors of the file that were not used (EMA, training buffers, SD 2's last text layer).
    pub ignored: Vec<String>,
}

/// Whether `path` is a single-file checkpoint [`DiffusionModel::load`] should convert.
#[must_use]
pub fn is_single_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// Whether `path` is a single-file Stable Diffusion checkpoint (its header names an LDM UNet),
/// not a LoRA or another safetensors file: what the model registry lists as a diffusion model.
/// Reads only the header.
#[must_use]
pub fn looks_like_checkpoint(path: &Path) -> bool {
    is_single_file(path)
        && safetensors_entries(path)
            .is_ok_and(|entries| entries.iter().any(|e| e.name.starts_with(UNET_PREFIX)))
}

// ---------------------------------------------------------------------------------------------
// Name tables (LDM -> diffusers). Modules are matched without their `.weight` / `.bias`.

const UNET_PREFIX: &str = "model.diffusion_model.";
const VAE_PREFIXES: [&str; 2] = ["first_stage_model.", "vae."];

/// Whole-module renames of the UNet.
const UNET_FIXED: [(&str, &str); 7] = [
    ("time_embed.0", "time_embedding.linear_1"),
    ("time_embed.2", "time_embedding.linear_2"),
    ("input_blocks.0.0", "conv_in"),
    ("out.0", "conv_norm_out"),
    ("out.2", "conv_out"),
    // SDXL's size/crop conditioning (`num_classes: sequential` in the LDM config).
    ("label_emb.0.0", "add_embedding.linear_1"),
    ("label_emb.0.2", "add_embedding.linear_2"),
];

/// Parts of a UNet resnet.
const UNET_RESNET: [(&str, &str); 6] = [
    ("in_layers.0", "norm1"),
    ("in_layers.2", "conv1"),
    ("emb_layers.1", "time_emb_proj"),
    ("out_layers.0", "norm2"),
    ("out_layers.3", "conv2"),
    ("skip_connection", "conv_shortcut"),
];

/// Whole-module renames of the autoencoder.
const VAE_FIXED: [(&str, &str); 8] = [
    ("encoder.conv_in", "encoder.conv_in"),
    ("encoder.conv_out", "encoder.conv_out"),
    ("encoder.norm_out", "encoder.conv_norm_out"),
    ("decoder.conv_in", "decoder.conv_in"),
    ("decoder.conv_out", "decoder.conv_out"),
    ("decoder.norm_out", "decoder.conv_norm_out"),
    ("quant_conv", "quant_conv"),
    ("post_quant_conv", "post_quant_conv"),
];

/// Parts of an autoencoder resnet.
const VAE_RESNET: [(&str, &str); 5] = [
    ("norm1", "norm1"),
    ("conv1", "conv1"),
    ("norm2", "norm2"),
    ("conv2", "conv2"),
    ("nin_shortcut", "conv_shortcut"),
];

/// Parts of the autoencoder's mid-block attention (1x1 convs in LDM, linears in diffusers).
const VAE_ATTENTION: [(&str, &str); 5] = [
    ("norm", "group_norm"),
    ("q", "to_q"),
    ("k", "to_k"),
    ("v", "to_v"),
    ("proj_out", "to_out.0"),
];

/// OpenCLIP tensors outside the layers (`text_projection` only kept for SDXL).
const OPENCLIP_FIXED: [(&str, &str); 5] = [
    (
        "token_embedding.weight",
        "text_model.embeddings.token_embedding.weight",
    ),
    (
        "positional_embedding",
        "text_model.embeddings.position_embedding.weight",
    ),
    ("ln_final.weight", "text_model.final_layer_norm.weight"),
    ("ln_final.bias", "text_model.final_layer_norm.bias"),
    ("text_projection", "text_projection.weight"),
];

/// Parts of an OpenCLIP layer (`attn.in_proj_*` is split into q/k/v separately).
const OPENCLIP_LAYER: [(&str, &str); 5] = [
    ("ln_1", "layer_norm1"),
    ("ln_2", "layer_norm2"),
    ("attn.out_proj", "self_attn.out_proj"),
    ("mlp.c_fc", "mlp.fc1"),
    ("mlp.c_proj", "mlp.fc2"),
];

/// OpenCLIP / CLIP tensors with no diffusers counterpart.
const TEXT_IGNORED: [&str; 4] = [
    "logit_scale",
    "attn_mask",
    "text_model.embeddings.position_ids",
    "embeddings.position_ids",
];

fn lookup<'a>(table: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// `a.b.weight` -> (`a.b`, `weight`).
fn split_param(name: &str) -> Option<(&str, &str)> {
    name.rsplit_once('.')
}

// ---------------------------------------------------------------------------------------------
// Reading the file.

/// How a checkpoint tensor becomes a diffusers one.
#[derive(Clone, Copy, Debug)]
enum Transform {
    Same,
    /// A 1x1 convolution kernel to a linear weight (`[o, i, 1, 1]` -> `[o, i]`).
    ToLinear,
    /// Rows `part` of `of` equal parts (OpenCLIP's fused q/k/v).
    Rows {
        part: usize,
        of: usize,
    },
    /// OpenCLIP's `text_projection` is applied as `x @ P`; a linear weight is `P^T`.
    Transpose,
}

impl Transform {
    fn shape(self, s: &[usize]) -> Vec<usize> {
        match self {
            Transform::Same => s.to_vec(),
            Transform::ToLinear => s.iter().take(2).copied().collect(),
            Transform::Rows { of, .. } => {
                let mut v = s.to_vec();
                if let Some(first) = v.first_mut() {
                    *first /= of;
                }
                v
            }
            Transform::Transpose => s.iter().rev().copied().collect(),
        }
    }

    fn apply(self, t: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Transform::Same => Ok(t.clone()),
            Transform::ToLinear => {
                let d = t.dims();
                if d.len() > 2 {
                    t.reshape((d[0], d[1]))
                } else {
                    Ok(t.clone())
                }
            }
            Transform::Rows { part, of } => {
                let n = t.dim(0)? / of;
                t.narrow(0, part * n, n)?.contiguous()
            }
            Transform::Transpose => t.t()?.contiguous(),
        }
    }
}

/// The checkpoint's header, and reads of single tensors (no whole-file read: EMA copies and
/// training buffers are never loaded).
struct Checkpoint {
    file: PathBuf,
    entries: BTreeMap<String, TensorEntry>,
}

impl Checkpoint {
    fn open(file: &Path) -> Result<Self, DiffusionError> {
        let ext = file
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if matches!(ext.as_str(), "ckpt" | "pt" | "pth" | "bin") {
            return Err(DiffusionError::Pickle {
                file: file.to_path_buf(),
            });
        }
        if !file.is_file() {
            return Err(DiffusionError::Missing {
                file: file.to_path_buf(),
                what: "a single-file Stable Diffusion checkpoint (.safetensors)".into(),
            });
        }
        let entries = match safetensors_entries(file) {
            Ok(e) => e,
            Err(e) => {
                // A pickle (a torch zip archive, or raw protocol 2-5) renamed to .safetensors.
                let mut magic = [0u8; 4];
                let n = std::fs::File::open(file)
                    .and_then(|mut f| f.read(&mut magic))
                    .unwrap_or(0);
                let pickle = n >= 2
                    && (magic.starts_with(b"PK\x03\x04")
                        || (magic[0] == 0x80 && (2..=5).contains(&magic[1])));
                return Err(if pickle {
                    DiffusionError::Pickle {
                        file: file.to_path_buf(),
                    }
                } else {
                    e
                });
            }
        };
        let entries = entries.into_iter().map(|e| (e.name.clone(), e)).collect();
        Ok(Self {
            file: file.to_path_buf(),
            entries,
        })
    }

    fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entries.get(name).map(|e| e.shape.as_slice())
    }

    fn missing(&self, name: &str, why: &str) -> DiffusionError {
        DiffusionError::Missing {
            file: self.file.clone(),
            what: format!(
                "tensor '{name}' ({why}); the file is incomplete or not this kind of checkpoint"
            ),
        }
    }

    fn read(&self, f: &mut std::fs::File, name: &str) -> Result<Tensor, DiffusionError> {
        let e = &self.entries[name];
        let dtype = match e.dtype.as_str() {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            "F64" => DType::F64,
            other => {
                return Err(DiffusionError::Unsupported {
                    file: self.file.clone(),
                    what: format!("tensor '{name}' stored as {other} (expected F32, F16 or BF16)"),
                });
            }
        };
        #[allow(clippy::cast_possible_truncation)]
        let mut bytes = vec![0u8; (e.end - e.start) as usize];
        f.seek(SeekFrom::Start(e.start))
            .and_then(|_| f.read_exact(&mut bytes))
            .map_err(|err| DiffusionError::Corrupt {
                file: self.file.clone(),
                message: format!("reading tensor '{name}': {err}; fetch the file again"),
            })?;
        Tensor::from_raw_buffer(&bytes, dtype, &e.shape, &Device::Cpu).map_err(|err| {
            DiffusionError::Corrupt {
                file: self.file.clone(),
                message: format!("tensor '{name}': {err}"),
            }
        })
    }
}

/// Diffusers name to the checkpoint's name.
type Origin = HashMap<String, String>;

/// One checkpoint tensor and the diffusers tensors it becomes.
struct Item {
    ldm: String,
    outputs: Vec<(String, Transform)>,
}

/// A component's renaming, before any data is read.
#[derive(Default)]
struct Plan {
    items: Vec<Item>,
}

impl Plan {
    fn add(&mut self, ldm: &str, outputs: Vec<(String, Transform)>) {
        self.items.push(Item {
            ldm: ldm.to_owned(),
            outputs,
        });
    }

    fn one(&mut self, ldm: &str, name: String, t: Transform) {
        self.add(ldm, vec![(name, t)]);
    }

    /// Diffusers name to shape.
    fn shapes(&self, ck: &Checkpoint) -> HashMap<String, Vec<usize>> {
        let mut out = HashMap::new();
        for item in &self.items {
            let s = ck.shape(&item.ldm).unwrap_or(&[]);
            for (name, t) in &item.outputs {
                out.insert(name.clone(), t.shape(s));
            }
        }
        out
    }

    fn read(
        &self,
        ck: &Checkpoint,
        f: &mut std::fs::File,
    ) -> Result<(HashMap<String, Tensor>, Origin), DiffusionError> {
        let mut items: Vec<&Item> = self.items.iter().collect();
        items.sort_by_key(|i| ck.entries[&i.ldm].start);
        let mut tensors = HashMap::new();
        let mut origin = HashMap::new();
        for item in items {
            let t = ck.read(f, &item.ldm)?;
            for (name, tr) in &item.outputs {
                let out = tr.apply(&t).map_err(|e| DiffusionError::Weights {
                    file: ck.file.clone(),
                    detail: format!("tensor '{}' cannot become '{name}': {e}", item.ldm),
                })?;
                if tensors.insert(name.clone(), out).is_some() {
                    return Err(DiffusionError::Corrupt {
                        file: ck.file.clone(),
                        message: format!(
                            "two tensors become '{name}' (the second is '{}'); the file mixes namings",
                            item.ldm
                        ),
                    });
                }
                origin.insert(name.clone(), item.ldm.clone());
            }
        }
        Ok((tensors, origin))
    }
}

fn unsupported_tensor(ck: &Checkpoint, name: &str, what: &str) -> DiffusionError {
    DiffusionError::Unsupported {
        file: ck.file.clone(),
        what: format!("tensor '{name}', which has no diffusers counterpart in {what}"),
    }
}

/// `<prefix><index>.<rest>` -> (index, rest).
fn indexed<'a>(s: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let rest = s.strip_prefix(prefix)?;
    let (i, rest) = rest.split_once('.')?;
    Some((i.parse().ok()?, rest))
}

// ---------------------------------------------------------------------------------------------
// UNet.

/// Where an LDM `input_blocks.<i>` sits among diffusers' down blocks.
#[derive(Clone, Copy, Debug)]
enum InputSlot {
    /// Resnet (`.0`) and attention (`.1`) number `layer` of block `block`.
    Layer { block: usize, layer: usize },
    /// The downsampler closing block `block` (`.0.op`).
    Down { block: usize },
}

struct UnetLayout {
    input: HashMap<usize, InputSlot>,
    blocks: usize,
    layers: usize,
}

fn unet_layout(ck: &Checkpoint, keys: &[&str]) -> Result<UnetLayout, DiffusionError> {
    let indices: BTreeSet<usize> = keys
        .iter()
        .filter_map(|k| indexed(k, "input_blocks.").map(|(i, _)| i))
        .filter(|&i| i > 0)
        .collect();
    let last = indices.iter().next_back().copied().unwrap_or(0);
    let mut input = HashMap::new();
    let mut per_block: Vec<usize> = vec![0];
    for i in 1..=last {
        if !indices.contains(&i) {
            return Err(ck.missing(
                &format!("{UNET_PREFIX}input_blocks.{i}.0.in_layers.0.weight"),
                "a UNet down-block layer; the blocks before and after it are present",
            ));
        }
        let block = per_block.len() - 1;
        if ck
            .entries
            .contains_key(&format!("{UNET_PREFIX}input_blocks.{i}.0.op.weight"))
        {
            input.insert(i, InputSlot::Down { block });
            per_block.push(0);
        } else {
            input.insert(
                i,
                InputSlot::Layer {
                    block,
                    layer: per_block[block],
                },
            );
            per_block[block] += 1;
        }
    }
    let layers = per_block[0];
    if layers == 0 || per_block.iter().any(|&n| n != layers) {
        return Err(DiffusionError::Unsupported {
            file: ck.file.clone(),
            what: format!(
                "a UNet with {per_block:?} layers in its down blocks (Stable Diffusion has the same number in each)"
            ),
        });
    }
    Ok(UnetLayout {
        input,
        blocks: per_block.len(),
        layers,
    })
}

/// `in_layers.0.weight` -> `norm1.weight`.
fn unet_resnet(tail: &str) -> Option<String> {
    let (module, param) = split_param(tail)?;
    Some(format!("{}.{param}", lookup(&UNET_RESNET, module)?))
}

/// The diffusers name of UNet tensor `rest` (without the `model.diffusion_model.` prefix).
fn unet_name(rest: &str, l: &UnetLayout) -> Option<String> {
    let (module, param) = split_param(rest)?;
    if let Some(to) = lookup(&UNET_FIXED, module) {
        return Some(format!("{to}.{param}"));
    }
    if let Some((i, tail)) = indexed(rest, "input_blocks.") {
        let (k, tail) = tail.split_once('.')?;
        return match (l.input.get(&i)?, k) {
            (InputSlot::Layer { block, layer }, "0") => Some(format!(
                "down_blocks.{block}.resnets.{layer}.{}",
                unet_resnet(tail)?
            )),
            (InputSlot::Layer { block, layer }, "1") => {
                Some(format!("down_blocks.{block}.attentions.{layer}.{tail}"))
            }
            (InputSlot::Down { block }, "0") => Some(format!(
                "down_blocks.{block}.downsamplers.0.conv.{}",
                tail.strip_prefix("op.")?
            )),
            _ => None,
        };
    }
    if let Some((k, tail)) = indexed(rest, "middle_block.") {
        return match k {
            0 => Some(format!("mid_block.resnets.0.{}", unet_resnet(tail)?)),
            1 => Some(format!("mid_block.attentions.0.{tail}")),
            2 => Some(format!("mid_block.resnets.1.{}", unet_resnet(tail)?)),
            _ => None,
        };
    }
    if let Some((i, tail)) = indexed(rest, "output_blocks.") {
        let (block, layer) = (i / (l.layers + 1), i % (l.layers + 1));
        if block >= l.blocks {
            return None;
        }
        let (k, tail) = tail.split_once('.')?;
        return match k {
            "0" => Some(format!(
                "up_blocks.{block}.resnets.{layer}.{}",
                unet_resnet(tail)?
            )),
            // `.1` is the attention, or the upsampler of a block without attention.
            "1" if tail.starts_with("conv.") => {
                Some(format!("up_blocks.{block}.upsamplers.0.{tail}"))
            }
            "1" => Some(format!("up_blocks.{block}.attentions.{layer}.{tail}")),
            "2" if tail.starts_with("conv.") => {
                Some(format!("up_blocks.{block}.upsamplers.0.{tail}"))
            }
            _ => None,
        };
    }
    None
}

fn unet_plan(ck: &Checkpoint) -> Result<(Plan, UnetLayout), DiffusionError> {
    let keys: Vec<&str> = ck
        .entries
        .keys()
        .filter_map(|k| k.strip_prefix(UNET_PREFIX))
        .collect();
    let layout = unet_layout(ck, &keys)?;
    let outputs = keys
        .iter()
        .filter_map(|k| indexed(k, "output_blocks.").map(|(i, _)| i))
        .max()
        .map_or(0, |m| m + 1);
    if outputs != layout.blocks * (layout.layers + 1) {
        return Err(DiffusionError::Weights {
            file: ck.file.clone(),
            detail: format!(
                "the UNet has {outputs} output blocks but its {} down blocks of {} layers need {}; tensors '{UNET_PREFIX}output_blocks.*' are missing or extra",
                layout.blocks,
                layout.layers,
                layout.blocks * (layout.layers + 1)
            ),
        });
    }
    let mut plan = Plan::default();
    for k in keys {
        let name = unet_name(k, &layout).ok_or_else(|| {
            unsupported_tensor(ck, &format!("{UNET_PREFIX}{k}"), "a Stable Diffusion UNet")
        })?;
        plan.one(&format!("{UNET_PREFIX}{k}"), name, Transform::Same);
    }
    Ok((plan, layout))
}

// ---------------------------------------------------------------------------------------------
// Autoencoder.

fn vae_resnet(tail: &str) -> Option<String> {
    let (module, param) = split_param(tail)?;
    Some(format!("{}.{param}", lookup(&VAE_RESNET, module)?))
}

/// The diffusers name of autoencoder tensor `rest` (without its prefix); `blocks` down blocks.
fn vae_name(rest: &str, blocks: usize) -> Option<(String, Transform)> {
    let (module, param) = split_param(rest)?;
    if let Some(to) = lookup(&VAE_FIXED, module) {
        return Some((format!("{to}.{param}"), Transform::Same));
    }
    let (side, rest) = rest.split_once('.')?;
    if side != "encoder" && side != "decoder" {
        return None;
    }
    let same = |s: String| Some((format!("{side}.{s}"), Transform::Same));
    if let Some(tail) = rest.strip_prefix("mid.") {
        if let Some((i, tail)) = tail
            .strip_prefix("block_")
            .and_then(|t| t.split_once('.'))
            .and_then(|(i, t)| Some((i.parse::<usize>().ok()?, t)))
        {
            if !(1..=2).contains(&i) {
                return None;
            }
            return same(format!("mid_block.resnets.{}.{}", i - 1, vae_resnet(tail)?));
        }
        let tail = tail.strip_prefix("attn_1.")?;
        let (part, param) = split_param(tail)?;
        let to = lookup(&VAE_ATTENTION, part)?;
        let t = if param == "weight" && part != "norm" {
            Transform::ToLinear
        } else {
            Transform::Same
        };
        return Some((format!("{side}.mid_block.attentions.0.{to}.{param}"), t));
    }
    let (kind, sampler, to_kind) = if side == "encoder" {
        ("down.", "downsample.", "down_blocks")
    } else {
        ("up.", "upsample.", "up_blocks")
    };
    let (i, tail) = indexed(rest, kind)?;
    if i >= blocks {
        return None;
    }
    // The decoder's LDM blocks count up from the lowest resolution; diffusers' down from it.
    let b = if side == "encoder" { i } else { blocks - 1 - i };
    if let Some((j, tail)) = indexed(tail, "block.") {
        return same(format!("{to_kind}.{b}.resnets.{j}.{}", vae_resnet(tail)?));
    }
    let conv = tail.strip_prefix(sampler)?.strip_prefix("conv.")?;
    let samplers = if side == "encoder" {
        "downsamplers"
    } else {
        "upsamplers"
    };
    same(format!("{to_kind}.{b}.{samplers}.0.conv.{conv}"))
}

fn vae_plan(ck: &Checkpoint) -> Result<(Plan, usize), DiffusionError> {
    let prefix = VAE_PREFIXES
        .iter()
        .copied()
        .find(|p| ck.entries.keys().any(|k| k.starts_with(p)))
        .ok_or_else(|| {
            ck.missing(
                "first_stage_model.encoder.conv_in.weight",
                "the autoencoder; this checkpoint has none (a separate VAE file is not supported here)",
            )
        })?;
    let keys: Vec<&str> = ck
        .entries
        .keys()
        .filter_map(|k| k.strip_prefix(prefix))
        .collect();
    let blocks = keys
        .iter()
        .filter_map(|k| indexed(k, "encoder.down.").map(|(i, _)| i))
        .max()
        .map_or(0, |m| m + 1);
    let mut plan = Plan::default();
    // `loss.*`: the LPIPS / discriminator of a training checkpoint, not the autoencoder.
    for k in keys.into_iter().filter(|k| !k.starts_with("loss.")) {
        let (name, t) = vae_name(k, blocks)
            .ok_or_else(|| unsupported_tensor(ck, &format!("{prefix}{k}"), "an AutoencoderKL"))?;
        plan.one(&format!("{prefix}{k}"), name, t);
    }
    Ok((plan, blocks))
}

// ---------------------------------------------------------------------------------------------
// Text encoders.

/// A transformers-style CLIP under `prefix` (SD 1.x, SDXL's first encoder).
fn clip_plan(ck: &Checkpoint, prefix: &str) -> Plan {
    let mut plan = Plan::default();
    for k in ck.entries.keys() {
        let Some(rest) = k.strip_prefix(prefix) else {
            continue;
        };
        if TEXT_IGNORED.contains(&rest) {
            continue;
        }
        // Older exports lack the `text_model.` level.
        let name = if rest.starts_with("text_model.") {
            rest.to_owned()
        } else {
            format!("text_model.{rest}")
        };
        plan.one(k, name, Transform::Same);
    }
    plan
}

/// An OpenCLIP text tower under `prefix` (SD 2.x; SDXL's second encoder, `projection` kept).
/// `drop_last`: SD 2 conditions on the penultimate layer, so its last one is not converted.
fn open_clip_plan(
    ck: &Checkpoint,
    prefix: &str,
    drop_last: bool,
    projection: bool,
) -> Result<(Plan, Vec<String>), DiffusionError> {
    let mut plan = Plan::default();
    let mut dropped = Vec::new();
    let layers = ck
        .entries
        .keys()
        .filter_map(|k| k.strip_prefix(prefix))
        .filter_map(|k| indexed(k, "transformer.resblocks.").map(|(i, _)| i))
        .max()
        .map_or(0, |m| m + 1);
    for k in ck.entries.keys() {
        let Some(rest) = k.strip_prefix(prefix) else {
            continue;
        };
        if TEXT_IGNORED.contains(&rest) || (rest == "text_projection" && !projection) {
            dropped.push(k.clone());
            continue;
        }
        if let Some(to) = lookup(&OPENCLIP_FIXED, rest) {
            let t = if rest == "text_projection" {
                Transform::Transpose
            } else {
                Transform::Same
            };
            plan.one(k, to.to_owned(), t);
            continue;
        }
        let (i, tail) = indexed(rest, "transformer.resblocks.")
            .ok_or_else(|| unsupported_tensor(ck, k, "an OpenCLIP text encoder"))?;
        if drop_last && i + 1 == layers {
            dropped.push(k.clone());
            continue;
        }
        let layer = format!("text_model.encoder.layers.{i}");
        if let Some(param) = tail.strip_prefix("attn.in_proj_") {
            let outputs = ["q_proj", "k_proj", "v_proj"]
                .iter()
                .enumerate()
                .map(|(part, p)| {
                    (
                        format!("{layer}.self_attn.{p}.{param}"),
                        Transform::Rows { part, of: 3 },
                    )
                })
                .collect();
            plan.add(k, outputs);
            continue;
        }
        let (module, param) = split_param(tail)
            .ok_or_else(|| unsupported_tensor(ck, k, "an OpenCLIP text encoder"))?;
        let to = lookup(&OPENCLIP_LAYER, module)
            .ok_or_else(|| unsupported_tensor(ck, k, "an OpenCLIP text encoder"))?;
        plan.one(k, format!("{layer}.{to}.{param}"), Transform::Same);
    }
    Ok((plan, dropped))
}

// ---------------------------------------------------------------------------------------------
// Configs from shapes.

/// What the sidecar `<name>.yaml` says (only the keys the weights cannot show).
#[derive(Clone, Debug, Default)]
struct Sidecar {
    path: PathBuf,
    prediction_type: Option<String>,
    scale_factor: Option<f64>,
    num_heads: Option<i64>,
    num_head_channels: Option<i64>,
}

fn read_sidecar(file: &Path) -> Result<Option<Sidecar>, DiffusionError> {
    let path = ["yaml", "yml"]
        .iter()
        .map(|e| file.with_extension(e))
        .find(|p| p.is_file());
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| DiffusionError::io(&path, &e))?;
    let mut s = Sidecar {
        path: path.clone(),
        ..Sidecar::default()
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        let bad = |what: &str| DiffusionError::Config {
            file: path.clone(),
            line: n + 1,
            message: format!("'{}' is not {what}", value),
        };
        match key.trim() {
            "parameterization" if s.prediction_type.is_none() => {
                s.prediction_type = Some(
                    match value {
                        "eps" | "epsilon" => "epsilon",
                        "v" | "v_prediction" => "v_prediction",
                        _ => return Err(bad("a parameterization this runtime knows (eps or v)")),
                    }
                    .to_owned(),
                );
            }
            "scale_factor" if s.scale_factor.is_none() => {
                s.scale_factor = Some(value.parse().map_err(|_| bad("a number"))?);
            }
            "num_heads" if s.num_heads.is_none() => {
                s.num_heads = Some(value.parse().map_err(|_| bad("an integer"))?);
            }
            "num_head_channels" if s.num_head_channels.is_none() => {
                s.num_head_channels = Some(value.parse().map_err(|_| bad("an integer"))?);
            }
            _ => {}
        }
    }
    Ok(Some(s))
}

fn shape_of<'a>(
    shapes: &'a HashMap<String, Vec<usize>>,
    name: &str,
    rank: usize,
    ck: &Checkpoint,
    origin: &str,
) -> Result<&'a [usize], DiffusionError> {
    match shapes.get(name) {
        Some(s) if s.len() == rank => Ok(s),
        Some(s) => Err(DiffusionError::Weights {
            file: ck.file.clone(),
            detail: format!("tensor '{origin}' has shape {s:?}; expected {rank} dimensions"),
        }),
        None => Err(ck.missing(origin, &format!("needed for {name}"))),
    }
}

/// An int when every block agrees, else a per-block list (as diffusers writes them).
fn per_block(v: &[usize]) -> Value {
    if v.windows(2).all(|w| w[0] == w[1]) {
        json!(v.first().copied().unwrap_or(0))
    } else {
        json!(v)
    }
}

fn unet_json(
    ck: &Checkpoint,
    family: Family,
    layout: &UnetLayout,
    shapes: &HashMap<String, Vec<usize>>,
    sidecar: Option<&Sidecar>,
    prediction: &str,
    text_projection: Option<usize>,
) -> Result<Value, DiffusionError> {
    let p = |s: &str| format!("{UNET_PREFIX}{s}");
    let conv_in = shape_of(
        shapes,
        "conv_in.weight",
        4,
        ck,
        &p("input_blocks.0.0.weight"),
    )?;
    let conv_out = shape_of(shapes, "conv_out.weight", 4, ck, &p("out.2.weight"))?;
    let mut channels = Vec::new();
    let mut cross = Vec::new();
    let mut depth = Vec::new();
    for b in 0..layout.blocks {
        let first = layout
            .input
            .iter()
            .find(|(_, s)| matches!(s, InputSlot::Layer { block, layer: 0 } if *block == b))
            .map_or(0, |(i, _)| *i);
        let c = shape_of(
            shapes,
            &format!("down_blocks.{b}.resnets.0.conv2.weight"),
            4,
            ck,
            &p(&format!("input_blocks.{first}.0.out_layers.3.weight")),
        )?;
        channels.push(c[0]);
        let attn = format!("down_blocks.{b}.attentions.0.transformer_blocks.");
        let n = shapes
            .keys()
            .filter_map(|k| indexed(k, &attn).map(|(i, _)| i))
            .max()
            .map_or(0, |m| m + 1);
        cross.push(n > 0);
        depth.push(n.max(1));
    }
    let attn_key = shapes
        .keys()
        .filter(|k| k.ends_with("attn2.to_k.weight"))
        .min()
        .ok_or_else(|| {
            ck.missing(
                &p("middle_block.1.transformer_blocks.0.attn2.to_k.weight"),
                "the UNet's cross-attention",
            )
        })?;
    let context = shapes[attn_key].get(1).copied().unwrap_or(0);
    let linear = shapes
        .get("mid_block.attentions.0.proj_in.weight")
        .is_some_and(|s| s.len() == 2);
    let heads: Vec<usize> = match sidecar {
        Some(Sidecar {
            num_head_channels: Some(d),
            ..
        }) if *d > 0 => {
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let d = *d as usize;
            if let Some(c) = channels.iter().find(|c| !c.is_multiple_of(d)) {
                return Err(DiffusionError::Config {
                    file: sidecar.map(|s| s.path.clone()).unwrap_or_default(),
                    line: 0,
                    message: format!(
                        "num_head_channels {d} does not divide the UNet's {c} channels"
                    ),
                });
            }
            channels.iter().map(|c| c / d).collect()
        }
        Some(Sidecar {
            num_heads: Some(h), ..
        }) if *h > 0 => {
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let h = *h as usize;
            vec![h; channels.len()]
        }
        _ => match family {
            Family::Sd1 => vec![8; channels.len()],
            Family::Sd2 | Family::Sdxl => channels.iter().map(|c| (c / 64).max(1)).collect(),
        },
    };
    let down: Vec<&str> = cross
        .iter()
        .map(|&c| {
            if c {
                "CrossAttnDownBlock2D"
            } else {
                "DownBlock2D"
            }
        })
        .collect();
    let up: Vec<&str> = cross
        .iter()
        .rev()
        .map(|&c| if c { "CrossAttnUpBlock2D" } else { "UpBlock2D" })
        .collect();
    let image = match family {
        Family::Sd1 => 512,
        Family::Sd2 if prediction == "v_prediction" => 768,
        Family::Sd2 => 512,
        Family::Sdxl => 1024,
    };
    let mut j = json!({
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": "0.35.1",
        "sample_size": image / 8,
        "in_channels": conv_in[1],
        "out_channels": conv_out[0],
        "block_out_channels": channels,
        "down_block_types": down,
        "up_block_types": up,
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "layers_per_block": layout.layers,
        "attention_head_dim": per_block(&heads),
        "transformer_layers_per_block": per_block(&depth),
        "cross_attention_dim": context,
        "use_linear_projection": linear,
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "downsample_padding": 1,
        "flip_sin_to_cos": true,
        "freq_shift": 0,
        "center_input_sample": false,
        "act_fn": "silu"
    });
    if let Some(s) = shapes.get("add_embedding.linear_1.weight") {
        if family != Family::Sdxl {
            return Err(DiffusionError::Unsupported {
                file: ck.file.clone(),
                what: format!(
                    "tensor '{}' (class conditioning: an upscaler or unCLIP model)",
                    p("label_emb.0.0.weight")
                ),
            });
        }
        // Its input is the pooled text embedding and six sinusoidal embeddings (original
        // size, crop, target size): 1280 + 6 * 256 for SDXL.
        let input = s.get(1).copied().unwrap_or(0);
        let time_dim = text_projection
            .filter(|&d| input > d && (input - d).is_multiple_of(6))
            .map_or(256, |d| (input - d) / 6);
        j["addition_embed_type"] = json!("text_time");
        j["addition_time_embed_dim"] = json!(time_dim);
        j["projection_class_embeddings_input_dim"] = json!(input);
    }
    Ok(j)
}

fn vae_json(
    ck: &Checkpoint,
    family: Family,
    blocks: usize,
    shapes: &HashMap<String, Vec<usize>>,
    sidecar: Option<&Sidecar>,
) -> Result<Value, DiffusionError> {
    let p = |s: &str| format!("first_stage_model.{s}");
    let conv_in = shape_of(
        shapes,
        "encoder.conv_in.weight",
        4,
        ck,
        &p("encoder.conv_in.weight"),
    )?;
    let dec_in = shape_of(
        shapes,
        "decoder.conv_in.weight",
        4,
        ck,
        &p("decoder.conv_in.weight"),
    )?;
    let dec_out = shape_of(
        shapes,
        "decoder.conv_out.weight",
        4,
        ck,
        &p("decoder.conv_out.weight"),
    )?;
    let mut channels = Vec::with_capacity(blocks);
    for b in 0..blocks {
        let c = shape_of(
            shapes,
            &format!("encoder.down_blocks.{b}.resnets.0.conv2.weight"),
            4,
            ck,
            &p(&format!("encoder.down.{b}.block.0.conv2.weight")),
        )?;
        channels.push(c[0]);
    }
    let layers = shapes
        .keys()
        .filter_map(|k| indexed(k, "encoder.down_blocks.0.resnets.").map(|(i, _)| i))
        .max()
        .map_or(0, |m| m + 1);
    let scale = sidecar
        .and_then(|s| s.scale_factor)
        .unwrap_or(match family {
            Family::Sdxl => 0.13025,
            _ => 0.18215,
        });
    let image = if family == Family::Sdxl { 1024 } else { 512 };
    Ok(json!({
        "_class_name": "AutoencoderKL",
        "_diffusers_version": "0.35.1",
        "in_channels": conv_in[1],
        "out_channels": dec_out[0],
        "latent_channels": dec_in[1],
        "block_out_channels": channels,
        "down_block_types": vec!["DownEncoderBlock2D"; blocks],
        "up_block_types": vec!["UpDecoderBlock2D"; blocks],
        "layers_per_block": layers,
        "norm_num_groups": 32,
        "act_fn": "silu",
        "scaling_factor": scale,
        "sample_size": image,
        "use_quant_conv": shapes.contains_key("quant_conv.weight"),
        "use_post_quant_conv": shapes.contains_key("post_quant_conv.weight")
    }))
}

fn clip_json(
    ck: &Checkpoint,
    prefix: &str,
    shapes: &HashMap<String, Vec<usize>>,
    gelu: bool,
) -> Result<Value, DiffusionError> {
    let emb = shape_of(
        shapes,
        "text_model.embeddings.token_embedding.weight",
        2,
        ck,
        &format!("{prefix}(token embedding)"),
    )?;
    let pos = shape_of(
        shapes,
        "text_model.embeddings.position_embedding.weight",
        2,
        ck,
        &format!("{prefix}(position embedding)"),
    )?;
    let fc1 = shape_of(
        shapes,
        "text_model.encoder.layers.0.mlp.fc1.weight",
        2,
        ck,
        &format!("{prefix}(first layer's MLP)"),
    )?;
    let layers = shapes
        .keys()
        .filter_map(|k| indexed(k, "text_model.encoder.layers.").map(|(i, _)| i))
        .max()
        .map_or(0, |m| m + 1);
    let (vocab, hidden) = (emb[0], emb[1]);
    let projection = shapes.get("text_projection.weight");
    let class = if projection.is_some() {
        "CLIPTextModelWithProjection"
    } else {
        "CLIPTextModel"
    };
    Ok(json!({
        "architectures": [class],
        "model_type": "clip_text_model",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": fc1[0],
        "num_hidden_layers": layers,
        "num_attention_heads": (hidden / 64).max(1),
        "max_position_embeddings": pos[0],
        "hidden_act": if gelu { "gelu" } else { "quick_gelu" },
        "layer_norm_eps": 1e-5,
        "projection_dim": projection.and_then(|s| s.first().copied()).unwrap_or(hidden),
        "bos_token_id": vocab.saturating_sub(2),
        "eos_token_id": vocab.saturating_sub(1),
        "pad_token_id": vocab.saturating_sub(1),
        "torch_dtype": "float32"
    }))
}

fn scheduler_json(family: Family, prediction: &str) -> Value {
    json!({
        "_class_name": if family == Family::Sdxl { "EulerDiscreteScheduler" } else { "PNDMScheduler" },
        "_diffusers_version": "0.35.1",
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "prediction_type": prediction,
        "steps_offset": 1,
        "timestep_spacing": "leading",
        "set_alpha_to_one": false,
        "clip_sample": false,
        "skip_prk_steps": true
    })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Conversion.

fn detect(ck: &Checkpoint) -> Result<Family, DiffusionError> {
    let has = |k: &str| ck.entries.contains_key(k);
    let any = |p: &str| ck.entries.keys().any(|k| k.starts_with(p));
    if !has(&format!("{UNET_PREFIX}input_blocks.0.0.weight")) {
        let what = if any("down_blocks.") || any("unet.") || any("lora_") {
            "a file in diffusers naming or a LoRA, not a single-file checkpoint; load its folder (or use it as a LoRA)"
        } else if any("model.diffusion_model.joint_blocks.")
            || any("model.diffusion_model.double_blocks.")
            || any("double_blocks.")
        {
            "an SD 3 / Flux checkpoint"
        } else if any("encoder.down.") || any("decoder.up.") {
            "an autoencoder alone"
        } else {
            "not a Stable Diffusion 1.x / 2.x / XL checkpoint (no model.diffusion_model.input_blocks.0.0.weight)"
        };
        return Err(DiffusionError::Unsupported {
            file: ck.file.clone(),
            what: what.into(),
        });
    }
    if any("conditioner.embedders.1.model.") && any("conditioner.embedders.0.transformer.") {
        return Ok(Family::Sdxl);
    }
    if any("conditioner.embedders.0.model.") {
        return Err(DiffusionError::Unsupported {
            file: ck.file.clone(),
            what: "the SDXL refiner (OpenCLIP only)".into(),
        });
    }
    if any("cond_stage_model.model.") {
        return Ok(Family::Sd2);
    }
    if any("cond_stage_model.transformer.") {
        return Ok(Family::Sd1);
    }
    Err(ck.missing(
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
        "the text encoder (SD 1.x: cond_stage_model.transformer.*, SD 2.x: cond_stage_model.model.*, SDXL: conditioner.embedders.*)",
    ))
}

/// The configs of a diffusers folder given as [`SingleFileOptions::config`].
struct FolderConfigs {
    root: PathBuf,
    class_name: Option<String>,
}

impl FolderConfigs {
    fn open(dir: &Path) -> Result<Self, DiffusionError> {
        let root = super::layout::resolve_root(dir)?;
        let index = root.join("model_index.json");
        let class_name = std::fs::read_to_string(&index)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.get("_class_name")?.as_str().map(str::to_owned));
        Ok(Self { root, class_name })
    }

    fn read(&self, rel: &str) -> Result<Option<(String, PathBuf)>, DiffusionError> {
        let path = self.root.join(rel);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| DiffusionError::io(&path, &e))?;
        super::config::parse_json::<Value>(&text, &path)?;
        Ok(Some((text, path)))
    }
}

/// Converts the single-file checkpoint `file` to diffusers tensors and configs (see the module
/// docs for what is covered).
pub fn convert(file: &Path, options: &SingleFileOptions) -> Result<Converted, DiffusionError> {
    let ck = Checkpoint::open(file)?;
    let family = detect(&ck)?;
    let sidecar = read_sidecar(file)?;
    let folder = options
        .config
        .as_deref()
        .map(FolderConfigs::open)
        .transpose()?;
    if let Some(p) = &options.prediction_type
        && !matches!(p.as_str(), "epsilon" | "v_prediction")
    {
        return Err(DiffusionError::Request(format!(
            "prediction type '{p}'; use epsilon or v_prediction"
        )));
    }

    let (unet, layout) = unet_plan(&ck)?;
    let (vae, vae_blocks) = vae_plan(&ck)?;
    let mut ignored: Vec<String> = Vec::new();
    let mut text: Vec<(&str, Plan, Value)> = Vec::new();
    match family {
        Family::Sd1 => {
            let prefix = "cond_stage_model.transformer.";
            let plan = clip_plan(&ck, prefix);
            let j = clip_json(&ck, prefix, &plan.shapes(&ck), false)?;
            text.push(("text_encoder", plan, j));
        }
        Family::Sd2 => {
            let prefix = "cond_stage_model.model.";
            let (plan, dropped) = open_clip_plan(&ck, prefix, true, false)?;
            ignored.extend(dropped);
            let j = clip_json(&ck, prefix, &plan.shapes(&ck), true)?;
            text.push(("text_encoder", plan, j));
        }
        Family::Sdxl => {
            let prefix = "conditioner.embedders.0.transformer.";
            let plan = clip_plan(&ck, prefix);
            let j = clip_json(&ck, prefix, &plan.shapes(&ck), false)?;
            text.push(("text_encoder", plan, j));
            let prefix = "conditioner.embedders.1.model.";
            let (plan, dropped) = open_clip_plan(&ck, prefix, false, true)?;
            ignored.extend(dropped);
            let j = clip_json(&ck, prefix, &plan.shapes(&ck), true)?;
            text.push(("text_encoder_2", plan, j));
        }
    }

    // Prediction type: the option, else the config folder's scheduler, else the sidecar.
    let folder_scheduler = match &folder {
        Some(f) => f.read("scheduler/scheduler_config.json")?,
        None => None,
    };
    let prediction = options
        .prediction_type
        .clone()
        .or_else(|| {
            folder_scheduler.as_ref().and_then(|(t, _)| {
                serde_json::from_str::<Value>(t)
                    .ok()?
                    .get("prediction_type")?
                    .as_str()
                    .map(str::to_owned)
            })
        })
        .or_else(|| sidecar.as_ref().and_then(|s| s.prediction_type.clone()))
        .unwrap_or_else(|| "epsilon".into());

    let inferred = |name: &str| PathBuf::from(format!("{}#{name}", file.display()));
    let unet_config = unet_json(
        &ck,
        family,
        &layout,
        &unet.shapes(&ck),
        sidecar.as_ref(),
        &prediction,
        text.iter()
            .find_map(|(_, _, j)| {
                j.get("architectures")?
                    .get(0)?
                    .as_str()
                    .filter(|a| *a == "CLIPTextModelWithProjection")
                    .and(j.get("projection_dim")?.as_u64())
            })
            .and_then(|d| usize::try_from(d).ok()),
    )?;
    let vae_config = vae_json(&ck, family, vae_blocks, &vae.shapes(&ck), sidecar.as_ref())?;
    // (component, plan, inferred config, the config folder's file for it)
    let mut parts: Vec<(&str, Plan, Value, &str)> = vec![
        ("unet", unet, unet_config, "unet/config.json"),
        ("vae", vae, vae_config, "vae/config.json"),
    ];
    for (name, plan, j) in text {
        parts.push((
            name,
            plan,
            j,
            if name == "text_encoder" {
                "text_encoder/config.json"
            } else {
                "text_encoder_2/config.json"
            },
        ));
    }

    let inpainting = parts[0].2["in_channels"] == json!(9);
    let mut f = std::fs::File::open(file).map_err(|e| DiffusionError::io(file, &e))?;
    let mut components = BTreeMap::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for (name, plan, j, rel) in parts {
        let (config, config_path) = match folder.as_ref().map(|f| f.read(rel)).transpose()? {
            Some(Some((text, path))) => (text, path),
            Some(None) => {
                return Err(DiffusionError::Missing {
                    file: folder
                        .as_ref()
                        .map(|f| f.root.join(rel))
                        .unwrap_or_default(),
                    what: format!("the {name} config of the config folder"),
                });
            }
            None => (pretty(&j), inferred(rel)),
        };
        used.extend(plan.items.iter().map(|i| i.ldm.clone()));
        let (tensors, origin) = plan.read(&ck, &mut f)?;
        components.insert(
            name.to_owned(),
            Component {
                config,
                config_path,
                tensors,
                origin,
            },
        );
    }
    let scheduler_config = match folder_scheduler {
        Some((t, _)) => {
            let mut v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
            if let Some(p) = &options.prediction_type
                && let Some(o) = v.as_object_mut()
            {
                o.insert("prediction_type".into(), json!(p));
            }
            pretty(&v)
        }
        None => pretty(&scheduler_json(family, &prediction)),
    };
    ignored.extend(
        ck.entries
            .keys()
            .filter(|k| !used.contains(*k) && !ignored.contains(*k))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let class_name = folder
        .as_ref()
        .and_then(|f| f.class_name.clone())
        .unwrap_or_else(|| {
            match (family, inpainting) {
                (Family::Sdxl, false) => "StableDiffusionXLPipeline",
                (Family::Sdxl, true) => "StableDiffusionXLInpaintPipeline",
                (_, false) => "StableDiffusionPipeline",
                (_, true) => "StableDiffusionInpaintPipeline",
            }
            .to_owned()
        });
    Ok(Converted {
        file: file.to_path_buf(),
        family,
        inpainting,
        class_name,
        components,
        scheduler_config,
        ignored,
    })
}

/// The tokenizer folder for a single file: the option, the config folder's `tokenizer/`, a
/// `tokenizer/` beside the file, or `clip-tokenizer/` in a models directory.
fn tokenizer_dir(file: &Path, options: &SingleFileOptions) -> Result<PathBuf, DiffusionError> {
    if let Some(t) = &options.tokenizer {
        return Ok(t.clone());
    }
    let mut candidates = Vec::new();
    if let Some(c) = &options.config {
        let root = super::layout::resolve_root(c)?;
        candidates.push(root.join("tokenizer"));
    }
    if let Some(parent) = file.parent() {
        candidates.push(parent.join("tokenizer"));
    }
    candidates.extend(
        crate::registry::Registry::default_roots()
            .into_iter()
            .map(|r| r.join("clip-tokenizer")),
    );
    let has = |d: &Path| d.join("tokenizer.json").is_file() || d.join("vocab.json").is_file();
    candidates.iter().find(|d| has(d)).cloned().ok_or_else(|| {
        DiffusionError::Missing {
            file: candidates.last().cloned().unwrap_or_default(),
            what: format!(
                "the CLIP tokenizer for {} (a single-file checkpoint carries none): run `python3 models/clip_tokenizer.py` (writes models/cache/clip-tokenizer from PyPI), or name a folder with vocab.json and merges.txt; looked in {}",
                file.display(),
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    })
}

impl DiffusionModel {
    /// Loads a single-file checkpoint: [`convert`], then the same build as a folder.
    pub fn load_single_file(
        file: &Path,
        options: &LoadOptions,
        single: &SingleFileOptions,
    ) -> Result<Self, DiffusionError> {
        let mut c = convert(file, single)?;
        let xl = c.components.contains_key("text_encoder_2");
        let tokenizer_dir = tokenizer_dir(file, single)?;
        let mut take = |name: &str| {
            let comp = c
                .components
                .remove(name)
                .ok_or_else(|| DiffusionError::Runtime(format!("conversion produced no {name}")))?;
            Ok::<_, DiffusionError>((
                ConfigText {
                    text: comp.config,
                    path: comp.config_path,
                },
                Weights::Tensors {
                    file: file.to_path_buf(),
                    tensors: comp.tensors,
                    origin: comp.origin,
                },
            ))
        };
        let (unet_config, unet) = take("unet")?;
        let (vae_config, vae) = take("vae")?;
        let (config, weights) = take("text_encoder")?;
        let mut text = vec![TextPart {
            config,
            tokenizer_dir: tokenizer_dir.clone(),
            pad: None,
            weights,
            component: super::lora::Component::TextEncoder,
        }];
        if xl {
            // SDXL's tokenizer_2 is the same CLIP vocabulary, padding with "!".
            let (config, weights) = take("text_encoder_2")?;
            text.push(TextPart {
                config,
                tokenizer_dir,
                pad: Some("!".into()),
                weights,
                component: super::lora::Component::TextEncoder2,
            });
        }
        Self::build(
            Parts {
                root: file.to_path_buf(),
                class_name: c.class_name,
                unet_config,
                vae_config,
                schedule_config: Some(ConfigText {
                    text: c.scheduler_config,
                    path: PathBuf::from(format!(
                        "{}#scheduler/scheduler_config.json",
                        file.display()
                    )),
                }),
                text,
                xl,
                force_zeros_for_empty_prompt: xl,
                unet,
                vae,
                weight_files: vec![file.to_path_buf()],
            },
            options,
        )
    }
}

/// A candle "the weights do not fit" message with the checkpoint's own tensor name added:
/// the converted name's origin, or for a missing tensor its sibling's origin with the
/// parameter swapped (`...in_layers.0.bias` -> `...in_layers.0.weight`).
pub(crate) fn explain(detail: &str, origin: &HashMap<String, String>) -> String {
    let Some(name) = detail
        .split(|c: char| c.is_whitespace() || c == ',' || c == '\'' || c == '"')
        .find(|w| w.ends_with(".weight") || w.ends_with(".bias") || origin.contains_key(*w))
    else {
        return detail.to_owned();
    };
    if let Some(ldm) = origin.get(name) {
        return format!("{detail} (the checkpoint's tensor '{ldm}')");
    }
    if let Some((module, param)) = split_param(name) {
        let sibling = origin.iter().find_map(|(d, l)| {
            let (m, _) = split_param(d)?;
            (m == module).then(|| split_param(l).map(|(lm, _)| format!("{lm}.{param}")))?
        });
        if let Some(ldm) = sibling {
            return format!("{detail}: the checkpoint has no tensor '{ldm}'");
        }
    }
    format!(
        "{detail} (no tensor of the checkpoint converts to it; the file is incomplete or another architecture)"
    )
}
