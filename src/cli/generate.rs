//! `distillery generate` and `distillery recipes`: the teacher writes candidates into the queue.

use crate::llm::GenParams;
use crate::recipes::dispatch::{documents_dir, open_teacher, run_recipe, sources};
use crate::recipes::run::{Outcome, Progress, RunOptions};
use crate::recipes::{template, template_hash, RECIPES};
use crate::workspace::Workspace;
use clap::Args;
use std::path::{Path, PathBuf};

/// Options of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The recipe (`distillery recipes` lists them).
    #[arg(long, default_value = "self-instruct")]
    recipe: String,
    /// Candidates to keep.
    #[arg(short = 'n', long, default_value_t = 10)]
    n: usize,
    /// A llama-family GGUF (default: `[teacher] model`, else SmolLM2-135M-Instruct from the cache).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Generate with this `[endpoints.NAME]` of distillery.toml instead of the local engine
    /// (default: `[teacher] endpoint`).
    #[arg(long)]
    endpoint: Option<String>,
    /// Backtranslation's documents: a text file (paragraphs split at blank lines), a .jsonl of
    /// {"text": ...}, or a folder of them [default: the workspace's documents/ folder].
    #[arg(long)]
    docs: Option<PathBuf>,
    /// Role-play's roles, "USER ROLE,ASSISTANT ROLE".
    #[arg(long, default_value = "a curious learner,an expert teacher")]
    roles: String,
    /// Role-play's rounds (instruction/answer pairs).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Only seeds of this task.
    #[arg(long)]
    task: Option<String>,
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    #[arg(long, default_value_t = 160)]
    max_tokens: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Human-written examples per prompt.
    #[arg(long, default_value_t = 3)]
    shots: usize,
    /// Print the raw output of dropped candidates.
    #[arg(long, short = 'v')]
    verbose: bool,
}

pub(super) fn run(ws: &Workspace, a: GenerateArgs) -> anyhow::Result<()> {
    let (tmpl, from) = template(&a.recipe, Some(&ws.dir)).ok_or_else(|| {
        anyhow::anyhow!("unknown recipe {:?}; `distillery recipes` lists them", a.recipe)
    })?;
    let mut store = ws.store()?;
    let docs = a.docs.clone().unwrap_or_else(|| documents_dir(ws));
    let srcs = if a.recipe == "self-instruct" {
        Vec::new()
    } else {
        sources(&store, &a.recipe, a.task.as_deref(), Some(&docs))?
    };
    let mut teacher =
        open_teacher(ws, a.endpoint.as_deref(), a.model.as_deref(), &mut |m| eprintln!("{m}"))?;
    let opts = RunOptions {
        cancel: Default::default(),
        n: a.n,
        params: GenParams {
            temperature: a.temperature,
            max_tokens: a.max_tokens,
            seed: a.seed,
            ..GenParams::default()
        },
        task: a.task.clone(),
        shots: a.shots,
        template_hash: template_hash(&tmpl),
        template: tmpl,
    };
    eprintln!("{}: template {from} ({}), up to {} attempts", a.recipe, opts.template_hash, a.n * 4);
    let bar = indicatif::ProgressBar::new(a.n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} kept [{bar:30}] {msg} · {elapsed_precise}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let verbose = a.verbose;
    let mut on = |p: &Progress, outcome: &Outcome| {
        let rate = p.tokens as f64 / p.seconds.max(1e-9);
        bar.set_position(p.kept as u64);
        bar.set_message(format!("dropped {} · {rate:.0} tok/s", p.dropped));
        bar.suspend(|| match outcome {
            Outcome::Kept { id, summary, most_similar } => {
                let sim = most_similar
                    .as_ref()
                    .map(|(_, s)| format!(" (nearest ROUGE-L {s:.2})"))
                    .unwrap_or_default();
                eprintln!(
                    "[{:>3}] kept #{id}: {}{sim}   · kept {} dropped {} · {rate:.0} tok/s",
                    p.attempts,
                    crate::text::clean_line(summary),
                    p.kept,
                    p.dropped
                );
            }
            Outcome::Dropped { reason, raw } => {
                eprintln!(
                    "[{:>3}] dropped: {}   · kept {} dropped {} · {rate:.0} tok/s",
                    p.attempts,
                    crate::text::clean_line(reason),
                    p.kept,
                    p.dropped
                );
                if verbose {
                    eprintln!("      raw: {:?}", crate::text::clean_line(raw));
                }
            }
        });
    };
    let roles = a.roles.split_once(',').ok_or_else(|| {
        anyhow::anyhow!("--roles must be \"USER ROLE,ASSISTANT ROLE\", got {:?}", a.roles)
    })?;
    let done = run_recipe(
        &a.recipe,
        teacher.as_mut(),
        &mut store,
        &opts,
        &srcs,
        (roles.0.trim(), roles.1.trim()),
        a.rounds,
        &mut on,
    );
    bar.finish_and_clear();
    let done = done?;
    println!(
        "{}: kept {}, dropped {} in {} attempts, {:.1} s ({:.0} tokens/s); the candidates are pending in the queue",
        a.recipe,
        done.kept,
        done.dropped,
        done.attempts,
        done.seconds,
        done.tokens as f64 / done.seconds.max(1e-9)
    );
    Ok(())
}

pub(super) fn list_recipes(ws_dir: &Path) -> anyhow::Result<()> {
    let ws = ws_dir.join(crate::workspace::CONFIG_FILE).exists().then_some(ws_dir);
    for r in RECIPES {
        let (_, from) = template(r.name, ws).unwrap_or_default();
        println!("{:<14} {}\n{:<14} template: {from}", r.name, r.about, "");
    }
    println!("\nTo change a template, copy it to <workspace>/recipes/<name>.txt and edit it.");
    Ok(())
}
