//! HelpPopup: every binding of every context, generated from the panes' commands and the
//! keymap.

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
    pub fn handle(&mut self, action: Option<Action>, keymap: &Keymap) -> PopupOutcome {
        match action {
            Some(Action::Close) => PopupOutcome::Close,
            Some(Action::MoveDown) => {
                let last = Self::lines(keymap, &Theme::default()).len().saturating_sub(1);
                self.scroll = self.scroll.saturating_add(1).min(last as u16);
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
            // The pane's own commands first (the footer's order), then every other binding.
            let commands =
                super::ALL_COMMANDS.iter().find(|(c, _)| *c == ctx).map_or(&[][..], |(_, a)| *a);
            let mut bindings = keymap.bindings(ctx);
            bindings
                .sort_by_key(|(a, _)| commands.iter().position(|c| c == a).unwrap_or(usize::MAX));
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

    pub fn render(&self, f: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
        let area = centered(area, 80, 90);
        f.render_widget(Clear, area);
        let lines = Self::lines(keymap, theme);
        let max = (lines.len() as u16).saturating_sub(area.height.saturating_sub(2));
        let scroll = self.scroll.min(max);
        let block = Block::bordered()
            .title(" Keys (from the keymap; j/k scroll) ")
            .border_style(theme.accent);
        f.render_widget(Paragraph::new(lines).scroll((scroll, 0)).block(block), area);
    }
}
