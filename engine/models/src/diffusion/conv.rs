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

use candle_core::{DType, Module, Result as CandleResult, Storage, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};
use gemm::Parallelism;
use rayon::prelude::*;

use super::kernels;
use super::norm::GroupNormAct;

/// Floats the stacked views of one tile may take (1 MB: what the copy writes is still in the
/// core's cache when the product reads it).
const TILE_FLOATS: usize = 1 << 19;
/// Fewest output positions per tile: below this, repacking the weights for every tile (deep
/// UNet layers: 9·C_in up to 4608) costs more than the cache saves.
const MIN_TILE_COLS: usize = 512;

/// f32 copies of a convolution's weights (laid out by `layout`, then flattened) and bias for
/// the CPU path; empty on other devices (a CUDA model keeps its weights on the card alone).
fn cpu_copies(
    conv: &Conv2d,
    layout: impl FnOnce(Tensor) -> CandleResult<Tensor>,
) -> CandleResult<(Vec<f32>, Option<Vec<f32>>)> {
    if !conv.weight().device().is_cpu() {
        return Ok((Vec::new(), None));
    }
    let w = layout(conv.weight().to_dtype(DType::F32)?)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let bias = match conv.bias() {
        Some(b) => Some(b.to_dtype(DType::F32)?.to_vec1::<f32>()?),
        None => None,
    };
    Ok((w, bias))
}

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
        let (w, bias) = cpu_copies(&candle, |w| w.permute((0, 2, 3, 1)))?;
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
        self.run(x, None, None)
    }
}

impl Conv3x3 {
    /// `self(norm(x))`: on the CPU the norm (and its SiLU) is applied while the input is copied
    /// into the padded planes, so the normalised tensor is never written out on its own.
    pub fn forward_normed(&self, x: &Tensor, norm: &GroupNormAct) -> CandleResult<Tensor> {
        self.forward_normed_plus(x, norm, None)
    }

    /// `self(norm(x)) + residual`, the residual added (on the CPU) while the output is gathered.
    pub fn forward_normed_plus(
        &self,
        x: &Tensor,
        norm: &GroupNormAct,
        residual: Option<&Tensor>,
    ) -> CandleResult<Tensor> {
        if self.fast(x) && norm.fast(x) {
            norm.check(x)?;
            self.run(x, Some(norm), residual)
        } else {
            let y = self.forward(&norm.forward(x)?)?;
            match residual {
                Some(r) => y + r,
                None => Ok(y),
            }
        }
    }

    fn run(
        &self,
        x: &Tensor,
        norm: Option<&GroupNormAct>,
        residual: Option<&Tensor>,
    ) -> CandleResult<Tensor> {
        if !self.fast(x) {
            let y = self.candle.forward(x)?;
            return match residual {
                Some(r) => y + r,
                None => Ok(y),
            };
        }
        let (b, c, h, w) = x.dims4()?;
        if c != self.cin {
            return Err(candle_core::Error::Msg(format!(
                "conv3x3: input has {c} channels, the weights {}",
                self.cin
            )));
        }
        if b == 0 || c == 0 || h == 0 || w == 0 {
            return self.candle.forward(x);
        }
        let x = x.contiguous()?;
        let (storage, layout) = x.storage_and_layout();
        let (Storage::Cpu(cpu), Some((first, last))) = (&*storage, layout.contiguous_offsets())
        else {
            drop(storage);
            return self.candle.forward(&x);
        };
        let data = &cpu.as_slice::<f32>()?[first..last];
        let (hp, wp) = (h + 2, w + 2);
        let plane = hp * wp;
        // The norm's per-plane scale and shift (statistics over the input), if there is one.
        let affine = norm.map(|n| n.plane_affine(data, b, h * w));
        let silu = norm.is_some_and(GroupNormAct::silu);
        // Padded input, one plane per (image, channel), copied (or normalised) in parallel; two
        // spare values at the end so the last tap's view of the last channel stays inside.
        let mut padded = vec![0f32; b * c * plane + 2];
        padded
            .par_chunks_mut(plane)
            .zip(data.par_chunks(h * w))
            .enumerate()
            .for_each(|(p, (dst, src))| {
                for (y, row) in src.chunks_exact(w).enumerate() {
                    let to = &mut dst[(y + 1) * wp + 1..][..w];
                    match &affine {
                        Some(ab) => kernels::affine_act(to, row, ab[p].0, ab[p].1, silu),
                        None => to.copy_from_slice(row),
                    }
                }
            });
        drop(storage);
        let n = h * wp; // output positions on the padded-width grid
        let depth = 9 * self.cin;
        // Output positions are cut into tiles; per tile, the nine shifted views are stacked
        // into one [9·C_in × cols] matrix (each row a contiguous copy) and one single-threaded
        // product of depth 9·C_in does the tap sum. Tiles run in parallel, each on its own
        // core's copy, sized to stay in that core's cache while the product reads it.
        let cols = (TILE_FLOATS / depth).max(MIN_TILE_COLS).min(n);
        let tiles = n.div_ceil(cols);
        let tile_len = self.cout * cols;
        let all = b * tiles * tile_len;
        // [image][tile][C_out][cols]; never zeroed: every value is written below.
        let mut full: Vec<f32> = Vec::with_capacity(all);
        full.spare_capacity_mut()[..all]
            .par_chunks_mut(tile_len)
            .enumerate()
            .for_each_init(Vec::new, |col: &mut Vec<f32>, (t, dst)| {
                let (img, tile) = (t / tiles, t % tiles);
                let start = tile * cols;
                let cur = cols.min(n - start);
                let base = img * c * plane;
                col.clear();
                for r in 0..depth {
                    let (tap, ci) = (r / self.cin, r % self.cin);
                    let src = base + ci * plane + (tap / 3) * wp + tap % 3 + start;
                    col.extend_from_slice(&padded[src..src + cur]);
                }
                // SAFETY: `dst` is C_out rows of `cols` ≥ cur (written, not read: read_dst is
                // false), `wide` holds C_out rows of depth, `col` depth rows of cur.
                unsafe {
                    gemm::gemm(
                        self.cout,
                        cur,
                        depth,
                        dst.as_mut_ptr().cast::<f32>(),
                        1,
                        cols as isize,
                        false,
                        self.wide.as_ptr(),
                        1,
                        depth as isize,
                        col.as_ptr(),
                        1,
                        cur as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
                // The last tile's unused columns, so every value is initialised.
                for row in dst.chunks_exact_mut(cols) {
                    for v in &mut row[cur..] {
                        v.write(0.0);
                    }
                }
            });
        // SAFETY: every tile's C_out rows of `cols` were written above (product or zeros).
        unsafe { full.set_len(all) };
        // Gather each output plane's rows (dropping the two padding columns per row, crossing
        // tile boundaries) and add the bias, one (image, channel) plane per task.
        let per_image = self.cout * h * w;
        let mut out: Vec<f32> = Vec::with_capacity(b * per_image);
        let bias = self.bias.as_deref();
        // The residual, read in place when it is a CPU f32 tensor of the output's shape;
        // otherwise added afterwards.
        let res_t = match residual {
            Some(r)
                if r.dims() == [b, self.cout, h, w]
                    && r.device().is_cpu()
                    && r.dtype() == DType::F32 =>
            {
                Some(r.contiguous()?)
            }
            _ => None,
        };
        let res_guard = res_t.as_ref().map(Tensor::storage_and_layout);
        let res: Option<&[f32]> = match &res_guard {
            Some((st, l)) => match (&**st, l.contiguous_offsets()) {
                (Storage::Cpu(rc), Some((r0, r1))) => Some(&rc.as_slice::<f32>()?[r0..r1]),
                _ => None,
            },
            None => None,
        };
        out.spare_capacity_mut()[..b * per_image]
            .par_chunks_mut(h * w)
            .enumerate()
            .for_each(|(plane_idx, dst)| {
                let (img, co) = (plane_idx / self.cout, plane_idx % self.cout);
                let add = bias.map_or(0.0, |bs| bs[co]);
                let plane_res = res.map(|r| &r[plane_idx * h * w..][..h * w]);
                for (y, row) in dst.chunks_exact_mut(w).enumerate() {
                    let (mut p, mut o) = (y * wp, 0);
                    while o < w {
                        let (tile, within) = (p / cols, p % cols);
                        let take = (cols - within).min(w - o);
                        let src = &full[((img * tiles + tile) * self.cout + co) * cols + within..]
                            [..take];
                        let to = &mut row[o..o + take];
                        match plane_res {
                            Some(r) => {
                                let r = &r[y * w + o..][..take];
                                for ((d, &v), &rv) in to.iter_mut().zip(src).zip(r) {
                                    d.write(v + add + rv);
                                }
                            }
                            None => {
                                for (d, &v) in to.iter_mut().zip(src) {
                                    d.write(v + add);
                                }
                            }
                        }
                        p += take;
                        o += take;
                    }
                }
            });
        // SAFETY: each image's C_out planes of h rows of w values were written just above.
        unsafe { out.set_len(b * per_image) };
        let in_place = res.is_some();
        drop(res_guard);
        let y = Tensor::from_vec(out, (b, self.cout, h, w), x.device())?;
        match residual {
            Some(r) if !in_place => y + r,
            _ => Ok(y),
        }
    }
}

/// A 1×1 convolution (`weight` `[C_out, C_in, 1, 1]`, `bias` `[C_out]`): on the CPU in f32 one
/// matrix product per image straight over the input planes (candle's goes through its general
/// convolution: a resnet's channel-changing shortcut took as long as a 3×3 convolution).
#[derive(Debug)]
pub struct Conv1x1 {
    cin: usize,
    cout: usize,
    /// `[C_out][C_in]` row-major f32; empty off the CPU.
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
    candle: Conv2d,
}

impl Conv1x1 {
    pub fn new(vb: VarBuilder, cin: usize, cout: usize) -> CandleResult<Self> {
        let candle = candle_nn::conv2d(cin, cout, 1, Conv2dConfig::default(), vb)?;
        let (w, bias) = cpu_copies(&candle, Ok)?;
        Ok(Self {
            cin,
            cout,
            w,
            bias,
            candle,
        })
    }
}

impl Module for Conv1x1 {
    fn forward(&self, x: &Tensor) -> CandleResult<Tensor> {
        if self.w.is_empty() || !x.device().is_cpu() || x.dtype() != DType::F32 {
            return self.candle.forward(x);
        }
        let (b, c, h, w) = x.dims4()?;
        if c != self.cin {
            return Err(candle_core::Error::Msg(format!(
                "conv1x1: input has {c} channels, the weights {}",
                self.cin
            )));
        }
        let hw = h * w;
        if b == 0 || hw == 0 {
            return self.candle.forward(x);
        }
        let x = x.contiguous()?;
        let (storage, layout) = x.storage_and_layout();
        let (Storage::Cpu(cpu), Some((first, last))) = (&*storage, layout.contiguous_offsets())
        else {
            drop(storage);
            return self.candle.forward(&x);
        };
        let data = &cpu.as_slice::<f32>()?[first..last];
        if data.len() != b * c * hw {
            return Err(candle_core::Error::Msg(format!(
                "conv1x1: {} values for a {b}×{c}×{h}×{w} input",
                data.len()
            )));
        }
        // Start from the bias (or zeros) and let the product accumulate onto it.
        let mut out = vec![0f32; b * self.cout * hw];
        if let Some(bias) = &self.bias {
            out.par_chunks_mut(hw)
                .enumerate()
                .for_each(|(plane, o)| o.fill(bias[plane % self.cout]));
        }
        let par = Parallelism::Rayon(rayon::current_num_threads().max(1));
        for (img, o) in out.chunks_exact_mut(self.cout * hw).enumerate() {
            let xi = &data[img * c * hw..(img + 1) * c * hw];
            // SAFETY: `o` is C_out rows of hw, `w` C_out rows of C_in, `xi` C_in rows of hw.
            unsafe {
                gemm::gemm(
                    self.cout,
                    hw,
                    self.cin,
                    o.as_mut_ptr(),
                    1,
                    hw as isize,
                    true,
                    self.w.as_ptr(),
                    1,
                    self.cin as isize,
                    xi.as_ptr(),
                    1,
                    hw as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                );
            }
        }
        drop(storage);
        Tensor::from_vec(out, (b, self.cout, h, w), x.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    #[test]
    fn the_pointwise_convolution_equals_candles() {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let conv = Conv1x1::new(vb, 6, 4).unwrap();
        for (b, h, w) in [(2, 5, 3), (1, 1, 1)] {
            let x = Tensor::randn(0f32, 1.0, (b, 6, h, w), &Device::Cpu).unwrap();
            let d = crate::diffusion::max_abs_diff(
                &conv.forward(&x).unwrap(),
                &conv.candle.forward(&x).unwrap(),
            );
            assert!(d < 1e-5, "{b}x{h}x{w}: {d}");
        }
    }

    #[test]
    fn a_normalised_input_equals_the_norm_then_the_convolution() {
        let dev = Device::Cpu;
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
        let conv = Conv3x3::new(vb.pp("c"), 8, 5).unwrap();
        let tensors = std::collections::HashMap::from([
            (
                "n.weight".to_string(),
                Tensor::randn(1f32, 0.3, 8, &dev).unwrap(),
            ),
            (
                "n.bias".to_string(),
                Tensor::randn(0f32, 0.3, 8, &dev).unwrap(),
            ),
        ]);
        let nvb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        for silu in [true, false] {
            let norm = GroupNormAct::new(4, 8, 1e-6, silu, &nvb.pp("n")).unwrap();
            let x = (Tensor::randn(0f32, 2.0, (2, 8, 6, 5), &dev).unwrap() + 3.0).unwrap();
            let res = Tensor::randn(0f32, 1.0, (2, 5, 6, 5), &dev).unwrap();
            let fused = conv.forward_normed_plus(&x, &norm, Some(&res)).unwrap();
            let apart = (conv.forward(&norm.forward(&x).unwrap()).unwrap() + &res).unwrap();
            let d = crate::diffusion::max_abs_diff(&fused, &apart);
            assert!(d < 1e-5, "silu {silu}: {d}");
        }
        // A channel count the norm does not have is an error, not a panic.
        let norm = GroupNormAct::new(4, 8, 1e-6, true, &nvb.pp("n")).unwrap();
        let conv4 = Conv3x3::new(vb.pp("d"), 4, 5).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 4, 3, 3), &dev).unwrap();
        assert!(conv4.forward_normed(&x, &norm).is_err());
    }

    #[test]
    fn equals_candles_convolution() {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let conv = Conv3x3::new(vb, 5, 7).unwrap();
        for (h, w) in [(6, 9), (1, 1), (4, 3)] {
            let x = Tensor::randn(0f32, 1.0, (2, 5, h, w), &Device::Cpu).unwrap();
            let ours = conv.forward(&x).unwrap();
            let theirs = conv.candle.forward(&x).unwrap();
            let d = crate::diffusion::max_abs_diff(&ours, &theirs);
            assert!(d < 1e-5, "{h}x{w}: {d}");
        }
    }
}
