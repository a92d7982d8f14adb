//! Judging from the workbench: after a generation job keeps candidates, the same job judges them
//! (when `[judge] auto` is on, the default); `J` re-judges the sample under the cursor. Each
//! verdict updates its queue row (score, agreement, triage class) as it lands, and an automatic
//! accept shows like any other decision.

use super::app::App;
use super::effects::Effect;
use super::jobs::{JobState, JobView};
use crate::work::jobs::JobKind;
use crate::work::judge_job::Judged;

impl App {
    /// `J`: re-judge the sample under the cursor in the background.
    pub(super) fn rejudge(&mut self, fx: &mut Vec<Effect>) {
        if self.job.as_ref().is_some_and(|j| !j.done) {
            self.say("a job is running; C cancels it");
            return;
        }
        let Some(id) = self.current_id() else { return };
        self.job = Some(JobView::new(JobKind::Judge, 1, JobState::Loading("critic")));
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
