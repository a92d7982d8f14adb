//! Fused training ops with their gradients written out: RMS norm, SwiGLU and cross-entropy.
//! Built from candle's element-wise ops, each is five to ten passes forward and two to three
//! times that backward, every pass a fresh tensor; here each is one pass each way, spread over
//! the threads by rows. `tests/train.rs` checks them against the composite ops and, through the
//! whole model, against finite differences.

use super::kernels::{by_dtype, slice, tensor, with_data, Real};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `x / √(mean(x²) + eps) · w` over the last dimension, `w` frozen: only `x` gets a gradient.
pub struct RmsNorm {
    pub w: Tensor,
    pub eps: f64,
}

fn rms_fwd<T: Real>(x: &[T], w: &[T], eps: f64) -> Vec<T> {
    let n = w.len();
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(n).zip(x.par_chunks(n)).for_each(|(o, x)| {
        let r = inv_rms(x, eps);
        for i in 0..n {
            o[i] = x[i] * r * w[i];
        }
    });
    out
}

fn inv_rms<T: Real>(x: &[T], eps: f64) -> T {
    let ss = x.iter().fold(T::zero(), |a, &v| a + v * v);
    (ss / T::from_f64(x.len() as f64) + T::from_f64(eps)).sqrt().recip()
}

/// `dx = r · (g − x̂ · mean(g · x̂))` with `g = dy · w`, `x̂ = x · r`.
fn rms_bwd<T: Real>(x: &[T], w: &[T], dy: &[T], eps: f64) -> Vec<T> {
    let n = w.len();
    let mut dx = vec![T::zero(); x.len()];
    dx.par_chunks_mut(n).zip(x.par_chunks(n).zip(dy.par_chunks(n))).for_each(|(dx, (x, dy))| {
        let r = inv_rms(x, eps);
        let dot =
            (0..n).fold(T::zero(), |a, i| a + dy[i] * w[i] * x[i] * r) / T::from_f64(n as f64);
        for i in 0..n {
            dx[i] = r * (dy[i] * w[i] - x[i] * r * dot);
        }
    });
    dx
}

impl CustomOp1 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn go<T: Real>(op: &RmsNorm, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let x = slice::<T>(s, l, "rms-norm")?;
            let out = with_data::<T, _>(&op.w, "rms-norm", |w| Ok(rms_fwd(x, w, op.eps)))?;
            Ok((T::to_cpu_storage_owned(out), l.shape().clone()))
        }
        by_dtype!(s.dtype(), "rms-norm", go(self, s, l))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        fn go<T: Real>(op: &RmsNorm, x: &Tensor, grad: &Tensor) -> Result<Tensor> {
            let dx = with_data::<T, _>(x, "rms-norm", |x| {
                with_data::<T, _>(&op.w, "rms-norm", |w| {
                    with_data::<T, _>(grad, "rms-norm", |dy| Ok(rms_bwd(x, w, dy, op.eps)))
                })
            })?;
            tensor(dx, x.shape())
        }
        Ok(Some(by_dtype!(x.dtype(), "rms-norm", go(self, x, grad))?))
    }
}

/// RMS norm over the last dimension with the frozen weight `w`.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f32) -> Result<Tensor> {
    x.contiguous()?.apply_op1(RmsNorm { w: w.clone(), eps: eps as f64 })
}

/// `silu(gate) · up`.
pub struct SwiGlu;

fn sigmoid<T: Real>(x: T) -> T {
    (T::one() + (-x).exp()).recip()
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "fused-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let (g, u) = (slice::<T>(s1, l1, "swiglu")?, slice::<T>(s2, l2, "swiglu")?);
            if l1.shape() != l2.shape() {
                candle_core::bail!(
                    "swiglu: gate {:?} and up {:?} differ in shape",
                    l1.shape(),
                    l2.shape()
                );
            }
            let out: Vec<T> =
                g.par_iter().zip(u.par_iter()).map(|(&g, &u)| g * sigmoid(g) * u).collect();
            Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
        }
        by_dtype!(s1.dtype(), "swiglu", go(s1, l1, s2, l2))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        fn go<T: Real>(
            gate: &Tensor,
            up: &Tensor,
            grad: &Tensor,
        ) -> Result<(Option<Tensor>, Option<Tensor>)> {
            let (dg, du) = with_data::<T, _>(gate, "swiglu", |g| {
                with_data::<T, _>(up, "swiglu", |u| {
                    with_data::<T, _>(grad, "swiglu", |dy| {
                        Ok(g.par_iter()
                            .zip(u.par_iter().zip(dy.par_iter()))
                            .map(|(&g, (&u, &dy))| {
                                let s = sigmoid(g);
                                (dy * u * s * (T::one() + g * (T::one() - s)), dy * g * s)
                            })
                            .unzip::<T, T, Vec<T>, Vec<T>>())
                    })
                })
            })?;
            Ok((Some(tensor(dg, gate.shape())?), Some(tensor(du, up.shape())?)))
        }
        by_dtype!(gate.dtype(), "swiglu", go(gate, up, grad))
    }
}

/// `silu(gate) · up`, element-wise.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, SwiGlu)
}

/// The mean over rows of `−log softmax(logits)[target]`, logits `[n, vocab]`.
pub struct CrossEntropy {
    pub targets: Vec<u32>,
}

/// Each row's log-sum-exp.
fn lse<T: Real>(row: &[T]) -> T {
    let m = row.iter().fold(T::neg_infinity(), |a, &v| num_traits::Float::max(a, v));
    m + row.iter().fold(T::zero(), |a, &v| a + (v - m).exp()).ln()
}

impl CrossEntropy {
    fn check(&self, rows: usize, vocab: usize) -> Result<()> {
        if rows != self.targets.len() {
            candle_core::bail!(
                "cross-entropy: {rows} rows of logits for {} targets",
                self.targets.len()
            );
        }
        if let Some(t) = self.targets.iter().find(|&&t| t as usize >= vocab) {
            candle_core::bail!("cross-entropy: target {t} is outside the vocabulary of {vocab}");
        }
        Ok(())
    }
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            op: &CrossEntropy,
            s: &CpuStorage,
            l: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let (rows, vocab) = l.shape().dims2()?;
            op.check(rows, vocab)?;
            let x = slice::<T>(s, l, "cross-entropy")?;
            let total: f64 = x
                .par_chunks(vocab)
                .zip(op.targets.par_iter())
                .map(|(row, &t)| (lse(row) - row[t as usize]).to_f64())
                .sum();
            Ok((
                T::to_cpu_storage_owned(vec![T::from_f64(total / rows.max(1) as f64)]),
                Shape::from(()),
            ))
        }
        by_dtype!(s.dtype(), "cross-entropy", go(self, s, l))
    }

    /// `(softmax(row) − onehot(target)) · grad / n`.
    fn bwd(&self, logits: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        fn go<T: Real>(op: &CrossEntropy, logits: &Tensor, grad: &Tensor) -> Result<Tensor> {
            let (rows, vocab) = logits.dims2()?;
            let g =
                grad.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()? / rows.max(1) as f64;
            let g = T::from_f64(g);
            let d = with_data::<T, _>(logits, "cross-entropy", |x| {
                let mut d = vec![T::zero(); x.len()];
                d.par_chunks_mut(vocab)
                    .zip(x.par_chunks(vocab).zip(op.targets.par_iter()))
                    .for_each(|(d, (row, &t))| {
                        let l = lse(row);
                        for (d, &v) in d.iter_mut().zip(row) {
                            *d = (v - l).exp() * g;
                        }
                        d[t as usize] -= g;
                    });
                Ok(d)
            })?;
            tensor(d, (rows, vocab))
        }
        Ok(Some(by_dtype!(logits.dtype(), "cross-entropy", go(self, logits, grad))?))
    }
}

/// Mean cross-entropy of `logits` `[n, vocab]` predicting `targets` (`[n]`, u32).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let targets = targets.flatten_all()?.to_vec1::<u32>()?;
    logits.contiguous()?.apply_op1(CrossEntropy { targets })
}
