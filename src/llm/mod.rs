//! Language models: the model cache, GGUF loading with candle, the tokenizer and chat template
//! from the file's metadata, and sampling.
//!
//! Status: the local engine generates with candle on the GGUF (one prompt, n samples decoded as a
//! batch). Not yet here: sharing one prompt's KV cache between the n samples (the prompt is
//! computed n times), the OpenAI-compatible backend, and the recipes (issue 3 continues).

pub mod fetch;
pub mod local;
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
}

impl LlmError {
    pub fn model(path: &Path, message: impl Into<String>) -> LlmError {
        LlmError::Model { path: path.to_owned(), message: message.into() }
    }
}

/// Anything that answers a conversation: the local engine, and later OpenAI-compatible endpoints.
pub trait Generator {
    /// `n` answers to one conversation.
    fn generate(&mut self, messages: &[crate::sample::Message], params: &GenParams, n: usize) -> Result<Vec<Completion>, LlmError>;
    /// `n` continuations of a raw text prompt (no chat template), for few-shot recipes.
    fn complete(&mut self, prompt: &str, params: &GenParams, n: usize) -> Result<Vec<Completion>, LlmError>;
    /// The model's name, stored as provenance.
    fn name(&self) -> String;
}

impl From<candle_core::Error> for LlmError {
    fn from(e: candle_core::Error) -> Self {
        // candle appends a backtrace to the message; the first line says what failed.
        LlmError::Run(e.to_string().lines().next().unwrap_or("candle error").to_owned())
    }
}
