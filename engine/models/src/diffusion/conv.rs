//! 3×3 "same" convolutions on the CPU without im2col: nine matrix products over shifted views
//! of one zero-padded copy of the input.
//!
//! candle's CPU `conv2d` unfolds the input tile by tile (scattered writes, a per-call
//! NCHW→NHWC copy); in the UNet and the autoencoder that is a third of the time. Here the input
//! is padded once to `(H+2)×(W+2)` per channel, and for each tap `(ky, kx)` the product
//! `Y[:, p] += W_k · X[:, p + ky·(W+2) + kx]` runs over the padded grid's positions `p` (row
//! stride `W+2`, so every view is a plain strided matrix); the two extra columns of each output
//! row are dropped at the end. Matrix products are the `gemm` crate's, as candle's.
//!
//! Other devices and dtypes go through candle's own convolution.

// `unsafe_code` is denied workspace-wide; `gemm::gemm` takes raw pointers and strides. Every call
// below passes pointers into live vectors whose extents are checked first (see `forward`).
#![allow(unsafe_code)]

use candle_core::{DType, Module, Result as CandleResult, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};
use gemm::Parallelism;

/// Floats the stacked views of one chunk may take (64 MB).
const CHUNK_FLOATS: usize = 16 << 20;

/// A 3×3 convolution with stride 1 and padding 1, as `candle_nn::conv2d` builds it (same
/// weight names: `weight` `[C_out, C_in, 3, 3]`, `bias` `[C_out]`).
#[derive(Debug)]
pub struct Conv3x3 {
    cin: usize,
    cout: usize,
    /// `[C_out][9·C_in]` (column `tap·C_in + ci`), f32, packed once at load.
    wide: Vec<f32>,
    bias: Option<Vec<f32>>,
    candle: Conv2d,
}

impl Conv3x3 {
    pub fn new(vb: VarBuilder, cin: usize, cout: usize) -> CandleResult<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let candle = candle_nn::conv2d(cin, cout, 3, cfg, vb)?;
        // Packed only for the CPU (a CUDA model keeps its weights on the card alone).
        let on_cpu = candle.weight().device().is_cpu();
        let w = if on_cpu {
            candle
                .weight()
                .to_dtype(DType::F32)?
                .permute((0, 2, 3, 1))?
                .flatten_all()?
                .to_vec1::<f32>()?
        } else {
            Vec::new()
        };
        let bias = match candle.bias() {
            Some(b) if on_cpu => Some(b.to_dtype(DType::F32)?.to_vec1::<f32>()?),
            _ => None,
        };
        Ok(Self {
            cin,
            cout,
            wide: w,
            bias,
            candle,
        })
    }

    fn fast(&self, x: &Tensor) -> bool {
        !self.wide.is_empty() && x.device().is_cpu() && x.dtype() == DType::F32
    }
}

impl Module for Conv3x3 {
    fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        if !self.fast(x) {
            return self.candle.forward(x);
        }
        let (b, c, h, w) = x.dims4()?;
        if c != self.cin {
            return Err(candle_core::Error::Msg(format!(
                "conv3x3: input has {c} channels, the weights {}",
                self.cin
            )));
        }
        let (hp, wp) = (h + 2, w + 2);
        let plane = hp * wp;
        // Padded input, one image after another; two spare values at the end so the last
        // tap's view of the last channel stays inside the vector.
        let data = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut padded = vec![0f32; b * c * plane + 2];
        for (src, dst) in data.chunks_exact(h * w).zip(padded.chunks_exact_mut(plane)) {
            for (y, row) in src.chunks_exact(w).enumerate() {
                let start = (y + 1) * wp + 1;
                dst[start..start + w].copy_from_slice(row);
            }
        }
        drop(data);
        let n = h * wp; // output positions on the padded-width grid
        let mut full = vec![0f32; self.cout * n];
        let mut out = vec![0f32; b * self.cout * h * w];
        let par = Parallelism::Rayon(rayon::current_num_threads().max(1));
        for (img, out_img) in out.chunks_exact_mut(self.cout * h * w).enumerate() {
            match &self.bias {
                Some(bias) => {
                    for (row, &v) in full.chunks_exact_mut(n).zip(bias) {
                        row.fill(v);
                    }
                }
                None => full.fill(0.0),
            }
            let base = img * c * plane;
            // The nine shifted views stacked into one [9·C_in, cols] matrix per chunk of output
            // positions (each row a contiguous copy), so one product with depth 9·C_in does the
            // tap sum; chunks bound the copy to ~64 MB.
            let depth = 9 * self.cin;
            let chunk = (CHUNK_FLOATS / depth).clamp(256, n.max(256)).min(n);
            let mut col = vec![0f32; depth * chunk];
            let mut start = 0;
            while start < n {
                let cols = chunk.min(n - start);
                for tap in 0..9 {
                    let (ky, kx) = (tap / 3, tap % 3);
                    for ci in 0..self.cin {
                        let src = base + ci * plane + ky * wp + kx + start;
                        let row = (tap * self.cin + ci) * cols;
                        col[row..row + cols].copy_from_slice(&padded[src..src + cols]);
                    }
                }
                // lhs: taps as [C_out][9·C_in] with column stride C_in·... (see `new`): row co,
                // column tap·C_in + ci at tap·C_out·C_in + co·C_in + ci, i.e. not one stride;
                // the packed `wide` copy is [C_out][9·C_in] row-major.
                // rhs: col [9·C_in][cols] row-major; dst: full[:, start..start+cols], row stride n.
                unsafe {
                    gemm::gemm(
                        self.cout,
                        cols,
                        depth,
                        full.as_mut_ptr().add(start),
                        1,
                        n as isize,
                        true,
                        self.wide.as_ptr(),
                        1,
                        depth as isize,
                        col.as_ptr(),
                        1,
                        cols as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        par,
                    );
                }
                start += cols;
            }
            for (src, dst) in full.chunks_exact(n).zip(out_img.chunks_exact_mut(h * w)) {
                for (y, row) in dst.chunks_exact_mut(w).enumerate() {
                    row.copy_from_slice(&src[y * wp..y * wp + w]);
                }
            }
        }
        Tensor::from_vec(out, (b, self.cout, h, w), x.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    #[test]
    fn equals_candles_convolution() {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let conv = Conv3x3::new(vb, 5, 7).unwrap();
        for (h, w) in [(6, 9), (1, 1), (4, 3)] {
            let x = Tensor::randn(0f32, 1.0, (2, 5, h, w), &Device::Cpu).unwrap();
            let ours = conv.forward(&x).unwrap();
            let theirs = conv.candle.forward(&x).unwrap();
            let d = (ours - theirs)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d < 1e-5, "{h}x{w}: {d}");
        }
    }
}
