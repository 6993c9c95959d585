//! Quantized matrix kernels for the CPU path of [`super::llama`].
//!
//! Weights stay in their GGUF quantization (Q4_0, Q4_1, Q8_0; anything else is dequantized to
//! f32 once at load). Activations are quantized per 32-element block to int8 the way llama.cpp
//! does (`quantize_row_q8_0` / `q8_1`: scale `amax / 127` rounded to f16, block sum for Q4_1), so
//! a Q4 dot product is integer multiply-adds plus one float scale per block:
//!
//! ```text
//! Q4_1: Σ_b  d_w·d_x·Σ q·x_q  +  m_w·s_x          (s_x = d_x·Σ x_q, as llama.cpp's q8_1)
//! Q4_0: Σ_b  d_w·d_x·Σ q·x_q  −  8·d_w·d_x·Σ x_q   (q ∈ 0..16, i.e. Σ (q−8)·x_q)
//! Q8_0: Σ_b  d_w·d_x·Σ w·x_q
//! ```
//!
//! Q4 nibbles are repacked at load (values unchanged): GGUF puts elements `j` and `j + 16` of one
//! block in a byte; we put element `j` of block `2p` in the low nibble and element `j` of block
//! `2p + 1` in the high nibble of byte `32p + j`, so 32 bytes widen to 64 weights in natural order
//! with one shift and one mask. An odd last block keeps the GGUF layout.
//!
//! Every kernel has a portable scalar version and, on x86-64, an AVX-512 (F, BW, VL, VNNI) and an
//! AVX2 (+FMA, F16C) one, chosen at run time ([`simd_level`]; `PREVIZ_LLM_SIMD=scalar|avx2`
//! forces a lower one). They compute the same integer sums; only the order of the float
//! accumulation differs (tests bound the difference).

// `unsafe_code` is denied workspace-wide. This module needs it for `core::arch` intrinsics and
// `#[target_feature]` functions only; every unsafe block says why it is sound, and the only way in
// is through safe functions that check the CPU's features first.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

use half::f16;
use std::ops::Range;
use std::sync::OnceLock;

/// Elements per quantization block (all types handled here).
pub const BLOCK: usize = 32;

/// Which kernel family runs on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdLevel {
    /// Portable Rust, any target.
    Scalar,
    /// x86-64 AVX2 + FMA + F16C.
    Avx2,
    /// x86-64 AVX-512 F/BW/VL + VNNI (`vpdpbusd`) + F16C/FMA.
    Avx512Vnni,
}

/// The best kernel family this CPU supports, detected once.
pub fn simd_level() -> SimdLevel {
    static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
    *LEVEL.get_or_init(detect)
}

fn detect() -> SimdLevel {
    let best = [SimdLevel::Avx512Vnni, SimdLevel::Avx2]
        .into_iter()
        .find(|&l| supported(l))
        .unwrap_or(SimdLevel::Scalar);
    match std::env::var("PREVIZ_LLM_SIMD").as_deref() {
        Ok("scalar") => SimdLevel::Scalar,
        Ok("avx2") if supported(SimdLevel::Avx2) => SimdLevel::Avx2,
        _ => best,
    }
}

/// Whether this CPU can run `level`'s kernels.
pub fn supported(level: SimdLevel) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma") && has!("f16c");
        match level {
            SimdLevel::Scalar => true,
            SimdLevel::Avx2 => avx2,
            SimdLevel::Avx512Vnni => {
                avx2 && has!("avx512f")
                    && has!("avx512bw")
                    && has!("avx512vl")
                    && has!("avx512vnni")
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        level == SimdLevel::Scalar
    }
}

/// A weight matrix of `rows` outputs × `cols` inputs, row-major, in a kernel-ready layout.
#[derive(Debug, Clone)]
pub struct QMatrix {
    rows: usize,
    cols: usize,
    data: WeightData,
}

#[derive(Debug, Clone)]
enum WeightData {
    /// Q4_0 (`zero_point == false`, value `d·(q − 8)`) or Q4_1 (value `d·q + m`), repacked nibbles.
    Q4 {
        qs: Vec<u8>,
        d: Vec<f16>,
        /// Q4_1's per-block minimum; empty for Q4_0.
        m: Vec<f16>,
    },
    Q8_0 {
        qs: Vec<i8>,
        d: Vec<f16>,
    },
    F32(Vec<f32>),
}

/// Why raw tensor bytes cannot become a [`QMatrix`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("{cols} columns is not a multiple of the {BLOCK}-element block")]
    Cols { cols: usize },
    #[error("expected {expected} bytes of data, got {got}")]
    Size { expected: usize, got: usize },
}

impl QMatrix {
    /// Rows (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes a full matrix-vector product reads.
    pub fn bytes(&self) -> usize {
        match &self.data {
            WeightData::Q4 { qs, d, m } => qs.len() + 2 * (d.len() + m.len()),
            WeightData::Q8_0 { qs, d } => qs.len() + 2 * d.len(),
            WeightData::F32(w) => 4 * w.len(),
        }
    }

    /// Whether the kernels want int8-quantized activations ([`Q8Acts`]) for this matrix.
    pub fn wants_q8(&self) -> bool {
        !matches!(self.data, WeightData::F32(_))
    }

    /// From GGUF Q4_0 blocks (`f16 d; u8 qs[16]`, 18 bytes).
    pub fn from_q4_0(rows: usize, cols: usize, raw: &[u8]) -> Result<Self, LayoutError> {
        Self::from_q4(rows, cols, raw, false)
    }

    /// From GGUF Q4_1 blocks (`f16 d; f16 m; u8 qs[16]`, 20 bytes).
    pub fn from_q4_1(rows: usize, cols: usize, raw: &[u8]) -> Result<Self, LayoutError> {
        Self::from_q4(rows, cols, raw, true)
    }

    fn from_q4(rows: usize, cols: usize, raw: &[u8], has_min: bool) -> Result<Self, LayoutError> {
        let block_bytes = if has_min { 20 } else { 18 };
        let nb = check_layout(rows, cols, raw.len(), block_bytes)?;
        let mut qs = vec![0u8; rows * cols / 2];
        let mut d = Vec::with_capacity(rows * nb);
        let mut m = Vec::with_capacity(if has_min { rows * nb } else { 0 });
        for r in 0..rows {
            let row_raw = &raw[r * nb * block_bytes..(r + 1) * nb * block_bytes];
            let block = |b: usize| &row_raw[b * block_bytes..(b + 1) * block_bytes];
            for b in 0..nb {
                let blk = block(b);
                d.push(f16::from_le_bytes([blk[0], blk[1]]));
                if has_min {
                    m.push(f16::from_le_bytes([blk[2], blk[3]]));
                }
            }
            let nibbles = |b: usize| &block(b)[block_bytes - 16..];
            let out = &mut qs[r * cols / 2..(r + 1) * cols / 2];
            for p in 0..nb / 2 {
                let (lo, hi) = (nibbles(2 * p), nibbles(2 * p + 1));
                for j in 0..BLOCK {
                    out[32 * p + j] = gguf_nibble(lo, j) | (gguf_nibble(hi, j) << 4);
                }
            }
            if nb % 2 == 1 {
                out[16 * (nb - 1)..].copy_from_slice(nibbles(nb - 1));
            }
        }
        Ok(QMatrix {
            rows,
            cols,
            data: WeightData::Q4 { qs, d, m },
        })
    }

    /// From GGUF Q8_0 blocks (`f16 d; i8 qs[32]`, 34 bytes).
    pub fn from_q8_0(rows: usize, cols: usize, raw: &[u8]) -> Result<Self, LayoutError> {
        let nb = check_layout(rows, cols, raw.len(), 34)?;
        let mut qs = Vec::with_capacity(rows * cols);
        let mut d = Vec::with_capacity(rows * nb);
        for blk in raw.chunks_exact(34) {
            d.push(f16::from_le_bytes([blk[0], blk[1]]));
            qs.extend(blk[2..].iter().map(|&b| b as i8));
        }
        Ok(QMatrix {
            rows,
            cols,
            data: WeightData::Q8_0 { qs, d },
        })
    }

    /// From dense f32 weights (F32, F16 and every other GGUF type after dequantization).
    pub fn from_f32(rows: usize, cols: usize, w: Vec<f32>) -> Result<Self, LayoutError> {
        if w.len() != rows * cols {
            return Err(LayoutError::Size {
                expected: rows * cols * 4,
                got: w.len() * 4,
            });
        }
        Ok(QMatrix {
            rows,
            cols,
            data: WeightData::F32(w),
        })
    }

    /// Stacks matrices with the same input size and storage type into one (their rows one
    /// after the other), so several projections of one input are a single matrix product;
    /// `None` when they differ in type or columns.
    pub fn stack(parts: &[QMatrix]) -> Option<QMatrix> {
        let first = parts.first()?;
        let cols = first.cols;
        if parts.iter().any(|p| p.cols != cols) {
            return None;
        }
        let rows = parts.iter().map(|p| p.rows).sum();
        let data = match &first.data {
            WeightData::Q4 { m, .. } => {
                let has_min = !m.is_empty();
                let (mut qs, mut d, mut mins) = (Vec::new(), Vec::new(), Vec::new());
                for p in parts {
                    match &p.data {
                        WeightData::Q4 {
                            qs: pq,
                            d: pd,
                            m: pm,
                        } if pm.is_empty() != has_min => {
                            qs.extend_from_slice(pq);
                            d.extend_from_slice(pd);
                            mins.extend_from_slice(pm);
                        }
                        _ => return None,
                    }
                }
                WeightData::Q4 { qs, d, m: mins }
            }
            WeightData::Q8_0 { .. } => {
                let (mut qs, mut d) = (Vec::new(), Vec::new());
                for p in parts {
                    match &p.data {
                        WeightData::Q8_0 { qs: pq, d: pd } => {
                            qs.extend_from_slice(pq);
                            d.extend_from_slice(pd);
                        }
                        _ => return None,
                    }
                }
                WeightData::Q8_0 { qs, d }
            }
            WeightData::F32(_) => {
                let mut w = Vec::new();
                for p in parts {
                    match &p.data {
                        WeightData::F32(pw) => w.extend_from_slice(pw),
                        _ => return None,
                    }
                }
                WeightData::F32(w)
            }
        };
        Some(QMatrix { rows, cols, data })
    }

    /// Row `r` as f32 (embedding lookup): exactly the GGUF dequantization.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let k = self.cols;
        let nb = k / BLOCK;
        match &self.data {
            WeightData::Q4 { qs, d, m } => {
                let row = &qs[r * k / 2..(r + 1) * k / 2];
                for b in 0..nb {
                    let db = d[r * nb + b].to_f32();
                    for (j, o) in out[b * BLOCK..(b + 1) * BLOCK].iter_mut().enumerate() {
                        let q = q4_at(row, nb, b, j);
                        *o = if m.is_empty() {
                            (q as i32 - 8) as f32 * db
                        } else {
                            q as f32 * db + m[r * nb + b].to_f32()
                        };
                    }
                }
            }
            WeightData::Q8_0 { qs, d } => {
                for b in 0..nb {
                    let db = d[r * nb + b].to_f32();
                    for j in 0..BLOCK {
                        out[b * BLOCK + j] = qs[r * k + b * BLOCK + j] as f32 * db;
                    }
                }
            }
            WeightData::F32(w) => out.copy_from_slice(&w[r * k..(r + 1) * k]),
        }
    }
}

fn check_layout(
    rows: usize,
    cols: usize,
    got: usize,
    block_bytes: usize,
) -> Result<usize, LayoutError> {
    if !cols.is_multiple_of(BLOCK) || cols == 0 {
        return Err(LayoutError::Cols { cols });
    }
    let expected = rows * (cols / BLOCK) * block_bytes;
    if got != expected {
        return Err(LayoutError::Size { expected, got });
    }
    Ok(cols / BLOCK)
}

/// Element `j` (0..32) of a GGUF Q4 block's 16 nibble bytes.
fn gguf_nibble(qs: &[u8], j: usize) -> u8 {
    if j < 16 {
        qs[j] & 0x0F
    } else {
        qs[j - 16] >> 4
    }
}

/// Element `j` of block `b` in a repacked Q4 row of `nb` blocks.
fn q4_at(row: &[u8], nb: usize, b: usize, j: usize) -> u8 {
    if b % 2 == 1 {
        row[16 * (b - 1) + j] >> 4
    } else if b + 1 == nb {
        gguf_nibble(&row[16 * b..], j)
    } else {
        row[16 * b + j] & 0x0F
    }
}

/// `n` activation vectors of `k` elements quantized to int8 per 32-block, as llama.cpp does.
#[derive(Debug, Clone, Default)]
pub struct Q8Acts {
    k: usize,
    n: usize,
    qs: Vec<i8>,
    /// Block scale, rounded to f16 like llama.cpp's `block_q8_0/1.d`.
    d: Vec<f32>,
    /// Q4_1's block term `d·Σq` rounded to f16 (llama.cpp's `block_q8_1.s`).
    s1: Vec<f32>,
    /// Q4_0's block term `−8·d·Σq` (exact: the integer sum times the f16 scale).
    s0: Vec<f32>,
}

impl Q8Acts {
    /// Quantizes `n = x.len() / k` rows of `x`, reusing the buffers.
    pub fn quantize(&mut self, x: &[f32], k: usize) {
        debug_assert!(k.is_multiple_of(BLOCK) && x.len().is_multiple_of(k));
        let nb = x.len() / BLOCK;
        self.k = k;
        self.n = x.len() / k;
        self.qs.resize(x.len(), 0);
        self.d.resize(nb, 0.0);
        self.s1.resize(nb, 0.0);
        self.s0.resize(nb, 0.0);
        for (b, (xb, qb)) in x
            .chunks_exact(BLOCK)
            .zip(self.qs.chunks_exact_mut(BLOCK))
            .enumerate()
        {
            let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for (q, &v) in qb.iter_mut().zip(xb) {
                // Ties away from zero, as llama.cpp's reference quantizer and candle do.
                *q = (v * id).round() as i8;
                sum += i32::from(*q);
            }
            let d16 = f16::from_f32(d).to_f32();
            self.d[b] = d16;
            self.s1[b] = f16::from_f32(d * sum as f32).to_f32();
            self.s0[b] = -8.0 * d16 * sum as f32;
        }
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether no vector is held.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    #[inline]
    fn row(&self, t: usize) -> Q8Row<'_> {
        let nb = self.k / BLOCK;
        Q8Row {
            qs: &self.qs[t * self.k..(t + 1) * self.k],
            d: &self.d[t * nb..(t + 1) * nb],
            s1: &self.s1[t * nb..(t + 1) * nb],
            s0: &self.s0[t * nb..(t + 1) * nb],
        }
    }
}

#[derive(Clone, Copy)]
struct Q8Row<'a> {
    qs: &'a [i8],
    d: &'a [f32],
    s1: &'a [f32],
    s0: &'a [f32],
}

/// Activations for a matrix product: the f32 rows, and their int8 quantization when the matrix
/// wants it.
#[derive(Debug, Clone, Copy)]
pub struct Acts<'a> {
    pub f32: &'a [f32],
    pub q8: &'a Q8Acts,
}

/// `out[(t − tokens.start)·rows.len() + (r − rows.start)] = W[r] · x_t` for weight rows `rows`
/// and tokens `tokens` of `x`: a block of the token-major output. Threads split a single token
/// by rows and a prompt by tokens, so each writes one contiguous slice.
pub fn matmul_block(
    w: &QMatrix,
    x: Acts<'_>,
    rows: Range<usize>,
    tokens: Range<usize>,
    out: &mut [f32],
) {
    matmul_block_at(simd_level(), w, x, rows, tokens, out);
}

/// [`matmul_block`] with `level`'s kernels (scalar when this CPU lacks them).
pub fn matmul_block_at(
    level: SimdLevel,
    w: &QMatrix,
    x: Acts<'_>,
    rows: Range<usize>,
    tokens: Range<usize>,
    out: &mut [f32],
) {
    let n = x.f32.len() / w.cols;
    assert_eq!(out.len(), rows.len() * tokens.len(), "output size");
    // The SIMD kernels' raw loads rely on these sizes.
    assert!(
        rows.end <= w.rows && tokens.end <= n && x.f32.len() == n * w.cols,
        "matrix/activation shapes"
    );
    if w.wants_q8() {
        assert!(
            x.q8.k == w.cols && x.q8.n == n,
            "activations not quantized for this matrix"
        );
    }
    match checked(level) {
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512Vnni => {
            // SAFETY: `checked` confirmed every feature the function enables on this CPU.
            unsafe { avx512::matmul_block(w, x, rows, tokens, out) }
        }
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => {
            // SAFETY: as above.
            unsafe { avx2::matmul_block(w, x, rows, tokens, out) }
        }
        _ => matmul_block_scalar(w, x, rows, tokens, out),
    }
}

/// `level` if this CPU supports it, else scalar.
fn checked(level: SimdLevel) -> SimdLevel {
    if supported(level) {
        level
    } else {
        SimdLevel::Scalar
    }
}

/// Weight rows processed together for one token before moving on: small enough to stay in L1
/// while every token of a prompt streams past, so the weights are read from memory once.
pub const ROW_TILE: usize = 16;

fn matmul_block_scalar(
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
                out[(t - tokens.start) * nr + r - rows.start] = dot_scalar(w, r, x, t);
            }
        }
    }
}

/// One weight row times one activation vector, portable.
fn dot_scalar(w: &QMatrix, r: usize, x: Acts<'_>, t: usize) -> f32 {
    let k = w.cols;
    let nb = k / BLOCK;
    match &w.data {
        WeightData::Q4 { qs, d, m } => {
            let xr = x.q8.row(t);
            let row = &qs[r * k / 2..(r + 1) * k / 2];
            let (wd, wm) = (&d[r * nb..(r + 1) * nb], m.get(r * nb..(r + 1) * nb));
            let mut sum = 0f32;
            let mut msum = 0f32;
            for b in 0..nb {
                let xq = &xr.qs[b * BLOCK..(b + 1) * BLOCK];
                let isum: i32 = (0..BLOCK)
                    .map(|j| i32::from(q4_at(row, nb, b, j)) * i32::from(xq[j]))
                    .sum();
                sum += wd[b].to_f32() * xr.d[b] * isum as f32;
                msum += match wm {
                    Some(wm) => wm[b].to_f32() * xr.s1[b],
                    None => wd[b].to_f32() * xr.s0[b],
                };
            }
            sum + msum
        }
        WeightData::Q8_0 { qs, d } => {
            let xr = x.q8.row(t);
            let row = &qs[r * k..(r + 1) * k];
            let mut sum = 0f32;
            for b in 0..nb {
                let isum: i32 = (b * BLOCK..(b + 1) * BLOCK)
                    .map(|j| i32::from(row[j]) * i32::from(xr.qs[j]))
                    .sum();
                sum += d[r * nb + b].to_f32() * xr.d[b] * isum as f32;
            }
            sum
        }
        WeightData::F32(wf) => dot_f32_scalar(&wf[r * k..(r + 1) * k], &x.f32[t * k..(t + 1) * k]),
    }
}

fn dot_f32_scalar(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums: the compiler vectorizes this, and it bounds the rounding error like
    // the SIMD version's lanes do.
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// Attention scores of one query against `keys` (`n × q.len()`, row-major): `out[j] = scale·q·k_j`.
pub fn attn_scores(q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
    attn_scores_at(simd_level(), q, keys, scale, out);
}

/// [`attn_scores`] with `level`'s kernels (scalar when this CPU lacks them).
pub fn attn_scores_at(level: SimdLevel, q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
    match checked(level) {
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512Vnni => {
            // SAFETY: `checked` confirmed the features.
            unsafe { avx512::attn_scores(q, keys, scale, out) }
        }
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => {
            // SAFETY: `checked` confirmed the features.
            unsafe { avx2::attn_scores(q, keys, scale, out) }
        }
        _ => {
            for (o, k) in out.iter_mut().zip(keys.chunks_exact(q.len())) {
                *o = scale * dot_f32_scalar(q, k);
            }
        }
    }
}

/// `out = Σ_j p[j]·values_j` over `values` (`p.len() × out.len()`, row-major).
pub fn attn_mix(p: &[f32], values: &[f32], out: &mut [f32]) {
    attn_mix_at(simd_level(), p, values, out);
}

/// [`attn_mix`] with `level`'s kernels (scalar when this CPU lacks them).
pub fn attn_mix_at(level: SimdLevel, p: &[f32], values: &[f32], out: &mut [f32]) {
    match checked(level) {
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512Vnni => {
            // SAFETY: `checked` confirmed the features.
            unsafe { avx512::attn_mix(p, values, out) }
        }
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => {
            // SAFETY: `checked` confirmed the features.
            unsafe { avx2::attn_mix(p, values, out) }
        }
        _ => {
            out.fill(0.0);
            for (&pj, v) in p.iter().zip(values.chunks_exact(out.len())) {
                for (o, &vi) in out.iter_mut().zip(v) {
                    *o += pj * vi;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Random GGUF blocks of `block_bytes` whose first `scales` f16 fields are sane scales.
    fn gguf_blocks(seed: &[u8], nblocks: usize, block_bytes: usize, scales: usize) -> Vec<u8> {
        let mut raw: Vec<u8> = (0..nblocks * block_bytes)
            .map(|i| seed[i % seed.len()].wrapping_mul(31).wrapping_add(i as u8))
            .collect();
        for (b, blk) in raw.chunks_exact_mut(block_bytes).enumerate() {
            for s in 0..scales {
                let v = (b as f32 * 0.37 + s as f32).sin() * 0.05;
                blk[2 * s..2 * s + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
            }
        }
        raw
    }

    fn acts(rows_of_x: &[f32], k: usize) -> Q8Acts {
        let mut q = Q8Acts::default();
        q.quantize(rows_of_x, k);
        q
    }

    fn all_types(
        rows: usize,
        cols: usize,
        seed: &[u8],
    ) -> Vec<(QMatrix, candle_core::quantized::GgmlDType, Vec<u8>)> {
        use candle_core::quantized::GgmlDType;
        let nb = rows * cols / BLOCK;
        let q40 = gguf_blocks(seed, nb, 18, 1);
        let q41 = gguf_blocks(seed, nb, 20, 2);
        let q80 = gguf_blocks(seed, nb, 34, 1);
        vec![
            (
                QMatrix::from_q4_0(rows, cols, &q40).unwrap(),
                GgmlDType::Q4_0,
                q40,
            ),
            (
                QMatrix::from_q4_1(rows, cols, &q41).unwrap(),
                GgmlDType::Q4_1,
                q41,
            ),
            (
                QMatrix::from_q8_0(rows, cols, &q80).unwrap(),
                GgmlDType::Q8_0,
                q80,
            ),
        ]
    }

    fn candle_dequantize(
        dtype: candle_core::quantized::GgmlDType,
        raw: &[u8],
        rows: usize,
        cols: usize,
    ) -> Vec<f32> {
        use candle_core::Device;
        use candle_core::quantized::{QStorage, QTensor};
        let storage =
            QStorage::from_data(std::borrow::Cow::Borrowed(raw), &Device::Cpu, dtype).unwrap();
        let t = QTensor::new(storage, (rows, cols)).unwrap();
        t.dequantize(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    /// The SIMD kernel families this CPU can run (each is tested against scalar).
    fn simd_levels() -> Vec<SimdLevel> {
        [SimdLevel::Avx2, SimdLevel::Avx512Vnni]
            .into_iter()
            .filter(|&l| supported(l))
            .collect()
    }

    fn close(a: f32, b: f32, scale: f32, tol: f32) -> bool {
        (a - b).abs() <= tol * scale.max(1e-6)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Our row dequantization is candle's, and the scalar integer dot is the f32 dot of
        /// the dequantized weights with the dequantized activations up to rounding (and, for
        /// Q4_1, llama.cpp's f16 block sum).
        #[test]
        fn scalar_matches_candle_dequantize_dot(
            seed in proptest::collection::vec(any::<u8>(), 1..64),
            blocks in 1usize..7,
            rows in 1usize..5,
            x in proptest::collection::vec(-4f32..4f32, 32 * 7),
        ) {
            let cols = blocks * BLOCK;
            let x = &x[..cols];
            let q = acts(x, cols);
            let xdq: Vec<f32> = (0..cols).map(|i| q.qs[i] as f32 * q.d[i / BLOCK]).collect();
            for (w, dtype, raw) in all_types(rows, cols, &seed) {
                let deq = candle_dequantize(dtype, &raw, rows, cols);
                let mut row = vec![0f32; cols];
                for r in 0..rows {
                    w.dequantize_row(r, &mut row);
                    prop_assert_eq!(&row[..], &deq[r * cols..(r + 1) * cols]);
                    let want: f32 = row.iter().zip(&xdq).map(|(a, b)| a * b).sum();
                    let mag: f32 = row.iter().zip(&xdq).map(|(a, b)| (a * b).abs()).sum();
                    let got = dot_scalar(&w, r, Acts { f32: x, q8: &q }, 0);
                    prop_assert!(close(got, want, mag, 2e-3), "{dtype:?} {got} vs {want}");
                }
            }
        }

        /// Every SIMD kernel gives the scalar result up to float summation order.
        #[test]
        fn simd_matches_scalar(
            seed in proptest::collection::vec(any::<u8>(), 1..64),
            blocks in 1usize..40,
            rows in 1usize..40,
            tokens in 1usize..4,
            x in proptest::collection::vec(-4f32..4f32, 32 * 40 * 3),
        ) {
            let cols = blocks * BLOCK;
            let x = &x[..cols * tokens];
            let q = acts(x, cols);
            let dense: Vec<f32> = (0..rows * cols).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.01).collect();
            let mut mats = all_types(rows, cols, &seed);
            let f32m = QMatrix::from_f32(rows, cols, dense).unwrap();
            mats.push((f32m, candle_core::quantized::GgmlDType::F32, vec![]));
            for level in simd_levels() {
            for (w, dtype, _) in &mats {
                let a = Acts { f32: x, q8: &q };
                let mut want = vec![0f32; rows * tokens];
                matmul_block_scalar(w, a, 0..rows, 0..tokens, &mut want);
                let mut got = vec![0f32; rows * tokens];
                matmul_block_at(level, w, a, 0..rows, 0..tokens, &mut got);
                // A sub-block (later rows, later tokens) holds the same numbers.
                let (r0, t0) = (rows / 3, tokens / 2);
                let mut part = vec![0f32; (rows - r0) * (tokens - t0)];
                matmul_block_at(level, w, a, r0..rows, t0..tokens, &mut part);
                for t in t0..tokens {
                    for r in r0..rows {
                        prop_assert_eq!(part[(t - t0) * (rows - r0) + r - r0], got[t * rows + r]);
                    }
                }
                let mag = want.iter().fold(1f32, |m, v| m.max(v.abs()));
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!(close(*g, *w, mag, 1e-5), "{level:?} {dtype:?} {g} vs {w}");
                }
            }
            // Head widths: 32 (the test's blocks), and 64 or 40 when there are enough values.
            let hd = [64, 40, BLOCK].into_iter().find(|h| x.len() % h == 0 && x.len() >= 2 * h).unwrap_or(BLOCK);
            let keys: Vec<f32> = x.iter().map(|v| v * 0.5).collect();
            let qv = &x[..hd];
            let n = keys.len() / hd;
            let (mut s_simd, mut s_ref) = (vec![0f32; n], vec![0f32; n]);
            attn_scores_at(level, qv, &keys, 0.125, &mut s_simd);
            for (o, k) in s_ref.iter_mut().zip(keys.chunks_exact(hd)) {
                *o = 0.125 * dot_f32_scalar(qv, k);
            }
            for (a, b) in s_simd.iter().zip(&s_ref) {
                let mag = s_ref.iter().fold(1f32, |m, v| m.max(v.abs()));
                prop_assert!(close(*a, *b, mag, 1e-5), "{level:?} scores {a} vs {b}");
            }
            let (mut m_simd, mut m_ref) = (vec![0f32; hd], vec![0f32; hd]);
            attn_mix_at(level, &s_ref, &keys, &mut m_simd);
            for (&pj, v) in s_ref.iter().zip(keys.chunks_exact(hd)) {
                for (o, &vi) in m_ref.iter_mut().zip(v) {
                    *o += pj * vi;
                }
            }
            let mag = m_ref.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (a, b) in m_simd.iter().zip(&m_ref) {
                prop_assert!(close(*a, *b, mag, 1e-4));
            }
            }
        }
    }

    #[test]
    fn stacking_keeps_every_row() {
        let seed = [7u8, 1, 250];
        let (a, b) = (all_types(3, 64, &seed), all_types(2, 64, &seed));
        for ((wa, ..), (wb, ..)) in a.iter().zip(&b) {
            let stacked = QMatrix::stack(&[wa.clone(), wb.clone()]).unwrap();
            assert_eq!((stacked.rows(), stacked.cols()), (5, 64));
            let (mut got, mut want) = (vec![0f32; 64], vec![0f32; 64]);
            for r in 0..5 {
                stacked.dequantize_row(r, &mut got);
                if r < 3 {
                    wa.dequantize_row(r, &mut want);
                } else {
                    wb.dequantize_row(r - 3, &mut want);
                }
                assert_eq!(got, want);
            }
        }
        // Q4_0 with Q4_1, or different widths, do not stack.
        assert!(QMatrix::stack(&[a[0].0.clone(), a[1].0.clone()]).is_none());
        let narrow = all_types(1, 32, &seed);
        assert!(QMatrix::stack(&[a[2].0.clone(), narrow[2].0.clone()]).is_none());
    }

    #[test]
    fn rejects_bad_layouts() {
        assert_eq!(
            QMatrix::from_q4_1(2, 48, &[0; 60]).unwrap_err(),
            LayoutError::Cols { cols: 48 }
        );
        assert_eq!(
            QMatrix::from_q4_1(2, 64, &[0; 79]).unwrap_err(),
            LayoutError::Size {
                expected: 80,
                got: 79
            }
        );
    }
}
