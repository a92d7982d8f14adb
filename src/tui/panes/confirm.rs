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
    /// Why this single decision asks first (a near-duplicate); None: a bulk decision.
    pub reason: Option<String>,
}

impl ConfirmPopup {
    pub fn new(ids: Vec<i64>, kind: DecisionKind) -> Self {
        ConfirmPopup { ids, kind, reason: None }
    }

    /// Asks before one decision, saying why.
    pub fn because(id: i64, kind: DecisionKind, reason: String) -> Self {
        ConfirmPopup { ids: vec![id], kind, reason: Some(reason) }
    }

    pub fn handle(&mut self, action: Option<Action>) -> PopupOutcome {
        match action {
            Some(Action::Confirm) => {
                PopupOutcome::Decide(std::mem::take(&mut self.ids), self.kind.clone())
            }
            Some(Action::Cancel) => PopupOutcome::Close,
            _ => PopupOutcome::Keep,
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
        let area = centered(area, 60, 30);
        f.render_widget(Clear, area);
        let keys = |a| {
            keymap
                .keys(Context::Confirm, a)
                .iter()
                .map(|k| k.display())
                .collect::<Vec<_>>()
                .join("/")
        };
        let mut text: Vec<Line> = match &self.reason {
            Some(r) => r
                .lines()
                .map(|l| Line::styled(l.to_owned(), theme.warn))
                .chain([
                    Line::from(""),
                    Line::from(format!("{} it anyway?", capitalise(self.kind.name()))),
                ])
                .collect(),
            None => vec![Line::from(format!(
                "{} {} selected samples?",
                capitalise(self.kind.name()),
                self.ids.len()
            ))],
        };
        text.extend([
            Line::from(""),
            Line::from(vec![
                Span::styled(keys(Action::Confirm), theme.accent),
                Span::raw(" yes   "),
                Span::styled(keys(Action::Cancel), theme.accent),
                Span::raw(" no   (undo reverts the whole batch)"),
            ]),
        ]);
        let block = Block::bordered().title(" Confirm ").border_style(theme.warn);
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }).block(block), area);
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
