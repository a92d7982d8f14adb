//! Turns records into samples, seeds or eval items, with errors that name line and field.

mod chat;
mod seeds;

use super::{read_records, type_name, FormatError, Record};
use crate::sample::{EvalItem, SampleText, SeedTask};
use chat::conversation;
use seeds::{eval_item, seed};
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
    } else if o.contains_key("instruction")
        || (o.contains_key("question") && o.contains_key("answer"))
    {
        Format::Seeds
    } else {
        return Err(FormatError::new(
            file,
            first.line,
            None,
            "cannot tell the format: expected the key `instruction` (Alpaca, seeds), `question` and `answer` (GSM8K seeds), `conversations` (ShareGPT) or `messages` (OpenAI); pass --format",
        ));
    })
}

pub(super) fn obj(r: &Record) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    r.value.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

pub(super) fn err(file: &Path, r: &Record, field: &str, msg: impl Into<String>) -> FormatError {
    FormatError::new(file, r.line, Some(field.to_owned()), msg)
}

/// A string field; `null` and absence give `None`.
pub(super) fn opt_str(
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

pub(super) fn req_str(
    file: &Path,
    r: &Record,
    o: &Map<String, Value>,
    field: &str,
) -> Result<String, FormatError> {
    opt_str(file, r, o, field)?.ok_or_else(|| err(file, r, field, "is missing"))
}

pub(super) fn sample_texts(
    file: &Path,
    r: &Record,
    format: Format,
) -> Result<Vec<SampleText>, FormatError> {
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
