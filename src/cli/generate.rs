//! `distillery generate` and `distillery recipes`: the teacher writes candidates into the queue.

use crate::llm::{GenParams, LocalModel};
use crate::recipes::run::{self_instruct, Outcome, RunOptions};
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
    /// A llama-family GGUF (default: SmolLM2-135M-Instruct from the model cache).
    #[arg(long)]
    model: Option<PathBuf>,
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
    let (tmpl, from) = template(&a.recipe, Some(&ws.dir))
        .ok_or_else(|| anyhow::anyhow!("unknown recipe {:?}; `distillery recipes` lists them", a.recipe))?;
    let path = a.model.unwrap_or_else(super::models::default_model);
    if !path.exists() {
        anyhow::bail!("{}: no such model file; run `distillery models fetch` or pass --model FILE.gguf", path.display());
    }
    eprintln!("loading {} …", path.display());
    let mut model = LocalModel::load(&path)?;
    let mut store = ws.store()?;
    let opts = RunOptions {
        n: a.n,
        params: GenParams { temperature: a.temperature, max_tokens: a.max_tokens, seed: a.seed, ..GenParams::default() },
        task: a.task,
        shots: a.shots,
        template_hash: template_hash(&tmpl),
        template: tmpl,
    };
    eprintln!("{}: template {from} ({}), up to {} attempts", a.recipe, opts.template_hash, a.n * 4);
    let verbose = a.verbose;
    let done = self_instruct(&mut model, &mut store, &opts, &mut |p, outcome| {
        let rate = p.tokens as f64 / p.seconds.max(1e-9);
        match outcome {
            Outcome::Kept { id, summary, most_similar } => {
                let sim = most_similar.as_ref().map(|(_, s)| format!(" (nearest ROUGE-L {s:.2})")).unwrap_or_default();
                eprintln!("[{:>3}] kept #{id}: {}{sim}   · kept {} dropped {} · {rate:.0} tok/s", p.attempts, summary, p.kept, p.dropped);
            }
            Outcome::Dropped { reason, raw } => {
                eprintln!("[{:>3}] dropped: {reason}   · kept {} dropped {} · {rate:.0} tok/s", p.attempts, p.kept, p.dropped);
                if verbose {
                    eprintln!("      raw: {:?}", crate::text::clean_line(raw));
                }
            }
        }
    })?;
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
