//! Group normalisation followed by SiLU, in one pass over the data on the CPU.
//!
//! candle's `GroupNorm` is six tensor operations (mean, subtract, square, mean, divide, then a
//! broadcast multiply and add over strided indices), each a full pass and a fresh buffer, and the
//! SiLU after it is one more; in the autoencoder's decoder that was a third of the time. Here each
//! (image, group) slice — contiguous in NCHW — is read twice (mean, then variance about it, in
//! f64) and written once, with the channel's scale and shift and the activation folded in;
//! slices run in parallel. Other devices and dtypes go through candle's `GroupNorm` and SiLU.

use candle_core::{DType, Module, Result as CandleResult, Storage, Tensor};
use candle_nn::{GroupNorm, VarBuilder};
use rayon::prelude::*;

use super::kernels;

/// `GroupNorm(groups, channels, eps)` with diffusers' weight names (`weight`, `bias`), optionally
/// followed by SiLU.
#[derive(Debug)]
pub struct GroupNormAct {
    candle: GroupNorm,
    groups: usize,
    channels: usize,
    eps: f64,
    silu: bool,
    /// Per-channel scale and shift, f32, for the CPU path (empty on other devices).
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl GroupNormAct {
    pub fn new(
        groups: usize,
        channels: usize,
        eps: f64,
        silu: bool,
        vb: &VarBuilder,
    ) -> CandleResult<Self> {
        // candle's constructor divides by the group count; a bad config is an error here.
        if groups == 0 || !channels.is_multiple_of(groups) {
            return Err(candle_core::Error::Msg(format!(
                "group norm: {channels} channels do not split into {groups} groups"
            )));
        }
        let candle = candle_nn::group_norm(groups, channels, eps, vb.clone())?;
        let on_cpu = vb.device().is_cpu();
        let (gamma, beta) = if on_cpu {
            (
                vb.get(channels, "weight")?
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?,
                vb.get(channels, "bias")?
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Self {
            candle,
            groups,
            channels,
            eps,
            silu,
            gamma,
            beta,
        })
    }

    fn slow(&self, x: &Tensor) -> CandleResult<Tensor> {
        let y = self.candle.forward(x)?;
        if self.silu {
            candle_nn::ops::silu(&y)
        } else {
            Ok(y)
        }
    }
}

impl GroupNormAct {
    /// Whether the one-pass CPU path applies to `x`.
    pub(crate) fn fast(&self, x: &Tensor) -> bool {
        !self.gamma.is_empty() && x.device().is_cpu() && x.dtype() == DType::F32 && x.rank() >= 2
    }

    /// Whether the norm ends in SiLU.
    pub(crate) fn silu(&self) -> bool {
        self.silu
    }

    /// Per (image, channel) plane of `data` (contiguous NC…, `spatial` values per plane): the
    /// `(a, b)` with which the norm maps a value `v` to `v·a + b` (before the activation).
    pub(crate) fn plane_affine(&self, data: &[f32], b: usize, spatial: usize) -> Vec<(f32, f32)> {
        let per_group = self.channels / self.groups;
        let len = per_group * spatial;
        let mut affine = vec![(0f32, 0f32); b * self.channels];
        if len == 0 {
            return affine;
        }
        affine
            .par_chunks_mut(per_group)
            .zip(data.par_chunks(len))
            .enumerate()
            .for_each(|(slice, (ab, src))| {
                let g = slice % self.groups;
                let (mean, var) = kernels::moments(src);
                let rstd = 1.0 / (var + self.eps).sqrt();
                for (k, ab) in ab.iter_mut().enumerate() {
                    let ch = g * per_group + k;
                    // y = (v - mean) · rstd · gamma + beta = v · a + b
                    let gamma = f64::from(self.gamma[ch]);
                    let a = rstd * gamma;
                    *ab = (a as f32, (f64::from(self.beta[ch]) - mean * a) as f32);
                }
            });
        affine
    }

    /// Checks `x`'s channel count against the weights.
    pub(crate) fn check(&self, x: &Tensor) -> CandleResult<()> {
        let c = x.dims().get(1).copied().unwrap_or(0);
        if c == self.channels && c % self.groups == 0 {
            Ok(())
        } else {
            Err(candle_core::Error::Msg(format!(
                "group norm: input has {c} channels, the weights {} in {} groups",
                self.channels, self.groups
            )))
        }
    }
}

impl Module for GroupNormAct {
    fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        if !self.fast(x) {
            return self.slow(x);
        }
        self.check(x)?;
        let dims = x.dims();
        let b = dims[0];
        let spatial: usize = dims[2..].iter().product();
        if spatial == 0 || b == 0 {
            return self.slow(x);
        }
        let x = x.contiguous()?;
        let (storage, layout) = x.storage_and_layout();
        let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets())
        else {
            drop(storage);
            return self.slow(&x);
        };
        let data = &cpu.as_slice::<f32>()?[start..end];
        let affine = self.plane_affine(data, b, spatial);
        let mut out = vec![0f32; data.len()];
        out.par_chunks_mut(spatial)
            .zip(data.par_chunks(spatial))
            .zip(&affine)
            .for_each(|((d, s), &(a, shift))| kernels::affine_act(d, s, a, shift, self.silu));
        drop(storage);
        Tensor::from_vec(out, dims, x.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use std::collections::HashMap;

    use crate::diffusion::max_abs_diff as max_diff;

    fn norm(silu: bool) -> GroupNormAct {
        let dev = Device::Cpu;
        // Non-trivial scale and shift so the folding of gamma / beta is checked too.
        let tensors = HashMap::from([
            (
                "n.weight".to_string(),
                Tensor::randn(0.5f32, 0.3, 8, &dev).unwrap(),
            ),
            (
                "n.bias".to_string(),
                Tensor::randn(0f32, 0.3, 8, &dev).unwrap(),
            ),
        ]);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        GroupNormAct::new(4, 8, 1e-6, silu, &vb.pp("n")).unwrap()
    }

    #[test]
    fn a_group_count_that_does_not_divide_the_channels_is_an_error() {
        let vb = VarBuilder::zeros(DType::F32, &Device::Cpu);
        for groups in [0, 3] {
            let e = GroupNormAct::new(groups, 8, 1e-6, true, &vb).unwrap_err();
            assert!(e.to_string().contains("do not split"), "{e}");
        }
    }

    #[test]
    fn equals_candles_group_norm_and_silu() {
        let dev = Device::Cpu;
        for silu in [true, false] {
            let gn = norm(silu);
            for shape in [(2, 8, 5, 7), (1, 8, 1, 1), (3, 8, 16, 4)] {
                // An offset far from zero: the variance about the mean must not cancel.
                let x = (Tensor::randn(0f32, 2.0, shape, &dev).unwrap() + 100.0).unwrap();
                let d = max_diff(&gn.forward(&x).unwrap(), &gn.slow(&x).unwrap());
                assert!(d < 1e-3, "{shape:?} silu {silu}: {d}");
            }
            // A strided (transposed) input goes through the contiguous copy.
            let x = Tensor::randn(0f32, 1.0, (2, 3, 8, 8), &dev)
                .unwrap()
                .transpose(1, 3)
                .unwrap();
            let d = max_diff(&gn.forward(&x).unwrap(), &gn.slow(&x).unwrap());
            assert!(d < 1e-5, "strided silu {silu}: {d}");
        }
    }
}
