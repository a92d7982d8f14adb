//! One pane or popup per file, all behind one interface ([`Pane`]).

mod confirm;
mod detail;
mod editor;
mod generate;
mod help;
mod note;
mod pane;
mod queue;
mod stats;
mod status;
mod student;

pub use confirm::ConfirmPopup;
pub use detail::DetailPane;
pub use editor::EditorPopup;
pub use generate::GeneratePopup;
pub use help::HelpPopup;
pub use note::NotePopup;
pub use pane::{Pane, QueuePanes, RenderCx, StudentPane, ALL_COMMANDS};
pub use queue::QueuePane;
pub use stats::StatsPopup;
pub use status::StatusBar;
pub use student::{render_student, TrainOutcome, TrainPopup};

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
    Start(crate::work::jobs::JobSpec),
    /// Back to the student pane, and start this training run.
    Train(crate::work::student::TrainSpec),
    /// Not this pane's key: the workbench handles the action (if the key has one).
    Pass(Option<crate::tui::action::Action>),
}

/// The key line of a dialog (the generate keys): change, start, and `esc` doing `close`.
pub fn dialog_keys(
    keymap: &crate::tui::keymap::Keymap,
    theme: &crate::tui::theme::Theme,
    close: &str,
) -> ratatui::text::Line<'static> {
    use crate::tui::action::Action;
    use ratatui::text::{Line, Span};
    let keys = |a| {
        keymap
            .keys(crate::tui::keymap::Context::Generate, a)
            .first()
            .map(|k| k.display())
            .unwrap_or_default()
    };
    Line::from(vec![
        Span::styled(keys(Action::Decrease) + "/" + &keys(Action::Increase), theme.accent),
        Span::raw(" change  "),
        Span::styled(keys(Action::Confirm), theme.accent),
        Span::raw(" start  "),
        Span::styled(keys(Action::Cancel), theme.accent),
        Span::raw(format!(" {close}")),
    ])
}

/// A rectangle of `w`×`h` percent centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Percentage(h)]).flex(Flex::Center).areas(area);
    let [r] = Layout::horizontal([Constraint::Percentage(w)]).flex(Flex::Center).areas(v);
    r
}
