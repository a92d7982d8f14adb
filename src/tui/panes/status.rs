//! StatusBar: the status line (workspace, counts, pace, notices) and the key hints footer.

use super::Pane;
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keymap::Context;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Renders the two bottom lines.
pub struct StatusBar;

/// The pane that has the keys now: its context and its commands.
pub fn focused(app: &App) -> (Context, &'static [Action]) {
    match &app.popup {
        Some(p) => (p.pane().context(), p.pane().commands()),
        None => {
            let q = super::QueuePanes { filtering: app.filtering };
            (q.context(), q.commands())
        }
    }
}

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
        if app.in_flight > 0 && app.store_busy {
            spans.push(Span::styled("│ waiting for the store… ", t.warn));
        } else if app.in_flight > 0 {
            spans.push(Span::styled("│ saving… ", t.warn));
        }
        if app.loading {
            spans.push(Span::styled(format!("│ indexing {} ", app.index.len()), t.muted));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    pub fn render_footer(f: &mut Frame, area: Rect, app: &App) {
        let t = &app.theme;
        let (ctx, commands) = focused(app);
        let mut hints = app.keymap.hints(ctx, commands);
        if ctx == Context::Filter {
            hints.insert(0, ("type".into(), "to filter"));
        }
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
