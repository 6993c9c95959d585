//! Llama-family models (SmolLM2, Llama 3.x) from GGUF on our own fast CPU path.
//!
//! The computation is candle-transformers' `quantized_llama` (the reference the tests compare
//! against) restructured for speed on a few CPU cores:
//!
//! * weights stay in their GGUF quantization, in [`kernels`]' layout; activations are quantized
//!   to int8 per block like llama.cpp does, so the matrix products are integer multiply-adds;
//! * a prompt goes through each layer in chunks of up to [`PROMPT_CHUNK`] tokens, so one pass
//!   over a weight matrix serves all of them (the matrix products are then compute-bound, not
//!   memory-bound);
//! * decoding one token reuses preallocated buffers; the KV cache is per KV head and position so
//!   attention reads it contiguously, and truncating it is cutting vectors;
//! * a fixed rayon pool of `threads` workers shares each matrix product (a decoded token by
//!   weight rows, a prompt by groups of tokens); the whole forward pass runs inside the pool so
//!   each split is a cheap in-pool join (~1-2 µs here, against ~100 µs to spawn scoped threads).
//!
//! Rope: GGUF llama tensors store Q and K for GGML's "normal" rope, which rotates adjacent pairs
//! `(x[2i], x[2i+1])` (candle's `rope_i`).

use super::kernels::{self, Acts, LayoutError, Q8Acts, QMatrix};
use super::{CausalLm, LlmError};
use candle_core::Device;
use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::{Content, TensorInfo};
use rayon::prelude::*;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most prompt tokens pushed through a layer at once (bounds the activation buffers).
pub const PROMPT_CHUNK: usize = 512;

/// Hyperparameters from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub vocab: usize,
    pub context_length: usize,
    pub rope_dim: usize,
    pub rope_base: f32,
    pub rms_eps: f32,
}

struct Layer {
    attn_norm: Vec<f32>,
    /// Q, K and V projections: `[n × (q | k | v)]`.
    qkv: Projection,
    wo: QMatrix,
    ffn_norm: Vec<f32>,
    /// Gate and up projections: `[n × (gate | up)]`.
    gate_up: Projection,
    down: QMatrix,
}

/// Several projections of one input. Stacked into one matrix when their types allow, so a
/// decoded token splits work across threads once instead of once per matrix (each split costs
/// microseconds, and a token makes ~200 of them); otherwise run apart into the same layout.
enum Projection {
    Stacked(QMatrix),
    Apart(Vec<QMatrix>),
}

impl Projection {
    fn new(parts: Vec<QMatrix>) -> Projection {
        match QMatrix::stack(&parts) {
            Some(m) => Projection::Stacked(m),
            None => Projection::Apart(parts),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Projection::Stacked(m) => m.bytes(),
            Projection::Apart(parts) => parts.iter().map(QMatrix::bytes).sum(),
        }
    }

    /// `out[t × (all parts' rows)]`; `part` is scratch for the apart case.
    fn forward(&self, x: Acts<'_>, out: &mut Vec<f32>, part: &mut Vec<f32>) {
        match self {
            Projection::Stacked(w) => matmul(w, x, out),
            Projection::Apart(parts) => {
                let n = x.f32.len() / parts[0].cols();
                let total: usize = parts.iter().map(QMatrix::rows).sum();
                out.resize(n * total, 0.0);
                let mut offset = 0;
                for w in parts {
                    let rows = w.rows();
                    matmul(w, x, part);
                    for (t, src) in part.chunks_exact(rows).enumerate() {
                        out[t * total + offset..t * total + offset + rows].copy_from_slice(src);
                    }
                    offset += rows;
                }
            }
        }
    }
}

/// Keys and values of one layer: `[kv_head][position · head_dim]`.
#[derive(Default)]
struct LayerCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

/// Buffers reused across calls (`[tokens × features]` row-major unless noted).
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    /// `[token × (q | k | v)]`.
    qkv: Vec<f32>,
    att: Vec<f32>,
    /// Attention output head-major, `[head][token · head_dim]`, so heads run in parallel.
    heads: Vec<f32>,
    /// Attention probabilities, one row per head.
    scores: Vec<Vec<f32>>,
    /// `[token × (gate | up)]`.
    gate_up: Vec<f32>,
    hidden: Vec<f32>,
    /// One projection's output when a [`Projection`] runs apart.
    part: Vec<f32>,
    q8: Q8Acts,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

/// A llama-family model on the CPU with its KV cache. See the module docs.
pub struct Llama {
    cfg: LlamaConfig,
    tok_embd: QMatrix,
    /// `None`: tied to `tok_embd`.
    output: Option<QMatrix>,
    output_norm: Vec<f32>,
    layers: Vec<Layer>,
    cache: Vec<LayerCache>,
    len: usize,
    pool: Arc<rayon::ThreadPool>,
    scratch: Scratch,
}

impl fmt::Debug for Llama {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Llama")
            .field("config", &self.cfg)
            .field("cache_len", &self.len)
            .field("threads", &self.pool.current_num_threads())
            .finish_non_exhaustive()
    }
}

impl Llama {
    /// Loads a llama-architecture GGUF. Q4_0, Q4_1 and Q8_0 matrices stay quantized; any other
    /// type (F16, K-quants, …) is dequantized to f32 once, which is correct but slower.
    /// `threads` is the number of worker threads (at least 1).
    pub fn from_gguf(path: &Path, threads: usize) -> Result<Llama, LlmError> {
        let file = File::open(path).map_err(|source| LlmError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut loader = Loader {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            content: None,
        };
        let content = Content::read(&mut loader.reader)
            .map_err(|e| loader.bad(format!("cannot read the GGUF header: {e}")))?;
        loader.content = Some(content);
        let arch = loader.meta_str("general.architecture")?;
        if arch != "llama" {
            return Err(LlmError::UnsupportedArchitecture {
                path: path.to_path_buf(),
                arch,
                supported: "llama",
            });
        }
        let cfg = loader.config()?;
        let (d, hd, kvd) = (cfg.n_embd, cfg.head_dim, cfg.n_kv_head * cfg.head_dim);
        let tok_embd = loader.matrix("token_embd.weight", cfg.vocab, d)?;
        let output = match loader.info("output.weight") {
            Some(_) => Some(loader.matrix("output.weight", cfg.vocab, d)?),
            None => None,
        };
        let output_norm = loader.vector("output_norm.weight", d)?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let name = |t: &str| format!("blk.{i}.{t}.weight");
            layers.push(Layer {
                attn_norm: loader.vector(&name("attn_norm"), d)?,
                qkv: Projection::new(vec![
                    loader.matrix(&name("attn_q"), cfg.n_head * hd, d)?,
                    loader.matrix(&name("attn_k"), kvd, d)?,
                    loader.matrix(&name("attn_v"), kvd, d)?,
                ]),
                wo: loader.matrix(&name("attn_output"), d, cfg.n_head * hd)?,
                ffn_norm: loader.vector(&name("ffn_norm"), d)?,
                gate_up: Projection::new(vec![
                    loader.matrix(&name("ffn_gate"), cfg.n_ff, d)?,
                    loader.matrix(&name("ffn_up"), cfg.n_ff, d)?,
                ]),
                down: loader.matrix(&name("ffn_down"), d, cfg.n_ff)?,
            });
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("previz-llm-{i}"))
            .build()
            .map(Arc::new)
            .map_err(|e| LlmError::Backend(format!("cannot start the LLM threads: {e}")))?;
        let cache = (0..cfg.n_layer)
            .map(|_| LayerCache {
                k: vec![Vec::new(); cfg.n_kv_head],
                v: vec![Vec::new(); cfg.n_kv_head],
            })
            .collect();
        let scratch = Scratch {
            scores: vec![Vec::new(); cfg.n_head],
            ..Scratch::default()
        };
        Ok(Llama {
            cfg,
            tok_embd,
            output,
            output_norm,
            layers,
            cache,
            len: 0,
            pool,
            scratch,
        })
    }

    /// The model's hyperparameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// Bytes of weights one decoded token reads (every layer matrix and the output matrix): the
    /// numerator of the memory-bandwidth bound on decode speed.
    pub fn weight_bytes_per_token(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| l.qkv.bytes() + l.wo.bytes() + l.gate_up.bytes() + l.down.bytes())
            .sum();
        layers + self.output.as_ref().unwrap_or(&self.tok_embd).bytes()
    }

    /// Runs `tokens` (at most [`PROMPT_CHUNK`]) at positions `self.len..`; fills `logits` with the
    /// last token's when asked.
    fn forward_chunk(&mut self, tokens: &[u32], logits: Option<&mut Vec<f32>>) {
        let cfg = &self.cfg;
        let (n, d, hd) = (tokens.len(), cfg.n_embd, cfg.head_dim);
        let (qd, kvd) = (cfg.n_head * hd, cfg.n_kv_head * hd);
        let (qkv_width, ff) = (qd + 2 * kvd, cfg.n_ff);
        let pos0 = self.len;
        let s = &mut self.scratch;
        s.x.resize(n * d, 0.0);
        for (row, &t) in s.x.chunks_exact_mut(d).zip(tokens) {
            self.tok_embd.dequantize_row(t as usize, row);
        }
        rope_tables(cfg, pos0, n, &mut s.cos, &mut s.sin);
        for (layer, cache) in self.layers.iter().zip(&mut self.cache) {
            // Attention block.
            rms_norm(&s.x, &layer.attn_norm, cfg.rms_eps, &mut s.xn);
            let xn = quantized(&s.xn, d, &mut s.q8);
            layer.qkv.forward(xn, &mut s.qkv, &mut s.part);
            for (t, row) in s.qkv.chunks_exact_mut(qkv_width).enumerate() {
                // Q and K heads are adjacent: rotate both in one go.
                let (c, sn) = (
                    &s.cos[t * cfg.rope_dim / 2..],
                    &s.sin[t * cfg.rope_dim / 2..],
                );
                for head in row[..qd + kvd].chunks_exact_mut(hd) {
                    rope(head, cfg.rope_dim, c, sn);
                }
                let (k, v) = row[qd..].split_at(kvd);
                debug_assert_eq!(cache.k[0].len(), (pos0 + t) * hd);
                for g in 0..cfg.n_kv_head {
                    cache.k[g].extend_from_slice(&k[g * hd..(g + 1) * hd]);
                    cache.v[g].extend_from_slice(&v[g * hd..(g + 1) * hd]);
                }
            }
            attention(
                cfg,
                pos0,
                n,
                &s.qkv,
                qkv_width,
                cache,
                &mut s.heads,
                &mut s.scores,
            );
            s.att.resize(n * qd, 0.0);
            for (h, head) in s.heads.chunks_exact(n * hd).enumerate() {
                for (i, o) in head.chunks_exact(hd).enumerate() {
                    s.att[i * qd + h * hd..i * qd + (h + 1) * hd].copy_from_slice(o);
                }
            }
            let att = quantized(&s.att, qd, &mut s.q8);
            matmul(&layer.wo, att, &mut s.xn);
            add_into(&mut s.x, &s.xn);

            // Feed-forward block (SwiGLU).
            rms_norm(&s.x, &layer.ffn_norm, cfg.rms_eps, &mut s.xn);
            let xn = quantized(&s.xn, d, &mut s.q8);
            layer.gate_up.forward(xn, &mut s.gate_up, &mut s.part);
            s.hidden.resize(n * ff, 0.0);
            for (h, gu) in s
                .hidden
                .chunks_exact_mut(ff)
                .zip(s.gate_up.chunks_exact(2 * ff))
            {
                let (gate, up) = gu.split_at(ff);
                for ((h, &g), &u) in h.iter_mut().zip(gate).zip(up) {
                    *h = g / (1.0 + (-g).exp()) * u; // SiLU(gate) · up
                }
            }
            let hidden = quantized(&s.hidden, ff, &mut s.q8);
            matmul(&layer.down, hidden, &mut s.xn);
            add_into(&mut s.x, &s.xn);
        }
        self.len += n;
        if let Some(logits) = logits {
            let last = &s.x[(n - 1) * d..];
            rms_norm(last, &self.output_norm, cfg.rms_eps, &mut s.xn);
            let xn = quantized(&s.xn, d, &mut s.q8);
            let output = self.output.as_ref().unwrap_or(&self.tok_embd);
            matmul(output, xn, logits);
        }
    }
}

impl CausalLm for Llama {
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, LlmError> {
        if tokens.is_empty() {
            return Err(LlmError::Backend("forward needs at least one token".into()));
        }
        let needed = self.len + tokens.len();
        if needed > self.cfg.context_length {
            return Err(LlmError::ContextFull {
                needed,
                limit: self.cfg.context_length,
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.cfg.vocab) {
            return Err(LlmError::Backend(format!(
                "token id {bad} is outside the vocabulary ({} entries)",
                self.cfg.vocab
            )));
        }
        let pool = self.pool.clone();
        let mut logits = Vec::with_capacity(self.cfg.vocab);
        pool.install(|| {
            let chunks = tokens.chunks(PROMPT_CHUNK);
            let last = chunks.len() - 1;
            for (i, chunk) in chunks.enumerate() {
                self.forward_chunk(chunk, (i == last).then_some(&mut logits));
            }
        });
        Ok(logits)
    }

    fn cache_len(&self) -> usize {
        self.len
    }

    fn truncate_cache(&mut self, len: usize) -> usize {
        let keep = len.min(self.len);
        let hd = self.cfg.head_dim;
        for layer in &mut self.cache {
            for kv in layer.k.iter_mut().chain(layer.v.iter_mut()) {
                kv.truncate(keep * hd);
            }
        }
        self.len = keep;
        keep
    }

    fn vocab_size(&self) -> usize {
        self.cfg.vocab
    }

    fn context_length(&self) -> usize {
        self.cfg.context_length
    }
}

/// Quantizes `x` (rows of `k`) into `q8` and pairs them up for [`matmul`].
fn quantized<'a>(x: &'a [f32], k: usize, q8: &'a mut Q8Acts) -> Acts<'a> {
    q8.quantize(x, k);
    Acts { f32: x, q8 }
}

/// `out[t × rows] = x_t · Wᵀ` for every token, across the current rayon pool. A single token
/// (decoding, memory-bound) splits the weight rows into one even share per thread, the fewest
/// joins. A prompt splits its tokens into groups, so each thread's output is one slice, and a
/// thread that finishes early takes more; each group's pass over the weights hits the cache.
fn matmul(w: &QMatrix, x: Acts<'_>, out: &mut Vec<f32>) {
    let (rows, n) = (w.rows(), x.f32.len() / w.cols());
    out.resize(n * rows, 0.0);
    let threads = rayon::current_num_threads();
    if n < 4 * threads {
        let share = rows.div_ceil(threads);
        for (t, out_t) in out.chunks_exact_mut(rows).enumerate() {
            out_t.par_chunks_mut(share).enumerate().for_each(|(i, o)| {
                let r0 = i * share;
                kernels::matmul_block(w, x, r0..r0 + o.len(), t..t + 1, o);
            });
        }
    } else {
        // Multiples of 4 tokens (the kernels' prompt step), about 4 groups per thread.
        let group = n.div_ceil(4 * threads).next_multiple_of(4);
        out.par_chunks_mut(group * rows)
            .enumerate()
            .for_each(|(i, o)| {
                let t0 = i * group;
                kernels::matmul_block(w, x, 0..rows, t0..t0 + o.len() / rows, o);
            });
    }
}

/// Causal attention of `n` queries at positions `pos0..` over the cache, heads in parallel.
/// Query `i` starts at `q[i · q_stride]`. Writes `heads` head-major: `[head][query · head_dim]`.
#[allow(clippy::too_many_arguments)]
fn attention(
    cfg: &LlamaConfig,
    pos0: usize,
    n: usize,
    q: &[f32],
    q_stride: usize,
    cache: &LayerCache,
    heads: &mut Vec<f32>,
    scores: &mut [Vec<f32>],
) {
    let hd = cfg.head_dim;
    let group = cfg.n_head / cfg.n_kv_head;
    let scale = 1.0 / (hd as f32).sqrt();
    heads.resize(cfg.n_head * n * hd, 0.0);
    heads
        .par_chunks_mut(n * hd)
        .zip(scores.par_iter_mut())
        .enumerate()
        .for_each(|(h, (out, p))| {
            let (keys, values) = (&cache.k[h / group], &cache.v[h / group]);
            for (i, o) in out.chunks_exact_mut(hd).enumerate() {
                let seen = pos0 + i + 1;
                p.resize(seen, 0.0);
                let qi = &q[i * q_stride + h * hd..i * q_stride + (h + 1) * hd];
                kernels::attn_scores(qi, &keys[..seen * hd], scale, p);
                softmax(p);
                kernels::attn_mix(p, &values[..seen * hd], o);
            }
        });
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// RMS norm of each row of `x` (rows of `w.len()`), times `w`, into `out`.
fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut Vec<f32>) {
    let d = w.len();
    out.resize(x.len(), 0.0);
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let mean = xr.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((o, &v), &g) in or.iter_mut().zip(xr).zip(w) {
            *o = v * scale * g;
        }
    }
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// cos/sin of each position's rope angles, `[token × rope_dim / 2]`, computed as candle does
/// (`pos as f32 · base^(−2i/rope_dim)` in f32).
fn rope_tables(cfg: &LlamaConfig, pos0: usize, n: usize, cos: &mut Vec<f32>, sin: &mut Vec<f32>) {
    let half = cfg.rope_dim / 2;
    cos.resize(n * half, 0.0);
    sin.resize(n * half, 0.0);
    for t in 0..n {
        let pos = (pos0 + t) as f32;
        for i in 0..half {
            let theta = 1.0 / cfg.rope_base.powf((2 * i) as f32 / cfg.rope_dim as f32);
            let (s, c) = (pos * theta).sin_cos();
            cos[t * half + i] = c;
            sin[t * half + i] = s;
        }
    }
}

/// Rotates adjacent pairs of the first `rope_dim` dimensions of one head by one position's
/// angles.
fn rope(head: &mut [f32], rope_dim: usize, cos: &[f32], sin: &[f32]) {
    for i in 0..rope_dim / 2 {
        let (a, b) = (head[2 * i], head[2 * i + 1]);
        head[2 * i] = a * cos[i] - b * sin[i];
        head[2 * i + 1] = a * sin[i] + b * cos[i];
    }
}

/// Reads tensors and metadata, turning every failure into [`LlmError::BadModel`] naming the file
/// and the tensor or key.
struct Loader {
    path: PathBuf,
    reader: BufReader<File>,
    content: Option<Content>,
}

impl Loader {
    fn bad(&self, detail: String) -> LlmError {
        LlmError::BadModel {
            path: self.path.clone(),
            detail,
        }
    }

    fn content(&self) -> &Content {
        self.content
            .as_ref()
            .expect("header is read before anything else")
    }

    fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.content().tensor_infos.get(name)
    }

    fn meta_str(&self, key: &str) -> Result<String, LlmError> {
        self.content()
            .metadata
            .get(key)
            .and_then(|v| v.to_string().ok())
            .cloned()
            .ok_or_else(|| self.bad(format!("metadata '{key}' is missing or not a string")))
    }

    /// An integer metadata value, `default` when absent.
    fn meta_usize(&self, key: &str, default: Option<usize>) -> Result<usize, LlmError> {
        match self.content().metadata.get(key) {
            None => default.ok_or_else(|| self.bad(format!("metadata '{key}' is missing"))),
            Some(v) => v
                .to_u32()
                .map(|v| v as usize)
                .or_else(|_| v.to_u64().map(|v| v as usize))
                .or_else(|_| v.to_i32().map(|v| v.max(0) as usize))
                .map_err(|_| self.bad(format!("metadata '{key}' is not an integer"))),
        }
    }

    fn meta_f32(&self, key: &str, default: f32) -> Result<f32, LlmError> {
        match self.content().metadata.get(key) {
            None => Ok(default),
            Some(v) => v
                .to_f32()
                .or_else(|_| v.to_f64().map(|v| v as f32))
                .map_err(|_| self.bad(format!("metadata '{key}' is not a number"))),
        }
    }

    fn config(&self) -> Result<LlamaConfig, LlmError> {
        let n_layer = self.meta_usize("llama.block_count", None)?;
        let n_embd = self.meta_usize("llama.embedding_length", None)?;
        let n_head = self.meta_usize("llama.attention.head_count", None)?;
        let n_kv_head = self.meta_usize("llama.attention.head_count_kv", Some(n_head))?;
        if n_head == 0 || n_kv_head == 0 || n_embd % n_head != 0 || n_head % n_kv_head != 0 {
            return Err(self.bad(format!(
                "inconsistent attention shape: {n_embd} features, {n_head} heads, {n_kv_head} KV heads"
            )));
        }
        let head_dim = n_embd / n_head;
        let rope_dim = self.meta_usize("llama.rope.dimension_count", Some(head_dim))?;
        if rope_dim > head_dim || rope_dim % 2 != 0 || rope_dim == 0 {
            return Err(self.bad(format!(
                "rope dimension {rope_dim} does not fit the head dimension {head_dim}"
            )));
        }
        let vocab = match self.info("token_embd.weight") {
            Some(info) => info.shape.dims().first().copied().unwrap_or(0),
            None => return Err(self.bad("tensor 'token_embd.weight' is missing".into())),
        };
        Ok(LlamaConfig {
            n_layer,
            n_embd,
            n_head,
            n_kv_head,
            head_dim,
            n_ff: self.meta_usize("llama.feed_forward_length", None)?,
            vocab,
            context_length: self.meta_usize("llama.context_length", None)?,
            rope_dim,
            rope_base: self.meta_f32("llama.rope.freq_base", 10_000.0)?,
            rms_eps: self.meta_f32("llama.attention.layer_norm_rms_epsilon", 1e-5)?,
        })
    }

    /// The tensor's info, checked to have `dims` (candle's order: outputs first).
    fn checked_info(&self, name: &str, dims: &[usize]) -> Result<TensorInfo, LlmError> {
        let info = self
            .info(name)
            .ok_or_else(|| self.bad(format!("tensor '{name}' is missing")))?;
        if info.shape.dims() != dims {
            return Err(self.bad(format!(
                "tensor '{name}' has shape {:?}, expected {dims:?}",
                info.shape.dims()
            )));
        }
        Ok(TensorInfo {
            ggml_dtype: info.ggml_dtype,
            shape: info.shape.clone(),
            offset: info.offset,
        })
    }

    fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>, LlmError> {
        let info = self.checked_info(name, &[len])?;
        self.dequantized(name, &info)
    }

    /// A `rows × cols` matrix, kept quantized when the kernels support its type.
    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<QMatrix, LlmError> {
        let info = self.checked_info(name, &[rows, cols])?;
        let matrix: Result<QMatrix, LayoutError> = match info.ggml_dtype {
            GgmlDType::Q4_0 => QMatrix::from_q4_0(rows, cols, &self.raw(name, &info)?),
            GgmlDType::Q4_1 => QMatrix::from_q4_1(rows, cols, &self.raw(name, &info)?),
            GgmlDType::Q8_0 => QMatrix::from_q8_0(rows, cols, &self.raw(name, &info)?),
            _ => QMatrix::from_f32(rows, cols, self.dequantized(name, &info)?),
        };
        matrix.map_err(|e| self.bad(format!("tensor '{name}': {e}")))
    }

    /// The tensor's bytes as stored, bounds-checked against the file.
    fn raw(&mut self, name: &str, info: &TensorInfo) -> Result<Vec<u8>, LlmError> {
        let dtype = info.ggml_dtype;
        let elems = info.shape.elem_count();
        if !elems.is_multiple_of(dtype.block_size()) {
            return Err(self.bad(format!(
                "tensor '{name}': {elems} elements is not a whole number of {dtype:?} blocks"
            )));
        }
        let size = elems / dtype.block_size() * dtype.type_size();
        let start = self
            .content()
            .tensor_data_offset
            .saturating_add(info.offset);
        let mut buf = vec![0u8; size];
        let read = self
            .reader
            .seek(SeekFrom::Start(start))
            .and_then(|_| self.reader.read_exact(&mut buf));
        read.map_err(|e| {
            self.bad(format!(
                "tensor '{name}': cannot read {size} bytes at offset {start} ({e}); the file is truncated or corrupt"
            ))
        })?;
        Ok(buf)
    }

    /// Any tensor as f32 through candle's dequantization.
    fn dequantized(&mut self, name: &str, info: &TensorInfo) -> Result<Vec<f32>, LlmError> {
        let offset = self.content().tensor_data_offset;
        info.read(&mut self.reader, offset, &Device::Cpu)
            .and_then(|t| t.dequantize(&Device::Cpu))
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| self.bad(format!("tensor '{name}': {e}")))
    }
}
