//! A dataset card (`README.md` in the Hugging Face layout) for an export: a YAML header with the
//! configs, splits, features, size category and a licence to fill in, then what the data holds
//! (by origin, recipe, teacher model and decision) and how it was curated.

use super::export::{ExportFormat, Lost};
use crate::store::{Agreement, CuratorStats, ExportRow};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Counts over the samples an export read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub origin: BTreeMap<String, usize>,
    pub recipe: BTreeMap<String, usize>,
    pub model: BTreeMap<String, usize>,
    pub decision: BTreeMap<String, usize>,
    pub template_hashes: BTreeSet<String>,
    /// Top-level keys of the rows written, beyond the format's own.
    pub other_keys: BTreeSet<String>,
}

impl Tally {
    pub fn add(&mut self, r: &ExportRow) {
        let p = &r.provenance;
        *self.origin.entry(p.origin.clone()).or_default() += 1;
        *self.recipe.entry(p.recipe.clone().unwrap_or_else(|| "—".into())).or_default() += 1;
        *self.model.entry(p.model.clone().unwrap_or_else(|| "—".into())).or_default() += 1;
        *self.decision.entry(r.status.as_str().to_owned()).or_default() += 1;
        if let Some(h) = &p.template_hash {
            self.template_hashes.insert(h.clone());
        }
    }
}

/// What the card says beyond the export itself: the workspace's curation figures.
pub struct Curation<'a> {
    pub name: &'a str,
    pub edit_rate: f64,
    pub curators: &'a [CuratorStats],
    pub agreements: &'a [Agreement],
    /// Critic–human agreement (share) and the samples it was measured on.
    pub critic: Option<(f64, u64)>,
}

/// One data file of the export.
pub struct CardFile<'a> {
    pub split: &'a str,
    pub path: &'a str,
    pub rows: usize,
    pub bytes: u64,
}

const MESSAGE: &str =
    "list:\n    - name: role\n      dtype: string\n    - name: content\n      dtype: string";

/// The names of a format's own columns.
pub fn columns(format: ExportFormat) -> Vec<&'static str> {
    features(format).into_iter().map(|(n, _)| n).collect()
}

/// The features of a format's own columns, as `dataset_info` YAML.
fn features(format: ExportFormat) -> Vec<(&'static str, String)> {
    let s = || "dtype: string".to_owned();
    let m = || MESSAGE.to_owned();
    match format {
        ExportFormat::Alpaca => vec![
            ("instruction", s()),
            ("input", s()),
            ("output", s()),
            ("system", s()),
            ("history", "sequence:\n      sequence: string".into()),
        ],
        ExportFormat::Sharegpt => vec![(
            "conversations",
            "list:\n    - name: from\n      dtype: string\n    - name: value\n      dtype: string"
                .into(),
        )],
        ExportFormat::Openai => vec![("messages", m())],
        ExportFormat::PromptCompletion => vec![("prompt", m()), ("completion", m())],
        ExportFormat::Dpo => {
            vec![("prompt", s()), ("chosen", s()), ("rejected", s()), ("system", s())]
        }
        ExportFormat::TrlPairs => vec![("prompt", m()), ("chosen", m()), ("rejected", m())],
        ExportFormat::OpenaiPreference => vec![
            (
                "input",
                format!(
                    "struct:\n    - name: messages\n      {}",
                    MESSAGE.replace("\n    ", "\n      ")
                ),
            ),
            ("preferred_output", m()),
            ("non_preferred_output", m()),
        ],
    }
}

fn size_category(n: usize) -> &'static str {
    match n {
        0..1_000 => "n<1K",
        1_000..10_000 => "1K<n<10K",
        10_000..100_000 => "10K<n<100K",
        100_000..1_000_000 => "100K<n<1M",
        _ => "1M<n<10M",
    }
}

fn table(out: &mut String, title: &str, counts: &BTreeMap<String, usize>) {
    let _ = writeln!(out, "\n| {title} | samples |\n|---|---|");
    for (k, n) in counts {
        let k = crate::text::clean_line(k).replace('|', "\\|");
        let _ = writeln!(out, "| {k} | {n} |");
    }
}

/// The card's text.
pub fn card(
    format: ExportFormat,
    files: &[CardFile],
    tally: &Tally,
    lost: &Lost,
    c: &Curation,
) -> String {
    let total: usize = files.iter().map(|f| f.rows).sum();
    let mut y = String::from("---\n");
    y.push_str("license: other # TODO: the licence of this data (and the terms of the teacher that wrote it)\n");
    y.push_str("task_categories:\n- text-generation\n");
    let _ = writeln!(y, "size_categories:\n- {}", size_category(total));
    y.push_str(
        "tags:\n- synthetic\n- distillery\nconfigs:\n- config_name: default\n  data_files:\n",
    );
    for f in files {
        let _ =
            writeln!(y, "  - split: {}\n    path: \"{}\"", f.split, f.path.replace('"', "\\\""));
    }
    y.push_str("dataset_info:\n");
    if tally.other_keys.is_empty() {
        y.push_str("  features:\n");
        for (name, ty) in features(format) {
            let _ = writeln!(y, "  - name: {name}\n    {ty}");
        }
    }
    y.push_str("  splits:\n");
    for f in files {
        let _ = writeln!(
            y,
            "  - name: {}\n    num_bytes: {}\n    num_examples: {}",
            f.split, f.bytes, f.rows
        );
    }
    y.push_str("---\n\n");
    let name = crate::text::clean_line(c.name);
    let _ = writeln!(
        y,
        "# {name}\n\n{total} rows in the `{}` format, curated with Distillery: a teacher wrote \
         candidates (or they were imported), a critic, votes, verifiers and near-duplicate checks \
         sat beside each one, and curators accepted, edited or rejected them; the decision of each \
         row is counted below.",
        format.name()
    );
    if !tally.other_keys.is_empty() {
        let keys: Vec<&str> = tally.other_keys.iter().map(String::as_str).collect();
        let _ = writeln!(
            y,
            "\nRows also carry {} (fields of the imported records or provenance); the features are \
             left for `datasets` to infer.",
            keys.join(", ")
        );
    }
    y.push_str("\n## What the data holds\n");
    table(&mut y, "origin", &tally.origin);
    table(&mut y, "recipe", &tally.recipe);
    table(&mut y, "teacher model", &tally.model);
    table(&mut y, "decision", &tally.decision);
    y.push_str("\n## How it was curated\n\n");
    let _ = writeln!(y, "- Edit rate: {:.1}% of decided samples.", c.edit_rate * 100.0);
    for k in c.curators {
        let _ = writeln!(
            y,
            "- Curator {}: {} decisions ({} kept, {} edited, {} rejected).",
            crate::text::clean_line(&k.curator),
            k.decisions,
            k.kept,
            k.edited,
            k.rejected
        );
    }
    for a in c.agreements {
        let kappa = a.kappa.map_or("undefined".to_owned(), |k| format!("{k:.2}"));
        let _ = writeln!(
            y,
            "- {} and {} agreed on {} of {} shared samples (Cohen's κ {kappa}).",
            crate::text::clean_line(&a.a),
            crate::text::clean_line(&a.b),
            a.agreed,
            a.samples
        );
    }
    match c.critic {
        Some((share, n)) => {
            let _ = writeln!(y, "- Critic–human agreement: {:.1}% on {n} samples.", share * 100.0);
        }
        None => y.push_str(
            "- Critic–human agreement: not measured (no judged sample was decided by hand).\n",
        ),
    }
    if !tally.template_hashes.is_empty() {
        let hashes: Vec<&str> = tally.template_hashes.iter().map(String::as_str).collect();
        let _ = writeln!(y, "- Prompt templates (SHA-256): {}.", hashes.join(", "));
    }
    if !lost.is_empty() {
        y.push_str("\n## What this format could not hold\n\n");
        for (field, n) in lost {
            let _ = writeln!(y, "- {field}: left out of {n} rows.");
        }
    }
    y.push_str("\n## Licence\n\nTo fill in: the licence of the seed data, of the teacher's outputs, and of this set.\n");
    y
}
