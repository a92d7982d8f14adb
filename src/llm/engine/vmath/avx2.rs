//! The AVX2 + FMA bodies of the vector math, chosen at run time where the CPU has them.

use super::{C1, C2, HI, LO, LOG2E, P};
use std::arch::x86_64::*;

#[target_feature(enable = "avx2,fma")]
unsafe fn exp8(x: __m256) -> __m256 {
    let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(LO)), _mm256_set1_ps(HI));
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(LOG2E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(C1), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(C2), r);
    let mut p = _mm256_set1_ps(P[0]);
    for c in &P[1..] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(*c));
    }
    let y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0)));
    let e =
        _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
    _mm256_mul_ps(y, _mm256_castsi256_ps(e))
}

#[target_feature(enable = "avx2,fma")]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn exp_shifted(x: &mut [f32], shift: f32) -> f32 {
    let (n, p, sh) = (x.len(), x.as_mut_ptr(), _mm256_set1_ps(shift));
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), sh));
        _mm256_storeu_ps(p.add(i), e);
        acc = _mm256_add_ps(acc, e);
        i += 8;
    }
    let mut tail = 0.0;
    for v in &mut x[i..] {
        *v = super::exp(*v - shift);
        tail += *v;
    }
    hsum(acc) + tail
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn sum_exp(x: &[f32], shift: f32) -> f32 {
    let (n, p, sh) = (x.len(), x.as_ptr(), _mm256_set1_ps(shift));
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        acc = _mm256_add_ps(acc, exp8(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), sh)));
        i += 8;
    }
    hsum(acc) + x[i..].iter().map(|v| super::exp(v - shift)).sum::<f32>()
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn silu_mul(g: &[f32], u: &[f32], out: &mut [f32]) {
    let n = g.len().min(u.len()).min(out.len());
    let one = _mm256_set1_ps(1.0);
    let mut i = 0;
    while i + 8 <= n {
        let gv = _mm256_loadu_ps(g.as_ptr().add(i));
        let e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
        let s = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(
            out.as_mut_ptr().add(i),
            _mm256_mul_ps(s, _mm256_loadu_ps(u.as_ptr().add(i))),
        );
        i += 8;
    }
    for j in i..n {
        out[j] = g[j] / (1.0 + super::exp(-g[j])) * u[j];
    }
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let n = a.len();
    let mut i = 0;
    while i + 16 <= n {
        s0 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i)),
            _mm256_loadu_ps(b.as_ptr().add(i)),
            s0,
        );
        s1 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i + 8)),
            _mm256_loadu_ps(b.as_ptr().add(i + 8)),
            s1,
        );
        i += 16;
    }
    if i < n {
        s0 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i)),
            _mm256_loadu_ps(b.as_ptr().add(i)),
            s0,
        );
    }
    hsum(_mm256_add_ps(s0, s1))
}

/// q (64 or 128 wide) held in registers; four keys reduced together.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn scores(q: &[f32], keys: &[f32], scale: f32, s: &mut [f32]) {
    match q.len() {
        64 => scores_w::<8>(q, keys, scale, s),
        128 => scores_w::<16>(q, keys, scale, s),
        _ => {
            for (j, s) in s.iter_mut().enumerate() {
                *s = dot(q, &keys[j * q.len()..(j + 1) * q.len()]) * scale;
            }
        }
    }
}

/// One key's dot product with q, as 8 partial sums.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn row<const W: usize>(qv: &[__m256; W], k: *const f32) -> __m256 {
    let (mut a, mut b) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for i in (0..W).step_by(2) {
        a = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k.add(i * 8)), a);
        b = _mm256_fmadd_ps(qv[i + 1], _mm256_loadu_ps(k.add(i * 8 + 8)), b);
    }
    _mm256_add_ps(a, b)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn scores_w<const W: usize>(q: &[f32], keys: &[f32], scale: f32, s: &mut [f32]) {
    let (hd, n) = (W * 8, s.len());
    let mut qv = [_mm256_setzero_ps(); W];
    for (i, v) in qv.iter_mut().enumerate() {
        *v = _mm256_loadu_ps(q.as_ptr().add(i * 8));
    }
    let k = keys.as_ptr();
    let sc = _mm_set1_ps(scale);
    let mut j = 0;
    while j + 4 <= n {
        let t0 = _mm256_hadd_ps(row(&qv, k.add(j * hd)), row(&qv, k.add((j + 1) * hd)));
        let t1 = _mm256_hadd_ps(row(&qv, k.add((j + 2) * hd)), row(&qv, k.add((j + 3) * hd)));
        let t = _mm256_hadd_ps(t0, t1);
        let r = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps::<1>(t));
        _mm_storeu_ps(s.as_mut_ptr().add(j), _mm_mul_ps(r, sc));
        j += 4;
    }
    while j < n {
        s[j] = hsum(row(&qv, k.add(j * hd))) * scale;
        j += 1;
    }
}

/// out (64 or 128 wide) held in registers over all rows.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn accumulate(p: &[f32], vals: &[f32], out: &mut [f32]) {
    match out.len() {
        64 => accumulate_w::<8>(p, vals, out),
        128 => accumulate_w::<16>(p, vals, out),
        hd => {
            for (j, &pj) in p.iter().enumerate() {
                axpy(out, &vals[j * hd..(j + 1) * hd], pj);
            }
        }
    }
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn scores_heads(
    q: &[f32],
    keys: &[f32],
    scale: f32,
    s: &mut [f32],
    stride: usize,
    lim: usize,
) {
    let hd = keys.len() / lim.max(1);
    for (i, qh) in q.chunks_exact(hd).enumerate() {
        scores(qh, keys, scale, &mut s[i * stride..i * stride + lim]);
    }
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn accumulate_heads(
    p: &[f32],
    stride: usize,
    vals: &[f32],
    out: &mut [f32],
    lim: usize,
) {
    let hd = vals.len() / lim.max(1);
    for (i, o) in out.chunks_exact_mut(hd).enumerate() {
        accumulate(&p[i * stride..i * stride + lim], vals, o);
    }
}

/// 32 dimensions at a time, with even and odd positions in two sets of accumulators (so
/// consecutive FMAs do not wait on each other), added at the end.
#[target_feature(enable = "avx2,fma")]
unsafe fn accumulate_w<const W: usize>(p: &[f32], vals: &[f32], out: &mut [f32]) {
    let hd = W * 8;
    for c in (0..W).step_by(4) {
        let mut e = [_mm256_setzero_ps(); 4];
        let mut o = [_mm256_setzero_ps(); 4];
        for (i, v) in e.iter_mut().enumerate() {
            *v = _mm256_loadu_ps(out.as_ptr().add((c + i) * 8));
        }
        let mut j = 0;
        while j + 1 < p.len() {
            let (pe, po) = (_mm256_set1_ps(p[j]), _mm256_set1_ps(p[j + 1]));
            let (ve, vo) =
                (vals.as_ptr().add(j * hd + c * 8), vals.as_ptr().add((j + 1) * hd + c * 8));
            for i in 0..4 {
                e[i] = _mm256_fmadd_ps(pe, _mm256_loadu_ps(ve.add(i * 8)), e[i]);
                o[i] = _mm256_fmadd_ps(po, _mm256_loadu_ps(vo.add(i * 8)), o[i]);
            }
            j += 2;
        }
        if j < p.len() {
            let (pe, ve) = (_mm256_set1_ps(p[j]), vals.as_ptr().add(j * hd + c * 8));
            for (i, e) in e.iter_mut().enumerate() {
                *e = _mm256_fmadd_ps(pe, _mm256_loadu_ps(ve.add(i * 8)), *e);
            }
        }
        for i in 0..4 {
            _mm256_storeu_ps(out.as_mut_ptr().add((c + i) * 8), _mm256_add_ps(e[i], o[i]));
        }
    }
}

#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn axpy(y: &mut [f32], x: &[f32], a: f32) {
    let av = _mm256_set1_ps(a);
    for i in (0..y.len()).step_by(8) {
        let v = _mm256_fmadd_ps(
            av,
            _mm256_loadu_ps(x.as_ptr().add(i)),
            _mm256_loadu_ps(y.as_ptr().add(i)),
        );
        _mm256_storeu_ps(y.as_mut_ptr().add(i), v);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn from_f16(src: &[u16], dst: &mut [f32]) {
    for i in (0..src.len()).step_by(8) {
        let h = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
        _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn to_f16(src: &[f32], dst: &mut [u16]) {
    for i in (0..src.len()).step_by(8) {
        let h =
            _mm256_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(_mm256_loadu_ps(src.as_ptr().add(i)));
        _mm_storeu_si128(dst.as_mut_ptr().add(i) as *mut __m128i, h);
    }
}
