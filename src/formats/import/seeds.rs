//! Seed tasks (Self-Instruct's `instruction` + `instances`, or one example in any sample format)
//! and held-out eval items (`instruction`, `input`, `reference`, `scorer`).

use super::{err, obj, opt_str, req_str, sample_texts, type_name, Format, FormatError, Record};
use crate::sample::{EvalItem, Instance, SeedTask};
use serde_json::Value;
use std::path::Path;

pub(super) fn seed(file: &Path, r: &Record, format: Format) -> Result<SeedTask, FormatError> {
    let o = obj(r);
    if !matches!(format, Format::Alpaca | Format::Seeds | Format::Eval | Format::Auto) {
        let t = sample_texts(file, r, format)?.remove(0);
        return Ok(SeedTask {
            instruction: t.prompt(),
            instances: vec![Instance { input: String::new(), output: t.output }],
            ..Default::default()
        });
    }
    // GSM8K's shape: the question, and a worked answer ending in "#### N" (the reference).
    if !o.contains_key("instruction") && o.contains_key("question") {
        let question = req_str(file, r, o, "question")?;
        let answer = req_str(file, r, o, "answer")?;
        return Ok(SeedTask {
            instruction: question,
            instances: vec![Instance { input: String::new(), output: answer }],
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

/// An eval item, and whether its reference was a JSON number (stored as its text).
pub(super) fn eval_item(file: &Path, r: &Record) -> Result<(EvalItem, bool), FormatError> {
    let o = obj(r);
    let mut numeric = false;
    let reference = match o.get("reference").or_else(|| o.get("output")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => {
            numeric = true;
            n.to_string()
        }
        Some(Value::Null) => return Err(err(file, r, "reference", "is null")),
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
    let item = EvalItem {
        task: opt_str(file, r, o, "task")?,
        instruction: req_str(file, r, o, "instruction")?,
        input: opt_str(file, r, o, "input")?.unwrap_or_default(),
        reference,
        scorer,
    };
    Ok((item, numeric))
}
