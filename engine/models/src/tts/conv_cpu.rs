//! CPU convolutions for the VITS decoder, without im2col.
//!
//! candle's CPU `conv1d` unfolds the input (im2col: a `[T, C_in·K]` copy per call) and copies
//! the product back into channel-major order; at audio rate that is most of the decoder's time.
//! Here a convolution is K matrix products over *shifted views* of one zero-padded input
//! (`Y += W_k · X[:, k·d ..]`, with the row stride of the padded input), accumulated into the
//! output in place, and a transposed convolution is one product `[K·C_out, C_in] · X` followed
//! by an overlap-add. The padding copy also applies the leaky ReLU that precedes every decoder
//! convolution, and the output starts from the residual and the bias, so a resblock step
//! `x + conv(leaky_relu(x))` is one pass. Matrix products are the `gemm` crate's (the kernels
//! candle itself uses), on rayon's pool.

// `unsafe_code` is denied workspace-wide; `gemm::gemm` takes raw pointers and strides. Every call
// below passes pointers into live slices whose extents are checked against the strides first.
#![allow(unsafe_code)]

use gemm::Parallelism;

/// A convolution's weights, packed for [`PackedConv::forward`].
#[derive(Clone, Debug)]
pub struct PackedConv {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub dilation: usize,
    pub stride: usize,
    pub pads: (usize, usize),
    pub transpose: bool,
    /// Convolution: `[C_out][K·C_in]` (row `k·C_in + ci`, the order of an unfolded tile).
    /// Transposed: `[K·C_out][C_in]`.
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// A transposed convolution whose kernel is a multiple of its stride, as `stride` ordinary
    /// convolutions of `kernel / stride` taps (polyphase), stacked into one convolution of
    /// `stride · C_out` outputs (row `phase · C_out + co`): output sample `o` is phase
    /// `(o + pad) mod stride` at input position `(o + pad) / stride`, so every multiply-add is
    /// a useful one and the fast direct kernel does the work in one pass over the input.
    phases: Option<Box<PackedConv>>,
}

impl PackedConv {
    /// Packs an ONNX convolution weight (`[C_out, C_in, K]`) or transposed-convolution weight
    /// (`[C_in, C_out, K]`). Only ungrouped convolutions with stride 1, and transposed ones
    /// with dilation 1, are handled; `None` otherwise (the caller uses candle).
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        weight: &[f32],
        dims: &[usize],
        bias: Option<&[f32]>,
        transpose: bool,
        stride: usize,
        dilation: usize,
        groups: usize,
        pads: (usize, usize),
    ) -> Option<Self> {
        if dims.len() != 3 || groups != 1 || weight.len() != dims.iter().product::<usize>() {
            return None;
        }
        let kernel = dims[2];
        if transpose {
            if dilation != 1 || stride == 0 {
                return None;
            }
            let (cin, cout) = (dims[0], dims[1]);
            let mut phases = None;
            if kernel.is_multiple_of(stride) {
                let taps = kernel / stride;
                let rows = stride * cout;
                let mut wp = vec![0.0; rows * cin * taps];
                for phase in 0..stride {
                    for co in 0..cout {
                        for ci in 0..cin {
                            for kk in 0..taps {
                                let k = phase + (taps - 1 - kk) * stride;
                                wp[((phase * cout + co) * cin + ci) * taps + kk] =
                                    weight[(ci * cout + co) * kernel + k];
                            }
                        }
                    }
                }
                let stacked_bias: Option<Vec<f32>> =
                    bias.map(|b| (0..stride).flat_map(|_| b.iter().copied()).collect());
                phases = Some(Box::new(PackedConv::new(
                    &wp,
                    &[rows, cin, taps],
                    stacked_bias.as_deref(),
                    false,
                    1,
                    1,
                    1,
                    (taps - 1, taps - 1),
                )?));
            }
            let mut w = vec![0.0; kernel * cout * cin];
            for ci in 0..cin {
                for co in 0..cout {
                    for k in 0..kernel {
                        w[(k * cout + co) * cin + ci] = weight[(ci * cout + co) * kernel + k];
                    }
                }
            }
            Some(Self {
                cin,
                cout,
                kernel,
                dilation,
                stride,
                pads,
                transpose,
                w,
                bias: bias.map(<[f32]>::to_vec),
                phases,
            })
        } else {
            if stride != 1 {
                return None;
            }
            let (cout, cin) = (dims[0], dims[1]);
            let mut w = vec![0.0; kernel * cout * cin];
            for co in 0..cout {
                for ci in 0..cin {
                    for k in 0..kernel {
                        w[co * kernel * cin + k * cin + ci] = weight[(co * cin + ci) * kernel + k];
                    }
                }
            }
            Some(Self {
                cin,
                cout,
                kernel,
                dilation,
                stride,
                pads,
                transpose,
                w,
                bias: bias.map(<[f32]>::to_vec),
                phases: None,
            })
        }
    }

    /// Output length for an input of `t` samples.
    #[must_use]
    pub fn out_len(&self, t: usize) -> usize {
        if self.transpose {
            ((t.max(1) - 1) * self.stride + self.kernel).saturating_sub(self.pads.0 + self.pads.1)
        } else {
            (t + self.pads.0 + self.pads.1).saturating_sub(self.dilation * (self.kernel - 1))
        }
    }

    /// `residual + conv(act(x))` for `x` of shape `[C_in, t]` (row-major); `leaky` is the slope
    /// of a leaky ReLU applied to the input first. Returns `[C_out, out_len(t)]`.
    #[must_use]
    pub fn forward(
        &self,
        x: &[f32],
        t: usize,
        leaky: Option<f32>,
        residual: Option<&[f32]>,
    ) -> Vec<f32> {
        self.forward_with(x, t, leaky, residual, true)
    }

    /// [`Self::forward`], on the calling thread only when `parallel` is false (for callers that
    /// parallelise above it).
    pub fn forward_with(
        &self,
        x: &[f32],
        t: usize,
        leaky: Option<f32>,
        residual: Option<&[f32]>,
        parallel: bool,
    ) -> Vec<f32> {
        assert_eq!(x.len(), self.cin * t, "input is [C_in, t]");
        let t_out = self.out_len(t);
        if let Some(stacked) = self.phases.as_deref()
            && t > 0
        {
            let mut y = vec![0.0f32; self.cout * t_out];
            self.polyphase(stacked, x, t, t_out, leaky, residual, parallel, &mut y);
            return y;
        }
        // The output starts as residual + bias, in one pass.
        let mut y = match residual {
            Some(r) => {
                assert_eq!(r.len(), self.cout * t_out, "residual is [C_out, t_out]");
                r.to_vec()
            }
            None => vec![0.0f32; self.cout * t_out],
        };
        if let Some(b) = &self.bias {
            for (row, &bv) in y.chunks_exact_mut(t_out.max(1)).zip(b) {
                row.iter_mut().for_each(|v| *v += bv);
            }
        }
        if t_out == 0 || t == 0 {
            return y;
        }
        // Branch-free, so the copies below vectorise (slope 1 is the identity).
        let slope = leaky.unwrap_or(1.0);
        let act = move |v: f32| if v < 0.0 { v * slope } else { v };
        let par = if parallel {
            parallelism(self.cout * t_out * self.cin * self.kernel)
        } else {
            Parallelism::None
        };
        if self.transpose {
            // Z = W · act(X): [K·C_out, t]
            let xa: Vec<f32>;
            let xin: &[f32] = if leaky.is_some() {
                xa = x.iter().map(|&v| act(v)).collect();
                &xa
            } else {
                x
            };
            let rows = self.kernel * self.cout;
            let mut z = vec![0.0f32; rows * t];
            // SAFETY: z is [rows, t] row-major (row stride t), w is [rows, cin] (row stride cin),
            // xin is [cin, t] (row stride t); every index the product touches is inside them.
            unsafe {
                gemm::gemm(
                    rows,
                    t,
                    self.cin,
                    z.as_mut_ptr(),
                    1,
                    t as isize,
                    false,
                    self.w.as_ptr(),
                    1,
                    self.cin as isize,
                    xin.as_ptr(),
                    1,
                    t as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                );
            }
            // Overlap-add: y[co, i·s + k − pad_left] += Z[k, co, i].
            let s = self.stride;
            let pl = self.pads.0 as isize;
            for k in 0..self.kernel {
                for co in 0..self.cout {
                    let zrow = &z[(k * self.cout + co) * t..][..t];
                    let yrow = &mut y[co * t_out..][..t_out];
                    for (i, &v) in zrow.iter().enumerate() {
                        let o = (i * s + k) as isize - pl;
                        if o >= 0 && (o as usize) < t_out {
                            yrow[o as usize] += v;
                        }
                    }
                }
            }
        } else {
            let t_pad = t + self.pads.0 + self.pads.1;
            let mut xp = vec![0.0f32; self.cin * t_pad];
            for (dst, src) in xp.chunks_exact_mut(t_pad).zip(x.chunks_exact(t)) {
                for (d, &s) in dst[self.pads.0..self.pads.0 + t].iter_mut().zip(src) {
                    *d = act(s);
                }
            }
            self.tiles(&xp, t_pad, &mut y, t_out, parallel);
        }
        y
    }
}

impl PackedConv {
    /// The convolution proper, over tiles of output time: each tile's input is unfolded into a
    /// small `[K·C_in, width]` buffer that stays in cache, and one product of depth `K·C_in`
    /// accumulates into the tile's columns of `y`. Tiles run in parallel on rayon's pool.
    fn tiles(&self, xp: &[f32], t_pad: usize, y: &mut [f32], t_out: usize, parallel: bool) {
        #[cfg(target_arch = "x86_64")]
        if avx512_available() && self.cout.is_multiple_of(ROWS) {
            return self.tiles_avx512(xp, t_pad, y, t_out, parallel);
        }
        self.tiles_gemm(xp, t_pad, y, t_out, parallel);
    }

    /// [`Self::tiles`] through the `gemm` crate (any CPU).
    fn tiles_gemm(&self, xp: &[f32], t_pad: usize, y: &mut [f32], t_out: usize, parallel: bool) {
        use rayon::prelude::*;
        let depth = self.kernel * self.cin;
        // ~128 KiB of unfolded input per tile, a multiple of 16 columns.
        let width = ((32 * 1024 / depth.max(1)) / 16 * 16)
            .clamp(16, 1024)
            .min(t_out.next_multiple_of(16));
        let tiles = t_out.div_ceil(width);
        let dst = SendPtr(y.as_mut_ptr());
        let run = |tile: usize| {
            let t0 = tile * width;
            let n = width.min(t_out - t0);
            let mut buf = vec![0.0f32; depth * n];
            for k in 0..self.kernel {
                let shift = k * self.dilation + t0;
                for ci in 0..self.cin {
                    let src = &xp[ci * t_pad + shift..][..n];
                    buf[(k * self.cin + ci) * n..][..n].copy_from_slice(src);
                }
            }
            // SAFETY: the destination is columns t0..t0+n of y ([cout, t_out], row stride
            // t_out), disjoint between tiles; w is [cout, depth] (row stride depth) and buf is
            // [depth, n] (row stride n), both fully inside their vectors.
            unsafe {
                gemm::gemm(
                    self.cout,
                    n,
                    depth,
                    dst.ptr().add(t0),
                    1,
                    t_out as isize,
                    true,
                    self.w.as_ptr(),
                    1,
                    depth as isize,
                    buf.as_ptr(),
                    1,
                    n as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        };
        if parallel
            && tiles > 1
            && rayon::current_num_threads() > 1
            && self.cout * t_out * depth > 1 << 18
        {
            (0..tiles).into_par_iter().for_each(run);
        } else {
            (0..tiles).for_each(run);
        }
    }
}

impl PackedConv {
    /// The transposed convolution as `stride` interleaved ordinary convolutions (`stacked`,
    /// one product for all phases), over tiles of input time in parallel: each tile's phases
    /// are computed in cache and interleaved straight into its own span of the output.
    #[allow(clippy::too_many_arguments)]
    fn polyphase(
        &self,
        stacked: &PackedConv,
        x: &[f32],
        t: usize,
        t_out: usize,
        leaky: Option<f32>,
        residual: Option<&[f32]>,
        parallel: bool,
        y: &mut [f32],
    ) {
        use rayon::prelude::*;
        assert_eq!(y.len(), self.cout * t_out, "output is [C_out, t_out]");
        let s = self.stride;
        let pl = self.pads.0;
        let taps = self.kernel / s;
        let cin = self.cin;
        let cout = self.cout;
        if let Some(r) = residual {
            assert_eq!(r.len(), cout * t_out, "residual is [C_out, t_out]");
        }
        // Phase outputs j run over 0..t + taps − 1; output o = j·s + p − pad.
        let j_total = t + taps - 1;
        let width = (16 * 1024 / cin.max(1)).clamp(64, 1024);
        let tiles = j_total.div_ceil(width);
        let slope = leaky.unwrap_or(1.0);
        let act = move |v: f32| if v < 0.0 { v * slope } else { v };
        let dst = SendPtr(y.as_mut_ptr());
        let tile_run = |tile: usize| {
            let j0 = tile * width;
            let n = width.min(j_total - j0);
            let in_len = n + taps - 1;
            // Input column u is signal sample j0 + u − (taps − 1); zero outside the signal.
            let g0 = j0 as isize - (taps as isize - 1);
            let u_lo = (-g0).max(0) as usize;
            let u_hi = ((t as isize - g0).max(0) as usize).min(in_len);
            let mut xin = vec![0.0f32; cin * in_len];
            if u_hi > u_lo {
                let src0 = (g0 + u_lo as isize) as usize;
                for ci in 0..cin {
                    let src = &x[ci * t + src0..][..u_hi - u_lo];
                    for (d, &v) in xin[ci * in_len + u_lo..ci * in_len + u_hi]
                        .iter_mut()
                        .zip(src)
                    {
                        *d = act(v);
                    }
                }
            }
            let mut yp = vec![0.0f32; s * cout * n];
            if let Some(b) = &stacked.bias {
                for (row, &bv) in yp.chunks_exact_mut(n).zip(b) {
                    row.fill(bv);
                }
            }
            stacked.tiles(&xin, in_len, &mut yp, n, false);
            // The tile's outputs: o in [o0, o1), disjoint from every other tile's.
            let o0 = (j0 * s).saturating_sub(pl);
            let o1 = ((j0 + n) * s).saturating_sub(pl).min(t_out);
            if o1 <= o0 {
                return;
            }
            // Output o of the tile is phase p = q mod s at column jj = q div s, q = o + pad − j0·s.
            let q0 = o0 + pl - j0 * s;
            for co in 0..cout {
                let rows: Vec<&[f32]> = (0..s).map(|p| &yp[(p * cout + co) * n..][..n]).collect();
                // SAFETY: [co·t_out + o0, co·t_out + o1) lies inside y (o1 ≤ t_out, co < cout),
                // and the spans [o0, o1) of different tiles are disjoint, so this slice is the
                // only access to that memory while the tile runs.
                let out = unsafe {
                    std::slice::from_raw_parts_mut(dst.ptr().add(co * t_out + o0), o1 - o0)
                };
                // A partial group of phases first, then whole groups of `s` outputs.
                let head = ((s - q0 % s) % s).min(out.len());
                let (first, rest) = out.split_at_mut(head);
                for (k, v) in first.iter_mut().enumerate() {
                    let q = q0 + k;
                    *v = rows[q % s][q / s];
                }
                let jj0 = (q0 + head) / s;
                let jj_tail = jj0 + rest.len() / s;
                let mut groups = rest.chunks_exact_mut(s);
                for (g, jj) in groups.by_ref().zip(jj0..) {
                    for (v, row) in g.iter_mut().zip(&rows) {
                        *v = row[jj];
                    }
                }
                let tail = groups.into_remainder();
                for (p, v) in tail.iter_mut().enumerate() {
                    *v = rows[p][jj_tail];
                }
                if let Some(r) = residual {
                    for (v, r) in out.iter_mut().zip(&r[co * t_out + o0..co * t_out + o1]) {
                        *v += r;
                    }
                }
            }
        };
        if parallel && tiles > 1 && rayon::current_num_threads() > 1 {
            (0..tiles).into_par_iter().for_each(tile_run);
        } else {
            (0..tiles).for_each(tile_run);
        }
    }

    /// A transposed convolution (`act(x)` first) written into `out` (`[C_out, out_len(t)]`,
    /// every element overwritten, so a reused buffer needs no clearing). For callers that
    /// keep their large buffers between calls: fresh pages cost more than the arithmetic.
    pub fn forward_into(&self, x: &[f32], t: usize, leaky: Option<f32>, out: &mut [f32]) {
        assert_eq!(x.len(), self.cin * t, "input is [C_in, t]");
        let t_out = self.out_len(t);
        match self.phases.as_deref() {
            Some(stacked) if t > 0 => {
                self.polyphase(stacked, x, t, t_out, leaky, None, true, out);
            }
            _ => out.copy_from_slice(&self.forward(x, t, leaky, None)),
        }
    }
}

/// A HiFi-GAN resblock for [`resblock_stage`]: steps `x ← x + convs(x)`, each conv preceded
/// by a leaky ReLU (type 2 has one conv per step, type 1 two).
pub type ResSteps<'a> = Vec<Vec<&'a PackedConv>>;

/// One decoder stage's resblocks on the CPU: the mean of every resblock applied to `x`
/// (`[C, t]`), computed tile by tile over time with halos wide enough for the resblocks'
/// receptive fields, so every intermediate stays in cache instead of streaming the whole
/// signal through memory for each of the stage's convolutions. Tiles run in parallel.
#[must_use]
pub fn resblock_stage(
    x: &[f32],
    channels: usize,
    t: usize,
    blocks: &[ResSteps<'_>],
    slope: f32,
) -> Vec<f32> {
    let mut out = vec![0.0f32; channels * t];
    resblock_stage_into(x, channels, t, blocks, slope, &mut out);
    out
}

/// [`resblock_stage`] written into `out` (`[C, t]`, every element overwritten).
pub fn resblock_stage_into(
    x: &[f32],
    channels: usize,
    t: usize,
    blocks: &[ResSteps<'_>],
    slope: f32,
    out: &mut [f32],
) {
    assert_eq!(x.len(), channels * t);
    assert_eq!(out.len(), channels * t);
    let halo = blocks
        .iter()
        .map(|b| {
            b.iter()
                .flatten()
                .map(|c| c.pads.0.max(c.pads.1))
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    // About 256 KiB of signal per tile.
    let width = (64 * 1024 / channels.max(1))
        .saturating_sub(2 * halo)
        .max(256);
    stage_tiled(x, channels, t, blocks, slope, halo, width, out);
}

#[allow(clippy::too_many_arguments)]
fn stage_tiled(
    x: &[f32],
    channels: usize,
    t: usize,
    blocks: &[ResSteps<'_>],
    slope: f32,
    halo: usize,
    width: usize,
    out: &mut [f32],
) {
    use rayon::prelude::*;
    let width = width.min(t.max(1));
    let tiles = t.div_ceil(width);
    let scale = 1.0 / blocks.len().max(1) as f32;
    assert_eq!(out.len(), channels * t);
    let dst = SendPtr(out.as_mut_ptr());
    let tile_out = |tile: usize| {
        let t0 = tile * width;
        let n = width.min(t - t0);
        let len = n + 2 * halo;
        let g0 = t0 as isize - halo as isize;
        let inside = |j: usize| {
            let g = g0 + j as isize;
            g >= 0 && (g as usize) < t
        };
        // The columns of the window that lie inside the signal.
        let j_lo = (-g0).max(0) as usize;
        let j_hi = ((t as isize - g0).max(0) as usize).min(len);
        let mut a = vec![0.0f32; channels * len];
        if j_hi > j_lo {
            let src0 = (g0 + j_lo as isize) as usize;
            for c in 0..channels {
                a[c * len + j_lo..c * len + j_hi]
                    .copy_from_slice(&x[c * t + src0..][..j_hi - j_lo]);
            }
        }
        let mut acc = vec![0.0f32; channels * n];
        // Only tiles that reach past the signal's ends need their outside zeroed after each
        // convolution (every convolution of the reference sees zero padding there).
        let boundary = g0 < 0 || (g0 + len as isize) > t as isize;
        let zero_outside = |v: &mut [f32]| {
            if boundary {
                for c in 0..channels {
                    for j in 0..len {
                        if !inside(j) {
                            v[c * len + j] = 0.0;
                        }
                    }
                }
            }
        };
        for block in blocks {
            let mut cur = a.clone();
            for step in block {
                let Some((last, first)) = step.split_last() else {
                    continue;
                };
                let mut h: Option<Vec<f32>> = None;
                for conv in first {
                    let input = h.as_deref().unwrap_or(&cur);
                    let mut out = conv.forward_with(input, len, Some(slope), None, false);
                    zero_outside(&mut out);
                    h = Some(out);
                }
                // The step's last convolution adds the residual in the same pass.
                let input = h.as_deref().unwrap_or(&cur);
                let mut next = last.forward_with(input, len, Some(slope), Some(&cur), false);
                zero_outside(&mut next);
                cur = next;
            }
            for c in 0..channels {
                for j in 0..n {
                    acc[c * n + j] += cur[c * len + halo + j];
                }
            }
        }
        for c in 0..channels {
            // SAFETY: columns t0..t0+n of row c lie inside `out` ([channels, t]); tiles cover
            // disjoint columns, so no other task touches them.
            let row = unsafe { std::slice::from_raw_parts_mut(dst.ptr().add(c * t + t0), n) };
            for (o, a) in row.iter_mut().zip(&acc[c * n..][..n]) {
                *o = a * scale;
            }
        }
    };
    if tiles > 1 && rayon::current_num_threads() > 1 {
        (0..tiles).into_par_iter().for_each(tile_out);
    } else {
        (0..tiles).for_each(tile_out);
    }
}

/// Output channels per register block of the AVX-512 kernel.
const ROWS: usize = 4;
/// Time columns per register block (four 16-lane vectors).
const COLS: usize = 64;
/// Depth (taps × input channels) per cache block of the AVX-512 kernel: 128 rows of 64
/// columns is 32 KiB of input.
const KC: usize = 128;

/// Whether the AVX-512 direct convolution can run here (`PREVIZ_TTS_SIMD=gemm` turns it off).
#[cfg(target_arch = "x86_64")]
fn avx512_available() -> bool {
    use std::sync::OnceLock;
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::env::var("PREVIZ_TTS_SIMD").as_deref() != Ok("gemm")
    })
}

#[cfg(target_arch = "x86_64")]
impl PackedConv {
    /// The direct convolution on AVX-512: no unfolding, the padded input's rows are read at
    /// each tap's shift. Tasks are tiles of output time × groups of output channels, in
    /// parallel: short signals (a sentence's phonemes, a few hundred latent frames) are split
    /// by channels too, so both threads work even when there is one tile of time.
    fn tiles_avx512(&self, xp: &[f32], t_pad: usize, y: &mut [f32], t_out: usize, parallel: bool) {
        use rayon::prelude::*;
        let width = 4 * COLS;
        let tiles = t_out.div_ceil(width);
        // The last tap of the last column must stay inside the padded input.
        assert!(t_out + self.dilation * (self.kernel - 1) <= t_pad);
        assert_eq!(xp.len(), self.cin * t_pad);
        assert_eq!(y.len(), self.cout * t_out);
        assert_eq!(self.w.len(), self.cout * self.kernel * self.cin);
        let threads = rayon::current_num_threads();
        let parallel =
            parallel && threads > 1 && self.cout * t_out * self.cin * self.kernel > 1 << 18;
        let row_blocks = self.cout / ROWS;
        // Enough tasks to balance: about four per thread.
        let groups = if parallel {
            (4 * threads).div_ceil(tiles).clamp(1, row_blocks.max(1))
        } else {
            1
        };
        let per_group = row_blocks.div_ceil(groups) * ROWS;
        let dst = SendPtr(y.as_mut_ptr());
        let run = |task: usize| {
            let (tile, group) = (task / groups, task % groups);
            let t0 = tile * width;
            let n = width.min(t_out - t0);
            let co0 = group * per_group;
            let co1 = (co0 + per_group).min(self.cout);
            if co0 >= co1 {
                return;
            }
            // SAFETY: avx512f was detected; the kernel reads xp rows ci at columns
            // t0 + k·d .. t0 + k·d + n (inside t_pad by the assert above), w inside its
            // asserted length, and writes rows co0..co1, columns t0..t0+n of y: disjoint
            // between tasks.
            unsafe {
                conv_tile_avx512(self, xp.as_ptr(), t_pad, dst.ptr(), t_out, t0, n, co0..co1);
            };
        };
        let tasks = tiles * groups;
        if parallel && tasks > 1 {
            (0..tasks).into_par_iter().for_each(run);
        } else {
            (0..tasks).for_each(run);
        }
    }
}

/// `y[co, t0+j] += Σ_{k, ci} w[co, k·C_in + ci] · xp[ci, t0 + j + k·d]` for j < n, four output
/// channels × 64 columns in 16 registers at a time; partial column blocks use masks.
///
/// # Safety
/// The CPU must support avx512f; the pointers must cover the ranges described in
/// [`PackedConv::tiles_avx512`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn conv_tile_avx512(
    c: &PackedConv,
    xp: *const f32,
    t_pad: usize,
    y: *mut f32,
    t_out: usize,
    t0: usize,
    n: usize,
    rows: std::ops::Range<usize>,
) {
    use std::arch::x86_64::*;
    // SAFETY: see the function's contract; masked loads never touch masked-out lanes.
    unsafe {
        let depth = c.kernel * c.cin;
        let w = c.w.as_ptr();
        let mut tb = 0;
        while tb < n {
            let cols = COLS.min(n - tb);
            let mask = |j: usize| -> __mmask16 {
                let lanes = cols.saturating_sub(j * 16).min(16);
                if lanes == 16 {
                    0xffff
                } else {
                    ((1u32 << lanes) - 1) as __mmask16
                }
            };
            let m = [mask(0), mask(1), mask(2), mask(3)];
            // Depth in blocks of KC (tap-major, channel-minor), so the input panel of one
            // block (KC rows × 64 columns) stays in L1 while every output-channel block reuses it.
            let mut r0 = 0;
            while r0 < depth {
                let r1 = (r0 + KC).min(depth);
                for co in rows.clone().step_by(ROWS) {
                    let mut acc = [[_mm512_setzero_ps(); 4]; ROWS];
                    for (i, row) in acc.iter_mut().enumerate() {
                        let yp = y.add((co + i) * t_out + t0 + tb);
                        for (j, a) in row.iter_mut().enumerate() {
                            if m[j] != 0 {
                                *a = _mm512_maskz_loadu_ps(m[j], yp.add(j * 16));
                            }
                        }
                    }
                    let wr = [
                        w.add(co * depth),
                        w.add((co + 1) * depth),
                        w.add((co + 2) * depth),
                        w.add((co + 3) * depth),
                    ];
                    let (mut k, mut ci) = (r0 / c.cin, r0 % c.cin);
                    for r in r0..r1 {
                        let src = xp.add(ci * t_pad + t0 + tb + k * c.dilation);
                        let u = [
                            _mm512_maskz_loadu_ps(m[0], src),
                            _mm512_maskz_loadu_ps(m[1], src.add(16)),
                            _mm512_maskz_loadu_ps(m[2], src.add(32)),
                            _mm512_maskz_loadu_ps(m[3], src.add(48)),
                        ];
                        for (row, wp) in acc.iter_mut().zip(&wr) {
                            let wv = _mm512_set1_ps(*wp.add(r));
                            for (a, &uj) in row.iter_mut().zip(&u) {
                                *a = _mm512_fmadd_ps(wv, uj, *a);
                            }
                        }
                        ci += 1;
                        if ci == c.cin {
                            ci = 0;
                            k += 1;
                        }
                    }
                    for (i, row) in acc.iter().enumerate() {
                        let yp = y.add((co + i) * t_out + t0 + tb);
                        for (j, a) in row.iter().enumerate() {
                            if m[j] != 0 {
                                _mm512_mask_storeu_ps(yp.add(j * 16), m[j], *a);
                            }
                        }
                    }
                }
                r0 = r1;
            }
            tb += COLS;
        }
    }
}

/// A raw pointer that may cross to rayon's threads (each tile writes its own columns).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used by parallel loops whose tasks write disjoint ranges of one buffer and
// finish before the loop returns.
unsafe impl Send for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so closures capture the whole `SendPtr`, which is `Send`).
    fn ptr(self) -> *mut f32 {
        self.0
    }
}
unsafe impl Sync for SendPtr {}

/// Threads for a product of `macs` multiply-adds: rayon's pool when it is worth it.
fn parallelism(macs: usize) -> Parallelism {
    let threads = rayon::current_num_threads();
    if threads > 1 && macs > 1 << 20 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution, straight from the definition.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f32],
        t: usize,
        w: &[f32],
        dims: [usize; 3],
        bias: &[f32],
        transpose: bool,
        stride: usize,
        dilation: usize,
        pads: (usize, usize),
        leaky: Option<f32>,
    ) -> (Vec<f32>, usize) {
        let k = dims[2];
        // Branch-free, so the copies below vectorise (slope 1 is the identity).
        let slope = leaky.unwrap_or(1.0);
        let act = move |v: f32| if v < 0.0 { v * slope } else { v };
        if transpose {
            let (cin, cout) = (dims[0], dims[1]);
            let full = (t - 1) * stride + k;
            let t_out = full - pads.0 - pads.1;
            let mut y = vec![0.0; cout * t_out];
            for co in 0..cout {
                for o in 0..t_out {
                    y[co * t_out + o] = bias[co];
                }
            }
            for ci in 0..cin {
                for co in 0..cout {
                    for i in 0..t {
                        for kk in 0..k {
                            let o = (i * stride + kk) as isize - pads.0 as isize;
                            if o >= 0 && (o as usize) < t_out {
                                y[co * t_out + o as usize] +=
                                    w[(ci * cout + co) * k + kk] * act(x[ci * t + i]);
                            }
                        }
                    }
                }
            }
            (y, t_out)
        } else {
            let (cout, cin) = (dims[0], dims[1]);
            let t_out = t + pads.0 + pads.1 - dilation * (k - 1);
            let mut y = vec![0.0; cout * t_out];
            for co in 0..cout {
                for o in 0..t_out {
                    let mut s = bias[co];
                    for ci in 0..cin {
                        for kk in 0..k {
                            let i = (o + kk * dilation) as isize - pads.0 as isize;
                            if i >= 0 && (i as usize) < t {
                                s += w[(co * cin + ci) * k + kk] * act(x[ci * t + i as usize]);
                            }
                        }
                    }
                    y[co * t_out + o] = s;
                }
            }
            (y, t_out)
        }
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let v = (i as u32)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(40_503));
                (v % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn convolutions_match_the_definition() {
        // (cin, cout, k, dilation, pads, t)
        for &(cin, cout, k, d, pads, t) in &[
            (3, 4, 3, 1, (1, 1), 17),
            (5, 2, 7, 3, (9, 9), 40),
            (4, 4, 5, 12, (24, 24), 9),
            (2, 3, 3, 1, (0, 0), 6),
            (6, 6, 3, 2, (1, 3), 11),
        ] {
            let w = values(cout * cin * k, 1);
            let b = values(cout, 2);
            let x = values(cin * t, 3);
            let r = values(cout * (t + pads.0 + pads.1 - d * (k - 1)), 4);
            let p = PackedConv::new(&w, &[cout, cin, k], Some(&b), false, 1, d, 1, pads).unwrap();
            for leaky in [None, Some(0.1)] {
                let (want, t_out) =
                    reference(&x, t, &w, [cout, cin, k], &b, false, 1, d, pads, leaky);
                assert_eq!(p.out_len(t), t_out);
                let got = p.forward(&x, t, leaky, None);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-4, "{g} vs {w}");
                }
                let with_res = p.forward(&x, t, leaky, Some(&r));
                for ((g, w), r) in with_res.iter().zip(&want).zip(&r) {
                    assert!((g - (w + r)).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn a_tiled_stage_equals_whole_signal_convolutions() {
        let ch = 4;
        let t = 700;
        let mk = |k: usize, d: usize, seed: u32| {
            let w = values(ch * ch * k, seed);
            let b = values(ch, seed + 100);
            let p = d * (k - 1) / 2;
            PackedConv::new(&w, &[ch, ch, k], Some(&b), false, 1, d, 1, (p, p)).unwrap()
        };
        let convs = [
            mk(3, 1, 1),
            mk(3, 2, 2),
            mk(5, 2, 3),
            mk(5, 6, 4),
            mk(7, 3, 5),
            mk(7, 12, 6),
        ];
        let x = values(ch * t, 9);
        // Type 2: three blocks of two single-conv steps; type 1: one block of two-conv steps.
        let type2: Vec<ResSteps<'_>> = convs
            .chunks(2)
            .map(|p| vec![vec![&p[0]], vec![&p[1]]])
            .collect();
        let type1: Vec<ResSteps<'_>> = vec![convs.chunks(2).map(|p| vec![&p[0], &p[1]]).collect()];
        for blocks in [type2, type1] {
            let mut want = vec![0.0f32; ch * t];
            for block in &blocks {
                let mut cur = x.clone();
                for step in block {
                    let mut h = cur.clone();
                    for conv in step {
                        h = conv.forward(&h, t, Some(0.1), None);
                    }
                    cur.iter_mut().zip(&h).for_each(|(c, v)| *c += v);
                }
                want.iter_mut()
                    .zip(&cur)
                    .for_each(|(w, c)| *w += c / blocks.len() as f32);
            }
            let halo = blocks
                .iter()
                .map(|b| b.iter().flatten().map(|c| c.pads.0).sum::<usize>())
                .max()
                .unwrap();
            for width in [64, 100, 700] {
                // A dirty reused buffer: every element is overwritten.
                let mut got = vec![f32::NAN; ch * t];
                stage_tiled(&x, ch, t, &blocks, 0.1, halo, width, &mut got);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((g - w).abs() < 1e-3, "width {width} at {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn the_gemm_path_matches_too() {
        // The AVX-512 kernel is used where the CPU has it; the unfolded-gemm path must agree.
        let (cin, cout, k, d, pads, t) = (8, 12, 5, 2, (4, 4), 300);
        let w = values(cout * cin * k, 11);
        let b = values(cout, 12);
        let x = values(cin * t, 13);
        let p = PackedConv::new(&w, &[cout, cin, k], Some(&b), false, 1, d, 1, pads).unwrap();
        let (want, _) = reference(&x, t, &w, [cout, cin, k], &b, false, 1, d, pads, Some(0.1));
        let t_pad = t + pads.0 + pads.1;
        let mut xp = vec![0.0f32; cin * t_pad];
        for (dst, src) in xp.chunks_exact_mut(t_pad).zip(x.chunks_exact(t)) {
            for (o, &v) in dst[pads.0..pads.0 + t].iter_mut().zip(src) {
                *o = if v < 0.0 { v * 0.1 } else { v };
            }
        }
        let mut y = vec![0.0f32; cout * t];
        for (row, &bv) in y.chunks_exact_mut(t).zip(&b) {
            row.iter_mut().for_each(|v| *v = bv);
        }
        p.tiles_gemm(&xp, t_pad, &mut y, t, true);
        for (g, w) in y.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "{g} vs {w}");
        }
    }

    #[test]
    fn transposed_convolutions_match_the_definition() {
        for &(cin, cout, k, s, pads, t) in &[
            (4, 3, 16, 8, (4, 4), 5),
            (3, 2, 8, 4, (2, 2), 7),
            (2, 2, 4, 2, (1, 1), 1),
            (3, 8, 16, 8, (4, 4), 70),
            (5, 4, 8, 4, (2, 2), 33),
            // Many tiles of input time (64 channels: 256 columns a tile).
            (64, 8, 8, 4, (2, 2), 700),
        ] {
            let w = values(cin * cout * k, 5);
            let b = values(cout, 6);
            let x = values(cin * t, 7);
            let p = PackedConv::new(&w, &[cin, cout, k], Some(&b), true, s, 1, 1, pads).unwrap();
            for leaky in [None, Some(0.1)] {
                let (want, t_out) =
                    reference(&x, t, &w, [cin, cout, k], &b, true, s, 1, pads, leaky);
                assert_eq!(p.out_len(t), t_out);
                let got = p.forward(&x, t, leaky, None);
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-4, "{g} vs {w}");
                }
                let mut into = vec![f32::NAN; want.len()];
                p.forward_into(&x, t, leaky, &mut into);
                assert_eq!(into, got, "forward_into overwrites every sample");
                // With a residual, every output sample gets it added once.
                let r = values(cout * t_out, 8);
                let got = p.forward(&x, t, leaky, Some(&r));
                for ((g, w), r) in got.iter().zip(&want).zip(&r) {
                    assert!((g - w - r).abs() < 1e-4, "{g} vs {w} + {r}");
                }
            }
        }
    }

    #[test]
    fn grouped_or_strided_convolutions_are_left_to_candle() {
        assert!(PackedConv::new(&[0.0; 6], &[2, 1, 3], None, false, 1, 1, 2, (1, 1)).is_none());
        assert!(PackedConv::new(&[0.0; 6], &[2, 1, 3], None, false, 2, 1, 1, (1, 1)).is_none());
    }
}
