//! The workbench state: what it holds and the helpers that change it directly. Its `update`
//! (events in, effects out) is in `update.rs`.

use super::effects::Effect;
use super::jobs::JobView;
use super::keymap::Keymap;
use super::panes::{
    ConfirmPopup, EditorPopup, GeneratePopup, HelpPopup, NotePopup, Pane, StatsPopup,
};
use super::queue::{QueueIndex, Sort, Tab, View};
use super::theme::Theme;
use crate::store::{DecisionKind, SampleDetail, StatusCounts};
use std::collections::BTreeSet;

/// A message in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// The popup that has the keys, if any.
pub enum Popup {
    Help(HelpPopup),
    Editor(Box<EditorPopup>),
    Note(Box<NotePopup>),
    Confirm(ConfirmPopup),
    Generate(GeneratePopup),
    Stats(StatsPopup),
    /// The student pane (drawn from `App::student`).
    Student(super::panes::StudentPane),
    Train(super::panes::TrainPopup),
}

impl Popup {
    /// The popup as a pane.
    pub fn pane(&self) -> &dyn Pane {
        match self {
            Popup::Help(p) => p,
            Popup::Editor(p) => p.as_ref(),
            Popup::Note(p) => p.as_ref(),
            Popup::Confirm(p) => p,
            Popup::Generate(p) => p,
            Popup::Stats(p) => p,
            Popup::Student(p) => p,
            Popup::Train(p) => p,
        }
    }

    pub fn pane_mut(&mut self) -> &mut dyn Pane {
        match self {
            Popup::Help(p) => p,
            Popup::Editor(p) => p.as_mut(),
            Popup::Note(p) => p.as_mut(),
            Popup::Confirm(p) => p,
            Popup::Generate(p) => p,
            Popup::Stats(p) => p,
            Popup::Student(p) => p,
            Popup::Train(p) => p,
        }
    }
}

/// The whole state of the workbench.
pub struct App {
    pub workspace: String,
    pub session: String,
    /// Who decides here (stored on every event; undo takes back only theirs).
    pub curator: String,
    pub keymap: Keymap,
    pub theme: Theme,
    pub index: QueueIndex,
    pub view: View,
    pub tab: Tab,
    pub sort: Sort,
    /// The filter being typed (applied on every keystroke).
    pub query: String,
    /// The filter line has the keys.
    pub filtering: bool,
    /// Position of the cursor in `view.rows`.
    pub cursor: usize,
    /// First list position shown; kept by the queue pane so the cursor stays visible.
    pub offset: usize,
    /// The terminal's size, as the last resize said.
    pub size: ratatui::layout::Rect,
    pub selected: BTreeSet<i64>,
    pub detail: Option<Box<SampleDetail>>,
    pub detail_scroll: u16,
    pub diff: bool,
    pub popup: Option<Popup>,
    pub counts: StatusCounts,
    /// The index is still streaming in.
    pub loading: bool,
    pub session_decisions: u64,
    pub started_ms: i64,
    pub notice: Option<Notice>,
    /// Decisions sent to the store and not yet confirmed.
    pub in_flight: usize,
    /// A decision waits for the store's lock (another process writes).
    pub store_busy: bool,
    /// The newest decision event this workbench has seen (others' after it are news, and a
    /// decision on a sample someone decided after it asks first); None until the first look.
    pub seen_event: Option<i64>,
    /// The store's `data_version` at the last look, and whether a look is under way.
    pub(super) data_version: Option<i64>,
    pub(super) polling: bool,
    /// The sample on screen and since when (for seconds spent per decision).
    pub(super) viewing: Option<(i64, i64)>,
    /// The sample whose detail was asked for and has not come yet.
    pub(super) requested: Option<i64>,
    /// The sample to put the cursor back on while a reloaded index streams in.
    pub(super) restore: Option<i64>,
    pub(super) clock: fn() -> i64,
    pub quit: bool,
    /// The generation job, running or last finished.
    pub job: Option<JobView>,
    /// The workspace's endpoints, offered by the generation dialog.
    pub endpoints: Vec<String>,
    pub default_endpoint: Option<String>,
    /// A job to start with the workbench (the demo's).
    pub initial_job: Option<crate::work::jobs::JobSpec>,
    /// What the student watcher last saw.
    pub student: Option<Box<crate::work::student::StudentView>>,
}

impl App {
    /// A new workbench; `clock` gives milliseconds (the store's `now_ms`, or a fake in tests).
    pub fn new(workspace: String, keymap: Keymap, clock: fn() -> i64) -> App {
        let now = clock();
        App {
            workspace,
            session: format!("{}-{now}", std::process::id()),
            curator: crate::workspace::default_curator(),
            keymap,
            theme: Theme::default(),
            index: QueueIndex::default(),
            view: View::default(),
            tab: Tab::Pending,
            sort: Sort::Newest,
            query: String::new(),
            filtering: false,
            cursor: 0,
            offset: 0,
            size: ratatui::layout::Rect::new(0, 0, 80, 24),
            selected: BTreeSet::new(),
            detail: None,
            detail_scroll: 0,
            diff: false,
            popup: None,
            counts: StatusCounts::default(),
            loading: true,
            session_decisions: 0,
            started_ms: now,
            notice: None,
            in_flight: 0,
            store_busy: false,
            seen_event: None,
            data_version: None,
            polling: false,
            viewing: None,
            requested: None,
            restore: None,
            clock,
            quit: false,
            job: None,
            endpoints: Vec::new(),
            default_endpoint: None,
            initial_job: None,
            student: None,
        }
    }

    /// The effects to run at start.
    pub fn init(&mut self) -> Vec<Effect> {
        // The newest event first: what others decide after it is news.
        self.polling = true;
        let poll = Effect::Poll { after: None, version: None, session: self.session.clone() };
        let mut fx = vec![poll, Effect::LoadIndex];
        if let Some(spec) = self.initial_job.take() {
            self.start_job(spec, &mut fx);
        }
        fx
    }

    /// The sample under the cursor.
    pub fn current_id(&self) -> Option<i64> {
        self.view.rows.get(self.cursor).map(|&r| self.index.row(r).id)
    }

    pub(super) fn say(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice { text: text.into(), error: false });
    }

    pub(super) fn fail(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::warn!("{text}");
        self.notice = Some(Notice { text, error: true });
    }

    /// Decisions per minute in this session.
    pub fn rate_per_minute(&self) -> f64 {
        let minutes = (((self.clock)() - self.started_ms) as f64 / 60_000.0).max(1.0);
        self.session_decisions as f64 / minutes
    }

    pub(super) fn open_editor(&mut self) {
        match self.detail.as_ref().filter(|d| Some(d.id) == self.current_id()) {
            Some(d) => {
                self.popup = Some(Popup::Editor(Box::new(EditorPopup::new(d.id, &d.current))))
            }
            None => self.say("the sample is still loading"),
        }
    }

    pub(super) fn open_note(&mut self) {
        match self.detail.as_ref().filter(|d| Some(d.id) == self.current_id()) {
            Some(d) => {
                self.popup = Some(Popup::Note(Box::new(NotePopup::new(
                    d.id,
                    d.note.as_deref().unwrap_or(""),
                ))))
            }
            None => self.say("the sample is still loading"),
        }
    }

    pub(super) fn open_help(&mut self) {
        self.popup = Some(Popup::Help(HelpPopup::default()));
    }

    pub(super) fn confirm_bulk(&mut self, kind: DecisionKind) {
        let ids: Vec<i64> = self.selected.iter().copied().collect();
        self.popup = Some(Popup::Confirm(ConfirmPopup::new(ids, kind)));
    }
}
