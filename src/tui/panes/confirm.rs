//! ConfirmPopup: asks before a bulk decision.

use super::{centered, PopupOutcome};
use crate::store::DecisionKind;
use crate::tui::action::Action;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// "Accept 12 selected samples?"
#[derive(Debug)]
pub struct ConfirmPopup {
    pub ids: Vec<i64>,
    pub kind: DecisionKind,
}

impl ConfirmPopup {
    pub fn new(ids: Vec<i64>, kind: DecisionKind) -> Self {
        ConfirmPopup { ids, kind }
    }

    pub fn handle(&mut self, action: Option<Action>) -> PopupOutcome {
        match action {
            Some(Action::Confirm) => PopupOutcome::Decide(std::mem::take(&mut self.ids), self.kind.clone()),
            Some(Action::Cancel) => PopupOutcome::Close,
            _ => PopupOutcome::Keep,
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
        let area = centered(area, 60, 30);
        f.render_widget(Clear, area);
        let keys = |a| keymap.keys(Context::Confirm, a).iter().map(|k| k.display()).collect::<Vec<_>>().join("/");
        let text = vec![
            Line::from(format!("{} {} selected samples?", capitalise(self.kind.name()), self.ids.len())),
            Line::from(""),
            Line::from(vec![
                Span::styled(keys(Action::Confirm), theme.accent),
                Span::raw(" yes   "),
                Span::styled(keys(Action::Cancel), theme.accent),
                Span::raw(" no   (undo reverts the whole batch)"),
            ]),
        ];
        let block = Block::bordered().title(" Confirm ").border_style(theme.warn);
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }).block(block), area);
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
