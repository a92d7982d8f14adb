//! Rejection sampling (STaR, Zelikman et al. 2022; rejection-sampling fine-tuning, Yuan et al.
//! 2023): for each seed question with a reference answer, the teacher samples `k` answers in one
//! batch; each is checked against the reference by its scorer and by the task's verifiers, and
//! the distinct answers that pass become candidates, with provenance (k, how many passed, which
//! check decided, the reference). A question none of whose answers pass is stored as a hard case,
//! which the llm2llm recipe starts from.

use super::run::{Outcome, Progress, RecipeError, RunOptions};
use crate::judge::extract::normalise_text;
use crate::judge::verify::{checks_for, Check, VerifyRule};
use crate::llm::sampling::Rng;
use crate::llm::{Completion, FinishReason, GenParams, Generator, LlmError};
use crate::sample::SampleText;
use crate::store::{HardCase, NewSample, Provenance, Store};
use serde_json::json;

/// The recipe's own settings.
#[derive(Debug, Clone)]
pub struct Sampling {
    /// Answers sampled per question.
    pub k: usize,
    /// Keep the answers that fail too (marked so), for a policy to decide: what a headless
    /// round and the outcome benchmark do, so that `accept-all` sees the unchecked output.
    pub keep_failed: bool,
    /// Ask for a short worked solution before the final answer (the template's line).
    pub worked: bool,
    /// The workspace's verifiers (`[[judge.verify]]`).
    pub verifiers: Vec<VerifyRule>,
    /// The round the candidates belong to (0: none).
    pub round: i64,
    /// Output schemas by task (`[tasks.NAME] output_schema`): answers are constrained to them.
    pub schemas: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            k: 4,
            keep_failed: false,
            worked: false,
            verifiers: Vec::new(),
            round: 0,
            schemas: Default::default(),
        }
    }
}

/// A seed question with its reference answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub seed_id: i64,
    pub task: Option<String>,
    pub instruction: String,
    pub input: String,
    pub reference: String,
}

/// The seed questions of `task` (all when None) that carry a reference answer, in a seeded
/// order with those no earlier run sampled first.
pub fn questions(
    store: &Store,
    task: Option<&str>,
    seed: u64,
) -> Result<Vec<Question>, crate::store::StoreError> {
    let mut qs: Vec<Question> = store
        .seeds()?
        .into_iter()
        .filter(|s| task.is_none() || s.task.as_deref() == task)
        .filter_map(|s| {
            let i = s.seed.instances.iter().find(|i| !i.output.trim().is_empty())?;
            Some(Question {
                seed_id: s.id,
                task: s.task.clone(),
                instruction: s.seed.instruction.clone(),
                input: i.input.clone(),
                reference: i.output.clone(),
            })
        })
        .collect();
    let mut rng = Rng::new(seed);
    for i in (1..qs.len()).rev() {
        qs.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let used = store.seeds_sampled()?;
    qs.sort_by_key(|q| used.contains(&q.seed_id));
    Ok(qs)
}

/// One answer, checked.
#[derive(Debug, Clone)]
struct Checked {
    text: String,
    passed: bool,
    /// The check that decided: the first that failed, else the reference's.
    decided: Check,
}

fn check(s: &Sampling, q: &Question, c: &Completion) -> Checked {
    let text = c.text.trim().to_owned();
    if c.finish == FinishReason::Length {
        let decided =
            Check { name: "length", passed: Some(false), detail: "did not finish".into() };
        return Checked { text, passed: false, decided };
    }
    let checks = checks_for(
        &s.verifiers,
        q.task.as_deref(),
        Some(super::Recipe::RejectionSampling.name()),
        &text,
        Some(&q.reference),
    );
    let failed = checks.iter().find(|c| c.passed == Some(false)).cloned();
    let reference = checks.iter().find(|c| c.name == "reference" || c.name == "exact").cloned();
    match (failed, reference) {
        (Some(f), _) => Checked { text, passed: false, decided: f },
        (None, Some(r)) => Checked { text, passed: true, decided: r },
        (None, None) => Checked {
            text,
            passed: false,
            decided: Check {
                name: "reference",
                passed: None,
                detail: "nothing compared it with the reference".into(),
            },
        },
    }
}

/// Runs the recipe over the first `opts.n` of `questions`: `k` answers each, prompted with
/// `opts.shots` worked examples of the same task (earlier turns of the conversation), several
/// questions in flight at once, outcomes written and reported in question order.
pub fn run(
    model: &mut dyn Generator,
    store: &mut Store,
    opts: &RunOptions,
    s: &Sampling,
    questions: &[Question],
    on: &mut dyn FnMut(&Progress, &Outcome),
) -> Result<Progress, RecipeError> {
    if questions.is_empty() {
        return Err(RecipeError::NoSources(format!(
            "rejection-sampling: no seed question with a reference answer{} (seed tasks whose instance has an output: `distillery import questions.jsonl`; GSM8K's `#### N` answers count)",
            opts.task.as_deref().map(|t| format!(" for task {t:?}")).unwrap_or_default()
        )));
    }
    let k = s.k.max(1);
    let (start, name) = (std::time::Instant::now(), model.name());
    let mut rng = Rng::new(opts.params.seed);
    let mut progress = Progress::default();
    let mut failed: Option<RecipeError> = None;
    let width = crate::llm::parallel::width(model, k, 16);
    let mut next = |i: usize| {
        let q = questions.get(i).filter(|_| i < opts.n)?;
        // Shots: other questions of its task, drawn from those this run does not sample.
        let mut pool: Vec<usize> = (0..questions.len())
            .filter(|&j| j != i && questions[j].task == q.task && (j >= opts.n || j < i))
            .collect();
        // Drawn without replacement: `--shots 3` gives three examples whenever three exist.
        let mut shots = Vec::new();
        while shots.len() < opts.shots && !pool.is_empty() {
            shots.push(pool.swap_remove((rng.next_u64() % pool.len() as u64) as usize));
        }
        Some((i, shots, GenParams { seed: rng.next_seed(), ..opts.params.clone() }))
    };
    let work = |m: &mut dyn Generator, (i, shots, params): (usize, Vec<usize>, GenParams)| {
        let q = &questions[i];
        // Worked examples of the same task first, as earlier turns (STaR's few-shot prompt); the
        // candidate keeps the bare question.
        let mut msgs = Vec::new();
        for &j in &shots {
            let e = &questions[j];
            msgs.extend(
                SampleText::new(e.instruction.clone(), e.input.clone(), e.reference.clone())
                    .to_messages(),
            );
        }
        let mut own =
            SampleText::new(q.instruction.clone(), q.input.clone(), String::new()).to_messages();
        own.pop();
        msgs.extend(own);
        if s.worked {
            if let Some(last) = msgs.last_mut() {
                last.content =
                    super::fill_once(&opts.template, &[("{prompt}", last.content.as_str())]);
            }
        }
        // A task with an output schema gets answers of that shape (not with --worked, whose
        // answers are prose ending in `#### N`).
        let schema = q.task.as_ref().and_then(|t| s.schemas.get(t)).filter(|_| !s.worked);
        let made = match schema {
            Some(schema) => m.generate_json(&msgs, schema, "", &params, k),
            None => m.generate(&msgs, &params, k),
        };
        (i, params, made)
    };
    type Made = (usize, GenParams, Result<Vec<Completion>, LlmError>);
    let mut commit = |_: usize, (i, params, made): Made| {
        let q = &questions[i];
        progress.attempts += 1;
        let answers = match made {
            Ok(a) => a,
            Err(LlmError::Cancelled) => return false,
            Err(e @ LlmError::Answer { .. }) => {
                // That answer was broken; the run goes on.
                progress.broken(&e, start, on);
                return true;
            }
            Err(e) => {
                failed = Some(e.into());
                return false;
            }
        };
        progress.tokens += answers.iter().map(|c| c.completion_tokens).sum::<usize>();
        match keep(store, opts, s, &name, q, &params, &answers, start, &mut progress, on) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e.into());
                false
            }
        }
    };
    crate::llm::parallel::run_ordered(model, width, &opts.cancel, &mut next, &work, &mut commit);
    match failed {
        Some(e) => Err(e),
        None => Ok(progress),
    }
}

/// Writes one question's distinct answers (the passing ones, or all with `keep_failed`), and its
/// hard case when none passed.
#[allow(clippy::too_many_arguments)]
fn keep(
    store: &mut Store,
    opts: &RunOptions,
    s: &Sampling,
    model: &str,
    q: &Question,
    params: &GenParams,
    answers: &[Completion],
    start: std::time::Instant,
    progress: &mut Progress,
    on: &mut dyn FnMut(&Progress, &Outcome),
) -> Result<(), crate::store::StoreError> {
    let checked: Vec<Checked> = answers.iter().map(|c| check(s, q, c)).collect();
    let passed = checked.iter().filter(|c| c.passed).count();
    let mut seen: Vec<String> = Vec::new();
    for (c, answer) in checked.iter().zip(answers) {
        let key = normalise_text(&c.text);
        let outcome = if c.text.is_empty() {
            Outcome::Dropped { reason: "empty answer".into(), raw: c.text.clone() }
        } else if seen.contains(&key) {
            Outcome::Dropped {
                reason: "the same answer as an earlier one".into(),
                raw: c.text.clone(),
            }
        } else if !c.passed && !s.keep_failed {
            Outcome::Dropped {
                reason: format!("wrong ({}: {})", c.decided.name, c.decided.detail),
                raw: c.text.clone(),
            }
        } else {
            seen.push(key);
            let mut p = json!({
                "k": answers.len(), "passed": passed,
                "verdict": if c.passed { "pass" } else { "fail" },
                "check": c.decided.name, "check_detail": c.decided.detail,
                "reference": q.reference, "worked": s.worked,
            });
            if let Some(r) = &answer.reasoning {
                // The model's reasoning stays out of the sample; provenance keeps it.
                p["reasoning"] = json!(r);
            }
            let text = SampleText::new(q.instruction.clone(), q.input.clone(), c.text.clone());
            let provenance = Provenance {
                origin: "generated".into(),
                recipe: Some(super::Recipe::RejectionSampling.name().into()),
                model: Some(model.into()),
                template_hash: Some(opts.template_hash.clone()),
                params: Some(super::params_json(params, p)),
                seed_id: Some(q.seed_id),
                round: s.round,
                ..Provenance::default()
            };
            let report = store.insert_samples(&[NewSample {
                text: text.clone(),
                task: q.task.clone(),
                provenance,
            }])?;
            if report.added == 0 {
                Outcome::Dropped {
                    reason: "the same sample is already in the workspace".into(),
                    raw: c.text.clone(),
                }
            } else {
                Outcome::Kept {
                    id: store.last_sample_id()?,
                    summary: crate::sample::summary_line(&text, 100).0,
                    most_similar: None,
                }
            }
        };
        progress.count(&outcome, start);
        on(progress, &outcome);
    }
    if passed == 0 {
        let mut wrong: Vec<&str> = checked.iter().map(|c| c.text.as_str()).collect();
        wrong.sort_unstable();
        let answer = wrong
            .chunk_by(|a, b| a == b)
            .max_by_key(|g| g.len())
            .and_then(|g| g.first())
            .map_or(String::new(), |a| (*a).to_owned());
        store.record_hard_case(&HardCase {
            seed_id: q.seed_id,
            task: q.task.clone(),
            instruction: q.instruction.clone(),
            input: q.input.clone(),
            reference: q.reference.clone(),
            answer,
            k: answers.len(),
            model: model.to_owned(),
        })?;
    } else {
        store.clear_hard_case(q.seed_id)?;
    }
    Ok(())
}
