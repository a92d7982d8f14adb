//! The local engine as a [`Generator`](super::Generator): a llama-family GGUF run on our own
//! kernels (`engine`), with the tokenizer and chat template from the file.
//!
//! A [`LocalModel`] is a handle on one engine thread; [`LocalModel::handle`] makes more, and
//! requests sent from several threads at once decode together as one batch.

use super::engine::forward::Engine;
use super::engine::kernels::Kernels;
use super::engine::model::{Config, Weights};
use super::engine::sched::{Request, Scheduler};
use super::engine::server::{self, Handle, Info};
use super::engine::Isa;
use super::sampling::GenParams;
use super::template::ChatTemplate;
use super::{tokenizer, LlmError};
use crate::sample::Message;
use candle_core::quantized::gguf_file;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
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
    /// The model's reasoning, kept apart from `text` (an endpoint's `reasoning_content`, or a
    /// leading `<think>…</think>`); provenance keeps it, the sample does not.
    pub reasoning: Option<String>,
}

/// How to load: each field left `None` takes its default.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The kernels' instruction set (default: `DISTILLERY_ISA`, else the best this CPU runs).
    pub isa: Option<Isa>,
    /// Threads (default: `DISTILLERY_THREADS`, else `RAYON_NUM_THREADS`, else the CPU count).
    pub threads: Option<usize>,
    /// Most rows decoding at once (default 16).
    pub max_rows: Option<usize>,
    /// The KV cache's size in MB (default: `DISTILLERY_KV_MB`, else 512).
    pub kv_mb: Option<usize>,
}

fn env_usize(key: &str) -> Option<usize> {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0)
}

/// A loaded model with its tokenizer and chat template.
#[derive(Clone)]
pub struct LocalModel {
    engine: Handle,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    pub path: PathBuf,
    /// How many tensors were re-quantized to Q8_0 at load (block types the kernels do not read).
    pub requantized: usize,
    cancel: Option<Arc<AtomicBool>>,
    /// The vocabulary's texts for constrained decoding (built on first use).
    table: Arc<std::sync::OnceLock<Arc<crate::llm::grammar::mask::TokenTable>>>,
}

fn meta_str(content: &gguf_file::Content, key: &str) -> Option<String> {
    content.metadata.get(key).and_then(|v| v.to_string().ok()).cloned()
}

/// The file's chat template (ChatML when it has none), with its BOS and EOS token texts.
pub fn chat_template(content: &gguf_file::Content, tokenizer: &Tokenizer) -> ChatTemplate {
    let token_text = |key: &str| {
        content
            .metadata
            .get(key)
            .and_then(|v| v.to_u32().ok())
            .and_then(|id| tokenizer.id_to_token(id))
            .unwrap_or_default()
    };
    match meta_str(content, "tokenizer.chat_template") {
        Some(source) => ChatTemplate::Jinja {
            source,
            bos: token_text("tokenizer.ggml.bos_token_id"),
            eos: token_text("tokenizer.ggml.eos_token_id"),
        },
        None => ChatTemplate::ChatMl,
    }
}

/// The engine and its queue for a GGUF file, without a thread (tests drive the batching step by
/// step), with what the engine runs on, the tokenizer and the chat template.
pub fn open(
    path: &Path,
    o: &LoadOptions,
) -> Result<(Scheduler, Info, Tokenizer, ChatTemplate), LlmError> {
    let isa = Isa::select(o.isa).map_err(|e| LlmError::model(path, e))?;
    let kernels = Kernels::new(isa).map_err(|e| LlmError::model(path, e))?;
    let auto = o.isa.is_none() && std::env::var_os("DISTILLERY_ISA").is_none();
    let mut f = std::fs::File::open(path)
        .map_err(|e| LlmError::model(path, format!("cannot open: {e}")))?;
    let content = gguf_file::Content::read(&mut f)
        .map_err(|e| LlmError::model(path, format!("not a readable GGUF file: {e}")))?;
    let arch = meta_str(&content, "general.architecture").unwrap_or_default();
    if arch != "llama" {
        return Err(LlmError::model(
            path,
            format!("architecture `{arch}`: the local engine runs llama-family models"),
        ));
    }
    let tokenizer = tokenizer::from_gguf(&content.metadata, path)?;
    let template = chat_template(&content, &tokenizer);
    let mut stop_ids: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>"]
        .iter()
        .filter_map(|t| tokenizer.token_to_id(t))
        .collect();
    if let Some(eos) =
        content.metadata.get("tokenizer.ggml.eos_token_id").and_then(|v| v.to_u32().ok())
    {
        stop_ids.push(eos);
    }
    let w = Weights::from_gguf(&content, &mut f).map_err(|e| {
        LlmError::model(path, format!("cannot build the model (truncated or damaged file?): {e}"))
    })?;
    let threads = o
        .threads
        .or_else(|| env_usize("DISTILLERY_THREADS"))
        .or_else(|| env_usize("RAYON_NUM_THREADS"))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let kv_mb = o.kv_mb.or_else(|| env_usize("DISTILLERY_KV_MB")).unwrap_or(512);
    let max_rows = o.max_rows.unwrap_or(16);
    let (formats, bytes_per_token, cfg, requantized) =
        (w.formats(), w.bytes_per_token(), w.cfg.clone(), w.requantized);
    let engine = Engine::new(w, kernels, threads, kv_mb << 20);
    let info = Info {
        isa,
        auto,
        threads: engine.pool.threads(),
        max_rows,
        kv: engine.kv.ty,
        kv_limit_mb: kv_mb,
        formats,
        requantized,
        bytes_per_token,
        cfg,
    };
    let sched = Scheduler::new(engine, tokenizer.clone(), stop_ids, max_rows);
    Ok((sched, info, tokenizer, template))
}

impl LocalModel {
    /// Loads a llama-family GGUF with the default options.
    pub fn load(path: &Path) -> Result<LocalModel, LlmError> {
        Self::load_with(path, &LoadOptions::default())
    }

    /// Loads a llama-family GGUF: its Q4_1, Q4_0 and Q8_0 matrices repacked once for the kernels,
    /// float ones kept as f32, other block types re-quantized to Q8_0. Starts the engine thread.
    pub fn load_with(path: &Path, o: &LoadOptions) -> Result<LocalModel, LlmError> {
        let (sched, info, tokenizer, template) = open(path, o)?;
        tracing::info!("local engine: {}: {}", path.display(), info.describe());
        let requantized = info.requantized;
        let engine = server::spawn(sched, info)?;
        Ok(LocalModel {
            engine,
            tokenizer,
            template,
            path: path.to_owned(),
            requantized,
            cancel: None,
            table: Arc::default(),
        })
    }

    /// Another handle on the same engine (its own cancel flag): requests from both decode
    /// together.
    pub fn handle(&self) -> LocalModel {
        LocalModel { cancel: None, ..self.clone() }
    }

    /// What the engine runs on.
    pub fn info(&self) -> &Info {
        &self.engine.info
    }

    /// The kernels' instruction set.
    pub fn isa(&self) -> Isa {
        self.engine.info.isa
    }

    /// Threads taking part from now on (the workbench lowers it while a trainer runs).
    pub fn set_threads(&self, n: usize) {
        self.engine.set_threads(n);
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
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| LlmError::Run(format!("tokenizing: {e}")))?
            .get_ids()
            .to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.tokenizer.decode(ids, false).map_err(|e| LlmError::Run(format!("decoding: {e}")))
    }

    /// `n` answers to one conversation. Sample `i` uses the seed `params.seed + i`, so the same
    /// seed gives the same texts.
    pub fn generate(
        &mut self,
        messages: &[Message],
        p: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let prompt = self.prompt(messages)?;
        self.complete(&prompt, p, n)
    }

    /// `n` continuations of a raw prompt (already in the model's format, or plain text). The
    /// prompt is computed once (its start reused from the cache when an earlier prompt began the
    /// same way) and the `n` rows decode together. Row `i` is seeded `params.seed + i`.
    pub fn complete(
        &mut self,
        prompt: &str,
        p: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let ids = self.encode(prompt)?;
        self.complete_ids(ids, p, n, false)
    }

    /// [`LocalModel::complete`] on token ids; `ignore_eos` decodes exactly `max_tokens` per row.
    pub fn complete_ids(
        &self,
        ids: Vec<u32>,
        p: &GenParams,
        n: usize,
        ignore_eos: bool,
    ) -> Result<Vec<Completion>, LlmError> {
        self.engine.generate(Request {
            ids,
            params: p.clone(),
            n: n.max(1),
            ignore_eos,
            cancel: self.cancel.clone(),
            constraint: None,
        })
    }

    /// `n` answers to `messages` that are JSON matching `schema`: decoding is constrained by the
    /// schema's grammar at every step (see [`crate::llm::grammar`]).
    pub fn generate_constrained(
        &mut self,
        messages: &[Message],
        schema: &serde_json::Value,
        p: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let grammar = crate::llm::grammar::Grammar::from_schema(schema)
            .map_err(|e| LlmError::Run(format!("output schema: {e}")))?;
        let constraint = crate::llm::grammar::Constraint { grammar, table: self.token_table() };
        let ids = self.encode(&self.prompt(messages)?)?;
        self.engine.generate(Request {
            ids,
            params: p.clone(),
            n: n.max(1),
            ignore_eos: false,
            cancel: self.cancel.clone(),
            constraint: Some(Arc::new(constraint)),
        })
    }

    /// Every token's text, built once per model and shared by its handles.
    pub fn token_table(&self) -> Arc<crate::llm::grammar::mask::TokenTable> {
        let table = || crate::llm::grammar::mask::TokenTable::from_tokenizer(&self.tokenizer);
        self.table.get_or_init(|| Arc::new(table())).clone()
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.engine.info.cfg
    }

    /// Engine timing for benchmarks: computes `ids` from an empty cache, then `steps` greedy
    /// steps for `k` rows, never stopping early.
    pub fn measure(
        &mut self,
        ids: &[u32],
        k: usize,
        steps: usize,
    ) -> Result<server::Measured, LlmError> {
        self.engine.measure(ids, k, steps)
    }
}

impl super::Generator for LocalModel {
    fn generate(
        &mut self,
        messages: &[Message],
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        LocalModel::generate(self, messages, params, n)
    }

    fn complete(
        &mut self,
        prompt: &str,
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        LocalModel::complete(self, prompt, params, n)
    }

    fn generate_prefixed(
        &mut self,
        messages: &[Message],
        prefix: &str,
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let prompt = self.prompt(messages)? + prefix;
        let mut out = LocalModel::complete(self, &prompt, params, n)?;
        out.iter_mut().for_each(|c| c.text.insert_str(0, prefix));
        Ok(out)
    }

    /// Constrained by the schema's grammar (the prefix is not needed: the grammar writes the
    /// JSON's fixed parts itself).
    fn generate_json(
        &mut self,
        messages: &[Message],
        schema: &serde_json::Value,
        _prefix: &str,
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.generate_constrained(messages, schema, params, n)
    }

    fn set_cancel(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }

    fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    fn handle(&self) -> Option<Box<dyn super::Generator + Send>> {
        Some(Box::new(LocalModel::handle(self)))
    }

    fn parallelism(&self) -> usize {
        self.engine.info.max_rows
    }

    fn engine(&self) -> Option<String> {
        Some(self.engine.info.short())
    }
}
