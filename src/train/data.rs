//! A round's training data: each sample rendered with the model's own chat template, as the
//! inference engine renders prompts, and tokenized with the response marked (the loss counts
//! only those tokens).
//!
//! What a round trains on: the accepted set with the curator's edits applied, optionally mixed
//! with a share of the real seed examples (against forgetting). Eval items live in their own
//! table and never reach here.

use crate::llm::template::ChatTemplate;
use crate::llm::LlmError;
use crate::sample::{Message, Role, SampleText, Status};
use crate::store::{Store, StoreError};
use candle_core::quantized::gguf_file;
use std::path::Path;
use tokenizers::Tokenizer;

/// One training example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Where it came from ("sample #12", "seed #3"): what errors and reports name.
    pub source: String,
    pub ids: Vec<u32>,
    /// `ids[response_start..]` is the response (the answer and its end-of-turn token).
    pub response_start: usize,
}

/// The model's chat template and tokenizer.
pub struct Formatter {
    tokenizer: Tokenizer,
    template: ChatTemplate,
}

impl Formatter {
    /// Reads both from a llama-family GGUF (no weights are loaded).
    pub fn from_gguf(path: &Path) -> Result<Formatter, LlmError> {
        let mut f = std::fs::File::open(path)
            .map_err(|e| LlmError::model(path, format!("cannot open: {e}")))?;
        let content = gguf_file::Content::read(&mut f)
            .map_err(|e| LlmError::model(path, format!("not a readable GGUF file: {e}")))?;
        let tokenizer = crate::llm::tokenizer::from_gguf(&content.metadata, path)?;
        let template = crate::llm::local::chat_template(&content, &tokenizer);
        Ok(Formatter { tokenizer, template })
    }

    /// Reads both from a Hugging Face folder: `tokenizer.json`, and the chat template with its
    /// BOS and EOS tokens from `tokenizer_config.json` (ChatML when it has none).
    pub fn from_hf_dir(dir: &Path) -> Result<Formatter, LlmError> {
        let tp = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tp)
            .map_err(|e| LlmError::model(&tp, format!("cannot read the tokenizer: {e}")))?;
        let cp = dir.join("tokenizer_config.json");
        let cfg: serde_json::Value = match std::fs::read_to_string(&cp) {
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| LlmError::model(&cp, format!("not JSON: {e}")))?,
            Err(_) => serde_json::Value::Null,
        };
        // A special token is a string or an object with its `content`.
        let token = |k: &str| {
            cfg.get(k)
                .and_then(|v| v.as_str().or_else(|| v.get("content")?.as_str()))
                .unwrap_or_default()
                .to_owned()
        };
        let template = match cfg.get("chat_template").and_then(|v| v.as_str()) {
            Some(source) => ChatTemplate::Jinja {
                source: source.to_owned(),
                bos: token("bos_token"),
                eos: token("eos_token"),
            },
            None => ChatTemplate::ChatMl,
        };
        Ok(Formatter { tokenizer, template })
    }

    /// From a GGUF file or a Hugging Face folder.
    pub fn from_path(path: &Path) -> Result<Formatter, LlmError> {
        if path.is_dir() {
            Self::from_hf_dir(path)
        } else {
            Self::from_gguf(path)
        }
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| format!("tokenizing: {e}"))?
            .get_ids()
            .to_vec())
    }

    /// The example for one sample: the prompt as inference renders it (the assistant's turn
    /// opened), then the answer as the template closes it.
    pub fn example(&self, source: String, text: &SampleText) -> Result<Example, String> {
        let mut messages = text.to_messages();
        let answer = messages.pop().map(|m| m.content).unwrap_or_default();
        let prompt =
            self.template.render_with(&messages, true).map_err(|e| format!("{source}: {e}"))?;
        messages.push(Message { role: Role::Assistant, content: answer.clone() });
        let whole =
            self.template.render_with(&messages, false).map_err(|e| format!("{source}: {e}"))?;
        let response = match whole.strip_prefix(&prompt) {
            Some(r) if r.starts_with(&answer) => r.to_owned(),
            _ => return Err(format!("{source}: the chat template does not render the answer after the prompt it renders for inference")),
        };
        let mut ids = self.encode(&prompt).map_err(|e| format!("{source}: {e}"))?;
        let response_start = ids.len();
        ids.extend(self.encode(&response).map_err(|e| format!("{source}: {e}"))?);
        Ok(Example { source, ids, response_start })
    }
}

/// What a round trains on, and how it was made.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoundData {
    pub texts: Vec<(String, SampleText)>,
    /// Accepted or edited samples (synthetic), and real seed examples mixed in.
    pub synthetic: usize,
    pub real: usize,
    /// The task the round is limited to (None: all tasks).
    pub task: Option<String>,
}

/// The accepted set (edits applied) of `task` (all tasks when None), plus real seed examples up
/// to `seed_share` of the whole (0.2: one example in five is real).
pub fn round_data(
    store: &Store,
    task: Option<&str>,
    seed_share: f64,
) -> Result<RoundData, StoreError> {
    let of_task = |t: &Option<String>| task.is_none() || t.as_deref() == task;
    let mut texts: Vec<(String, SampleText)> = store
        .export_rows(&[Status::Accepted, Status::Edited])?
        .into_iter()
        .filter(|r| of_task(&r.task))
        .map(|r| (format!("sample #{}", r.id), r.current))
        .collect();
    let synthetic = texts.len();
    let share = seed_share.clamp(0.0, 0.95);
    let want =
        if share > 0.0 { (synthetic as f64 * share / (1.0 - share)).round() as usize } else { 0 };
    let mut real = Vec::new();
    for s in store.seeds()?.into_iter().filter(|s| of_task(&s.task)) {
        for (i, inst) in
            s.seed.instances.iter().enumerate().filter(|(_, i)| !i.output.trim().is_empty())
        {
            real.push((
                format!("seed #{} example {}", s.id, i + 1),
                SampleText::new(
                    s.seed.instruction.clone(),
                    inst.input.clone(),
                    inst.output.clone(),
                ),
            ));
        }
    }
    real.truncate(want);
    let n_real = real.len();
    texts.extend(real);
    Ok(RoundData { texts, synthetic, real: n_real, task: task.map(str::to_owned) })
}

/// Tokenizes a round's data; every sample longer than `max_len` tokens is named in one error.
pub fn examples(f: &Formatter, data: &RoundData, max_len: usize) -> Result<Vec<Example>, String> {
    if data.texts.is_empty() {
        let of = data.task.as_deref().map_or(String::new(), |t| format!(" of task {t:?}"));
        return Err(format!("nothing to train on: no accepted samples{of} (accept some in the workbench, or import a file as accepted)"));
    }
    let mut out = Vec::with_capacity(data.texts.len());
    let mut long = Vec::new();
    for (source, text) in &data.texts {
        let e = f.example(source.clone(), text)?;
        if e.ids.len() > max_len {
            long.push(format!("{source} ({} tokens)", e.ids.len()));
        }
        out.push(e);
    }
    if !long.is_empty() {
        let more =
            if long.len() > 5 { format!(" and {} more", long.len() - 5) } else { String::new() };
        long.truncate(5);
        return Err(format!("longer than the maximum length of {max_len} tokens: {}{more}; raise --max-len, or edit or reject them", long.join(", ")));
    }
    Ok(out)
}
