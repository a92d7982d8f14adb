//! Reading one streamed answer: server-sent events in, the choices out. A choice counts only when
//! the server said how it finished; a stream that ends before that is retried, never stored. A
//! choice longer than the cap is cut there (finished by `length`). The model's reasoning
//! (`reasoning_content`, `reasoning`, a leading `<think>…</think>`) is kept apart from its answer.

use super::send::Failure;
use super::{snippet, Kind};
use crate::llm::local::{Completion, FinishReason};
use serde_json::Value;

/// A choice being streamed.
#[derive(Default, Clone)]
struct Partial {
    text: String,
    reasoning: String,
    finish: Option<String>,
    chunks: usize,
    logprobs: Vec<f32>,
    /// Cut at the size cap.
    cut: bool,
}

/// The choices of one stream so far.
pub(super) struct Stream {
    kind: Kind,
    choices: Vec<Partial>,
    /// (prompt, completion) tokens, when the server reported them.
    usage: Option<(u64, u64)>,
    /// The most bytes one choice keeps.
    cap: usize,
}

impl Stream {
    pub(super) fn new(kind: Kind, cap: usize) -> Stream {
        Stream { kind, choices: Vec::new(), usage: None, cap }
    }

    /// Whether reading on is pointless: a choice was cut at the cap and every other one finished.
    pub(super) fn full(&self) -> bool {
        self.choices.iter().any(|c| c.cut) && self.choices.iter().all(|c| c.finish.is_some())
    }

    /// A reply that is one JSON completion, not an event stream (a server that ignores
    /// `stream`): its choices' `message`/`text` read as one chunk each.
    pub(super) fn whole(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Failure::Answer(format!("the reply is not valid UTF-8: {e}")))?;
        let v: Value = serde_json::from_str(text).map_err(|_| {
            Failure::Answer(format!("the reply is not an event stream: {}", snippet(text)))
        })?;
        let choices = v.get("choices").and_then(Value::as_array).cloned().unwrap_or_default();
        if choices.is_empty() {
            return Err(Failure::Answer(format!(
                "the reply is JSON without choices, not an event stream: {}",
                snippet(text)
            )));
        }
        let mut chunk = v.clone();
        for c in &choices {
            // A whole message is its stream's one delta.
            let mut c = c.clone();
            if let Some(m) = c.get("message").cloned() {
                c["delta"] = m;
            }
            chunk["choices"] = Value::Array(vec![c]);
            self.feed(&chunk.to_string())?;
        }
        Ok(())
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
            .map_err(|e| Failure::Answer(format!("malformed chunk ({e}): {}", snippet(data))))?;
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
        let cap = self.cap;
        let choice = &mut self.choices[i];
        if choice.cut {
            return Ok(()); // the rest of a cut choice is not read
        }
        if let Some(t) = piece.and_then(Value::as_str) {
            choice.text.push_str(t);
            choice.chunks += 1;
        }
        let thought = ["/delta/reasoning_content", "/delta/reasoning"]
            .iter()
            .find_map(|p| c.pointer(p).and_then(Value::as_str));
        if let Some(t) = thought {
            choice.reasoning.push_str(t);
        }
        if choice.text.len() + choice.reasoning.len() > cap {
            let mut end = cap.min(choice.text.len());
            while !choice.text.is_char_boundary(end) {
                end -= 1;
            }
            choice.text.truncate(end);
            choice.reasoning.truncate(0);
            choice.cut = true;
            choice.finish = Some("length".into());
            return Ok(());
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
                busy: false,
            });
        }
        if let Some(i) = choices.iter().position(|c| c.finish.is_none()) {
            return Err(Failure::Retry {
                why: format!("the stream ended before choice {i} finished (cut mid-way)"),
                after: None,
                busy: false,
            });
        }
        let streamed: usize = choices.iter().map(|c| c.chunks).sum();
        let (prompt_t, completion_t) = self.usage.unwrap_or((0, streamed as u64));
        let share = (completion_t as usize).checked_div(choices.len()).unwrap_or(0);
        let usage = self.usage.is_some();
        let out = choices
            .into_iter()
            .map(|c| {
                let (text, thought) = split_thinking(c.text);
                let reasoning = [c.reasoning, thought].concat();
                (c.finish, text, reasoning, c.logprobs, c.chunks)
            })
            .map(|(finish, text, reasoning, logprobs, chunks)| Completion {
                finish: if finish.as_deref() == Some("length") {
                    FinishReason::Length
                } else {
                    FinishReason::Stop
                },
                text,
                reasoning: (!reasoning.is_empty()).then_some(reasoning),
                tokens: Vec::new(),
                logprobs,
                prompt_tokens: prompt_t as usize,
                completion_tokens: if usage { share } else { chunks },
            })
            .collect();
        Ok((out, prompt_t, completion_t))
    }
}

/// A leading `<think>…</think>` block split from the answer: (answer, thinking). An unclosed
/// block is all thinking.
pub fn split_thinking(text: String) -> (String, String) {
    let t = text.trim_start();
    let Some(rest) = t.strip_prefix("<think>") else { return (text, String::new()) };
    match rest.find("</think>") {
        Some(end) => {
            let answer = rest[end + "</think>".len()..].trim_start().to_owned();
            (answer, rest[..end].trim().to_owned())
        }
        None => (String::new(), rest.trim().to_owned()),
    }
}
