//! Reading one streamed answer: server-sent events in, the choices out. A choice counts only when
//! the server said how it finished; a stream that ends before that is retried, never stored.

use super::{snippet, Failure, Kind};
use crate::llm::local::{Completion, FinishReason};
use serde_json::Value;

/// A choice being streamed.
#[derive(Default, Clone)]
struct Partial {
    text: String,
    finish: Option<String>,
    chunks: usize,
    logprobs: Vec<f32>,
}

/// The choices of one stream so far.
pub(super) struct Stream {
    kind: Kind,
    choices: Vec<Partial>,
    /// (prompt, completion) tokens, when the server reported them.
    usage: Option<(u64, u64)>,
}

impl Stream {
    pub(super) fn new(kind: Kind) -> Stream {
        Stream { kind, choices: Vec::new(), usage: None }
    }

    /// Chunks streamed so far, over all choices (a token each, near enough, for the budget).
    pub(super) fn streamed(&self) -> usize {
        self.choices.iter().map(|c| c.chunks).sum()
    }

    /// One event's data; true at `[DONE]`.
    pub(super) fn feed(&mut self, data: &str) -> Result<bool, Failure> {
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| Failure::Fatal(format!("malformed chunk ({e}): {}", snippet(data))))?;
        if let Some(err) = v.get("error") {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string());
            return Err(Failure::Fatal(format!(
                "the server reported an error mid-stream: {}",
                snippet(&msg)
            )));
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some((
                u["prompt_tokens"].as_u64().unwrap_or(0),
                u["completion_tokens"].as_u64().unwrap_or(0),
            ));
        }
        for c in v.get("choices").and_then(Value::as_array).into_iter().flatten() {
            self.choice(c, data)?;
        }
        Ok(false)
    }

    fn choice(&mut self, c: &Value, data: &str) -> Result<(), Failure> {
        let i = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        if i >= 1024 {
            return Err(Failure::Fatal(format!(
                "choice index {i} out of range: {}",
                snippet(data)
            )));
        }
        if self.choices.len() <= i {
            self.choices.resize(i + 1, Partial::default());
        }
        let piece = match self.kind {
            Kind::Chat => c.pointer("/delta/content"),
            Kind::Text => c.get("text"),
        };
        let choice = &mut self.choices[i];
        if let Some(t) = piece.and_then(Value::as_str) {
            choice.text.push_str(t);
            choice.chunks += 1;
        }
        // Chat: `logprobs.content[].logprob`; completions: `logprobs.token_logprobs[]`.
        let lps = c.pointer("/logprobs/content").or_else(|| c.pointer("/logprobs/token_logprobs"));
        for lp in lps.and_then(Value::as_array).into_iter().flatten() {
            if let Some(x) = lp.get("logprob").unwrap_or(lp).as_f64() {
                choice.logprobs.push(x as f32);
            }
        }
        if let Some(f) = c.get("finish_reason").and_then(Value::as_str) {
            choice.finish = Some(f.to_owned());
        }
        Ok(())
    }

    /// The finished choices, with the (prompt, completion) tokens to count.
    pub(super) fn finish(self) -> Result<(Vec<Completion>, u64, u64), Failure> {
        let choices = self.choices;
        if choices.is_empty() {
            return Err(Failure::Retry {
                why: "the stream ended without any choice".into(),
                after: None,
            });
        }
        if let Some(i) = choices.iter().position(|c| c.finish.is_none()) {
            return Err(Failure::Retry {
                why: format!("the stream ended before choice {i} finished (cut mid-way)"),
                after: None,
            });
        }
        let streamed: usize = choices.iter().map(|c| c.chunks).sum();
        let (prompt_t, completion_t) = self.usage.unwrap_or((0, streamed as u64));
        let share = (completion_t as usize).checked_div(choices.len()).unwrap_or(0);
        let usage = self.usage.is_some();
        let out = choices
            .into_iter()
            .map(|c| Completion {
                finish: if c.finish.as_deref() == Some("length") {
                    FinishReason::Length
                } else {
                    FinishReason::Stop
                },
                text: c.text,
                tokens: Vec::new(),
                logprobs: c.logprobs,
                prompt_tokens: prompt_t as usize,
                completion_tokens: if usage { share } else { c.chunks },
            })
            .collect();
        Ok((out, prompt_t, completion_t))
    }
}
