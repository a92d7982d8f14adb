//! A PEFT LoRA adapter from a training checkpoint: `adapter_config.json` and
//! `adapter_model.safetensors` with Hugging Face names, shapes `[r, in]` / `[out, r]`, and the
//! rows of q's and k's `B` un-permuted from GGUF order (llama.cpp's converter permutes q and k
//! for the interleaved rope; Hugging Face keeps the halves apart).

use candle_core::{Device, Tensor};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;

/// GGUF row order → Hugging Face row order for a q or k projection's output rows: llama.cpp
/// converts with `w.reshape(heads, 2, d/2, in).swapaxes(1, 2)`; this is its inverse.
pub fn unpermute_rows(t: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (out, cols) = t.dims2()?;
    let d = out / heads;
    t.reshape((heads, d / 2, 2, cols))?.transpose(1, 2)?.contiguous()?.reshape((out, cols))
}

/// llama.cpp's permutation (Hugging Face → GGUF), for tests and for merging back.
pub fn permute_rows(t: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (out, cols) = t.dims2()?;
    let d = out / heads;
    t.reshape((heads, 2, d / 2, cols))?.transpose(1, 2)?.contiguous()?.reshape((out, cols))
}

/// What the adapter is made of.
pub struct AdapterInfo<'a> {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f32,
    /// PEFT's module names: `q_proj`, `v_proj`, …
    pub modules: Vec<&'a str>,
    pub base_model: String,
    pub n_head: usize,
    pub n_kv_head: usize,
}

/// Writes the adapter folder `out` from a checkpoint's `adapter.safetensors`: into a temporary
/// folder first, then renamed into place.
pub fn write_peft(checkpoint: &Path, info: &AdapterInfo, out: &Path) -> Result<usize, String> {
    let src = checkpoint.join("adapter.safetensors");
    let tensors = candle_core::safetensors::load(&src, &Device::Cpu)
        .map_err(|e| format!("{}: {e}", src.display()))?;
    let mut hf: HashMap<String, Tensor> = HashMap::new();
    for (name, t) in tensors {
        let heads = if name.contains("self_attn.q_proj.lora_B") {
            Some(info.n_head)
        } else if name.contains("self_attn.k_proj.lora_B") {
            Some(info.n_kv_head)
        } else {
            None
        };
        let t = match heads {
            Some(h) => unpermute_rows(&t, h).map_err(|e| format!("{name}: {e}"))?,
            None => t,
        };
        hf.insert(name, t.to_dtype(candle_core::DType::F32).map_err(|e| e.to_string())?);
    }
    let n = hf.len();
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("adapter"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let st = tmp.join("adapter_model.safetensors");
    candle_core::safetensors::save(&hf, &st).map_err(|e| format!("{}: {e}", st.display()))?;
    let config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": info.rank,
        "lora_alpha": info.alpha,
        "lora_dropout": (info.dropout as f64 * 1e6).round() / 1e6,
        "target_modules": info.modules,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "base_model_name_or_path": info.base_model,
    });
    let cfg = tmp.join("adapter_config.json");
    std::fs::write(&cfg, serde_json::to_vec_pretty(&config).expect("json"))
        .map_err(|e| format!("{}: {e}", cfg.display()))?;
    for f in [&st, &cfg] {
        std::fs::File::open(f)
            .and_then(|f| f.sync_all())
            .map_err(|e| format!("{}: {e}", f.display()))?;
    }
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    std::fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermuting_inverts_llama_cpps_permutation() {
        // 2 heads of size 4 over 3 columns; row r holds r.
        let hf = Tensor::from_vec(
            (0..24).map(|x| (x / 3) as f32).collect::<Vec<_>>(),
            (8, 3),
            &Device::Cpu,
        )
        .unwrap();
        let gguf = permute_rows(&hf, 2).unwrap();
        // GGUF interleaves each head's halves: rows 0, 2, 1, 3 | 4, 6, 5, 7.
        let firsts: Vec<f32> =
            gguf.narrow(1, 0, 1).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(firsts, vec![0., 2., 1., 3., 4., 6., 5., 7.]);
        let back: Vec<f32> =
            unpermute_rows(&gguf, 2).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(back, hf.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }
}
