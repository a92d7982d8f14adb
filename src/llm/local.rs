//! The local engine: a llama-family GGUF run with candle on the CPU.

use super::sampling::{sample, GenParams, Rng};
use super::template::ChatTemplate;
use super::{tokenizer, LlmError};
use crate::sample::Message;
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use super::llama::{Llama, Prefix};
pub use super::weights::Kernel;
use candle_core::{DType, Device};
use serde::Serialize;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// An end-of-turn token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
}

/// One generated answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    pub text: String,
    pub tokens: Vec<u32>,
    /// Log-probability of each generated token under the model.
    pub logprobs: Vec<f32>,
    pub finish: FinishReason,
    pub prompt_tokens: usize,
    /// Generated tokens (endpoints report a count, not the ids).
    pub completion_tokens: usize,
}

/// A loaded model with its tokenizer and chat template.
pub struct LocalModel {
    model: Llama,
    /// The last prompt's keys and values, reused when the next prompt starts the same way.
    prefix: Prefix,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    stop_ids: Vec<u32>,
    pub path: PathBuf,
    /// How many tensors were re-quantized from Q4_1 to Q8_0 at load.
    pub requantized: usize,
    /// The kernel its matrices run on.
    pub kernel: Kernel,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// How many earlier tokens the repetition penalty looks at (llama.cpp's default).
const PENALTY_WINDOW: usize = 64;

fn meta_str(content: &gguf_file::Content, key: &str) -> Option<String> {
    content.metadata.get(key).and_then(|v| v.to_string().ok()).cloned()
}

/// The file's chat template (ChatML when it has none), with its BOS and EOS token texts.
pub fn chat_template(content: &gguf_file::Content, tokenizer: &Tokenizer) -> ChatTemplate {
    let token_text = |key: &str| content.metadata.get(key).and_then(|v| v.to_u32().ok()).and_then(|id| tokenizer.id_to_token(id)).unwrap_or_default();
    match meta_str(content, "tokenizer.chat_template") {
        Some(source) => ChatTemplate::Jinja { source, bos: token_text("tokenizer.ggml.bos_token_id"), eos: token_text("tokenizer.ggml.eos_token_id") },
        None => ChatTemplate::ChatMl,
    }
}

impl LocalModel {
    /// Loads a llama-family GGUF for the kernel this CPU runs best ([`Kernel::detect`]). Our
    /// packed kernel reads Q4_1 as it is; for candle's matmuls, Q4_1 tensors are re-quantized to
    /// Q8_0 (candle has only a scalar loop for Q4_1), and the re-quantized file is kept in the
    /// model cache's `derived/` folder, so later loads read it directly.
    pub fn load(path: &Path) -> Result<LocalModel, LlmError> {
        Self::load_with_cache(path, Some(&super::fetch::cache_dir().join("derived")))
    }

    /// Like [`LocalModel::load`], with the folder for re-quantized files (None: in memory only).
    pub fn load_with_cache(path: &Path, derived: Option<&Path>) -> Result<LocalModel, LlmError> {
        Self::load_with(path, derived, Kernel::detect())
    }

    /// Like [`LocalModel::load_with_cache`], for a given kernel.
    pub fn load_with(path: &Path, derived: Option<&Path>, kernel: Kernel) -> Result<LocalModel, LlmError> {
        let mut f = std::fs::File::open(path).map_err(|e| LlmError::model(path, format!("cannot open: {e}")))?;
        let content = gguf_file::Content::read(&mut f).map_err(|e| LlmError::model(path, format!("not a readable GGUF file: {e}")))?;
        let arch = meta_str(&content, "general.architecture").unwrap_or_default();
        if arch != "llama" {
            return Err(LlmError::model(path, format!("architecture `{arch}`: the local engine runs llama-family models")));
        }
        let tokenizer = tokenizer::from_gguf(&content.metadata, path)?;
        let template = chat_template(&content, &tokenizer);
        let mut stop_ids: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>"].iter().filter_map(|t| tokenizer.token_to_id(t)).collect();
        if let Some(eos) = content.metadata.get("tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().ok()) {
            stop_ids.push(eos);
        }
        let (model, requantized) = load_weights(content, &mut f, path, derived, kernel)?;
        let prefix = model.prefix()?;
        Ok(LocalModel { model, prefix, tokenizer, template, stop_ids, path: path.to_owned(), requantized, kernel, cancel: None })
    }

    /// The tokenizer built from the file.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The prompt text for a conversation.
    pub fn prompt(&self, messages: &[Message]) -> Result<String, LlmError> {
        self.template.render(messages).map_err(|e| LlmError::model(&self.path, e))
    }

    /// Token ids of a text (special tokens recognised, nothing added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        Ok(self.tokenizer.encode(text, false).map_err(|e| LlmError::Run(format!("tokenizing: {e}")))?.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.tokenizer.decode(ids, false).map_err(|e| LlmError::Run(format!("decoding: {e}")))
    }

    /// `n` answers to one conversation. Sample `i` uses the seed `params.seed + i`, so the same
    /// seed gives the same texts.
    pub fn generate(&mut self, messages: &[Message], p: &GenParams, n: usize) -> Result<Vec<Completion>, LlmError> {
        let prompt = self.prompt(messages)?;
        self.complete(&prompt, p, n)
    }

    /// `n` continuations of a raw prompt (already in the model's format, or plain text). The
    /// prompt is computed once (only the part that differs from the previous prompt), and the `n`
    /// rows decode together as one batch. Row `i` is seeded `params.seed + i`.
    pub fn complete(&mut self, prompt: &str, p: &GenParams, n: usize) -> Result<Vec<Completion>, LlmError> {
        let ids = self.encode(prompt)?;
        self.decode_rows(&ids, p, n)
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &super::llama::Config {
        &self.model.cfg
    }

    /// How many tokens of the last prompt are cached for reuse.
    pub fn cached_prefix(&self) -> usize {
        self.prefix.len()
    }

    /// Engine timing for benchmarks: computes `ids` from an empty cache, then `steps` greedy
    /// steps for `k` rows, never stopping early. Returns (prompt seconds, decode seconds).
    pub fn measure(&mut self, ids: &[u32], k: usize, steps: usize) -> Result<(f64, f64), LlmError> {
        self.prefix = self.model.prefix()?;
        let t0 = std::time::Instant::now();
        let first: Vec<f32> = self.model.prefill(&mut self.prefix, ids)?.to_vec1()?;
        let prompt_s = t0.elapsed().as_secs_f64();
        let greedy = |l: &[f32]| (0..l.len()).fold(0, |b, i| if l[i] > l[b] { i } else { b }) as u32;
        let mut rows = self.model.rows(k, steps)?;
        let mut next = vec![greedy(&first); k];
        let t1 = std::time::Instant::now();
        for _ in 0..steps {
            let logits: Vec<Vec<f32>> = self.model.step(&self.prefix, &mut rows, &next)?.to_vec2()?;
            next = logits.iter().map(|l| greedy(l)).collect();
        }
        Ok((prompt_s, t1.elapsed().as_secs_f64()))
    }

    /// Decodes `n` rows of the same prompt together (row `i` seeded `seed + i`).
    fn decode_rows(&mut self, ids: &[u32], p: &GenParams, n: usize) -> Result<Vec<Completion>, LlmError> {
        if ids.is_empty() {
            return Err(LlmError::Run("the prompt is empty".into()));
        }
        let n = n.max(1);
        let first: Vec<f32> = self.model.prefill(&mut self.prefix, ids)?.to_dtype(DType::F32)?.to_vec1()?;
        let mut rows_state = self.model.rows(n, p.max_tokens)?;
        let mut rows: Vec<Vec<f32>> = vec![first; n];
        let mut rngs: Vec<Rng> = (0..n as u64).map(|i| Rng::new(p.seed.wrapping_add(i))).collect();
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut lps: Vec<Vec<f32>> = vec![Vec::new(); n];
        let mut done: Vec<Option<(FinishReason, usize)>> = vec![None; n];
        for step in 0..p.max_tokens {
            if self.cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                return Err(LlmError::Cancelled);
            }
            let mut next = Vec::with_capacity(n);
            for i in 0..n {
                if done[i].is_some() {
                    next.push(self.stop_ids.first().copied().unwrap_or(0));
                    continue;
                }
                let mut seen: Vec<u32> = ids.iter().chain(out[i].iter()).copied().collect();
                seen.drain(..seen.len().saturating_sub(PENALTY_WINDOW));
                let (tok, lp) = sample(&rows[i], &seen, p, &mut rngs[i]);
                next.push(tok);
                if self.stop_ids.contains(&tok) {
                    done[i] = Some((FinishReason::Stop, usize::MAX));
                    continue;
                }
                out[i].push(tok);
                lps[i].push(lp);
                if !p.stop.is_empty() {
                    let text = self.decode(&out[i])?;
                    if let Some(at) = p.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                        done[i] = Some((FinishReason::Stop, at));
                    }
                }
            }
            if done.iter().all(Option::is_some) || step + 1 == p.max_tokens {
                break;
            }
            rows = self.model.step(&self.prefix, &mut rows_state, &next)?.to_dtype(DType::F32)?.to_vec2()?;
        }
        (0..n)
            .map(|i| {
                let (finish, cut) = done[i].unwrap_or((FinishReason::Length, usize::MAX));
                let mut text = self.decode(&out[i])?;
                text.truncate(cut.min(text.len()));
                Ok(Completion { text, tokens: out[i].clone(), logprobs: lps[i].clone(), finish, prompt_tokens: ids.len(), completion_tokens: out[i].len() })
            })
            .collect()
    }
}

impl super::Generator for LocalModel {
    fn generate(&mut self, messages: &[Message], params: &GenParams, n: usize) -> Result<Vec<Completion>, LlmError> {
        LocalModel::generate(self, messages, params, n)
    }

    fn complete(&mut self, prompt: &str, params: &GenParams, n: usize) -> Result<Vec<Completion>, LlmError> {
        LocalModel::complete(self, prompt, params, n)
    }

    fn generate_prefixed(&mut self, messages: &[Message], prefix: &str, params: &GenParams, n: usize) -> Result<Vec<Completion>, LlmError> {
        let prompt = self.prompt(messages)? + prefix;
        let mut out = LocalModel::complete(self, &prompt, params, n)?;
        out.iter_mut().for_each(|c| c.text.insert_str(0, prefix));
        Ok(out)
    }

    fn set_cancel(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.cancel = Some(flag);
    }

    fn name(&self) -> String {
        self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// The cached Q8_0 copy of `path`, keyed by its canonical path, size and modification time.
fn derived_path(path: &Path, dir: &Path) -> Option<PathBuf> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    let canon = path.canonicalize().ok()?;
    let key = crate::recipes::template_hash(&format!("{}:{}:{mtime}", canon.display(), meta.len()));
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    Some(dir.join(format!("{stem}-{key}.q8_0.gguf")))
}

/// Builds the model. Our packed kernel reads Q4_1 as it is; for candle's matmuls, files with
/// Q4_1 tensors are re-quantized to Q8_0 once, into `derived`.
fn load_weights(content: gguf_file::Content, f: &mut std::fs::File, path: &Path, derived: Option<&Path>, kernel: Kernel) -> Result<(Llama, usize), LlmError> {
    let q4_1 = content.tensor_infos.values().filter(|t| t.ggml_dtype == GgmlDType::Q4_1).count();
    if q4_1 == 0 || kernel == Kernel::Packed {
        let w = Llama::from_gguf_with(&content, f, kernel).map_err(|e| LlmError::model(path, format!("cannot build the model (truncated or damaged file?): {e}")))?;
        return Ok((w, 0));
    }
    let cached = derived.and_then(|d| derived_path(path, d));
    if let Some(c) = cached.as_ref().filter(|c| c.exists()) {
        let from_cache = std::fs::File::open(c).ok().and_then(|mut cf| {
            let ct = gguf_file::Content::read(&mut cf).ok()?;
            Llama::from_gguf_with(&ct, &mut cf, kernel).ok()
        });
        if let Some(w) = from_cache {
            return Ok((w, q4_1));
        }
        tracing::warn!("{}: unreadable cached copy, rebuilding it", c.display());
    }
    let tensors = requantize(&content, f, path)?;
    let md: Vec<(&str, &gguf_file::Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    if let Some(c) = &cached {
        let written = c.parent().map(std::fs::create_dir_all).transpose().ok().and_then(|_| {
            crate::fsio::write_atomic(c, |w| {
                let mut buf = Cursor::new(Vec::new());
                gguf_file::write(&mut buf, &md, &ts).map_err(std::io::Error::other)?;
                w.write_all(buf.get_ref())
            })
            .ok()
        });
        if written.is_some() {
            drop(ts);
            drop(tensors);
            let mut cf = std::fs::File::open(c).map_err(|e| LlmError::model(c, format!("cannot open: {e}")))?;
            let ct = gguf_file::Content::read(&mut cf)?;
            let w = Llama::from_gguf_with(&ct, &mut cf, kernel).map_err(|e| LlmError::model(c, format!("cannot build the model (truncated or damaged file?): {e}")))?;
            return Ok((w, q4_1));
        }
    }
    // No cache folder, or it cannot be written: build the model from memory.
    let mut buf = Cursor::new(Vec::new());
    gguf_file::write(&mut buf, &md, &ts)?;
    drop(ts);
    drop(tensors);
    buf.set_position(0);
    let ct = gguf_file::Content::read(&mut buf)?;
    let w = Llama::from_gguf_with(&ct, &mut buf, kernel).map_err(|e| LlmError::model(path, format!("cannot build the model (truncated or damaged file?): {e}")))?;
    Ok((w, q4_1))
}

/// Every tensor, with Q4_1 ones re-quantized to Q8_0.
fn requantize(content: &gguf_file::Content, f: &mut std::fs::File, path: &Path) -> Result<Vec<(String, QTensor)>, LlmError> {
    let cpu = Device::Cpu;
    let mut tensors = Vec::with_capacity(content.tensor_infos.len());
    for name in content.tensor_infos.keys() {
        let qt = content
            .tensor(f, name, &cpu)
            .map_err(|e| LlmError::model(path, format!("tensor `{name}` cannot be read (truncated file?): {e}")))?;
        let qt = if qt.dtype() == GgmlDType::Q4_1 { QTensor::quantize(&qt.dequantize(&cpu)?, GgmlDType::Q8_0)? } else { qt };
        tensors.push((name.clone(), qt));
    }
    Ok(tensors)
}
