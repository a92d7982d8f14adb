//! `distillery round`: headless rounds with a curator policy (generate → decide → train →
//! eval), repeated; data accumulates and every round retrains from the base.

use crate::llm::GenParams;
use crate::store::RoundStep;
use crate::train::model::Target;
use crate::train::run::TrainOptions;
use crate::train::settings::Settings;
use crate::work::policy::Policy;
use crate::work::round::{run_round, RoundEvent, RoundReport, RoundSpec};
use crate::workspace::Workspace;
use clap::Args;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Options of `round`.
#[derive(Debug, Args)]
pub struct RoundArgs {
    /// Rounds to run.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// accept-all, verified, voted or reference-fix.
    #[arg(long, default_value = "verified", value_parser = parse_policy)]
    pub policy: Policy,
    /// Seed questions sampled per task per round.
    #[arg(long, default_value_t = 32)]
    pub budget: usize,
    /// Answers sampled per question.
    #[arg(short = 'k', long, default_value_t = 4)]
    pub k: usize,
    /// Worked examples in each teacher prompt.
    #[arg(long, default_value_t = 3)]
    pub shots: usize,
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    #[arg(long, default_value_t = 96)]
    pub max_tokens: usize,
    /// Seeds the sampling, the shots and the training.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Share of real seed examples mixed into each round's training data.
    #[arg(long, default_value_t = 0.0)]
    pub seed_share: f64,
    /// The base model [default: `[teacher] model`, else SmolLM2-135M-Instruct].
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Also run the critic and the vote on each round's candidates (`voted` always does).
    #[arg(long)]
    pub judge: bool,
    /// Continue the round that stopped (after a cancel, a crash or an error).
    #[arg(long)]
    pub resume: bool,
    /// One JSON object per finished round on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse()
}

impl RoundArgs {
    /// The spec these options make.
    pub fn spec(&self, ws: &Workspace) -> RoundSpec {
        let options = TrainOptions {
            lr: self.lr,
            epochs: self.epochs,
            batch: self.batch,
            seed: self.seed,
            checkpoint_every: 0,
            ..TrainOptions::default()
        };
        RoundSpec {
            policy: self.policy,
            budget: self.budget,
            task: None,
            k: self.k,
            shots: self.shots,
            params: GenParams {
                temperature: self.temperature,
                max_tokens: self.max_tokens,
                seed: self.seed,
                ..GenParams::default()
            },
            train: Settings {
                task: None,
                rank: self.rank,
                alpha: 2.0 * self.rank as f64,
                dropout: 0.05,
                targets: vec![Target::Q, Target::V],
                max_len: 512,
                seed_share: self.seed_share,
                options,
            },
            base: self.base.clone().unwrap_or_else(|| ws.teacher_model()),
            judge: self.judge,
            eval_max_tokens: 64,
            until: RoundStep::Done,
        }
    }
}

pub(super) fn run(ws: &Workspace, a: RoundArgs) -> anyhow::Result<()> {
    let spec = a.spec(ws);
    if !spec.base.exists() {
        anyhow::bail!(
            "{}: no such base model; run `distillery models fetch` or pass --base FILE.gguf",
            spec.base.display()
        );
    }
    let mut teacher = crate::work::open::open_teacher(ws, None, None, &mut |m| eprintln!("{m}"))?;
    let cancel = Arc::new(AtomicBool::new(false));
    ctrlc_flag(cancel.clone());
    for i in 0..a.rounds.max(1) {
        let resume = a.resume && i == 0;
        let r = run_round(ws, &spec, teacher.as_mut(), resume, cancel.clone(), &mut say)?;
        print_round(&r, a.json);
    }
    Ok(())
}

/// Progress on stderr.
fn say(e: RoundEvent) {
    match e {
        RoundEvent::Step { round, step } => eprintln!("round {round}: {step}"),
        RoundEvent::Note(m) => eprintln!("  {}", crate::text::clean_line(&m)),
        RoundEvent::Generated(p) if p.attempts.is_multiple_of(8) && p.kept + p.dropped > 0 => {
            tracing::debug!("{} questions, {} kept, {} dropped", p.attempts, p.kept, p.dropped)
        }
        RoundEvent::Train(s) if s.step == s.total || s.step.is_multiple_of(20) => {
            eprintln!("  step {}/{} · loss {:.4}", s.step, s.total, s.loss)
        }
        _ => {}
    }
}

fn print_round(r: &RoundReport, json: bool) {
    let em = |task: Option<&str>| {
        r.metrics
            .iter()
            .find(|(t, m, _)| t.as_deref() == task && m == "exact_match")
            .map(|(_, _, v)| *v)
    };
    if json {
        let v = serde_json::json!({
            "round": r.round.id, "policy": r.round.policy, "run": r.run_id,
            "decided": r.decided, "results": r.round.results,
        });
        println!("{v}");
        return;
    }
    println!(
        "round {} ({}): {} accepted, {} edited, {} rejected; run {}; held-out exact match {}",
        r.round.id,
        r.round.policy,
        r.decided.accepted,
        r.decided.edited,
        r.decided.rejected,
        r.run_id.map_or("-".into(), |i| i.to_string()),
        em(None).map_or("-".into(), |v| format!("{:.1}%", v * 100.0)),
    );
}

/// Ctrl-C sets `flag`: the round stops after the step in progress (`--resume` continues it).
fn ctrlc_flag(flag: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            eprintln!("round: stopping after the step in progress (`distillery round --resume` continues)");
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
}
