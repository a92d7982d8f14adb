//! `distillery bench outcome`: whether curation pays, on the sample data with the local teacher.
//! One generation (rejection sampling, failed answers kept) is decided by each policy in a copy
//! of the workspace, each copy trains the same way from the base and is evaluated on the same
//! held-out items; then two more accumulating `verified` rounds; then a simulated curator who
//! decides only the top X% of the queue by the reference while `verified` decides the rest.

use crate::llm::GenParams;
use crate::store::RoundStep;
use crate::train::evaluate::{evaluate_all, EvalOptions};
use crate::train::model::Target;
use crate::train::run::TrainOptions;
use crate::train::settings::Settings;
use crate::work::policy::{apply_as, Policy};
use crate::work::round::{run_round, RoundEvent, RoundSpec};
use crate::workspace::Workspace;
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Options of `bench outcome`.
#[derive(Debug, Args, Clone)]
pub struct OutcomeArgs {
    /// `outcome`: only this task.
    #[arg(long)]
    pub task: Option<String>,
    /// `outcome`: seed questions per task per round.
    #[arg(long, default_value_t = 32)]
    pub budget: usize,
    /// `outcome`: answers sampled per question.
    #[arg(long, default_value_t = 4)]
    pub answers: usize,
    /// `outcome`: training epochs of every arm.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// `outcome`: the seed of sampling and training.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// `outcome`: keep the arms' workspaces in this folder (default: a temporary one, removed).
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

pub use super::bench_outcome_table::{max_drop, share_of_gain};
use super::bench_outcome_table::{print_table, Arm};

/// The shares of the queue the simulated curator decides.
pub const TRIAGE: [f64; 3] = [0.10, 0.25, 0.50];

/// A copy of `from` named `name` under `root`.
fn fork(from: &Workspace, root: &Path, name: &str) -> anyhow::Result<Workspace> {
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let cfg = crate::workspace::CONFIG_FILE;
    std::fs::copy(from.dir.join(cfg), dir.join(cfg))?;
    from.store()?.copy_to(&dir.join(crate::workspace::DB_FILE))?;
    Ok(Workspace::open(&dir)?)
}

fn say(e: RoundEvent) {
    match e {
        RoundEvent::Note(m) => eprintln!("    {}", crate::text::clean_line(&m)),
        RoundEvent::Step { round, step } => eprintln!("  round {round}: {step}"),
        _ => {}
    }
}

pub fn run(a: &OutcomeArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let tmp;
    let root = match &a.keep {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    let base = super::models::default_model();
    if !base.exists() {
        anyhow::bail!(
            "{}: the default model is not in the cache; run `distillery models fetch`",
            base.display()
        );
    }
    let pool = super::demo::setup(&root.join("pool"))?;
    let spec = RoundSpec {
        policy: Policy::Verified,
        budget: a.budget,
        task: a.task.clone(),
        k: a.answers,
        shots: 3,
        params: GenParams {
            temperature: 0.8,
            max_tokens: 96,
            seed: a.seed,
            ..GenParams::default()
        },
        train: Settings {
            task: a.task.clone(),
            rank: 8,
            alpha: 16.0,
            dropout: 0.05,
            targets: vec![Target::Q, Target::V],
            max_len: 512,
            seed_share: 0.0,
            options: TrainOptions {
                lr: 1e-3,
                epochs: a.epochs,
                batch: 4,
                seed: a.seed,
                checkpoint_every: 0,
                ..TrainOptions::default()
            },
        },
        base: base.clone(),
        judge: false,
        eval_max_tokens: 64,
        until: RoundStep::Decide,
    };
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut teacher =
        crate::work::open::open_teacher(&pool, None, None, &mut |m| eprintln!("{m}"))?;
    let engine = teacher.engine().unwrap_or_default();
    // The base model, once (every copy inherits its figures).
    let t = Instant::now();
    eprintln!("base model on the held-out items …");
    let opts = EvalOptions {
        task: a.task.clone(),
        runs: Vec::new(),
        base: Some(base.clone()),
        again: true,
        train_items: 0,
        max_tokens: 64,
        progress: Box::new(|_| {}),
    };
    evaluate_all(&pool, &opts, None, &mut |m| eprintln!("    {m}"))?;
    let base_figures: Vec<_> = pool
        .store()?
        .metrics()?
        .into_iter()
        .filter(|m| m.run_id.is_none())
        .map(|m| (m.task, m.metric, m.value))
        .collect();
    let base_arm = Arm {
        name: "base".into(),
        report: None,
        figures: base_figures,
        seconds: t.elapsed().as_secs_f64(),
    };
    // One generation, decided by every arm.
    let t = Instant::now();
    eprintln!("generating the candidates (rejection sampling, failed answers kept) …");
    run_round(&pool, &spec, teacher.as_mut(), false, cancel.clone(), &mut say)?;
    let gen_s = t.elapsed().as_secs_f64();
    let full = RoundSpec { until: RoundStep::Done, ..spec.clone() };
    let arm = |name: &str,
               policy: Policy,
               pre: &dyn Fn(&Workspace) -> anyhow::Result<()>,
               teacher: &mut dyn crate::llm::Generator|
     -> anyhow::Result<(Arm, Workspace)> {
        eprintln!("{name} …");
        let t = Instant::now();
        let w = fork(&pool, &root, name)?;
        pre(&w)?;
        w.store()?.set_round_policy(1, policy.name())?;
        let r = run_round(
            &w,
            &RoundSpec { policy, ..full.clone() },
            teacher,
            true,
            cancel.clone(),
            &mut say,
        )?;
        let figures = r.metrics.clone();
        Ok((
            Arm { name: name.into(), report: Some(r), figures, seconds: t.elapsed().as_secs_f64() },
            w,
        ))
    };
    let none = |_: &Workspace| Ok(());
    let (accept_all, _) = arm("accept-all", Policy::AcceptAll, &none, teacher.as_mut())?;
    let (verified, wv) = arm("verified", Policy::Verified, &none, teacher.as_mut())?;
    let (fixed, _) = arm("reference-fix", Policy::ReferenceFix, &none, teacher.as_mut())?;
    // Two more accumulating verified rounds on fresh questions.
    let mut rounds = vec![verified.get(None, "exact_match").unwrap_or(f64::NAN)];
    let mut round_arms = Vec::new();
    for i in 2..=3 {
        eprintln!("verified round {i} …");
        let t = Instant::now();
        let r = run_round(&wv, &full, teacher.as_mut(), false, cancel.clone(), &mut say)?;
        let figures = r.metrics.clone();
        let a = Arm {
            name: format!("verified round {i}"),
            report: Some(r),
            figures,
            seconds: t.elapsed().as_secs_f64(),
        };
        rounds.push(a.get(None, "exact_match").unwrap_or(f64::NAN));
        round_arms.push(a);
    }
    // Triage: the simulated curator decides the top X% by the reference, `verified` the rest.
    let order = triage_order(&pool)?;
    let mut triage = Vec::new();
    for x in TRIAGE {
        let top: Vec<i64> =
            order.iter().take((order.len() as f64 * x).ceil() as usize).copied().collect();
        let pre = |w: &Workspace| -> anyhow::Result<()> {
            apply_as(&mut w.store()?, Policy::ReferenceFix, &top, "simulated curator", false)?;
            Ok(())
        };
        let (a, _) =
            arm(&format!("triage {:.0}%", x * 100.0), Policy::Verified, &pre, teacher.as_mut())?;
        triage.push((x, a));
    }
    let minutes = start.elapsed().as_secs_f64() / 60.0;
    print_table(
        &base_arm,
        &[&accept_all, &verified, &fixed],
        &round_arms,
        &rounds,
        &triage,
        gen_s,
        minutes,
        &engine,
    );
    Ok(())
}

/// The order a curator meets the round's candidates in: by how much each needs a human (its
/// checks; no critic runs in the bench), one answer per seed question before the next of the
/// same question, then by id.
fn triage_order(pool: &Workspace) -> anyhow::Result<Vec<i64>> {
    let store = pool.store()?;
    let r = store.rounds()?.into_iter().next().ok_or_else(|| anyhow::anyhow!("no round"))?;
    let mut rows = Vec::new();
    let mut seen: std::collections::HashMap<i64, usize> = Default::default();
    for id in store.round_samples(&r)? {
        let d = store.sample(id)?;
        let failed = store.checks_of(&d).iter().any(|c| c.passed == Some(false));
        let needs =
            crate::judge::with_checks(crate::judge::needs(false, None, None, None, false), failed);
        let nth = d.provenance.seed_id.map_or(0, |s| {
            let n = seen.entry(s).or_default();
            *n += 1;
            *n - 1
        });
        rows.push((needs, nth, id));
    }
    rows.sort();
    Ok(rows.into_iter().map(|(_, _, id)| id).collect())
}
