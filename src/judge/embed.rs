//! Sentence embeddings with all-MiniLM-L6-v2 on candle: BERT, mean pooling over the real tokens,
//! L2-normalised (what sentence-transformers does for this model). Used for near-duplicates and
//! for grouping long free-text answers in a vote.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::{Path, PathBuf};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The embedding model's folder in the cache.
pub fn default_dir() -> PathBuf {
    crate::llm::fetch::cache_dir().join(crate::llm::fetch::MINILM)
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{path}: {detail}")]
    Load { path: PathBuf, detail: String },
    #[error("embedding: {0}")]
    Run(String),
}

fn run_err(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Run(e.to_string())
}

/// Texts embedded per forward pass.
const BATCH: usize = 16;
/// Tokens kept per text (the model was trained on 256 at most).
const MAX_TOKENS: usize = 256;

/// A loaded embedding model.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    name: String,
}

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        let err = |file: &str, detail: String| EmbedError::Load { path: dir.join(file), detail };
        let config = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| err("config.json", e.to_string()))?;
        let config: Config =
            serde_json::from_str(&config).map_err(|e| err("config.json", e.to_string()))?;
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| err("tokenizer.json", e.to_string()))?;
        let weights = dir.join("model.safetensors");
        if !weights.exists() {
            return Err(err(
                "model.safetensors",
                "no such file; run `distillery models fetch`".into(),
            ));
        }
        // SAFETY: the file is mapped read-only and not modified while the model lives.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
                .map_err(|e| err("model.safetensors", e.to_string()))?;
        let model =
            BertModel::load(vb, &config).map_err(|e| err("model.safetensors", e.to_string()))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "embedder".into());
        Embedder::new(model, tokenizer, name)
    }

    /// The embedding model from the cache when it is there; else `say` hears why not (and
    /// neighbours use ROUGE-L alone).
    pub fn from_cache(say: &mut dyn FnMut(String)) -> Option<Embedder> {
        match Embedder::load(&default_dir()) {
            Ok(e) => Some(e),
            Err(e) => {
                say(format!("embeddings off, near-duplicates by ROUGE-L only: {e} (`distillery models fetch` gets all-MiniLM-L6-v2)"));
                None
            }
        }
    }

    /// An embedder from parts (tests build a tiny random BERT).
    pub fn new(
        model: BertModel,
        mut tokenizer: Tokenizer,
        name: String,
    ) -> Result<Embedder, EmbedError> {
        // The shipped tokenizer pads every text to 128; pad to the longest in a batch instead.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(run_err)?;
        Ok(Embedder { model, tokenizer, name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One unit vector per text.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let enc = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(run_err)?;
        let dev = &self.model.device;
        let ids: Vec<Tensor> = enc
            .iter()
            .map(|e| Tensor::new(e.get_ids(), dev))
            .collect::<Result<_, _>>()
            .map_err(run_err)?;
        let mask: Vec<Tensor> = enc
            .iter()
            .map(|e| Tensor::new(e.get_attention_mask(), dev))
            .collect::<Result<_, _>>()
            .map_err(run_err)?;
        let ids = Tensor::stack(&ids, 0).map_err(run_err)?;
        let mask = Tensor::stack(&mask, 0).map_err(run_err)?;
        let types = ids.zeros_like().map_err(run_err)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask)).map_err(run_err)?;
        // Mean over the real tokens only.
        let m = mask.to_dtype(DType::F32).map_err(run_err)?.unsqueeze(2).map_err(run_err)?;
        let summed = hidden.broadcast_mul(&m).and_then(|t| t.sum(1)).map_err(run_err)?;
        let counts = m.sum(1).and_then(|c| c.clamp(1e-9f32, f32::MAX)).map_err(run_err)?;
        let mean = summed.broadcast_div(&counts).map_err(run_err)?;
        let rows: Vec<Vec<f32>> = mean.to_vec2().map_err(run_err)?;
        Ok(rows.into_iter().map(normalise).collect())
    }
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// Cosine similarity (0 when either is zero or they differ in length).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// A vector as stored: little-endian f32s.
pub fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_blobs() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6, "scale does not matter");
        assert!((cosine(&[1.0, 0.0], &[-1.0, 0.0]) + 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
        let v = vec![0.25f32, -1.5, 3.0e-7];
        assert_eq!(from_blob(&to_blob(&v)), v);
        let n = normalise(vec![3.0, 4.0]);
        assert!((n[0] - 0.6).abs() < 1e-6 && (n[1] - 0.8).abs() < 1e-6);
    }
}
