//! Choosing what runs a recipe: the teacher the workspace asks for, the sources each recipe
//! starts from, and the recipe by name. Shared by `distillery generate` and the TUI's jobs.

use super::each::{run_each, Source};
use super::run::{self_instruct, Outcome, Progress, RecipeError, RunOptions};
use super::{dialogue, evol, refine};
use crate::llm::openai::OpenAiClient;
use crate::llm::{Generator, LocalModel};
use crate::sample::{SampleText, Status};
use crate::store::Store;
use crate::workspace::Workspace;
use std::path::Path;

/// The teacher the workspace asks for: a named endpoint, or the local engine on a GGUF.
/// `say` hears what is being opened.
pub fn open_teacher(
    ws: &Workspace,
    endpoint: Option<&str>,
    model: Option<&Path>,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<Box<dyn Generator + Send>> {
    let endpoint = endpoint.map(str::to_owned).or_else(|| {
        if model.is_some() {
            None
        } else {
            ws.config.teacher.endpoint.clone()
        }
    });
    if let Some(name) = endpoint {
        let cfg = ws.config.endpoints.get(&name).cloned().ok_or_else(|| {
            let known: Vec<&str> = ws.config.endpoints.keys().map(String::as_str).collect();
            anyhow::anyhow!(
                "no endpoint {name:?} in {}: add [endpoints.{name}] (known: {})",
                ws.dir.join(crate::workspace::CONFIG_FILE).display(),
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )
        })?;
        say(format!("teacher: endpoint {name} ({} at {})", cfg.model, cfg.base_url));
        return Ok(Box::new(OpenAiClient::new(&name, cfg)?));
    }
    let path = model.map(Path::to_owned).unwrap_or_else(|| ws.teacher_model());
    if !path.exists() {
        anyhow::bail!(
            "{}: no such model file; run `distillery models fetch` or pass --model FILE.gguf",
            path.display()
        );
    }
    say(format!("teacher: loading {} …", path.display()));
    let m = LocalModel::load(&path)?;
    say(format!("teacher: local engine on {}", m.info().describe()));
    Ok(Box::new(m))
}

/// The workspace's documents folder, backtranslation's default source.
pub fn documents_dir(ws: &Workspace) -> std::path::PathBuf {
    ws.dir.join("documents")
}

/// Where each recipe starts from.
pub fn sources(
    store: &Store,
    recipe: &str,
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
        "backtranslation" => {
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
        "evol-instruct" => {
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
        "self-refine" => store
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
        "llm2llm" => {
            let f: Vec<_> =
                store.failures(None)?.into_iter().filter(|f| of_task(&f.task)).collect();
            if f.is_empty() {
                anyhow::bail!("llm2llm: no wrong answers of a student to start from: train a student (`distillery train`), then `distillery eval` stores its failures");
            }
            super::llm2llm::sources(&f)
        }
        _ => seeds()?,
    })
}

/// Runs a recipe by name (`roles` and `rounds` are role-play's).
#[allow(clippy::too_many_arguments)]
pub fn run_recipe(
    recipe: &str,
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
        "self-instruct" => self_instruct(model, store, opts, on),
        "evol-instruct" => run_each(
            recipe,
            model,
            store,
            opts,
            srcs,
            &|m, s, p, r| evol::evolve(&t, m, s, p, r),
            on,
        ),
        "backtranslation" => run_each(
            recipe,
            model,
            store,
            opts,
            srcs,
            &|m, s, p, _| evol::backtranslate(&t, m, s, p),
            on,
        ),
        "self-chat" => run_each(
            recipe,
            model,
            store,
            opts,
            srcs,
            &|m, s, p, _| dialogue::self_chat(&t, m, s, p),
            on,
        ),
        "role-play" => run_each(
            recipe,
            model,
            store,
            opts,
            srcs,
            &|m, s, p, _| dialogue::role_play(&t, roles, rounds, m, s, p),
            on,
        ),
        "self-refine" => {
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
        "llm2llm" => {
            let failures = store.failures(None)?;
            let find = |s: &Source| {
                failures
                    .iter()
                    .find(|f| {
                        (f.kind == "sample" && s.parent == Some(f.item_id))
                            || (f.kind == "seed" && s.seed_id == Some(f.item_id))
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
        other => Err(RecipeError::NoSources(format!(
            "recipe {other:?} has no runner; `distillery recipes` lists them"
        ))),
    }
}
