//! Conversations (ShareGPT `conversations` with `from`/`value`, OpenAI `messages` with
//! `role`/`content`, text parts included, TRL's conversational prompt and completion) into one
//! sample: the system prompt, the earlier turns, and the last user message with the answer.
//! A message key Distillery cannot keep (`tool_calls`, `name`, …) stops the import by name.

use super::{err, obj, type_name, FormatError, Record};
use crate::sample::{Message, Role, SampleText};
use serde_json::Value;
use std::path::Path;

fn role(name: &str) -> Option<Role> {
    match name {
        "system" => Some(Role::System),
        "human" | "user" => Some(Role::User),
        "gpt" | "assistant" | "chatgpt" | "bing" | "bard" => Some(Role::Assistant),
        _ => None,
    }
}

/// The names a conversation's list and its messages' keys have.
#[derive(Clone, Copy)]
pub(super) struct Keys {
    pub role: &'static str,
    pub text: &'static str,
}

pub(super) const SHAREGPT: Keys = Keys { role: "from", text: "value" };
pub(super) const OPENAI: Keys = Keys { role: "role", text: "content" };

/// The array under `key`, or an error naming it.
pub(super) fn list<'a>(file: &Path, r: &'a Record, key: &str) -> Result<&'a [Value], FormatError> {
    match obj(r).get(key) {
        Some(Value::Array(a)) => Ok(a),
        Some(Value::Null) => Err(err(file, r, key, "is null; expected an array of messages")),
        Some(v) => Err(err(file, r, key, format!("expected an array, found {}", type_name(v)))),
        None => Err(err(file, r, key, "is missing")),
    }
}

/// The messages of `list` (found under `key`), with each one's `weight` when it has one.
pub(super) fn messages(
    file: &Path,
    r: &Record,
    list: &[Value],
    key: &str,
    keys: Keys,
) -> Result<Vec<(Message, Option<u64>)>, FormatError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let path = |f: &str| format!("{key}[{i}].{f}");
        let Value::Object(m) = m else {
            return Err(err(
                file,
                r,
                &format!("{key}[{i}]"),
                format!("expected an object, found {}", type_name(m)),
            ));
        };
        if let Some(other) =
            m.keys().find(|k| ![keys.role, keys.text, "weight"].contains(&k.as_str()))
        {
            let why = match other.as_str() {
                "tool_calls" | "function_call" | "tool_call_id" => {
                    "tool calls cannot be kept (Distillery's samples are text turns)"
                }
                _ => "Distillery cannot keep this message field",
            };
            return Err(err(file, r, &path(other), format!("{why}; remove it to import the rest")));
        }
        let who = match m.get(keys.role) {
            Some(Value::String(s)) => s,
            Some(Value::Null) => return Err(err(file, r, &path(keys.role), "is null")),
            Some(v) => {
                return Err(err(
                    file,
                    r,
                    &path(keys.role),
                    format!("expected a string, found {}", type_name(v)),
                ))
            }
            None => return Err(err(file, r, &path(keys.role), "is missing")),
        };
        let role = role(who)
            .ok_or_else(|| err(file, r, &path(keys.role), format!("unsupported role {who:?}")))?;
        let content = match m.get(keys.text) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => text_parts(parts).ok_or_else(|| {
                err(
                    file,
                    r,
                    &path(keys.text),
                    "only text parts ({\"type\": \"text\", \"text\": ...}) are supported",
                )
            })?,
            Some(Value::Null) => return Err(err(file, r, &path(keys.text), "is null")),
            Some(v) => {
                return Err(err(
                    file,
                    r,
                    &path(keys.text),
                    format!("expected a string, found {}", type_name(v)),
                ))
            }
            None => return Err(err(file, r, &path(keys.text), "is missing")),
        };
        let weight = match m.get("weight") {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|w| w <= 1) => n.as_u64(),
            Some(v) => {
                return Err(err(file, r, &path("weight"), format!("expected 0 or 1, found {v}")))
            }
        };
        out.push((Message { role, content }, weight));
    }
    Ok(out)
}

/// A ShareGPT or OpenAI conversation under `key`.
pub(super) fn conversation(
    file: &Path,
    r: &Record,
    key: &str,
    keys: Keys,
) -> Result<SampleText, FormatError> {
    let msgs = messages(file, r, list(file, r, key)?, key, keys)?;
    let last = msgs.len().saturating_sub(1);
    for (i, (m, w)) in msgs.iter().enumerate() {
        let Some(w) = *w else { continue };
        let field = format!("{key}[{i}].weight");
        // Distillery trains on the last answer only: weight 1 there and 0 on earlier answers
        // say the same; anything else would be lost.
        let fits = m.role == Role::Assistant && (w == 1) == (i == last);
        if !fits {
            return Err(err(
                file,
                r,
                &field,
                format!(
                    "weight {w} cannot be kept: Distillery trains on the last answer only (weight 1 there, 0 on earlier answers)"
                ),
            ));
        }
    }
    from_messages(msgs.into_iter().map(|(m, _)| m).collect()).map_err(|msg| err(file, r, key, msg))
}

fn text_parts(parts: &[Value]) -> Option<String> {
    let mut out = String::new();
    for p in parts {
        if p.get("type")?.as_str()? != "text" {
            return None;
        }
        out.push_str(p.get("text")?.as_str()?);
    }
    Some(out)
}

/// Splits a conversation into system, history, last prompt and last answer.
pub(super) fn from_messages(mut messages: Vec<Message>) -> Result<SampleText, String> {
    let system = match messages.first() {
        Some(Message { role: Role::System, .. }) => Some(messages.remove(0).content),
        _ => None,
    };
    let output = match messages.pop() {
        Some(Message { role: Role::Assistant, content }) => content,
        Some(_) => return Err("the conversation must end with the assistant's answer".into()),
        None => return Err("the conversation has no messages".into()),
    };
    let instruction = match messages.pop() {
        Some(Message { role: Role::User, content }) => content,
        _ => return Err("the assistant's last answer must follow a user message".into()),
    };
    Ok(SampleText { system, history: messages, instruction, input: String::new(), output })
}
