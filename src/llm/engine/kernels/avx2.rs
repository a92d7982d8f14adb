//! AVX2 + FMA, llama.cpp's approach on the same tiles: a 256-bit register holds 8 rows × 4
//! bytes (half a chunk); `vpmaddubsw` multiplies unsigned by signed bytes into pairs of 16-bit
//! sums, `vpmaddwd` with ones adds the pairs into one 32-bit sum per row.
//!
//! - Q8_0: the weights are signed, so the activations take their signs (`vpsignb`) and the
//!   weights their magnitudes; a pair is at most 2 · 128 · 127 < 2¹⁵, so nothing saturates.
//! - Q4_1: the nibbles are unsigned; a block's eight 16-bit products for one row add up to at
//!   most 8 · 2 · 15 · 127 = 30,480 < 2¹⁵, so they are summed in 16 bits and widened once.

use super::super::matrix::{Format, Packed, QK, TILE};
use super::super::quant::Acts;
use std::arch::x86_64::*;

/// Rows `r0..r0 + out.len()` (at most 8; four at a time in the 16 registers) against tile `t`.
///
/// # Safety
/// The CPU runs AVX2, FMA and F16C, and the rows are within `a`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn tile(p: &Packed, t: usize, a: &Acts, r0: usize, out: &mut [[f32; TILE]]) {
    for (i, part) in out.chunks_mut(4).enumerate() {
        four(p, t, a, r0 + 4 * i, part);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn four(p: &Packed, t: usize, a: &Acts, r0: usize, out: &mut [[f32; TILE]]) {
    for half in 0..2 {
        match (p.format, out.len()) {
            (Format::Q8_0, 1) => q8_0::<1>(p, t, a, r0, half, out),
            (Format::Q8_0, 2) => q8_0::<2>(p, t, a, r0, half, out),
            (Format::Q8_0, 3) => q8_0::<3>(p, t, a, r0, half, out),
            (Format::Q8_0, _) => q8_0::<4>(p, t, a, r0, half, out),
            (Format::Q4_1, 1) => q4_1::<1>(p, t, a, r0, half, out),
            (Format::Q4_1, 2) => q4_1::<2>(p, t, a, r0, half, out),
            (Format::Q4_1, 3) => q4_1::<3>(p, t, a, r0, half, out),
            (Format::Q4_1, _) => q4_1::<4>(p, t, a, r0, half, out),
        }
    }
}

/// Bytes ahead of the weights being read that are asked for (the first half's pass over a
/// tile reads each chunk's cache line; the second finds it in cache).
const PREFETCH: usize = 2048;

#[inline(always)]
unsafe fn prefetch(
    half: usize,
    w: *const u8,
    chunks: usize,
    d: *const half::f16,
    m: *const half::f16,
) {
    if half == 0 {
        for c in 0..chunks {
            _mm_prefetch::<_MM_HINT_T0>(w.add(PREFETCH + c * 64) as *const i8);
        }
        _mm_prefetch::<_MM_HINT_T0>((d as *const u8).add(PREFETCH / 8) as *const i8);
        if !m.is_null() {
            _mm_prefetch::<_MM_HINT_T0>((m as *const u8).add(PREFETCH / 8) as *const i8);
        }
    }
}

#[inline(always)]
unsafe fn x4(a: &Acts, row: usize, b: usize, j: usize) -> __m256i {
    _mm256_set1_epi32((a.q.as_ptr().add(row * a.k + b * QK + j) as *const i32).read_unaligned())
}

/// The 8 scales (or minimums) of rows `8 · half ..` of block `base`.
#[inline(always)]
unsafe fn scales(v: &[half::f16], base: usize, half: usize) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(v.as_ptr().add(base * TILE + half * 8) as *const __m128i))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0<const R: usize>(
    p: &Packed,
    t: usize,
    a: &Acts,
    r0: usize,
    half: usize,
    out: &mut [[f32; TILE]],
) {
    let kb = p.k / QK;
    let ones = _mm256_set1_epi16(1);
    let mut f = [_mm256_setzero_ps(); R];
    for b in 0..kb {
        let base = t * kb + b;
        let w = (p.qs.as_ptr().add(base * 8) as *const u8).add(half * 32);
        prefetch(
            half,
            p.qs.as_ptr().add(base * 8) as *const u8,
            8,
            p.d.as_ptr().add(base * TILE),
            std::ptr::null(),
        );
        let mut acc = [_mm256_setzero_si256(); R];
        for g in 0..8 {
            let wv = _mm256_load_si256(w.add(g * 64) as *const __m256i);
            let mag = _mm256_sign_epi8(wv, wv);
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_sign_epi8(x4(a, r0 + r, b, g * 4), wv);
                *acc =
                    _mm256_add_epi32(*acc, _mm256_madd_epi16(_mm256_maddubs_epi16(mag, x), ones));
            }
        }
        let d = scales(&p.d, base, half);
        for (r, (acc, f)) in acc.iter().zip(f.iter_mut()).enumerate() {
            let xs = *a.s.get_unchecked((r0 + r) * kb + b);
            *f =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(*acc), _mm256_mul_ps(d, _mm256_set1_ps(xs)), *f);
        }
    }
    for (o, f) in out.iter_mut().zip(f) {
        _mm256_storeu_ps(o.as_mut_ptr().add(half * 8), f);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_1<const R: usize>(
    p: &Packed,
    t: usize,
    a: &Acts,
    r0: usize,
    half: usize,
    out: &mut [[f32; TILE]],
) {
    let kb = p.k / QK;
    let (ones, nibble) = (_mm256_set1_epi16(1), _mm256_set1_epi8(15));
    let mut f = [_mm256_setzero_ps(); R];
    for b in 0..kb {
        let base = t * kb + b;
        let w = (p.qs.as_ptr().add(base * 4) as *const u8).add(half * 32);
        prefetch(
            half,
            p.qs.as_ptr().add(base * 4) as *const u8,
            4,
            p.d.as_ptr().add(base * TILE),
            p.m.as_ptr().add(base * TILE),
        );
        let mut acc = [_mm256_setzero_si256(); R];
        for c in 0..4 {
            let raw = _mm256_load_si256(w.add(c * 64) as *const __m256i);
            let lo = _mm256_and_si256(raw, nibble);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(raw), nibble);
            for (r, acc) in acc.iter_mut().enumerate() {
                let pl = _mm256_maddubs_epi16(lo, x4(a, r0 + r, b, c * 4));
                let ph = _mm256_maddubs_epi16(hi, x4(a, r0 + r, b, 16 + c * 4));
                *acc = _mm256_add_epi16(*acc, _mm256_add_epi16(pl, ph));
            }
        }
        let (d, m) = (scales(&p.d, base, half), scales(&p.m, base, half));
        for (r, (acc, f)) in acc.iter().zip(f.iter_mut()).enumerate() {
            let i = (r0 + r) * kb + b;
            let xs = *a.s.get_unchecked(i);
            let dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(*acc, ones));
            *f = _mm256_fmadd_ps(dot, _mm256_mul_ps(d, _mm256_set1_ps(xs)), *f);
            *f = _mm256_fmadd_ps(m, _mm256_set1_ps(xs * *a.sum.get_unchecked(i) as f32), *f);
        }
    }
    for (o, f) in out.iter_mut().zip(f) {
        _mm256_storeu_ps(o.as_mut_ptr().add(half * 8), f);
    }
}
