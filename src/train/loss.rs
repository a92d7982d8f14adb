//! The training loss: mean cross-entropy over the response tokens only.

use candle_core::{DType, Device, Result, Tensor, D};

/// The flat indices (into `[b·s]`) where `mask` `[b, s]` is 1: the response positions; None
/// when there are none.
pub fn response_positions(mask: &Tensor) -> Result<Option<Tensor>> {
    let keep: Vec<u32> = mask
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?
        .iter()
        .enumerate()
        .filter(|(_, m)| **m > 0.5)
        .map(|(i, _)| i as u32)
        .collect();
    if keep.is_empty() {
        return Ok(None);
    }
    Tensor::new(keep.as_slice(), &Device::Cpu).map(Some)
}

/// Mean cross-entropy of `logits` `[n, vocab]` predicting `targets` `[n]` (u32).
pub fn cross_entropy_rows(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    super::fused::cross_entropy(logits, targets)
}

/// Mean cross-entropy of `logits` `[b, s, vocab]` predicting `targets` `[b, s]` (the next token
/// at each position), counting only positions where `mask` `[b, s]` is 1. Returns the loss and
/// the number of tokens counted. (The trainer computes logits at those positions only:
/// [`crate::train::model::TrainModel::loss`].)
pub fn masked_cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    mask: &Tensor,
) -> Result<(Tensor, usize)> {
    let Some(idx) = response_positions(mask)? else {
        candle_core::bail!("no response token to learn from")
    };
    let vocab = logits.dim(D::Minus1)?;
    let rows = logits.reshape(((), vocab))?.index_select(&idx, 0)?;
    Ok((cross_entropy_rows(&rows, &targets.flatten_all()?.index_select(&idx, 0)?)?, idx.dim(0)?))
}
