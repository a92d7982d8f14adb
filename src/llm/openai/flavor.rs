//! What each kind of OpenAI-compatible server accepts beyond the standard request, so a request
//! carries only fields its server reads (api.openai.com answers 400 to an unknown argument).
//!
//! | flavor | token cap field | own sampling fields | `n` > 1 | structured output |
//! |---|---|---|---|---|
//! | `auto` (default) | `max_tokens` | none | asked | `response_format` |
//! | `openai` | `max_completion_tokens` | none | asked | `response_format` (strict) |
//! | `vllm`, `sglang` | `max_tokens` | `top_k`, `repetition_penalty` | asked | `response_format` |
//! | `llamacpp` | `max_tokens` | `top_k`, `repeat_penalty` | one per request | `response_format` (`json_object` + `schema`) |
//! | `ollama` | `max_tokens` | none (its OpenAI layer drops them) | one per request | `response_format` |
//!
//! `auto` is `openai` for api.openai.com and Azure OpenAI hosts, else the standard fields only.

use crate::llm::GenParams;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The kind of server behind an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    #[default]
    Auto,
    Openai,
    Vllm,
    Sglang,
    Llamacpp,
    Ollama,
}

/// Seeds sent are in `0..SEED_RANGE`: every server takes a non-negative signed 32-bit integer
/// (vLLM checks int64, Ollama decodes a Go `int`, some servers a C `int`).
pub const SEED_RANGE: u64 = 1 << 31;

/// An f32 setting as the decimal it was written as (0.7, not 0.699999988079071).
pub fn decimal(x: f32) -> Value {
    json!(x.to_string().parse::<f64>().unwrap_or(f64::from(x)))
}

/// The seed a request carries for `seed` (the same seed, the same request).
pub fn portable_seed(seed: u64) -> u64 {
    seed % SEED_RANGE
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Auto => "auto",
            Flavor::Openai => "openai",
            Flavor::Vllm => "vllm",
            Flavor::Sglang => "sglang",
            Flavor::Llamacpp => "llamacpp",
            Flavor::Ollama => "ollama",
        }
    }

    /// `auto` made definite for the server at `base_url`.
    pub fn resolve(self, base_url: &str) -> Flavor {
        if self != Flavor::Auto {
            return self;
        }
        let host = base_url.split("://").nth(1).unwrap_or("").split(['/', ':']).next();
        let host = host.unwrap_or("").to_ascii_lowercase();
        if host == "api.openai.com" || host.ends_with(".openai.azure.com") {
            Flavor::Openai
        } else {
            Flavor::Auto
        }
    }

    /// The field that caps an answer's tokens.
    pub fn max_tokens_field(self) -> &'static str {
        match self {
            Flavor::Openai => "max_completion_tokens",
            _ => "max_tokens",
        }
    }

    /// Whether the server gives several choices for `n` (llama.cpp's server refuses `n` > 1,
    /// Ollama ignores it): where it does not, each answer is its own request.
    pub fn takes_n(self) -> bool {
        !matches!(self, Flavor::Llamacpp | Flavor::Ollama)
    }

    /// The sampling settings beyond the standard ones, under this server's names.
    pub fn sampling(self, p: &GenParams) -> Vec<(&'static str, Value)> {
        let penalty = match self {
            Flavor::Vllm | Flavor::Sglang => Some("repetition_penalty"),
            Flavor::Llamacpp => Some("repeat_penalty"),
            _ => None,
        };
        let mut out = Vec::new();
        if let Some(name) = penalty {
            if p.top_k > 0 {
                out.push(("top_k", json!(p.top_k)));
            }
            if p.repetition_penalty != 1.0 {
                out.push((name, decimal(p.repetition_penalty)));
            }
        }
        out
    }

    /// The body field asking for output that matches `schema` (a JSON Schema object).
    pub fn schema_field(self, name: &str, schema: &Value) -> (&'static str, Value) {
        if self == Flavor::Llamacpp {
            // The form both llama.cpp's server and llama-cpp-python's read.
            return ("response_format", json!({"type": "json_object", "schema": schema}));
        }
        let mut format = json!({"name": name, "schema": schema});
        if self == Flavor::Openai {
            format["strict"] = json!(true);
        }
        ("response_format", json!({"type": "json_schema", "json_schema": format}))
    }
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
