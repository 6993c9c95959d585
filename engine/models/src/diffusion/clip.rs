//! The CLIP text side of a Stable Diffusion model: its tokenizer (from `tokenizer/`) and its
//! text transformer (from `text_encoder/`), built from the folder's own config so that any size
//! loads, tiny test models included (candle-transformers' CLIP config has private fields and
//! only the released sizes).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Result as CandleResult, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use tokenizers::Tokenizer;

use super::DiffusionError;
use super::config::ClipConfig;

const BOS: &str = "<|startoftext|>";
const EOS: &str = "<|endoftext|>";

/// CLIP's byte-level BPE with its special tokens and padding rule.
pub struct ClipTokenizer {
    tokenizer: Tokenizer,
    bos: u32,
    eos: u32,
    pad: u32,
    /// Context length: 77 for every released CLIP.
    pub max_len: usize,
}

fn read(path: &Path) -> Result<String, DiffusionError> {
    std::fs::read_to_string(path).map_err(|e| DiffusionError::io(path, &e))
}

/// The special token a `special_tokens_map.json` / `tokenizer_config.json` names for `key`
/// (a string or `{"content": ...}`).
fn special_token(dir: &Path, key: &str) -> Option<String> {
    ["special_tokens_map.json", "tokenizer_config.json"]
        .iter()
        .find_map(|name| {
            let text = std::fs::read_to_string(dir.join(name)).ok()?;
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            match json.get(key)? {
                serde_json::Value::String(s) => Some(s.clone()),
                other => other.get("content")?.as_str().map(str::to_owned),
            }
        })
}

impl ClipTokenizer {
    /// Loads `dir/tokenizer.json` if there is one, else builds CLIP's tokenizer from
    /// `vocab.json` + `merges.txt` exactly as transformers' converter does.
    pub fn load(dir: &Path, max_len: usize) -> Result<Self, DiffusionError> {
        Self::load_with_pad(dir, max_len, None)
    }

    /// [`load`](Self::load), padding with `pad` when given (SDXL's second tokenizer pads with
    /// "!" where the first pads with `<|endoftext|>`; a single-file checkpoint has no tokenizer
    /// files to say so) instead of the folder's pad token.
    pub fn load_with_pad(
        dir: &Path,
        max_len: usize,
        pad: Option<&str>,
    ) -> Result<Self, DiffusionError> {
        let json_path = dir.join("tokenizer.json");
        let tokenizer = if json_path.is_file() {
            Tokenizer::from_file(&json_path).map_err(|e| DiffusionError::Config {
                file: json_path.clone(),
                line: 0,
                message: format!("not a tokenizer: {e}"),
            })?
        } else {
            let vocab_path = dir.join("vocab.json");
            let merges_path = dir.join("merges.txt");
            for p in [&vocab_path, &merges_path] {
                if !p.is_file() {
                    return Err(DiffusionError::Missing {
                        file: p.clone(),
                        what: "the CLIP tokenizer (vocab.json and merges.txt, or tokenizer.json)"
                            .into(),
                    });
                }
            }
            let vocab: HashMap<String, u32> =
                super::config::parse_json(&read(&vocab_path)?, &vocab_path)?;
            let merges: Vec<String> = read(&merges_path)?
                .lines()
                .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
                .map(str::to_owned)
                .collect();
            for (i, m) in merges.iter().enumerate() {
                if m.split(' ').count() != 2 {
                    return Err(DiffusionError::Config {
                        file: merges_path.clone(),
                        line: i + 2,
                        message: format!("'{m}' is not a merge; expected two tokens and a space"),
                    });
                }
            }
            let spec = serde_json::json!({
                "version": "1.0",
                "truncation": null,
                "padding": null,
                "added_tokens": [],
                "normalizer": {"type": "Sequence", "normalizers": [
                    {"type": "NFC"},
                    {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
                    {"type": "Lowercase"}
                ]},
                "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex":
                        "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
                     "behavior": "Removed", "invert": true},
                    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
                ]},
                "post_processor": null,
                "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
                "model": {
                    "type": "BPE", "dropout": null, "unk_token": EOS,
                    "continuing_subword_prefix": "", "end_of_word_suffix": "</w>",
                    "fuse_unk": false, "byte_fallback": false,
                    "vocab": vocab, "merges": merges
                }
            });
            Tokenizer::from_bytes(spec.to_string().as_bytes()).map_err(|e| {
                DiffusionError::Config {
                    file: vocab_path.clone(),
                    line: 0,
                    message: format!("vocab.json and merges.txt do not make a tokenizer: {e}"),
                }
            })?
        };
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| DiffusionError::Config {
                    file: dir.to_path_buf(),
                    line: 0,
                    message: format!(
                        "the tokenizer has no '{token}' token; is this a CLIP tokenizer?"
                    ),
                })
        };
        let bos = id(BOS)?;
        let eos = id(EOS)?;
        let pad = match pad {
            Some(token) => id(token)?,
            None => special_token(dir, "pad_token")
                .and_then(|t| tokenizer.token_to_id(&t))
                .unwrap_or(eos),
        };
        Ok(Self {
            tokenizer,
            bos,
            eos,
            pad,
            max_len: max_len.max(3),
        })
    }

    /// `<bos> prompt <eos> <pad>...`, truncated to the context length (the end of an overlong
    /// prompt is dropped, as diffusers does).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DiffusionError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| DiffusionError::Runtime(format!("tokenizing the prompt: {e}")))?;
        let mut ids = Vec::with_capacity(self.max_len);
        ids.push(self.bos);
        ids.extend(encoding.get_ids().iter().take(self.max_len - 2));
        ids.push(self.eos);
        ids.resize(self.max_len, self.pad);
        Ok(ids)
    }
}

/// One pre-norm transformer layer of a CLIP encoder (text or vision: the same weights' names
/// under `encoder.layers.N`).
struct ClipLayer {
    norm1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// What every layer of one encoder shares.
#[derive(Clone, Copy)]
struct LayerShape {
    hidden: usize,
    intermediate: usize,
    heads: usize,
    eps: f64,
    quick_gelu: bool,
}

impl LayerShape {
    fn new(hidden: usize, intermediate: usize, heads: usize, eps: f64, act: &str) -> Self {
        Self {
            hidden,
            intermediate,
            heads,
            eps,
            quick_gelu: act == "quick_gelu",
        }
    }
}

impl ClipLayer {
    /// The `n` layers under `m.encoder.layers`.
    fn stack(m: &VarBuilder, s: LayerShape, n: usize) -> CandleResult<Vec<Self>> {
        (0..n)
            .map(|i| Self::new(&m.pp("encoder.layers").pp(i.to_string()), s))
            .collect()
    }

    fn new(l: &VarBuilder, s: LayerShape) -> CandleResult<Self> {
        let d = s.hidden;
        let ln = |p: VarBuilder| candle_nn::layer_norm(d, s.eps, p);
        let a = l.pp("self_attn");
        Ok(Self {
            norm1: ln(l.pp("layer_norm1"))?,
            q: candle_nn::linear(d, d, a.pp("q_proj"))?,
            k: candle_nn::linear(d, d, a.pp("k_proj"))?,
            v: candle_nn::linear(d, d, a.pp("v_proj"))?,
            out: candle_nn::linear(d, d, a.pp("out_proj"))?,
            norm2: ln(l.pp("layer_norm2"))?,
            fc1: candle_nn::linear(d, s.intermediate, l.pp("mlp.fc1"))?,
            fc2: candle_nn::linear(s.intermediate, d, l.pp("mlp.fc2"))?,
        })
    }

    /// `x` `(batch, tokens, hidden)`; `mask` added to the scores (the text side's causal mask).
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>, s: LayerShape) -> CandleResult<Tensor> {
        let (b, n, d) = x.dims3()?;
        let hd = d / s.heads;
        let scale = 1.0 / (hd as f64).sqrt();
        let h = self.norm1.forward(x)?;
        let split = |t: Tensor| -> CandleResult<Tensor> {
            t.reshape((b, n, s.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split((self.q.forward(&h)? * scale)?)?;
        let k = split(self.k.forward(&h)?)?;
        let v = split(self.v.forward(&h)?)?;
        let mut att = q.matmul(&k.t()?)?;
        if let Some(mask) = mask {
            att = att.broadcast_add(mask)?;
        }
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let o = att.matmul(&v)?.transpose(1, 2)?.reshape((b, n, d))?;
        let x = (x + self.out.forward(&o)?)?;
        let h = self.fc1.forward(&self.norm2.forward(&x)?)?;
        let h = if s.quick_gelu {
            (&h * candle_nn::ops::sigmoid(&(&h * 1.702)?)?)?
        } else {
            h.gelu_erf()?
        };
        x + self.fc2.forward(&h)?
    }
}

/// CLIP's text transformer (transformers' `CLIPTextModel`).
pub struct ClipTextEncoder {
    token_embedding: Embedding,
    position_embedding: Tensor,
    layers: Vec<ClipLayer>,
    final_norm: LayerNorm,
    /// `text_projection` of a `CLIPTextModelWithProjection` (SDXL's second encoder).
    projection: Option<Linear>,
    shape: LayerShape,
    /// `None`: the pooled token is the one with the highest id (transformers' legacy rule).
    eos_token_id: Option<u32>,
    pub hidden_size: usize,
    pub max_len: usize,
}

/// One pass of the text encoder.
#[derive(Debug)]
pub struct Encoded {
    /// The last layer's output after the final layer norm, `(batch, tokens, hidden)`.
    pub last: Tensor,
    /// The second-to-last layer's output, before any norm (SDXL conditions on it).
    pub penultimate: Tensor,
    /// The end-of-text token's final state through `text_projection`, `(batch, projection)`;
    /// only for an encoder with a projection.
    pub pooled: Option<Tensor>,
}

impl ClipTextEncoder {
    /// `projection`: the weights hold `text_projection` (a `CLIPTextModelWithProjection`).
    pub fn new(vb: &VarBuilder, c: &ClipConfig, projection: bool) -> CandleResult<Self> {
        let m = vb.pp("text_model");
        let emb = m.pp("embeddings");
        let d = c.hidden_size;
        let token_embedding = candle_nn::embedding(c.vocab_size, d, emb.pp("token_embedding"))?;
        let position_embedding = emb
            .pp("position_embedding")
            .get((c.max_position_embeddings, d), "weight")?;
        let shape = LayerShape::new(
            d,
            c.intermediate_size,
            c.num_attention_heads,
            c.layer_norm_eps,
            &c.hidden_act,
        );
        let ln = |p: VarBuilder| candle_nn::layer_norm(d, c.layer_norm_eps, p);
        let layers = ClipLayer::stack(&m, shape, c.num_hidden_layers)?;
        Ok(Self {
            token_embedding,
            position_embedding,
            layers,
            final_norm: ln(m.pp("final_layer_norm"))?,
            projection: if projection {
                Some(candle_nn::linear_no_bias(
                    d,
                    c.projection_dim.unwrap_or(d),
                    vb.pp("text_projection"),
                )?)
            } else {
                None
            },
            shape,
            eos_token_id: c
                .eos_token_id
                .filter(|&e| e != 2)
                .and_then(|e| u32::try_from(e).ok()),
            hidden_size: d,
            max_len: c.max_position_embeddings,
        })
    }

    /// Hidden states after the final layer norm, `(batch, tokens, hidden)`.
    /// The final hidden states (after the final layer norm): what SD 1.x / 2.x condition on.
    pub fn forward(&self, ids: &Tensor) -> CandleResult<Tensor> {
        Ok(self.encode(ids)?.last)
    }

    /// Every output a pipeline may want from one pass.
    pub fn encode(&self, ids: &Tensor) -> CandleResult<Encoded> {
        let (b, n) = ids.dims2()?;
        let pos = self.position_embedding.narrow(0, 0, n)?.unsqueeze(0)?;
        let mut x = self.token_embedding.forward(ids)?.broadcast_add(&pos)?;
        let mask = causal_mask(n, x.device(), x.dtype())?;
        let mut penultimate = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            if i + 1 == self.layers.len() {
                penultimate = x.clone();
            }
            x = l.forward(&x, Some(&mask), self.shape)?;
        }
        let last = self.final_norm.forward(&x)?;
        let pooled = match &self.projection {
            Some(proj) => {
                let rows = ids.to_vec2::<u32>()?;
                let mut picked = Vec::with_capacity(b);
                for (i, row) in rows.iter().enumerate() {
                    let pos = self.pooled_position(row);
                    picked.push(last.get(i)?.get(pos)?);
                }
                Some(proj.forward(&Tensor::stack(&picked, 0)?)?)
            }
            None => None,
        };
        Ok(Encoded {
            last,
            penultimate,
            pooled,
        })
    }

    /// Where transformers reads the pooled output: the first end-of-text token, or with the
    /// legacy `eos_token_id` 2, the first position holding the highest id.
    fn pooled_position(&self, row: &[u32]) -> usize {
        match self.eos_token_id {
            Some(eos) => row.iter().position(|&t| t == eos).unwrap_or(0),
            None => {
                let max = row.iter().copied().max().unwrap_or(0);
                row.iter().position(|&t| t == max).unwrap_or(0)
            }
        }
    }
}

/// CLIP's vision tower with its projection (transformers' `CLIPVisionModelWithProjection`):
/// what an IP-Adapter turns a reference picture into an embedding with.
pub struct ClipVisionEncoder {
    patch: candle_nn::Conv2d,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_norm: LayerNorm,
    layers: Vec<ClipLayer>,
    post_norm: LayerNorm,
    projection: Linear,
    shape: LayerShape,
    /// The square input it was trained on, in pixels.
    pub image_size: usize,
    /// The embedding's length (`projection_dim`).
    pub projection_dim: usize,
}

impl ClipVisionEncoder {
    pub fn new(vb: &VarBuilder, c: &super::config::ClipVisionConfig) -> CandleResult<Self> {
        let m = vb.pp("vision_model");
        let emb = m.pp("embeddings");
        let d = c.hidden_size;
        let grid = c.image_size / c.patch_size;
        let shape = LayerShape::new(
            d,
            c.intermediate_size,
            c.num_attention_heads,
            c.layer_norm_eps,
            &c.hidden_act,
        );
        let ln = |p: VarBuilder| candle_nn::layer_norm(d, c.layer_norm_eps, p);
        let layers = ClipLayer::stack(&m, shape, c.num_hidden_layers)?;
        Ok(Self {
            patch: candle_nn::conv2d_no_bias(
                c.num_channels,
                d,
                c.patch_size,
                candle_nn::Conv2dConfig {
                    stride: c.patch_size,
                    ..Default::default()
                },
                emb.pp("patch_embedding"),
            )?,
            class_embedding: emb.get(d, "class_embedding")?,
            position_embedding: emb
                .pp("position_embedding")
                .get((grid * grid + 1, d), "weight")?,
            pre_norm: ln(m.pp("pre_layrnorm"))?,
            layers,
            post_norm: ln(m.pp("post_layernorm"))?,
            projection: candle_nn::linear_no_bias(d, c.projection_dim, vb.pp("visual_projection"))?,
            shape,
            image_size: c.image_size,
            projection_dim: c.projection_dim,
        })
    }

    /// `pixels` `(batch, 3, image_size, image_size)`, already normalised → `(batch,
    /// projection_dim)`: the class token's final state through `visual_projection`.
    pub fn image_embeds(&self, pixels: &Tensor) -> CandleResult<Tensor> {
        let (b, _, h, w) = pixels.dims4()?;
        if h != self.image_size || w != self.image_size {
            return Err(candle_core::Error::Msg(format!(
                "the image encoder takes {0}x{0} pixels, not {w}x{h}",
                self.image_size
            )));
        }
        let d = self.shape.hidden;
        let patches = self
            .patch
            .forward(pixels)?
            .flatten_from(2)?
            .transpose(1, 2)?;
        let class = self
            .class_embedding
            .to_dtype(patches.dtype())?
            .reshape((1, 1, d))?
            .repeat((b, 1, 1))?;
        let x = Tensor::cat(&[&class, &patches], 1)?
            .broadcast_add(&self.position_embedding.unsqueeze(0)?)?;
        let mut x = self.pre_norm.forward(&x)?;
        for l in &self.layers {
            x = l.forward(&x, None, self.shape)?;
        }
        let pooled = self.post_norm.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)?;
        self.projection.forward(&pooled)
    }
}

fn causal_mask(n: usize, device: &Device, dtype: DType) -> CandleResult<Tensor> {
    let mask: Vec<f32> = (0..n)
        .flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (n, n), device)?.to_dtype(dtype)
}

/// The text side of a pipeline: one CLIP for SD 1.x / 2.x, two for SDXL.
#[derive(Debug)]
pub struct TextStack {
    pub encoders: Vec<(ClipTokenizer, ClipTextEncoder)>,
    /// SDXL: two encoders whose penultimate states are concatenated, and the second's pooled
    /// embedding; SD 1.x / 2.x: the one encoder's final states.
    pub xl: bool,
    /// SDXL's `force_zeros_for_empty_prompt`: an empty negative prompt is zeros, not "".
    pub zeros_for_empty_negative: bool,
}

/// What the UNet is conditioned on, one row per guidance branch (negative first).
#[derive(Debug)]
pub struct TextConditioning {
    pub context: Tensor,
    pub pooled: Option<Tensor>,
}

impl TextStack {
    /// Encodes `prompt`, and `negative` first when guidance runs.
    pub fn embed(
        &self,
        prompt: &str,
        negative: Option<&str>,
        device: &Device,
    ) -> Result<TextConditioning, DiffusionError> {
        let mut contexts = Vec::with_capacity(self.encoders.len());
        let mut pooled = None;
        for (tokenizer, encoder) in &self.encoders {
            let mut rows = Vec::new();
            if let Some(neg) = negative {
                rows.push(tokenizer.encode(neg)?);
            }
            rows.push(tokenizer.encode(prompt)?);
            let n = tokenizer.max_len.min(encoder.max_len);
            let flat: Vec<u32> = rows.iter().flat_map(|r| r[..n].iter().copied()).collect();
            let ids = Tensor::from_vec(flat, (rows.len(), n), device)?;
            let out = encoder.encode(&ids)?;
            contexts.push(if self.xl { out.penultimate } else { out.last });
            if out.pooled.is_some() {
                pooled = out.pooled;
            }
        }
        let mut context = if contexts.len() == 1 {
            contexts.remove(0)
        } else {
            Tensor::cat(&contexts, 2)?
        };
        if self.xl && self.zeros_for_empty_negative && negative.is_some_and(str::is_empty) {
            let zero_first = |t: &Tensor| -> CandleResult<Tensor> {
                let rest = t.narrow(0, 1, t.dim(0)? - 1)?;
                Tensor::cat(&[&t.narrow(0, 0, 1)?.zeros_like()?, &rest], 0)
            };
            context = zero_first(&context)?;
            pooled = pooled.map(|p| zero_first(&p)).transpose()?;
        }
        Ok(TextConditioning { context, pooled })
    }
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClipTextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTextEncoder")
            .field("layers", &self.layers.len())
            .field("hidden_size", &self.hidden_size)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClipVisionEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipVisionEncoder")
            .field("layers", &self.layers.len())
            .field("image_size", &self.image_size)
            .field("projection_dim", &self.projection_dim)
            .finish_non_exhaustive()
    }
}
