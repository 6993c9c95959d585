//! The UNet's transformer blocks and the autoencoder's self-attention, with diffusers' weight
//! names, and a CPU attention kernel that never holds the whole score matrix.
//!
//! candle's `CrossAttention` copies queries, keys and values into a heads-first layout, writes
//! the full `[batch·heads, N, M]` score matrix (64 MB for a 32×32 latent, 1 GB at 64×64), scales
//! it, soft-maxes it into a second one and multiplies that by the values. [`attend`] on the CPU
//! reads the heads straight out of the projections' `[batch, N, heads·d]` layout (matrix strides,
//! no copies), and for each (image, head, block of 64 queries) computes the scaled scores into a
//! small scratch, exponentiates them in place ([`kernels::softmax_numerators`]), multiplies
//! by the values and divides each row by its sum; blocks run in parallel. Other devices and dtypes
//! go through candle's tensor operations (in f32, as candle's own attention).
//!
//! The feed-forward's GEGLU uses the exact (erf) GELU, as diffusers does (candle's block used the
//! tanh approximation).

// `unsafe_code` is denied workspace-wide; `gemm::gemm` takes raw pointers and strides. Every call
// below passes pointers into slices whose extents are checked first (see `attend_cpu`).
#![allow(unsafe_code)]

use candle_core::{D, DType, Module, Result as CandleResult, Storage, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};
use gemm::Parallelism;
use rayon::prelude::*;

use super::kernels;
use super::norm::GroupNormAct;

/// Queries per block of the CPU kernel: the scores scratch is `QUERY_BLOCK × M` floats.
const QUERY_BLOCK: usize = 64;

/// Multi-head attention: `q` `[B, N, H·d]`, `k` and `v` `[B, M, H·d]` → `[B, N, H·d]`, each
/// head softmax(q·kᵀ·scale)·v.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    scale: f64,
) -> CandleResult<Tensor> {
    let (b, n, inner) = q.dims3()?;
    let (bk, m, inner_k) = k.dims3()?;
    if bk != b
        || inner_k != inner
        || v.dims3()? != (b, m, inner)
        || heads == 0
        || inner % heads != 0
    {
        return Err(candle_core::Error::Msg(format!(
            "attention: queries {:?}, keys {:?}, values {:?} do not fit {heads} heads",
            q.dims(),
            k.dims(),
            v.dims()
        )));
    }
    let d = inner / heads;
    let cpu_f32 = [q, k, v]
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32);
    if cpu_f32 && n > 0 && m > 0 && d > 0 {
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        let (qs, ql) = q.storage_and_layout();
        let (ks, kl) = k.storage_and_layout();
        let (vs, vl) = v.storage_and_layout();
        if let (
            Storage::Cpu(qc),
            Storage::Cpu(kc),
            Storage::Cpu(vc),
            Some((q0, q1)),
            Some((k0, k1)),
            Some((v0, v1)),
        ) = (
            &*qs,
            &*ks,
            &*vs,
            ql.contiguous_offsets(),
            kl.contiguous_offsets(),
            vl.contiguous_offsets(),
        ) {
            let out = attend_cpu(
                &qc.as_slice::<f32>()?[q0..q1],
                &kc.as_slice::<f32>()?[k0..k1],
                &vc.as_slice::<f32>()?[v0..v1],
                Dims { b, n, m, heads, d },
                scale as f32,
            )?;
            // [B, H, N, d] → [B, N, H·d]
            return Tensor::from_vec(out, (b, heads, n, d), q.device())?
                .transpose(1, 2)?
                .reshape((b, n, inner));
        }
    }
    attend_candle(q, k, v, heads, scale)
}

/// candle's tensor operations, in f32 (the reference for [`attend_cpu`] and the CUDA path).
fn attend_candle(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    scale: f64,
) -> CandleResult<Tensor> {
    let (b, n, inner) = q.dims3()?;
    let m = k.dim(1)?;
    let d = inner / heads;
    let split = |t: &Tensor, len: usize| -> CandleResult<Tensor> {
        t.reshape((b, len, heads, d))?
            .transpose(1, 2)?
            .contiguous()?
            .to_dtype(DType::F32)
    };
    let (qh, kh, vh) = (split(q, n)?, split(k, m)?, split(v, m)?);
    let scores = (qh.matmul(&kh.t()?)? * scale)?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    probs
        .matmul(&vh)?
        .to_dtype(q.dtype())?
        .transpose(1, 2)?
        .reshape((b, n, inner))
}

#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    n: usize,
    m: usize,
    heads: usize,
    d: usize,
}

/// The blocked kernel; output `[B, H, N, d]`.
fn attend_cpu(q: &[f32], k: &[f32], v: &[f32], dims: Dims, scale: f32) -> CandleResult<Vec<f32>> {
    let Dims { b, n, m, heads, d } = dims;
    let inner = heads * d;
    if q.len() != b * n * inner || k.len() != b * m * inner || v.len() != b * m * inner {
        return Err(candle_core::Error::Msg(
            "attention: input sizes do not match their shapes".into(),
        ));
    }
    let mut out = vec![0f32; b * heads * n * d];
    out.par_chunks_mut(n * d)
        .enumerate()
        .flat_map(|(bh, per_head)| {
            per_head
                .par_chunks_mut(QUERY_BLOCK * d)
                .enumerate()
                .map(move |(blk, o)| (bh, blk, o))
        })
        .for_each_init(Vec::new, |scores, (bh, blk, o)| {
            let (bi, hi) = (bh / heads, bh % heads);
            let r0 = blk * QUERY_BLOCK;
            let rows = o.len() / d;
            scores.clear();
            scores.resize(rows * m, 0.0);
            // Offsets of this block's queries and this head's keys / values. The largest index
            // read through each pointer below is (first row + rows - 1) · inner + d - 1 of its
            // own slice, inside the length checked above.
            let q_off = (bi * n + r0) * inner + hi * d;
            let kv_off = bi * m * inner + hi * d;
            let q_block = &q[q_off..(bi * n + r0 + rows - 1) * inner + hi * d + d];
            let k_head = &k[kv_off..(bi * m + m - 1) * inner + hi * d + d];
            let v_head = &v[kv_off..(bi * m + m - 1) * inner + hi * d + d];
            // SAFETY: every pointer is the start of a slice that holds the whole strided matrix
            // it describes (row stride `inner` or `m`, `d` or `m` columns), the destination is
            // this task's own scratch / output block, and no two tasks share a destination.
            unsafe {
                // scores[rows × m] = scale · Q_block · K_headᵀ
                gemm::gemm(
                    rows,
                    m,
                    d,
                    scores.as_mut_ptr(),
                    1,
                    m as isize,
                    false,
                    q_block.as_ptr(),
                    1,
                    inner as isize,
                    k_head.as_ptr(),
                    inner as isize,
                    1,
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
            let mut sums = [0f32; QUERY_BLOCK];
            for (row, sum) in scores.chunks_exact_mut(m).zip(sums.iter_mut()) {
                *sum = kernels::softmax_numerators(row);
            }
            // SAFETY: as above; `o` is this task's `rows × d` output block.
            unsafe {
                gemm::gemm(
                    rows,
                    d,
                    m,
                    o.as_mut_ptr(),
                    1,
                    d as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    m as isize,
                    v_head.as_ptr(),
                    1,
                    inner as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
            for (row, &sum) in o.chunks_exact_mut(d).zip(&sums) {
                let inv = 1.0 / sum;
                for x in row {
                    *x *= inv;
                }
            }
        });
    Ok(out)
}

/// What the UNet's transformer blocks attend to: the text, and an IP-Adapter's image prompt.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The text encoders' hidden states, `(batch, tokens, cross_attention_dim)`.
    pub text: &'a Tensor,
    pub image: Option<&'a ImagePrompt>,
}

/// An IP-Adapter's reference images as every cross-attention layer sees them: its own keys and
/// values of the image tokens, computed once per picture (they do not change with the step),
/// attended to with the layer's queries and added to the text attention, times `scale`
/// (diffusers' `IPAdapterAttnProcessor`, "decoupled cross-attention").
#[derive(Debug)]
pub struct ImagePrompt {
    /// By the layer's weight path (`down_blocks.1.attentions.0.transformer_blocks.0.attn2`):
    /// keys and values, `(batch, image tokens, heads·d)`.
    pub layers: std::collections::HashMap<String, (Tensor, Tensor)>,
    pub scale: f64,
}

/// diffusers' `Attention` as the UNet's transformer blocks use it (`to_q`, `to_k`, `to_v` without
/// bias, `to_out.0` with).
#[derive(Debug)]
pub struct CrossAttention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: usize,
    scale: f64,
    /// Its weights' path, which names it to an IP-Adapter.
    path: String,
}

impl CrossAttention {
    pub fn new(
        vb: &VarBuilder,
        query_dim: usize,
        context_dim: usize,
        heads: usize,
        head_dim: usize,
    ) -> CandleResult<Self> {
        let inner = heads * head_dim;
        Ok(Self {
            to_q: candle_nn::linear_no_bias(query_dim, inner, vb.pp("to_q"))?,
            to_k: candle_nn::linear_no_bias(context_dim, inner, vb.pp("to_k"))?,
            to_v: candle_nn::linear_no_bias(context_dim, inner, vb.pp("to_v"))?,
            to_out: candle_nn::linear(inner, query_dim, vb.pp("to_out.0"))?,
            heads,
            scale: 1.0 / (head_dim as f64).sqrt(),
            path: vb.prefix(),
        })
    }

    /// Self-attention without a context; with one, cross-attention, plus the image prompt's
    /// keys and values for this layer when there is one.
    pub fn forward(&self, x: &Tensor, context: Option<Context<'_>>) -> CandleResult<Tensor> {
        let ctx = context.map_or(x, |c| c.text);
        let q = self.to_q.forward(x)?;
        let k = self.to_k.forward(ctx)?;
        let v = self.to_v.forward(ctx)?;
        let mut o = attend(&q, &k, &v, self.heads, self.scale)?;
        if let Some(prompt) = context.and_then(|c| c.image) {
            let Some((ki, vi)) = prompt.layers.get(&self.path) else {
                return Err(candle_core::Error::Msg(format!(
                    "the image prompt has no keys and values for {}",
                    self.path
                )));
            };
            let image = attend(&q, ki, vi, self.heads, self.scale)?;
            o = (o + (image * prompt.scale)?)?;
        }
        self.to_out.forward(&o)
    }

    /// The weight path and `(heads·d, context dim)` of the key projection (what an
    /// IP-Adapter's `to_k_ip` / `to_v_ip` must match).
    #[must_use]
    pub fn key_shape(&self) -> (&str, (usize, usize)) {
        (&self.path, self.to_k.weight().dims2().unwrap_or((0, 0)))
    }
}

/// diffusers' `FeedForward` with GEGLU (`net.0.proj` → hidden and gate, `net.2` back).
#[derive(Debug)]
struct FeedForward {
    proj: Linear,
    out: Linear,
}

impl FeedForward {
    fn new(vb: &VarBuilder, dim: usize) -> CandleResult<Self> {
        let inner = 4 * dim;
        Ok(Self {
            proj: candle_nn::linear(dim, 2 * inner, vb.pp("net.0.proj"))?,
            out: candle_nn::linear(inner, dim, vb.pp("net.2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        let h = self.proj.forward(x)?;
        self.out.forward(&geglu(&h)?)
    }
}

/// `hidden · gelu(gate)` where the last dimension is `[hidden, gate]`, exact GELU.
fn geglu(h: &Tensor) -> CandleResult<Tensor> {
    let two = h.dim(D::Minus1)?;
    let half = two / 2;
    if h.device().is_cpu() && h.dtype() == DType::F32 {
        let h = h.contiguous()?;
        let (st, layout) = h.storage_and_layout();
        if let (Storage::Cpu(c), Some((s0, s1))) = (&*st, layout.contiguous_offsets()) {
            let src = &c.as_slice::<f32>()?[s0..s1];
            let mut out = vec![0f32; src.len() / 2];
            out.par_chunks_mut(half)
                .zip(src.par_chunks(two))
                .for_each(|(o, row)| {
                    let (hidden, gate) = row.split_at(half);
                    kernels::geglu(o, hidden, gate);
                });
            let mut dims = h.dims().to_vec();
            if let Some(last) = dims.last_mut() {
                *last = half;
            }
            drop(st);
            return Tensor::from_vec(out, dims, h.device());
        }
    }
    let parts = h.chunk(2, D::Minus1)?;
    &parts[0] * parts[1].gelu_erf()?
}

/// diffusers' `BasicTransformerBlock`: self-attention, cross-attention, GEGLU feed-forward, each
/// after a layer norm and added back.
#[derive(Debug)]
struct TransformerBlock {
    attn1: CrossAttention,
    attn2: CrossAttention,
    ff: FeedForward,
    norm1: LayerNorm,
    norm2: LayerNorm,
    norm3: LayerNorm,
}

impl TransformerBlock {
    fn new(
        vb: &VarBuilder,
        dim: usize,
        heads: usize,
        head_dim: usize,
        context_dim: usize,
    ) -> CandleResult<Self> {
        Ok(Self {
            attn1: CrossAttention::new(&vb.pp("attn1"), dim, dim, heads, head_dim)?,
            attn2: CrossAttention::new(&vb.pp("attn2"), dim, context_dim, heads, head_dim)?,
            ff: FeedForward::new(&vb.pp("ff"), dim)?,
            norm1: candle_nn::layer_norm(dim, 1e-5, vb.pp("norm1"))?,
            norm2: candle_nn::layer_norm(dim, 1e-5, vb.pp("norm2"))?,
            norm3: candle_nn::layer_norm(dim, 1e-5, vb.pp("norm3"))?,
        })
    }

    fn forward(&self, x: &Tensor, context: Context<'_>) -> CandleResult<Tensor> {
        let x = (self.attn1.forward(&self.norm1.forward(x)?, None)? + x)?;
        let x = (self
            .attn2
            .forward(&self.norm2.forward(&x)?, Some(context))?
            + x)?;
        self.ff.forward(&self.norm3.forward(&x)?)? + x
    }
}

/// The transformer's projection in or out: stored as the config says, a linear layer or a 1×1
/// convolution (asked for in that shape, so a builder that creates missing weights creates the
/// right one).
fn projection(vb: &VarBuilder, cin: usize, cout: usize, linear: bool) -> CandleResult<Linear> {
    if linear {
        return candle_nn::linear(cin, cout, vb.clone());
    }
    let w = vb.get((cout, cin, 1, 1), "weight")?.reshape((cout, cin))?;
    Ok(Linear::new(w, Some(vb.get(cout, "bias")?)))
}

/// A linear layer stored as a linear layer (`[C_out, C_in]`) or as a 1×1 convolution
/// (`[C_out, C_in, 1, 1]`: older autoencoders' attention), with a bias; both are a linear map of
/// the channels of `[B, H·W, C]` tokens.
fn linear_or_pointwise(vb: &VarBuilder, cin: usize, cout: usize) -> CandleResult<Linear> {
    let w = match vb.get((cout, cin), "weight") {
        Ok(w) => w,
        Err(_) => vb.get((cout, cin, 1, 1), "weight")?.reshape((cout, cin))?,
    };
    Ok(Linear::new(w, Some(vb.get(cout, "bias")?)))
}

/// diffusers' `Transformer2DModel` as the UNet uses it: group norm, projection in, transformer
/// blocks over the H·W tokens with the text as context, projection out, residual.
#[derive(Debug)]
pub struct SpatialTransformer {
    norm: GroupNormAct,
    proj_in: Linear,
    blocks: Vec<TransformerBlock>,
    proj_out: Linear,
}

/// What a [`SpatialTransformer`] is built with.
#[derive(Clone, Copy, Debug)]
pub struct TransformerConfig {
    pub channels: usize,
    pub heads: usize,
    pub depth: usize,
    pub context_dim: usize,
    pub groups: usize,
    /// Linear projections in and out (`use_linear_projection`) instead of 1×1 convolutions.
    pub linear_projection: bool,
}

impl SpatialTransformer {
    pub fn new(vb: &VarBuilder, c: TransformerConfig) -> CandleResult<Self> {
        let head_dim = c.channels / c.heads.max(1);
        let inner = c.heads * head_dim;
        let blocks = (0..c.depth)
            .map(|i| {
                TransformerBlock::new(
                    &vb.pp("transformer_blocks").pp(i.to_string()),
                    inner,
                    c.heads,
                    head_dim,
                    c.context_dim,
                )
            })
            .collect::<CandleResult<Vec<_>>>()?;
        Ok(Self {
            norm: GroupNormAct::new(c.groups, c.channels, 1e-6, false, &vb.pp("norm"))?,
            proj_in: projection(&vb.pp("proj_in"), c.channels, inner, c.linear_projection)?,
            blocks,
            proj_out: projection(&vb.pp("proj_out"), inner, c.channels, c.linear_projection)?,
        })
    }

    /// Its blocks' cross-attention layers, in order.
    pub fn cross_attentions(&self) -> impl Iterator<Item = &CrossAttention> {
        self.blocks.iter().map(|b| &b.attn2)
    }

    pub fn forward(&self, x: &Tensor, context: Context<'_>) -> CandleResult<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let tokens = self
            .norm
            .forward(x)?
            .reshape((b, c, h * w))?
            .transpose(1, 2)?
            // Contiguous first: candle-nn 0.11's `Linear` on this transposed batched layout
            // takes its broadcast-matmul path, which gave wrong products here (max error 19.7
            // on a [2, 15, 16] input; found by the test below).
            .contiguous()?;
        let mut t = self.proj_in.forward(&tokens)?;
        for block in &self.blocks {
            t = block.forward(&t, context)?;
        }
        let t = self.proj_out.forward(&t)?;
        let y = t.transpose(1, 2)?.reshape((b, c, h, w))?;
        y + x
    }
}

/// The autoencoder's self-attention (diffusers' `Attention` with a group norm, or the older
/// `query` / `key` / `value` / `proj_attn` names), one head per `head_channels` channels.
#[derive(Debug)]
pub struct VaeAttention {
    norm: GroupNormAct,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    scale: f64,
}

impl VaeAttention {
    pub fn new(
        vb: &VarBuilder,
        channels: usize,
        head_channels: Option<usize>,
        groups: usize,
        eps: f64,
    ) -> CandleResult<Self> {
        let head = head_channels.unwrap_or(channels).max(1);
        let names = if vb.contains_tensor("to_q.weight") {
            ["to_q", "to_k", "to_v", "to_out.0"]
        } else {
            ["query", "key", "value", "proj_attn"]
        };
        let lin = |name: &str| linear_or_pointwise(&vb.pp(name), channels, channels);
        Ok(Self {
            norm: GroupNormAct::new(groups, channels, eps, false, &vb.pp("group_norm"))?,
            q: lin(names[0])?,
            k: lin(names[1])?,
            v: lin(names[2])?,
            out: lin(names[3])?,
            heads: channels / head,
            scale: 1.0 / (head as f64).sqrt(),
        })
    }

    pub fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let t = self
            .norm
            .forward(x)?
            .reshape((b, c, h * w))?
            .transpose(1, 2)?
            .contiguous()?;
        let (q, k, v) = (
            self.q.forward(&t)?,
            self.k.forward(&t)?,
            self.v.forward(&t)?,
        );
        let y = self
            .out
            .forward(&attend(&q, &k, &v, self.heads, self.scale)?)?;
        y.transpose(1, 2)?.reshape((b, c, h, w))? + x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    use crate::diffusion::max_abs_diff as max_diff;

    #[test]
    fn the_blocked_kernel_equals_candles_attention() {
        let dev = Device::Cpu;
        // Query counts below, at and across the block size; one and several heads; a context
        // shorter than the queries (cross-attention) and longer.
        for (b, n, m, heads, d) in [
            (2, 5, 7, 2, 3),
            (1, 64, 64, 1, 8),
            (2, 130, 77, 4, 16),
            (1, 3, 200, 8, 5),
        ] {
            let q = Tensor::randn(0f32, 1.0, (b, n, heads * d), &dev).unwrap();
            let k = Tensor::randn(0f32, 1.0, (b, m, heads * d), &dev).unwrap();
            let v = Tensor::randn(0f32, 1.0, (b, m, heads * d), &dev).unwrap();
            let scale = 1.0 / (d as f64).sqrt();
            let ours = attend(&q, &k, &v, heads, scale).unwrap();
            let theirs = attend_candle(&q, &k, &v, heads, scale).unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            let diff = max_diff(&ours, &theirs);
            assert!(diff < 2e-5, "{b} {n} {m} {heads} {d}: {diff}");
        }
        // Large scores (a sharp softmax) must not overflow.
        let q = (Tensor::randn(0f32, 1.0, (1, 9, 4), &dev).unwrap() * 40.0).unwrap();
        let k = (Tensor::randn(0f32, 1.0, (1, 9, 4), &dev).unwrap() * 40.0).unwrap();
        let v = Tensor::randn(0f32, 1.0, (1, 9, 4), &dev).unwrap();
        let ours = attend(&q, &k, &v, 1, 0.5).unwrap();
        let theirs = attend_candle(&q, &k, &v, 1, 0.5).unwrap();
        assert!(max_diff(&ours, &theirs) < 1e-4);
        // Mismatched shapes are an error, not a panic.
        assert!(attend(&q, &k.narrow(2, 0, 3).unwrap(), &v, 1, 0.5).is_err());
    }

    #[test]
    fn geglu_equals_candles_exact_gelu() {
        let dev = Device::Cpu;
        let h = (Tensor::randn(0f32, 1.0, (2, 5, 12), &dev).unwrap() * 3.0).unwrap();
        let parts = h.chunk(2, D::Minus1).unwrap();
        let theirs = (&parts[0] * parts[1].gelu_erf().unwrap()).unwrap();
        assert!(max_diff(&geglu(&h).unwrap(), &theirs) < 1e-5);
    }

    #[test]
    fn the_transformer_and_vae_attention_equal_candles_blocks() {
        use candle_nn::VarMap;
        use candle_transformers::models::stable_diffusion::attention as theirs;
        let dev = Device::Cpu;
        for linear in [false, true] {
            let map = VarMap::new();
            let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
            let cfg = theirs::SpatialTransformerConfig {
                depth: 2,
                num_groups: 4,
                context_dim: Some(12),
                sliced_attention_size: None,
                use_linear_projection: linear,
            };
            let candle_block =
                theirs::SpatialTransformer::new(vb.pp("t"), 16, 2, 8, false, cfg).unwrap();
            let ours = SpatialTransformer::new(
                &vb.pp("t"),
                TransformerConfig {
                    channels: 16,
                    heads: 2,
                    depth: 2,
                    context_dim: 12,
                    groups: 4,
                    linear_projection: linear,
                },
            )
            .unwrap();
            let x = Tensor::randn(0f32, 1.0, (2, 16, 5, 3), &dev).unwrap();
            let ctx = Tensor::randn(0f32, 1.0, (2, 7, 12), &dev).unwrap();
            let want = candle_block.forward(&x, Some(&ctx)).unwrap();
            let got = ours
                .forward(
                    &x,
                    Context {
                        text: &ctx,
                        image: None,
                    },
                )
                .unwrap();
            // candle's GEGLU uses the tanh GELU, ours the exact one diffusers uses (a wrong
            // layout or weight differs by whole units).
            let d = max_diff(&got, &want);
            assert!(d < 2e-2, "linear {linear}: {d}");
        }
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
        let cfg = theirs::AttentionBlockConfig {
            num_head_channels: None,
            num_groups: 4,
            rescale_output_factor: 1.0,
            eps: 1e-6,
        };
        let candle_block = theirs::AttentionBlock::new(vb.pp("a"), 16, cfg).unwrap();
        let ours = VaeAttention::new(&vb.pp("a"), 16, None, 4, 1e-6).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 16, 6, 4), &dev).unwrap();
        let d = max_diff(
            &ours.forward(&x).unwrap(),
            &candle_block.forward(&x).unwrap(),
        );
        assert!(d < 1e-5, "vae attention: {d}");
    }
}
