//! AVX2 + FMA + F16C versions of the kernels in [`super`], for x86-64 CPUs without AVX-512
//! (most desktop Intel parts, AMD before Zen 4). Same integer sums as the scalar kernels; per
//! 32-element block `maddubs` (u8 × i8 → i16 pairs, no saturation: |q·x| ≤ 15·127·2 or
//! 127·127·2 < 32768) then `madd` with ones → i32, scaled and accumulated in f32.
//!
//! Every function here is `unsafe` only because it is compiled for CPU features the caller must
//! have checked. Full-width loads only cover whole blocks inside the slices; tails are scalar.

use super::{Acts, BLOCK, QMatrix, ROW_TILE, WeightData};
use half::f16;
use std::arch::x86_64::*;
use std::ops::Range;

/// See [`super::matmul_block`].
///
/// # Safety
/// The CPU must support avx2, fma and f16c.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn matmul_block(
    w: &QMatrix,
    x: Acts<'_>,
    rows: Range<usize>,
    tokens: Range<usize>,
    out: &mut [f32],
) {
    let nr = rows.len();
    for tile in rows.clone().step_by(ROW_TILE) {
        let tile_end = (tile + ROW_TILE).min(rows.end);
        for t in tokens.clone() {
            for r in tile..tile_end {
                // SAFETY: same features as this function.
                out[(t - tokens.start) * nr + r - rows.start] = unsafe { dot(w, r, x, t) };
            }
        }
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot(w: &QMatrix, r: usize, x: Acts<'_>, t: usize) -> f32 {
    let k = w.cols;
    let nb = k / BLOCK;
    let blocks = r * nb..(r + 1) * nb;
    match &w.data {
        WeightData::Q4 { qs, d, m } => {
            let xr = x.q8.row(t);
            let (wc, xs) = if m.is_empty() {
                (&d[blocks.clone()], xr.s0)
            } else {
                (&m[blocks.clone()], xr.s1)
            };
            let row = &qs[r * k / 2..(r + 1) * k / 2];
            // SAFETY: same features as this function.
            unsafe { dot_q4(row, &d[blocks], wc, xr.qs, xr.d, xs) }
        }
        WeightData::Q8_0 { qs, d } => {
            let xr = x.q8.row(t);
            // SAFETY: same features as this function.
            unsafe { dot_q8_0(&qs[r * k..(r + 1) * k], &d[blocks], xr.qs, xr.d) }
        }
        WeightData::F32(wf) => {
            // SAFETY: same features as this function.
            unsafe { dot_f32(&wf[r * k..(r + 1) * k], &x.f32[t * k..(t + 1) * k]) }
        }
    }
}

/// One f16 as f32 through F16C.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn f16_to_f32(h: f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h.to_bits()))))
}

/// Sum of the 8 i32 lanes of `maddubs(w, x)` paired up, as f32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn block_sums(w: __m256i, x: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(w, x);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

#[inline]
#[target_feature(enable = "avx2")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// See `avx512::dot_q4`: `Σ_b d·d_x·Σq·x_q + c·s_x` over a repacked Q4 row.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q4(row: &[u8], wd: &[f16], wc: &[f16], xq: &[i8], xd: &[f32], xs: &[f32]) -> f32 {
    let nb = wd.len();
    debug_assert!(row.len() == nb * 16 && xq.len() == nb * BLOCK && wc.len() == nb);
    let nibble = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut msum = 0f32;
    for b in 0..nb {
        msum += f16_to_f32(wc[b]) * xs[b];
    }
    for p in 0..nb / 2 {
        let b = 2 * p;
        // SAFETY: the pair's 32 weight bytes and 64 activation bytes are inside the row.
        unsafe {
            let wb = _mm256_loadu_si256(row.as_ptr().add(16 * b).cast());
            let lo = _mm256_and_si256(wb, nibble);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(wb), nibble);
            let x0 = _mm256_loadu_si256(xq.as_ptr().add(BLOCK * b).cast());
            let x1 = _mm256_loadu_si256(xq.as_ptr().add(BLOCK * (b + 1)).cast());
            let s0 = _mm256_set1_ps(f16_to_f32(wd[b]) * xd[b]);
            let s1 = _mm256_set1_ps(f16_to_f32(wd[b + 1]) * xd[b + 1]);
            acc = _mm256_fmadd_ps(block_sums(lo, x0), s0, acc);
            acc = _mm256_fmadd_ps(block_sums(hi, x1), s1, acc);
        }
    }
    let mut tail = 0f32;
    if nb % 2 == 1 {
        let b = nb - 1;
        let isum: i32 = (0..BLOCK)
            .map(|j| i32::from(super::q4_at(row, nb, b, j)) * i32::from(xq[b * BLOCK + j]))
            .sum();
        tail = f16_to_f32(wd[b]) * xd[b] * isum as f32;
    }
    hsum(acc) + msum + tail
}

/// `Σ_b d·d_x·Σ w·x_q` over a Q8_0 row, with llama.cpp's sign trick (|w| · sign(w)·x).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q8_0(row: &[i8], wd: &[f16], xq: &[i8], xd: &[f32]) -> f32 {
    let nb = wd.len();
    debug_assert!(row.len() == nb * BLOCK && xq.len() == nb * BLOCK);
    let mut acc = _mm256_setzero_ps();
    for b in 0..nb {
        // SAFETY: block b's 32 bytes are inside both rows.
        unsafe {
            let w = _mm256_loadu_si256(row.as_ptr().add(BLOCK * b).cast());
            let x = _mm256_loadu_si256(xq.as_ptr().add(BLOCK * b).cast());
            let s = _mm256_set1_ps(f16_to_f32(wd[b]) * xd[b]);
            let sums = block_sums(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
            acc = _mm256_fmadd_ps(sums, s, acc);
        }
    }
    hsum(acc)
}

/// f32 dot product, 8 lanes × 4 accumulators, scalar tail.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load covers i..i + 8 <= n.
    unsafe {
        while i + 32 <= n {
            for (j, s) in acc.iter_mut().enumerate() {
                let o = i + 8 * j;
                *s = _mm256_fmadd_ps(
                    _mm256_loadu_ps(a.as_ptr().add(o)),
                    _mm256_loadu_ps(b.as_ptr().add(o)),
                    *s,
                );
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
                acc[0],
            );
            i += 8;
        }
    }
    let tail: f32 = a[i..n].iter().zip(&b[i..n]).map(|(x, y)| x * y).sum();
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum(s) + tail
}

/// See [`super::attn_scores`].
///
/// # Safety
/// The CPU must support avx2 and fma.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn attn_scores(q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
    for (o, k) in out.iter_mut().zip(keys.chunks_exact(q.len())) {
        // SAFETY: same features as this function.
        *o = scale * unsafe { dot_f32(q, k) };
    }
}

/// See [`super::attn_mix`].
///
/// # Safety
/// The CPU must support avx2 and fma.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn attn_mix(p: &[f32], values: &[f32], out: &mut [f32]) {
    let hd = out.len();
    let full = hd - hd % 8;
    // 32 output lanes per pass over `p`; the last pass may hold fewer whole 8-lane groups.
    for c in (0..full).step_by(32) {
        let groups = ((full - c) / 8).min(4);
        let mut acc = [_mm256_setzero_ps(); 4];
        // SAFETY: lanes c..c + 8·groups <= full <= hd of each value row and of `out`.
        unsafe {
            for (&pj, v) in p.iter().zip(values.chunks_exact(hd)) {
                let pv = _mm256_set1_ps(pj);
                for (j, a) in acc.iter_mut().enumerate().take(groups) {
                    let vv = _mm256_loadu_ps(v.as_ptr().add(c + 8 * j));
                    *a = _mm256_fmadd_ps(pv, vv, *a);
                }
            }
            for (j, a) in acc.iter().enumerate().take(groups) {
                _mm256_storeu_ps(out.as_mut_ptr().add(c + 8 * j), *a);
            }
        }
    }
    for (i, o) in out.iter_mut().enumerate().skip(full) {
        *o = p
            .iter()
            .zip(values.chunks_exact(hd))
            .map(|(&pj, v)| pj * v[i])
            .sum();
    }
}
