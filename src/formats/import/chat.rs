//! Conversations (ShareGPT `conversations` with `from`/`value`, OpenAI `messages` with
//! `role`/`content`, text parts included) into one sample: the system prompt, the earlier turns,
//! and the last user message with the assistant's answer.

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

pub(super) fn conversation(
    file: &Path,
    r: &Record,
    key: &str,
    role_key: &str,
    text_key: &str,
) -> Result<SampleText, FormatError> {
    let list = match obj(r).get(key) {
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(err(file, r, key, format!("expected an array, found {}", type_name(v))))
        }
        None => return Err(err(file, r, key, "is missing")),
    };
    let mut messages = Vec::with_capacity(list.len());
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
        let who = match m.get(role_key) {
            Some(Value::String(s)) => s,
            Some(v) => {
                return Err(err(
                    file,
                    r,
                    &path(role_key),
                    format!("expected a string, found {}", type_name(v)),
                ))
            }
            None => return Err(err(file, r, &path(role_key), "is missing")),
        };
        let role = role(who)
            .ok_or_else(|| err(file, r, &path(role_key), format!("unsupported role {who:?}")))?;
        let content = match m.get(text_key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => text_parts(parts).ok_or_else(|| {
                err(
                    file,
                    r,
                    &path(text_key),
                    "only text parts ({\"type\": \"text\", \"text\": ...}) are supported",
                )
            })?,
            Some(v) => {
                return Err(err(
                    file,
                    r,
                    &path(text_key),
                    format!("expected a string, found {}", type_name(v)),
                ))
            }
            None => return Err(err(file, r, &path(text_key), "is missing")),
        };
        messages.push(Message { role, content });
    }
    from_messages(messages).map_err(|msg| err(file, r, key, msg))
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
