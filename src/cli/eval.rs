//! `distillery eval`: the base model and each round's student on the held-out items, side by
//! side (exact match by the item's scorer, verifier pass rate, mean critic score with
//! `--critic`, loss on the references), stored per model and task; the collapse guard's figures
//! and warnings; and the student's wrong answers on its training items, which the `llm2llm`
//! recipe turns into the next round's seeds.
//!
//! `distillery export-model`: the run's adapter merged into its base, as a GGUF.

use crate::store::{Store, TrainingRun};
use crate::train::evaluate::{all_warnings, evaluate_all, student_gguf, EvalOptions};
use crate::train::metrics::MetricKey;
use crate::workspace::Workspace;
use clap::Args;
use std::path::PathBuf;

/// Options of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Only this task's held-out items.
    #[arg(long)]
    task: Option<String>,
    /// The runs to evaluate [default: every run with a checkpoint]; the base model always.
    #[arg(long, value_delimiter = ',')]
    runs: Vec<i64>,
    /// The base model [default: the newest run's base, else `[teacher] model`, else SmolLM2].
    #[arg(long)]
    base: Option<PathBuf>,
    /// Evaluate again models that already have figures.
    #[arg(long)]
    again: bool,
    /// Also score each answer with the critic (`[judge] critic`, else the teacher); slow.
    #[arg(long)]
    critic: bool,
    /// Training items (seeds, then accepted samples) each student answers, for llm2llm (0: none).
    #[arg(long, default_value_t = 40)]
    train_items: usize,
    /// The figures as one JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Longest answer, in tokens.
    #[arg(long, default_value_t = 96)]
    max_tokens: usize,
}

pub(super) fn run(ws: &Workspace, a: EvalArgs) -> anyhow::Result<()> {
    // A progress line is redrawn in place; a message after it starts on a line of its own.
    let mid_line = std::rc::Rc::new(std::cell::Cell::new(false));
    let opts = EvalOptions {
        task: a.task,
        runs: a.runs,
        base: a.base,
        again: a.again,
        train_items: a.train_items,
        max_tokens: a.max_tokens,
        progress: Box::new({
            let mid = mid_line.clone();
            move |line| {
                mid.set(true);
                eprint!("\reval: {line}")
            }
        }),
    };
    let mut critic = if a.critic {
        Some(crate::work::open::open_critic_or_teacher(ws, &mut |m| eprintln!("eval: {m}"))?)
    } else {
        None
    };
    let critic = critic.as_mut().map(|c| c.as_mut() as &mut dyn crate::llm::Generator);
    let runs = evaluate_all(ws, &opts, critic, &mut |m| {
        if mid_line.replace(false) {
            eprintln!();
        }
        eprintln!("eval: {m}")
    })?;
    if mid_line.get() {
        eprintln!();
    }
    if a.json {
        return print_json(&ws.store()?, &runs);
    }
    print_table(&ws.store()?, &runs)
}

/// Every stored figure, by model and task, with the guard's warnings.
fn print_json(store: &Store, runs: &[TrainingRun]) -> anyhow::Result<()> {
    let metrics = store.metrics()?;
    let rows: Vec<serde_json::Value> = metrics
        .iter()
        .map(|m| {
            let round = m.run_id.and_then(|id| runs.iter().find(|r| r.id == id)).map(|r| r.round);
            serde_json::json!({
                "run": m.run_id, "round": round, "task": m.task, "metric": m.metric,
                "value": m.value, "n": m.n,
            })
        })
        .collect();
    let v = serde_json::json!({ "metrics": rows, "warnings": all_warnings(&metrics, runs) });
    println!("{v}");
    Ok(())
}

fn print_table(store: &Store, runs: &[TrainingRun]) -> anyhow::Result<()> {
    let metrics = store.metrics()?;
    let cols: Vec<(Option<i64>, String)> = std::iter::once((None, "base".to_string()))
        .chain(runs.iter().map(|r| (Some(r.id), format!("round {}", r.round))))
        .collect();
    let get = |run: Option<i64>, task: Option<&str>, k: &str| {
        metrics.iter().find(|m| m.run_id == run && m.task.as_deref() == task && m.metric == k)
    };
    let n = get(None, None, MetricKey::ExactMatch.key()).map_or(0, |m| m.n);
    println!("held-out: {n} items; base and each round's student (greedy answers)");
    let mut tasks: Vec<Option<String>> =
        metrics.iter().filter(|m| m.task.is_some()).map(|m| m.task.clone()).collect();
    tasks.sort();
    tasks.dedup();
    let mut rows: Vec<(String, Option<&str>, MetricKey)> =
        MetricKey::EVAL.iter().map(|k| (k.label().to_string(), None, *k)).collect();
    for t in &tasks {
        // Per task: every metric but the critic score.
        for k in MetricKey::EVAL.iter().filter(|k| **k != MetricKey::CriticScore) {
            let l = k.label();
            // Task names come from imported files: cleaned for the terminal.
            let name = crate::text::clean_line(t.as_deref().unwrap_or(""));
            rows.push((format!("  {name}: {l}"), t.as_deref(), *k));
        }
    }
    for k in [
        MetricKey::SyntheticShare,
        MetricKey::Diversity,
        MetricKey::NearDupRate,
        MetricKey::Distinct2,
    ] {
        rows.push((format!("data: {}", k.label()), None, k));
    }
    // The label column fits the longest label (a task's name can be long).
    let width = rows.iter().map(|(l, _, _)| l.chars().count() + 2).max().unwrap_or(0).max(24);
    print!("{:<width$}", "");
    for (_, c) in &cols {
        print!("{c:>10}");
    }
    println!();
    for (label, task, k) in rows {
        print!("{label:<width$}");
        for (run, _) in &cols {
            let cell = get(*run, task, k.key()).map_or("—".into(), |m| k.format(m.value));
            print!("{cell:>10}");
        }
        println!();
    }
    for w in all_warnings(&metrics, runs) {
        println!("warning: {}", crate::text::clean_line(&w));
    }
    if let Some(f) = runs.last().map(|r| store.failures(Some(r.id))).transpose()? {
        if !f.is_empty() {
            println!("{} wrong answers of the newest student on its training items: `distillery generate --recipe llm2llm` makes the next round's candidates from them", f.len());
        }
    }
    Ok(())
}

/// Options of `export-model`.
#[derive(Debug, Args)]
pub struct ExportModelArgs {
    /// The training run [default: the newest one with a checkpoint].
    #[arg(long)]
    run: Option<i64>,
    /// The GGUF file to write.
    #[arg(short, long)]
    output: PathBuf,
}

pub(super) fn export_model(ws: &Workspace, a: ExportModelArgs) -> anyhow::Result<()> {
    let store = ws.store()?;
    let runs = store.runs()?;
    let run = match a.run {
        Some(id) => runs
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| anyhow::anyhow!("no training run {id}"))?,
        None => runs
            .into_iter()
            .rev()
            .find(|r| {
                crate::train::checkpoint::latest(
                    &crate::train::run_dir(&ws.dir, r.id).join("checkpoints"),
                )
                .is_ok_and(|(l, _)| l.is_some())
            })
            .ok_or_else(|| {
                anyhow::anyhow!("no training run with a checkpoint yet: `distillery train` first")
            })?,
    };
    let (path, step) = student_gguf(ws, &run, &mut |m| eprintln!("export-model: {m}"))?;
    if let Some(p) = a.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(p)?;
    }
    crate::fsio::write_atomic(&a.output, |w| {
        std::io::copy(&mut std::fs::File::open(&path)?, w).map(|_| ())
    })?;
    println!(
        "export-model: run {} (round {}, step {}) merged into {} → {} ({:.0} MB); use it as the teacher with `distillery generate --model {}` or `[teacher] model` in distillery.toml",
        run.id,
        run.round,
        step,
        run.base_model,
        a.output.display(),
        std::fs::metadata(&a.output)?.len() as f64 / 1e6,
        a.output.display()
    );
    Ok(())
}
