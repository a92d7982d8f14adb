//! Turns records into samples, seeds or eval items, with errors that name line and field.

mod chat;
mod format;
mod seeds;

use super::{type_name, FormatError, Record};
use crate::sample::{EvalItem, SampleText, SeedTask};
use chat::conversation;
pub use format::Format;
use format::{candidates, names};
mod prefs;
mod turns;
use seeds::{eval_item, seed};
use serde_json::{Map, Value};
use std::path::Path;
use turns::{alpaca, prompt_completion};

/// What the rows of a file become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportAs {
    Sample,
    Seed,
    Eval,
}

/// One record, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A sample; `extra` holds the record's other fields as a JSON object, for the exporters.
    Sample {
        text: SampleText,
        task: Option<String>,
        extra: Option<String>,
    },
    /// A preference pair: the sample with the chosen answer, and the rejected answer.
    Pair {
        text: SampleText,
        rejected: String,
        task: Option<String>,
        extra: Option<String>,
    },
    Seed {
        seed: SeedTask,
        task: Option<String>,
    },
    Eval(EvalItem),
}

/// What an import changed or could not keep, each with its count of records.
pub type Notes = std::collections::BTreeMap<String, usize>;

/// Turns the records of one file into items, settling the format on the first record and holding
/// every later record to it.
pub struct RecordParser {
    file: std::path::PathBuf,
    requested: Format,
    settled: Option<(Format, usize)>,
    as_: Option<ImportAs>,
    /// What was changed or not kept, with counts (shown after the import).
    pub notes: Notes,
}

impl RecordParser {
    pub fn new(file: &Path, format: Format, as_: Option<ImportAs>) -> Self {
        RecordParser {
            file: file.to_owned(),
            requested: format,
            settled: None,
            as_,
            notes: Notes::new(),
        }
    }

    /// The format in use: the one asked for, or the one the first record settled.
    pub fn format(&self) -> Format {
        self.settled.map_or(self.requested, |(f, _)| f)
    }

    /// What the rows become.
    pub fn import_as(&self) -> ImportAs {
        self.as_.unwrap_or(match self.format() {
            Format::Seeds => ImportAs::Seed,
            Format::Eval => ImportAs::Eval,
            _ => ImportAs::Sample,
        })
    }

    fn settle(&mut self, r: &Record) -> Result<Format, FormatError> {
        let file = self.file.as_path();
        let o = obj(r);
        if self.requested != Format::Auto {
            let f = self.requested;
            if !f.fits(o) {
                return Err(FormatError::at(
                    file,
                    r.line,
                    r.element,
                    None,
                    format!("the record lacks the keys the {} format needs", f.name()),
                ));
            }
            return Ok(f);
        }
        let found = candidates(o);
        match (self.settled, found.as_slice()) {
            (_, []) => Err(FormatError::at(file, r.line, r.element, None,
                "cannot tell the format: expected the keys `instruction` and `output` (Alpaca), `conversations` (ShareGPT), `messages` (OpenAI), `prompt` and `completion` (TRL), `instruction` or `question` and `answer` (seeds) or `reference` (eval); pass --format")),
            (_, [_, _, ..]) => Err(FormatError::at(file, r.line, r.element, None, format!(
                "the record fits more than one format ({}); pass --format to choose", names(&found)))),
            (None, [f]) => {
                self.settled = Some((*f, r.line));
                Ok(*f)
            }
            (Some((f, _)), _) if f.fits(o) => Ok(f),
            // Only the loose seed shape fits: read it as the file's format, which names what is
            // missing (a misspelt `output`, say).
            (Some((f, _)), [Format::Seeds]) => Ok(f),
            (Some((f, line)), [g]) => Err(FormatError::at(file, r.line, r.element, None, format!(
                "the record looks like {}, but line {line} made the file {}; pass --format to choose", g.name(), f.name()))),
        }
    }

    /// The items of one record (a seed with several instances gives several samples).
    pub fn parse(&mut self, r: &Record) -> Result<Vec<Item>, FormatError> {
        let format = self.settle(r)?;
        let file = self.file.clone();
        let file = file.as_path();
        let task = opt_str(file, r, obj(r), "task")?;
        let unknown: Vec<&String> =
            obj(r).keys().filter(|k| !format.keys().contains(&k.as_str())).collect();
        match self.import_as() {
            ImportAs::Sample => {
                let extra = (!unknown.is_empty()).then(|| {
                    let m: Map<String, Value> = unknown
                        .iter()
                        .map(|k| ((*k).clone(), obj(r)[k.as_str()].clone()))
                        .collect();
                    Value::Object(m).to_string()
                });
                if let Some((text, rejected)) = pair(file, r, format)? {
                    return Ok(vec![Item::Pair { text, rejected, task, extra }]);
                }
                Ok(sample_texts(file, r, format)?
                    .into_iter()
                    .map(|text| Item::Sample { text, task: task.clone(), extra: extra.clone() })
                    .collect())
            }
            kind => {
                for k in unknown {
                    *self
                        .notes
                        .entry(format!("field `{}` not kept", crate::text::clean_line(k)))
                        .or_default() += 1;
                }
                if kind == ImportAs::Seed {
                    return Ok(vec![Item::Seed { seed: seed(file, r, format)?, task }]);
                }
                let (item, numeric) = eval_item(file, r)?;
                if numeric {
                    *self
                        .notes
                        .entry("`reference` given as a JSON number, stored as its text".into())
                        .or_default() += 1;
                }
                Ok(vec![Item::Eval(item)])
            }
        }
    }
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

/// Reads and parses a whole file into memory (tests and small files; `import` streams).
pub fn parse_file(
    file: &Path,
    format: Format,
    as_: Option<ImportAs>,
) -> Result<(Format, Parsed), FormatError> {
    let f = std::fs::File::open(file)
        .map_err(|e| FormatError::new(file, 0, None, format!("cannot read: {e}")))?;
    let mut reader = super::RecordReader::new(file, std::io::BufReader::new(f));
    let mut records = Vec::new();
    while let Some(r) = reader.next_record() {
        records.push(r?);
    }
    parse_records(file, &records, format, as_)
}

/// Parses records already read.
pub fn parse_records(
    file: &Path,
    records: &[Record],
    format: Format,
    as_: Option<ImportAs>,
) -> Result<(Format, Parsed), FormatError> {
    if records.is_empty() {
        return Err(FormatError::new(file, 0, None, "the file holds no records"));
    }
    let mut p = RecordParser::new(file, format, as_);
    let (mut samples, mut seeds, mut evals) = (Vec::new(), Vec::new(), Vec::new());
    for r in records {
        for item in p.parse(r)? {
            match item {
                Item::Sample { text, task, .. } => samples.push((r.line, text, task)),
                Item::Pair { text, rejected, task, .. } => {
                    let mut bad = text.clone();
                    bad.output = rejected;
                    samples.push((r.line, text, task.clone()));
                    samples.push((r.line, bad, task));
                }
                Item::Seed { seed, task } => seeds.push((r.line, seed, task)),
                Item::Eval(e) => evals.push((r.line, e)),
            }
        }
    }
    let parsed = match p.import_as() {
        ImportAs::Sample => Parsed::Samples(samples),
        ImportAs::Seed => Parsed::Seeds(seeds),
        ImportAs::Eval => Parsed::Eval(evals),
    };
    Ok((p.format(), parsed))
}

pub(super) fn obj(r: &Record) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    r.value.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

pub(super) fn err(file: &Path, r: &Record, field: &str, msg: impl Into<String>) -> FormatError {
    FormatError::at(file, r.line, r.element, Some(field.to_owned()), msg)
}

/// An optional string field; `null` counts as absent (as Hugging Face datasets write it).
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
    match o.get(field) {
        Some(Value::Null) => Err(err(file, r, field, "is null; expected a string")),
        _ => opt_str(file, r, o, field)?.ok_or_else(|| err(file, r, field, "is missing")),
    }
}

pub(super) fn sample_texts(
    file: &Path,
    r: &Record,
    format: Format,
) -> Result<Vec<SampleText>, FormatError> {
    let o = obj(r);
    match format {
        Format::Alpaca | Format::Auto => Ok(vec![alpaca(file, r)?]),
        Format::Sharegpt => {
            let mut t = conversation(file, r, "conversations", chat::SHAREGPT)?;
            if let Some(system) = opt_str(file, r, o, "system")? {
                if t.system.is_some() {
                    return Err(err(
                        file,
                        r,
                        "system",
                        "the conversation has a system message too",
                    ));
                }
                t.system = Some(system);
            }
            Ok(vec![t])
        }
        Format::Openai => Ok(vec![conversation(file, r, "messages", chat::OPENAI)?]),
        Format::PromptCompletion => Ok(vec![prompt_completion(file, r)?]),
        Format::Preference
        | Format::OpenaiPreference
        | Format::AlpacaPreference
        | Format::SharegptPreference => {
            Ok(pair(file, r, format)?.into_iter().map(|p| p.0).collect())
        }
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
            let (e, _) = eval_item(file, r)?;
            Ok(vec![SampleText::new(e.instruction, e.input, e.reference)])
        }
    }
}

/// A preference record's pair (`None` for other formats); the two answers must differ.
fn pair(file: &Path, r: &Record, format: Format) -> Result<Option<prefs::Pair>, FormatError> {
    let p = match format {
        Format::Preference => prefs::trl(file, r)?,
        Format::OpenaiPreference => prefs::openai(file, r)?,
        Format::AlpacaPreference => prefs::alpaca(file, r)?,
        Format::SharegptPreference => prefs::sharegpt(file, r)?,
        _ => return Ok(None),
    };
    if p.0.output == p.1 {
        return Err(err(file, r, "rejected", "is the same answer as the chosen one"));
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests;
