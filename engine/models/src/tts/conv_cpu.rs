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
    /// Convolution: `[K][C_out][C_in]`. Transposed: `[K·C_out][C_in]`.
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
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
                        w[(k * cout + co) * cin + ci] = weight[(co * cin + ci) * kernel + k];
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
    pub fn forward(&self, x: &[f32], t: usize, leaky: Option<f32>, residual: Option<&[f32]>) -> Vec<f32> {
        assert_eq!(x.len(), self.cin * t, "input is [C_in, t]");
        let t_out = self.out_len(t);
        let mut y = vec![0.0f32; self.cout * t_out];
        if let Some(r) = residual {
            assert_eq!(r.len(), y.len(), "residual is [C_out, t_out]");
            y.copy_from_slice(r);
        }
        if let Some(b) = &self.bias {
            for (row, &bv) in y.chunks_exact_mut(t_out.max(1)).zip(b) {
                row.iter_mut().for_each(|v| *v += bv);
            }
        }
        if t_out == 0 || t == 0 {
            return y;
        }
        let act = |v: f32| match leaky {
            Some(s) if v < 0.0 => v * s,
            _ => v,
        };
        let par = parallelism(self.cout * t_out * self.cin * self.kernel);
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
            let wk = self.cout * self.cin;
            for k in 0..self.kernel {
                let shift = k * self.dilation;
                // SAFETY: y is [cout, t_out] (row stride t_out); w[k] is [cout, cin] (row stride
                // cin) inside w; the rhs view starts at column `shift` of the [cin, t_pad] padded
                // input and spans t_out columns, and shift + t_out <= t_pad by out_len's formula.
                unsafe {
                    gemm::gemm(
                        self.cout,
                        t_out,
                        self.cin,
                        y.as_mut_ptr(),
                        1,
                        t_out as isize,
                        true,
                        self.w[k * wk..].as_ptr(),
                        1,
                        self.cin as isize,
                        xp[shift..].as_ptr(),
                        1,
                        t_pad as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        par,
                    );
                }
            }
        }
        y
    }
}

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
        let act = |v: f32| match leaky {
            Some(s) if v < 0.0 => v * s,
            _ => v,
        };
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
                                y[co * t_out + o as usize] += w[(ci * cout + co) * k + kk] * act(x[ci * t + i]);
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
                let v = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503));
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
                let (want, t_out) = reference(&x, t, &w, [cout, cin, k], &b, false, 1, d, pads, leaky);
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
    fn transposed_convolutions_match_the_definition() {
        for &(cin, cout, k, s, pads, t) in &[
            (4, 3, 16, 8, (4, 4), 5),
            (3, 2, 8, 4, (2, 2), 7),
            (2, 2, 4, 2, (1, 1), 1),
        ] {
            let w = values(cin * cout * k, 5);
            let b = values(cout, 6);
            let x = values(cin * t, 7);
            let p = PackedConv::new(&w, &[cin, cout, k], Some(&b), true, s, 1, 1, pads).unwrap();
            for leaky in [None, Some(0.1)] {
                let (want, t_out) = reference(&x, t, &w, [cin, cout, k], &b, true, s, 1, pads, leaky);
                assert_eq!(p.out_len(t), t_out);
                let got = p.forward(&x, t, leaky, None);
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-4, "{g} vs {w}");
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
