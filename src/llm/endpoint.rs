//! One OpenAI-compatible endpoint's settings (`[endpoints.NAME]` in `distillery.toml`) and its
//! client's counters.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// One `[endpoints.NAME]` table of `distillery.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// For example `http://localhost:8000/v1` (the part before `/chat/completions`).
    pub base_url: String,
    /// The model name the server expects.
    pub model: String,
    /// The name of the environment variable holding the API key (the key itself is never stored).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_connect")]
    pub connect_timeout_s: f64,
    /// The longest wait for the response or its next chunk.
    #[serde(default = "default_idle")]
    pub idle_timeout_s: f64,
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// Tokens (prompt + completion) one run may spend; the run stops hard when it is used up.
    #[serde(default)]
    pub token_budget: Option<u64>,
    /// Ask for the chosen tokens' log-probabilities (the judge's confidence and weighted votes
    /// use them). A server that refuses them is asked again without, once per client.
    #[serde(default = "default_logprobs")]
    pub logprobs: bool,
    /// The kind of server (`auto`, `openai`, `vllm`, `sglang`, `llamacpp`, `ollama`): which
    /// fields beyond the standard ones a request carries, and under which names.
    #[serde(default)]
    pub flavor: super::openai::Flavor,
    /// Merged into every request body last (`chat_template_kwargs`, guided decoding, …).
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Extra HTTP headers, as written.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Extra HTTP headers whose values are secrets: header name → the environment variable
    /// holding the value (Azure's `api-key`); redacted from every error like the API key.
    #[serde(default)]
    pub header_env: std::collections::BTreeMap<String, String>,
    /// The most bytes one answer may have; a longer one is cut there and reported (default:
    /// 64 bytes per token of the request's token limit, at least 64 KiB).
    #[serde(default)]
    pub max_answer_bytes: Option<usize>,
}

fn default_concurrency() -> usize {
    4
}
fn default_connect() -> f64 {
    10.0
}
fn default_idle() -> f64 {
    120.0
}
fn default_retries() -> u32 {
    4
}
fn default_logprobs() -> bool {
    true
}

impl EndpointConfig {
    pub fn new(base_url: &str, model: &str) -> EndpointConfig {
        EndpointConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: None,
            concurrency: default_concurrency(),
            connect_timeout_s: default_connect(),
            idle_timeout_s: default_idle(),
            max_retries: default_retries(),
            token_budget: None,
            logprobs: default_logprobs(),
            flavor: Default::default(),
            extra: Default::default(),
            headers: Default::default(),
            header_env: Default::default(),
            max_answer_bytes: None,
        }
    }

    /// The answer size cap for a request capped at `max_tokens` tokens.
    pub fn answer_cap(&self, max_tokens: usize) -> usize {
        self.max_answer_bytes.unwrap_or((max_tokens.saturating_mul(64)).max(64 * 1024))
    }
}

/// Counters of one client, for the jobs pane and the closing line of a run.
#[derive(Debug, Default)]
pub struct EndpointStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    /// The latest retry or wait, as said in the log (the progress line shows it).
    pub last_wait: std::sync::Mutex<Option<String>>,
}

impl EndpointStats {
    /// The latest retry or wait, once (None when nothing new happened), cleaned and shortened
    /// for a progress line.
    pub fn take_wait(&self) -> Option<String> {
        let w = self.last_wait.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        Some(crate::text::truncate_width(&crate::text::clean_line(&w), 60).into_owned())
    }

    pub fn tokens(&self) -> u64 {
        self.prompt_tokens.load(Ordering::Relaxed) + self.completion_tokens.load(Ordering::Relaxed)
    }
}
