//! Running a recipe: the teacher loop that writes each kept candidate into the store as soon as
//! it is finished, with full provenance, and reports every drop with its reason.

use super::self_instruct::{self, Example, Verdict};
use crate::llm::sampling::Rng;
use crate::llm::{GenParams, Generator, LlmError};
use crate::store::{NewSample, Provenance, Store, StoreError};
use crate::text::rouge::words;
use serde_json::json;

/// Problems running a recipe.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("no seed tasks{0}: import some first (`distillery import seeds.jsonl`)")]
    NoSeeds(String),
    #[error("{0}")]
    NoSources(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Llm(#[from] LlmError),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Candidates to keep.
    pub n: usize,
    pub params: GenParams,
    /// Only seeds of this task (default: all, each prompt drawing from one task).
    pub task: Option<String>,
    /// Human-written examples per prompt (one earlier kept candidate is added when there is one).
    pub shots: usize,
    pub template: String,
    pub template_hash: String,
    /// Set from another thread to stop after the attempt in progress.
    pub cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl RunOptions {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What happened to one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Kept { id: i64, summary: String, most_similar: Option<(String, f64)> },
    Dropped { reason: String, raw: String },
}

/// Running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub attempts: usize,
    pub kept: usize,
    pub dropped: usize,
    pub tokens: usize,
    pub seconds: f64,
}

impl Progress {
    /// Counts and reports an attempt whose answer came back broken (`LlmError::Answer`): it is
    /// dropped with the reason, and the run goes on.
    pub fn broken(
        &mut self,
        e: &LlmError,
        start: std::time::Instant,
        on: &mut dyn FnMut(&Progress, &Outcome),
    ) {
        let o = Outcome::Dropped { reason: e.to_string(), raw: String::new() };
        self.count(&o, start);
        on(self, &o);
    }

    /// Counts one attempt's outcome.
    pub fn count(&mut self, outcome: &Outcome, start: std::time::Instant) {
        match outcome {
            Outcome::Kept { .. } => self.kept += 1,
            Outcome::Dropped { .. } => self.dropped += 1,
        }
        self.seconds = start.elapsed().as_secs_f64();
    }
}

/// One self-instruct attempt, made before it runs: its task, shots, prompt and sampling settings.
struct Planned {
    task: Option<String>,
    shots: Vec<i64>,
    next: usize,
    prefix: String,
    prompt: String,
    params: GenParams,
}

/// Runs self-instruct until `n` candidates are kept or `4 n` attempts are spent. Several
/// attempts run at once; each prompt takes as its extra example the newest candidate kept
/// before it was made (attempt `i` sees the outcomes of attempts before `i - width`), and
/// outcomes are written in attempt order.
pub fn self_instruct(
    model: &mut dyn Generator,
    store: &mut Store,
    opts: &RunOptions,
    on: &mut dyn FnMut(&Progress, &Outcome),
) -> Result<Progress, RecipeError> {
    let seeds: Vec<_> =
        store.seeds()?.into_iter().filter(|s| opts.task.is_none() || s.task == opts.task).collect();
    // (seed id, task, example) for every worked instance.
    let examples: Vec<(i64, Option<String>, Example)> = seeds
        .iter()
        .flat_map(|s| {
            s.seed.instances.iter().map(move |i| {
                (
                    s.id,
                    s.task.clone(),
                    Example {
                        instruction: s.seed.instruction.clone(),
                        input: i.input.clone(),
                        output: i.output.clone(),
                    },
                )
            })
        })
        .filter(|(_, _, e)| !e.output.trim().is_empty())
        .collect();
    if examples.is_empty() {
        return Err(RecipeError::NoSeeds(
            opts.task
                .as_ref()
                .map(|t| format!(" with worked examples for task {t:?}"))
                .unwrap_or_default(),
        ));
    }
    // The texts a candidate must not copy, and their word lists (kept side by side).
    let mut pool_text: Vec<String> =
        examples.iter().map(|(_, _, e)| format!("{} {}", e.instruction, e.input)).collect();
    let mut tasks: Vec<Option<String>> = examples.iter().map(|e| e.1.clone()).collect();
    tasks.dedup();
    for t in &tasks {
        pool_text.extend(
            store
                .sample_prompts(t.as_deref(), 2000)?
                .into_iter()
                .map(|(ins, inp)| format!("{ins} {inp}")),
        );
    }
    let mut pool_words: Vec<Vec<String>> = pool_text.iter().map(|t| words(t)).collect();
    let mut rng = Rng::new(opts.params.seed);
    let mut progress = Progress::default();
    let generated: std::cell::RefCell<Vec<(Option<String>, Example)>> = Default::default();
    let (start, name) = (std::time::Instant::now(), model.name());
    let mut failed: Option<RecipeError> = None;
    let mut next = |i: usize| -> Option<Planned> {
        if i >= opts.n * 4 {
            return None;
        }
        let task = tasks[(rng.next_u64() % tasks.len() as u64) as usize].clone();
        let mut same: Vec<&(i64, Option<String>, Example)> =
            examples.iter().filter(|e| e.1 == task).collect();
        let mut shots = Vec::new();
        while shots.len() < opts.shots && !same.is_empty() {
            shots.push(same.swap_remove((rng.next_u64() % same.len() as u64) as usize));
        }
        let mut few: Vec<Example> = shots.iter().map(|s| s.2.clone()).collect();
        if let Some((_, e)) = generated.borrow().iter().rev().find(|g| g.0 == task) {
            few.push(e.clone());
        }
        let next = few.len() + 1;
        let (prompt, prefix) = self_instruct::prompt(&opts.template, &few);
        // Stop at the next example, or at a blank line (each field is one paragraph).
        let stop = vec![format!("{}. Instruction", next + 1), "\n\n".into()];
        let params = GenParams { seed: rng.next_seed(), stop, ..opts.params.clone() };
        Some(Planned {
            task,
            shots: shots.iter().map(|s| s.0).collect(),
            next,
            prefix,
            prompt,
            params,
        })
    };
    // Raw completion, as Alpaca did: the teacher continues the numbered list.
    let work = |m: &mut dyn Generator, p: Planned| {
        let out = m.complete(&p.prompt, &p.params, 1).map(|mut v| v.remove(0));
        (p, out)
    };
    let mut commit = |_: usize, (p, out): (Planned, Result<crate::llm::Completion, LlmError>)| {
        progress.attempts += 1;
        let out = match out {
            Ok(o) => o,
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
        progress.tokens += out.completion_tokens;
        let outcome = match keep(store, opts, &name, &p, &out.text, &mut pool_text, &mut pool_words)
        {
            Ok((outcome, made)) => {
                if let Some(e) = made {
                    generated.borrow_mut().push((p.task.clone(), e));
                }
                outcome
            }
            Err(e) => {
                failed = Some(e.into());
                return false;
            }
        };
        progress.count(&outcome, start);
        on(&progress, &outcome);
        progress.kept < opts.n
    };
    let width = super::each::attempts_in_flight(model, opts.n);
    crate::llm::parallel::run_ordered(model, width, &opts.cancel, &mut next, &work, &mut commit);
    match failed {
        Some(e) => Err(e),
        None => Ok(progress),
    }
}

/// What becomes of one self-instruct completion: dropped with the reason, or written (with the
/// example it makes for later prompts).
fn keep(
    store: &mut Store,
    opts: &RunOptions,
    model: &str,
    p: &Planned,
    raw: &str,
    pool_text: &mut Vec<String>,
    pool_words: &mut Vec<Vec<String>>,
) -> Result<(Outcome, Option<Example>), StoreError> {
    let text = match self_instruct::parse(&format!("{}{raw}", p.prefix), p.next) {
        Err(why) => {
            return Ok((
                Outcome::Dropped { reason: format!("unparsable: {why}"), raw: raw.to_owned() },
                None,
            ))
        }
        Ok(text) => text,
    };
    let most_similar = match self_instruct::filter(&text, pool_words) {
        Verdict::Drop(reason) => {
            return Ok((Outcome::Dropped { reason, raw: raw.to_owned() }, None))
        }
        Verdict::Keep { most_similar } => most_similar,
    };
    let similar = most_similar.map(|(i, s)| (pool_text[i].clone(), s));
    let params = &p.params;
    let provenance = Provenance {
        origin: "generated".into(),
        recipe: Some("self-instruct".into()),
        model: Some(model.into()),
        template_hash: Some(opts.template_hash.clone()),
        params: Some(super::params_json(
            params,
            json!({
                "shots": p.shots,
                "most_similar": similar.as_ref().map(|(t, s)| json!({"text": t, "rouge_l": s})),
            }),
        )),
        seed_id: p.shots.first().copied(),
        ..Provenance::default()
    };
    let report = store.insert_samples(&[NewSample {
        text: text.clone(),
        task: p.task.clone(),
        provenance,
    }])?;
    if report.added == 0 {
        return Ok((
            Outcome::Dropped {
                reason: "the same sample is already in the workspace".into(),
                raw: raw.to_owned(),
            },
            None,
        ));
    }
    let key = format!("{} {}", text.instruction, text.input);
    pool_words.push(words(&key));
    pool_text.push(key);
    let id = store.last_sample_id()?;
    let example = Example {
        instruction: text.instruction.clone(),
        input: text.input.clone(),
        output: text.output.clone(),
    };
    Ok((
        Outcome::Kept {
            id,
            summary: crate::sample::summary_line(&text, 100).0,
            most_similar: similar,
        },
        Some(example),
    ))
}
