//! Hugging Face llama folders as training bases: `config.json` and `*.safetensors`, mapped onto
//! the GGUF names the model is built from, with q's and k's rows permuted into GGUF order (what
//! the interleaved rope of the training forward expects, as llama.cpp's converter does).

use super::model::{Head, LoraConfig, Target, TrainModel};
use candle_core::{DType, Device, Result};
use std::path::Path;

impl TrainModel {
    /// Loads a Hugging Face llama directory (`config.json` and `*.safetensors`), with q's and k's
    /// rows permuted into GGUF order (what the interleaved rope of this forward expects).
    pub fn from_hf_dir(dir: &Path, lora: &LoraConfig, dtype: DType) -> Result<TrainModel> {
        let cfg = HfConfig::read(dir)?;
        let files = hf_weight_files(dir)?;
        let st = unsafe { candle_core::safetensors::MmapedSafetensors::multi(&files)? };
        let head = Head {
            n_layer: cfg.num_hidden_layers,
            n_head: cfg.num_attention_heads,
            n_kv_head: cfg.kv_heads(),
            hidden: cfg.hidden_size,
            eps: cfg.rms_norm_eps as f32,
            rope_base: cfg.rope_theta as f32,
            tied: cfg.tie_word_embeddings,
        };
        let (nh, nkv) = (head.n_head, head.n_kv_head);
        TrainModel::build(dir, &head, lora, dtype, &mut |name: &str| {
            let (hf, heads) = hf_name(name);
            let t = st.load(&hf, &Device::Cpu)?.to_dtype(DType::F32)?;
            match heads {
                Some(HeadsOf::Q) => super::export::permute_rows(&t, nh),
                Some(HeadsOf::K) => super::export::permute_rows(&t, nkv),
                None => Ok(t),
            }
        })
    }
}

/// The fields of a Hugging Face llama `config.json` training needs.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HfConfig {
    #[serde(default)]
    pub model_type: String,
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    pub num_hidden_layers: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default, rename = "_name_or_path")]
    pub name_or_path: Option<String>,
}

fn default_eps() -> f64 {
    1e-6
}

fn default_theta() -> f64 {
    10_000.0
}

impl HfConfig {
    /// Reads `dir/config.json`; errors name the file and field.
    pub fn read(dir: &Path) -> Result<HfConfig> {
        let p = dir.join("config.json");
        let text = std::fs::read_to_string(&p).map_err(|e| {
            candle_core::Error::Msg(format!(
                "{}: {e} (a Hugging Face model folder has config.json and *.safetensors)",
                p.display()
            ))
        })?;
        let c: HfConfig = serde_json::from_str(&text)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", p.display())))?;
        if !c.model_type.is_empty() && c.model_type != "llama" {
            candle_core::bail!(
                "{}: model_type {:?}; training needs a llama-family model",
                p.display(),
                c.model_type
            );
        }
        Ok(c)
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }
}

/// The `*.safetensors` files of a Hugging Face folder, in name order.
pub fn hf_weight_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        candle_core::bail!("{}: no *.safetensors weights", dir.display());
    }
    Ok(files)
}

enum HeadsOf {
    Q,
    K,
}

/// The Hugging Face name of a GGUF tensor name, and whether its rows need llama.cpp's q/k
/// permutation.
fn hf_name(gguf: &str) -> (String, Option<HeadsOf>) {
    match gguf {
        "token_embd.weight" => return ("model.embed_tokens.weight".into(), None),
        "output.weight" => return ("lm_head.weight".into(), None),
        "output_norm.weight" => return ("model.norm.weight".into(), None),
        _ => {}
    }
    let (layer, module) = super::model::gguf_block(gguf).unwrap_or((gguf, ""));
    let (hf, heads) = match module {
        "attn_norm" => ("input_layernorm", None),
        "ffn_norm" => ("post_attention_layernorm", None),
        m => match Target::ALL.into_iter().find(|t| t.gguf() == m) {
            Some(t) => (
                t.hf(),
                if t == Target::Q {
                    Some(HeadsOf::Q)
                } else if t == Target::K {
                    Some(HeadsOf::K)
                } else {
                    None
                },
            ),
            None => (m, None),
        },
    };
    (format!("model.layers.{layer}.{hf}.weight"), heads)
}
