//! StatusBar: the status line (workspace, counts, pace, notices) and the key hints footer.

use crate::tui::action::Action;
use crate::tui::app::{App, Popup};
use crate::tui::keymap::Context;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Renders the two bottom lines.
pub struct StatusBar;

/// The keymap context that has the keys now.
pub fn context(app: &App) -> Context {
    match &app.popup {
        Some(Popup::Help(_)) | Some(Popup::Stats(_)) => Context::Help,
        Some(Popup::Editor(_)) => Context::Editor,
        Some(Popup::Note(_)) => Context::Note,
        Some(Popup::Confirm(_)) => Context::Confirm,
        Some(Popup::Generate(_)) | Some(Popup::Train(_)) => Context::Generate,
        Some(Popup::Student) => Context::Student,
        None if app.filtering => Context::Filter,
        None => Context::Queue,
    }
}

const QUEUE_HINTS: &[Action] = &[
    Action::Accept,
    Action::Reject,
    Action::Edit,
    Action::Undo,
    Action::NextPending,
    Action::Filter,
    Action::ToggleSelect,
    Action::Note,
    Action::Flag,
    Action::CycleSort,
    Action::ToggleDiff,
    Action::Help,
    Action::Generate,
    Action::Quit,
];

impl StatusBar {
    pub fn render_status(f: &mut Frame, area: Rect, app: &App) {
        let t = &app.theme;
        let c = &app.counts;
        let mut spans =
            vec![Span::styled(format!(" {} ", crate::text::clean_line(&app.workspace)), t.title)];
        // The notice comes first so a narrow terminal still shows it.
        if let Some(n) = &app.notice {
            spans.push(Span::styled(
                format!("│ {} ", crate::text::clean_line(&n.text)),
                if n.error { t.error } else { t.ok },
            ));
        }
        if let Some(p) = app.student.as_ref().and_then(|s| s.current.as_ref()).filter(|p| p.alive) {
            let step = p
                .steps
                .last()
                .map(|r| format!(" {}/{} · loss {:.3}", r.step, r.total, r.loss))
                .unwrap_or_default();
            spans.push(Span::styled(format!("│ training r{}{step} ", p.run.round), t.ok));
        }
        spans.extend([
            Span::styled(
                format!(
                    "│ {} pending · {} accepted · {} edited · {} rejected ",
                    c.pending, c.accepted, c.edited, c.rejected
                ),
                t.text,
            ),
            Span::styled(
                format!("│ {} decided · {:.1}/min ", app.session_decisions, app.rate_per_minute()),
                t.accent,
            ),
            Span::styled(format!("│ sort {} ", app.sort.name()), t.muted),
        ]);
        if !app.selected.is_empty() {
            spans.push(Span::styled(format!("│ {} selected ", app.selected.len()), t.warn));
        }
        if app.in_flight > 0 {
            spans.push(Span::styled("│ saving… ", t.warn));
        }
        if app.loading {
            spans.push(Span::styled(format!("│ indexing {} ", app.index.len()), t.muted));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    pub fn render_footer(f: &mut Frame, area: Rect, app: &App) {
        let t = &app.theme;
        let ctx = context(app);
        let hints = match ctx {
            Context::Queue => app.keymap.hints(ctx, QUEUE_HINTS),
            Context::Filter => {
                let mut h = app.keymap.hints(ctx, &[Action::Confirm, Action::Cancel]);
                h.insert(0, ("type".into(), "to filter"));
                h
            }
            Context::Editor => {
                app.keymap.hints(ctx, &[Action::Save, Action::NextField, Action::Cancel])
            }
            Context::Note => app.keymap.hints(ctx, &[Action::Save, Action::Cancel]),
            Context::Confirm => app.keymap.hints(ctx, &[Action::Confirm, Action::Cancel]),
            Context::Help => app.keymap.hints(ctx, &[Action::Close]),
            Context::Generate => app.keymap.hints(ctx, &[Action::Confirm, Action::Cancel]),
            Context::Student => app.keymap.hints(
                ctx,
                &[Action::Train, Action::CancelTraining, Action::Evaluate, Action::Close],
            ),
        };
        let mut spans = Vec::new();
        let mut used = 0;
        for (key, label) in hints {
            let w = key.chars().count() + label.chars().count() + 3;
            if used + w > area.width as usize {
                break;
            }
            used += w;
            spans.push(Span::styled(format!(" {key}"), t.accent));
            spans.push(Span::styled(format!(" {label} "), t.muted));
        }
        if ctx == Context::Filter {
            spans
                .push(Span::styled(format!("  /{}▏", crate::text::clean_line(&app.query)), t.text));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }
}
