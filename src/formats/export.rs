//! Writes samples in the training formats TRL, axolotl and friends read, atomically.

use crate::fsio::write_atomic;
use crate::sample::{Role, SampleText, Status};
use crate::store::ExportRow;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// `{instruction, input, output}`
    Alpaca,
    /// `{conversations: [{from, value}]}`
    Sharegpt,
    /// `{messages: [{role, content}]}`
    Openai,
    /// Preference pairs as strings: `{prompt, chosen, rejected}`
    Dpo,
    /// TRL's conversational preference format: `{prompt: [...], chosen: [...], rejected: [...]}`
    TrlPairs,
}

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: ExportFormat,
    pub with_provenance: bool,
    /// Write one JSON array instead of JSON Lines (chosen by a `.json` file name).
    pub json_array: bool,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub rows: usize,
    /// Multi-turn samples whose earlier turns the format cannot hold (Alpaca, when the turns are
    /// not user/answer pairs).
    pub dropped_history: usize,
}

/// Writes `rows` (already filtered by status for sample formats; all decided samples for pair
/// formats) to `path` atomically.
pub fn export(
    rows: &[ExportRow],
    path: &Path,
    opts: &ExportOptions,
) -> std::io::Result<ExportSummary> {
    let mut summary = ExportSummary::default();
    let values: Vec<Value> = match opts.format {
        ExportFormat::Dpo | ExportFormat::TrlPairs => pairs(rows, opts),
        _ => rows
            .iter()
            .map(|r| {
                let mut v = sample_value(&r.current, opts.format);
                if opts.format == ExportFormat::Alpaca && !r.current.history.is_empty() {
                    match alpaca_history(&r.current.history) {
                        Some(h) => v["history"] = h,
                        None => summary.dropped_history += 1,
                    }
                }
                write_back_extra(&mut v, r.provenance.extra.as_deref());
                if opts.with_provenance {
                    v["metadata"] = metadata(r);
                }
                v
            })
            .collect(),
    };
    summary.rows = values.len();
    write_atomic(path, |w| write_values(w, &values, opts.json_array))?;
    Ok(summary)
}

fn write_values(w: &mut dyn Write, values: &[Value], array: bool) -> std::io::Result<()> {
    if array {
        w.write_all(b"[")?;
    }
    for (i, v) in values.iter().enumerate() {
        if array {
            w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        }
        serde_json::to_writer(&mut *w, v)?;
        if !array {
            w.write_all(b"\n")?;
        }
    }
    if array {
        w.write_all(b"\n]\n")?;
    }
    Ok(())
}

fn role_name(role: Role, sharegpt: bool) -> &'static str {
    match (role, sharegpt) {
        (Role::System, _) => "system",
        (Role::User, true) => "human",
        (Role::User, false) => "user",
        (Role::Assistant, true) => "gpt",
        (Role::Assistant, false) => "assistant",
    }
}

fn sample_value(t: &SampleText, format: ExportFormat) -> Value {
    match format {
        ExportFormat::Alpaca => {
            let mut v = json!({"instruction": t.instruction, "input": t.input, "output": t.output});
            if let Some(s) = &t.system {
                v["system"] = json!(s);
            }
            v
        }
        ExportFormat::Sharegpt => json!({"conversations": t.to_messages().iter()
            .map(|m| json!({"from": role_name(m.role, true), "value": m.content})).collect::<Vec<_>>()}),
        _ => json!({"messages": t.to_messages().iter()
            .map(|m| json!({"role": role_name(m.role, false), "content": m.content})).collect::<Vec<_>>()}),
    }
}

/// LLaMA-Factory's `history`: earlier turns as [user, answer] pairs; `None` when the turns do not
/// pair up that way.
fn alpaca_history(history: &[crate::sample::Message]) -> Option<Value> {
    if !history.len().is_multiple_of(2) {
        return None;
    }
    let pairs = history.chunks(2).map(|p| match p {
        [u, a] if u.role == Role::User && a.role == Role::Assistant => {
            Some(json!([u.content, a.content]))
        }
        _ => None,
    });
    pairs.collect::<Option<Vec<_>>>().map(Value::Array)
}

/// The imported record's other fields, back at the top level (never over a field of the format).
fn write_back_extra(v: &mut Value, extra: Option<&str>) {
    let Some(Ok(Value::Object(extra))) = extra.map(serde_json::from_str::<Value>) else {
        return;
    };
    if let Value::Object(o) = v {
        for (k, x) in extra {
            o.entry(k).or_insert(x);
        }
    }
}

fn metadata(r: &ExportRow) -> Value {
    let p = &r.provenance;
    json!({
        "id": r.id, "task": r.task, "status": r.status.as_str(), "origin": p.origin, "recipe": p.recipe,
        "model": p.model, "template_hash": p.template_hash, "parent_id": p.parent_id, "seed_id": p.seed_id,
        "round": p.round, "source": p.source, "content_hash": r.content_hash, "critic_score": r.score,
        "decided_at_ms": r.decided_at, "edited": r.current != r.original,
    })
}

/// The part of a sample both sides of a pair share.
fn prompt_key(t: &SampleText) -> (Option<String>, String, String) {
    let history = serde_json::to_string(&t.history).unwrap_or_default();
    (t.system.clone(), history, t.prompt())
}

/// Preference pairs: every edited sample (edited = chosen, original = rejected), and every kept ×
/// rejected answer to the same prompt.
fn pairs(rows: &[ExportRow], opts: &ExportOptions) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |prompt: &SampleText, chosen: &str, rejected: &str, meta: Value| {
        if chosen == rejected
            || !seen.insert((prompt_key(prompt), chosen.to_owned(), rejected.to_owned()))
        {
            return;
        }
        let mut v = pair_value(prompt, chosen, rejected, opts.format);
        if opts.with_provenance {
            v["metadata"] = meta;
        }
        out.push(v);
    };
    for r in rows.iter().filter(|r| r.status == Status::Edited) {
        let meta = json!({"source": "edit", "chosen_id": r.id, "rejected_id": r.id, "chosen": metadata(r)});
        push(&r.current, &r.current.output, &r.original.output, meta);
    }
    let mut rejected: HashMap<_, Vec<&ExportRow>> = HashMap::new();
    for r in rows.iter().filter(|r| r.status == Status::Rejected) {
        rejected.entry(prompt_key(&r.current)).or_default().push(r);
    }
    for kept in rows.iter().filter(|r| r.status.is_kept()) {
        for bad in rejected.get(&prompt_key(&kept.current)).into_iter().flatten() {
            let meta = json!({"source": "accept_vs_reject", "chosen_id": kept.id, "rejected_id": bad.id,
                              "chosen": metadata(kept), "rejected": metadata(bad)});
            push(&kept.current, &kept.current.output, &bad.current.output, meta);
        }
    }
    out
}

fn pair_value(prompt: &SampleText, chosen: &str, rejected: &str, format: ExportFormat) -> Value {
    if format == ExportFormat::Dpo {
        let mut v = json!({"prompt": prompt.prompt(), "chosen": chosen, "rejected": rejected});
        if let Some(s) = &prompt.system {
            v["system"] = json!(s);
        }
        return v;
    }
    let mut msgs = prompt.to_messages();
    msgs.pop();
    let conv = |m: &[crate::sample::Message]| {
        m.iter()
            .map(|m| json!({"role": role_name(m.role, false), "content": m.content}))
            .collect::<Vec<_>>()
    };
    json!({
        "prompt": conv(&msgs),
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    })
}
