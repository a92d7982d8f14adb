//! The student pane (the newest run's live loss chart, tokens/s and ETA; base vs each round on
//! the held-out items, with a chart over rounds; the collapse guard's warnings) and the
//! training dialog (base, task, adapted projections, rank, epochs, learning rate, data mix).

use super::centered;
use crate::store::Metric;
use crate::tui::action::Action;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use crate::work::student::{StudentView, TrainSpec};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Bar, BarChart, BarGroup, Block, Chart, Clear, Dataset, GraphType, Paragraph, Wrap,
};
use ratatui::Frame;
use std::path::PathBuf;

/// What the dialog offers to adapt: its label and `--targets`.
const TARGETS: &[(&str, &str)] = &[
    ("q, v", "q,v"),
    ("q, k, v, o", "q,k,v,o"),
    ("all seven projections", "q,k,v,o,gate,up,down"),
];
const RANKS: &[usize] = &[4, 8, 16, 32];
/// The dialog's fields, in order.
const FIELDS: [&str; 7] = ["base", "task", "adapt", "rank", "epochs", "lr", "data mix"];
const EPOCHS: &[usize] = &[1, 2, 3, 5, 10];
const LRS: &[f64] = &[5e-5, 1e-4, 2e-4, 5e-4, 1e-3];
const SHARES: &[f64] = &[0.0, 0.1, 0.2, 0.3, 0.5];

/// The training dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainPopup {
    /// What it offers as the base (the first is the trainer's default).
    pub bases: Vec<PathBuf>,
    /// The tasks it offers after "all tasks".
    pub tasks: Vec<String>,
    pub field: usize,
    /// Index into each choice list, in the order of `FIELDS`.
    pub pick: [usize; 7],
}

/// What a key in the dialog leads to.
#[derive(Debug, PartialEq)]
pub enum TrainOutcome {
    Keep,
    Close,
    Start(TrainSpec),
}

impl TrainPopup {
    pub fn new(bases: Vec<PathBuf>, tasks: Vec<String>) -> Self {
        TrainPopup { bases, tasks, field: 3, pick: [0, 0, 0, 1, 1, 2, 2] }
    }

    pub fn spec(&self) -> TrainSpec {
        // The default base goes unnamed, so the trainer decides it as on the command line.
        let base = (self.pick[0] > 0).then(|| self.bases.get(self.pick[0]).cloned()).flatten();
        let task = self.pick[1].checked_sub(1).and_then(|i| self.tasks.get(i).cloned());
        let p = &self.pick;
        TrainSpec {
            base,
            task,
            targets: TARGETS[p[2]].1.into(),
            rank: RANKS[p[3]],
            epochs: EPOCHS[p[4]],
            lr: LRS[p[5]],
            seed_share: SHARES[p[6]],
        }
    }

    pub fn handle(&mut self, action: Option<Action>) -> TrainOutcome {
        let lens = [
            self.bases.len().max(1),
            self.tasks.len() + 1,
            TARGETS.len(),
            RANKS.len(),
            EPOCHS.len(),
            LRS.len(),
            SHARES.len(),
        ];
        let n = FIELDS.len();
        match action {
            Some(Action::MoveDown | Action::NextField) => self.field = (self.field + 1) % n,
            Some(Action::MoveUp) => self.field = (self.field + n - 1) % n,
            Some(Action::Increase) => {
                self.pick[self.field] = (self.pick[self.field] + 1).min(lens[self.field] - 1)
            }
            Some(Action::Decrease) => {
                self.pick[self.field] = self.pick[self.field].saturating_sub(1)
            }
            Some(Action::Confirm) => return TrainOutcome::Start(self.spec()),
            Some(Action::Cancel) => return TrainOutcome::Close,
            _ => {}
        }
        TrainOutcome::Keep
    }

    pub fn render(&self, f: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
        let area = centered(area, 64, 70);
        f.render_widget(Clear, area);
        let s = self.spec();
        let base = match self.bases.get(self.pick[0]) {
            Some(b) => b
                .file_name()
                .map_or_else(|| b.display().to_string(), |n| n.to_string_lossy().into_owned()),
            None => "the workspace's teacher model".into(),
        };
        let task = crate::text::clean_line(s.task.as_deref().unwrap_or("all tasks"));
        let values = [
            crate::text::clean_line(&base),
            task,
            TARGETS[self.pick[2]].0.into(),
            s.rank.to_string(),
            s.epochs.to_string(),
            format!("{:e}", s.lr),
            format!("{:.0}% real seed examples", s.seed_share * 100.0),
        ];
        let mut lines = vec![
            Line::from("Fine-tune a student (LoRA) on the accepted set, in the background."),
            Line::styled(
                "Every round retrains from a base, never from an earlier student.",
                theme.muted,
            ),
            Line::from(""),
        ];
        for (i, (name, value)) in FIELDS.iter().zip(values).enumerate() {
            let style = if i == self.field { theme.accent } else { theme.text };
            lines.push(Line::styled(
                format!("{} {name:<9} ‹ {value} ›", if i == self.field { "▶" } else { " " }),
                style,
            ));
        }
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "  one thread, so the teacher keeps generating; closing the workbench does not stop it",
            theme.muted,
        ));
        lines.push(Line::from(""));
        lines.push(super::dialog_keys(keymap, theme, "back"));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Train a student ").border_style(theme.accent)),
            area,
        );
    }
}

fn clock(s: f64) -> String {
    let s = s.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// The pane, drawn from the watcher's newest view.
pub fn render_student(
    f: &mut Frame,
    area: Rect,
    view: Option<&StudentView>,
    keymap: &Keymap,
    theme: &Theme,
) {
    let area = centered(area, 90, 94);
    f.render_widget(Clear, area);
    let keys =
        |a| keymap.keys(Context::Student, a).first().map(|k| k.display()).unwrap_or_default();
    let title = format!(
        " Student · {} train · {} cancel · {} evaluate · {} close ",
        keys(Action::Train),
        keys(Action::CancelTraining),
        keys(Action::Evaluate),
        keys(Action::Close)
    );
    let block = Block::bordered().title(title).border_style(theme.accent);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(v) = view else {
        f.render_widget(Paragraph::new("Reading the training runs…"), inner);
        return;
    };
    let [head, chart, table, bars, rounds, warn] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(6),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(if v.rounds.is_empty() { 0 } else { 2 }),
        Constraint::Length(2),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(rounds_lines(v, theme)), rounds);
    // The newest run.
    let line = match &v.current {
        None => Line::styled(
            format!("No training run yet: {} starts one on the accepted set.", keys(Action::Train)),
            theme.muted,
        ),
        Some(p) => {
            let last = p.steps.last();
            let state = if p.alive { "running".to_string() } else { p.run.status.to_string() };
            let mut s = format!("run {} · round {} · {state}", p.run.id, p.run.round);
            if let Some(r) = last {
                s += &format!(
                    " · step {}/{} · loss {:.3} · {:.0} tokens/s · {:.1} s/step",
                    r.step, r.total, r.loss, r.tokens_per_s, r.seconds_per_step
                );
                if p.alive {
                    s += &format!(" · ETA {}", clock(r.eta_s));
                }
            }
            Line::styled(s, if p.alive { theme.ok } else { theme.text })
        }
    };
    f.render_widget(Paragraph::new(line), head);
    if let Some(p) = v.current.as_ref().filter(|p| !p.steps.is_empty()) {
        let pts: Vec<(f64, f64)> = p.steps.iter().map(|r| (r.step as f64, r.loss)).collect();
        let (lo, hi) =
            pts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, y)| (lo.min(*y), hi.max(*y)));
        let (lo, hi) = if hi - lo < 1e-6 { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
        let total = p.steps.last().map_or(1, |r| r.total).max(1) as f64;
        let ds = Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.accent)
            .data(&pts);
        let c = Chart::new(vec![ds])
            .block(
                Block::default()
                    .title(Line::styled("training loss (response tokens) by step", theme.muted)),
            )
            .x_axis(
                Axis::default()
                    .bounds([1.0, total])
                    .labels(vec![Span::raw("1"), Span::raw(format!("{total:.0}"))])
                    .style(theme.muted),
            )
            .y_axis(
                Axis::default()
                    .bounds([lo, hi])
                    .labels(vec![Span::raw(format!("{lo:.2}")), Span::raw(format!("{hi:.2}"))])
                    .style(theme.muted),
            );
        f.render_widget(c, chart);
    }
    // Base vs rounds.
    let get = |run: Option<i64>, k: &str| -> Option<&Metric> {
        v.metrics.iter().find(|m| m.run_id == run && m.task.is_none() && m.metric == k)
    };
    let cols: Vec<(Option<i64>, String)> = std::iter::once((None, "base".to_string()))
        .chain(v.runs.iter().map(|r| (Some(r.id), format!("round {}", r.round))))
        .collect();
    let n = get(None, crate::train::metrics::MetricKey::ExactMatch.key()).map_or(0, |m| m.n);
    let mut lines = vec![Line::styled(
        if n > 0 {
            format!("held-out ({n} items, never trained on)")
        } else {
            format!("held-out: not evaluated yet ({} evaluates)", keys(Action::Evaluate))
        },
        theme.title,
    )];
    let mut header = format!("{:<22}", "");
    for (_, c) in cols.iter().rev().take(5).rev() {
        header += &format!("{c:>10}");
    }
    lines.push(Line::styled(header, theme.muted));
    use crate::train::metrics::MetricKey;
    for k in MetricKey::EVAL.into_iter().chain([MetricKey::Diversity]) {
        let label = if k == MetricKey::Diversity { "data diversity" } else { k.label() };
        let mut s = format!("{label:<22}");
        for (run, _) in cols.iter().rev().take(5).rev() {
            s += &format!("{:>10}", get(*run, k.key()).map_or("—".into(), |m| k.format(m.value)));
        }
        lines.push(Line::styled(s, theme.text));
    }
    if v.evaluating {
        let at = v.eval_progress.as_deref().map(|p| format!(": {p}")).unwrap_or_default();
        lines.push(Line::styled(format!("evaluating in the background{at}"), theme.warn));
    }
    f.render_widget(Paragraph::new(lines), table);
    // Exact match over rounds.
    let data: Vec<Bar> = cols
        .iter()
        .filter_map(|(run, name)| {
            get(*run, crate::train::metrics::MetricKey::ExactMatch.key()).map(|m| {
                Bar::default()
                    .value((m.value * 100.0).round() as u64)
                    .label(Line::from(name.replace("round ", "r")))
                    .text_value(format!("{:.0}%", m.value * 100.0))
            })
        })
        .collect();
    if !data.is_empty() {
        let bc = BarChart::default()
            .block(Block::default().title(Line::styled("exact match over rounds", theme.muted)))
            .data(BarGroup::default().bars(&data))
            .bar_width(6)
            .bar_gap(2)
            .bar_style(theme.accent)
            .max(100);
        f.render_widget(bc, bars);
    }
    let w: Vec<Line> = v
        .warnings
        .iter()
        .rev()
        .take(2)
        .map(|w| Line::styled(format!("⚠ {}", crate::text::clean_line(w)), theme.warn))
        .collect();
    f.render_widget(Paragraph::new(w), warn);
}

/// The headless rounds, newest last: policy, what it decided, its run and its exact match.
fn rounds_lines<'a>(v: &StudentView, theme: &Theme) -> Vec<Line<'a>> {
    let mut parts: Vec<String> = Vec::new();
    for r in v.rounds.iter().rev().take(4).rev() {
        let d = &r.results["decided"];
        let n = |k: &str| d[k].as_u64().unwrap_or(0);
        let em = r.results["figures"]["exact_match"]
            .as_f64()
            .map_or_else(|| r.step.to_string(), |e| format!("{:.0}%", e * 100.0));
        parts.push(format!(
            "#{} {}: +{} ✎{} −{} → {}",
            r.id,
            crate::text::clean_line(&r.policy),
            n("accepted"),
            n("edited"),
            n("rejected"),
            em
        ));
    }
    vec![
        Line::styled("headless rounds (distillery round)", theme.muted),
        Line::styled(parts.join(" · "), theme.text),
    ]
}
