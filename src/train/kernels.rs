//! What the fused training ops share: the element type (f32 for training, f64 for the gradient
//! checks), access to a tensor's contiguous data, and matrix products through the `gemm` crate
//! (the library candle itself calls) with explicit strides, so a head's slice of a `[b, s, h·d]`
//! tensor is multiplied in place, without a transpose or a copy.

use candle_core::{CpuStorage, Device, Layout, Result, Shape, Storage, Tensor, WithDType};

/// f32 or f64.
pub trait Real: WithDType + num_traits::Float + Send + Sync {}
impl Real for f32 {}
impl Real for f64 {}

/// The contiguous data of a CPU storage seen through `l`.
pub fn slice<'a, T: Real>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [T]> {
    let v = T::cpu_storage_as_slice(s)?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("{op}: the input must be contiguous"),
    }
}

/// Runs `f` on `t`'s data, contiguous.
pub fn with_data<T: Real, R>(t: &Tensor, op: &str, f: impl FnOnce(&[T]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (st, l) = t.storage_and_layout();
    match &*st {
        Storage::Cpu(s) => f(slice::<T>(s, l, op)?),
        _ => candle_core::bail!("{op}: CPU tensors only"),
    }
}

/// A CPU tensor of `shape` holding `v`.
pub fn tensor<T: Real>(v: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor> {
    Tensor::from_vec(v, shape, &Device::Cpu)
}

/// Calls `$f::<f32>` or `$f::<f64>` by `$dtype`.
macro_rules! by_dtype {
    ($dtype:expr, $op:expr, $f:ident ( $($arg:expr),* )) => {
        match $dtype {
            candle_core::DType::F32 => $f::<f32>($($arg),*),
            candle_core::DType::F64 => $f::<f64>($($arg),*),
            d => candle_core::bail!("{}: f32 or f64 only, not {d:?}", $op),
        }
    };
}
pub(crate) use by_dtype;

/// A matrix in a slice: element `(r, c)` is `data[offset + r·rs + c·cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a, T> {
    data: &'a [T],
    offset: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// Row-major with row stride `rs`, element `(0, 0)` at `data[offset]`.
    pub fn rows(data: &'a [T], offset: usize, rs: usize) -> Mat<'a, T> {
        Mat { data, offset, rs, cs: 1 }
    }
    /// The transpose of this matrix.
    pub fn t(self) -> Mat<'a, T> {
        Mat { rs: self.cs, cs: self.rs, ..self }
    }
    /// Panics unless a `rows × cols` matrix at these strides lies inside the slice.
    fn check(&self, rows: usize, cols: usize) -> *const T {
        if rows > 0 && cols > 0 {
            let last = self.offset + (rows - 1) * self.rs + (cols - 1) * self.cs;
            assert!(last < self.data.len(), "matmul: a {rows} × {cols} operand runs past its data");
        }
        self.data[self.offset..].as_ptr()
    }
}

/// How many threads a product may use.
pub fn threads() -> gemm::Parallelism {
    match rayon::current_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// `dst (m × n, row-major, row stride dst_rs) = [dst +] scale · a (m × k) · b (k × n)`.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    dst_rs: usize,
    accumulate: bool,
    a: Mat<T>,
    b: Mat<T>,
    scale: T,
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= (m - 1) * dst_rs + n, "matmul: the destination is too small");
    let (pa, pb) = (a.check(m, k), b.check(k, n));
    // SAFETY: every element gemm reads or writes lies inside `dst`, `a.data` or `b.data`
    // (checked above); `dst` is borrowed mutably, so it overlaps neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            pa,
            a.cs as isize,
            a.rs as isize,
            pb,
            b.cs as isize,
            b.rs as isize,
            if accumulate { T::one() } else { T::zero() },
            scale,
            false,
            false,
            false,
            par,
        );
    }
}
