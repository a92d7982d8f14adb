//! The training loss: mean cross-entropy over the response tokens only.

use candle_core::{DType, Result, Tensor, D};

/// Mean cross-entropy of `logits` `[b, s, vocab]` predicting `targets` `[b, s]` (u32: the next
/// token at each position), counting only positions where `mask` `[b, s]` is 1 (the response
/// tokens). Returns the scalar loss and the number of tokens counted.
pub fn masked_cross_entropy(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<(Tensor, usize)> {
    let lp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = lp.gather(&targets.unsqueeze(D::Minus1)?, D::Minus1)?.squeeze(D::Minus1)?;
    let mask = mask.to_dtype(logits.dtype())?;
    let n = mask.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    if n < 0.5 {
        candle_core::bail!("no response token to learn from");
    }
    let loss = ((picked * &mask)?.sum_all()?.neg()? / n)?;
    Ok((loss, n.round() as usize))
}
