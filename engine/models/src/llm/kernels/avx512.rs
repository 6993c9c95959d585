//! AVX-512 (F, BW, VL, VNNI) versions of the kernels in [`super`]; same arithmetic, SIMD order.
//!
//! Every function here is `unsafe` only because it is compiled for CPU features the caller must
//! have checked ([`super::simd_level`]). Loads stay inside the slices: full-width loads cover
//! whole block pairs the slice holds, partial ones are masked.

use super::{Acts, BLOCK, QMatrix, ROW_TILE, WeightData};
use half::f16;
use std::arch::x86_64::*;
use std::ops::Range;

/// See [`super::matmul_block`].
///
/// # Safety
/// The CPU must support avx512f, avx512bw, avx512vl, avx512vnni, f16c and fma.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")]
pub(super) unsafe fn matmul_block(
    w: &QMatrix,
    x: Acts<'_>,
    rows: Range<usize>,
    tokens: Range<usize>,
    out: &mut [f32],
) {
    let nr = rows.len();
    let k = w.cols;
    let nb = k / BLOCK;
    for tile in rows.clone().step_by(ROW_TILE) {
        let tile_end = (tile + ROW_TILE).min(rows.end);
        let mut t = tokens.start;
        // Prompt: four tokens per pass over a Q4 row share its unpacking and scale loads.
        if let WeightData::Q4 { qs, d, m } = &w.data {
            while t + 4 <= tokens.end {
                let xr = [
                    x.q8.row(t),
                    x.q8.row(t + 1),
                    x.q8.row(t + 2),
                    x.q8.row(t + 3),
                ];
                for r in tile..tile_end {
                    let blocks = r * nb..(r + 1) * nb;
                    let wc = if m.is_empty() {
                        &d[blocks.clone()]
                    } else {
                        &m[blocks.clone()]
                    };
                    let row = &qs[r * k / 2..(r + 1) * k / 2];
                    // SAFETY: same features as this function.
                    let sums = unsafe { dot_q4_x4(row, &d[blocks], wc, m.is_empty(), &xr) };
                    for (j, s) in sums.into_iter().enumerate() {
                        out[(t + j - tokens.start) * nr + r - rows.start] = s;
                    }
                }
                t += 4;
            }
        }
        for t in t..tokens.end {
            let mut r = tile;
            // Decoding: two Q4 rows per pass share the activation loads and give the core two
            // independent accumulation chains.
            if let WeightData::Q4 { qs, d, m } = &w.data {
                let xr = x.q8.row(t);
                let xs = if m.is_empty() { xr.s0 } else { xr.s1 };
                while r + 2 <= tile_end {
                    let blocks = r * nb..(r + 2) * nb;
                    let (d2, c2) = (
                        &d[blocks.clone()],
                        if m.is_empty() { &d[blocks] } else { &m[blocks] },
                    );
                    let rows2 = &qs[r * k / 2..(r + 2) * k / 2];
                    // SAFETY: same features as this function.
                    let sums = unsafe { dot_q4_x2(rows2, d2, c2, xr.qs, xr.d, xs) };
                    out[(t - tokens.start) * nr + r - rows.start] = sums[0];
                    out[(t - tokens.start) * nr + r + 1 - rows.start] = sums[1];
                    r += 2;
                }
            }
            for r in r..tile_end {
                // SAFETY: same features as this function.
                out[(t - tokens.start) * nr + r - rows.start] = unsafe { dot(w, r, x, t) };
            }
        }
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")]
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

/// Per-lane block index for the two blocks of a pair: lanes 0..8 block 0, lanes 8..16 block 1.
#[inline]
#[target_feature(enable = "avx512f")]
fn pair_index() -> __m512i {
    _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0)
}

/// Loads up to 16 f16 scales (masked) as f32.
///
/// # Safety
/// `src.len() >= start + n`, `n <= 16`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c")]
unsafe fn load_f16x16(src: &[f16], start: usize, mask: __mmask16) -> __m512 {
    // SAFETY: masked lanes are not read; the unmasked ones are inside `src` (caller).
    unsafe {
        let h = _mm256_maskz_loadu_epi16(mask, src.as_ptr().add(start).cast::<i16>());
        _mm512_cvtph_ps(h)
    }
}

/// Sum of `d·d_x·Σq·x_q + c·s_x` over the blocks of a repacked Q4 row (see the module docs).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")]
unsafe fn dot_q4(row: &[u8], wd: &[f16], wc: &[f16], xq: &[i8], xd: &[f32], xs: &[f32]) -> f32 {
    let nb = wd.len();
    debug_assert!(row.len() == nb * 16 && xq.len() == nb * BLOCK && wc.len() == nb);
    let nibble = _mm512_set1_epi8(0x0F);
    let two = _mm512_set1_epi32(2);
    let mut acc = _mm512_setzero_ps();
    let mut macc = _mm512_setzero_ps();
    let mut tail = 0f32;
    for c in (0..nb).step_by(16) {
        let nblk = (nb - c).min(16);
        let mask: __mmask16 = if nblk == 16 { 0xFFFF } else { (1 << nblk) - 1 };
        // SAFETY: the masked loads read blocks c..c + nblk, all inside the slices; each pair's
        // 32 weight bytes and 64 activation bytes are inside the row (p < nblk / 2).
        unsafe {
            let sc = _mm512_mul_ps(
                load_f16x16(wd, c, mask),
                _mm512_maskz_loadu_ps(mask, xd.as_ptr().add(c)),
            );
            let xsv = _mm512_maskz_loadu_ps(mask, xs.as_ptr().add(c));
            macc = _mm512_fmadd_ps(load_f16x16(wc, c, mask), xsv, macc);
            let mut idx = pair_index();
            for p in 0..nblk / 2 {
                let b = c + 2 * p;
                let wb = _mm256_loadu_si256(row.as_ptr().add(16 * b).cast());
                let wz =
                    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(wb), _mm256_srli_epi16::<4>(wb));
                let wz = _mm512_and_si512(wz, nibble);
                let xz = _mm512_loadu_si512(xq.as_ptr().add(BLOCK * b).cast());
                let isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wz, xz);
                let s = _mm512_permutexvar_ps(idx, sc);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc);
                idx = _mm512_add_epi32(idx, two);
            }
        }
        if nblk % 2 == 1 {
            // The odd last block keeps the GGUF nibble layout; rare (odd block counts), scalar.
            let b = nb - 1;
            let isum: i32 = (0..BLOCK)
                .map(|j| i32::from(super::q4_at(row, nb, b, j)) * i32::from(xq[b * BLOCK + j]))
                .sum();
            tail += wd[b].to_f32() * xd[b] * isum as f32;
        }
    }
    _mm512_reduce_add_ps(_mm512_add_ps(acc, macc)) + tail
}

/// [`dot_q4`] of two consecutive rows (`rows`, `wd`, `wc` hold both) against one activation
/// vector; each row's arithmetic is exactly `dot_q4`'s.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")]
unsafe fn dot_q4_x2(
    rows: &[u8],
    wd: &[f16],
    wc: &[f16],
    xq: &[i8],
    xd: &[f32],
    xs: &[f32],
) -> [f32; 2] {
    let nb = wd.len() / 2;
    debug_assert!(rows.len() == 2 * nb * 16 && xq.len() == nb * BLOCK && wc.len() == 2 * nb);
    let (row0, row1) = rows.split_at(nb * 16);
    let nibble = _mm512_set1_epi8(0x0F);
    let two = _mm512_set1_epi32(2);
    let zero = _mm512_setzero_si512();
    let (mut a0, mut a1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let (mut m0, mut m1) = (a0, a1);
    let mut tail = [0f32; 2];
    for c in (0..nb).step_by(16) {
        let nblk = (nb - c).min(16);
        let mask: __mmask16 = if nblk == 16 { 0xFFFF } else { (1 << nblk) - 1 };
        // SAFETY: as in `dot_q4`, for each row (row 1's blocks start at `nb`).
        unsafe {
            let xdv = _mm512_maskz_loadu_ps(mask, xd.as_ptr().add(c));
            let xsv = _mm512_maskz_loadu_ps(mask, xs.as_ptr().add(c));
            let sc0 = _mm512_mul_ps(load_f16x16(wd, c, mask), xdv);
            let sc1 = _mm512_mul_ps(load_f16x16(wd, nb + c, mask), xdv);
            m0 = _mm512_fmadd_ps(load_f16x16(wc, c, mask), xsv, m0);
            m1 = _mm512_fmadd_ps(load_f16x16(wc, nb + c, mask), xsv, m1);
            let mut idx = pair_index();
            for p in 0..nblk / 2 {
                let b = c + 2 * p;
                let xz = _mm512_loadu_si512(xq.as_ptr().add(BLOCK * b).cast());
                let unpack = |row: &[u8]| {
                    let wb = _mm256_loadu_si256(row.as_ptr().add(16 * b).cast());
                    let wz = _mm512_inserti64x4::<1>(
                        _mm512_castsi256_si512(wb),
                        _mm256_srli_epi16::<4>(wb),
                    );
                    _mm512_and_si512(wz, nibble)
                };
                let i0 = _mm512_dpbusd_epi32(zero, unpack(row0), xz);
                let i1 = _mm512_dpbusd_epi32(zero, unpack(row1), xz);
                a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), _mm512_permutexvar_ps(idx, sc0), a0);
                a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1), _mm512_permutexvar_ps(idx, sc1), a1);
                idx = _mm512_add_epi32(idx, two);
            }
        }
        if nblk % 2 == 1 {
            let b = nb - 1;
            for (j, (row, tl)) in [row0, row1].into_iter().zip(&mut tail).enumerate() {
                let isum: i32 = (0..BLOCK)
                    .map(|i| i32::from(super::q4_at(row, nb, b, i)) * i32::from(xq[b * BLOCK + i]))
                    .sum();
                *tl += wd[j * nb + b].to_f32() * xd[b] * isum as f32;
            }
        }
    }
    [
        _mm512_reduce_add_ps(_mm512_add_ps(a0, m0)) + tail[0],
        _mm512_reduce_add_ps(_mm512_add_ps(a1, m1)) + tail[1],
    ]
}

/// [`dot_q4`] of one row against four activation vectors at once. Each token's arithmetic is
/// exactly `dot_q4`'s, in the same order, so a batched prompt gives bit-identical results to
/// feeding its tokens one by one. (Four named accumulators rather than arrays: LLVM keeps
/// those in registers, arrays it spilled to the stack every iteration.)
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")]
unsafe fn dot_q4_x4(
    row: &[u8],
    wd: &[f16],
    wc: &[f16],
    q4_0: bool,
    xr: &[super::Q8Row<'_>; 4],
) -> [f32; 4] {
    let nb = wd.len();
    debug_assert!(row.len() == nb * 16 && wc.len() == nb);
    debug_assert!(
        xr.iter()
            .all(|x| x.qs.len() == nb * BLOCK && x.d.len() == nb)
    );
    let xs = |j: usize| if q4_0 { xr[j].s0 } else { xr[j].s1 };
    let (q0, q1, q2, q3) = (xr[0].qs, xr[1].qs, xr[2].qs, xr[3].qs);
    let (d0, d1, d2, d3) = (xr[0].d, xr[1].d, xr[2].d, xr[3].d);
    let (s0, s1, s2, s3) = (xs(0), xs(1), xs(2), xs(3));
    let nibble = _mm512_set1_epi8(0x0F);
    let two = _mm512_set1_epi32(2);
    let zero = _mm512_setzero_si512();
    let (mut a0, mut a1, mut a2, mut a3) = (
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
        _mm512_setzero_ps(),
    );
    let (mut m0, mut m1, mut m2, mut m3) = (a0, a1, a2, a3);
    let mut tail = [0f32; 4];
    for c in (0..nb).step_by(16) {
        let nblk = (nb - c).min(16);
        let mask: __mmask16 = if nblk == 16 { 0xFFFF } else { (1 << nblk) - 1 };
        // SAFETY: as in `dot_q4`, for each of the four activation rows (all `nb` blocks long).
        unsafe {
            let wdf = load_f16x16(wd, c, mask);
            let wcf = load_f16x16(wc, c, mask);
            let scale =
                |xd: &[f32]| _mm512_mul_ps(wdf, _mm512_maskz_loadu_ps(mask, xd.as_ptr().add(c)));
            let (sc0, sc1, sc2, sc3) = (scale(d0), scale(d1), scale(d2), scale(d3));
            let sums = |xs: &[f32]| _mm512_maskz_loadu_ps(mask, xs.as_ptr().add(c));
            m0 = _mm512_fmadd_ps(wcf, sums(s0), m0);
            m1 = _mm512_fmadd_ps(wcf, sums(s1), m1);
            m2 = _mm512_fmadd_ps(wcf, sums(s2), m2);
            m3 = _mm512_fmadd_ps(wcf, sums(s3), m3);
            let mut idx = pair_index();
            for p in 0..nblk / 2 {
                let b = c + 2 * p;
                let wb = _mm256_loadu_si256(row.as_ptr().add(16 * b).cast());
                let wz =
                    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(wb), _mm256_srli_epi16::<4>(wb));
                let wz = _mm512_and_si512(wz, nibble);
                let term = |q: &[i8], sc: __m512| {
                    let xz = _mm512_loadu_si512(q.as_ptr().add(BLOCK * b).cast());
                    let isum = _mm512_dpbusd_epi32(zero, wz, xz);
                    (_mm512_cvtepi32_ps(isum), _mm512_permutexvar_ps(idx, sc))
                };
                let (v, s) = term(q0, sc0);
                a0 = _mm512_fmadd_ps(v, s, a0);
                let (v, s) = term(q1, sc1);
                a1 = _mm512_fmadd_ps(v, s, a1);
                let (v, s) = term(q2, sc2);
                a2 = _mm512_fmadd_ps(v, s, a2);
                let (v, s) = term(q3, sc3);
                a3 = _mm512_fmadd_ps(v, s, a3);
                idx = _mm512_add_epi32(idx, two);
            }
        }
        if nblk % 2 == 1 {
            let b = nb - 1;
            for (j, tl) in tail.iter_mut().enumerate() {
                let isum: i32 = (0..BLOCK)
                    .map(|i| {
                        i32::from(super::q4_at(row, nb, b, i)) * i32::from(xr[j].qs[b * BLOCK + i])
                    })
                    .sum();
                *tl += wd[b].to_f32() * xr[j].d[b] * isum as f32;
            }
        }
    }
    [
        _mm512_reduce_add_ps(_mm512_add_ps(a0, m0)) + tail[0],
        _mm512_reduce_add_ps(_mm512_add_ps(a1, m1)) + tail[1],
        _mm512_reduce_add_ps(_mm512_add_ps(a2, m2)) + tail[2],
        _mm512_reduce_add_ps(_mm512_add_ps(a3, m3)) + tail[3],
    ]
}

/// `Σ_b d·d_x·Σ w·x_q` over a Q8_0 row; `vpdpbusd` needs one unsigned operand, so the weight's
/// sign moves onto the activation (|w|·(±x), as llama.cpp does with `sign_epi8`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")]
unsafe fn dot_q8_0(row: &[i8], wd: &[f16], xq: &[i8], xd: &[f32]) -> f32 {
    let nb = wd.len();
    debug_assert!(row.len() == nb * BLOCK && xq.len() == nb * BLOCK);
    let two = _mm512_set1_epi32(2);
    let zero = _mm512_setzero_si512();
    let mut acc = _mm512_setzero_ps();
    let mut tail = 0f32;
    for c in (0..nb).step_by(16) {
        let nblk = (nb - c).min(16);
        let mask: __mmask16 = if nblk == 16 { 0xFFFF } else { (1 << nblk) - 1 };
        // SAFETY: as in `dot_q4`: masked scale loads, full loads only of whole pairs in the row.
        unsafe {
            let sc = _mm512_mul_ps(
                load_f16x16(wd, c, mask),
                _mm512_maskz_loadu_ps(mask, xd.as_ptr().add(c)),
            );
            let mut idx = pair_index();
            for p in 0..nblk / 2 {
                let b = c + 2 * p;
                let wz = _mm512_loadu_si512(row.as_ptr().add(BLOCK * b).cast());
                let xz = _mm512_loadu_si512(xq.as_ptr().add(BLOCK * b).cast());
                let negative = _mm512_movepi8_mask(wz);
                let signed_x = _mm512_mask_sub_epi8(xz, negative, zero, xz);
                let isum = _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(wz), signed_x);
                let s = _mm512_permutexvar_ps(idx, sc);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc);
                idx = _mm512_add_epi32(idx, two);
            }
        }
        if nblk % 2 == 1 {
            let b = nb - 1;
            let isum: i32 = (b * BLOCK..(b + 1) * BLOCK)
                .map(|j| i32::from(row[j]) * i32::from(xq[j]))
                .sum();
            tail += wd[b].to_f32() * xd[b] * isum as f32;
        }
    }
    _mm512_reduce_add_ps(acc) + tail
}

/// f32 dot product, 16 lanes × 4 accumulators, masked tail.
#[inline]
#[target_feature(enable = "avx512f,fma")]
unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every full load covers i..i + 16 <= n; the tail load is masked to i..n.
    unsafe {
        while i + 64 <= n {
            for (j, s) in acc.iter_mut().enumerate() {
                let o = i + 16 * j;
                *s = _mm512_fmadd_ps(
                    _mm512_loadu_ps(a.as_ptr().add(o)),
                    _mm512_loadu_ps(b.as_ptr().add(o)),
                    *s,
                );
            }
            i += 64;
        }
        while i + 16 <= n {
            acc[0] = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.as_ptr().add(i)),
                _mm512_loadu_ps(b.as_ptr().add(i)),
                acc[0],
            );
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1 << (n - i)) - 1;
            acc[1] = _mm512_fmadd_ps(
                _mm512_maskz_loadu_ps(mask, a.as_ptr().add(i)),
                _mm512_maskz_loadu_ps(mask, b.as_ptr().add(i)),
                acc[1],
            );
        }
    }
    let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(s)
}

/// See [`super::attn_scores`].
///
/// # Safety
/// The CPU must support avx512f and fma.
#[target_feature(enable = "avx512f,fma")]
pub(super) unsafe fn attn_scores(q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
    let hd = q.len();
    if hd > 64 {
        for (o, k) in out.iter_mut().zip(keys.chunks_exact(hd)) {
            // SAFETY: same features as this function.
            *o = scale * unsafe { dot_f32(q, k) };
        }
        return;
    }
    // Heads of up to 64 dimensions (all llama-family models in practice): the query stays in
    // four registers and each key is four masked loads and FMAs.
    let mask = |j: usize| -> __mmask16 {
        match hd.saturating_sub(16 * j) {
            0 => 0,
            left if left >= 16 => 0xFFFF,
            left => (1 << left) - 1,
        }
    };
    let m: [__mmask16; 4] = std::array::from_fn(mask);
    // SAFETY: lanes 16j..min(16j + 16, hd) of `q` and of each key, masked; groups wholly past
    // `hd` have empty masks and touch no memory (their pointers formed with `wrapping_add`).
    unsafe {
        let load =
            |src: &[f32], j: usize| _mm512_maskz_loadu_ps(m[j], src.as_ptr().wrapping_add(16 * j));
        let (q0, q1, q2, q3) = (load(q, 0), load(q, 1), load(q, 2), load(q, 3));
        for (o, k) in out.iter_mut().zip(keys.chunks_exact(hd)) {
            // The same operations as `dot_f32` on 64 lanes, so scores do not depend on which
            // path computed them.
            let s01 = _mm512_add_ps(_mm512_mul_ps(q0, load(k, 0)), _mm512_mul_ps(q1, load(k, 1)));
            let s23 = _mm512_add_ps(_mm512_mul_ps(q2, load(k, 2)), _mm512_mul_ps(q3, load(k, 3)));
            *o = scale * _mm512_reduce_add_ps(_mm512_add_ps(s01, s23));
        }
    }
}

/// See [`super::attn_mix`].
///
/// # Safety
/// The CPU must support avx512f and fma.
#[target_feature(enable = "avx512f,fma")]
pub(super) unsafe fn attn_mix(p: &[f32], values: &[f32], out: &mut [f32]) {
    let hd = out.len();
    // Up to 64 output lanes per pass over `p` (a whole 64-wide head in one pass).
    for c in (0..hd).step_by(64) {
        let lane_mask = |j: usize| -> __mmask16 {
            let start = c + 16 * j;
            match hd.saturating_sub(start) {
                0 => 0,
                left if left >= 16 => 0xFFFF,
                left => (1 << left) - 1,
            }
        };
        let masks: [__mmask16; 4] = std::array::from_fn(lane_mask);
        let mut acc = [_mm512_setzero_ps(); 4];
        // SAFETY: lanes c..min(c + 64, hd) of each value row (and of `out`), masked; a group
        // wholly past the end has an empty mask and touches no memory (its pointer is only
        // formed, with `wrapping_add`).
        unsafe {
            for (&pj, v) in p.iter().zip(values.chunks_exact(hd)) {
                let pv = _mm512_set1_ps(pj);
                for (j, a) in acc.iter_mut().enumerate() {
                    let vv = _mm512_maskz_loadu_ps(masks[j], v.as_ptr().wrapping_add(c + 16 * j));
                    *a = _mm512_fmadd_ps(pv, vv, *a);
                }
            }
            for (j, a) in acc.iter().enumerate() {
                _mm512_mask_storeu_ps(out.as_mut_ptr().wrapping_add(c + 16 * j), masks[j], *a);
            }
        }
    }
}
