//! Vector maths outside the matrix products: RMS norm, exp (softmax, SiLU, sampling), the dot
//! products and sums of attention, and f16 conversion for the KV cache. AVX2 versions for the
//! x86 paths; portable ones elsewhere (written so the compiler vectorizes them: on aarch64 they
//! become NEON).
//!
//! exp is Cephes' `expf` polynomial after reducing by ln 2 (relative error about 2e-7), the same
//! algorithm on every path.

use super::isa::Isa;
use super::kernels::Kernels;
use half::f16;

const LOG2E: f32 = std::f32::consts::LOG2_E;
const C1: f32 = 0.693_359_4;
const C2: f32 = -2.121_944_4e-4;
const P: [f32; 6] =
    [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];
const LO: f32 = -87.3;
const HI: f32 = 88.0;

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn x86(k: Kernels) -> bool {
    matches!(k.isa(), Isa::Avx2 | Isa::Avx512)
}

/// `e^x`, portable (rounding by the 1.5·2²³ trick, so it vectorizes without a libm call).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(LO, HI);
    let n = (x * LOG2E + 12_582_912.0) - 12_582_912.0;
    let r = x - n * C1 - n * C2;
    let mut p = P[0];
    for c in &P[1..] {
        p = p * r + c;
    }
    let y = p * (r * r) + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `x[i] = e^(x[i] - shift)`; returns their sum.
pub fn exp_shifted(k: Kernels, x: &mut [f32], shift: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if x86(k) {
        // SAFETY: `Kernels` exists only for an instruction set this CPU runs.
        return unsafe { avx2::exp_shifted(x, shift) };
    }
    let _ = k;
    let mut s = [0f32; 8];
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        for l in 0..8 {
            c[l] = exp(c[l] - shift);
            s[l] += c[l];
        }
    }
    let tail: f32 = chunks
        .into_remainder()
        .iter_mut()
        .map(|v| {
            *v = exp(*v - shift);
            *v
        })
        .sum();
    (s[0] + s[4]) + (s[1] + s[5]) + (s[2] + s[6]) + (s[3] + s[7]) + tail
}

/// `Σ e^(x[i] - shift)`, leaving `x` as it is.
pub fn sum_exp(k: Kernels, x: &[f32], shift: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if x86(k) {
        // SAFETY: `Kernels` exists only for an instruction set this CPU runs.
        return unsafe { avx2::sum_exp(x, shift) };
    }
    let _ = k;
    let mut s = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|v| exp(v - shift)).sum();
    for c in chunks {
        for l in 0..8 {
            s[l] += exp(c[l] - shift);
        }
    }
    (s[0] + s[4]) + (s[1] + s[5]) + (s[2] + s[6]) + (s[3] + s[7]) + tail
}

/// `out[i] = silu(g[i]) · u[i]`, SiLU being `g / (1 + e^−g)`.
pub fn silu_mul(k: Kernels, g: &[f32], u: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if x86(k) {
        // SAFETY: as above.
        return unsafe { avx2::silu_mul(g, u, out) };
    }
    let _ = k;
    for ((o, &g), &u) in out.iter_mut().zip(g).zip(u) {
        *o = g / (1.0 + exp(-g)) * u;
    }
}

/// `Σ a[i] · b[i]`.
pub fn dot(k: Kernels, a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if x86(k) && a.len().is_multiple_of(8) {
        // SAFETY: as above.
        return unsafe { avx2::dot(a, b) };
    }
    let _ = k;
    let mut s = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            s[l] += x[l] * y[l];
        }
    }
    (s[0] + s[4]) + (s[1] + s[5]) + (s[2] + s[6]) + (s[3] + s[7]) + tail
}

/// Attention scores of one query against `keys` (`s.len()` rows of `q.len()`):
/// `s[j] = (q · keys[j]) · scale`.
pub fn scores(k: Kernels, q: &[f32], keys: &[f32], scale: f32, s: &mut [f32]) {
    let hd = q.len();
    #[cfg(target_arch = "x86_64")]
    if x86(k) && hd.is_multiple_of(8) {
        // SAFETY: `Kernels` exists only for an instruction set this CPU runs.
        return unsafe { avx2::scores(q, keys, scale, s) };
    }
    for (j, s) in s.iter_mut().enumerate() {
        *s = dot(k, q, &keys[j * hd..(j + 1) * hd]) * scale;
    }
}

/// [`scores`] for the `q.len() / hd` query heads of one position sharing these keys: head `i`'s
/// scores go to `s[i * stride..][..lim]`.
pub fn scores_heads(
    k: Kernels,
    q: &[f32],
    keys: &[f32],
    scale: f32,
    s: &mut [f32],
    stride: usize,
    lim: usize,
) {
    let hd = keys.len() / lim.max(1);
    #[cfg(target_arch = "x86_64")]
    if x86(k) && hd.is_multiple_of(8) {
        // SAFETY: `Kernels` exists only for an instruction set this CPU runs.
        return unsafe { avx2::scores_heads(q, keys, scale, s, stride, lim) };
    }
    for (i, qh) in q.chunks_exact(hd).enumerate() {
        scores(k, qh, keys, scale, &mut s[i * stride..i * stride + lim]);
    }
}

/// [`accumulate`] for the query heads of one position: head `i`'s weights are
/// `p[i * stride..][..lim]`, its output `out[i * hd..][..hd]`.
pub fn accumulate_heads(
    k: Kernels,
    p: &[f32],
    stride: usize,
    vals: &[f32],
    out: &mut [f32],
    lim: usize,
) {
    let hd = vals.len() / lim.max(1);
    #[cfg(target_arch = "x86_64")]
    if x86(k) && hd.is_multiple_of(8) {
        // SAFETY: as above.
        return unsafe { avx2::accumulate_heads(p, stride, vals, out, lim) };
    }
    for (i, o) in out.chunks_exact_mut(hd).enumerate() {
        accumulate(k, &p[i * stride..i * stride + lim], vals, o);
    }
}

/// `out += Σ_j p[j] · vals[j]`, the rows added in order.
pub fn accumulate(k: Kernels, p: &[f32], vals: &[f32], out: &mut [f32]) {
    let hd = out.len();
    #[cfg(target_arch = "x86_64")]
    if x86(k) && hd.is_multiple_of(8) {
        // SAFETY: as above.
        return unsafe { avx2::accumulate(p, vals, out) };
    }
    for (j, &pj) in p.iter().enumerate() {
        axpy(k, out, &vals[j * hd..(j + 1) * hd], pj);
    }
}

/// `y[i] += a · x[i]`.
pub fn axpy(k: Kernels, y: &mut [f32], x: &[f32], a: f32) {
    #[cfg(target_arch = "x86_64")]
    if x86(k) && y.len().is_multiple_of(8) {
        // SAFETY: as above.
        return unsafe { avx2::axpy(y, x, a) };
    }
    let _ = k;
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// f16 bits to f32.
pub fn from_f16(k: Kernels, src: &[u16], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if x86(k) && src.len().is_multiple_of(8) {
        // SAFETY: as above.
        return unsafe { avx2::from_f16(src, dst) };
    }
    let _ = k;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f16::from_bits(s).to_f32();
    }
}

/// f32 to f16 bits, rounding to nearest even.
pub fn to_f16(k: Kernels, src: &[f32], dst: &mut [u16]) {
    #[cfg(target_arch = "x86_64")]
    if x86(k) && src.len().is_multiple_of(8) {
        // SAFETY: as above.
        return unsafe { avx2::to_f16(src, dst) };
    }
    let _ = k;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(s).to_bits();
    }
}

/// RMS norm of one row: `out[i] = x[i] / rms(x) · w[i]`.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let ss: f32 = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let inv = 1.0 / (ss + eps).sqrt();
    for ((o, &x), &w) in out.iter_mut().zip(x).zip(w) {
        *o = x * inv * w;
    }
}

/// The largest value (NEG_INFINITY for none).
pub fn max(x: &[f32]) -> f32 {
    x.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{C1, C2, HI, LO, LOG2E, P};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp8(x: __m256) -> __m256 {
        let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(LO)), _mm256_set1_ps(HI));
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(C1), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(C2), r);
        let mut p = _mm256_set1_ps(P[0]);
        for c in &P[1..] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(*c));
        }
        let y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0)));
        let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        ));
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
            let h = _mm256_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(_mm256_loadu_ps(
                src.as_ptr().add(i),
            ));
            _mm_storeu_si128(dst.as_mut_ptr().add(i) as *mut __m128i, h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_computes_exp_silu_and_dots_closely() {
        let xs: Vec<f32> = (0..67).map(|i| (i as f32 - 33.0) * 0.37).collect();
        for isa in super::super::isa::supported() {
            let k = Kernels::new(isa).unwrap();
            let mut e = xs.clone();
            let sum = exp_shifted(k, &mut e, 1.5);
            let mut want_sum = 0f64;
            for (got, x) in e.iter().zip(&xs) {
                let want = ((*x - 1.5) as f64).exp();
                want_sum += want;
                assert!(
                    ((*got as f64) - want).abs() <= 1e-6 * want,
                    "{isa}: exp({x}) = {got}, want {want}"
                );
            }
            assert!((sum as f64 - want_sum).abs() < 1e-5 * want_sum);
            let mut s = vec![0f32; xs.len()];
            silu_mul(k, &xs, &xs, &mut s);
            for (got, x) in s.iter().zip(&xs) {
                let want = *x as f64 / (1.0 + (-*x as f64).exp()) * *x as f64;
                assert!(
                    ((*got as f64) - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{isa}: silu({x})"
                );
            }
            let (a, b) = (&xs[..64], &xs[3..67]);
            let want: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(k, a, b) as f64 - want).abs() < 1e-3, "{isa}: dot");
            let mut y = a.to_vec();
            axpy(k, &mut y, b, 0.5);
            assert!(y
                .iter()
                .zip(a.iter().zip(b))
                .all(|(y, (a, b))| (y - (a + 0.5 * b)).abs() < 1e-5));
            let mut h = vec![0u16; 64];
            to_f16(k, a, &mut h);
            let mut back = vec![0f32; 64];
            from_f16(k, &h, &mut back);
            assert!(
                back.iter().zip(a).all(|(b, a)| (b - a).abs() <= a.abs() * 1e-3),
                "{isa}: f16 round trip"
            );
        }
        assert!(exp(-1000.0) < 1e-37 && exp(88.0).is_finite());
    }
}
