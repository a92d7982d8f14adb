//! One pane or popup per file; each renders itself, popups also handle their keys.

mod confirm;
mod detail;
mod editor;
mod generate;
mod help;
mod note;
mod queue;
mod stats;
mod status;

pub use confirm::ConfirmPopup;
pub use detail::DetailPane;
pub use editor::EditorPopup;
pub use generate::GeneratePopup;
pub use help::HelpPopup;
pub use note::NotePopup;
pub use queue::QueuePane;
pub use stats::StatsPopup;
pub use status::StatusBar;

use crate::store::DecisionKind;
use ratatui::layout::{Constraint, Flex, Layout, Rect};

/// What a popup wants after a key.
#[derive(Debug, PartialEq)]
pub enum PopupOutcome {
    Keep,
    Close,
    /// Show a message and stay open.
    Notice(String),
    /// Close and send this decision.
    Decide(Vec<i64>, DecisionKind),
    /// Close and start this generation job.
    Start(crate::tui::jobs::JobSpec),
}

/// A rectangle of `w`×`h` percent centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Percentage(h)]).flex(Flex::Center).areas(area);
    let [r] = Layout::horizontal([Constraint::Percentage(w)]).flex(Flex::Center).areas(v);
    r
}
