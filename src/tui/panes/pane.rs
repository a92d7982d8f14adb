//! The one interface every pane and popup shares: the keymap section its keys come from, the
//! commands it offers (the footer shows them in this order where they fit, the help lists them
//! first), what a key does, and drawing from its state. `render` takes `&self`: it never changes
//! state (scroll and cursor positions are kept in view by `update`).

use super::{
    ConfirmPopup, EditorPopup, GeneratePopup, HelpPopup, NotePopup, PopupOutcome, StatsPopup,
    TrainOutcome, TrainPopup,
};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

/// What panes draw with: the state, the keymap in force and the theme.
pub struct RenderCx<'a> {
    pub app: &'a App,
    pub keymap: &'a Keymap,
    pub theme: &'a Theme,
}

/// A pane or popup.
pub trait Pane {
    /// The keymap section its keys are read from.
    fn context(&self) -> Context;
    /// The commands it offers, most used first.
    fn commands(&self) -> &'static [Action];
    /// What a key does here; `action` is the key's action in [`Pane::context`]. `Pass` leaves
    /// it to the workbench (the queue's keys, the student pane's commands).
    fn handle(&mut self, key: &KeyEvent, action: Option<Action>, keymap: &Keymap) -> PopupOutcome;
    /// Draws it in `area` from its state.
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx);
}

/// The queue with its detail: the workbench's main pane (its keys are the app's own).
pub struct QueuePanes {
    /// The filter line is open.
    pub filtering: bool,
}

/// The student pane (runs, loss, rounds); its commands go to the supervisor.
pub struct StudentPane;

pub const QUEUE_COMMANDS: &[Action] = &[
    Action::Accept,
    Action::Reject,
    Action::Edit,
    Action::Undo,
    Action::NextPending,
    Action::Filter,
    Action::ToggleSelect,
    Action::Note,
    Action::Flag,
    Action::CycleSort,
    Action::ToggleDiff,
    Action::Help,
    Action::Generate,
    Action::Quit,
];
const FILTER_COMMANDS: &[Action] = &[Action::Confirm, Action::Cancel];
const EDITOR_COMMANDS: &[Action] = &[Action::Save, Action::NextField, Action::Cancel];
const NOTE_COMMANDS: &[Action] = &[Action::Save, Action::Cancel];
const CONFIRM_COMMANDS: &[Action] = &[Action::Confirm, Action::Cancel];
const HELP_COMMANDS: &[Action] = &[Action::Close];
const DIALOG_COMMANDS: &[Action] = &[Action::Confirm, Action::Cancel];
const STUDENT_COMMANDS: &[Action] =
    &[Action::Train, Action::CancelTraining, Action::Evaluate, Action::Close];

/// Every pane's context and commands, in the help's order.
pub const ALL_COMMANDS: &[(Context, &[Action])] = &[
    (Context::Queue, QUEUE_COMMANDS),
    (Context::Filter, FILTER_COMMANDS),
    (Context::Editor, EDITOR_COMMANDS),
    (Context::Note, NOTE_COMMANDS),
    (Context::Confirm, CONFIRM_COMMANDS),
    (Context::Help, HELP_COMMANDS),
    (Context::Generate, DIALOG_COMMANDS),
    (Context::Student, STUDENT_COMMANDS),
];

impl Pane for QueuePanes {
    fn context(&self) -> Context {
        if self.filtering {
            Context::Filter
        } else {
            Context::Queue
        }
    }
    fn commands(&self) -> &'static [Action] {
        if self.filtering {
            FILTER_COMMANDS
        } else {
            QUEUE_COMMANDS
        }
    }
    fn handle(&mut self, _: &KeyEvent, action: Option<Action>, _: &Keymap) -> PopupOutcome {
        PopupOutcome::Pass(action)
    }
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx) {
        let areas = crate::tui::layout::Areas::of(area, cx.app.job.is_some());
        super::QueuePane::render(f, areas.queue, cx.app);
        super::DetailPane::render(f, areas.detail, cx.app);
    }
}

impl Pane for StudentPane {
    fn context(&self) -> Context {
        Context::Student
    }
    fn commands(&self) -> &'static [Action] {
        STUDENT_COMMANDS
    }
    fn handle(&mut self, _: &KeyEvent, action: Option<Action>, _: &Keymap) -> PopupOutcome {
        match action {
            Some(Action::Close) => PopupOutcome::Close,
            other => PopupOutcome::Pass(other),
        }
    }
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx) {
        super::render_student(f, area, cx.app.student.as_deref(), cx.keymap, cx.theme)
    }
}

impl Pane for ConfirmPopup {
    fn context(&self) -> Context {
        Context::Confirm
    }
    fn commands(&self) -> &'static [Action] {
        CONFIRM_COMMANDS
    }
    fn handle(&mut self, _: &KeyEvent, action: Option<Action>, _: &Keymap) -> PopupOutcome {
        ConfirmPopup::handle(self, action)
    }
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx) {
        ConfirmPopup::render(self, f, area, cx.keymap, cx.theme)
    }
}

impl Pane for GeneratePopup {
    fn context(&self) -> Context {
        Context::Generate
    }
    fn commands(&self) -> &'static [Action] {
        DIALOG_COMMANDS
    }
    fn handle(&mut self, _: &KeyEvent, action: Option<Action>, _: &Keymap) -> PopupOutcome {
        GeneratePopup::handle(self, action)
    }
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx) {
        GeneratePopup::render(self, f, area, cx.keymap, cx.theme)
    }
}

impl Pane for StatsPopup {
    fn context(&self) -> Context {
        Context::Help
    }
    fn commands(&self) -> &'static [Action] {
        HELP_COMMANDS
    }
    fn handle(&mut self, _: &KeyEvent, action: Option<Action>, _: &Keymap) -> PopupOutcome {
        StatsPopup::handle(self, action)
    }
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx) {
        StatsPopup::render(self, f, area, cx.theme)
    }
}

impl Pane for HelpPopup {
    fn context(&self) -> Context {
        Context::Help
    }
    fn commands(&self) -> &'static [Action] {
        HELP_COMMANDS
    }
    fn handle(&mut self, _: &KeyEvent, action: Option<Action>, keymap: &Keymap) -> PopupOutcome {
        HelpPopup::handle(self, action, keymap)
    }
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx) {
        HelpPopup::render(self, f, area, cx.keymap, cx.theme)
    }
}

impl Pane for EditorPopup {
    fn context(&self) -> Context {
        Context::Editor
    }
    fn commands(&self) -> &'static [Action] {
        EDITOR_COMMANDS
    }
    fn handle(&mut self, key: &KeyEvent, _: Option<Action>, keymap: &Keymap) -> PopupOutcome {
        EditorPopup::handle(self, keymap, *key)
    }
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx) {
        EditorPopup::render(self, f, area, cx.keymap, cx.theme)
    }
}

impl Pane for NotePopup {
    fn context(&self) -> Context {
        Context::Note
    }
    fn commands(&self) -> &'static [Action] {
        NOTE_COMMANDS
    }
    fn handle(&mut self, key: &KeyEvent, _: Option<Action>, keymap: &Keymap) -> PopupOutcome {
        NotePopup::handle(self, keymap, *key)
    }
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx) {
        NotePopup::render(self, f, area, cx.theme)
    }
}

impl Pane for TrainPopup {
    fn context(&self) -> Context {
        Context::Generate
    }
    fn commands(&self) -> &'static [Action] {
        DIALOG_COMMANDS
    }
    fn handle(&mut self, _: &KeyEvent, action: Option<Action>, _: &Keymap) -> PopupOutcome {
        match TrainPopup::handle(self, action) {
            TrainOutcome::Keep => PopupOutcome::Keep,
            // Back to the student pane.
            TrainOutcome::Close => PopupOutcome::Close,
            TrainOutcome::Start(spec) => PopupOutcome::Train(spec),
        }
    }
    fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCx) {
        TrainPopup::render(self, f, area, cx.keymap, cx.theme)
    }
}
