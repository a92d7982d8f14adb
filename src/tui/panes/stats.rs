//! StatsPopup: the judge's telemetry (critic–human agreement, rates by score band, vote
//! agreement) with the score histogram as a bar chart, and the curator's pace.

use super::{centered, PopupOutcome};
use crate::store::Stats;
use crate::tui::action::Action;
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Clear, Paragraph};
use ratatui::Frame;

/// The stats popup over the figures it was opened with.
#[derive(Debug)]
pub struct StatsPopup {
    pub stats: Box<Stats>,
}

impl StatsPopup {
    pub fn handle(&mut self, action: Option<Action>) -> PopupOutcome {
        match action {
            Some(Action::Close) => PopupOutcome::Close,
            _ => PopupOutcome::Keep,
        }
    }

    /// The text part: pace, then the judge's report without its text histogram (drawn as a chart).
    pub fn lines(&self) -> Vec<String> {
        let st = &self.stats;
        let median = st
            .median_seconds_per_decision
            .map(|s| format!(", median {s:.1} s each"))
            .unwrap_or_default();
        let mut out = vec![format!(
            "decisions   {} in force, {} undone, {:.1} per hour{median}; edit rate {:.0}%",
            st.decisions,
            st.undos,
            st.mean_decisions_per_hour,
            st.edit_rate * 100.0
        )];
        for (recipe, r) in &st.by_recipe {
            let rate = if r.samples > 0 { 100.0 * r.kept as f64 / r.samples as f64 } else { 0.0 };
            out.push(format!(
                "recipe      {}: {} samples, {} kept ({rate:.0}%), {} edited, {} rejected",
                crate::text::clean_line(recipe),
                r.samples,
                r.kept,
                r.edited,
                r.rejected
            ));
        }
        out.extend(crate::store::curator_report(&st.curators, &st.curator_agreement));
        out.extend(
            st.judge
                .report()
                .into_iter()
                .filter(|l| !l.starts_with("score ") || l.contains("samples")),
        );
        out
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let area = centered(area, 90, 90);
        f.render_widget(Clear, area);
        let block = Block::bordered().title(" Stats (esc closes) ").border_style(theme.accent);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let lines: Vec<Line> =
            self.lines().into_iter().map(|l| Line::styled(l, theme.text)).collect();
        let [text, chart] =
            Layout::vertical([Constraint::Length(lines.len() as u16 + 1), Constraint::Max(14)])
                .areas(inner);
        f.render_widget(Paragraph::new(lines), text);
        let bars: Vec<Bar> = self
            .stats
            .judge
            .histogram
            .iter()
            .enumerate()
            .map(|(i, n)| Bar::default().value(*n).label(Line::from(format!("{}", i + 1))))
            .collect();
        let chart_widget = BarChart::default()
            .block(Block::default().title("critic scores"))
            .data(BarGroup::default().bars(&bars))
            .bar_width(3)
            .bar_gap(1)
            .bar_style(theme.accent)
            .value_style(theme.title);
        f.render_widget(chart_widget, chart);
    }
}
