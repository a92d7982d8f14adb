//! Causal self-attention with the interleaved rope, as one op with its gradient written out.
//!
//! Inputs are the projections as they come, `q` `[b, s, heads·d]`, `k` and `v`
//! `[b, s, kv_heads·d]`; the output is `[b, s, heads·d]`, ready for the output projection. Each
//! (sequence, KV head) pair is one task on the thread pool: it rotates its keys, then for each of
//! the query heads that share them computes `softmax(q·kᵀ/√d + causal mask)·v` with single-
//! threaded products reading the heads in place. The backward recomputes the probabilities (as
//! flash attention does) rather than keeping `b·heads·s²` of them per layer. Composed from
//! candle's ops the same layer is about thirty passes over the `[b, heads, s, s]` scores, a copy
//! of the keys and values per query head, and their gradients.

use super::kernels::{by_dtype, matmul, slice, tensor, with_data, Mat, Real};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

pub struct CausalAttention {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rope_base: f64,
}

/// What one task needs: the sizes and the rope tables.
struct Plan<T> {
    b: usize,
    s: usize,
    d: usize,
    nh: usize,
    nkv: usize,
    /// `[s, d/2]` each.
    cos: Vec<T>,
    sin: Vec<T>,
    scale: T,
}

impl CausalAttention {
    fn plan<T: Real>(&self, q: &Shape, k: &Shape, v: &Shape) -> Result<Plan<T>> {
        let (b, s, hq) = q.dims3()?;
        let (d, nh, nkv) = (self.head_dim, self.n_head, self.n_kv_head);
        if hq != nh * d
            || k.dims3()? != (b, s, nkv * d)
            || v.dims3()? != (b, s, nkv * d)
            || nh % nkv != 0
            || d % 2 != 0
        {
            candle_core::bail!(
                "attention: q {q:?}, k {k:?}, v {v:?} do not fit {nh} heads, {nkv} KV heads of {d}"
            );
        }
        let half = d / 2;
        let angle = |t: usize, i: usize| t as f64 / self.rope_base.powf(2.0 * i as f64 / d as f64);
        let cos = (0..s * half).map(|j| T::from_f64(angle(j / half, j % half).cos())).collect();
        let sin = (0..s * half).map(|j| T::from_f64(angle(j / half, j % half).sin())).collect();
        Ok(Plan { b, s, d, nh, nkv, cos, sin, scale: T::from_f64(1.0 / (d as f64).sqrt()) })
    }
}

impl<T: Real> Plan<T> {
    /// Head `h` of sequence `bi` in `x` (`[b, s, heads·d]`, `heads` given), rotated (or rotated
    /// back, `inverse`), as `[s, d]`.
    fn rope(&self, x: &[T], heads: usize, bi: usize, h: usize, inverse: bool) -> Vec<T> {
        let (s, d, half) = (self.s, self.d, self.d / 2);
        let mut out = vec![T::zero(); s * d];
        for t in 0..s {
            let row = &x[(bi * s + t) * heads * d + h * d..][..d];
            for i in 0..half {
                let (c, sn) = (self.cos[t * half + i], self.sin[t * half + i]);
                let sn = if inverse { -sn } else { sn };
                let (x0, x1) = (row[2 * i], row[2 * i + 1]);
                out[t * d + 2 * i] = x0 * c - x1 * sn;
                out[t * d + 2 * i + 1] = x0 * sn + x1 * c;
            }
        }
        out
    }

    /// The causal attention probabilities `[s, s]` of rotated `q` and `k` (`[s, d]` each).
    fn probs(&self, q: &[T], k: &[T]) -> Vec<T> {
        let (s, d) = (self.s, self.d);
        let mut p = vec![T::zero(); s * s];
        matmul(
            s,
            s,
            d,
            &mut p,
            s,
            false,
            Mat::rows(q, 0, d),
            Mat::rows(k, 0, d).t(),
            self.scale,
            gemm::Parallelism::None,
        );
        for (t, row) in p.chunks_mut(s).enumerate() {
            let m = row[..=t].iter().fold(T::neg_infinity(), |a, &v| num_traits::Float::max(a, v));
            let mut sum = T::zero();
            for v in &mut row[..=t] {
                *v = (*v - m).exp();
                sum += *v;
            }
            for v in &mut row[..=t] {
                *v /= sum;
            }
            row[t + 1..].fill(T::zero());
        }
        p
    }

    /// One task's output: the `g` query heads of KV head `kh` in sequence `bi`, `[g, s, d]`.
    fn forward(&self, q: &[T], k: &[T], v: &[T], bi: usize, kh: usize) -> Vec<T> {
        let (s, d, g) = (self.s, self.d, self.nh / self.nkv);
        let kr = self.rope(k, self.nkv, bi, kh, false);
        let mut out = vec![T::zero(); g * s * d];
        for (j, o) in out.chunks_mut(s * d).enumerate() {
            let p = self.probs(&self.rope(q, self.nh, bi, kh * g + j, false), &kr);
            let vh = Mat::rows(v, bi * s * self.nkv * d + kh * d, self.nkv * d);
            matmul(
                s,
                d,
                s,
                o,
                d,
                false,
                Mat::rows(&p, 0, s),
                vh,
                T::one(),
                gemm::Parallelism::None,
            );
        }
        out
    }

    /// One task's gradients: `dq` `[g, s, d]`, `dk` and `dv` `[s, d]`.
    fn backward(
        &self,
        q: &[T],
        k: &[T],
        v: &[T],
        dy: &[T],
        bi: usize,
        kh: usize,
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let (s, d, g, none) = (self.s, self.d, self.nh / self.nkv, gemm::Parallelism::None);
        let kr = self.rope(k, self.nkv, bi, kh, false);
        let vh = Mat::rows(v, bi * s * self.nkv * d + kh * d, self.nkv * d);
        let (mut dq, mut dkr, mut dv) =
            (vec![T::zero(); g * s * d], vec![T::zero(); s * d], vec![T::zero(); s * d]);
        let mut dp = vec![T::zero(); s * s];
        let mut dqr = vec![T::zero(); s * d];
        for j in 0..g {
            let h = kh * g + j;
            let qr = self.rope(q, self.nh, bi, h, false);
            let p = self.probs(&qr, &kr);
            let dyh = Mat::rows(dy, bi * s * self.nh * d + h * d, self.nh * d);
            // dv += pᵀ·dy; dp = dy·vᵀ
            matmul(s, d, s, &mut dv, d, true, Mat::rows(&p, 0, s).t(), dyh, T::one(), none);
            matmul(s, s, d, &mut dp, s, false, dyh, vh.t(), T::one(), none);
            // ds = p ∘ (dp − Σ p·dp), scaled as the scores were; kept in dp.
            for (t, (dp, p)) in dp.chunks_mut(s).zip(p.chunks(s)).enumerate() {
                let dot = (0..=t).fold(T::zero(), |a, i| a + p[i] * dp[i]);
                for i in 0..=t {
                    dp[i] = p[i] * (dp[i] - dot) * self.scale;
                }
                dp[t + 1..].fill(T::zero());
            }
            // dq = ds·k; dk += dsᵀ·q (both rotated)
            matmul(
                s,
                d,
                s,
                &mut dqr,
                d,
                false,
                Mat::rows(&dp, 0, s),
                Mat::rows(&kr, 0, d),
                T::one(),
                none,
            );
            matmul(
                s,
                d,
                s,
                &mut dkr,
                d,
                true,
                Mat::rows(&dp, 0, s).t(),
                Mat::rows(&qr, 0, d),
                T::one(),
                none,
            );
            dq[j * s * d..][..s * d].copy_from_slice(&self.rope(&dqr, 1, 0, 0, true));
        }
        (dq, self.rope(&dkr, 1, 0, 0, true), dv)
    }

    /// Copies task `(bi, h0)`'s `[n, s, d]` heads into `dst` `[b, s, heads·d]` at head `h0`.
    fn scatter(&self, dst: &mut [T], heads: usize, bi: usize, h0: usize, src: &[T]) {
        let (s, d) = (self.s, self.d);
        for (j, head) in src.chunks(s * d).enumerate() {
            for t in 0..s {
                dst[(bi * s + t) * heads * d + (h0 + j) * d..][..d]
                    .copy_from_slice(&head[t * d..][..d]);
            }
        }
    }

    fn tasks(&self) -> Vec<(usize, usize)> {
        (0..self.b).flat_map(|bi| (0..self.nkv).map(move |kh| (bi, kh))).collect()
    }
}

impl CustomOp3 for CausalAttention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            op: &CausalAttention,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let plan = op.plan::<T>(l1.shape(), l2.shape(), l3.shape())?;
            let (q, k, v) = (
                slice::<T>(s1, l1, "attention")?,
                slice::<T>(s2, l2, "attention")?,
                slice::<T>(s3, l3, "attention")?,
            );
            let parts: Vec<Vec<T>> = plan
                .tasks()
                .into_par_iter()
                .map(|(bi, kh)| plan.forward(q, k, v, bi, kh))
                .collect();
            let mut out = vec![T::zero(); q.len()];
            let g = plan.nh / plan.nkv;
            for ((bi, kh), part) in plan.tasks().into_iter().zip(&parts) {
                plan.scatter(&mut out, plan.nh, bi, kh * g, part);
            }
            Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
        }
        by_dtype!(s1.dtype(), "attention", go(self, s1, l1, s2, l2, s3, l3))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        fn go<T: Real>(
            op: &CausalAttention,
            q: &Tensor,
            k: &Tensor,
            v: &Tensor,
            grad: &Tensor,
        ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
            let plan = op.plan::<T>(q.shape(), k.shape(), v.shape())?;
            let g = plan.nh / plan.nkv;
            let (dq, dk, dv) = with_data::<T, _>(q, "attention", |qd| {
                with_data::<T, _>(k, "attention", |kd| {
                    with_data::<T, _>(v, "attention", |vd| {
                        with_data::<T, _>(grad, "attention", |dy| {
                            let parts: Vec<_> = plan
                                .tasks()
                                .into_par_iter()
                                .map(|(bi, kh)| plan.backward(qd, kd, vd, dy, bi, kh))
                                .collect();
                            let (mut dq, mut dk, mut dv) = (
                                vec![T::zero(); qd.len()],
                                vec![T::zero(); kd.len()],
                                vec![T::zero(); vd.len()],
                            );
                            for ((bi, kh), (pq, pk, pv)) in plan.tasks().into_iter().zip(&parts) {
                                plan.scatter(&mut dq, plan.nh, bi, kh * g, pq);
                                plan.scatter(&mut dk, plan.nkv, bi, kh, pk);
                                plan.scatter(&mut dv, plan.nkv, bi, kh, pv);
                            }
                            Ok((dq, dk, dv))
                        })
                    })
                })
            })?;
            Ok((
                Some(tensor(dq, q.shape())?),
                Some(tensor(dk, k.shape())?),
                Some(tensor(dv, v.shape())?),
            ))
        }
        by_dtype!(q.dtype(), "attention", go(self, q, k, v, grad))
    }
}

/// Causal self-attention with the interleaved rope: `q` `[b, s, heads·d]`, `k` and `v`
/// `[b, s, kv_heads·d]` → `[b, s, heads·d]`.
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, op: CausalAttention) -> Result<Tensor> {
    q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}
