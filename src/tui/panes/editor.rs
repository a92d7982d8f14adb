//! EditorPopup: edits instruction, input and output in place (ratatui-textarea).

use super::{centered, PopupOutcome};
use crate::sample::SampleText;
use crate::store::DecisionKind;
use crate::tui::action::Action;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;
use ratatui_textarea::TextArea;

const FIELDS: [&str; 3] = ["instruction", "input", "output"];

/// Editing one sample's text.
pub struct EditorPopup {
    pub id: i64,
    original: SampleText,
    areas: [TextArea<'static>; 3],
    /// Which field has the keys (starts on the output).
    pub field: usize,
    /// Esc was pressed once with unsaved changes.
    discard_armed: bool,
    /// Control characters are shown as symbols in the editable copy.
    pub cleaned: bool,
}

/// The editable copy of one field: tabs as tabs, each control character as one visible symbol
/// (saving maps the copy back onto the original bytes: see [`crate::text::exact`]).
fn area_for(s: &str) -> (TextArea<'static>, bool) {
    let shown = crate::text::exact::visible(s);
    let mut area = TextArea::new(shown.split('\n').map(str::to_owned).collect());
    area.set_hard_tab_indent(true);
    (area, crate::text::exact::has_hidden(s))
}

impl EditorPopup {
    pub fn new(id: i64, text: &SampleText) -> Self {
        let (a, c1) = area_for(&text.instruction);
        let (b, c2) = area_for(&text.input);
        let (c, c3) = area_for(&text.output);
        EditorPopup {
            id,
            original: text.clone(),
            areas: [a, b, c],
            field: 2,
            discard_armed: false,
            cleaned: c1 || c2 || c3,
        }
    }

    /// The text as edited so far: the original's exact bytes wherever the curator changed nothing.
    pub fn text(&self) -> SampleText {
        let o = &self.original;
        let get = |i: usize, orig: &str| {
            crate::text::exact::restore(orig, &self.areas[i].lines().join("\n"))
        };
        SampleText {
            instruction: get(0, &o.instruction),
            input: get(1, &o.input),
            output: get(2, &o.output),
            ..o.clone()
        }
    }

    pub fn modified(&self) -> bool {
        self.text() != self.original
    }

    pub fn handle(&mut self, keymap: &Keymap, key: KeyEvent) -> PopupOutcome {
        match keymap.action(Context::Editor, &key) {
            Some(Action::Save) if self.modified() => {
                PopupOutcome::Decide(vec![self.id], DecisionKind::Edit(self.text()))
            }
            Some(Action::Save) => PopupOutcome::Close,
            Some(Action::Cancel) if self.modified() && !self.discard_armed => {
                self.discard_armed = true;
                PopupOutcome::Notice(
                    "unsaved changes: esc again discards them, ctrl-s saves".into(),
                )
            }
            Some(Action::Cancel) => PopupOutcome::Close,
            Some(Action::NextField) => {
                self.field = (self.field + 1) % FIELDS.len();
                PopupOutcome::Keep
            }
            _ => {
                self.discard_armed = false;
                self.areas[self.field].input(key);
                PopupOutcome::Keep
            }
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
        let area = centered(area, 90, 85);
        f.render_widget(Clear, area);
        let [tabs, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let key =
            |a| keymap.keys(Context::Editor, a).first().map(|k| k.display()).unwrap_or_default();
        let mut spans = vec![Span::styled(format!(" Edit #{} ", self.id), theme.title)];
        for (i, name) in FIELDS.iter().enumerate() {
            let style = if i == self.field { theme.selection } else { theme.muted };
            spans.push(Span::styled(format!(" {name} "), style));
        }
        spans.push(Span::styled(
            format!(
                "  {} field · {} save · {} cancel",
                key(Action::NextField),
                key(Action::Save),
                key(Action::Cancel)
            ),
            theme.muted,
        ));
        f.render_widget(Paragraph::new(Line::from(spans)), tabs);
        let title = if self.cleaned {
            " control characters shown as ␛ ␍ �; saving keeps them "
        } else {
            ""
        };
        let block = Block::bordered().title(title).border_style(theme.accent);
        f.render_widget(&block, body);
        f.render_widget(&self.areas[self.field], block.inner(body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn typing_then_save_gives_an_edit() {
        let km = Keymap::default_keys();
        let mut e = EditorPopup::new(7, &SampleText::new("q", "", "41"));
        e.handle(&km, key(KeyCode::End));
        e.handle(&km, key(KeyCode::Backspace));
        e.handle(&km, key(KeyCode::Char('2')));
        let out = e.handle(&km, KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
        assert_eq!(
            out,
            PopupOutcome::Decide(vec![7], DecisionKind::Edit(SampleText::new("q", "", "42")))
        );
    }

    #[test]
    fn escape_with_changes_asks_first() {
        let km = Keymap::default_keys();
        let mut e = EditorPopup::new(1, &SampleText::new("q", "", "a"));
        e.handle(&km, key(KeyCode::Char('b')));
        assert!(matches!(e.handle(&km, key(KeyCode::Esc)), PopupOutcome::Notice(_)));
        assert_eq!(e.handle(&km, key(KeyCode::Esc)), PopupOutcome::Close);
    }
}
