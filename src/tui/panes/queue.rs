//! QueuePane: the status tabs with counts and the list of samples (only visible rows are built).

use crate::sample::Status;
use crate::tui::app::App;
use crate::tui::queue::Tab;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Tabs};
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

/// Renders the queue.
pub struct QueuePane;

fn glyph(s: Status) -> &'static str {
    match s {
        Status::Pending => "·",
        Status::Accepted => "✓",
        Status::Rejected => "✗",
        Status::Edited => "✎",
    }
}

impl QueuePane {
    pub fn render(f: &mut Frame, area: Rect, app: &App) {
        let [tabs_area, list_area] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let t = &app.theme;
        let count = |tab: &Tab| match tab.status() {
            Some(s) => app.counts.get(s),
            None => app.counts.total(),
        };
        let mut labels: Vec<String> =
            Tab::ALL.iter().map(|tab| format!("{} {}", tab.name(), count(tab))).collect();
        if labels.iter().map(|l| l.chars().count() + 1).sum::<usize>() > area.width as usize {
            // Compact labels when the full ones do not fit: the status glyphs the list uses.
            labels = Tab::ALL
                .iter()
                .map(|tab| format!("{}{}", tab.status().map_or("all ", |s| glyph(s)), count(tab)))
                .collect();
        }
        let titles: Vec<Line> = labels.into_iter().map(Line::from).collect();
        let selected = Tab::ALL.iter().position(|&x| x == app.tab).unwrap_or(0);
        f.render_widget(
            Tabs::new(titles)
                .select(selected)
                .highlight_style(t.selection)
                .divider("│")
                .padding("", ""),
            tabs_area,
        );

        let title = if app.view.query().is_empty() {
            format!(" {} ", app.tab.name())
        } else {
            format!(" {} · /{} · {} match ", app.tab.name(), app.view.query(), app.view.rows.len())
        };
        let block = Block::bordered().title(title).border_style(if app.filtering {
            t.accent
        } else {
            t.muted
        });
        let inner = block.inner(list_area);
        f.render_widget(block, list_area);
        let h = inner.height as usize;
        if h == 0 {
            return;
        }
        // `update` keeps the cursor in view for the screen's size; a frame drawn at another
        // size still shows the cursor.
        let offset = app.offset.min(app.cursor).max((app.cursor + 1).saturating_sub(h));
        let end = (offset + h).min(app.view.rows.len());
        let lines: Vec<Line> =
            (offset..end).map(|pos| row_line(app, pos, inner.width as usize)).collect();
        if lines.is_empty() {
            let msg = if app.loading {
                "loading…"
            } else if app.view.query().is_empty() {
                "nothing here"
            } else {
                "no match"
            };
            f.render_widget(Paragraph::new(Span::styled(msg, t.muted)), inner);
        } else {
            f.render_widget(Paragraph::new(lines), inner);
        }
    }
}

fn row_line(app: &App, pos: usize, width: usize) -> Line<'static> {
    let t = &app.theme;
    let ri = app.view.rows[pos];
    let row = app.index.row(ri);
    let is_cursor = pos == app.cursor;
    let mut spans = Vec::new();
    let mark = if app.selected.contains(&row.id) { "●" } else { " " };
    spans.push(Span::styled(mark, t.accent));
    let status_style = match row.status {
        Status::Accepted | Status::Edited => t.ok,
        Status::Rejected => t.error,
        Status::Pending => t.muted,
    };
    spans.push(Span::styled(if row.saving { "…" } else { glyph(row.status) }, status_style));
    spans.push(Span::styled(if row.flagged { "⚑" } else { " " }, t.warn));
    let score = match row.score {
        Some(s) => Span::styled(
            format!("{s:>4.1} "),
            if s >= 7.0 {
                t.score_hi
            } else if s < 4.0 {
                t.score_lo
            } else {
                t.text
            },
        ),
        None => Span::raw(""),
    };
    let used = 3 + score.width();
    spans.push(score);
    let text = app.index.text(ri);
    let marks = app.view.highlight(ri);
    let budget = width.saturating_sub(used);
    spans.extend(text_spans(
        text,
        row.title_len as usize,
        marks,
        budget,
        t.text,
        t.muted,
        t.matched,
    ));
    let line = Line::from(spans);
    if is_cursor {
        line.style(t.selection)
    } else {
        line
    }
}

/// Splits `text` into styled spans that fit `budget` cells: the title part in `text`, the rest
/// muted, matched characters highlighted.
fn text_spans(
    text: &str,
    title_len: usize,
    marks: &[usize],
    budget: usize,
    base: Style,
    muted: Style,
    hit: Style,
) -> Vec<Span<'static>> {
    let mut spans: Vec<Span> = Vec::new();
    let mut cur = String::new();
    let mut cur_style = base;
    let mut used = 0;
    let mut marks = marks.iter().peekable();
    for (ci, (bi, c)) in text.char_indices().enumerate() {
        let w = c.width().unwrap_or(0);
        if used + w > budget {
            break;
        }
        used += w;
        while marks.peek().is_some_and(|&&m| m < ci) {
            marks.next();
        }
        let style = if marks.peek() == Some(&&ci) {
            hit
        } else if bi < title_len {
            base
        } else {
            muted
        };
        if style != cur_style && !cur.is_empty() {
            spans.push(Span::styled(std::mem::take(&mut cur), cur_style));
        }
        cur_style = style;
        cur.push(c);
    }
    if !cur.is_empty() {
        spans.push(Span::styled(cur, cur_style));
    }
    spans
}
