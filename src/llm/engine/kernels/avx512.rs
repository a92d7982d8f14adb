//! AVX-512 VNNI: one 512-bit register holds a tile's 16 rows; `vpdpbusd` multiplies 4 unsigned
//! weight bytes by 4 signed activation bytes per lane and adds them up.
//!
//! Q8_0's signed weights are made unsigned by flipping their top bit (`w + 128`), and the
//! `128 · Σx` this adds is taken off with the block's activation sum. Q4_1's nibbles are
//! unsigned already; its minimum is added with the same sum.

use super::super::matrix::{Format, Packed, QK, TILE};
use super::super::quant::Acts;
use std::arch::x86_64::*;

/// Rows `r0..r0 + out.len()` (at most 8, all in registers at once) against tile `t`.
///
/// # Safety
/// The CPU runs AVX-512 F, BW, VL and VNNI, and the rows are within `a`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn tile(p: &Packed, t: usize, a: &Acts, r0: usize, out: &mut [[f32; TILE]]) {
    macro_rules! rows {
        ($f:ident) => {
            match out.len() {
                1 => $f::<1>(p, t, a, r0, out),
                2 => $f::<2>(p, t, a, r0, out),
                3 => $f::<3>(p, t, a, r0, out),
                4 => $f::<4>(p, t, a, r0, out),
                5 => $f::<5>(p, t, a, r0, out),
                6 => $f::<6>(p, t, a, r0, out),
                7 => $f::<7>(p, t, a, r0, out),
                _ => $f::<8>(p, t, a, r0, out),
            }
        };
    }
    match p.format {
        Format::Q8_0 => rows!(q8_0),
        Format::Q4_1 => rows!(q4_1),
    }
}

/// Accumulators per row: two chains for a few rows (so their latency overlaps), one for many
/// (the rows' chains overlap, and all fit in the 32 registers).
const fn chains(rows: usize) -> usize {
    if rows > 4 {
        1
    } else {
        2
    }
}

/// Bytes ahead of the weights being read that are asked for: the tiles stream from memory, and
/// a unit's tiles are contiguous.
const PREFETCH: usize = 2048;

/// Prefetches `chunks` chunks of weights and the scales `PREFETCH` bytes ahead.
#[inline(always)]
unsafe fn prefetch(w: *const u8, chunks: usize, d: *const u8) {
    for c in 0..chunks {
        _mm_prefetch::<_MM_HINT_T0>(w.add(PREFETCH + c * 64) as *const i8);
    }
    _mm_prefetch::<_MM_HINT_T0>(d.add(PREFETCH / 8) as *const i8);
}

/// Four activation bytes of row `row`, block `b`, at `j`, as one lane value.
#[inline(always)]
unsafe fn x4(a: &Acts, row: usize, b: usize, j: usize) -> i32 {
    (a.q.as_ptr().add(row * a.k + b * QK + j) as *const i32).read_unaligned()
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q8_0<const R: usize>(p: &Packed, t: usize, a: &Acts, r0: usize, out: &mut [[f32; TILE]]) {
    let kb = p.k / QK;
    let flip = _mm512_set1_epi8(-128);
    let mut f = [_mm512_setzero_ps(); R];
    for b in 0..kb {
        let base = t * kb + b;
        let w = p.qs.as_ptr().add(base * 8) as *const __m512i;
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        prefetch(w as *const u8, 8, p.d.as_ptr().add(base * TILE) as *const u8);
        for g in 0..8 {
            let wv = _mm512_xor_si512(_mm512_load_si512(w.add(g)), flip);
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_epi32(x4(a, r0 + r, b, g * 4));
                let c = g % chains(R);
                acc[c] = _mm512_dpbusd_epi32(acc[c], wv, x);
            }
        }
        let d =
            _mm512_cvtph_ps(_mm256_loadu_si256(p.d.as_ptr().add(base * TILE) as *const __m256i));
        for (r, (acc, f)) in acc.iter().zip(f.iter_mut()).enumerate() {
            let i = (r0 + r) * kb + b;
            let corr = _mm512_set1_epi32(-128 * *a.sum.get_unchecked(i));
            let dot = _mm512_add_epi32(_mm512_add_epi32(acc[0], acc[1]), corr);
            let scale = _mm512_mul_ps(d, _mm512_set1_ps(*a.s.get_unchecked(i)));
            *f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, *f);
        }
    }
    for (o, f) in out.iter_mut().zip(f) {
        _mm512_storeu_ps(o.as_mut_ptr(), f);
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_1<const R: usize>(p: &Packed, t: usize, a: &Acts, r0: usize, out: &mut [[f32; TILE]]) {
    let kb = p.k / QK;
    let nibble = _mm512_set1_epi8(15);
    let mut f = [_mm512_setzero_ps(); R];
    for b in 0..kb {
        let base = t * kb + b;
        let w = p.qs.as_ptr().add(base * 4) as *const __m512i;
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        prefetch(w as *const u8, 4, p.d.as_ptr().add(base * TILE) as *const u8);
        _mm_prefetch::<_MM_HINT_T0>(p.m.as_ptr().add(base * TILE).add(PREFETCH / 8) as *const i8);
        for c in 0..4 {
            let raw = _mm512_load_si512(w.add(c));
            let lo = _mm512_and_si512(raw, nibble);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), nibble);
            for (r, acc) in acc.iter_mut().enumerate() {
                let xl = _mm512_set1_epi32(x4(a, r0 + r, b, c * 4));
                let xh = _mm512_set1_epi32(x4(a, r0 + r, b, 16 + c * 4));
                acc[0] = _mm512_dpbusd_epi32(acc[0], lo, xl);
                let c = 1 % chains(R);
                acc[c] = _mm512_dpbusd_epi32(acc[c], hi, xh);
            }
        }
        let d =
            _mm512_cvtph_ps(_mm256_loadu_si256(p.d.as_ptr().add(base * TILE) as *const __m256i));
        let m =
            _mm512_cvtph_ps(_mm256_loadu_si256(p.m.as_ptr().add(base * TILE) as *const __m256i));
        for (r, (acc, f)) in acc.iter().zip(f.iter_mut()).enumerate() {
            let i = (r0 + r) * kb + b;
            let xs = *a.s.get_unchecked(i);
            let dot = _mm512_cvtepi32_ps(_mm512_add_epi32(acc[0], acc[1]));
            *f = _mm512_fmadd_ps(dot, _mm512_mul_ps(d, _mm512_set1_ps(xs)), *f);
            *f = _mm512_fmadd_ps(m, _mm512_set1_ps(xs * *a.sum.get_unchecked(i) as f32), *f);
        }
    }
    for (o, f) in out.iter_mut().zip(f) {
        _mm512_storeu_ps(o.as_mut_ptr(), f);
    }
}
