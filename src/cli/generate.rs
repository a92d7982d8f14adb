//! `distillery generate` and `distillery recipes`: the teacher writes candidates into the queue.

use crate::llm::GenParams;
use crate::recipes::run::{Outcome, Progress};
use crate::recipes::{template, Recipe};
use crate::work::generate::{generate, open_teacher, GenEvent, GenerateSpec};
use crate::workspace::Workspace;
use clap::Args;
use std::path::{Path, PathBuf};

/// Options of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The recipe (`distillery recipes` lists them).
    #[arg(long, default_value = "self-instruct")]
    recipe: Recipe,
    /// Candidates to keep (rejection-sampling: seed questions to sample).
    #[arg(short = 'n', long, default_value_t = 10)]
    n: usize,
    /// rejection-sampling: answers sampled per question.
    #[arg(short = 'k', long, default_value_t = 4)]
    k: usize,
    /// rejection-sampling: keep the answers that fail too, marked, for a policy or a curator to
    /// decide (the questions all fail are hard cases either way).
    #[arg(long)]
    keep_failed: bool,
    /// rejection-sampling: ask for a short worked solution ending in "#### ANSWER".
    #[arg(long)]
    worked: bool,
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
    /// One JSON object on stdout at the end (the totals) instead of the sentence.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(ws: &Workspace, a: GenerateArgs, verbose: u8) -> anyhow::Result<()> {
    let roles = a.roles.split_once(',').ok_or_else(|| {
        anyhow::anyhow!("--roles must be \"USER ROLE,ASSISTANT ROLE\", got {:?}", a.roles)
    })?;
    let mut spec = GenerateSpec::new(a.recipe, a.n);
    spec.endpoint = a.endpoint.clone();
    spec.model = a.model.clone();
    spec.docs = a.docs.clone();
    spec.roles = (roles.0.to_owned(), roles.1.to_owned());
    spec.rounds = a.rounds;
    spec.task = a.task.clone();
    spec.params = GenParams {
        temperature: a.temperature,
        max_tokens: a.max_tokens,
        seed: a.seed,
        ..GenParams::default()
    };
    spec.shots = a.shots;
    spec.k = a.k;
    spec.keep_failed = a.keep_failed;
    spec.worked = a.worked;
    let mut teacher = open_teacher(ws, &spec, &mut |m| eprintln!("{m}"))?;
    let bar = indicatif::ProgressBar::new(a.n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} kept [{bar:30}] {msg} · {elapsed_precise}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let verbose = verbose > 0;
    let recipe = a.recipe;
    let stats = teacher.endpoint_stats();
    let mut on = |e: GenEvent| match e {
        GenEvent::Started { template_from, template_hash, attempts } => bar.suspend(|| {
            eprintln!(
                "{recipe}: template {template_from} ({template_hash}), up to {attempts} attempts"
            )
        }),
        GenEvent::Attempt { progress, outcome } => {
            attempt_line(&bar, &progress, &outcome, verbose);
            // An endpoint's retries and waits show on the bar (and in the log, and with -v).
            if let Some(w) = stats.as_ref().and_then(|s| s.take_wait()) {
                bar.set_message(format!("dropped {} · {w}", progress.dropped));
            }
        }
    };
    let done = generate(ws, &spec, teacher.as_mut(), Default::default(), &mut on);
    bar.finish_and_clear();
    let done = done?;
    if a.json {
        let v = serde_json::json!({
            "recipe": a.recipe.name(), "kept": done.kept, "dropped": done.dropped,
            "attempts": done.attempts, "seconds": done.seconds, "tokens": done.tokens,
        });
        println!("{v}");
        return Ok(());
    }
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

/// One attempt, printed above the progress bar.
fn attempt_line(bar: &indicatif::ProgressBar, p: &Progress, outcome: &Outcome, verbose: bool) {
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
}

pub(super) fn list_recipes(ws_dir: &Path) -> anyhow::Result<()> {
    let ws = ws_dir.join(crate::workspace::CONFIG_FILE).exists().then_some(ws_dir);
    for r in Recipe::ALL {
        let (_, from) = template(r, ws);
        println!("{:<14} {}\n{:<14} template: {from}", r.name(), r.about(), "");
    }
    println!("\nTo change a template, copy it to <workspace>/recipes/<name>.txt and edit it.");
    Ok(())
}
