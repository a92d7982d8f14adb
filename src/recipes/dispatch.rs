//! What runs a recipe: the sources each recipe starts from, and the recipe itself.

use super::each::{run_each, Source};
use super::run::{self_instruct, Outcome, Progress, RecipeError, RunOptions};
use super::{dialogue, evol, refine, Recipe};
use crate::llm::Generator;
use crate::sample::{SampleText, Status};
use crate::store::Store;
use std::path::Path;

/// Where each recipe starts from.
pub fn sources(
    store: &Store,
    recipe: Recipe,
    task: Option<&str>,
    docs: Option<&Path>,
) -> anyhow::Result<Vec<Source>> {
    let of_task = |t: &Option<String>| task.is_none() || t.as_deref() == task;
    let seeds = || -> anyhow::Result<Vec<Source>> {
        Ok(store
            .seeds()?
            .into_iter()
            .filter(|s| of_task(&s.task))
            .map(|s| {
                let inst = s.seed.instances.first();
                let text = SampleText {
                    instruction: s.seed.instruction.clone(),
                    input: inst.map(|i| i.input.clone()).unwrap_or_default(),
                    output: inst.map(|i| i.output.clone()).unwrap_or_default(),
                    ..SampleText::default()
                };
                Source { parent: None, seed_id: Some(s.id), task: s.task, text }
            })
            .collect())
    };
    Ok(match recipe {
        Recipe::Backtranslation => {
            let path = docs.ok_or_else(|| anyhow::anyhow!("backtranslation needs documents: --docs FILE or FOLDER (text paragraphs or .jsonl with \"text\")"))?;
            let docs = evol::read_documents(path).map_err(anyhow::Error::msg)?;
            docs.into_iter()
                .map(|d| Source {
                    parent: None,
                    seed_id: None,
                    task: task.map(str::to_owned),
                    text: SampleText { output: d, ..SampleText::default() },
                })
                .collect()
        }
        Recipe::EvolInstruct => {
            // Accepted and edited samples first (the curated ones); seeds when there are none.
            let good: Vec<Source> = store
                .export_rows(&[Status::Accepted, Status::Edited])?
                .into_iter()
                .filter(|r| of_task(&r.task) && r.current.history.is_empty())
                .map(|r| Source {
                    parent: Some(r.id),
                    seed_id: r.provenance.seed_id,
                    task: r.task,
                    text: r.current,
                })
                .collect();
            if good.is_empty() {
                seeds()?
            } else {
                good
            }
        }
        Recipe::SelfRefine => store
            .refine_sources(task, refine::REFINE_BELOW, 10_000)?
            .into_iter()
            .map(|id| {
                store.sample(id).map(|d| Source {
                    parent: Some(id),
                    seed_id: d.provenance.seed_id,
                    task: d.task,
                    text: d.current,
                })
            })
            .collect::<Result<_, _>>()?,
        Recipe::Llm2llm => {
            let mut f: Vec<_> =
                store.failures(None)?.into_iter().filter(|f| of_task(&f.task)).collect();
            f.extend(store.hard_cases()?.into_iter().filter(|f| of_task(&f.task)));
            if f.is_empty() {
                anyhow::bail!("llm2llm: no wrong answers to start from: train a student (`distillery train`), then `distillery eval` stores its failures; or run rejection-sampling, which stores the questions the teacher gets wrong");
            }
            super::llm2llm::sources(&f)
        }
        Recipe::SelfInstruct | Recipe::SelfChat | Recipe::RolePlay => seeds()?,
        // Its own loop over the seed questions (`rejection::questions`).
        Recipe::RejectionSampling => Vec::new(),
    })
}

/// Runs a recipe (`roles` and `rounds` are role-play's).
#[allow(clippy::too_many_arguments)]
pub fn run_recipe(
    recipe: Recipe,
    model: &mut dyn Generator,
    store: &mut Store,
    opts: &RunOptions,
    srcs: &[Source],
    roles: (&str, &str),
    rounds: usize,
    on: &mut dyn FnMut(&Progress, &Outcome),
) -> Result<Progress, RecipeError> {
    let t = opts.template.clone();
    match recipe {
        Recipe::SelfInstruct => self_instruct(model, store, opts, on),
        Recipe::RejectionSampling => {
            let qs = super::rejection::questions(store, opts.task.as_deref(), opts.params.seed)?;
            let s = super::rejection::Sampling {
                verifiers: store.verifiers.clone(),
                ..Default::default()
            };
            super::rejection::run(model, store, opts, &s, &qs, on)
        }
        Recipe::EvolInstruct => run_each(
            recipe,
            model,
            store,
            opts,
            srcs,
            &|m, s, p, r| evol::evolve(&t, m, s, p, r),
            on,
        ),
        Recipe::Backtranslation => run_each(
            recipe,
            model,
            store,
            opts,
            srcs,
            &|m, s, p, _| evol::backtranslate(&t, m, s, p),
            on,
        ),
        Recipe::SelfChat => run_each(
            recipe,
            model,
            store,
            opts,
            srcs,
            &|m, s, p, _| dialogue::self_chat(&t, m, s, p),
            on,
        ),
        Recipe::RolePlay => run_each(
            recipe,
            model,
            store,
            opts,
            srcs,
            &|m, s, p, _| dialogue::role_play(&t, roles, rounds, m, s, p),
            on,
        ),
        Recipe::SelfRefine => {
            let ids: Vec<i64> = srcs.iter().filter_map(|s| s.parent).collect();
            let feedback = store.feedback(&ids)?;
            run_each(
                recipe,
                model,
                store,
                opts,
                srcs,
                &|m, s, p, _| match s.parent.and_then(|id| feedback.get(&id)) {
                    Some(fb) => refine::refine(&t, m, s, fb, p),
                    None => Ok((
                        super::each::Made::Drop {
                            reason: "no critic feedback to revise from".into(),
                            raw: String::new(),
                        },
                        0,
                    )),
                },
                on,
            )
        }
        Recipe::Llm2llm => {
            let mut failures = store.failures(None)?;
            failures.extend(store.hard_cases()?);
            let find = |s: &Source| {
                failures
                    .iter()
                    .find(|f| {
                        (f.kind == "sample" && s.parent == Some(f.item_id))
                            || (f.kind != "sample" && s.seed_id == Some(f.item_id))
                    })
                    .cloned()
            };
            run_each(
                recipe,
                model,
                store,
                opts,
                srcs,
                &|m, s, p, _| match find(s) {
                    Some(f) => super::llm2llm::attempt(&t, m, &f, p),
                    None => Ok((
                        super::each::Made::Drop {
                            reason: "its failure is gone".into(),
                            raw: String::new(),
                        },
                        0,
                    )),
                },
                on,
            )
        }
    }
}
