//! What each action does in the queue and in the filter line.

use super::action::Action;
use super::app::App;
use super::effects::Effect;
use super::keymap::Context;
use super::queue::Tab;
use crate::store::DecisionKind;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Rows a page move jumps.
const PAGE: usize = 10;

impl App {
    pub(super) fn on_action(&mut self, action: Action, fx: &mut Vec<Effect>) {
        let n = self.view.rows.len();
        let last = n.saturating_sub(1);
        match action {
            Action::MoveDown => self.cursor = (self.cursor + 1).min(last),
            Action::MoveUp => self.cursor = self.cursor.saturating_sub(1),
            Action::PageDown => self.cursor = (self.cursor + PAGE).min(last),
            Action::PageUp => self.cursor = self.cursor.saturating_sub(PAGE),
            Action::Top => self.cursor = 0,
            Action::Bottom => self.cursor = last,
            Action::NextPending => self.advance_to_pending(),
            Action::Accept | Action::Reject => {
                let kind = if action == Action::Accept {
                    DecisionKind::Accept
                } else {
                    DecisionKind::Reject
                };
                if !self.selected.is_empty() {
                    self.confirm_bulk(kind);
                } else if let Some((id, why)) = self
                    .current_id()
                    .filter(|_| action == Action::Accept)
                    .and_then(|id| Some((id, self.near_duplicate_of(id)?)))
                {
                    self.popup = Some(super::app::Popup::Confirm(
                        super::panes::ConfirmPopup::because(id, kind, why),
                    ));
                } else if let Some(id) = self.current_id() {
                    fx.push(self.decide(vec![id], kind));
                    self.advance_to_pending();
                }
            }
            Action::Edit => self.open_editor(),
            Action::EditExternal => {
                match self.detail.as_ref().filter(|d| Some(d.id) == self.current_id()) {
                    Some(d) => fx.push(Effect::EditExternal { id: d.id, text: d.current.clone() }),
                    None => self.say("the sample is still loading"),
                }
            }
            Action::Undo => fx.push(Effect::Undo {
                curator: self.curator.clone(),
                session: self.session.clone(),
            }),
            Action::Note => self.open_note(),
            Action::Generate => self.open_generate(),
            Action::Rejudge => self.rejudge(fx),
            Action::Stats => fx.push(Effect::LoadStats),
            Action::Student => {
                self.popup = Some(super::app::Popup::Student(super::panes::StudentPane))
            }
            Action::CancelJob => self.cancel_job(fx),
            Action::Flag => {
                if let Some(id) = self.current_id() {
                    let flagged = self.index.row_mut(id).is_some_and(|r| r.flagged);
                    fx.push(self.decide(
                        vec![id],
                        if flagged { DecisionKind::Unflag } else { DecisionKind::Flag },
                    ));
                }
            }
            Action::ToggleSelect => {
                if let Some(id) = self.current_id() {
                    if !self.selected.remove(&id) {
                        self.selected.insert(id);
                    }
                    self.cursor = (self.cursor + 1).min(last);
                }
            }
            Action::SelectAll => {
                let ids: Vec<i64> = self.view.rows.iter().map(|&r| self.index.row(r).id).collect();
                self.selected.extend(ids);
                self.say(format!("{} selected; a / x acts on all of them", self.selected.len()));
            }
            Action::Clear => {
                if !self.selected.is_empty() {
                    self.selected.clear();
                } else if !self.query.is_empty() {
                    self.query.clear();
                    let keep = self.current_id();
                    self.rebuild_view(keep);
                }
            }
            Action::Filter => self.filtering = true,
            Action::CycleSort => {
                self.sort = self.sort.next();
                let keep = self.current_id();
                self.rebuild_view(keep);
                self.say(format!("sorted by {}", self.sort.name()));
            }
            Action::NextTab | Action::PrevTab => {
                let i = Tab::ALL.iter().position(|&t| t == self.tab).unwrap_or(0);
                let step = if action == Action::NextTab { 1 } else { Tab::ALL.len() - 1 };
                self.set_tab(Tab::ALL[(i + step) % Tab::ALL.len()]);
            }
            Action::TabPending => self.set_tab(Tab::Pending),
            Action::TabAccepted => self.set_tab(Tab::Accepted),
            Action::TabRejected => self.set_tab(Tab::Rejected),
            Action::TabEdited => self.set_tab(Tab::Edited),
            Action::TabAll => self.set_tab(Tab::All),
            Action::ToggleDiff => match self.detail.as_ref() {
                Some(d) if d.current != d.original || d.parent.is_some() => self.diff = !self.diff,
                Some(_) => self.say("this sample has no edits and no parent to compare with"),
                None => {}
            },
            Action::Reload => {
                self.restore = self.current_id();
                self.index = super::queue::QueueIndex::default();
                self.view.invalidate();
                self.rebuild_view(None);
                self.loading = true;
                fx.push(Effect::LoadIndex);
            }
            Action::ScrollDown => self.detail_scroll = self.detail_scroll.saturating_add(5),
            Action::ScrollUp => self.detail_scroll = self.detail_scroll.saturating_sub(5),
            Action::Help => self.open_help(),
            Action::Quit => {
                self.quit = true;
                fx.push(Effect::Quit);
            }
            Action::Confirm
            | Action::Cancel
            | Action::Save
            | Action::NextField
            | Action::Close
            | Action::Increase
            | Action::Decrease
            | Action::Train
            | Action::CancelTraining
            | Action::Evaluate => {}
        }
    }

    fn set_tab(&mut self, tab: Tab) {
        if self.tab != tab {
            self.tab = tab;
            let keep = self.current_id();
            self.rebuild_view(keep);
        }
    }

    /// Keys while the filter line has focus: typing edits the query, which applies at once.
    pub(super) fn on_filter_key(&mut self, key: KeyEvent, fx: &mut Vec<Effect>) {
        match self.keymap.action(Context::Filter, &key) {
            Some(Action::Confirm) => self.filtering = false,
            Some(Action::Cancel) => {
                self.filtering = false;
                self.query.clear();
                let keep = self.current_id();
                self.rebuild_view(keep);
            }
            Some(a @ (Action::MoveDown | Action::MoveUp)) => self.on_action(a, fx),
            _ => {
                let changed = match key.code {
                    KeyCode::Backspace => self.query.pop().is_some(),
                    KeyCode::Char(c)
                        if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                    {
                        self.query.push(c);
                        true
                    }
                    _ => false,
                };
                if changed {
                    self.rebuild_view(None);
                }
            }
        }
    }
}
