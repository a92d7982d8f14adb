//! Judging from the workbench: after a generation job keeps candidates, the same job judges them
//! (when `[judge] auto` is on, the default); `J` re-judges the sample under the cursor. Each
//! verdict updates its queue row (score, agreement, triage class) as it lands, and an automatic
//! accept shows like any other decision.

use super::app::App;
use super::effects::{Effect, Event};
use super::jobs::{JobEvent, JobSpec, JobView};
use crate::judge::critic::rubric;
use crate::judge::run::{judge_pending, Extra, JudgeOptions, JudgeProgress};
use crate::llm::Generator;
use crate::recipes::dispatch::open_teacher;
use crate::store::Committed;
use crate::workspace::Workspace;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// What the job reports after judging one sample: its new signals for the queue row.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub id: i64,
    pub score: Option<f32>,
    pub agreement: Option<f32>,
    pub needs: crate::judge::Needs,
    /// The automatic accept, when the workspace's rule admitted it.
    pub auto: Option<Committed>,
    pub done: usize,
    pub total: usize,
    pub line: String,
}

/// The critic `[judge] critic` names; None when it is the teacher itself (`reuse` is loaded).
pub fn open_critic(
    ws: &Workspace,
    teacher_endpoint: Option<&str>,
) -> anyhow::Result<Option<Box<dyn Generator + Send>>> {
    let say = &mut |m: String| tracing::info!("{}", m.replacen("teacher", "critic", 1));
    match ws.config.judge.critic.as_deref() {
        None => Ok(None),
        Some("local") if teacher_endpoint.is_none() => Ok(None),
        Some("local") => {
            let model = ws.teacher_model();
            Ok(Some(open_teacher(ws, None, Some(&model), say)?))
        }
        Some(name) if Some(name) == teacher_endpoint => Ok(None),
        Some(name) => Ok(Some(open_teacher(ws, Some(name), None, say)?)),
    }
}

/// Judges `ids` with `critic` in the job thread, reporting each one.
pub fn judge_ids(
    ws: &Workspace,
    critic: &mut dyn Generator,
    ids: Vec<i64>,
    cancel: Arc<AtomicBool>,
    events: &UnboundedSender<Event>,
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
        rubric_hash: crate::recipes::template_hash(&text),
        rubric: text,
        cancel,
        only: Some(ids),
        auto_accept: cfg.auto_accept,
    };
    let _ = events.send(Event::Job(JobEvent::Judging { total }));
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
        let _ = events.send(Event::Job(JobEvent::Judged(Box::new(j))));
    };
    Ok(judge_pending(critic, embedder.as_ref(), &mut store, &opts, &mut on)?)
}

impl App {
    /// `J`: re-judge the sample under the cursor in the background.
    pub(super) fn rejudge(&mut self, fx: &mut Vec<Effect>) {
        if self.job.as_ref().is_some_and(|j| !j.done) {
            self.say("a job is running; C cancels it");
            return;
        }
        let Some(id) = self.current_id() else { return };
        let spec = JobSpec { recipe: "judge".into(), n: 1, endpoint: None };
        self.job = Some(JobView::new(spec, "loading the critic…"));
        fx.push(Effect::StartJudge(vec![id]));
    }

    /// Why accepting sample `id` needs a confirmation: it is a near-duplicate of a seed or an
    /// accepted sample (from its detail when loaded, else from the judge's finding).
    pub(super) fn near_duplicate_of(&self, id: i64) -> Option<String> {
        match self.detail.as_ref().filter(|d| d.id == id) {
            Some(d) => d.neighbour.as_ref().filter(|n| n.near).map(|n| {
                format!("#{id} is a near-duplicate of {} #{}: {}\n«{}»", n.kind.name(), n.id, n.why(), crate::text::truncate_width(&crate::text::clean_line(&n.text), 70))
            }),
            None => self
                .index
                .find(id)
                .filter(|&r| self.index.row(r).needs == crate::judge::Needs::NearDuplicate)
                .map(|_| format!("#{id} was found to be a near-duplicate of a seed or an accepted sample when it was judged")),
        }
    }

    pub(super) fn on_judged(&mut self, j: Judged) {
        if let Some(job) = self.job.as_mut() {
            job.judged = j.done;
            job.to_judge = j.total;
            job.last = j.line.clone();
        }
        if let Some(row) = self.index.row_mut(j.id) {
            (row.score, row.agreement, row.needs) = (j.score, j.agreement, j.needs);
        }
        if let Some(c) = &j.auto {
            self.apply_committed(c);
        }
        if self.detail.as_ref().is_some_and(|d| d.id == j.id) {
            self.reload_detail();
        }
        self.view.invalidate();
        let keep = self.current_id();
        self.rebuild_view(keep);
    }
}
