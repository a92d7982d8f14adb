//! `distillery judge`: the critic's verdict and a self-consistency vote on each undecided sample
//! that has none yet, written as each is made.

use crate::judge::critic::{rubric, Critique};
use crate::judge::vote::Vote;
use crate::text::template_hash;
use crate::work::judging::{judge_pending, Extra, JudgeOptions, JudgeProgress};
use crate::work::open::open_teacher;
use crate::workspace::Workspace;
use clap::Args;
use std::path::PathBuf;

/// Options of `judge`.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// The critic: `local` (the local engine) or an `[endpoints.NAME]` of distillery.toml
    /// [default: `[judge] critic`, else `[teacher] endpoint`, else local].
    #[arg(long)]
    critic: Option<String>,
    /// A llama-family GGUF for the local critic (default: `[teacher] model`, else SmolLM2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Answers sampled per vote, 0 for none [default: `[judge] votes`, else 5].
    #[arg(long)]
    votes: Option<usize>,
    /// Judge these samples again (comma-separated ids), whatever their state.
    #[arg(long, value_delimiter = ',')]
    ids: Vec<i64>,
    /// Samples to judge at most.
    #[arg(short = 'n', long, default_value_t = 50)]
    limit: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The totals as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(ws: &Workspace, a: JudgeArgs) -> anyhow::Result<()> {
    let (rubric, from) = rubric(Some(&ws.dir));
    let mut store = ws.store()?;
    let only = (!a.ids.is_empty()).then(|| a.ids.clone());
    for &id in a.ids.iter() {
        store.sample(id)?;
    }
    let todo = match &only {
        Some(ids) => ids.len(),
        None => store.unjudged(a.limit)?.len(),
    };
    if todo == 0 {
        if a.json {
            println!("{}", serde_json::json!({"judged": 0}));
        } else {
            println!("judge: every undecided sample has a verdict");
        }
        return Ok(());
    }
    let cfg = &ws.config.judge;
    let votes = a.votes.unwrap_or(cfg.votes);
    let (endpoint, model) = match a.critic.as_deref().or(cfg.critic.as_deref()) {
        Some("local") => (None, Some(a.model.clone().unwrap_or_else(|| ws.teacher_model()))),
        other => (other.map(str::to_owned), a.model.clone()),
    };
    let mut critic = open_teacher(ws, endpoint.as_deref(), model.as_deref(), &mut |m| {
        eprintln!("{}", m.replacen("teacher", "critic", 1))
    })?;
    let embedder = crate::judge::embed::Embedder::from_cache(&mut |m| eprintln!("{m}"));
    let opts = JudgeOptions {
        votes,
        limit: a.limit,
        seed: a.seed,
        rubric_hash: template_hash(&rubric),
        rubric,
        cancel: Default::default(),
        only,
        auto_accept: cfg.auto_accept,
    };
    let auto = cfg
        .auto_accept
        .map(|r| {
            format!(
                "; auto-accept at score ≥ {} and agreement ≥ {:.0}%",
                r.min_score,
                r.min_agreement * 100.0
            )
        })
        .unwrap_or_default();
    eprintln!(
        "judge: rubric {from} ({}), {todo} samples, {votes} answers per vote{auto}",
        opts.rubric_hash
    );
    let bar = indicatif::ProgressBar::new(todo as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} judged [{bar:30}] {msg} · {elapsed_precise}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let stats = critic.endpoint_stats();
    let mut wait = String::new();
    let mut on = |p: &JudgeProgress, id: i64, c: &Critique, v: Option<&Vote>, x: &Extra| {
        bar.set_position(p.judged as u64);
        if let Some(w) = stats.as_ref().and_then(|s| s.take_wait()) {
            wait = format!(" · {w}");
        }
        bar.set_message(format!("{} unparsed · {:.1}/min{wait}", p.unparsed, p.per_minute()));
        let score = c
            .verdict
            .score
            .map_or_else(|| format!("unparsed ({})", c.verdict.problem), |s| format!("{s:.0}/10"));
        let vote = v.map(|v| match v.winner() {
            Some(w) => format!(
                " · vote {} ({:.0}% agree)",
                crate::text::clean_line(&w.value),
                v.agreement() * 100.0
            ),
            None => " · vote: no answer extracted".into(),
        });
        let near = x
            .neighbour
            .as_ref()
            .filter(|n| n.near)
            .map(|n| format!(" · near-duplicate of {} #{} ({})", n.kind.name(), n.id, n.why()))
            .unwrap_or_default();
        let auto = if x.auto.is_some() { " · accepted automatically" } else { "" };
        let failed: Vec<String> = x
            .checks
            .iter()
            .filter(|c| c.passed == Some(false))
            .map(|c| format!("{}: {}", c.name, crate::text::clean_line(&c.detail)))
            .collect();
        let failed = if failed.is_empty() {
            String::new()
        } else {
            format!(" · failed {}", failed.join("; "))
        };
        bar.suspend(|| eprintln!("#{id}: {score}{}{failed}{near}{auto}", vote.unwrap_or_default()));
    };
    let done = judge_pending(critic.as_mut(), embedder.as_ref(), &mut store, &opts, &mut on);
    bar.finish_and_clear();
    let done = done?;
    if a.json {
        let v = serde_json::json!({
            "judged": done.judged, "unparsed": done.unparsed, "failed": done.failed,
            "near_duplicates": done.near_duplicates, "auto_accepted": done.auto_accepted,
            "embedded": done.embedded, "seconds": done.seconds,
            "per_minute": done.per_minute(), "tokens": done.tokens,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "judge: {} judged ({} unparsed, {} failed, {} near-duplicates, {} accepted automatically, {} texts embedded) in {:.1} s, {:.1} samples/min, {} tokens",
        done.judged,
        done.unparsed,
        done.failed,
        done.near_duplicates,
        done.auto_accepted,
        done.embedded,
        done.seconds,
        done.per_minute(),
        done.tokens
    );
    Ok(())
}
