//! Language models: the model cache, GGUF loading with candle, the tokenizer and chat template
//! from the file's metadata, and sampling.
//!
//! The local engine ([`engine`]) runs our own llama forward pass on our own quantized kernels,
//! with continuous batching: requests from several threads decode together, and the k answers
//! of one prompt share its cache.

pub mod endpoint;
pub mod engine;
pub mod fetch;
pub mod grammar;
pub mod local;
pub mod openai;
pub mod parallel;
pub mod sampling;
pub mod template;
#[doc(hidden)]
pub mod testing;
pub mod tokenizer;

pub use local::{Completion, FinishReason, LocalModel};
pub use sampling::GenParams;

use std::path::{Path, PathBuf};

/// Errors from loading or running a model; each names the file or the step.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{path}: {message}")]
    Model { path: PathBuf, message: String },
    #[error("generation failed: {0}")]
    Run(String),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    /// The run was cancelled while the model was generating.
    #[error("cancelled")]
    Cancelled,
    #[error("endpoint {name}: {message}")]
    Endpoint { name: String, message: String },
    /// One answer was broken (a malformed chunk, invalid UTF-8, a reply that is not an event
    /// stream): that answer is dropped with this reason, and the run goes on.
    #[error("endpoint {name}: {message}")]
    Answer { name: String, message: String },
    #[error("endpoint {name}: the token budget is spent ({used} of {limit} tokens); raise token_budget in distillery.toml to go on")]
    Budget { name: String, used: u64, limit: u64 },
}

impl LlmError {
    pub fn model(path: &Path, message: impl Into<String>) -> LlmError {
        LlmError::Model { path: path.to_owned(), message: message.into() }
    }
}

/// Anything that answers a conversation: the local engine, or an OpenAI-compatible endpoint.
pub trait Generator {
    /// `n` answers to one conversation.
    fn generate(
        &mut self,
        messages: &[crate::sample::Message],
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError>;
    /// `n` continuations of a raw text prompt (no chat template), for few-shot recipes.
    fn complete(
        &mut self,
        prompt: &str,
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError>;
    /// `n` answers to a conversation, each reply made to begin with `prefix` (the texts returned
    /// include it): a small model then keeps to a format, a JSON verdict say. Backends that cannot
    /// start the reply for the model ask without it (the default; a hosted chat API cannot).
    fn generate_prefixed(
        &mut self,
        messages: &[crate::sample::Message],
        prefix: &str,
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let _ = prefix;
        self.generate(messages, params, n)
    }
    /// `n` answers to a conversation that must be JSON matching `schema` (a JSON Schema), each
    /// to begin with `prefix` where the backend can start the reply itself. Endpoints ask with
    /// their structured-output field; the default starts the reply with `prefix`
    /// ([`Generator::generate_prefixed`]), and the caller parses what comes.
    fn generate_json(
        &mut self,
        messages: &[crate::sample::Message],
        schema: &serde_json::Value,
        prefix: &str,
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let _ = schema;
        self.generate_prefixed(messages, prefix, params, n)
    }
    /// The model's name, stored as provenance.
    fn name(&self) -> String;
    /// A flag that, once set, makes generation stop with [`LlmError::Cancelled`] (checked every
    /// decoding step or streamed chunk).
    fn set_cancel(&mut self, _flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {}
    /// Another handle on the same backend for a thread of its own: requests from all handles
    /// run at once (the local engine batches them). None: one request at a time, from the
    /// caller's thread.
    fn handle(&self) -> Option<Box<dyn Generator + Send>> {
        None
    }
    /// How many requests (rows) this backend runs well at once.
    fn parallelism(&self) -> usize {
        1
    }
    /// An endpoint's counters (requests, retries, tokens, the latest wait), shared by its
    /// handles; None for the local engine.
    fn endpoint_stats(&self) -> Option<std::sync::Arc<endpoint::EndpointStats>> {
        None
    }
    /// The local engine's kernels and threads (`avx2 kernels, 2 threads`); None for endpoints.
    fn engine(&self) -> Option<String> {
        None
    }
}

impl From<candle_core::Error> for LlmError {
    fn from(e: candle_core::Error) -> Self {
        // candle appends a backtrace to the message; the first line says what failed.
        LlmError::Run(e.to_string().lines().next().unwrap_or("candle error").to_owned())
    }
}
