//! Our own quantized matrix kernel: one packed copy of each weight matrix, int8 dot products
//! with AVX-512 VNNI, for Q4_1 (SmolLM2's file) and Q8_0 matrices.
//!
//! candle 0.11 has only a scalar loop for Q4_1, and its fast x86 Q8_0 path keeps two copies of
//! every matrix (the blocks as loaded and the repacked tiles its kernel reads) and needs the
//! inner width to be a multiple of 256, so SmolLM2's 576 had to be padded to 768 and the file
//! re-quantized to Q8_0. Here the file's own Q4_1 blocks are repacked once, nothing is padded or
//! re-quantized, and a decoding step reads 0.625 bytes per weight instead of 1.0625 (decoding
//! is bound by memory bandwidth).
//!
//! Layout: rows are grouped in tiles of 16; for each tile and each 32-wide block of the inner
//! dimension there are 64-byte chunks holding 4 bytes of each of the 16 rows, and 16 f16 scales
//! (and, for Q4_1, 16 f16 minimums).
//! - Q8_0: 8 chunks; chunk `g` holds inputs `4g..4g+4`, each weight plus 128 as an unsigned byte.
//! - Q4_1: 4 chunks, the file's bytes as they are: chunk `c` holds inputs `4c..4c+4` in the low
//!   nibbles and `16+4c..16+4c+4` in the high ones.
//!
//! The activations are quantized per 32-block to i8 with an f32 scale. `vpdpbusd` multiplies the
//! unsigned weights by the signed activations; Q8_0's +128 is taken off, and Q4_1's minimum
//! added, with the block's activation sum, which every row shares.

use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Rows per tile: one 512-bit register of i32 lanes.
pub const TILE: usize = 16;
const QK: usize = 32;
/// Activation rows computed together against one tile (their accumulators stay in registers).
const MR: usize = 4;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Chunk([u8; 64]);

/// The packed formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Q8_0,
    Q4_1,
}

impl Format {
    /// 64-byte chunks per tile and 32-block.
    fn chunks(self) -> usize {
        match self {
            Format::Q8_0 => 8,
            Format::Q4_1 => 4,
        }
    }
}

/// A matrix `[n, k]` (outputs × inputs) in the packed layout.
pub struct Packed {
    format: Format,
    n: usize,
    k: usize,
    qs: Vec<Chunk>,
    d: Vec<f16>,
    /// Q4_1's minimums (empty for Q8_0).
    m: Vec<f16>,
}

/// Whether this CPU runs the SIMD kernel (AVX-512 F, BW and VNNI).
pub fn simd() -> bool {
    static S: OnceLock<bool> = OnceLock::new();
    *S.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

impl Packed {
    /// Packs a Q8_0 or Q4_1 matrix; `None` when it is another type or its shape does not tile
    /// (`n % 16`, `k % 32`).
    pub fn new(t: &QTensor) -> candle_core::Result<Option<Packed>> {
        let Ok((n, k)) = t.shape().dims2() else { return Ok(None) };
        let (format, block) = match t.dtype() {
            GgmlDType::Q8_0 => (Format::Q8_0, 2 + QK),
            GgmlDType::Q4_1 => (Format::Q4_1, 4 + QK / 2),
            _ => return Ok(None),
        };
        if n % TILE != 0 || k % QK != 0 || n == 0 || k == 0 {
            return Ok(None);
        }
        let data = t.data()?;
        let kb = k / QK;
        if data.len() != n * kb * block {
            candle_core::bail!("{:?} data of {} bytes for a {n}×{k} matrix", t.dtype(), data.len());
        }
        let per = format.chunks();
        let mut qs = vec![Chunk([0; 64]); n / TILE * kb * per];
        let mut d = vec![f16::ZERO; n * kb];
        let mut m = vec![f16::ZERO; if format == Format::Q4_1 { n * kb } else { 0 }];
        for t in 0..n / TILE {
            for b in 0..kb {
                let base = t * kb + b;
                for r in 0..TILE {
                    let blk = &data[((t * TILE + r) * kb + b) * block..][..block];
                    d[base * TILE + r] = f16::from_le_bytes([blk[0], blk[1]]);
                    match format {
                        Format::Q8_0 => {
                            for (j, &q) in blk[2..].iter().enumerate() {
                                qs[base * per + j / 4].0[r * 4 + j % 4] = (q as i8 as i16 + 128) as u8;
                            }
                        }
                        Format::Q4_1 => {
                            m[base * TILE + r] = f16::from_le_bytes([blk[2], blk[3]]);
                            for c in 0..per {
                                qs[base * per + c].0[r * 4..r * 4 + 4].copy_from_slice(&blk[4 + 4 * c..8 + 4 * c]);
                            }
                        }
                    }
                }
            }
        }
        Ok(Some(Packed { format, n, k, qs, d, m }))
    }

    /// `(outputs, inputs)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.n, self.k)
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The quantized weight `j` (0..32) of block `base` for row `lane`, and its offset.
    fn q(&self, base: usize, lane: usize, j: usize) -> i32 {
        match self.format {
            Format::Q8_0 => self.qs[base * 8 + j / 4].0[lane * 4 + j % 4] as i32 - 128,
            Format::Q4_1 => {
                let byte = self.qs[base * 4 + (j % 16) / 4].0[lane * 4 + j % 4];
                (if j < 16 { byte & 15 } else { byte >> 4 }) as i32
            }
        }
    }

    /// Q4_1's minimum for block `base`, row `lane` (0 for Q8_0).
    fn min(&self, base: usize, lane: usize) -> f32 {
        self.m.get(base * TILE + lane).map_or(0.0, |m| m.to_f32())
    }

    /// Row `r` as f32 (the embedding lookup of a tied output matrix).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        let kb = self.k / QK;
        let (t, lane) = (r / TILE, r % TILE);
        for b in 0..kb {
            let base = t * kb + b;
            let (s, min) = (self.d[base * TILE + lane].to_f32(), self.min(base, lane));
            for j in 0..QK {
                out[b * QK + j] = s * self.q(base, lane, j) as f32 + min;
            }
        }
    }
}

/// Activations quantized per 32-block: values, scales, and each block's sum.
struct Lhs {
    k: usize,
    q: Vec<i8>,
    s: Vec<f32>,
    sum: Vec<i32>,
}

fn quantize(x: &[f32], k: usize) -> Lhs {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        return unsafe { simd::quantize(x, k) };
    }
    let blocks = x.len() / QK;
    let mut q = vec![0i8; x.len()];
    let mut s = vec![0f32; blocks];
    let mut sums = vec![0i32; blocks];
    for (b, (xb, qb)) in x.chunks_exact(QK).zip(q.chunks_exact_mut(QK)).enumerate() {
        let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        let mut sum = 0i32;
        for (o, v) in qb.iter_mut().zip(xb) {
            *o = (v * inv).round() as i8;
            sum += *o as i32;
        }
        s[b] = scale;
        sums[b] = sum;
    }
    Lhs { k, q, s, sum: sums }
}

/// `x · Wᵀ` for each matrix in `mats` (all with inner width `k`), `x` being `m × k` row-major;
/// one quantization of `x` and one parallel region for all of them (q, k and v; gate and up).
pub fn matmul_many(mats: &[&Packed], x: &[f32], m: usize) -> Vec<Vec<f32>> {
    let k = mats[0].k;
    assert!(mats.iter().all(|p| p.k == k) && x.len() == m * k, "matmul_many: shapes differ");
    let lhs = quantize(x, k);
    let mut outs: Vec<Vec<f32>> = mats.iter().map(|p| vec![0f32; m * p.n]).collect();
    let chunks = m.div_ceil(MR);
    // Units: (matrix, tile, chunk of activation rows), tile-major so a tile stays in cache.
    let mut units = Vec::new();
    for (i, p) in mats.iter().enumerate() {
        for t in 0..p.n / TILE {
            for c in 0..chunks {
                units.push((i, t, c));
            }
        }
    }
    let ptrs: Vec<SendPtr> = outs.iter_mut().map(|o| SendPtr(o.as_mut_ptr())).collect();
    let use_simd = simd();
    units.par_iter().with_min_len(4).for_each(|&(i, t, c)| {
        let (p, m0) = (mats[i], c * MR);
        let rows = MR.min(m - m0);
        // Each unit writes its own 16 columns of its own rows: the writes never overlap.
        let dst = ptrs[i].0;
        let out = |r: usize| unsafe { dst.add((m0 + r) * p.n + t * TILE) };
        if use_simd {
            #[cfg(target_arch = "x86_64")]
            unsafe {
                match (p.format, rows) {
                    (Format::Q8_0, 1) => simd::q8_0::<1>(p, t, &lhs, m0, out),
                    (Format::Q8_0, 2) => simd::q8_0::<2>(p, t, &lhs, m0, out),
                    (Format::Q8_0, 3) => simd::q8_0::<3>(p, t, &lhs, m0, out),
                    (Format::Q8_0, _) => simd::q8_0::<4>(p, t, &lhs, m0, out),
                    (Format::Q4_1, 1) => simd::q4_1::<1>(p, t, &lhs, m0, out),
                    (Format::Q4_1, 2) => simd::q4_1::<2>(p, t, &lhs, m0, out),
                    (Format::Q4_1, 3) => simd::q4_1::<3>(p, t, &lhs, m0, out),
                    (Format::Q4_1, _) => simd::q4_1::<4>(p, t, &lhs, m0, out),
                }
            }
        } else {
            for r in 0..rows {
                tile_scalar(p, t, &lhs, m0 + r, unsafe { std::slice::from_raw_parts_mut(out(r), TILE) });
            }
        }
    });
    outs
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// The same arithmetic as the SIMD kernel, one activation row at a time.
fn tile_scalar(p: &Packed, t: usize, lhs: &Lhs, row: usize, out: &mut [f32]) {
    let kb = p.k / QK;
    let mut acc = [0f32; TILE];
    for b in 0..kb {
        let base = t * kb + b;
        let xq = &lhs.q[row * lhs.k + b * QK..][..QK];
        let (xs, sum) = (lhs.s[row * kb + b], lhs.sum[row * kb + b]);
        for (r, a) in acc.iter_mut().enumerate() {
            let dot: i32 = xq.iter().enumerate().map(|(j, &x)| p.q(base, r, j) * x as i32).sum();
            *a += dot as f32 * (p.d[base * TILE + r].to_f32() * xs) + p.min(base, r) * xs * sum as f32;
        }
    }
    out.copy_from_slice(&acc);
}

#[cfg(target_arch = "x86_64")]
mod simd {
    /// [`super::quantize`] with AVX-512 (it rounds halves to even where the scalar path rounds
    /// them away from zero: a step of difference on exact halves only).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn quantize(x: &[f32], k: usize) -> Lhs {
        let blocks = x.len() / QK;
        let mut q = vec![0i8; x.len()];
        let mut s = vec![0f32; blocks];
        let mut sum = vec![0i32; blocks];
        let sign = _mm512_set1_ps(-0.0);
        for b in 0..blocks {
            let lo = _mm512_loadu_ps(x.as_ptr().add(b * QK));
            let hi = _mm512_loadu_ps(x.as_ptr().add(b * QK + 16));
            let amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, lo), _mm512_andnot_ps(sign, hi)));
            let scale = amax / 127.0;
            let inv = _mm512_set1_ps(if scale > 0.0 { 1.0 / scale } else { 0.0 });
            let qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, inv));
            let qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, inv));
            _mm_storeu_si128(q.as_mut_ptr().add(b * QK) as *mut __m128i, _mm512_cvtsepi32_epi8(qlo));
            _mm_storeu_si128(q.as_mut_ptr().add(b * QK + 16) as *mut __m128i, _mm512_cvtsepi32_epi8(qhi));
            s[b] = scale;
            sum[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(qlo, qhi));
        }
        Lhs { k, q, s, sum }
    }

    use super::{Lhs, Packed, QK, TILE};
    use std::arch::x86_64::*;

    /// `R` activation rows (from `m0`) against tile `t` of a Q8_0 matrix; row `r`'s 16 results
    /// go to `out(r)`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn q8_0<const R: usize>(p: &Packed, t: usize, lhs: &Lhs, m0: usize, out: impl Fn(usize) -> *mut f32) {
        let kb = p.k / QK;
        let mut f = [_mm512_setzero_ps(); R];
        let xq = lhs.q.as_ptr();
        for b in 0..kb {
            let base = t * kb + b;
            let w = p.qs.as_ptr().add(base * 8) as *const __m512i;
            let mut acc = [[_mm512_setzero_si512(); 2]; R];
            for g in 0..8 {
                let wv = _mm512_load_si512(w.add(g));
                for (r, a) in acc.iter_mut().enumerate() {
                    let xa = (xq.add((m0 + r) * lhs.k + b * QK + g * 4) as *const i32).read_unaligned();
                    a[g & 1] = _mm512_dpbusd_epi32(a[g & 1], wv, _mm512_set1_epi32(xa));
                }
            }
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(p.d.as_ptr().add(base * TILE) as *const __m256i));
            for (r, (a, fr)) in acc.iter().zip(f.iter_mut()).enumerate() {
                let i = (m0 + r) * kb + b;
                let corr = _mm512_set1_epi32(-128 * *lhs.sum.get_unchecked(i));
                let sum = _mm512_add_epi32(_mm512_add_epi32(a[0], a[1]), corr);
                let scale = _mm512_mul_ps(d, _mm512_set1_ps(*lhs.s.get_unchecked(i)));
                *fr = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, *fr);
            }
        }
        for (r, fr) in f.iter().enumerate() {
            _mm512_storeu_ps(out(r), *fr);
        }
    }

    /// The same for a Q4_1 matrix.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn q4_1<const R: usize>(p: &Packed, t: usize, lhs: &Lhs, m0: usize, out: impl Fn(usize) -> *mut f32) {
        let kb = p.k / QK;
        let mut f = [_mm512_setzero_ps(); R];
        let xq = lhs.q.as_ptr();
        let nibble = _mm512_set1_epi8(15);
        for b in 0..kb {
            let base = t * kb + b;
            let w = p.qs.as_ptr().add(base * 4) as *const __m512i;
            let mut acc = [[_mm512_setzero_si512(); 2]; R];
            for c in 0..4 {
                let raw = _mm512_load_si512(w.add(c));
                let lo = _mm512_and_si512(raw, nibble);
                let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), nibble);
                for (r, a) in acc.iter_mut().enumerate() {
                    let x = xq.add((m0 + r) * lhs.k + b * QK + c * 4);
                    a[0] = _mm512_dpbusd_epi32(a[0], lo, _mm512_set1_epi32((x as *const i32).read_unaligned()));
                    a[1] = _mm512_dpbusd_epi32(a[1], hi, _mm512_set1_epi32((x.add(16) as *const i32).read_unaligned()));
                }
            }
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(p.d.as_ptr().add(base * TILE) as *const __m256i));
            let mins = _mm512_cvtph_ps(_mm256_loadu_si256(p.m.as_ptr().add(base * TILE) as *const __m256i));
            for (r, (a, fr)) in acc.iter().zip(f.iter_mut()).enumerate() {
                let i = (m0 + r) * kb + b;
                let xs = *lhs.s.get_unchecked(i);
                let dot = _mm512_cvtepi32_ps(_mm512_add_epi32(a[0], a[1]));
                *fr = _mm512_fmadd_ps(dot, _mm512_mul_ps(d, _mm512_set1_ps(xs)), *fr);
                *fr = _mm512_fmadd_ps(mins, _mm512_set1_ps(xs * *lhs.sum.get_unchecked(i) as f32), *fr);
            }
        }
        for (r, fr) in f.iter().enumerate() {
            _mm512_storeu_ps(out(r), *fr);
        }
    }
}

/// The scalar path on any CPU (tests compare it with the SIMD one).
pub fn matmul_scalar(p: &Packed, x: &[f32], m: usize) -> Vec<f32> {
    let lhs = quantize(x, p.k);
    let mut out = vec![0f32; m * p.n];
    for row in 0..m {
        for t in 0..p.n / TILE {
            tile_scalar(p, t, &lhs, row, &mut out[row * p.n + t * TILE..][..TILE]);
        }
    }
    out
}
