//! aarch64 NEON with the dot-product extension: a 128-bit register holds 4 rows × 4 bytes (a
//! quarter of a chunk); `sdot` multiplies 4 signed weight bytes by 4 signed activation bytes per
//! lane and adds them up. Q8_0's weights are signed as stored; Q4_1's nibbles (0..15) are too.
//!
//! Written to the same layout and arithmetic as the other paths; compiled on aarch64 only (this
//! repository's test machines are x86-64, so it is checked by compiling, not by running).

use super::super::matrix::{Format, Packed, QK, TILE};
use super::super::quant::Acts;
use std::arch::aarch64::*;

/// Rows `r0..r0 + out.len()` (at most 8, four at a time) against tile `t`.
///
/// # Safety
/// The CPU runs NEON with dotprod, and the rows are within `a`.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn tile(p: &Packed, t: usize, a: &Acts, r0: usize, out: &mut [[f32; TILE]]) {
    for (i, part) in out.chunks_mut(4).enumerate() {
        four(p, t, a, r0 + 4 * i, part);
    }
}

#[target_feature(enable = "neon,dotprod")]
unsafe fn four(p: &Packed, t: usize, a: &Acts, r0: usize, out: &mut [[f32; TILE]]) {
    for quarter in 0..4 {
        match (p.format, out.len()) {
            (Format::Q8_0, 1) => q8_0::<1>(p, t, a, r0, quarter, out),
            (Format::Q8_0, 2) => q8_0::<2>(p, t, a, r0, quarter, out),
            (Format::Q8_0, 3) => q8_0::<3>(p, t, a, r0, quarter, out),
            (Format::Q8_0, _) => q8_0::<4>(p, t, a, r0, quarter, out),
            (Format::Q4_1, 1) => q4_1::<1>(p, t, a, r0, quarter, out),
            (Format::Q4_1, 2) => q4_1::<2>(p, t, a, r0, quarter, out),
            (Format::Q4_1, 3) => q4_1::<3>(p, t, a, r0, quarter, out),
            (Format::Q4_1, _) => q4_1::<4>(p, t, a, r0, quarter, out),
        }
    }
}

/// `sdot`: 4 signed byte products per lane added to `acc`. Written as assembly because Rust's
/// `vdotq_s32` is not stable yet; the instruction is the one it would emit.
#[inline(always)]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    std::arch::asm!(
        ".arch_extension dotprod",
        "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
        acc = inout(vreg) acc,
        a = in(vreg) a,
        b = in(vreg) b,
        options(pure, nomem, nostack)
    );
    acc
}

#[inline(always)]
unsafe fn x4(a: &Acts, row: usize, b: usize, j: usize) -> int8x16_t {
    let v = (a.q.as_ptr().add(row * a.k + b * QK + j) as *const i32).read_unaligned();
    vreinterpretq_s8_s32(vdupq_n_s32(v))
}

/// The 4 scales (or minimums) of rows `4 · quarter ..` of block `base`.
#[inline(always)]
unsafe fn scales(v: &[half::f16], base: usize, quarter: usize) -> float32x4_t {
    let s = &v[base * TILE + quarter * 4..][..4];
    let f = [s[0].to_f32(), s[1].to_f32(), s[2].to_f32(), s[3].to_f32()];
    vld1q_f32(f.as_ptr())
}

#[target_feature(enable = "neon,dotprod")]
unsafe fn q8_0<const R: usize>(
    p: &Packed,
    t: usize,
    a: &Acts,
    r0: usize,
    quarter: usize,
    out: &mut [[f32; TILE]],
) {
    let kb = p.k / QK;
    let mut f = [vdupq_n_f32(0.0); R];
    for b in 0..kb {
        let base = t * kb + b;
        let w = (p.qs.as_ptr().add(base * 8) as *const i8).add(quarter * 16);
        let mut acc = [vdupq_n_s32(0); R];
        for g in 0..8 {
            let wv = vld1q_s8(w.add(g * 64));
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = sdot(*acc, wv, x4(a, r0 + r, b, g * 4));
            }
        }
        let d = scales(&p.d, base, quarter);
        for (r, (acc, f)) in acc.iter().zip(f.iter_mut()).enumerate() {
            let xs = *a.s.get_unchecked((r0 + r) * kb + b);
            *f = vfmaq_f32(*f, vcvtq_f32_s32(*acc), vmulq_n_f32(d, xs));
        }
    }
    for (o, f) in out.iter_mut().zip(f) {
        vst1q_f32(o.as_mut_ptr().add(quarter * 4), f);
    }
}

#[target_feature(enable = "neon,dotprod")]
unsafe fn q4_1<const R: usize>(
    p: &Packed,
    t: usize,
    a: &Acts,
    r0: usize,
    quarter: usize,
    out: &mut [[f32; TILE]],
) {
    let kb = p.k / QK;
    let nibble = vdupq_n_u8(15);
    let mut f = [vdupq_n_f32(0.0); R];
    for b in 0..kb {
        let base = t * kb + b;
        let w = (p.qs.as_ptr().add(base * 4) as *const u8).add(quarter * 16);
        let mut acc = [vdupq_n_s32(0); R];
        for c in 0..4 {
            let raw = vld1q_u8(w.add(c * 64));
            let lo = vreinterpretq_s8_u8(vandq_u8(raw, nibble));
            let hi = vreinterpretq_s8_u8(vshrq_n_u8::<4>(raw));
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = sdot(*acc, lo, x4(a, r0 + r, b, c * 4));
                *acc = sdot(*acc, hi, x4(a, r0 + r, b, 16 + c * 4));
            }
        }
        let (d, m) = (scales(&p.d, base, quarter), scales(&p.m, base, quarter));
        for (r, (acc, f)) in acc.iter().zip(f.iter_mut()).enumerate() {
            let i = (r0 + r) * kb + b;
            let xs = *a.s.get_unchecked(i);
            *f = vfmaq_f32(*f, vcvtq_f32_s32(*acc), vmulq_n_f32(d, xs));
            *f = vfmaq_f32(*f, m, vdupq_n_f32(xs * *a.sum.get_unchecked(i) as f32));
        }
    }
    for (o, f) in out.iter_mut().zip(f) {
        vst1q_f32(o.as_mut_ptr().add(quarter * 4), f);
    }
}
