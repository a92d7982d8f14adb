//! Headless rounds: generate → (judge) → decide → train → eval, with a curator policy deciding.
//! Each round samples fresh seed questions with rejection sampling (failed answers kept, marked,
//! for the policy), decides them by the policy as automatic events, retrains the student from
//! the base on everything accepted so far (data accumulates; no round replaces it), and
//! evaluates it on the held-out items. A round's step is stored, so an interrupted round
//! continues where it stopped (`distillery round --resume`).

use super::generate::{generate, GenEvent, GenerateSpec};
use super::policy::{apply, Decided, Policy};
use super::training::{train_run, TrainEvent};
use crate::llm::{GenParams, Generator};
use crate::recipes::Recipe;
use crate::store::{Round, RoundStep, RunStatus};
use crate::train::evaluate::{evaluate_all, EvalOptions};
use crate::train::settings::Settings;
use crate::workspace::Workspace;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How rounds run.
#[derive(Debug, Clone)]
pub struct RoundSpec {
    pub policy: Policy,
    /// Seed questions sampled per task per round.
    pub budget: usize,
    /// Only this task's questions and held-out items (None: every task).
    pub task: Option<String>,
    /// Answers per question.
    pub k: usize,
    /// Worked examples in each teacher prompt.
    pub shots: usize,
    pub params: GenParams,
    /// The training settings (every round trains from `base`).
    pub train: Settings,
    pub base: PathBuf,
    /// Run the critic and the vote on the round's candidates (the `voted` policy needs it).
    pub judge: bool,
    /// Longest held-out answer, in tokens.
    pub eval_max_tokens: usize,
    /// Stop when the round reaches this step (`Done`: run it whole); the outcome benchmark
    /// generates once and decides the same candidates by several policies.
    pub until: RoundStep,
}

/// What a round reports as it goes.
#[derive(Debug, Clone)]
pub enum RoundEvent {
    Step { round: i64, step: RoundStep },
    Note(String),
    Generated(crate::recipes::run::Progress),
    Train(crate::train::run::StepReport),
}

/// A finished round.
#[derive(Debug, Clone)]
pub struct RoundReport {
    pub round: Round,
    pub decided: Decided,
    pub run_id: Option<i64>,
    /// Overall and per-task held-out figures of the round's student: (task, metric, value).
    pub metrics: Vec<(Option<String>, String, f64)>,
}

/// Runs one round (or continues the open one when `resume`), with `teacher` generating.
pub fn run_round(
    ws: &Workspace,
    spec: &RoundSpec,
    teacher: &mut dyn Generator,
    resume: bool,
    cancel: Arc<AtomicBool>,
    on: &mut dyn FnMut(RoundEvent),
) -> anyhow::Result<RoundReport> {
    let mut store = ws.store()?;
    let open = store.open_round()?;
    let mut round = match open {
        Some(r) if resume => {
            on(RoundEvent::Note(format!("continuing round {} at its {} step", r.id, r.step)));
            r
        }
        Some(r) if r.step != RoundStep::Cancelled => anyhow::bail!(
            "round {} stopped at its {} step: continue it with `distillery round --resume`",
            r.id,
            r.step
        ),
        _ => {
            store.start_round(spec.policy.name(), Recipe::RejectionSampling.name(), spec.budget)?
        }
    };
    let policy: Policy = round.policy.parse().map_err(anyhow::Error::msg)?;
    let cancelled = |store: &mut crate::store::Store, id: i64| -> anyhow::Result<bool> {
        if cancel.load(Ordering::SeqCst) {
            store.advance_round(id, RoundStep::Cancelled, None, None, &json!({}))?;
            return Ok(true);
        }
        Ok(false)
    };
    let mut step = if round.step == RoundStep::Cancelled {
        // A cancelled round continues at the first step it has not finished.
        if round.run_id.is_some() {
            RoundStep::Train
        } else if round.last_sample.is_some() {
            RoundStep::Decide
        } else {
            RoundStep::Generate
        }
    } else {
        round.step
    };
    let mut decided = Decided::default();
    loop {
        on(RoundEvent::Step { round: round.id, step });
        let t0 = Instant::now();
        let next = match step {
            RoundStep::Generate => {
                for task in store.seed_tasks()? {
                    if spec.task.as_ref().is_some_and(|t| *t != task) {
                        continue;
                    }
                    if crate::recipes::rejection::questions(&store, Some(&task), 0)?.is_empty() {
                        continue; // a task without questions has nothing to sample
                    }
                    let mut g = GenerateSpec::new(Recipe::RejectionSampling, spec.budget);
                    g.task = Some(task.clone());
                    g.k = spec.k;
                    g.keep_failed = true;
                    g.shots = spec.shots;
                    g.round = round.id;
                    g.params = GenParams {
                        seed: spec.params.seed + round.id as u64,
                        ..spec.params.clone()
                    };
                    let mut each = |e: GenEvent| {
                        if let GenEvent::Attempt { progress, .. } = e {
                            on(RoundEvent::Generated(progress));
                        }
                    };
                    let p = generate(ws, &g, teacher, cancel.clone(), &mut each)?;
                    on(RoundEvent::Note(format!(
                        "{task}: {} questions, {} candidates kept, {} dropped, {:.0} s",
                        p.attempts, p.kept, p.dropped, p.seconds
                    )));
                }
                let last = store.last_sample_id()?;
                round = store.advance_round(
                    round.id,
                    RoundStep::Decide,
                    Some(last),
                    None,
                    &json!({}),
                )?;
                RoundStep::Decide
            }
            RoundStep::Decide => {
                let ids = store.round_samples(&round)?;
                if spec.judge || policy.needs_votes() {
                    judge(ws, spec, teacher, &ids, cancel.clone(), on)?;
                }
                decided = apply(&mut store, policy, &ids)?;
                on(RoundEvent::Note(format!(
                    "{policy}: {} accepted, {} edited, {} rejected, {} undecided",
                    decided.accepted, decided.edited, decided.rejected, decided.undecided
                )));
                let res = json!({ "decided": decided });
                round = store.advance_round(round.id, RoundStep::Train, None, None, &res)?;
                RoundStep::Train
            }
            RoundStep::Train => {
                let resumed = match round.run_id {
                    Some(id) => store.run(id)?.filter(|run| run.status != RunStatus::Done),
                    None => None,
                };
                let already_done = round.run_id.is_some() && resumed.is_none();
                let data = crate::train::data::round_data(
                    &store,
                    spec.train.task.as_deref(),
                    spec.train.seed_share,
                )?;
                if round.run_id.is_none() && data.texts.is_empty() {
                    // Nothing accepted yet: the student is still the base model.
                    on(RoundEvent::Note(
                        "nothing accepted to train on: the student stays the base model".into(),
                    ));
                    let res = json!({ "untrained": true });
                    round = store.advance_round(round.id, RoundStep::Done, None, None, &res)?;
                    step = RoundStep::Done;
                    continue;
                }
                let run_id = if already_done {
                    round.run_id
                } else {
                    let mut e = |ev: TrainEvent| match ev {
                        TrainEvent::Note(m) => on(RoundEvent::Note(m)),
                        TrainEvent::Resumed { from, skipped } => {
                            for m in skipped {
                                on(RoundEvent::Note(m));
                            }
                            on(RoundEvent::Note(format!("training resumed from step {from:?}")));
                        }
                        TrainEvent::Step(s) => on(RoundEvent::Train(s)),
                    };
                    let t = train_run(ws, &spec.train, &spec.base, resumed, &cancel, &mut e)?;
                    let res = json!({ "trained": t.synthetic, "real": t.real });
                    round = store.advance_round(
                        round.id,
                        RoundStep::Train,
                        None,
                        Some(t.run_id),
                        &res,
                    )?;
                    if t.status != RunStatus::Done {
                        cancelled(&mut store, round.id)?;
                        anyhow::bail!(
                            "round {}: training was cancelled (run {})",
                            round.id,
                            t.run_id
                        );
                    }
                    Some(t.run_id)
                };
                round = store.advance_round(round.id, RoundStep::Eval, None, run_id, &json!({}))?;
                RoundStep::Eval
            }
            RoundStep::Eval => {
                let run = round
                    .run_id
                    .ok_or_else(|| anyhow::anyhow!("round {}: no run to evaluate", round.id))?;
                let opts = EvalOptions {
                    task: spec.task.clone(),
                    runs: vec![run],
                    base: Some(spec.base.clone()),
                    again: false,
                    train_items: 0,
                    max_tokens: spec.eval_max_tokens,
                    progress: Box::new(|_| {}),
                };
                evaluate_all(ws, &opts, None, &mut |m| on(RoundEvent::Note(m)))?;
                let store2 = ws.store()?;
                let m: Vec<_> =
                    store2.metrics()?.into_iter().filter(|m| m.run_id == Some(run)).collect();
                let figures: serde_json::Map<String, serde_json::Value> = m
                    .iter()
                    .map(|m| {
                        (
                            format!(
                                "{}{}",
                                m.task.as_deref().map(|t| format!("{t}.")).unwrap_or_default(),
                                m.metric
                            ),
                            json!(m.value),
                        )
                    })
                    .collect();
                let res = json!({ "figures": figures });
                round = store.advance_round(round.id, RoundStep::Done, None, None, &res)?;
                RoundStep::Done
            }
            RoundStep::Done | RoundStep::Failed | RoundStep::Cancelled => break,
        };
        if next == spec.until && next != RoundStep::Done {
            break;
        }
        let secs = json!({ format!("{}_s", step.name()): t0.elapsed().as_secs_f64() });
        round = store.advance_round(round.id, next, None, None, &secs)?;
        if next != RoundStep::Done && cancelled(&mut store, round.id)? {
            anyhow::bail!("round {} cancelled before its {next} step", round.id);
        }
        step = next;
    }
    let run_id = round.run_id;
    // An untrained round's student is the base model: its figures are the base's.
    let metrics = store
        .metrics()?
        .into_iter()
        .filter(|m| m.run_id == run_id && (run_id.is_some() || !m.metric.starts_with("guard.")))
        .map(|m| (m.task, m.metric, m.value))
        .collect();
    Ok(RoundReport { round, decided, run_id, metrics })
}

/// The critic's verdict and the vote on a round's candidates (what `voted` decides by).
fn judge(
    ws: &Workspace,
    spec: &RoundSpec,
    teacher: &mut dyn Generator,
    ids: &[i64],
    cancel: Arc<AtomicBool>,
    on: &mut dyn FnMut(RoundEvent),
) -> anyhow::Result<()> {
    let mut store = ws.store()?;
    let (text, _) = crate::judge::critic::rubric(Some(&ws.dir));
    let opts = super::judging::JudgeOptions {
        votes: ws.config.judge.votes.max(if spec.policy.needs_votes() { 5 } else { 0 }),
        limit: ids.len(),
        seed: spec.params.seed,
        rubric_hash: crate::text::template_hash(&text),
        rubric: text,
        cancel,
        only: Some(ids.to_vec()),
        auto_accept: None,
    };
    let p =
        super::judging::judge_pending(teacher, None, &mut store, &opts, &mut |_, _, _, _, _| {})?;
    on(RoundEvent::Note(format!(
        "judged {} candidates ({} verdicts unparsed)",
        p.judged, p.unparsed
    )));
    Ok(())
}
