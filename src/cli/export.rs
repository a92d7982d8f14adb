//! `distillery export`: samples, preference pairs or the held-out set to a file (or a train and
//! a validation file), streamed and written atomically, naming what the format cannot hold.

use crate::formats::{
    card, export_store, CardFile, Container, Curation, ExportFormat, ExportOptions, Split,
};
use crate::sample::Status;
use crate::text::clean_line;
use crate::workspace::Workspace;
use std::path::Path;

/// The statuses a `--status` value selects.
pub fn statuses(name: &str) -> anyhow::Result<Vec<Status>> {
    Ok(match name {
        "accepted" => vec![Status::Accepted, Status::Edited],
        "all" => Status::ALL.to_vec(),
        other => vec![Status::parse(other).ok_or_else(|| {
            anyhow::anyhow!(
                "--status {other:?}: expected accepted, edited, rejected, pending or all"
            )
        })?],
    })
}

/// What `distillery export` was asked for.
pub struct ExportArgs<'a> {
    pub format: Option<ExportFormat>,
    pub status: &'a str,
    pub out: &'a Path,
    pub with_provenance: bool,
    /// The share of prompts in the train file.
    pub split: Option<f64>,
    pub seed: u64,
    /// The held-out eval items instead of samples.
    pub eval: bool,
    /// Write a dataset card (README.md) beside the files.
    pub card: bool,
    pub json: bool,
}

pub(super) fn run(ws: &Workspace, a: ExportArgs) -> anyhow::Result<()> {
    let shown = clean_line(&a.out.display().to_string());
    let container = Container::from_path(a.out).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    if a.eval {
        return eval(ws, a.out, container, a.json);
    }
    let format = a.format.ok_or_else(|| {
        anyhow::anyhow!("--format is needed: alpaca, sharegpt, openai, prompt-completion, dpo, trl-pairs or openai-preference")
    })?;
    let split = match a.split {
        Some(t) if !(t > 0.0 && t < 1.0) => {
            anyhow::bail!("--split {t}: the train share must be between 0 and 1 (e.g. 0.9)")
        }
        t => t.map(|train| Split { train, seed: a.seed }),
    };
    let opts = ExportOptions { format, with_provenance: a.with_provenance, container, split };
    let summary = export_store(&ws.store()?, &statuses(a.status)?, a.out, &opts)
        .map_err(|e| anyhow::anyhow!("{shown}: cannot write: {e}"))?;
    let what = if format.is_pairs() { "preference pairs" } else { "samples" };
    let files: Vec<String> =
        summary.files.iter().map(|f| clean_line(&f.display().to_string())).collect();
    if a.json {
        let lost: serde_json::Map<String, serde_json::Value> =
            summary.lost.iter().map(|(k, n)| (k.clone(), (*n).into())).collect();
        let v = serde_json::json!({
            "output": shown, "files": files, "format": format.name(), "what": what,
            "rows": summary.total(), "rows_per_file": summary.rows, "lost": lost,
        });
        println!("{v}");
    } else {
        for (f, n) in files.iter().zip(&summary.rows) {
            println!("{f}: {n} {what} written ({})", format.name());
        }
    }
    for (field, n) in &summary.lost {
        eprintln!("warning: {} cannot hold {field}: left out of {n} row(s)", format.name());
    }
    if a.card {
        let path = write_card(ws, format, &summary)?;
        if !a.json {
            println!("{}: dataset card written", clean_line(&path.display().to_string()));
        }
    }
    Ok(())
}

/// Writes README.md beside the export's files, from the export and the workspace's figures.
fn write_card(
    ws: &Workspace,
    format: ExportFormat,
    summary: &crate::formats::ExportSummary,
) -> anyhow::Result<std::path::PathBuf> {
    let store = ws.store()?;
    let stats = store.stats()?;
    let (curators, agreements) = store.curator_stats()?;
    let critic = stats.judge.agreement().map(|a| (a, stats.judge.compared));
    let names: Vec<String> = summary
        .files
        .iter()
        .map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        .collect();
    let splits: &[&str] = if names.len() == 2 { &["train", "validation"] } else { &["train"] };
    let files: Vec<CardFile> = names
        .iter()
        .zip(splits)
        .zip(summary.rows.iter().zip(&summary.files))
        .map(|((path, split), (rows, file))| {
            let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
            CardFile { split, path, rows: *rows, bytes }
        })
        .collect();
    let dir_name = ws.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = ws.config.name.clone().unwrap_or(dir_name);
    let c = Curation {
        name: &name,
        edit_rate: stats.edit_rate,
        curators: &curators,
        agreements: &agreements,
        critic,
    };
    let text = card(format, &files, &summary.tally, &summary.lost, &c);
    let dir = match summary.files.first().and_then(|f| f.parent()) {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let path = dir.join("README.md");
    crate::fsio::write_atomic(&path, |w| w.write_all(text.as_bytes())).map_err(|e| {
        anyhow::anyhow!("{}: cannot write: {e}", clean_line(&path.display().to_string()))
    })?;
    Ok(path)
}

/// The held-out eval items in the eval format (`task`, `instruction`, `input`, `reference`,
/// `scorer`), which `import --as eval` reads back.
fn eval(ws: &Workspace, out: &Path, container: Container, json: bool) -> anyhow::Result<()> {
    let items = ws.store()?.eval_items(None)?;
    let shown = clean_line(&out.display().to_string());
    crate::fsio::write_atomic(out, |w| {
        if container == Container::JsonArray {
            w.write_all(b"[")?;
        }
        for (i, (_, e)) in items.iter().enumerate() {
            if container == Container::JsonArray {
                w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
            }
            let v = serde_json::json!({"task": e.task, "instruction": e.instruction,
                "input": e.input, "reference": e.reference, "scorer": e.scorer});
            serde_json::to_writer(&mut *w, &v)?;
            if container == Container::Jsonl {
                w.write_all(b"\n")?;
            }
        }
        if container == Container::JsonArray {
            w.write_all(b"\n]\n")?;
        }
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("{shown}: cannot write: {e}"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"output": shown, "what": "eval items", "rows": items.len()})
        );
    } else {
        println!("{shown}: {} eval items written", items.len());
    }
    Ok(())
}
