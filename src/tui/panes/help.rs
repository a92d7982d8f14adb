//! HelpPopup: every binding of every context, generated from the keymap.

use super::{centered, PopupOutcome};
use crate::tui::action::Action;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

/// The help popup and its scroll position.
#[derive(Debug, Default)]
pub struct HelpPopup {
    scroll: u16,
}

impl HelpPopup {
    pub fn handle(&mut self, action: Option<Action>) -> PopupOutcome {
        match action {
            Some(Action::Close) => PopupOutcome::Close,
            Some(Action::MoveDown) => {
                self.scroll = self.scroll.saturating_add(1);
                PopupOutcome::Keep
            }
            Some(Action::MoveUp) => {
                self.scroll = self.scroll.saturating_sub(1);
                PopupOutcome::Keep
            }
            _ => PopupOutcome::Keep,
        }
    }

    /// The help text: one section per context, one line per action.
    pub fn lines(keymap: &Keymap, theme: &Theme) -> Vec<Line<'static>> {
        let mut out = Vec::new();
        for ctx in Context::ALL {
            let bindings = keymap.bindings(ctx);
            if bindings.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(Line::from(""));
            }
            out.push(Line::from(Span::styled(ctx.name().to_uppercase(), theme.title)));
            for (action, keys) in bindings {
                let keys = keys.iter().map(|k| k.display()).collect::<Vec<_>>().join(" ");
                out.push(Line::from(vec![
                    Span::styled(format!("  {keys:<16}"), theme.accent),
                    Span::raw(action.describe()),
                ]));
            }
        }
        out
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
        let area = centered(area, 80, 90);
        f.render_widget(Clear, area);
        let lines = Self::lines(keymap, theme);
        let max = (lines.len() as u16).saturating_sub(area.height.saturating_sub(2));
        self.scroll = self.scroll.min(max);
        let block = Block::bordered()
            .title(" Keys (from the keymap; j/k scroll) ")
            .border_style(theme.accent);
        f.render_widget(Paragraph::new(lines).scroll((self.scroll, 0)).block(block), area);
    }
}
