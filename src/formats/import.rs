//! Turns records into samples, seeds or eval items, with errors that name line and field.

use super::{read_records, type_name, FormatError, Record};
use crate::sample::{EvalItem, Instance, Message, Role, SampleText, SeedTask};
use serde_json::{Map, Value};
use std::path::Path;

/// An input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Auto,
    /// `instruction`, `input`, `output`
    Alpaca,
    /// `conversations: [{from, value}]`
    Sharegpt,
    /// `messages: [{role, content}]`
    Openai,
    /// `instruction` with optional `instances: [{input, output}]` (Self-Instruct's seed_tasks.jsonl)
    Seeds,
    /// `instruction`, `input`, `reference`, `scorer`: a held-out evaluation set
    Eval,
}

/// What the rows of a file become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportAs {
    Sample,
    Seed,
    Eval,
}

/// The parsed content of a file: each item with its line and optional task name.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Samples(Vec<(usize, SampleText, Option<String>)>),
    Seeds(Vec<(usize, SeedTask, Option<String>)>),
    Eval(Vec<(usize, EvalItem)>),
}

impl Parsed {
    pub fn len(&self) -> usize {
        match self {
            Parsed::Samples(v) => v.len(),
            Parsed::Seeds(v) => v.len(),
            Parsed::Eval(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads and parses a whole file; nothing is returned unless every record is valid.
pub fn parse_file(
    file: &Path,
    format: Format,
    as_: Option<ImportAs>,
) -> Result<(Format, Parsed), FormatError> {
    let bytes = std::fs::read(file)
        .map_err(|e| FormatError::new(file, 0, None, format!("cannot read: {e}")))?;
    let records = read_records(file, &bytes)?;
    parse_records(file, &records, format, as_)
}

/// Parses records already read. `Format::Auto` looks at the first record's keys.
pub fn parse_records(
    file: &Path,
    records: &[Record],
    format: Format,
    as_: Option<ImportAs>,
) -> Result<(Format, Parsed), FormatError> {
    let format = match format {
        Format::Auto => detect(file, records)?,
        f => f,
    };
    let as_ = as_.unwrap_or(match format {
        Format::Seeds => ImportAs::Seed,
        Format::Eval => ImportAs::Eval,
        _ => ImportAs::Sample,
    });
    let parsed = match as_ {
        ImportAs::Sample => {
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                let task = opt_str(file, r, obj(r), "task")?;
                for text in sample_texts(file, r, format)? {
                    out.push((r.line, text, task.clone()));
                }
            }
            Parsed::Samples(out)
        }
        ImportAs::Seed => Parsed::Seeds(
            records
                .iter()
                .map(|r| Ok((r.line, seed(file, r, format)?, opt_str(file, r, obj(r), "task")?)))
                .collect::<Result<_, FormatError>>()?,
        ),
        ImportAs::Eval => Parsed::Eval(
            records
                .iter()
                .map(|r| Ok((r.line, eval_item(file, r)?)))
                .collect::<Result<_, FormatError>>()?,
        ),
    };
    Ok((format, parsed))
}

fn detect(file: &Path, records: &[Record]) -> Result<Format, FormatError> {
    let Some(first) = records.first() else {
        return Err(FormatError::new(file, 0, None, "the file holds no records"));
    };
    let o = obj(first);
    Ok(if o.contains_key("conversations") {
        Format::Sharegpt
    } else if o.contains_key("messages") {
        Format::Openai
    } else if o.contains_key("instances") {
        Format::Seeds
    } else if o.contains_key("reference") {
        Format::Eval
    } else if o.contains_key("instruction") && o.contains_key("output") {
        Format::Alpaca
    } else if o.contains_key("instruction") {
        Format::Seeds
    } else {
        return Err(FormatError::new(
            file,
            first.line,
            None,
            "cannot tell the format: expected the key `instruction` (Alpaca, seeds), `conversations` (ShareGPT) or `messages` (OpenAI); pass --format",
        ));
    })
}

fn obj(r: &Record) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    r.value.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn err(file: &Path, r: &Record, field: &str, msg: impl Into<String>) -> FormatError {
    FormatError::new(file, r.line, Some(field.to_owned()), msg)
}

/// A string field; `null` and absence give `None`.
fn opt_str(
    file: &Path,
    r: &Record,
    o: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, FormatError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(err(file, r, field, format!("expected a string, found {}", type_name(v)))),
    }
}

fn req_str(
    file: &Path,
    r: &Record,
    o: &Map<String, Value>,
    field: &str,
) -> Result<String, FormatError> {
    opt_str(file, r, o, field)?.ok_or_else(|| err(file, r, field, "is missing"))
}

fn sample_texts(file: &Path, r: &Record, format: Format) -> Result<Vec<SampleText>, FormatError> {
    let o = obj(r);
    match format {
        Format::Alpaca | Format::Auto => Ok(vec![SampleText::new(
            req_str(file, r, o, "instruction")?,
            opt_str(file, r, o, "input")?.unwrap_or_default(),
            req_str(file, r, o, "output")?,
        )]),
        Format::Sharegpt => Ok(vec![conversation(file, r, "conversations", "from", "value")?]),
        Format::Openai => Ok(vec![conversation(file, r, "messages", "role", "content")?]),
        Format::Seeds => {
            let s = seed(file, r, format)?;
            if s.instances.is_empty() {
                return Err(err(
                    file,
                    r,
                    "instances",
                    "a seed without instances has no output to make a sample from",
                ));
            }
            Ok(s.instances
                .into_iter()
                .map(|i| SampleText::new(s.instruction.as_str(), i.input, i.output))
                .collect())
        }
        Format::Eval => {
            let e = eval_item(file, r)?;
            Ok(vec![SampleText::new(e.instruction, e.input, e.reference)])
        }
    }
}

fn role(name: &str) -> Option<Role> {
    match name {
        "system" => Some(Role::System),
        "human" | "user" => Some(Role::User),
        "gpt" | "assistant" | "chatgpt" | "bing" | "bard" => Some(Role::Assistant),
        _ => None,
    }
}

fn conversation(
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

fn seed(file: &Path, r: &Record, format: Format) -> Result<SeedTask, FormatError> {
    let o = obj(r);
    if matches!(format, Format::Sharegpt | Format::Openai) {
        let t = sample_texts(file, r, format)?.remove(0);
        return Ok(SeedTask {
            instruction: t.prompt(),
            instances: vec![Instance { input: String::new(), output: t.output }],
            ..Default::default()
        });
    }
    let instruction = req_str(file, r, o, "instruction")?;
    let mut instances = Vec::new();
    match o.get("instances") {
        None | Some(Value::Null) => {
            let input = opt_str(file, r, o, "input")?.unwrap_or_default();
            let output = opt_str(file, r, o, "output")?.unwrap_or_default();
            if !input.is_empty() || !output.is_empty() {
                instances.push(Instance { input, output });
            }
        }
        Some(Value::Array(list)) => {
            for (i, inst) in list.iter().enumerate() {
                let field = |f: &str| format!("instances[{i}].{f}");
                let Value::Object(m) = inst else {
                    return Err(err(
                        file,
                        r,
                        &format!("instances[{i}]"),
                        format!("expected an object, found {}", type_name(inst)),
                    ));
                };
                let get = |f: &str| match m.get(f) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(v) => Err(err(
                        file,
                        r,
                        &field(f),
                        format!("expected a string, found {}", type_name(v)),
                    )),
                };
                instances.push(Instance { input: get("input")?, output: get("output")? });
            }
        }
        Some(v) => {
            return Err(err(
                file,
                r,
                "instances",
                format!("expected an array, found {}", type_name(v)),
            ))
        }
    }
    let is_classification = match o.get("is_classification") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => {
            return Err(err(
                file,
                r,
                "is_classification",
                format!("expected a boolean, found {}", type_name(v)),
            ))
        }
    };
    let name = match o.get("name") {
        Some(Value::String(_)) => opt_str(file, r, o, "name")?,
        _ => opt_str(file, r, o, "id").ok().flatten(),
    };
    Ok(SeedTask { name, instruction, instances, is_classification })
}

fn eval_item(file: &Path, r: &Record) -> Result<EvalItem, FormatError> {
    let o = obj(r);
    let reference = match o.get("reference").or_else(|| o.get("output")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(v) => {
            return Err(err(
                file,
                r,
                "reference",
                format!("expected a string or a number, found {}", type_name(v)),
            ))
        }
        None => return Err(err(file, r, "reference", "is missing")),
    };
    let scorer = opt_str(file, r, o, "scorer")?.unwrap_or_else(|| "exact".into());
    if !["exact", "number", "json_exact"].contains(&scorer.as_str()) {
        return Err(err(
            file,
            r,
            "scorer",
            format!("unknown scorer {scorer:?}; expected exact, number or json_exact"),
        ));
    }
    Ok(EvalItem {
        task: opt_str(file, r, o, "task")?,
        instruction: req_str(file, r, o, "instruction")?,
        input: opt_str(file, r, o, "input")?.unwrap_or_default(),
        reference,
        scorer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<(Format, Parsed), FormatError> {
        let recs = read_records(Path::new("x.jsonl"), s.as_bytes())?;
        parse_records(Path::new("x.jsonl"), &recs, Format::Auto, None)
    }

    #[test]
    fn detects_each_format() {
        assert_eq!(
            parse(r#"{"instruction":"a","input":"","output":"b"}"#).unwrap().0,
            Format::Alpaca
        );
        assert_eq!(
            parse(r#"{"conversations":[{"from":"human","value":"a"},{"from":"gpt","value":"b"}]}"#)
                .unwrap()
                .0,
            Format::Sharegpt
        );
        assert_eq!(
            parse(
                r#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"#
            )
            .unwrap()
            .0,
            Format::Openai
        );
        assert_eq!(
            parse(r#"{"instruction":"a","instances":[{"input":"","output":"b"}]}"#).unwrap().0,
            Format::Seeds
        );
        assert_eq!(parse(r#"{"instruction":"a"}"#).unwrap().0, Format::Seeds);
        assert_eq!(
            parse(r#"{"instruction":"a","reference":"4","scorer":"number"}"#).unwrap().0,
            Format::Eval
        );
    }

    #[test]
    fn wrong_type_names_line_and_field() {
        let e =
            parse("{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\":\"a\",\"output\":3}")
                .unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (2, Some("output")));
        assert!(e.message.contains("expected a string, found a number"));
        let e =
            parse(r#"{"messages":[{"role":"user","content":"a"},{"role":"tool","content":"b"}]}"#)
                .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("messages[1].role"));
    }

    #[test]
    fn multi_turn_keeps_history() {
        let (_, p) = parse(r#"{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u1"},{"role":"assistant","content":"a1"},{"role":"user","content":"u2"},{"role":"assistant","content":"a2"}]}"#).unwrap();
        let Parsed::Samples(v) = p else { panic!() };
        let t = &v[0].1;
        assert_eq!(
            (t.system.as_deref(), t.history.len(), t.instruction.as_str(), t.output.as_str()),
            (Some("s"), 2, "u2", "a2")
        );
        assert!(parse(r#"{"messages":[{"role":"user","content":"u1"}]}"#).is_err());
    }
}
