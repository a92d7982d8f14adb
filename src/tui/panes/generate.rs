//! GeneratePopup: the generation dialog (recipe, count, teacher).

use super::{centered, PopupOutcome};
use crate::recipes::Recipe;
use crate::tui::action::Action;
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;
use crate::work::jobs::JobSpec;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// The recipes the dialog offers: every one (backtranslation reads the workspace's `documents/`
/// folder).
const DIALOG_RECIPES: [Recipe; 8] = Recipe::ALL;

const COUNTS: &[usize] = &[1, 2, 3, 5, 10, 20, 50, 100, 200, 500];

#[derive(Debug)]
pub struct GeneratePopup {
    /// "local" first, then the workspace's endpoints.
    pub teachers: Vec<String>,
    pub field: usize,
    pub recipe: usize,
    pub count: usize,
    pub teacher: usize,
}

impl GeneratePopup {
    /// `default_teacher`: the endpoint `[teacher]` names, if any.
    pub fn new(endpoints: Vec<String>, default_teacher: Option<&str>) -> Self {
        let mut teachers = vec!["local".to_owned()];
        teachers.extend(endpoints);
        let teacher =
            default_teacher.and_then(|d| teachers.iter().position(|t| t == d)).unwrap_or(0);
        GeneratePopup { teachers, field: 0, recipe: 0, count: 3, teacher }
    }

    pub fn spec(&self) -> JobSpec {
        JobSpec {
            recipe: DIALOG_RECIPES[self.recipe],
            n: COUNTS[self.count],
            endpoint: (self.teacher > 0).then(|| self.teachers[self.teacher].clone()),
        }
    }

    pub fn handle(&mut self, action: Option<Action>) -> PopupOutcome {
        let step = |v: &mut usize, len: usize, up: bool| {
            *v = if up { (*v + 1) % len } else { (*v + len - 1) % len }
        };
        match action {
            Some(Action::MoveDown | Action::NextField) => self.field = (self.field + 1) % 3,
            Some(Action::MoveUp) => self.field = (self.field + 2) % 3,
            Some(a @ (Action::Increase | Action::Decrease)) => {
                let up = a == Action::Increase;
                match self.field {
                    0 => step(&mut self.recipe, DIALOG_RECIPES.len(), up),
                    1 => {
                        self.count = if up {
                            (self.count + 1).min(COUNTS.len() - 1)
                        } else {
                            self.count.saturating_sub(1)
                        }
                    }
                    _ => step(&mut self.teacher, self.teachers.len(), up),
                }
            }
            Some(Action::Confirm) => return PopupOutcome::Start(self.spec()),
            Some(Action::Cancel) => return PopupOutcome::Close,
            _ => {}
        }
        PopupOutcome::Keep
    }

    pub fn render(&self, f: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
        let area = centered(area, 64, 60);
        f.render_widget(Clear, area);
        let spec = self.spec();
        let values = [
            spec.recipe.name().to_owned(),
            spec.n.to_string(),
            self.teachers[self.teacher].clone(),
        ];
        let mut lines = vec![
            Line::from(
                "Generate candidates in the background; they join the queue as they finish.",
            ),
            Line::from(""),
        ];
        for (i, (name, value)) in ["recipe", "keep", "teacher"].iter().zip(values).enumerate() {
            let style = if i == self.field { theme.accent } else { theme.text };
            let marker = if i == self.field { "▶" } else { " " };
            lines.push(Line::from(vec![Span::styled(
                format!("{marker} {name:<8} ‹ {} ›", crate::text::clean_line(&value)),
                style,
            )]));
        }
        lines.push(Line::from(""));
        lines.push(Line::styled(format!("  {}", spec.recipe.about()), theme.muted));
        if spec.recipe == Recipe::Backtranslation {
            lines.push(Line::styled(
                "  from the workspace's documents/ folder (.txt, .md, .jsonl)",
                theme.muted,
            ));
        }
        lines.push(Line::from(""));
        lines.push(super::dialog_keys(keymap, theme, "close"));
        let block = Block::bordered().title(" Generate ").border_style(theme.accent);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), area);
    }
}
