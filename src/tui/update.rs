//! The workbench's pure `update`: events in, state changed, effects out; no IO.

use super::app::{App, Popup};
use super::effects::{Effect, Event};
use super::keymap::Context;
use super::panes::{PopupOutcome, StatsPopup};
use super::queue::Tab;
use crate::sample::{summary_line, Status};
use crate::store::{Committed, Decision, DecisionKind, DecisionTag};

impl App {
    /// Handles one event.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Key(key) => {
                if self.notice.as_ref().is_some_and(|n| !n.error) {
                    self.notice = None;
                }
                self.on_key(key, &mut fx);
            }
            Event::Resize(w, h) => self.size = ratatui::layout::Rect::new(0, 0, w, h),
            Event::IndexPage { rows, counts, done } => {
                let keep = self.restore.or(self.current_id());
                if done {
                    self.restore = None;
                }
                self.index.extend(rows);
                if let Some(c) = counts {
                    self.counts = c;
                }
                self.loading = !done;
                if done {
                    self.index.shrink_to_fit();
                }
                self.rebuild_view(keep);
            }
            Event::Detail(d) => {
                if self.requested == Some(d.id) {
                    self.requested = None;
                }
                if Some(d.id) == self.current_id() {
                    self.detail = Some(d);
                }
            }
            Event::Committed { kind, committed } => self.on_committed(kind, &committed),
            Event::Undone(None) => self.say("nothing left to undo"),
            Event::Undone(Some(u)) => {
                if matches!(u.kind.as_str(), "accept" | "reject" | "edit") {
                    self.session_decisions =
                        self.session_decisions.saturating_sub(u.committed.states.len() as u64);
                }
                self.apply_states(&u.committed, false);
                let first = u.committed.states.first().map(|s| s.sample_id);
                self.say(format!("undid {} on {} sample(s)", u.kind, u.committed.states.len()));
                // Show the sample whose decision was undone, in a tab where it is visible.
                if let Some(id) = first {
                    if let Some(row) = self.index.find(id) {
                        if !self.tab.shows(self.index.row(row).status) {
                            self.tab = Tab::All;
                        }
                    }
                    self.view.invalidate();
                    self.rebuild_view(Some(id));
                }
            }
            Event::ExternalEdit { id, result } => match result {
                Ok(Some(text)) => fx.push(self.decide(vec![id], DecisionKind::Edit(text))),
                Ok(None) => self.say("no change"),
                Err(e) => self.fail(format!("$EDITOR: {e}")),
            },
            Event::Job(ev) => self.on_job(ev, &mut fx),
            Event::Student(v) => self.on_student(v),
            Event::Stats(st) => self.popup = Some(Popup::Stats(StatsPopup { stats: st })),
            Event::NewRows(rows) => self.on_new_rows(rows),
            Event::NotSaved { kind, ids, error } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.clear_saving(&ids);
                self.fail(format!("NOT saved: {kind} on sample {ids:?}: {error}"));
            }
            Event::Waiting { .. } => {
                self.store_busy = true;
                self.say("the store is busy (another process writes): the decision waits");
            }
            Event::Conflict { decision, others, last_event } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.clear_saving(&decision.sample_ids);
                self.seen_event = Some(last_event);
                // Show what the others did, then ask.
                self.data_version = None;
                let reason = crate::store::StoreError::DecidedElsewhere(others).to_string();
                self.popup = Some(Popup::Confirm(super::panes::ConfirmPopup {
                    ids: decision.sample_ids,
                    kind: decision.kind,
                    reason: Some(reason),
                }));
            }
            Event::Tick if !self.polling => {
                self.polling = true;
                fx.push(Effect::Poll {
                    after: self.seen_event,
                    version: self.data_version,
                    session: self.session.clone(),
                });
            }
            Event::Tick => {}
            Event::Polled(p) => {
                self.polling = false;
                if let Some(p) = p {
                    let (changes, version) = *p;
                    self.data_version = Some(version);
                    self.seen_event = Some(changes.last_event);
                    self.on_changes(changes);
                }
            }
            Event::Failed(msg) => self.fail(msg),
        }
        self.sync_detail(&mut fx);
        self.keep_in_view();
        let height = 60;
        self.view.refresh_highlights(
            &self.index,
            self.cursor.saturating_sub(height),
            self.cursor + height,
        );
        fx
    }

    fn on_key(&mut self, key: crossterm::event::KeyEvent, fx: &mut Vec<Effect>) {
        // The open popup has the keys first; what it passes on is the workbench's.
        if let Some(popup) = self.popup.as_mut() {
            let pane = popup.pane_mut();
            let action = self.keymap.action(pane.context(), &key);
            let outcome = pane.handle(&key, action, &self.keymap);
            self.on_outcome(outcome, fx);
            return;
        }
        if self.filtering {
            self.on_filter_key(key, fx);
        } else if let Some(action) = self.keymap.action(Context::Queue, &key) {
            self.on_action(action, fx);
        }
    }

    /// What the popup asked for.
    fn on_outcome(&mut self, outcome: PopupOutcome, fx: &mut Vec<Effect>) {
        match outcome {
            PopupOutcome::Keep => {}
            PopupOutcome::Notice(n) => self.say(n),
            // The training dialog closes back to the student pane.
            PopupOutcome::Close if matches!(self.popup, Some(Popup::Train(_))) => {
                self.popup = Some(Popup::Student(super::panes::StudentPane))
            }
            PopupOutcome::Close => self.popup = None,
            PopupOutcome::Start(spec) => {
                self.popup = None;
                self.start_job(spec, fx);
            }
            PopupOutcome::Train(spec) => {
                self.popup = Some(Popup::Student(super::panes::StudentPane));
                fx.push(Effect::Student(crate::work::student::StudentCmd::Train(spec)));
            }
            PopupOutcome::Decide(ids, kind) => {
                self.popup = None;
                let bulk = ids.len() > 1;
                fx.push(self.decide(ids, kind));
                if bulk {
                    self.selected.clear();
                }
            }
            PopupOutcome::Pass(Some(action)) => self.on_student_action(action, fx),
            PopupOutcome::Pass(None) => {}
        }
    }

    /// Rebuilds the view from tab, sort and query, keeping the cursor on `keep` when it is shown.
    pub(super) fn rebuild_view(&mut self, keep: Option<i64>) {
        self.view.rebuild(&self.index, self.tab, self.sort, &self.query);
        self.cursor = keep
            .and_then(|id| self.index.find(id))
            .and_then(|row| self.view.position_of(row))
            .unwrap_or(0)
            .min(self.view.rows.len().saturating_sub(1));
    }

    /// Loads the detail of the sample under the cursor when it changed.
    fn sync_detail(&mut self, fx: &mut Vec<Effect>) {
        let id = self.current_id();
        if self.viewing.map(|v| v.0) != id {
            self.viewing = id.map(|id| (id, (self.clock)()));
            self.diff = false;
            self.detail_scroll = 0;
        }
        match id {
            Some(id)
                if self.detail.as_ref().is_none_or(|d| d.id != id)
                    && self.requested != Some(id) =>
            {
                self.requested = Some(id);
                fx.push(Effect::LoadDetail(id));
            }
            Some(_) => {}
            None => self.detail = None,
        }
    }

    /// Sends a decision, marking its rows as saving; they show as done when the store confirms.
    pub(super) fn decide(&mut self, ids: Vec<i64>, kind: DecisionKind) -> Effect {
        let now = (self.clock)();
        let seconds = match (self.viewing, ids.as_slice()) {
            (Some((v, since)), [id]) if v == *id => Some((now - since).max(0) as f64 / 1000.0),
            _ => None,
        };
        for &id in &ids {
            if let Some(r) = self.index.row_mut(id) {
                r.saving = true;
            }
        }
        self.in_flight += 1;
        let unless_decided_after = self.seen_event;
        Effect::Decide(Decision {
            sample_ids: ids,
            kind,
            seconds,
            session: self.session.clone(),
            curator: self.curator.clone(),
            automatic: false,
            unless_decided_after,
        })
    }

    fn on_committed(&mut self, kind: DecisionTag, c: &Committed) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if std::mem::take(&mut self.store_busy) {
            self.say("saved (the store was busy)");
        }
        if kind.decides() {
            self.session_decisions += c.states.len() as u64;
        }
        self.apply_states(c, true);
        if c.states.len() > 1 {
            self.say(format!("{kind}: {} samples saved", c.states.len()));
        }
    }

    /// Rows whose decision did not go through show their status again.
    fn clear_saving(&mut self, ids: &[i64]) {
        for &id in ids {
            if let Some(r) = self.index.row_mut(id) {
                r.saving = false;
            }
        }
    }

    /// Other processes' decisions: rows, counts and detail follow; the rows stay where they are.
    fn on_changes(&mut self, ch: crate::store::Changes) {
        if ch.states.is_empty() {
            return;
        }
        let mut who: Vec<String> =
            ch.by.iter().map(|e| crate::text::clean_line(&e.curator)).collect();
        who.sort();
        who.dedup();
        let n = ch.states.len();
        let c = Committed { batch: 0, states: ch.states, written: Vec::new(), at_ms: 0 };
        self.apply_states(&c, false);
        self.say(format!("{n} sample(s) decided elsewhere (by {})", who.join(", ")));
    }

    /// A decision made elsewhere (an automatic accept) joins the index, counts and view.
    pub(super) fn apply_committed(&mut self, c: &Committed) {
        self.apply_states(c, true);
    }

    /// Asks for the detail again (its signals changed).
    pub(super) fn reload_detail(&mut self) {
        self.detail = None;
        self.requested = None;
    }

    /// Puts committed states into the index, counts and view.
    fn apply_states(&mut self, c: &Committed, drop_from_view: bool) {
        let keep = self.current_id();
        for st in &c.states {
            let Some(row) = self.index.row_mut(st.sample_id) else { continue };
            let old = row.status;
            (row.status, row.flagged, row.saving) = (st.status, st.flagged, false);
            *self.counts.get_mut(old) -= 1.min(self.counts.get(old));
            *self.counts.get_mut(st.status) += 1;
            if let Some(t) = &st.text {
                let (line, title) =
                    summary_line(t, super::effects::summary_cap(self.counts.total() as i64));
                self.index.set_text(st.sample_id, &line, title);
            }
            if self.detail.as_ref().is_some_and(|d| d.id == st.sample_id) {
                // Reloaded by `sync_detail`, with the new status, note and text.
                self.detail = None;
                self.requested = None;
            }
        }
        if drop_from_view {
            self.view.drop_outside_tab(&self.index);
            self.cursor = keep
                .and_then(|id| self.index.find(id))
                .and_then(|r| self.view.position_of(r))
                .unwrap_or(self.cursor)
                .min(self.view.rows.len().saturating_sub(1));
        }
    }

    /// Moves the cursor to the next pending sample after it (wrapping), else one down.
    pub(super) fn advance_to_pending(&mut self) {
        let n = self.view.rows.len();
        let pending = |i: usize| {
            let r = self.index.row(self.view.rows[i]);
            r.status == Status::Pending && !r.saving
        };
        let next = (self.cursor + 1..n).chain(0..self.cursor).find(|&i| pending(i));
        self.cursor = next.unwrap_or((self.cursor + 1).min(n.saturating_sub(1)));
    }

    /// Keeps the cursor's row in the queue's view and the detail's scroll within its text, for
    /// the screen's current size (render draws these positions as they are).
    fn keep_in_view(&mut self) {
        let areas = super::layout::Areas::of(self.size, self.job.is_some());
        let h = areas.list_rows();
        if h > 0 {
            if self.cursor < self.offset {
                self.offset = self.cursor;
            } else if self.cursor >= self.offset + h {
                self.offset = self.cursor + 1 - h;
            }
        }
        // Only a scrolled detail can run past its text (and measuring it lays out the whole
        // sample, which would cost every event).
        if self.detail_scroll > 0 {
            let (w, inner_h) = areas.detail_inner();
            let total = super::panes::DetailPane::line_count(self, w);
            self.detail_scroll = self.detail_scroll.min(total.saturating_sub(inner_h));
        }
    }
}
