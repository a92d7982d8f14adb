//! NotePopup: a one-line note on a sample.

use super::{centered, PopupOutcome};
use crate::store::DecisionKind;
use crate::tui::action::Action;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Clear};
use ratatui::Frame;
use ratatui_textarea::TextArea;

/// Writing a note.
pub struct NotePopup {
    id: i64,
    area: TextArea<'static>,
}

impl NotePopup {
    pub fn new(id: i64, note: &str) -> Self {
        let mut area = TextArea::new(vec![crate::text::clean_line(note)]);
        area.move_cursor(ratatui_textarea::CursorMove::End);
        NotePopup { id, area }
    }

    pub fn text(&self) -> String {
        self.area.lines().join(" ")
    }

    pub fn handle(&mut self, keymap: &Keymap, key: KeyEvent) -> PopupOutcome {
        match keymap.action(Context::Note, &key) {
            Some(Action::Save) => PopupOutcome::Decide(
                vec![self.id],
                DecisionKind::Note(self.text().trim().to_owned()),
            ),
            Some(Action::Cancel) => PopupOutcome::Close,
            _ => {
                self.area.input(key);
                PopupOutcome::Keep
            }
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let mut r = centered(area, 70, 20);
        r.height = 3.min(area.height);
        f.render_widget(Clear, r);
        let block = Block::bordered()
            .title(format!(" Note on #{} (enter saves, esc cancels) ", self.id))
            .border_style(theme.accent);
        f.render_widget(&block, r);
        f.render_widget(&self.area, block.inner(r));
    }
}
