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
mod avx2;

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
