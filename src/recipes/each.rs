//! The runner shared by the recipes that turn one source (a sample, a seed, a document) into one
//! candidate: evol-instruct, backtranslation, self-chat and role-play. It cycles through the
//! sources in a seeded order, drops near-copies of anything already in the workspace (ROUGE-L >
//! 0.7), writes each kept candidate at once with full provenance, and reports every drop with its
//! reason and the raw output.

use super::run::{Outcome, Progress, RecipeError, RunOptions};
use super::self_instruct::MAX_ROUGE_L;
use super::Recipe;
use crate::llm::sampling::Rng;
use crate::llm::{GenParams, Generator, LlmError};
use crate::sample::SampleText;
use crate::store::{NewSample, Provenance, Store};
use crate::text::rouge::{most_similar, words};
use serde_json::{json, Value};

/// What a recipe starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The sample it derives from (evol-instruct), stored as the candidate's parent.
    pub parent: Option<i64>,
    pub seed_id: Option<i64>,
    pub task: Option<String>,
    pub text: SampleText,
}

/// What one attempt made.
#[derive(Debug, Clone, PartialEq)]
pub enum Made {
    /// A candidate, with recipe-specific provenance (the evolution method, the roles…).
    Keep {
        text: SampleText,
        extra: Value,
    },
    Drop {
        reason: String,
        raw: String,
    },
}

/// One attempt: the generator, the source, the run's sampling settings (with this attempt's
/// seed), and a RNG for the recipe's own choices. Returns what it made and the tokens generated.
/// Attempts run several at once (each on a handle of its own), so an attempt shares nothing
/// mutable.
pub type Attempt<'a> = dyn Fn(&mut dyn Generator, &Source, &GenParams, &mut Rng) -> Result<(Made, usize), LlmError>
    + Sync
    + 'a;

/// How many attempts a run keeps in flight on `model` to keep `n` candidates: enough to fill
/// the local engine's batch, never more than twice what is asked.
pub fn attempts_in_flight(model: &dyn Generator, n: usize) -> usize {
    crate::llm::parallel::width(model, 1, (2 * n).clamp(1, 16))
}

/// Runs `attempt` over `sources` until `opts.n` candidates are kept or `4 n` attempts are spent.
/// Several attempts run at once; their outcomes are written and reported in attempt order, and
/// attempt `i` is made (source, seed) before any later result is seen, so a seed gives the
/// same run whatever the timing.
pub fn run_each(
    recipe: Recipe,
    model: &mut dyn Generator,
    store: &mut Store,
    opts: &RunOptions,
    sources: &[Source],
    attempt: &Attempt,
    on: &mut dyn FnMut(&Progress, &Outcome),
) -> Result<Progress, RecipeError> {
    if sources.is_empty() {
        return Err(RecipeError::NoSources(match recipe {
            Recipe::SelfRefine => "self-refine: nothing to revise: no undecided or rejected sample has a verdict below 7 with a rationale and no revision yet (judge first: `distillery judge`, or R in the workbench)".into(),
            Recipe::Backtranslation => "backtranslation: no documents to start from (--docs FILE or FOLDER)".into(),
            _ => format!("{recipe}: nothing to start from (it needs seeds or samples)"),
        }));
    }
    let mut pool_text: Vec<String> = Vec::new();
    let mut tasks: Vec<Option<String>> = sources.iter().map(|s| s.task.clone()).collect();
    tasks.sort();
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
    let mut order: Vec<usize> = Vec::new();
    let mut progress = Progress::default();
    let mut failed: Option<RecipeError> = None;
    let (start, name) = (std::time::Instant::now(), model.name());
    let width = attempts_in_flight(model, opts.n);
    let mut next = |i: usize| {
        if i >= opts.n * 4 {
            return None;
        }
        if order.is_empty() {
            order = (0..sources.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
        }
        let src = order.pop().unwrap_or(0);
        let params = GenParams { seed: rng.next_seed(), ..opts.params.clone() };
        Some((src, params, Rng::new(rng.next_u64())))
    };
    let work = |m: &mut dyn Generator, (src, params, mut r): (usize, GenParams, Rng)| {
        let made = attempt(m, &sources[src], &params, &mut r);
        (src, params, made)
    };
    let mut commit =
        |_: usize, (src, params, made): (usize, GenParams, Result<(Made, usize), LlmError>)| {
            let src = &sources[src];
            progress.attempts += 1;
            let (made, tokens) = match made {
                Ok(m) => m,
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
            progress.tokens += tokens;
            let outcome = match keep(
                recipe,
                store,
                opts,
                &name,
                src,
                &params,
                made,
                &mut pool_text,
                &mut pool_words,
            ) {
                Ok(o) => o,
                Err(e) => {
                    failed = Some(e.into());
                    return false;
                }
            };
            progress.count(&outcome, start);
            on(&progress, &outcome);
            progress.kept < opts.n
        };
    crate::llm::parallel::run_ordered(model, width, &opts.cancel, &mut next, &work, &mut commit);
    match failed {
        Some(e) => Err(e),
        None => Ok(progress),
    }
}

/// What becomes of one attempt's result: dropped (with the reason), or written as a candidate.
#[allow(clippy::too_many_arguments)]
fn keep(
    recipe: Recipe,
    store: &mut Store,
    opts: &RunOptions,
    model: &str,
    src: &Source,
    params: &GenParams,
    made: Made,
    pool_text: &mut Vec<String>,
    pool_words: &mut Vec<Vec<String>>,
) -> Result<Outcome, crate::store::StoreError> {
    let (text, extra) = match made {
        Made::Drop { reason, raw } => return Ok(Outcome::Dropped { reason, raw }),
        Made::Keep { text, extra } => (text, extra),
    };
    let key = format!("{} {}", text.instruction, text.input);
    let kw = words(&key);
    // A revision shares its parent's prompt by design, and an llm2llm example is meant to be
    // close to the failure it practises: the accept-time near-duplicate check still names what
    // each one matches.
    let near = if recipe.derives() { None } else { most_similar(&kw, pool_words) };
    if let Some((i, s)) = near.filter(|(_, s)| *s > MAX_ROUGE_L) {
        let reason = format!(
            "near-copy (ROUGE-L {s:.2}) of: {}",
            crate::text::truncate_width(&crate::text::clean_line(&pool_text[i]), 80)
        );
        return Ok(Outcome::Dropped { reason, raw: text.output });
    }
    let similar = near.map(|(i, s)| (pool_text[i].clone(), s));
    let mut p = json!({
        "most_similar": similar.as_ref().map(|(t, s)| json!({"text": t, "rouge_l": s})),
    });
    if let (Some(p), Value::Object(e)) = (p.as_object_mut(), extra) {
        p.extend(e);
    }
    let provenance = Provenance {
        origin: "generated".into(),
        recipe: Some(recipe.name().into()),
        model: Some(model.into()),
        template_hash: Some(opts.template_hash.clone()),
        params: Some(super::params_json(params, p)),
        parent_id: src.parent,
        seed_id: src.seed_id,
        ..Provenance::default()
    };
    let report = store.insert_samples(&[NewSample {
        text: text.clone(),
        task: src.task.clone(),
        provenance,
    }])?;
    if report.added == 0 {
        return Ok(Outcome::Dropped {
            reason: "the same sample is already in the workspace".into(),
            raw: text.output,
        });
    }
    pool_words.push(kw);
    pool_text.push(key);
    Ok(Outcome::Kept {
        id: store.last_sample_id()?,
        summary: crate::sample::summary_line(&text, 100).0,
        most_similar: similar,
    })
}

/// Answers that refuse, or that say nothing: the elimination checks every recipe shares.
pub fn bad_answer(text: &str) -> Option<String> {
    let t = text.trim();
    let lower = t.to_lowercase();
    let n_words = t.split_whitespace().count();
    if t.is_empty() {
        return Some("empty answer".into());
    }
    let refusal = [
        "i'm sorry",
        "i am sorry",
        "as an ai",
        "i cannot",
        "i can't help",
        "i am unable",
        "i'm unable",
    ];
    if n_words < 80 && refusal.iter().any(|r| lower.contains(r)) {
        return Some("the answer is a refusal".into());
    }
    if !t.chars().any(char::is_alphanumeric) {
        return Some("degenerate answer (no words)".into());
    }
    // A loop: the same line three or more times.
    let mut lines: Vec<&str> = t.lines().map(str::trim).filter(|l| l.len() > 3).collect();
    let total = lines.len();
    lines.sort_unstable();
    lines.dedup();
    if total >= 3 && lines.len() * 2 <= total {
        return Some(format!("degenerate answer ({total} lines, {} distinct)", lines.len()));
    }
    let ws: Vec<&str> = t.split_whitespace().collect();
    if ws.len() >= 12 {
        let mut distinct = ws.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() * 4 < ws.len() {
            return Some(format!(
                "degenerate answer ({} words, {} distinct)",
                ws.len(),
                distinct.len()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::bad_answer;

    #[test]
    fn refusals_loops_and_empty_answers_are_named() {
        assert_eq!(bad_answer("  ").as_deref(), Some("empty answer"));
        assert_eq!(
            bad_answer("I'm sorry, but as an AI I cannot do that.").as_deref(),
            Some("the answer is a refusal")
        );
        assert!(bad_answer(
            "The sea is blue.\nThe sea is blue.\nThe sea is blue.\nThe sea is blue."
        )
        .unwrap()
        .contains("distinct"));
        assert!(bad_answer("na na na na na na na na na na na na na na")
            .unwrap()
            .contains("distinct"));
        assert!(bad_answer("?!?! ...").unwrap().contains("no words"));
        assert_eq!(bad_answer("Paris is the capital of France."), None);
    }
}
