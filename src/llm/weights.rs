//! How the model's weight matrices are held and multiplied: packed for our own Q4_1/Q8_0 kernel
//! ([`super::packed`]) where the CPU has AVX-512 VNNI, candle's quantized matmuls otherwise (padded to
//! widths its fast kernels take where that pays).

use super::packed::{matmul_many, simd, Packed};
use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{Device, Module, Result, Tensor};

/// Which matmuls run the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Our packed Q4_1/Q8_0 kernel (AVX-512 VNNI), unpadded, on the file's own blocks.
    Packed,
    /// candle's matmuls with the widths padded to multiples of 256 (its repacked Q8_0 kernels).
    CandlePadded,
    /// candle's matmuls as they are.
    Candle,
}

impl Kernel {
    /// The fastest one for this CPU; `DISTILLERY_KERNEL=packed|padded|candle` overrides.
    pub fn detect() -> Kernel {
        match std::env::var("DISTILLERY_KERNEL").as_deref() {
            Ok("packed") => Kernel::Packed,
            Ok("padded") => Kernel::CandlePadded,
            Ok("candle") => Kernel::Candle,
            _ if simd() => Kernel::Packed,
            _ if pad_pays() => Kernel::CandlePadded,
            _ => Kernel::Candle,
        }
    }
}

/// Whether padding the widths to multiples of 256 pays off with candle's matmuls: it does when
/// its repacked Q8_0 kernels run (x86 with VNNI).
pub fn pad_pays() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")) || is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A matrix zero-padded to `rows × cols` (Q8_0 block by block, without requantizing; other
/// types through f32).
pub fn pad_matrix(t: QTensor, rows: usize, cols: usize) -> Result<QTensor> {
    let (r, c) = t.shape().dims2()?;
    if (r, c) == (rows, cols) {
        return Ok(t);
    }
    if t.dtype() == GgmlDType::Q8_0 && c.is_multiple_of(32) && cols.is_multiple_of(32) {
        const BLOCK: usize = 34;
        let (from, to) = (c / 32 * BLOCK, cols / 32 * BLOCK);
        let data = t.data()?;
        // An all-zero block is the value 0 (scale 0.0 as f16, quants 0).
        let mut out = vec![0u8; rows * to];
        for i in 0..r {
            out[i * to..i * to + from].copy_from_slice(&data[i * from..(i + 1) * from]);
        }
        let storage = QStorage::from_data(std::borrow::Cow::Owned(out), &Device::Cpu, GgmlDType::Q8_0)?;
        return QTensor::new(storage, (rows, cols));
    }
    let d = t.dequantize(&Device::Cpu)?.pad_with_zeros(1, 0, cols - c)?.pad_with_zeros(0, 0, rows - r)?;
    QTensor::quantize(&d, t.dtype())
}

/// A weight matrix: packed for our kernel when it can be, candle's otherwise.
pub enum Weight {
    Packed(Packed),
    Candle(QMatMul),
}

impl Weight {
    /// Packs `t` when `pack` and it is a Q4_1 or Q8_0 matrix that tiles; candle's matmul
    /// otherwise (a Q4_1 matrix that does not tile is re-quantized to Q8_0 for it: candle has
    /// only a scalar loop for Q4_1).
    pub fn new(t: QTensor, pack: bool) -> Result<Weight> {
        if pack {
            if let Some(p) = Packed::new(&t)? {
                return Ok(Weight::Packed(p));
            }
            if t.dtype() == GgmlDType::Q4_1 && t.shape().dims().last().is_some_and(|k| k % 32 == 0) {
                let q8 = QTensor::quantize(&t.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?;
                return Ok(Weight::Candle(QMatMul::from_qtensor(q8)?));
            }
        }
        Ok(Weight::Candle(QMatMul::from_qtensor(t)?))
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(forward_many(&[self], x)?.remove(0))
    }
}

/// `x` times each weight (`x`'s last dimension is the inputs); packed weights with the same
/// inputs share one quantization of `x` and one parallel region.
pub fn forward_many(ws: &[&Weight], x: &Tensor) -> Result<Vec<Tensor>> {
    let packed: Option<Vec<&Packed>> = ws.iter().map(|w| if let Weight::Packed(p) = w { Some(p) } else { None }).collect();
    let dims = x.dims().to_vec();
    let k = *dims.last().unwrap_or(&0);
    match packed {
        Some(ps) if ps.iter().all(|p| p.dims().1 == k) => {
            let m = x.elem_count() / k.max(1);
            let xs = x.flatten_all()?.to_vec1::<f32>()?;
            let outs = matmul_many(&ps, &xs, m);
            outs.into_iter()
                .zip(ps)
                // `dims` is not empty here: its last entry matched a matrix's width.
                .map(|(o, p)| Tensor::from_vec(o, [&dims[..dims.len() - 1], &[p.dims().0]].concat(), &Device::Cpu))
                .collect()
        }
        Some(ps) => {
            let want: Vec<usize> = ps.iter().map(|p| p.dims().1).collect();
            candle_core::bail!("an input of width {k} for matrices taking {want:?}")
        }
        None => ws
            .iter()
            .map(|w| match w {
                Weight::Candle(q) => q.forward(x),
                Weight::Packed(_) => forward_many(&[w], x).map(|mut v| v.remove(0)),
            })
            .collect(),
    }
}
