//! Merging a run's adapter into its base: `W' = W + (alpha / r) · B A` on every adapted
//! projection, written as a GGUF that llama.cpp, Ollama and Distillery's own engine load.
//!
//! The adapters were trained on the GGUF's own row order (q and k permuted for the interleaved
//! rope), so the product is added as it is. A merged projection is stored as F32: re-quantizing
//! it would round away most of a small adapter's change (a Q8_0 step is about 1% of the largest
//! weight in its block). Every other tensor and all the metadata are copied unchanged, so the
//! merged file keeps the base's tokenizer and chat template.

use super::model::Target;
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

/// The adapter pair (A `[r, in]`, B `[out, r]`) of GGUF tensor `blk.N.<target>.weight`, by its
/// PEFT names in a checkpoint.
fn pair<'a>(adapters: &'a HashMap<String, Tensor>, name: &str) -> Option<(&'a Tensor, &'a Tensor)> {
    let (layer, module) = super::model::gguf_block(name)?;
    let t = Target::ALL.into_iter().find(|t| t.gguf() == module)?;
    let base = t.peft(layer);
    Some((
        adapters.get(&format!("{base}.lora_A.weight"))?,
        adapters.get(&format!("{base}.lora_B.weight"))?,
    ))
}

/// What [`merge`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub tensors: usize,
    pub merged: usize,
    pub bytes: u64,
}

/// Writes `base` with `adapters` (a checkpoint's, PEFT names, GGUF row order) merged in at
/// `scale`, to `out` (temporary file, fsync, rename). `name` goes into `general.name`.
pub fn merge(
    base: &Path,
    adapters: &HashMap<String, Tensor>,
    scale: f64,
    name: &str,
    out: &Path,
) -> Result<Merged, String> {
    let err = |e: candle_core::Error| format!("{}: {e}", base.display());
    let mut f = std::fs::File::open(base).map_err(|e| format!("{}: {e}", base.display()))?;
    let ct = gguf_file::Content::read(&mut f)
        .map_err(|e| format!("{}: not a GGUF file: {e}", base.display()))?;
    let cpu = Device::Cpu;
    let mut names: Vec<&String> = ct.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    let mut merged = 0;
    for n in names {
        let qt = ct.tensor(&mut f, n, &cpu).map_err(err)?;
        let qt = match pair(adapters, n) {
            Some((a, b)) => {
                let w = qt.dequantize(&cpu).map_err(err)?;
                let delta = (b
                    .to_dtype(DType::F32)
                    .map_err(err)?
                    .matmul(&a.to_dtype(DType::F32).map_err(err)?)
                    .map_err(err)?
                    * scale)
                    .map_err(err)?;
                if delta.dims() != w.dims() {
                    return Err(format!("{n}: the adapter makes {:?}, the base has {:?} (an adapter of another model?)", delta.dims(), w.dims()));
                }
                merged += 1;
                QTensor::quantize(&(w + delta).map_err(err)?, GgmlDType::F32).map_err(err)?
            }
            None => qt,
        };
        tensors.push((n.clone(), qt));
    }
    let want = adapters.keys().filter(|k| k.ends_with("lora_A.weight")).count();
    if merged != want {
        return Err(format!("{} of {want} adapters found a projection of {} to merge into (an adapter of another model?)", merged, base.display()));
    }
    let mut md: Vec<(&str, gguf_file::Value)> = ct
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "general.name")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    md.push(("general.name", gguf_file::Value::String(name.to_owned())));
    md.sort_by(|a, b| a.0.cmp(b.0));
    let md: Vec<(&str, &gguf_file::Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut buf = Cursor::new(Vec::new());
    gguf_file::write(&mut buf, &md, &ts).map_err(|e| format!("{}: {e}", out.display()))?;
    if let Some(p) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    crate::fsio::write_atomic(out, |w| w.write_all(buf.get_ref()))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(Merged { tensors: tensors.len(), merged, bytes: buf.get_ref().len() as u64 })
}
