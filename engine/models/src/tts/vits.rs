//! VITS, as Piper trains and exports it, ported to candle.
//!
//! Inference only (the "reverse" direction of every flow), one utterance at a time, so no
//! padding masks: every mask of the reference is all ones for a single unpadded sequence.
//!
//! * text encoder: symbol embedding × √hidden, 6 transformer layers with windowed relative
//!   position attention (window 4), a conv feed-forward, layer norms over channels; a 1×1
//!   projection to the prior's mean and log-scale.
//! * stochastic duration predictor: noise (× noise_w) through the reversed flows (rational-
//!   quadratic spline coupling layers conditioned by a dilated depthwise-separable conv stack,
//!   channel flips, an elementwise affine) gives log-durations; × length_scale, ceil.
//! * the prior is expanded to frames by those durations, noise (× noise_scale × its scale)
//!   added, and the residual coupling flows (WaveNet conditioners) are run backwards.
//! * HiFi-GAN decoder: transposed-conv upsampling with multi-receptive-field resblocks.
//!
//! Layer sizes, kernel sizes, dilations, paddings and upsampling rates all come from the ONNX
//! file (node attributes and weight shapes), so the x-low / low / medium / high layouts load
//! through the same code; multi-speaker voices add the speaker embedding's conditioning.
//! The small sequential parts (the spline, the duration rounding) run on the host; everything
//! proportional to the audio's length runs on the device.

use candle_core::{DType, Device, Module, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::TtsError;
use super::conv_cpu::{PackedConv, ResSteps, resblock_stage, resblock_stage_into};
use super::onnx::{ConvAttrs, OnnxWeights, Weight};

type CResult<T> = candle_core::Result<T>;

/// Where and how a model is built: the device, and whether the CPU's own kernels are used
/// (`fast`; off, every operation is a portable candle op, as on CUDA).
#[derive(Clone, Debug)]
pub struct Ctx {
    pub device: Device,
    pub fast: bool,
}

fn tensor(w: &Weight, cx: &Ctx) -> Result<Tensor, TtsError> {
    Ok(Tensor::from_vec(
        w.values.clone(),
        w.dims.as_slice(),
        &cx.device,
    )?)
}

/// A Conv1d or ConvTranspose1d as the graph has it.
#[derive(Debug)]
struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    attrs: ConvAttrs,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    /// For 1×1 convolutions: the weight as a [out, in] matrix.
    matrix: Option<Tensor>,
    /// On the CPU: the weights packed for our im2col-free kernels.
    cpu: Option<PackedConv>,
    /// On the CPU, for a depthwise convolution (groups = channels): `[C][K]` taps and the bias.
    depthwise_cpu: Option<(Vec<f32>, Vec<f32>)>,
}

impl Conv {
    fn load(w: &OnnxWeights, module: &str, cx: &Ctx) -> Result<Self, TtsError> {
        let weight = w.weight(module)?;
        let attrs = w.conv_attrs(module)?.clone();
        if weight.dims.len() != 3 {
            return Err(w.missing(&format!("{module}.weight of rank 3")));
        }
        let (in_channels, out_channels) = if attrs.transpose {
            (weight.dims[0], weight.dims[1] * attrs.groups)
        } else {
            (weight.dims[1] * attrs.groups, weight.dims[0])
        };
        let kernel = weight.dims[2];
        let bias_w = w.bias(module);
        let cpu = if cx.fast && cx.device.is_cpu() {
            PackedConv::new(
                &weight.values,
                &weight.dims,
                bias_w.map(|b| b.values.as_slice()),
                attrs.transpose,
                attrs.stride,
                attrs.dilation,
                attrs.groups,
                attrs.pads,
            )
        } else {
            None
        };
        let depthwise_cpu = (cx.fast
            && cx.device.is_cpu()
            && !attrs.transpose
            && attrs.stride == 1
            && attrs.groups > 1
            && attrs.groups == in_channels
            && attrs.groups == out_channels
            && attrs.pads.0 == attrs.pads.1
            && 2 * attrs.pads.0 == attrs.dilation * (kernel - 1))
            .then(|| {
                (
                    weight.values.clone(),
                    bias_w.map_or_else(|| vec![0.0; out_channels], |b| b.values.clone()),
                )
            });
        let weight_t = tensor(weight, cx)?;
        let bias = bias_w
            .map(|b| tensor(b, cx).and_then(|t| Ok(t.reshape((1, out_channels, 1))?)))
            .transpose()?;
        let matrix = (kernel == 1 && !attrs.transpose && attrs.groups == 1 && attrs.pads == (0, 0))
            .then(|| weight_t.reshape((out_channels, in_channels)))
            .transpose()?;
        Ok(Self {
            weight: weight_t,
            bias,
            attrs,
            in_channels,
            out_channels,
            kernel,
            matrix,
            cpu,
            depthwise_cpu,
        })
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        self.forward_fused(x, None, None)
    }

    /// `residual + conv(leaky_relu(x))`, in one pass on the CPU.
    fn forward_fused(
        &self,
        x: &Tensor,
        leaky: Option<f64>,
        residual: Option<&Tensor>,
    ) -> CResult<Tensor> {
        if let Some(p) = &self.cpu {
            let t = x.dim(2)?;
            let slope = leaky.map(|s| s as f32);
            let y = with_cpu_data(x, |xs| match residual {
                Some(r) => with_cpu_data(r, |rs| p.forward(xs, t, slope, Some(rs))),
                None => Ok(p.forward(xs, t, slope, None)),
            })??;
            return Tensor::from_vec(y, (1, p.cout, p.out_len(t)), x.device());
        }
        let xin = match leaky {
            Some(s) => candle_nn::ops::leaky_relu(x, s)?,
            None => x.clone(),
        };
        let y = self.forward_candle(&xin)?;
        match residual {
            Some(r) => y + r,
            None => Ok(y),
        }
    }

    fn forward_candle(&self, x: &Tensor) -> CResult<Tensor> {
        let a = &self.attrs;
        let y = if let Some(m) = &self.matrix {
            // [out, in] @ [in, T]
            let t = x.dim(2)?;
            m.matmul(&x.reshape((self.in_channels, t))?)?
                .reshape((1, self.out_channels, t))?
        } else if a.transpose {
            // Full transposed convolution, then crop the ONNX pads: candle's fast path is
            // for padding 0.
            let full = x.conv_transpose1d(&self.weight, 0, 0, a.stride, a.dilation, a.groups)?;
            let len = full.dim(2)? - a.pads.0 - a.pads.1;
            full.narrow(2, a.pads.0, len)?
        } else if a.groups > 1 && a.groups == self.in_channels && a.groups == self.out_channels {
            self.depthwise(x)?
        } else {
            let x = if a.pads.0 == a.pads.1 {
                x.clone()
            } else {
                x.pad_with_zeros(2, a.pads.0, a.pads.1)?
            };
            let pad = if a.pads.0 == a.pads.1 { a.pads.0 } else { 0 };
            x.conv1d(&self.weight, pad, a.stride, a.dilation, a.groups)?
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    /// A depthwise convolution (one filter per channel) as a sum of shifted, scaled copies.
    fn depthwise(&self, x: &Tensor) -> CResult<Tensor> {
        let a = &self.attrs;
        let t = x.dim(2)?;
        let padded = x.pad_with_zeros(2, a.pads.0, a.pads.1)?;
        let out_len = (t + a.pads.0 + a.pads.1 - a.dilation * (self.kernel - 1) - 1) / a.stride + 1;
        let mut acc: Option<Tensor> = None;
        for k in 0..self.kernel {
            let tap = self
                .weight
                .narrow(2, k, 1)?
                .reshape((1, self.out_channels, 1))?;
            let shifted = padded.narrow(2, k * a.dilation, out_len)?;
            let term = shifted.broadcast_mul(&tap)?;
            acc = Some(match acc {
                Some(s) => (s + term)?,
                None => term,
            });
        }
        acc.ok_or_else(|| candle_core::Error::Msg("empty depthwise kernel".into()))
    }
}

/// Runs `f` on the f32 values of a CPU tensor without copying them (when contiguous).
fn with_cpu_data<R>(x: &Tensor, f: impl FnOnce(&[f32]) -> R) -> CResult<R> {
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else {
        return Err(candle_core::Error::Msg("tensor not contiguous".into()));
    };
    match &*storage {
        candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)) => Ok(f(&v[start..end])),
        _ => Err(candle_core::Error::Msg(
            "expected f32 values on the CPU".into(),
        )),
    }
}

/// Layer norm over the channel axis of [1, C, T].
#[derive(Debug)]
struct ChannelNorm {
    gamma: Tensor,
    beta: Tensor,
    /// γ and β on the host, for the CPU path.
    host: Option<(Vec<f32>, Vec<f32>)>,
}

impl ChannelNorm {
    fn load(w: &OnnxWeights, module: &str, cx: &Ctx) -> Result<Self, TtsError> {
        let get = |p: &str| {
            w.tensor(&format!("{module}.{p}"))
                .ok_or_else(|| w.missing(&format!("{module}.{p}")))
                .and_then(|t| tensor(t, cx))
        };
        let host = if cx.fast && cx.device.is_cpu() {
            let values = |p: &str| {
                w.tensor(&format!("{module}.{p}"))
                    .map(|t| t.values.clone())
                    .ok_or_else(|| w.missing(&format!("{module}.{p}")))
            };
            Some((values("gamma")?, values("beta")?))
        } else {
            None
        };
        Ok(Self {
            gamma: get("gamma")?,
            beta: get("beta")?,
            host,
        })
    }

    /// Normalises `x` (`[C, t]`) over channels at every time step, on the host.
    fn forward_host(&self, x: &[f32], t: usize) -> Option<Vec<f32>> {
        let (gamma, beta) = self.host.as_ref()?;
        let c = gamma.len();
        if x.len() != c * t || beta.len() != c {
            return None;
        }
        let mut mean = vec![0.0f32; t];
        for row in x.chunks_exact(t) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        let inv_c = 1.0 / c as f32;
        mean.iter_mut().for_each(|m| *m *= inv_c);
        let mut var = vec![0.0f32; t];
        for row in x.chunks_exact(t) {
            for ((q, v), m) in var.iter_mut().zip(row).zip(&mean) {
                let d = v - m;
                *q += d * d;
            }
        }
        let rstd: Vec<f32> = var
            .iter()
            .map(|q| 1.0 / (q * inv_c + 1e-5).sqrt())
            .collect();
        let mut y = vec![0.0f32; c * t];
        for (ch, (out, row)) in y.chunks_exact_mut(t).zip(x.chunks_exact(t)).enumerate() {
            let (g, b) = (gamma[ch], beta[ch]);
            for (((o, v), m), r) in out.iter_mut().zip(row).zip(&mean).zip(&rstd) {
                *o = (v - m) * r * g + b;
            }
        }
        Some(y)
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        if self.host.is_some() && x.dim(0)? == 1 && x.device().is_cpu() {
            let t = x.dim(2)?;
            if let Some(y) = with_cpu_data(x, |v| self.forward_host(v, t))? {
                return Tensor::from_vec(y, x.shape(), x.device());
            }
        }
        let xt = x.transpose(1, 2)?.contiguous()?;
        let y = candle_nn::ops::layer_norm(&xt, &self.gamma, &self.beta, 1e-5)?;
        y.transpose(1, 2)?.contiguous()
    }
}

/// Multi-head self-attention with windowed relative position embeddings (keys and values).
#[derive(Debug)]
struct Attention {
    q: Conv,
    k: Conv,
    v: Conv,
    o: Conv,
    heads: usize,
    /// [2·window+1, k_channels]
    rel_k: Tensor,
    rel_v: Tensor,
    window: usize,
    /// Banded relative attention on the host (CPU only).
    fast: bool,
}

impl Attention {
    fn load(w: &OnnxWeights, m: &str, heads: usize, cx: &Ctx) -> Result<Self, TtsError> {
        let rel = |p: &str| -> Result<Tensor, TtsError> {
            let t = w
                .tensor(&format!("{m}.{p}"))
                .ok_or_else(|| w.missing(&format!("{m}.{p}")))?;
            let n = t.dims.get(1).copied().unwrap_or(0);
            let kc = t.dims.get(2).copied().unwrap_or(0);
            Ok(tensor(t, cx)?.reshape((n, kc))?)
        };
        let rel_k = rel("emb_rel_k")?;
        let window = (rel_k.dim(0)? - 1) / 2;
        Ok(Self {
            q: Conv::load(w, &format!("{m}.conv_q"), cx)?,
            k: Conv::load(w, &format!("{m}.conv_k"), cx)?,
            v: Conv::load(w, &format!("{m}.conv_v"), cx)?,
            o: Conv::load(w, &format!("{m}.conv_o"), cx)?,
            heads,
            fast: cx.fast && cx.device.is_cpu(),
            rel_k,
            rel_v: rel("emb_rel_v")?,
            window,
        })
    }

    /// The relative embeddings for offsets −(L−1)..=(L−1): zero outside the window.
    fn relative(&self, emb: &Tensor, len: usize) -> CResult<Tensor> {
        let w = self.window;
        let pad = len.saturating_sub(w + 1);
        let start = (w + 1).saturating_sub(len);
        emb.pad_with_zeros(0, pad, pad)?
            .narrow(0, start, 2 * len - 1)
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let (_, channels, len) = x.dims3()?;
        let kc = channels / self.heads;
        let split = |t: Tensor| -> CResult<Tensor> {
            // [1, C, T] → [heads, T, kc]
            t.reshape((self.heads, kc, len))?
                .transpose(1, 2)?
                .contiguous()
        };
        let scale = 1.0 / (kc as f64).sqrt();
        let q = (split(self.q.forward(x)?)? * scale)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let mut scores = q.matmul(&k.transpose(1, 2)?.contiguous()?)?;
        let w = self.window;
        let mut out;
        if len > w && self.fast {
            // The same band, read and written in place on the CPU (no [h, L, 2L−1] copies).
            let heads = self.heads;
            let band = q
                .broadcast_matmul(&self.rel_k.t()?.contiguous()?)?
                .contiguous()?; // [h, L, 2w+1]
            let nb = 2 * w + 1;
            let band = band.flatten_all()?.to_vec1::<f32>()?;
            let mut sc = scores.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
            let mut weights = vec![0.0f32; heads * len * nb];
            // Per row of every head, in parallel: add the band of relative logits, softmax
            // (with the vectorisable exp), and read the band of weights back out for the
            // relative values.
            {
                use rayon::prelude::*;
                sc.par_chunks_mut(len)
                    .zip(band.par_chunks(nb))
                    .zip(weights.par_chunks_mut(nb))
                    .enumerate()
                    .for_each(|(row, ((s, b), wr))| {
                        let i = row % len;
                        let lo = i.saturating_sub(w);
                        let hi = (i + w + 1).min(len);
                        for j in lo..hi {
                            s[j] += b[j + w - i];
                        }
                        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        for v in s.iter_mut() {
                            *v = fast_exp(*v - max);
                        }
                        let inv = 1.0 / lane_sum(s);
                        for v in s.iter_mut() {
                            *v *= inv;
                        }
                        for j in lo..hi {
                            wr[j + w - i] = s[j];
                        }
                    });
            }
            let p = Tensor::from_vec(sc, (heads, len, len), x.device())?;
            out = p.matmul(&v)?;
            let weights = Tensor::from_vec(weights, (heads, len, nb), x.device())?;
            out = (out + weights.broadcast_matmul(&self.rel_v)?)?;
        } else if len > w {
            // Only offsets within the window have an embedding (the rest are zero), so the
            // relative logits are q · E_k for the 2w+1 offsets, placed on the band.
            let band = q.broadcast_matmul(&self.rel_k.t()?.contiguous()?)?; // [h, L, 2w+1]
            let full = band.pad_with_zeros(2, len - 1 - w, len - 1 - w)?;
            scores = (scores + rel_to_abs(&full, len)?)?;
            let p = candle_nn::ops::softmax_last_dim(&scores)?;
            out = p.matmul(&v)?;
            let weights = abs_to_rel(&p, len)?.narrow(2, len - 1 - w, 2 * w + 1)?;
            out = (out + weights.contiguous()?.broadcast_matmul(&self.rel_v)?)?;
        } else {
            // Relative keys: q · E_k[j − i].
            let ek = self.relative(&self.rel_k, len)?; // [2L−1, kc]
            let rel_logits = q.broadcast_matmul(&ek.t()?.contiguous()?)?; // [h, L, 2L−1]
            scores = (scores + rel_to_abs(&rel_logits, len)?)?;
            let p = candle_nn::ops::softmax_last_dim(&scores)?;
            out = p.matmul(&v)?; // [h, L, kc]
            let ev = self.relative(&self.rel_v, len)?; // [2L−1, kc]
            out = (out + abs_to_rel(&p, len)?.broadcast_matmul(&ev)?)?;
        }
        let out = out
            .transpose(1, 2)?
            .contiguous()?
            .reshape((1, channels, len))?;
        self.o.forward(&out)
    }
}

/// [h, L, 2L−1] relative logits → [h, L, L] absolute (the reference's pad-and-reshape trick).
fn rel_to_abs(x: &Tensor, len: usize) -> CResult<Tensor> {
    let h = x.dim(0)?;
    let x = x.pad_with_zeros(2, 0, 1)?.reshape((h, 2 * len * len))?;
    let x = x
        .pad_with_zeros(1, 0, len - 1)?
        .reshape((h, len + 1, 2 * len - 1))?;
    x.narrow(1, 0, len)?.narrow(2, len - 1, len)?.contiguous()
}

/// [h, L, L] absolute weights → [h, L, 2L−1] relative.
fn abs_to_rel(x: &Tensor, len: usize) -> CResult<Tensor> {
    let h = x.dim(0)?;
    let x = x
        .pad_with_zeros(2, 0, len - 1)?
        .reshape((h, len * (2 * len - 1)))?;
    let x = x.pad_with_zeros(1, len, 0)?.reshape((h, len, 2 * len))?;
    x.narrow(2, 1, 2 * len - 1)?.contiguous()
}

#[derive(Debug)]
struct EncoderLayer {
    attn: Attention,
    norm1: ChannelNorm,
    ffn1: Conv,
    ffn2: Conv,
    norm2: ChannelNorm,
}

/// Dilated depthwise-separable convolutions (the duration predictor's conditioner).
#[derive(Debug)]
struct DdsConv {
    layers: Vec<(Conv, ChannelNorm, Conv, ChannelNorm)>,
}

impl DdsConv {
    fn load(w: &OnnxWeights, m: &str, cx: &Ctx) -> Result<Self, TtsError> {
        let mut layers = Vec::new();
        for i in 0.. {
            let sep = format!("{m}.convs_sep.{i}");
            if !w.has_module(&sep) {
                break;
            }
            layers.push((
                Conv::load(w, &sep, cx)?,
                ChannelNorm::load(w, &format!("{m}.norms_1.{i}"), cx)?,
                Conv::load(w, &format!("{m}.convs_1x1.{i}"), cx)?,
                ChannelNorm::load(w, &format!("{m}.norms_2.{i}"), cx)?,
            ));
        }
        if layers.is_empty() {
            return Err(w.missing(&format!("{m}.convs_sep.0")));
        }
        Ok(Self { layers })
    }

    fn forward(&self, x: &Tensor, g: Option<&Tensor>) -> CResult<Tensor> {
        let mut x = match g {
            Some(g) => (x + g)?,
            None => x.clone(),
        };
        if let Some(y) = self.forward_host(&x)? {
            return Ok(y);
        }
        for (sep, n1, pw, n2) in &self.layers {
            let y = n1.forward(&sep.forward(&x)?)?.gelu_erf()?;
            let y = n2.forward(&pw.forward(&y)?)?.gelu_erf()?;
            x = (x + y)?;
        }
        Ok(x)
    }

    /// Every layer on the host (one pass per step instead of a chain of tensor ops), when
    /// the CPU weights are there.
    fn forward_host(&self, x: &Tensor) -> CResult<Option<Tensor>> {
        let (b, c, t) = x.dims3()?;
        let all_on_host = self.layers.iter().all(|(sep, n1, pw, n2)| {
            sep.depthwise_cpu.is_some()
                && pw.cpu.is_some()
                && n1.host.is_some()
                && n2.host.is_some()
        });
        if b != 1 || !all_on_host || !x.device().is_cpu() {
            return Ok(None);
        }
        let mut v = with_cpu_data(x, <[f32]>::to_vec)?;
        for (sep, n1, pw, n2) in &self.layers {
            let (Some((taps, bias)), Some(pw_cpu)) = (&sep.depthwise_cpu, &pw.cpu) else {
                return Ok(None);
            };
            let k = sep.kernel;
            let d = sep.attrs.dilation;
            let pad = sep.attrs.pads.0;
            if taps.len() != c * k || pw_cpu.cin != c || pw_cpu.cout != c || pw_cpu.out_len(t) != t
            {
                return Ok(None);
            }
            // Depthwise: y[ch, i] = b[ch] + Σ_k w[ch, k] · x[ch, i + k·d − pad] (zero outside).
            let mut y = vec![0.0f32; c * t];
            for ch in 0..c {
                let row = &v[ch * t..][..t];
                let out = &mut y[ch * t..][..t];
                out.fill(bias[ch]);
                for kk in 0..k {
                    let wv = taps[ch * k + kk];
                    let shift = (kk * d) as isize - pad as isize;
                    let lo = (-shift).max(0) as usize;
                    let hi = ((t as isize - shift).max(0) as usize).min(t);
                    if hi > lo {
                        let src = &row[(lo as isize + shift) as usize..][..hi - lo];
                        for (o, xv) in out[lo..hi].iter_mut().zip(src) {
                            *o += wv * xv;
                        }
                    }
                }
            }
            let Some(mut y) = n1.forward_host(&y, t) else {
                return Ok(None);
            };
            y.iter_mut().for_each(|e| *e = fast_gelu(*e));
            let y = pw_cpu.forward(&y, t, None, None);
            let Some(mut y) = n2.forward_host(&y, t) else {
                return Ok(None);
            };
            for (xv, e) in v.iter_mut().zip(y.iter_mut()) {
                *xv += fast_gelu(*e);
            }
        }
        Ok(Some(Tensor::from_vec(v, (1, c, t), x.device())?))
    }
}

/// One rational-quadratic spline coupling flow of the duration predictor.
#[derive(Debug)]
struct ConvFlow {
    pre: Conv,
    convs: DdsConv,
    proj: Conv,
    filter_channels: usize,
}

/// The stochastic duration predictor.
#[derive(Debug)]
struct DurationPredictor {
    pre: Conv,
    cond: Option<Conv>,
    convs: DdsConv,
    proj: Conv,
    /// Spline flows in the order the reverse pass runs them.
    flows: Vec<ConvFlow>,
    /// The elementwise affine flow: mean and exp(−log-scale), per channel (2).
    affine_m: [f32; 2],
    affine_inv_scale: [f32; 2],
}

impl DurationPredictor {
    fn load(w: &OnnxWeights, cx: &Ctx) -> Result<Self, TtsError> {
        if !w.has_module("dp.flows.0") && w.tensor("dp.flows.0.m").is_none() {
            return Err(w.missing(
                "stochastic duration predictor (dp.flows.0.m); voices trained without use_sdp are not supported yet",
            ));
        }
        let m = w
            .tensor("dp.flows.0.m")
            .ok_or_else(|| w.missing("dp.flows.0.m"))?;
        let inv_scale: Vec<f32> = if let Some(logs) = w.tensor("dp.flows.0.logs") {
            logs.values.iter().map(|l| (-l).exp()).collect()
        } else {
            // The exporter folds exp(−logs) into a constant.
            w.tensor("/dp/flows.0/Exp_output_0")
                .ok_or_else(|| w.missing("dp.flows.0.logs"))?
                .values
                .clone()
        };
        if m.values.len() != 2 || inv_scale.len() != 2 {
            return Err(w.missing("dp.flows.0 with 2 channels"));
        }
        let mut indices: Vec<usize> = (1..64)
            .filter(|i| w.has_module(&format!("dp.flows.{i}.pre")))
            .collect();
        indices.sort_unstable_by(|a, b| b.cmp(a));
        let mut flows = Vec::new();
        for i in indices {
            let m = format!("dp.flows.{i}");
            let proj = Conv::load(w, &format!("{m}.proj"), cx)?;
            let pre = Conv::load(w, &format!("{m}.pre"), cx)?;
            flows.push(ConvFlow {
                filter_channels: pre.out_channels,
                pre,
                convs: DdsConv::load(w, &format!("{m}.convs"), cx)?,
                proj,
            });
        }
        Ok(Self {
            pre: Conv::load(w, "dp.pre", cx)?,
            cond: w
                .has_module("dp.cond")
                .then(|| Conv::load(w, "dp.cond", cx))
                .transpose()?,
            convs: DdsConv::load(w, "dp.convs", cx)?,
            proj: Conv::load(w, "dp.proj", cx)?,
            flows,
            affine_m: [m.values[0], m.values[1]],
            affine_inv_scale: [inv_scale[0], inv_scale[1]],
        })
    }

    /// Log-durations per symbol from the encoder output and noise `z` (two channels).
    fn forward(
        &self,
        x: &Tensor,
        g: Option<&Tensor>,
        mut z: [Vec<f32>; 2],
    ) -> Result<Vec<f32>, TtsError> {
        let mut x = self.pre.forward(x)?;
        if let (Some(cond), Some(g)) = (&self.cond, g) {
            x = x.broadcast_add(&cond.forward(g)?)?;
        }
        let x = self.proj.forward(&self.convs.forward(&x, None)?)?;
        let len = x.dim(2)?;
        let device = x.device().clone();
        for flow in &self.flows {
            z.swap(0, 1); // Flip
            let x0 = Tensor::from_vec(z[0].clone(), (1, 1, len), &device)?;
            let h = flow.pre.forward(&x0)?;
            let h = flow.convs.forward(&h, Some(&x))?;
            let h = flow.proj.forward(&h)?; // [1, 3·bins−1, T]
            let params = h.squeeze(0)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            let scale = 1.0 / (flow.filter_channels as f32).sqrt();
            let bins = (params.len() + 1) / 3;
            for (t, v) in z[1].iter_mut().enumerate() {
                let col = |r: std::ops::Range<usize>, s: f32| -> Vec<f32> {
                    r.map(|j| params[j][t] * s).collect()
                };
                *v = spline_inverse(
                    *v,
                    &col(0..bins, scale),
                    &col(bins..2 * bins, scale),
                    &col(2 * bins..params.len(), 1.0),
                    TAIL_BOUND,
                );
            }
        }
        z.swap(0, 1); // the Flip before the affine flow
        for (c, channel) in z.iter_mut().enumerate() {
            for v in channel.iter_mut() {
                *v = (*v - self.affine_m[c]) * self.affine_inv_scale[c];
            }
        }
        let [logw, _] = z;
        Ok(logw)
    }
}

const TAIL_BOUND: f32 = 5.0;
const MIN_BIN: f32 = 1e-3;
const MIN_DERIVATIVE: f32 = 1e-3;

fn softmax(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - max).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

fn softplus(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// Knot positions from unnormalised bin sizes over [lo, hi].
fn knots(unnormalised: &[f32], lo: f32, hi: f32) -> Vec<f32> {
    let n = unnormalised.len() as f32;
    let mut cum = vec![0.0f32];
    let mut acc = 0.0f32;
    for w in softmax(unnormalised) {
        acc += MIN_BIN + (1.0 - MIN_BIN * n) * w;
        cum.push(acc);
    }
    let mut k: Vec<f32> = cum.iter().map(|c| (hi - lo) * c + lo).collect();
    k[0] = lo;
    if let Some(last) = k.last_mut() {
        *last = hi;
    }
    k
}

/// The inverse of the unconstrained rational-quadratic spline with linear tails (Durkan et
/// al., "Neural Spline Flows"), as VITS's duration predictor uses it.
fn spline_inverse(
    y: f32,
    widths_u: &[f32],
    heights_u: &[f32],
    derivs_u: &[f32],
    bound: f32,
) -> f32 {
    if !(-bound..=bound).contains(&y) {
        return y;
    }
    let boundary = ((1.0 - MIN_DERIVATIVE).exp() - 1.0).ln();
    let cw = knots(widths_u, -bound, bound);
    let ch = knots(heights_u, -bound, bound);
    let bins = widths_u.len();
    let deriv = |i: usize| -> f32 {
        let u = if i == 0 || i == bins {
            boundary
        } else {
            derivs_u.get(i - 1).copied().unwrap_or(boundary)
        };
        MIN_DERIVATIVE + softplus(u)
    };
    // searchsorted with the last knot nudged up by 1e-6, as the reference does.
    let mut bin = 0usize;
    for (i, &k) in ch.iter().enumerate() {
        let k = if i == bins { k + 1e-6 } else { k };
        if y >= k {
            bin = i;
        }
    }
    let bin = bin.min(bins - 1);
    let (x0, w) = (cw[bin], cw[bin + 1] - cw[bin]);
    let (y0, h) = (ch[bin], ch[bin + 1] - ch[bin]);
    let delta = h / w;
    let (d0, d1) = (deriv(bin), deriv(bin + 1));
    let dy = y - y0;
    let a = dy * (d0 + d1 - 2.0 * delta) + h * (delta - d0);
    let b = h * d0 - dy * (d0 + d1 - 2.0 * delta);
    let c = -delta * dy;
    let disc = (b * b - 4.0 * a * c).max(0.0);
    let root = (2.0 * c) / (-b - disc.sqrt());
    root * w + x0
}

/// WaveNet-style conditioner of a residual coupling flow.
#[derive(Debug)]
struct WaveNet {
    in_layers: Vec<Conv>,
    res_skip: Vec<Conv>,
    cond: Option<Conv>,
    hidden: usize,
}

impl WaveNet {
    fn forward(&self, x: &Tensor, g: Option<&Tensor>) -> CResult<Tensor> {
        let h = self.hidden;
        let g = match (&self.cond, g) {
            (Some(c), Some(g)) => Some(c.forward(g)?),
            _ => None,
        };
        if let Some(y) = self.forward_cpu(x, g.as_ref())? {
            return Ok(y);
        }
        let mut x = x.clone();
        let mut out: Option<Tensor> = None;
        let n = self.in_layers.len();
        for (i, (inl, rs)) in self.in_layers.iter().zip(&self.res_skip).enumerate() {
            let mut x_in = inl.forward(&x)?;
            if let Some(g) = &g {
                x_in = x_in.broadcast_add(&g.narrow(1, i * 2 * h, 2 * h)?)?;
            }
            let acts =
                (x_in.narrow(1, 0, h)?.tanh()? * candle_nn::ops::sigmoid(&x_in.narrow(1, h, h)?)?)?;
            let rs = rs.forward(&acts)?;
            let skip = if i + 1 < n {
                x = (x + rs.narrow(1, 0, h)?)?;
                rs.narrow(1, h, h)?
            } else {
                rs
            };
            out = Some(match out {
                Some(o) => (o + skip)?,
                None => skip,
            });
        }
        out.ok_or_else(|| candle_core::Error::Msg("WaveNet without layers".into()))
    }
}

impl WaveNet {
    /// The whole stack on the host when every layer has CPU weights: the gate
    /// `tanh(a)·σ(b)`, the residual and the skip sum are single passes over the layer's
    /// output instead of a chain of tensor ops (each a copy of the signal).
    fn forward_cpu(&self, x: &Tensor, g: Option<&Tensor>) -> CResult<Option<Tensor>> {
        let h = self.hidden;
        let convs: Option<Vec<(&PackedConv, &PackedConv)>> = self
            .in_layers
            .iter()
            .zip(&self.res_skip)
            .map(|(a, b)| Some((a.cpu.as_ref()?, b.cpu.as_ref()?)))
            .collect();
        let Some(convs) = convs.filter(|_| x.device().is_cpu()) else {
            return Ok(None);
        };
        let n = convs.len();
        let t = x.dim(2)?;
        // The conditioning: one value per channel, the same at every time step.
        let g: Option<Vec<f32>> = match g {
            Some(g) => Some(g.flatten_all()?.to_vec1::<f32>()?),
            None => None,
        };
        let device = x.device().clone();
        let mut x = with_cpu_data(x, <[f32]>::to_vec)?;
        let mut out = vec![0.0f32; h * t];
        let mut acts = vec![0.0f32; h * t];
        for (i, (inl, rs)) in convs.into_iter().enumerate() {
            if inl.cout != 2 * h || inl.out_len(t) != t || rs.out_len(t) != t {
                return Ok(None);
            }
            let x_in = inl.forward(&x, t, None, None);
            for c in 0..h {
                let (ga, gb) = g
                    .as_ref()
                    .map_or((0.0, 0.0), |g| (g[i * 2 * h + c], g[i * 2 * h + h + c]));
                let a = &x_in[c * t..][..t];
                let b = &x_in[(h + c) * t..][..t];
                for ((o, &a), &b) in acts[c * t..][..t].iter_mut().zip(a).zip(b) {
                    *o = fast_tanh(a + ga) * fast_sigmoid(b + gb);
                }
            }
            let r = rs.forward(&acts, t, None, None);
            if i + 1 < n {
                for (xv, rv) in x.iter_mut().zip(&r[..h * t]) {
                    *xv += rv;
                }
                for (ov, rv) in out.iter_mut().zip(&r[h * t..]) {
                    *ov += rv;
                }
            } else {
                for (ov, rv) in out.iter_mut().zip(&r) {
                    *ov += rv;
                }
            }
        }
        Ok(Some(Tensor::from_vec(out, (1, h, t), &device)?))
    }
}

/// `e^x` for |x| ≤ 87, branch-free so loops over it vectorise: `2^n · p(r)` with
/// `x = n·ln 2 + r`, |r| ≤ ln 2 / 2, and a degree-6 polynomial (relative error ~2e-7).
#[inline]
fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 87.0);
    // Round to nearest by adding and subtracting 1.5·2^23 (SSE2 has no rounding instruction
    // and `f32::round` is a library call, which would keep the loops from vectorising).
    const SHIFTER: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + SHIFTER) - SHIFTER;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    // 2^n through the exponent bits (n in −126..=126 after the clamp).
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// A sum in eight interleaved lanes (vectorises; the order differs from a serial sum only
/// by rounding).
fn lane_sum(v: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// erf by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), branch-free.
#[inline]
fn fast_erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let e = 1.0 - poly * fast_exp(-(a * a).min(87.0));
    e.copysign(x)
}

/// GELU with the exact (erf) form, as the exporter's graph computes it.
#[inline]
fn fast_gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + fast_erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline]
fn fast_sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + fast_exp(-x))
}

#[inline]
fn fast_tanh(x: f32) -> f32 {
    // tanh x = 1 − 2 / (e^{2x} + 1); e^{2x} saturates cleanly at the clamp.
    1.0 - 2.0 / (fast_exp(2.0 * x.clamp(-40.0, 40.0)) + 1.0)
}

/// A mean-only residual coupling layer.
#[derive(Debug)]
struct Coupling {
    pre: Conv,
    enc: WaveNet,
    post: Conv,
    half: usize,
}

impl Coupling {
    fn load(w: &OnnxWeights, m: &str, cx: &Ctx) -> Result<Self, TtsError> {
        let pre = Conv::load(w, &format!("{m}.pre"), cx)?;
        let post = Conv::load(w, &format!("{m}.post"), cx)?;
        let hidden = pre.out_channels;
        let mut in_layers = Vec::new();
        let mut res_skip = Vec::new();
        for i in 0.. {
            let name = format!("{m}.enc.in_layers.{i}");
            if !w.has_module(&name) {
                break;
            }
            in_layers.push(Conv::load(w, &name, cx)?);
            res_skip.push(Conv::load(w, &format!("{m}.enc.res_skip_layers.{i}"), cx)?);
        }
        if in_layers.is_empty() {
            return Err(w.missing(&format!("{m}.enc.in_layers.0")));
        }
        if post.out_channels != pre.in_channels {
            return Err(w.missing(&format!(
                "{m}.post of {} channels (mean-only coupling)",
                pre.in_channels
            )));
        }
        let cond_name = format!("{m}.enc.cond_layer");
        Ok(Self {
            half: pre.in_channels,
            pre,
            enc: WaveNet {
                in_layers,
                res_skip,
                cond: w
                    .has_module(&cond_name)
                    .then(|| Conv::load(w, &cond_name, cx))
                    .transpose()?,
                hidden,
            },
            post,
        })
    }

    fn reverse(&self, x: &Tensor, g: Option<&Tensor>) -> CResult<Tensor> {
        let x0 = x.narrow(1, 0, self.half)?;
        let x1 = x.narrow(1, self.half, self.half)?;
        let h = self.enc.forward(&self.pre.forward(&x0)?, g)?;
        let m = self.post.forward(&h)?;
        Tensor::cat(&[&x0, &(x1 - m)?], 1)
    }
}

/// HiFi-GAN resblock, type 1 (two convs per dilation) or type 2 (one).
#[derive(Debug)]
enum ResBlock {
    One(Vec<(Conv, Conv)>),
    Two(Vec<Conv>),
}

const LRELU_SLOPE: f64 = 0.1;

impl ResBlock {
    /// The block's steps for the fused CPU stage, if every conv has CPU weights and keeps
    /// the length ("same" padding).
    fn cpu_steps(&self) -> Option<ResSteps<'_>> {
        fn same(c: &Conv) -> Option<&PackedConv> {
            c.cpu
                .as_ref()
                .filter(|p| p.pads.0 == p.pads.1 && !p.transpose && p.out_len(1000) == 1000)
        }
        match self {
            ResBlock::One(pairs) => pairs
                .iter()
                .map(|(a, b)| Some(vec![same(a)?, same(b)?]))
                .collect(),
            ResBlock::Two(convs) => convs.iter().map(|c| Some(vec![same(c)?])).collect(),
        }
    }

    fn load(w: &OnnxWeights, m: &str, cx: &Ctx) -> Result<Self, TtsError> {
        let list = |name: &str| -> Result<Vec<Conv>, TtsError> {
            let mut v = Vec::new();
            for i in 0.. {
                let c = format!("{m}.{name}.{i}");
                if !w.has_module(&c) {
                    break;
                }
                v.push(Conv::load(w, &c, cx)?);
            }
            Ok(v)
        };
        let convs1 = list("convs1")?;
        if convs1.is_empty() {
            let convs = list("convs")?;
            if convs.is_empty() {
                return Err(w.missing(&format!("{m}.convs.0")));
            }
            Ok(ResBlock::Two(convs))
        } else {
            let convs2 = list("convs2")?;
            if convs2.len() != convs1.len() {
                return Err(w.missing(&format!("{m}.convs2 matching convs1")));
            }
            Ok(ResBlock::One(convs1.into_iter().zip(convs2).collect()))
        }
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let mut x = x.clone();
        match self {
            ResBlock::One(pairs) => {
                for (c1, c2) in pairs {
                    let t = c1.forward_fused(&x, Some(LRELU_SLOPE), None)?;
                    x = c2.forward_fused(&t, Some(LRELU_SLOPE), Some(&x))?;
                }
            }
            ResBlock::Two(convs) => {
                for c in convs {
                    x = c.forward_fused(&x, Some(LRELU_SLOPE), Some(&x))?;
                }
            }
        }
        Ok(x)
    }
}

#[derive(Debug)]
struct Generator {
    conv_pre: Conv,
    cond: Option<Conv>,
    ups: Vec<Conv>,
    /// `ups.len() × kernels` resblocks, stage by stage.
    resblocks: Vec<ResBlock>,
    conv_post: Conv,
    /// The CPU path's two signal buffers, kept between sentences: at audio rate they are tens
    /// of megabytes, and fresh pages cost more than the arithmetic that fills them.
    scratch: std::sync::Mutex<[Vec<f32>; 2]>,
}

/// Largest signal buffer kept between sentences (floats): 64 Mi, 256 MiB each.
const SCRATCH_KEEP: usize = 64 << 20;

impl Generator {
    fn load(w: &OnnxWeights, cx: &Ctx) -> Result<Self, TtsError> {
        let mut ups = Vec::new();
        for i in 0.. {
            let m = format!("dec.ups.{i}");
            if !w.has_module(&m) {
                break;
            }
            ups.push(Conv::load(w, &m, cx)?);
        }
        let mut resblocks = Vec::new();
        for i in 0.. {
            let m = format!("dec.resblocks.{i}");
            if !w.has_module(&format!("{m}.convs.0")) && !w.has_module(&format!("{m}.convs1.0")) {
                break;
            }
            resblocks.push(ResBlock::load(w, &m, cx)?);
        }
        if ups.is_empty() || resblocks.is_empty() || resblocks.len() % ups.len() != 0 {
            return Err(w.missing("dec.ups.N with a whole number of dec.resblocks per stage"));
        }
        Ok(Self {
            conv_pre: Conv::load(w, "dec.conv_pre", cx)?,
            cond: w
                .has_module("dec.cond")
                .then(|| Conv::load(w, "dec.cond", cx))
                .transpose()?,
            ups,
            resblocks,
            conv_post: Conv::load(w, "dec.conv_post", cx)?,
            scratch: std::sync::Mutex::new([Vec::new(), Vec::new()]),
        })
    }

    /// The whole decoder on the host when every part has CPU kernels: upsampling and each
    /// stage's fused resblocks alternate between two reused buffers.
    fn forward_cpu(&self, x: &Tensor) -> CResult<Option<Tensor>> {
        let ups: Option<Vec<&PackedConv>> = self.ups.iter().map(|u| u.cpu.as_ref()).collect();
        let kernels = self.resblocks.len() / self.ups.len();
        let stages: Option<Vec<Vec<ResSteps<'_>>>> = self
            .resblocks
            .chunks(kernels)
            .map(|stage| stage.iter().map(ResBlock::cpu_steps).collect())
            .collect();
        let (Some(ups), Some(stages), Some(post)) = (ups, stages, self.conv_post.cpu.as_ref())
        else {
            return Ok(None);
        };
        // Another synthesis on this voice holds the buffers: use fresh ones.
        let mut fresh = [Vec::new(), Vec::new()];
        let mut guard = self.scratch.try_lock();
        let [a, b] = match guard.as_deref_mut() {
            Ok(kept) => kept,
            Err(_) => &mut fresh,
        };
        let (_, mut channels, mut t) = x.dims3()?;
        let profile = std::env::var_os("PREVIZ_TTS_PROFILE").is_some();
        with_cpu_data(x, |v| {
            a.clear();
            a.extend_from_slice(v);
        })?;
        for (i, (up, blocks)) in ups.iter().zip(&stages).enumerate() {
            let clock = std::time::Instant::now();
            let t_up = up.out_len(t);
            let n = up.cout * t_up;
            if b.len() < n {
                b.resize(n, 0.0);
            }
            up.forward_into(&a[..channels * t], t, Some(LRELU_SLOPE as f32), &mut b[..n]);
            (channels, t) = (up.cout, t_up);
            if profile {
                eprintln!(
                    "tts profile:   ups.{i} {:.1} ms -> [1, {channels}, {t}]",
                    clock.elapsed().as_secs_f64() * 1e3
                );
            }
            let clock = std::time::Instant::now();
            if a.len() < n {
                a.resize(n, 0.0);
            }
            resblock_stage_into(
                &b[..n],
                channels,
                t,
                blocks,
                LRELU_SLOPE as f32,
                &mut a[..n],
            );
            if profile {
                eprintln!(
                    "tts profile:   resblocks of stage {i} (fused) {:.1} ms",
                    clock.elapsed().as_secs_f64() * 1e3
                );
            }
        }
        let mut y = post.forward(&a[..channels * t], t, Some(0.01), None);
        y.iter_mut().for_each(|v| *v = v.tanh());
        for buf in [a, b] {
            if buf.len() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
        }
        let len = post.out_len(t);
        Ok(Some(Tensor::from_vec(y, (1, post.cout, len), x.device())?))
    }

    /// Samples per frame.
    fn hop(&self) -> usize {
        self.ups.iter().map(|u| u.attrs.stride).product()
    }

    fn forward(&self, z: &Tensor, g: Option<&Tensor>) -> CResult<Tensor> {
        let mut x = self.conv_pre.forward(z)?;
        if let (Some(c), Some(g)) = (&self.cond, g) {
            x = x.broadcast_add(&c.forward(g)?)?;
        }
        if x.device().is_cpu()
            && let Some(y) = self.forward_cpu(&x)?
        {
            return Ok(y);
        }
        let kernels = self.resblocks.len() / self.ups.len();
        let profile = std::env::var_os("PREVIZ_TTS_PROFILE").is_some();
        for (i, up) in self.ups.iter().enumerate() {
            let clock = std::time::Instant::now();
            x = up.forward_fused(&x, Some(LRELU_SLOPE), None)?;
            if profile {
                eprintln!(
                    "tts profile:   ups.{i} {:.1} ms -> {:?}",
                    clock.elapsed().as_secs_f64() * 1e3,
                    x.dims()
                );
            }
            let clock = std::time::Instant::now();
            let stage = &self.resblocks[i * kernels..(i + 1) * kernels];
            let fused: Option<Vec<ResSteps<'_>>> = stage.iter().map(ResBlock::cpu_steps).collect();
            if let Some(blocks) = fused.filter(|_| x.device().is_cpu()) {
                let (_, channels, t) = x.dims3()?;
                let y = with_cpu_data(&x, |xs| {
                    resblock_stage(xs, channels, t, &blocks, LRELU_SLOPE as f32)
                })?;
                x = Tensor::from_vec(y, (1, channels, t), x.device())?;
                if profile {
                    eprintln!(
                        "tts profile:   resblocks of stage {i} (fused) {:.1} ms",
                        clock.elapsed().as_secs_f64() * 1e3
                    );
                }
                continue;
            }
            let mut sum: Option<Tensor> = None;
            for rb in &self.resblocks[i * kernels..(i + 1) * kernels] {
                let y = rb.forward(&x)?;
                sum = Some(match sum {
                    Some(s) => (s + y)?,
                    None => y,
                });
            }
            x = match sum {
                Some(s) => (s / kernels as f64)?,
                None => x,
            };
            if profile {
                eprintln!(
                    "tts profile:   resblocks of stage {i} {:.1} ms",
                    clock.elapsed().as_secs_f64() * 1e3
                );
            }
        }
        self.conv_post.forward_fused(&x, Some(0.01), None)?.tanh()
    }
}

/// Scales and noise for one synthesis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scales {
    /// Noise of the prior (voice variation); 0 makes it deterministic.
    pub noise_scale: f32,
    /// Speaking time multiplier: 1.2 is 20% slower.
    pub length_scale: f32,
    /// Noise of the duration predictor (rhythm variation).
    pub noise_w: f32,
}

/// A loaded VITS voice.
#[derive(Debug)]
pub struct Vits {
    device: Device,
    emb: Tensor,
    hidden: usize,
    layers: Vec<EncoderLayer>,
    proj: Conv,
    dp: DurationPredictor,
    /// Coupling flows in the order the reverse pass runs them.
    flows: Vec<Coupling>,
    dec: Generator,
    speakers: Option<Tensor>,
}

/// What one synthesis produced.
#[derive(Clone, Debug)]
pub struct Synthesis {
    pub samples: Vec<f32>,
    /// Frames per input id (the ceil'd durations), for alignment.
    pub durations: Vec<usize>,
}

impl Vits {
    /// Builds the model from an ONNX file's weights on `device` (with the CPU kernels there).
    pub fn load(w: &OnnxWeights, device: &Device) -> Result<Self, TtsError> {
        Self::load_with(
            w,
            &Ctx {
                device: device.clone(),
                fast: true,
            },
        )
    }

    /// [`Self::load`] with the choice of kernels: `fast: false` runs the portable candle ops
    /// the CUDA build runs, so tests check that path on the CPU.
    pub fn load_with(w: &OnnxWeights, cx: &Ctx) -> Result<Self, TtsError> {
        let emb_w = w.weight("enc_p.emb")?;
        if emb_w.dims.len() != 2 {
            return Err(w.missing("enc_p.emb of rank 2"));
        }
        let hidden = emb_w.dims[1];
        let emb = tensor(emb_w, cx)?;
        let mut layers = Vec::new();
        for i in 0.. {
            let m = format!("enc_p.encoder.attn_layers.{i}");
            if !w.has_module(&format!("{m}.conv_q")) {
                break;
            }
            let heads = attention_heads(w, &m, hidden)?;
            layers.push(EncoderLayer {
                attn: Attention::load(w, &m, heads, cx)?,
                norm1: ChannelNorm::load(w, &format!("enc_p.encoder.norm_layers_1.{i}"), cx)?,
                ffn1: Conv::load(w, &format!("enc_p.encoder.ffn_layers.{i}.conv_1"), cx)?,
                ffn2: Conv::load(w, &format!("enc_p.encoder.ffn_layers.{i}.conv_2"), cx)?,
                norm2: ChannelNorm::load(w, &format!("enc_p.encoder.norm_layers_2.{i}"), cx)?,
            });
        }
        if layers.is_empty() {
            return Err(w.missing("enc_p.encoder.attn_layers.0"));
        }
        let mut coupling: Vec<usize> = (0..64)
            .filter(|i| w.has_module(&format!("flow.flows.{i}.pre")))
            .collect();
        coupling.sort_unstable_by(|a, b| b.cmp(a));
        let flows = coupling
            .into_iter()
            .map(|i| Coupling::load(w, &format!("flow.flows.{i}"), cx))
            .collect::<Result<Vec<_>, _>>()?;
        if flows.is_empty() {
            return Err(w.missing("flow.flows.0"));
        }
        let speakers = w
            .tensor("emb_g.weight")
            .map(|t| tensor(t, cx))
            .transpose()?;
        Ok(Self {
            device: cx.device.clone(),
            emb,
            hidden,
            layers,
            proj: Conv::load(w, "enc_p.proj", cx)?,
            dp: DurationPredictor::load(w, cx)?,
            flows,
            dec: Generator::load(w, cx)?,
            speakers,
        })
    }

    /// Audio samples per decoder frame (256 for Piper voices).
    #[must_use]
    pub fn hop(&self) -> usize {
        self.dec.hop()
    }

    /// The number of symbols the embedding knows.
    pub fn symbols(&self) -> usize {
        self.emb.dim(0).unwrap_or(0)
    }

    /// Synthesises `ids` with `scales`; `seed` drives both noises (irrelevant when they are 0).
    pub fn synthesize(
        &self,
        ids: &[i64],
        speaker: i64,
        scales: Scales,
        seed: u64,
    ) -> Result<Synthesis, TtsError> {
        let symbols = self.symbols();
        if ids.is_empty() {
            return Ok(Synthesis {
                samples: Vec::new(),
                durations: Vec::new(),
            });
        }
        let idx: Vec<u32> = ids
            .iter()
            .map(|&i| {
                u32::try_from(i)
                    .ok()
                    .filter(|&u| (u as usize) < symbols)
                    .ok_or(TtsError::BadInput(format!(
                        "phoneme id {i} is outside the voice's {symbols} symbols"
                    )))
            })
            .collect::<Result<_, _>>()?;
        let len = idx.len();
        let g = match &self.speakers {
            Some(table) => {
                let n = table.dim(0)?;
                let s = usize::try_from(speaker)
                    .ok()
                    .filter(|&s| s < n)
                    .ok_or_else(|| TtsError::BadInput(format!("speaker {speaker} of {n}")))?;
                Some(table.narrow(0, s, 1)?.reshape((1, table.dim(1)?, 1))?)
            }
            None => None,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);

        let profile = std::env::var_os("PREVIZ_TTS_PROFILE").is_some();
        let mut clock = std::time::Instant::now();
        let mut lap = |stage: &str| {
            if profile {
                eprintln!(
                    "tts profile: {stage} {:.1} ms",
                    clock.elapsed().as_secs_f64() * 1e3
                );
                clock = std::time::Instant::now();
            }
        };
        // Text encoder.
        let ids_t = Tensor::from_vec(idx, len, &self.device)?;
        let x = (self.emb.index_select(&ids_t, 0)? * (self.hidden as f64).sqrt())?;
        let mut x = x.t()?.contiguous()?.reshape((1, self.hidden, len))?;
        let (mut t_attn, mut t_ffn) = (0.0, 0.0);
        for l in &self.layers {
            let c = std::time::Instant::now();
            let y = l.attn.forward(&x)?;
            x = l.norm1.forward(&(x + y)?)?;
            t_attn += c.elapsed().as_secs_f64();
            let c = std::time::Instant::now();
            let y = l.ffn2.forward(&same(
                &l.ffn1.forward(&same(&x, l.ffn1.kernel)?)?.relu()?,
                l.ffn2.kernel,
            )?)?;
            x = l.norm2.forward(&(x + y)?)?;
            t_ffn += c.elapsed().as_secs_f64();
        }
        if profile {
            eprintln!(
                "tts profile:   attention {:.1} ms, feed-forward {:.1} ms",
                t_attn * 1e3,
                t_ffn * 1e3
            );
        }
        let stats = self.proj.forward(&x)?;
        let inter = stats.dim(1)? / 2;
        let m_p = stats.narrow(1, 0, inter)?;
        let logs_p = stats.narrow(1, inter, inter)?;
        lap("encoder");

        // Durations.
        let z = [
            normal(&mut rng, len, scales.noise_w),
            normal(&mut rng, len, scales.noise_w),
        ];
        let logw = self.dp.forward(&x, g.as_ref(), z)?;
        let durations: Vec<usize> = logw
            .iter()
            .map(|l| {
                let w = (l.exp() * scales.length_scale).ceil();
                if w.is_finite() && w > 0.0 {
                    w as usize
                } else {
                    0
                }
            })
            .collect();
        let frames: usize = durations.iter().sum();
        let (m, logs) = if frames == 0 {
            (
                Tensor::zeros((1, inter, 1), DType::F32, &self.device)?,
                Tensor::zeros((1, inter, 1), DType::F32, &self.device)?,
            )
        } else {
            let mut map = Vec::with_capacity(frames);
            for (i, &d) in durations.iter().enumerate() {
                map.extend(std::iter::repeat_n(i as u32, d));
            }
            let map = Tensor::from_vec(map, frames, &self.device)?;
            (m_p.index_select(&map, 2)?, logs_p.index_select(&map, 2)?)
        };
        let frames = frames.max(1);
        lap("durations");

        // Prior sample, flows backwards, decoder.
        let mut z = m;
        if scales.noise_scale != 0.0 {
            let eps = Tensor::from_vec(
                normal(&mut rng, inter * frames, scales.noise_scale),
                (1, inter, frames),
                &self.device,
            )?;
            z = (z + eps * logs.exp()?)?;
        }
        let flip: Vec<u32> = (0..inter as u32).rev().collect();
        let flip = Tensor::from_vec(flip, inter, &self.device)?;
        for f in &self.flows {
            z = z.index_select(&flip, 1)?;
            z = f.reverse(&z, g.as_ref())?;
        }
        lap("flows");
        let audio = self.dec.forward(&z, g.as_ref())?;
        let samples = audio
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?;
        Ok(Synthesis { samples, durations })
    }
}

/// The feed-forward's explicit "same" padding (the exporter writes it as a Pad node before a
/// Conv with no padding): (k−1)/2 on the left, k/2 on the right.
fn same(x: &Tensor, kernel: usize) -> CResult<Tensor> {
    x.pad_with_zeros(2, (kernel - 1) / 2, kernel / 2)
}

/// Heads of an attention layer: hidden / the relative embedding's width.
fn attention_heads(w: &OnnxWeights, m: &str, hidden: usize) -> Result<usize, TtsError> {
    let kc = w
        .tensor(&format!("{m}.emb_rel_k"))
        .and_then(|t| t.dims.last().copied())
        .filter(|&kc| kc > 0 && hidden.is_multiple_of(kc))
        .ok_or_else(|| w.missing(&format!("{m}.emb_rel_k")))?;
    Ok(hidden / kc)
}

/// `n` standard normal samples × `scale` (Box–Muller on a seeded ChaCha8).
fn normal(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    use rand::Rng;
    if scale == 0.0 {
        return vec![0.0; n];
    }
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random::<f32>();
        let r = (-2.0 * u1.ln()).sqrt();
        let th = std::f32::consts::TAU * u2;
        out.push(r * th.cos() * scale);
        out.push(r * th.sin() * scale);
    }
    out.truncate(n);
    out
}

impl Module for Conv {
    fn forward(&self, xs: &Tensor) -> CResult<Tensor> {
        Conv::forward(self, xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by Simpson's rule in f64 (the reference for the fast one).
    fn libm_erf(x: f64) -> f64 {
        let n = 2000;
        let h = x / f64::from(n);
        let f = |t: f64| (-t * t).exp();
        let mut sum = f(0.0) + f(x);
        for i in 1..n {
            sum += f(f64::from(i) * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        sum * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn the_fast_gate_functions_match_the_library_ones() {
        for i in -4000..=4000 {
            let x = i as f32 * 0.01;
            let e = x.exp();
            assert!(((fast_exp(x) - e) / e).abs() < 1e-6, "exp {x}");
            assert!((fast_tanh(x) - x.tanh()).abs() < 1e-6, "tanh {x}");
            let s = 1.0 / (1.0 + (-x).exp());
            assert!((fast_sigmoid(x) - s).abs() < 1e-6, "sigmoid {x}");
        }
        for i in -600..=600 {
            let x = i as f32 * 0.01;
            // erf through the library's erfc-free identity: compare against f64's.
            let want = libm_erf(f64::from(x)) as f32;
            assert!(
                (fast_erf(x) - want).abs() < 5e-7,
                "erf {x}: {} vs {want}",
                fast_erf(x)
            );
        }
        for x in [-1e9f32, -100.0, 100.0, 1e9, f32::MIN, f32::MAX] {
            assert!(fast_tanh(x).is_finite() && fast_tanh(x).abs() <= 1.0);
            assert!((0.0..=1.0).contains(&fast_sigmoid(x)));
        }
    }

    #[test]
    fn the_spline_inverts_the_forward_spline() {
        // Forward spline (reference formulas) at a few points, then invert.
        let wu = [0.3, -0.2, 0.5, 0.1, 0.0, -0.4, 0.2, 0.7, -0.1, 0.05];
        let hu = [0.1, 0.4, -0.3, 0.2, 0.6, -0.5, 0.0, 0.3, -0.2, 0.1];
        let du = [0.2, -0.1, 0.4, 0.0, 0.3, -0.3, 0.1, 0.5, -0.2];
        let cw = knots(&wu, -5.0, 5.0);
        let ch = knots(&hu, -5.0, 5.0);
        let boundary = ((1.0f32 - MIN_DERIVATIVE).exp() - 1.0).ln();
        let d = |i: usize| {
            MIN_DERIVATIVE
                + softplus(if i == 0 || i == 10 {
                    boundary
                } else {
                    du[i - 1]
                })
        };
        for x in [-4.9f32, -2.0, -0.3, 0.0, 1.7, 4.2] {
            let bin = (0..10).rfind(|&i| x >= cw[i]).unwrap();
            let (w, h) = (cw[bin + 1] - cw[bin], ch[bin + 1] - ch[bin]);
            let delta = h / w;
            let theta = (x - cw[bin]) / w;
            let tt = theta * (1.0 - theta);
            let num = h * (delta * theta * theta + d(bin) * tt);
            let den = delta + (d(bin) + d(bin + 1) - 2.0 * delta) * tt;
            let y = ch[bin] + num / den;
            let back = spline_inverse(y, &wu, &hu, &du, 5.0);
            assert!((back - x).abs() < 1e-4, "{x} -> {y} -> {back}");
        }
        assert_eq!(spline_inverse(7.5, &wu, &hu, &du, 5.0), 7.5, "linear tails");
    }

    #[test]
    fn relative_position_reshapes_match_direct_indexing() {
        let len = 4;
        let dev = Device::Cpu;
        let rel: Vec<f32> = (0..(len * (2 * len - 1))).map(|v| v as f32).collect();
        let t = Tensor::from_vec(rel.clone(), (1, len, 2 * len - 1), &dev).unwrap();
        let abs = rel_to_abs(&t, len)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for i in 0..len {
            for j in 0..len {
                // offset j − i lives at column (j − i) + (len − 1)
                assert_eq!(abs[i][j], rel[i * (2 * len - 1) + j + len - 1 - i]);
            }
        }
        let a: Vec<f32> = (0..len * len).map(|v| v as f32 + 1.0).collect();
        let t = Tensor::from_vec(a.clone(), (1, len, len), &dev).unwrap();
        let r = abs_to_rel(&t, len)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for i in 0..len {
            for (c, &v) in r[i].iter().enumerate() {
                let j = c as isize - (len as isize - 1) + i as isize;
                let want = if (0..len as isize).contains(&j) {
                    a[i * len + j as usize]
                } else {
                    0.0
                };
                assert_eq!(v, want, "row {i} col {c}");
            }
        }
    }

    #[test]
    fn normal_noise_is_seeded_and_zero_scale_is_exact_zero() {
        let mut a = ChaCha8Rng::seed_from_u64(7);
        let mut b = ChaCha8Rng::seed_from_u64(7);
        assert_eq!(normal(&mut a, 5, 1.0), normal(&mut b, 5, 1.0));
        assert!(normal(&mut a, 3, 0.0).iter().all(|v| *v == 0.0));
        let v = normal(&mut a, 20_000, 1.0);
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
