//! Evaluation: the base model and each round's student on the held-out items, side by side
//! (exact match by the item's scorer, verifier pass rate, mean critic score when asked, loss on
//! the references), stored per model and task; the collapse guard's warnings; and the student's
//! wrong answers on its training items, which the `llm2llm` recipe turns into the next round's
//! seeds. `distillery eval` and the workbench's `e` both run this.

use super::data::Formatter;
use super::eval::{answer_all, correct, mean_loss, scorer_for};
use super::metrics::MetricKey;
use crate::store::{Failure, Metric, Store, TrainingRun};
use crate::workspace::Workspace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to evaluate, and how.
pub struct EvalOptions {
    /// Only this task's held-out items.
    pub task: Option<String>,
    /// The runs to evaluate (empty: every run with a checkpoint); the base model always.
    pub runs: Vec<i64>,
    /// The base model (None: the newest run's base, else `[teacher] model`, else SmolLM2).
    pub base: Option<PathBuf>,
    /// Evaluate again models that already have figures.
    pub again: bool,
    /// Training items each student answers, for llm2llm (0: none).
    pub train_items: usize,
    /// Longest answer, in tokens.
    pub max_tokens: usize,
    /// Hears how far the answers got (a line redrawn in place).
    pub progress: Box<dyn Fn(&str)>,
}

/// The merged GGUF of a run's newest good checkpoint (`runs/<id>/student-step-N.gguf`), made
/// when missing. Returns its path and the checkpoint's step.
pub fn student_gguf(
    ws: &Workspace,
    run: &TrainingRun,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<(PathBuf, usize)> {
    let s: super::settings::Settings = serde_json::from_str(&run.params)
        .map_err(|e| anyhow::anyhow!("run {}: unreadable settings: {e}", run.id))?;
    if Path::new(&run.base_model).is_dir() {
        anyhow::bail!(
            "run {} was trained on the Hugging Face folder {}: merging and evaluating need a GGUF base (convert it with llama.cpp's convert_hf_to_gguf.py and train on that), or take the PEFT adapter with `export-adapter`",
            run.id,
            run.base_model
        );
    }
    let dir = super::run_dir(&ws.dir, run.id);
    let (found, skipped) =
        super::checkpoint::latest(&dir.join("checkpoints")).map_err(anyhow::Error::msg)?;
    for line in skipped {
        say(line);
    }
    let found =
        found.ok_or_else(|| anyhow::anyhow!("run {}: no complete checkpoint yet", run.id))?;
    let out = dir.join(format!("student-step-{}.gguf", found.state.step));
    if !out.exists() {
        say(format!(
            "run {}: merging the adapter of step {} into {} …",
            run.id, found.state.step, run.base_model
        ));
        let name = format!(
            "distillery student, run {} round {} step {}",
            run.id, run.round, found.state.step
        );
        super::merge::merge(
            Path::new(&run.base_model),
            found.adapters(),
            s.alpha / s.rank as f64,
            &name,
            &out,
        )
        .map_err(anyhow::Error::msg)?;
        // Older merges of this run are superseded.
        for e in std::fs::read_dir(&dir)?.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("student-step-") && n.ends_with(".gguf") && e.path() != out {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok((out, found.state.step))
}

/// One model evaluated: the base (`run` None) or a run's student.
struct Subject {
    run: Option<TrainingRun>,
    path: PathBuf,
}

/// Evaluates the base model and the runs `a` names (each once, unless `again`), storing their
/// figures; `critic`, when given, also scores each answer. Returns the runs evaluated or considered, oldest first.
pub fn evaluate_all(
    ws: &Workspace,
    a: &EvalOptions,
    mut critic: Option<&mut dyn crate::llm::Generator>,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<Vec<TrainingRun>> {
    let mut store = ws.store()?;
    let items = store.eval_items(a.task.as_deref())?;
    if items.is_empty() {
        anyhow::bail!(
            "no held-out items{}: import some with `distillery import FILE --as eval` (JSONL rows with instruction, input, reference, scorer); they are never trained on",
            a.task.as_deref().map(|t| format!(" for task {t:?}")).unwrap_or_default()
        );
    }
    let runs: Vec<TrainingRun> =
        store.runs()?.into_iter().filter(|r| a.runs.is_empty() || a.runs.contains(&r.id)).collect();
    for id in &a.runs {
        if !runs.iter().any(|r| r.id == *id) {
            anyhow::bail!("no training run {id}");
        }
    }
    let base = a
        .base
        .clone()
        .or_else(|| runs.last().map(|r| PathBuf::from(&r.base_model)))
        .unwrap_or_else(|| ws.teacher_model());
    if !base.exists() {
        anyhow::bail!(
            "{}: no such base model; run `distillery models fetch` or pass --base FILE.gguf",
            base.display()
        );
    }
    let have = store.metrics()?;
    let done = |run: Option<i64>| {
        have.iter().any(|m| m.run_id == run && m.metric == MetricKey::ExactMatch.key())
    };
    let mut subjects = Vec::new();
    if a.again || !done(None) {
        subjects.push(Subject { run: None, path: base.clone() });
    }
    for r in runs.iter().filter(|r| a.again || !done(Some(r.id))) {
        match student_gguf(ws, r, &mut *say) {
            Ok((path, _)) => subjects.push(Subject { run: Some(r.clone()), path }),
            Err(e) if a.runs.is_empty() => say(format!("skipping run {}: {e}", r.id)),
            Err(e) => return Err(e),
        }
    }
    for s in &subjects {
        evaluate(ws, &mut store, s, &items, a, &mut critic, &mut *say)?;
    }
    Ok(runs)
}

fn evaluate(
    ws: &Workspace,
    store: &mut Store,
    s: &Subject,
    items: &[(i64, crate::sample::EvalItem)],
    a: &EvalOptions,
    critic: &mut Option<&mut dyn crate::llm::Generator>,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<()> {
    let name =
        s.run.as_ref().map_or("base".to_string(), |r| format!("round {} (run {})", r.round, r.id));
    let t0 = std::time::Instant::now();
    let prompts: Vec<crate::sample::SampleText> = items
        .iter()
        .map(|(_, i)| {
            crate::sample::SampleText::new(i.instruction.clone(), i.input.clone(), String::new())
        })
        .collect();
    let mut model = crate::llm::LocalModel::load(&s.path)?;
    let n = prompts.len();
    let answers = answer_all(&mut model, &prompts, a.max_tokens, &mut |i| {
        (a.progress)(&format!("{name}: {i}/{n} held-out answers"))
    })?;
    // Per task and overall: [right, verifier passed, verifier checked, critic sum, critic n].
    let mut acc: BTreeMap<Option<String>, [f64; 5]> = BTreeMap::new();
    let (text, _) = crate::judge::critic::rubric(Some(&ws.dir));
    for ((_, item), answer) in items.iter().zip(&answers) {
        let right = correct(&item.scorer, answer, &item.reference);
        let checks = crate::judge::verify::checks_for(
            &ws.config.judge.verify,
            item.task.as_deref(),
            None,
            answer,
            Some(&item.reference),
        );
        // Exact match already counts the reference; the pass rate is the other verifiers'.
        let verdicts: Vec<bool> =
            checks.iter().filter(|c| c.name != "reference").filter_map(|c| c.passed).collect();
        let score = match critic.as_mut() {
            Some(c) => {
                crate::judge::critic::critique(
                    &mut **c,
                    &text,
                    &crate::sample::SampleText::new(
                        item.instruction.clone(),
                        item.input.clone(),
                        answer.clone(),
                    ),
                )?
                .verdict
                .score
            }
            None => None,
        };
        // Overall figures only for the whole set: a --task run must not stand in for them.
        let keys =
            if a.task.is_some() { vec![item.task.clone()] } else { vec![item.task.clone(), None] };
        for key in keys {
            let e = acc.entry(key).or_default();
            e[0] += right as u8 as f64;
            if !verdicts.is_empty() {
                e[1] += verdicts.iter().all(|&v| v) as u8 as f64;
                e[2] += 1.0;
            }
            if let Some(sc) = score {
                e[3] += sc as f64;
                e[4] += 1.0;
            }
        }
    }
    // The student's wrong answers on its training items (what llm2llm starts from).
    let failures = match &s.run {
        Some(r) if a.train_items > 0 => Some(train_failures(store, r, &mut model, a)?),
        _ => None,
    };
    drop(model);
    // The loss on the references, per task.
    let f = Formatter::from_gguf(&s.path)?;
    let lora = super::model::LoraConfig { targets: Vec::new(), ..Default::default() };
    let mut tm = super::model::TrainModel::from_gguf(&s.path, &lora, candle_core::DType::F32)?;
    // (mean loss, items, response tokens) per task; the overall figure from those, weighted by tokens.
    let mut losses: BTreeMap<Option<String>, (f64, usize, usize)> = BTreeMap::new();
    // Items without a task make the overall figure themselves (the key None is both).
    for key in acc.keys().filter(|k| k.is_some() || acc.len() == 1) {
        let ex: Vec<_> = items
            .iter()
            .filter(|(_, i)| key.is_none() || &i.task == key)
            .map(|(id, i)| {
                f.example(
                    format!("eval item {id}"),
                    &crate::sample::SampleText::new(
                        i.instruction.clone(),
                        i.input.clone(),
                        i.reference.clone(),
                    ),
                )
            })
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?;
        let (l, tokens) = mean_loss(&mut tm, &ex, 4)?;
        losses.insert(key.clone(), (l, ex.len(), tokens));
    }
    if acc.contains_key(&None) && !losses.contains_key(&None) {
        let (sum, items, tokens) = losses
            .values()
            .filter(|(l, _, _)| l.is_finite())
            .fold((0.0, 0, 0), |(s, i, t), (l, n, k)| (s + l * *k as f64, i + n, t + k));
        losses.insert(
            None,
            (if tokens == 0 { f64::NAN } else { sum / tokens as f64 }, items, tokens),
        );
    }
    let run_id = s.run.as_ref().map(|r| r.id);
    for (task, e) in &acc {
        let count = items.iter().filter(|(_, i)| task.is_none() || &i.task == task).count();
        let mut m =
            vec![(MetricKey::ExactMatch.key().to_string(), e[0] / count as f64, count as i64)];
        if e[2] > 0.0 {
            m.push((MetricKey::VerifierPass.key().into(), e[1] / e[2], e[2] as i64));
        }
        if e[4] > 0.0 {
            m.push((MetricKey::CriticScore.key().into(), e[3] / e[4], e[4] as i64));
        }
        if let Some((l, k, _)) = losses.get(task).filter(|(l, _, _)| l.is_finite()) {
            m.push((MetricKey::Loss.key().into(), *l, *k as i64));
        }
        store.record_metrics(run_id, task.as_deref(), &m)?;
    }
    if let (Some(r), Some((wrong, asked))) = (&s.run, failures) {
        say(format!(
            "run {}: {wrong} of {asked} training items answered wrong (the llm2llm recipe's sources)",
            r.id
        ));
    }
    say(format!("{name} done in {:.0} s", t0.elapsed().as_secs_f64()));
    Ok(())
}

/// Asks the student its training items (seed examples, then accepted samples, up to
/// `train_items`) and stores the wrong answers. Returns (wrong, asked).
fn train_failures(
    store: &mut Store,
    run: &TrainingRun,
    model: &mut crate::llm::LocalModel,
    a: &EvalOptions,
) -> anyhow::Result<(usize, usize)> {
    let task = a.task.as_deref();
    let mut items: Vec<(&str, i64, Option<String>, crate::sample::SampleText)> = Vec::new();
    let seeds = store.seeds()?;
    for s in seeds.iter().filter(|s| task.is_none() || s.task.as_deref() == task) {
        if let Some(i) = s.seed.instances.iter().find(|i| !i.output.trim().is_empty()) {
            items.push((
                "seed",
                s.id,
                s.task.clone(),
                crate::sample::SampleText::new(
                    s.seed.instruction.clone(),
                    i.input.clone(),
                    i.output.clone(),
                ),
            ));
        }
    }
    for r in store.export_rows(&[crate::sample::Status::Accepted, crate::sample::Status::Edited])? {
        if (task.is_none() || r.task.as_deref() == task) && r.current.history.is_empty() {
            items.push(("sample", r.id, r.task.clone(), r.current));
        }
    }
    items.truncate(a.train_items);
    let prompts: Vec<_> = items.iter().map(|(_, _, _, t)| t.clone()).collect();
    let n = prompts.len();
    let answers = answer_all(model, &prompts, a.max_tokens, &mut |i| {
        (a.progress)(&format!("run {}: {i}/{n} training items", run.id))
    })?;
    let failures: Vec<Failure> = items
        .iter()
        .zip(answers)
        .filter(|((_, _, _, t), ans)| !correct(scorer_for(&t.output), ans, &t.output))
        .map(|((kind, id, task, t), ans)| Failure {
            id: 0,
            run_id: run.id,
            kind: kind.to_string(),
            item_id: *id,
            task: task.clone(),
            instruction: t.instruction.clone(),
            input: t.input.clone(),
            reference: t.output.clone(),
            answer: ans,
        })
        .collect();
    store.record_failures(run.id, &failures)?;
    Ok((failures.len(), n))
}

/// The figures of one model, `(metric, value)`, overall (task None).
pub fn overall(metrics: &[Metric], run: Option<i64>) -> Vec<(String, f64)> {
    metrics
        .iter()
        .filter(|m| m.run_id == run && m.task.is_none())
        .map(|m| (m.metric.clone(), m.value))
        .collect()
}

/// The guard's warnings for every run against the one before it (the base model's held-out
/// figures for the first).
pub fn all_warnings(metrics: &[Metric], runs: &[TrainingRun]) -> Vec<String> {
    let mut out = Vec::new();
    let mut before = (overall(metrics, None), "the base model".to_string());
    for r in runs {
        let now = overall(metrics, Some(r.id));
        if now.is_empty() {
            continue;
        }
        out.extend(super::guard::warnings(r.round, &now, &before.0, &before.1));
        // Keep the previous figures a metric at a time: a round not yet evaluated still has guard figures.
        let mut merged = before.0.clone();
        for (k, v) in now {
            merged.retain(|(m, _)| *m != k);
            merged.push((k, v));
        }
        before = (merged, format!("round {}", r.round));
    }
    out
}
