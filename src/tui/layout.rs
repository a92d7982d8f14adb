//! Where each pane goes on a screen of a given size: one function that both `render` and
//! `update` use, so `update` can keep the cursor and scroll positions in view and `render` only
//! draws them.

use ratatui::layout::{Constraint, Layout, Rect};

/// The screen's areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// Where the panes and popups go.
    pub main: Rect,
    pub queue: Rect,
    pub detail: Rect,
    /// The jobs line (height 0 without a job).
    pub job: Rect,
    pub status: Rect,
    pub footer: Rect,
}

impl Areas {
    /// The areas of a screen of `size`, with or without the jobs line.
    pub fn of(size: Rect, job: bool) -> Areas {
        let [main, job, status, footer] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(u16::from(job)),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(size);
        // Side by side when there is room, stacked on narrow terminals.
        let [queue, detail] = if main.width >= 70 {
            Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)]).areas(main)
        } else {
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(main)
        };
        Areas { main, queue, detail, job, status, footer }
    }

    /// The queue's list rows (inside its border, under the tabs line).
    pub fn list_rows(&self) -> usize {
        self.queue.height.saturating_sub(3) as usize
    }

    /// The detail's text area (inside its border): (width, height).
    pub fn detail_inner(&self) -> (u16, u16) {
        (self.detail.width.saturating_sub(2), self.detail.height.saturating_sub(2))
    }
}
