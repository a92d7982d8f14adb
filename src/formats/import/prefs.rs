//! Preference pairs: TRL's `prompt`/`chosen`/`rejected` (strings, message lists, or implicit
//! prompts), OpenAI's preference fine-tuning records (`input`/`preferred_output`/
//! `non_preferred_output`), and LLaMA-Factory's Alpaca and ShareGPT pairs. Each gives the chosen
//! sample and the rejected answer to the same prompt.

use super::chat::{from_messages, list, messages, Keys, OPENAI, SHAREGPT};
use super::turns::alpaca_prompt;
use super::{err, obj, opt_str, req_str, type_name, FormatError, Record};
use crate::sample::{Message, Role, SampleText};
use serde_json::Value;
use std::path::Path;

/// A pair: the sample with the chosen answer as its output, and the rejected answer.
pub(super) type Pair = (SampleText, String);

/// The one assistant message of `key` (a list of one message, or one message object).
fn answer(
    file: &Path,
    r: &Record,
    v: &Value,
    key: &str,
    keys: Keys,
) -> Result<String, FormatError> {
    let one = match v {
        Value::Array(a) => messages(file, r, a, key, keys)?,
        Value::Object(_) => messages(file, r, std::slice::from_ref(v), key, keys)?,
        Value::String(s) => return Ok(s.clone()),
        Value::Null => return Err(err(file, r, key, "is null")),
        other => {
            return Err(err(
                file,
                r,
                key,
                format!("expected a message, found {}", type_name(other)),
            ))
        }
    };
    match one.as_slice() {
        [(Message { role: Role::Assistant, content }, None)] => Ok(content.clone()),
        _ => Err(err(file, r, key, "expected one assistant message")),
    }
}

/// TRL: `prompt` with `chosen` and `rejected`, as strings or message lists; without `prompt`,
/// `chosen` and `rejected` are whole conversations that differ only in the last answer.
pub(super) fn trl(file: &Path, r: &Record) -> Result<Pair, FormatError> {
    let o = obj(r);
    match o.get("prompt") {
        Some(Value::String(_)) => {
            let prompt = req_str(file, r, o, "prompt")?;
            let chosen = req_str(file, r, o, "chosen")?;
            Ok((SampleText::new(prompt, "", chosen), req_str(file, r, o, "rejected")?))
        }
        Some(Value::Array(_)) => {
            let msgs = messages(file, r, list(file, r, "prompt")?, "prompt", OPENAI)?;
            let chosen = answer(file, r, &o["chosen"], "chosen", OPENAI)?;
            let rejected =
                answer(file, r, o.get("rejected").unwrap_or(&Value::Null), "rejected", OPENAI)?;
            let mut all: Vec<Message> = msgs.into_iter().map(|(m, _)| m).collect();
            all.push(Message { role: Role::Assistant, content: chosen });
            let t = from_messages(all).map_err(|m| err(file, r, "prompt", m))?;
            Ok((t, rejected))
        }
        Some(Value::Null) => Err(err(file, r, "prompt", "is null")),
        Some(v) => Err(err(
            file,
            r,
            "prompt",
            format!("expected a string or messages, found {}", type_name(v)),
        )),
        None => {
            let conv = |key: &str| -> Result<SampleText, FormatError> {
                let m = messages(file, r, list(file, r, key)?, key, OPENAI)?;
                from_messages(m.into_iter().map(|(m, _)| m).collect())
                    .map_err(|msg| err(file, r, key, msg))
            };
            let (chosen, rejected) = (conv("chosen")?, conv("rejected")?);
            let mut same = rejected.clone();
            same.output = chosen.output.clone();
            if same != chosen {
                return Err(err(file, r, "rejected", "differs from `chosen` before the last answer (an implicit prompt must be the same)"));
            }
            Ok((chosen, rejected.output))
        }
    }
}

/// OpenAI preference fine-tuning: `input.messages`, `preferred_output` and
/// `non_preferred_output` (one assistant message each).
pub(super) fn openai(file: &Path, r: &Record) -> Result<Pair, FormatError> {
    let o = obj(r);
    let input = match o.get("input") {
        Some(Value::Object(m)) => m,
        Some(v) => {
            return Err(err(
                file,
                r,
                "input",
                format!("expected an object, found {}", type_name(v)),
            ))
        }
        None => return Err(err(file, r, "input", "is missing")),
    };
    if let Some(k) = input.keys().find(|k| k.as_str() != "messages") {
        return Err(err(
            file,
            r,
            &format!("input.{k}"),
            "Distillery cannot keep this field; remove it to import the rest",
        ));
    }
    let list = match input.get("messages") {
        Some(Value::Array(a)) => a,
        _ => return Err(err(file, r, "input.messages", "expected an array of messages")),
    };
    let mut all: Vec<Message> =
        messages(file, r, list, "input.messages", OPENAI)?.into_iter().map(|(m, _)| m).collect();
    let get = |k: &str| o.get(k).ok_or_else(|| err(file, r, k, "is missing"));
    let chosen = answer(file, r, get("preferred_output")?, "preferred_output", OPENAI)?;
    let rejected = answer(file, r, get("non_preferred_output")?, "non_preferred_output", OPENAI)?;
    all.push(Message { role: Role::Assistant, content: chosen });
    let t = from_messages(all).map_err(|m| err(file, r, "input.messages", m))?;
    Ok((t, rejected))
}

/// LLaMA-Factory's Alpaca pairs: `instruction`, `input`, `chosen`, `rejected` (and `system`,
/// `history`).
pub(super) fn alpaca(file: &Path, r: &Record) -> Result<Pair, FormatError> {
    let o = obj(r);
    let mut t = alpaca_prompt(file, r)?;
    t.output = req_str(file, r, o, "chosen")?;
    Ok((t, req_str(file, r, o, "rejected")?))
}

/// LLaMA-Factory's ShareGPT pairs: `conversations` ending with the user's turn, and `chosen` and
/// `rejected` messages (and `system`).
pub(super) fn sharegpt(file: &Path, r: &Record) -> Result<Pair, FormatError> {
    let o = obj(r);
    let mut all: Vec<Message> =
        messages(file, r, list(file, r, "conversations")?, "conversations", SHAREGPT)?
            .into_iter()
            .map(|(m, _)| m)
            .collect();
    let get = |k: &str| o.get(k).ok_or_else(|| err(file, r, k, "is missing"));
    let chosen = answer(file, r, get("chosen")?, "chosen", SHAREGPT)?;
    let rejected = answer(file, r, get("rejected")?, "rejected", SHAREGPT)?;
    all.push(Message { role: Role::Assistant, content: chosen });
    let mut t = from_messages(all).map_err(|m| err(file, r, "conversations", m))?;
    if let Some(system) = opt_str(file, r, o, "system")? {
        t.system = Some(system);
    }
    Ok((t, rejected))
}
