//! Generation: the one path from a recipe and its options to candidates in the queue, used by
//! `distillery generate`, the workbench's jobs and the demo alike.

use crate::llm::{GenParams, Generator};
use crate::recipes::dispatch::{run_recipe, sources};
use crate::recipes::run::{Outcome, Progress, RunOptions};
use crate::recipes::{rejection, template, Recipe};
use crate::workspace::Workspace;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// What to generate, and how. [`GenerateSpec::new`] holds the defaults every caller shares.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateSpec {
    pub recipe: Recipe,
    /// Candidates to keep (up to `4 n` attempts); for rejection sampling, seed questions to
    /// sample (each makes up to `k` candidates).
    pub n: usize,
    /// A named `[endpoints.NAME]`; None: `[teacher] endpoint`, else the local engine.
    pub endpoint: Option<String>,
    /// A GGUF for the local engine (None: `[teacher] model`, else SmolLM2 from the cache).
    pub model: Option<PathBuf>,
    /// Backtranslation's documents (None: the workspace's `documents/` folder).
    pub docs: Option<PathBuf>,
    /// Role-play's two roles, and its rounds.
    pub roles: (String, String),
    pub rounds: usize,
    /// Only seeds of this task.
    pub task: Option<String>,
    pub params: GenParams,
    /// Human-written examples per prompt.
    pub shots: usize,
    /// Rejection sampling's answers per question, and whether failed answers are kept (marked).
    pub k: usize,
    pub keep_failed: bool,
    /// Rejection sampling asks for a worked solution before the final answer.
    pub worked: bool,
    /// The headless round the candidates belong to (0: none).
    pub round: i64,
}

impl GenerateSpec {
    /// The defaults: temperature 0.8, 160 tokens, seed 1, 3 shots, role-play's learner and
    /// teacher for 2 rounds.
    pub fn new(recipe: Recipe, n: usize) -> GenerateSpec {
        GenerateSpec {
            recipe,
            n,
            endpoint: None,
            model: None,
            docs: None,
            roles: ("a curious learner".into(), "an expert teacher".into()),
            rounds: 2,
            task: None,
            params: GenParams {
                temperature: 0.8,
                max_tokens: 160,
                seed: 1,
                ..GenParams::default()
            },
            shots: 3,
            k: 4,
            keep_failed: false,
            worked: false,
            round: 0,
        }
    }
}

/// What a generation run reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum GenEvent {
    /// The template in force and where it came from, before the first attempt.
    Started { template_from: String, template_hash: String, attempts: usize },
    /// One attempt ended.
    Attempt { progress: Progress, outcome: Outcome },
}

/// Opens the teacher `spec` asks for; `say` hears what is being opened.
pub fn open_teacher(
    ws: &Workspace,
    spec: &GenerateSpec,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<Box<dyn Generator + Send>> {
    super::open::open_teacher(ws, spec.endpoint.as_deref(), spec.model.as_deref(), say)
}

/// Runs `spec` on `teacher`, writing each kept candidate as it is made. Returns the totals;
/// `cancel` stops it after the attempts in flight.
pub fn generate(
    ws: &Workspace,
    spec: &GenerateSpec,
    teacher: &mut dyn Generator,
    cancel: Arc<AtomicBool>,
    on: &mut dyn FnMut(GenEvent),
) -> anyhow::Result<Progress> {
    let (tmpl, from) = template(spec.recipe, Some(&ws.dir));
    let mut store = ws.store()?;
    let docs = spec.docs.clone().unwrap_or_else(|| ws.documents_dir());
    let srcs = if spec.recipe.own_loop() {
        Vec::new()
    } else {
        sources(&store, spec.recipe, spec.task.as_deref(), Some(&docs))?
    };
    let opts = RunOptions {
        cancel,
        n: spec.n,
        params: spec.params.clone(),
        task: spec.task.clone(),
        shots: spec.shots,
        template_hash: crate::text::template_hash(&tmpl),
        template: tmpl,
    };
    on(GenEvent::Started {
        template_from: from,
        template_hash: opts.template_hash.clone(),
        attempts: if spec.recipe == Recipe::RejectionSampling { spec.n } else { spec.n * 4 },
    });
    let roles = (spec.roles.0.trim(), spec.roles.1.trim());
    let mut each = |p: &Progress, o: &Outcome| {
        on(GenEvent::Attempt { progress: *p, outcome: o.clone() });
    };
    if spec.recipe == Recipe::RejectionSampling {
        let qs = rejection::questions(&store, spec.task.as_deref(), spec.params.seed)?;
        let s = rejection::Sampling {
            k: spec.k,
            keep_failed: spec.keep_failed,
            worked: spec.worked,
            verifiers: ws.config.judge.verify.clone(),
            round: spec.round,
            schemas: ws.config.output_schemas(),
        };
        return Ok(rejection::run(teacher, &mut store, &opts, &s, &qs, &mut each)?);
    }
    let done =
        run_recipe(spec.recipe, teacher, &mut store, &opts, &srcs, roles, spec.rounds, &mut each)?;
    Ok(done)
}
