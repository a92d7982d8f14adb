//! Writes samples in the training formats TRL, axolotl, LLaMA-Factory and OpenAI read: the
//! shape of each row, and which of a sample's fields a format cannot hold (counted, never dropped
//! in silence). `export_write.rs` streams the rows into files.

use crate::sample::{Message, Role, SampleText, Status};
use crate::store::ExportRow;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// An output format: the shape of each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// `{instruction, input, output}` with LLaMA-Factory's `system` and `history`
    Alpaca,
    /// `{conversations: [{from, value}]}`
    Sharegpt,
    /// `{messages: [{role, content}]}`
    Openai,
    /// TRL's conversational prompt/completion: `{prompt: [...], completion: [{assistant}]}`, the
    /// response-only form (the loss is on the completion)
    PromptCompletion,
    /// Preference pairs as strings: `{prompt, chosen, rejected}`
    Dpo,
    /// TRL's conversational preference format: `{prompt: [...], chosen: [...], rejected: [...]}`
    TrlPairs,
    /// OpenAI preference fine-tuning: `{input: {messages}, preferred_output, non_preferred_output}`
    OpenaiPreference,
}

impl ExportFormat {
    /// Whether rows are preference pairs (from every decided sample) rather than samples.
    pub fn is_pairs(self) -> bool {
        matches!(self, ExportFormat::Dpo | ExportFormat::TrlPairs | ExportFormat::OpenaiPreference)
    }

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Alpaca => "alpaca",
            ExportFormat::Sharegpt => "sharegpt",
            ExportFormat::Openai => "openai",
            ExportFormat::PromptCompletion => "prompt-completion",
            ExportFormat::Dpo => "dpo",
            ExportFormat::TrlPairs => "trl-pairs",
            ExportFormat::OpenaiPreference => "openai-preference",
        }
    }
}

/// Fields a format could not hold, each with the number of rows it was missing from.
pub type Lost = BTreeMap<String, usize>;

fn lose(lost: &mut Lost, what: &str) {
    *lost.entry(what.to_owned()).or_default() += 1;
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

fn conv(m: &[Message]) -> Vec<Value> {
    m.iter().map(|m| json!({"role": role_name(m.role, false), "content": m.content})).collect()
}

/// One sample as a row of `format` (not a pair format), with the imported record's other fields
/// written back and, on request, its provenance and signals under `metadata`.
pub fn sample_value(
    r: &ExportRow,
    format: ExportFormat,
    metadata: Option<Value>,
    lost: &mut Lost,
) -> Value {
    let t = &r.current;
    let mut v = match format {
        ExportFormat::Alpaca => {
            let mut v = json!({"instruction": t.instruction, "input": t.input, "output": t.output});
            if let Some(s) = &t.system {
                v["system"] = json!(s);
            }
            if !t.history.is_empty() {
                match alpaca_history(&t.history) {
                    Some(h) => v["history"] = h,
                    None => lose(lost, "history (turns that are not user/answer pairs)"),
                }
            }
            v
        }
        ExportFormat::Sharegpt => json!({"conversations": t.to_messages().iter()
            .map(|m| json!({"from": role_name(m.role, true), "value": m.content})).collect::<Vec<_>>()}),
        ExportFormat::PromptCompletion => {
            let mut msgs = t.to_messages();
            let answer = msgs.pop().map(|m| vec![m]).unwrap_or_default();
            json!({"prompt": conv(&msgs), "completion": conv(&answer)})
        }
        _ => json!({"messages": conv(&t.to_messages())}),
    };
    write_back_extra(&mut v, r.provenance.extra.as_deref());
    if let Some(m) = metadata {
        v["metadata"] = m;
    }
    v
}

/// LLaMA-Factory's `history`: earlier turns as [user, answer] pairs; `None` when the turns do not
/// pair up that way.
fn alpaca_history(history: &[Message]) -> Option<Value> {
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

/// A row's provenance: where it came from, its decision, and (when given) its machine signals.
pub fn metadata(r: &ExportRow, signals: Option<Value>) -> Value {
    let p = &r.provenance;
    let mut m = json!({
        "id": r.id, "task": r.task, "status": r.status.as_str(), "origin": p.origin, "recipe": p.recipe,
        "model": p.model, "template_hash": p.template_hash, "parent_id": p.parent_id, "seed_id": p.seed_id,
        "round": p.round, "source": p.source, "content_hash": r.content_hash, "critic_score": r.score,
        "decided_at_ms": r.decided_at, "edited": r.current != r.original,
    });
    if let Some(s) = signals {
        m["signals"] = s;
    }
    m
}

/// The part of a sample both sides of a pair share.
fn prompt_key(t: &SampleText) -> (Option<String>, String, String) {
    let history = serde_json::to_string(&t.history).unwrap_or_default();
    (t.system.clone(), history, t.prompt())
}

/// Which side of a split a prompt goes to: the same prompt always goes to the same side.
pub fn prompt_hash(t: &SampleText, seed: u64) -> u64 {
    use sha2::{Digest, Sha256};
    let (system, history, prompt) = prompt_key(t);
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    for part in [system.unwrap_or_default(), history, prompt] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let d = h.finalize();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Preference pairs: every edited sample (edited = chosen, original = rejected), and every kept ×
/// rejected answer to the same prompt. Each comes with the sample whose prompt it has.
pub fn pairs(
    rows: &[ExportRow],
    format: ExportFormat,
    with_provenance: bool,
    lost: &mut Lost,
) -> Vec<(SampleText, Value)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push =
        |prompt: &SampleText, chosen: &str, rejected: &str, meta: Value, lost: &mut Lost| {
            if chosen == rejected
                || !seen.insert((prompt_key(prompt), chosen.to_owned(), rejected.to_owned()))
            {
                return;
            }
            let mut v = pair_value(prompt, chosen, rejected, format, lost);
            if with_provenance {
                v["metadata"] = meta;
            }
            out.push((prompt.clone(), v));
        };
    for r in rows.iter().filter(|r| r.status == Status::Edited) {
        extra_lost(r, lost);
        let meta = json!({"source": "edit", "chosen_id": r.id, "rejected_id": r.id, "chosen": metadata(r, None)});
        push(&r.current, &r.current.output, &r.original.output, meta, lost);
    }
    let mut rejected: HashMap<_, Vec<&ExportRow>> = HashMap::new();
    for r in rows.iter().filter(|r| r.status == Status::Rejected) {
        rejected.entry(prompt_key(&r.current)).or_default().push(r);
    }
    for kept in rows.iter().filter(|r| r.status.is_kept()) {
        for bad in rejected.get(&prompt_key(&kept.current)).into_iter().flatten() {
            extra_lost(kept, lost);
            let meta = json!({"source": "accept_vs_reject", "chosen_id": kept.id, "rejected_id": bad.id,
                              "chosen": metadata(kept, None), "rejected": metadata(bad, None)});
            push(&kept.current, &kept.current.output, &bad.current.output, meta, lost);
        }
    }
    out
}

/// A pair row has no room for the imported record's other fields: name them.
fn extra_lost(r: &ExportRow, lost: &mut Lost) {
    let Some(Ok(Value::Object(extra))) =
        r.provenance.extra.as_deref().map(serde_json::from_str::<Value>)
    else {
        return;
    };
    for k in extra.keys() {
        lose(lost, &format!("`{}` (a field of the imported record)", crate::text::clean_line(k)));
    }
}

fn pair_value(
    prompt: &SampleText,
    chosen: &str,
    rejected: &str,
    format: ExportFormat,
    lost: &mut Lost,
) -> Value {
    let answer = |s: &str| json!([{"role": "assistant", "content": s}]);
    let mut msgs = prompt.to_messages();
    msgs.pop();
    match format {
        ExportFormat::Dpo => {
            if !prompt.history.is_empty() {
                lose(lost, "history (DPO's prompt is one string)");
            }
            let mut v = json!({"prompt": prompt.prompt(), "chosen": chosen, "rejected": rejected});
            if let Some(s) = &prompt.system {
                v["system"] = json!(s);
            }
            v
        }
        ExportFormat::OpenaiPreference => json!({
            "input": {"messages": conv(&msgs)},
            "preferred_output": answer(chosen),
            "non_preferred_output": answer(rejected),
        }),
        _ => json!({"prompt": conv(&msgs), "chosen": answer(chosen), "rejected": answer(rejected)}),
    }
}
