//! Element-wise kernels of the diffusion models' CPU path (softmax, SiLU, GELU), written so the
//! compiler vectorises them, and compiled three times: for AVX-512, for AVX2 + FMA and for the
//! baseline, the best one picked at run time.
//!
//! The C library's `expf` is one call per element and candle's unary operations map one element
//! at a time; in an attention layer over a 64×64 latent the exponentials alone are 2·8·4096²
//! per layer. [`exp_one`] is Cephes' `expf` without calls or branches (integer arithmetic
//! wrapping, so the dev profile's overflow checks do not stop vectorisation either), and the
//! reductions keep 16 partial sums so they vectorise without reassociating a single sum.

// `unsafe_code` is denied workspace-wide: calling a `#[target_feature]` function is unsafe, and
// each call below is made only after `is_x86_feature_detected!` confirmed the features.
#![allow(unsafe_code)]

const LANES: usize = 16;

/// Generates `pub fn $name(args) -> ret` that runs `$body` compiled for the best instruction set
/// the CPU has.
macro_rules! dispatch {
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$m])*
        pub fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn generic($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) -> $ret {
                    generic($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) -> $ret {
                    generic($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F (checked on this line).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two (Cephes): `x - n·C1 - n·C2` keeps the reduced argument exact.
const C1: f32 = 0.693_359_4;
const C2: f32 = -2.121_944_4e-4;

/// `exp(r)` for `|r| ≤ ln2/2` by Cephes' polynomial.
#[inline(always)]
fn exp_reduced(r: f32) -> f32 {
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    p * r * r + r + 1.0
}

/// `exp(x)` within a few ulp; below -87.3 gives 0 (where `expf` gives subnormals), above 88.72
/// (where `expf` overflows) +∞, NaN stays NaN.
#[inline(always)]
pub fn exp_one(x: f32) -> f32 {
    // x = n·ln2 + r with |r| ≤ ln2/2; exp(r) by Cephes' polynomial, 2^n from the exponent bits.
    let under = x < -87.3;
    let over = x > 88.722_83;
    let xc = x.clamp(-87.3, 88.722_83);
    let fx = xc * LOG2E + 0.5;
    // floor without a library call: truncate, then step down where that rounded up.
    let t = fx as i32;
    let n = t.wrapping_sub(i32::from((t as f32) > fx));
    let nf = n as f32;
    let y = exp_reduced(xc - nf * C1 - nf * C2);
    // 2^n as 2^min(n, 127) · 2^(n - that): n reaches 128 just below exp's overflow.
    let n1 = n.min(127);
    let pow2 = |e: i32| f32::from_bits((e.wrapping_add(127).clamp(1, 254) as u32) << 23);
    let v = y * pow2(n1) * pow2(n.wrapping_sub(n1));
    if under {
        0.0
    } else if over {
        f32::INFINITY
    } else {
        v
    }
}

/// `exp(x)` for `x ≤ 0` (softmax's shifted scores), within a few ulp down to -87.3; below that
/// it gives about 1e-38 instead of 0 (or a subnormal), which no softmax sum can tell apart.
/// Cheaper than [`exp_one`]: no overflow side, and `n = round(x·log2 e)` by the 1.5·2²³
/// rounding trick instead of a float-to-int conversion.
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let xc = x.max(-87.3);
    let biased = xc * LOG2E + ROUND;
    let nf = biased - ROUND;
    let y = exp_reduced(xc - nf * C1 - nf * C2);
    // The low mantissa bits of `biased` hold n (two's complement, n ≥ -126 here).
    let n = (biased.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    y * f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

/// `erf(x)` within 1.5e-7 (Abramowitz and Stegun 7.1.26), branch-free.
#[inline(always)]
pub fn erf_one(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (a * 0.327_591_1 + 1.0);
    let mut p = 1.061_405_4f32;
    p = p * t - 1.453_152_1;
    p = p * t + 1.421_413_7;
    p = p * t - 0.284_496_74;
    p = p * t + 0.254_829_6;
    let y = 1.0 - p * t * exp_one(-a * a);
    y.copysign(x)
}

dispatch! {
    /// Softmax's numerators in place: each `x` becomes `exp(x - max(row))`; returns their sum.
    pub fn softmax_numerators(row: &mut [f32]) -> f32 {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for c in &mut chunks {
            for (l, &x) in lanes.iter_mut().zip(c) {
                *l = if x > *l { x } else { *l };
            }
        }
        let mut max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for &x in chunks.remainder() {
            max = max.max(x);
        }
        let mut sums = [0f32; LANES];
        let mut chunks = row.chunks_exact_mut(LANES);
        for c in &mut chunks {
            for (s, x) in sums.iter_mut().zip(c) {
                *x = exp_nonpositive(*x - max);
                *s += *x;
            }
        }
        let mut sum: f32 = sums.iter().sum();
        for x in chunks.into_remainder() {
            *x = exp_nonpositive(*x - max);
            sum += *x;
        }
        sum
    }
}

dispatch! {
    /// Mean and (biased) variance of `xs`, two passes with f64 partial sums in lanes.
    pub fn moments(xs: &[f32]) -> (f64, f64) {
        const L: usize = 8;
        let n = xs.len().max(1) as f64;
        let mut lanes = [0f64; L];
        let mut chunks = xs.chunks_exact(L);
        for c in &mut chunks {
            for (l, &x) in lanes.iter_mut().zip(c) {
                *l += f64::from(x);
            }
        }
        let tail: f64 = chunks.remainder().iter().map(|&x| f64::from(x)).sum();
        let mean = (lanes.iter().sum::<f64>() + tail) / n;
        let mut lanes = [0f64; L];
        let mut chunks = xs.chunks_exact(L);
        for c in &mut chunks {
            for (l, &x) in lanes.iter_mut().zip(c) {
                let d = f64::from(x) - mean;
                *l += d * d;
            }
        }
        let tail: f64 = chunks
            .remainder()
            .iter()
            .map(|&x| (f64::from(x) - mean) * (f64::from(x) - mean))
            .sum();
        (mean, (lanes.iter().sum::<f64>() + tail) / n)
    }
}

dispatch! {
    /// `dst = silu(src · a + b)` (or without SiLU): a group norm's last pass over one channel.
    pub fn affine_act(dst: &mut [f32], src: &[f32], a: f32, b: f32, silu: bool) -> () {
        if silu {
            for (o, &v) in dst.iter_mut().zip(src) {
                let y = v * a + b;
                *o = y / (1.0 + exp_one(-y));
            }
        } else {
            for (o, &v) in dst.iter_mut().zip(src) {
                *o = v * a + b;
            }
        }
    }
}

dispatch! {
    /// GEGLU: `dst = hidden · gelu(gate)` with the exact (erf) GELU.
    pub fn geglu(dst: &mut [f32], hidden: &[f32], gate: &[f32]) -> () {
        for ((o, &x), &g) in dst.iter_mut().zip(hidden).zip(gate) {
            *o = x * 0.5 * g * (1.0 + erf_one(g * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_match_the_library_functions() {
        let mut xs: Vec<f32> = (-2000..=900).map(|i| i as f32 * 0.1).collect();
        xs.extend([
            -1e-7,
            0.0,
            1e-7,
            -87.2,
            88.6,
            88.72,
            f32::MIN,
            -100.0,
            100.0,
        ]);
        for &x in &xs {
            let (e, want) = (exp_one(x), x.exp());
            if want < f32::MIN_POSITIVE {
                assert!(e < f32::MIN_POSITIVE * 2.0, "exp({x}) = {e}");
            } else if want.is_infinite() {
                assert_eq!(e, want, "exp({x})");
            } else {
                let rel = ((e - want) / want).abs();
                assert!(rel < 4e-7, "exp({x}) = {e}, want {want}");
            }
        }
        assert!(exp_one(f32::NAN).is_nan());
        for &x in xs.iter().filter(|&&x| x <= 0.0) {
            let (e, want) = (exp_nonpositive(x), x.exp());
            if x < -87.3 {
                assert!(e < 2e-38, "exp({x}) = {e}");
            } else {
                assert!(
                    ((e - want) / want).abs() < 4e-7,
                    "exp({x}) = {e}, want {want}"
                );
            }
        }
        for (x, want) in [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (2.0, 0.995_322_3),
            (-1.0, -0.842_700_8),
            (4.0, 1.0),
        ] {
            assert!(
                (erf_one(x) - want).abs() < 3e-7,
                "erf({x}) = {}",
                erf_one(x)
            );
        }
    }

    #[test]
    fn softmax_numerators_match_a_plain_softmax() {
        for len in [1usize, 15, 16, 17, 77, 1000] {
            let row: Vec<f32> = (0..len)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.7)
                .collect();
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let want: Vec<f64> = row.iter().map(|&x| f64::from(x - max).exp()).collect();
            let mut ours = row.clone();
            let sum = softmax_numerators(&mut ours);
            let want_sum: f64 = want.iter().sum();
            assert!((f64::from(sum) - want_sum).abs() / want_sum < 1e-5, "{len}");
            for (o, w) in ours.iter().zip(&want) {
                assert!(
                    (f64::from(*o) - w).abs() < 1e-6 * w.max(1e-30) + 1e-37,
                    "{len}"
                );
            }
        }
    }

    #[test]
    fn moments_match_a_direct_computation() {
        for len in [1usize, 7, 8, 9, 1000] {
            let xs: Vec<f32> = (0..len)
                .map(|i| 100.0 + ((i * 13 % 17) as f32) * 0.25)
                .collect();
            let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / len as f64;
            let var = xs
                .iter()
                .map(|&x| (f64::from(x) - mean).powi(2))
                .sum::<f64>()
                / len as f64;
            let (m, v) = moments(&xs);
            assert!((m - mean).abs() < 1e-9 && (v - var).abs() < 1e-9, "{len}");
        }
    }

    #[test]
    fn silu_matches_its_definition() {
        let src: Vec<f32> = (-200..200).map(|i| i as f32 * 0.05).collect();
        let mut dst = vec![0f32; src.len()];
        affine_act(&mut dst, &src, 1.5, -0.25, true);
        for (&o, &v) in dst.iter().zip(&src) {
            let y = f64::from(v) * 1.5 - 0.25;
            let want = y / (1.0 + (-y).exp());
            assert!((f64::from(o) - want).abs() < 1e-5, "silu({y})");
        }
        affine_act(&mut dst, &src, 2.0, 1.0, false);
        assert!(dst.iter().zip(&src).all(|(&o, &v)| o == v * 2.0 + 1.0));
        // GEGLU is checked against candle's exact GELU in `attention`'s tests.
    }
}
