//! Judging as a job: the samples a generation job kept (when `[judge] auto` is on) or the ones
//! the curator asks for, each verdict reported with the queue row's new signals.

use super::events::JobEvent;
pub use super::events::Judged;
use super::judging::{judge_pending, Extra, JudgeOptions, JudgeProgress};
use crate::judge::critic::rubric;
use crate::llm::Generator;
use crate::workspace::Workspace;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Judges `ids` with `critic` (in the job's thread), reporting each one as it lands.
pub fn judge_ids(
    ws: &Workspace,
    critic: &mut dyn Generator,
    ids: Vec<i64>,
    cancel: Arc<AtomicBool>,
    on: &(dyn Fn(JobEvent) + Sync),
) -> anyhow::Result<JudgeProgress> {
    let mut store = ws.store()?;
    let (text, _) = rubric(Some(&ws.dir));
    let cfg = &ws.config.judge;
    let total = ids.len();
    let embedder = crate::judge::embed::Embedder::from_cache(&mut |m| tracing::info!("{m}"));
    let opts = JudgeOptions {
        votes: cfg.votes,
        limit: total,
        seed: crate::store::now_ms() as u64,
        rubric_hash: crate::text::template_hash(&text),
        rubric: text,
        cancel,
        only: Some(ids),
        auto_accept: cfg.auto_accept,
    };
    on(JobEvent::Judging { total });
    let mut on = |p: &JudgeProgress,
                  id: i64,
                  c: &crate::judge::critic::Critique,
                  v: Option<&crate::judge::vote::Vote>,
                  x: &Extra| {
        let score = c.verdict.score;
        let agreement = v.map(|v| v.agreement() as f32);
        let agrees = x.agrees;
        let near = x.neighbour.as_ref().is_some_and(|n| n.near);
        let failed: Vec<&str> =
            x.checks.iter().filter(|c| c.passed == Some(false)).map(|c| c.name).collect();
        let needs = crate::judge::with_checks(
            crate::judge::needs(true, score, agreement, agrees, near),
            !failed.is_empty(),
        );
        let mut line = format!(
            "#{id}: {}",
            score.map_or_else(|| "verdict unparsed".into(), |s| format!("{s:.0}/10"))
        );
        if let Some(a) = agreement {
            line += &format!(" · {:.0}% agree", a * 100.0);
        }
        if let Some(n) = x.neighbour.as_ref().filter(|n| n.near) {
            line += &format!(" · near-duplicate of {} #{} ({})", n.kind.name(), n.id, n.why());
        }
        if !failed.is_empty() {
            line += &format!(" · failed {}", failed.join(", "));
        }
        if x.auto.is_some() {
            line += " · accepted automatically";
        }
        let j = Judged {
            id,
            score,
            agreement,
            needs,
            auto: x.auto.clone(),
            done: p.judged,
            total,
            line,
        };
        on(JobEvent::Judged(Box::new(j)));
    };
    Ok(judge_pending(critic, embedder.as_ref(), &mut store, &opts, &mut on)?)
}
