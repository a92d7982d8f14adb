//! Activations quantized per 32-block to signed bytes with an f32 scale and the block's sum,
//! the form every packed kernel multiplies with.
//!
//! Every instruction set computes the same bytes: the scale is `amax / 127`, the quants
//! `x · (1 / scale)` rounded half to even (what the SIMD conversions do), so a kernel's paths
//! differ only in how they add up exact integer dot products.

use super::isa::Isa;
use super::matrix::QK;

/// `m` rows of `k` activations, quantized.
#[derive(Debug, Default, Clone)]
pub struct Acts {
    pub k: usize,
    pub m: usize,
    pub q: Vec<i8>,
    /// One scale per row and block.
    pub s: Vec<f32>,
    /// The sum of each block's quants.
    pub sum: Vec<i32>,
}

impl Acts {
    /// Room for `m` rows of `k` (a multiple of 32).
    pub fn resize(&mut self, m: usize, k: usize) {
        debug_assert_eq!(k % QK, 0);
        self.k = k;
        self.m = m;
        self.q.resize(m * k, 0);
        self.s.resize(m * k / QK, 0.0);
        self.sum.resize(m * k / QK, 0);
    }

    /// Quantizes `x` (`m × k`, row-major) into `self`.
    pub fn quantize(&mut self, isa: Isa, x: &[f32], m: usize, k: usize) {
        self.resize(m, k);
        let blocks = m * k / QK;
        let (q, s, sum) = (self.q.as_mut_ptr(), self.s.as_mut_ptr(), self.sum.as_mut_ptr());
        for b in 0..blocks {
            let xb = &x[b * QK..(b + 1) * QK];
            // SAFETY: block `b` is within the buffers just sized for `blocks` blocks.
            unsafe { block(isa, xb, q.add(b * QK), s.add(b), sum.add(b)) };
        }
    }

    /// Raw pointers for writing block `b` of row `r` from several threads (each block once).
    pub fn block_ptrs(&mut self) -> BlockPtrs {
        BlockPtrs {
            q: self.q.as_mut_ptr(),
            s: self.s.as_mut_ptr(),
            sum: self.sum.as_mut_ptr(),
            k: self.k,
        }
    }
}

/// Where blocks of an [`Acts`] are written from parallel units.
#[derive(Clone, Copy)]
pub struct BlockPtrs {
    q: *mut i8,
    s: *mut f32,
    sum: *mut i32,
    k: usize,
}

// SAFETY: units write disjoint blocks.
unsafe impl Send for BlockPtrs {}
unsafe impl Sync for BlockPtrs {}

impl BlockPtrs {
    /// Quantizes 32 values into block `b` of row `r`.
    ///
    /// # Safety
    /// The row and block are within the [`Acts`] these came from, which outlives the call, and
    /// no other thread writes the same block.
    pub unsafe fn put(&self, isa: Isa, r: usize, b: usize, x: &[f32]) {
        let i = r * (self.k / QK) + b;
        block(isa, x, self.q.add(i * QK), self.s.add(i), self.sum.add(i));
    }
}

/// # Safety
/// `q` has room for 32 values, `s` and `sum` for one; `x` holds 32.
unsafe fn block(isa: Isa, x: &[f32], q: *mut i8, s: *mut f32, sum: *mut i32) {
    #[cfg(target_arch = "x86_64")]
    if matches!(isa, Isa::Avx2 | Isa::Avx512) {
        return x86::block(x, q, s, sum);
    }
    let _ = isa;
    let amax = x[..QK].iter().fold(0f32, |a, v| a.max(v.abs()));
    let scale = amax / 127.0;
    let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    let mut total = 0i32;
    for (j, v) in x[..QK].iter().enumerate() {
        let v = (v * inv).round_ties_even() as i8;
        *q.add(j) = v;
        total += v as i32;
    }
    *s = scale;
    *sum = total;
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// The block quantizer with AVX2 (bit for bit the scalar one).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn block(x: &[f32], q: *mut i8, s: *mut f32, sum: *mut i32) {
        let p = x.as_ptr();
        let v = [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ];
        let sign = _mm256_set1_ps(-0.0);
        let mut m = _mm256_andnot_ps(sign, v[0]);
        for x in &v[1..] {
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, *x));
        }
        let m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let amax = _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)));
        let scale = amax / 127.0;
        let inv = _mm256_set1_ps(if scale > 0.0 { 1.0 / scale } else { 0.0 });
        let mut ints = [0i32; 32];
        for (i, x) in v.iter().enumerate() {
            let r = _mm256_cvtps_epi32(_mm256_mul_ps(*x, inv));
            _mm256_storeu_si256(ints.as_mut_ptr().add(i * 8) as *mut __m256i, r);
        }
        let mut total = 0i32;
        for (j, &v) in ints.iter().enumerate() {
            *q.add(j) = v.clamp(-128, 127) as i8;
            total += v.clamp(-128, 127);
        }
        *s = scale;
        *sum = total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instruction_set_quantizes_to_the_same_bytes() {
        let x: Vec<f32> = (0..96)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0 + if i == 5 { 0.5 } else { 0.0 })
            .collect();
        let mut want = Acts::default();
        want.quantize(Isa::Scalar, &x, 3, 32);
        assert_eq!(want.q[0], -127, "the largest magnitude maps to ±127");
        for isa in super::super::isa::supported() {
            let mut got = Acts::default();
            got.quantize(isa, &x, 3, 32);
            assert_eq!((&got.q, &got.s, &got.sum), (&want.q, &want.s, &want.sum), "{isa}");
        }
        let mut zero = Acts::default();
        zero.quantize(Isa::Scalar, &[0.0; 32], 1, 32);
        assert_eq!((zero.s[0], zero.sum[0]), (0.0, 0));
    }
}
