//! Alpaca records with LLaMA-Factory's `system` and `history`, and TRL's prompt/completion
//! records (strings, or message lists) into samples.

use super::chat::{from_messages, list, messages, OPENAI};
use super::{err, obj, opt_str, req_str, type_name, FormatError, Record};
use crate::sample::{Message, Role, SampleText};
use serde_json::Value;
use std::path::Path;

/// `instruction`, `input`, `output`, with an optional `system` and `history: [[user, answer]]`.
pub(super) fn alpaca(file: &Path, r: &Record) -> Result<SampleText, FormatError> {
    let mut t = alpaca_prompt(file, r)?;
    t.output = req_str(file, r, obj(r), "output")?;
    Ok(t)
}

/// An Alpaca record without its answer: `instruction`, `input`, `system` and `history`.
pub(super) fn alpaca_prompt(file: &Path, r: &Record) -> Result<SampleText, FormatError> {
    let o = obj(r);
    let mut t = SampleText::new(
        req_str(file, r, o, "instruction")?,
        opt_str(file, r, o, "input")?.unwrap_or_default(),
        "",
    );
    t.system = opt_str(file, r, o, "system")?;
    let pairs = match o.get("history") {
        None | Some(Value::Null) => return Ok(t),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(err(
                file,
                r,
                "history",
                format!("expected an array, found {}", type_name(v)),
            ))
        }
    };
    for (i, pair) in pairs.iter().enumerate() {
        let turn = match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(u), Value::String(a)]) => [u, a],
            _ => {
                return Err(err(
                    file,
                    r,
                    &format!("history[{i}]"),
                    "expected a pair of strings [user message, answer]",
                ))
            }
        };
        t.history.push(Message { role: Role::User, content: turn[0].clone() });
        t.history.push(Message { role: Role::Assistant, content: turn[1].clone() });
    }
    Ok(t)
}

/// TRL's prompt/completion: both strings, or both message lists (the completion one assistant
/// message).
pub(super) fn prompt_completion(file: &Path, r: &Record) -> Result<SampleText, FormatError> {
    let o = obj(r);
    if let Some(Value::Array(_)) = o.get("prompt") {
        let mut msgs = messages(file, r, list(file, r, "prompt")?, "prompt", OPENAI)?;
        let completion = messages(file, r, list(file, r, "completion")?, "completion", OPENAI)?;
        if completion.len() != 1 || completion[0].0.role != Role::Assistant {
            return Err(err(file, r, "completion", "expected one assistant message"));
        }
        msgs.extend(completion);
        if let Some(i) = msgs.iter().position(|(_, w)| w.is_some()) {
            return Err(err(
                file,
                r,
                &format!("prompt[{i}].weight"),
                "weights are not part of this format",
            ));
        }
        return from_messages(msgs.into_iter().map(|(m, _)| m).collect())
            .map_err(|msg| err(file, r, "prompt", msg));
    }
    Ok(SampleText::new(req_str(file, r, o, "prompt")?, "", req_str(file, r, o, "completion")?))
}
