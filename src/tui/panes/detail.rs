//! DetailPane: the selected sample's fields, provenance, the critic and vote slots, and the diff.

use crate::sample::{Role, SampleText};
use crate::store::SampleDetail;
use crate::text::clean;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;
use similar::{ChangeTag, TextDiff};

/// Renders the detail of the sample under the cursor.
pub struct DetailPane;

impl DetailPane {
    /// The lines of the detail at `width` (0 when no sample's detail is loaded).
    pub fn line_count(app: &App, width: u16) -> u16 {
        let current = app.current_id();
        let Some(d) = app.detail.as_ref().filter(|d| Some(d.id) == current) else { return 0 };
        let t = &app.theme;
        let lines = if app.diff { diff_lines(d, t) } else { detail_lines(d, t) };
        Paragraph::new(lines).wrap(Wrap { trim: false }).line_count(width) as u16
    }

    pub fn render(f: &mut Frame, area: Rect, app: &App) {
        let t = &app.theme;
        let block = Block::bordered().border_style(t.muted);
        let current = app.current_id();
        let Some(d) = app.detail.as_ref().filter(|d| Some(d.id) == current) else {
            let msg = if current.is_some() { "loading…" } else { "no sample selected" };
            f.render_widget(Paragraph::new(Span::styled(msg, t.muted)).block(block), area);
            return;
        };
        let lines = if app.diff { diff_lines(d, t) } else { detail_lines(d, t) };
        let block = block.title(format!(" #{} {} ", d.id, if app.diff { "· diff" } else { "" }));
        let para = Paragraph::new(lines).wrap(Wrap { trim: false });
        let inner_h = area.height.saturating_sub(2);
        let total = para.line_count(area.width.saturating_sub(2)) as u16;
        // `update` keeps the scroll within the text for the screen's size; a frame drawn at
        // another size still shows text.
        let scroll = app.detail_scroll.min(total.saturating_sub(inner_h));
        let scrolled = if scroll > 0 || total > inner_h {
            format!(" {}–{} of {} ", scroll + 1, (scroll + inner_h).min(total), total)
        } else {
            String::new()
        };
        f.render_widget(para.scroll((scroll, 0)).block(block.title_bottom(scrolled)), area);
    }
}

fn heading(name: &str, extra: &str, t: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("── {name} "), t.title),
        Span::styled(extra.to_owned(), t.muted),
    ])
}

fn body(s: &str, style: Style) -> Vec<Line<'static>> {
    clean(s).split('\n').map(|l| Line::styled(l.to_owned(), style)).collect()
}

fn detail_lines(d: &SampleDetail, t: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let p = &d.provenance;
    let mut head = vec![Span::styled(
        d.status.as_str().to_owned(),
        if d.status.is_kept() { t.ok } else { t.accent },
    )];
    if d.flagged {
        head.push(Span::styled(" ⚑ flagged", t.warn));
    }
    if let Some(task) = &d.task {
        head.push(Span::styled(format!(" · {}", clean(task)), t.text));
    }
    let origin = match (&p.recipe, &p.source) {
        (Some(r), _) => format!(" · {} by {}", p.origin, clean(r)),
        (None, Some(s)) => format!(" · {} from {}", p.origin, clean(s)),
        _ => format!(" · {}", p.origin),
    };
    head.push(Span::styled(origin, t.muted));
    out.push(Line::from(head));
    if let Some(model) = &p.model {
        let tmpl =
            p.template_hash.as_deref().map(|h| format!(" · template {h}")).unwrap_or_default();
        out.push(Line::styled(format!("model {}{tmpl}", clean(model)), t.muted));
    }
    // The nearest existing sample the recipe's similarity filter found, and how close it was.
    let params =
        p.params.as_deref().and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    let nearest = params.as_ref().and_then(|v| {
        let m = v.get("most_similar")?;
        Some((m.get("rouge_l")?.as_f64()?, m.get("text")?.as_str()?.to_owned()))
    });
    if let Some((score, text)) = nearest {
        out.push(Line::from(vec![
            Span::styled(
                format!("at generation, nearest in the workspace: ROUGE-L {score:.2} "),
                if score > 0.6 { t.warn } else { t.muted },
            ),
            Span::styled(
                format!("«{}»", crate::text::truncate_width(&crate::text::clean_line(&text), 80)),
                t.muted,
            ),
        ]));
    }
    if let Some(pid) = p.parent_id {
        let how =
            if p.recipe.as_deref() == Some("self-refine") { "revises" } else { "derives from" };
        let critique = params.as_ref().and_then(|v| {
            Some((v.get("critic_score")?.as_f64()?, v.get("critique")?.as_str()?.to_owned()))
        });
        let mut line = vec![Span::styled(format!("{how} #{pid} (d shows the diff)"), t.accent)];
        if let Some((score, why)) = critique {
            line.push(Span::styled(
                format!(
                    " · it scored {score:.0}/10: «{}»",
                    crate::text::truncate_width(&crate::text::clean_line(&why), 70)
                ),
                t.muted,
            ));
        }
        out.push(Line::from(line));
    }
    let text = &d.current;
    if let Some(s) = &text.system {
        out.push(heading("System", "", t));
        out.extend(body(s, t.muted));
    }
    for m in &text.history {
        let who = match m.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
            Role::System => "System",
        };
        out.push(heading(who, "(earlier turn)", t));
        out.extend(body(&m.content, t.muted));
    }
    out.push(heading("Instruction", "", t));
    out.extend(body(&text.instruction, t.text));
    if !text.input.is_empty() {
        out.push(heading("Input", "", t));
        out.extend(body(&text.input, t.text));
    }
    let edited = if d.edits > 0 {
        format!("(edited ×{}; d shows the diff)", d.edits)
    } else {
        String::new()
    };
    out.push(heading("Output", &edited, t));
    out.extend(body(&text.output, t.text));
    out.push(heading("Critic", "", t));
    match &d.judgement {
        Some(j) => {
            let mut by = j
                .judge_model
                .as_deref()
                .map(|m| format!(" · {}", crate::text::clean_line(m)))
                .unwrap_or_default();
            if let Some(c) = j.confidence {
                by += &format!(" · confidence {:.0}%", c * 100.0);
            }
            match j.score {
                Some(s) => out.push(Line::styled(
                    format!("{s:.1}/10{by}"),
                    if s >= 7.0 {
                        t.score_hi
                    } else if s <= 4.0 {
                        t.score_lo
                    } else {
                        t.accent
                    },
                )),
                None => {
                    out.push(Line::styled(format!("unparsed verdict{by}; its raw text:"), t.warn))
                }
            }
            out.extend(body(
                j.rationale
                    .as_deref()
                    .filter(|r| !r.is_empty() && j.score.is_some())
                    .unwrap_or(&j.raw),
                t.text,
            ));
        }
        None => out.push(Line::styled("no verdict yet", t.muted)),
    }
    out.push(heading("Votes", "", t));
    out.extend(vote_lines(d, &text.output, t));
    if !d.checks.is_empty() {
        out.push(heading("Checks", "(verifiers)", t));
        for c in &d.checks {
            let (mark, style) = match c.passed {
                Some(true) => ("✓", t.ok),
                Some(false) => ("✗", t.error),
                None => ("·", t.muted),
            };
            out.push(Line::styled(
                format!("{mark} {}: {}", c.name, crate::text::clean_line(&c.detail)),
                style,
            ));
        }
    }
    out.push(heading("Nearest", "(seeds and the accepted set)", t));
    match &d.neighbour {
        Some(n) => {
            let what = if n.near { "near-duplicate of" } else { "nearest:" };
            out.push(Line::styled(
                format!("{what} {} #{} · {}", n.kind.name(), n.id, n.why()),
                if n.near { t.warn } else { t.muted },
            ));
            out.push(Line::styled(
                format!(
                    "«{}»",
                    crate::text::truncate_width(&crate::text::clean_line(&n.text), 100)
                ),
                t.muted,
            ));
        }
        None => out.push(Line::styled("nothing to compare with yet", t.muted)),
    }
    if let Some(n) = &d.note {
        out.push(heading("Note", "", t));
        out.extend(body(n, t.warn));
    }
    out
}

/// The k answers grouped by their extracted answer, the winner and agreement, the weighted vote,
/// and whether the sample's own output agrees.
fn vote_lines(d: &SampleDetail, output: &str, t: &Theme) -> Vec<Line<'static>> {
    use crate::judge::extract::Kind;
    use crate::judge::vote::{from_labels, Ballot};
    if d.candidates.is_empty() {
        return vec![Line::styled("no votes yet", t.muted)];
    }
    let ballots: Vec<Ballot> = d
        .candidates
        .iter()
        .map(|c| Ballot {
            text: c.answer.clone(),
            logprobs: c.logprob.map(|l| vec![l as f32]).unwrap_or_default(),
        })
        .collect();
    // Grouped as the judge grouped them (clusters of long answers included).
    let labels: Vec<Option<String>> = d.candidates.iter().map(|c| c.extracted.clone()).collect();
    let v = from_labels(&ballots, &labels);
    let mut out = Vec::new();
    let short = |s: &str| {
        let s = crate::text::clean_line(s);
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(59).collect::<String>())
        } else {
            s
        }
    };
    match v.winner() {
        Some(w) => {
            let n = v.groups[0].members.len();
            let mut line = format!(
                "{} wins {n} of {} ({:.0}% agreement)",
                short(&w.value),
                v.k,
                v.agreement() * 100.0
            );
            if let Some((ww, share)) = v.weighted().filter(|(ww, _)| *ww != w) {
                line.push_str(&format!(
                    " · by confidence: {} ({:.0}%)",
                    short(&ww.value),
                    share * 100.0
                ));
            }
            out.push(Line::styled(line, if v.agreement() >= 0.6 { t.score_hi } else { t.warn }));
        }
        None => out.push(Line::styled(
            format!("no answer could be read from any of the {} answers", v.k),
            t.warn,
        )),
    }
    // A cluster's agreement was measured by embedding when judged; an answer is re-read live.
    let agrees = if v.winner().is_some_and(|w| w.kind == Kind::Meaning) {
        d.vote_agrees
    } else {
        v.agrees_with(output)
    };
    match agrees {
        Some(true) => out.push(Line::styled("the sample's output agrees with the majority", t.ok)),
        Some(false) => {
            out.push(Line::styled("the sample's output disagrees with the majority", t.error))
        }
        None if v.winner().is_some() => {
            out.push(Line::styled("no answer could be read from the sample's output", t.muted))
        }
        None => {}
    }
    for g in &v.groups {
        out.push(Line::from(format!(
            "  {}× {}   e.g. “{}”",
            g.members.len(),
            short(&g.answer.value),
            short(&d.candidates[g.members[0]].answer)
        )));
    }
    if let Some(&first) = v.unanswered.first() {
        out.push(Line::styled(
            format!(
                "  {}× no answer   e.g. “{}”",
                v.unanswered.len(),
                short(&d.candidates[first].answer)
            ),
            t.muted,
        ));
    }
    out
}

/// What changed: from the parent this sample derives from (a self-refine revision, an
/// evolution), then by the curator's edits.
fn diff_lines(d: &SampleDetail, t: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if let (Some(parent), Some(pid)) = (&d.parent, d.provenance.parent_id) {
        out.push(Line::styled(
            format!(
                "━━ from parent #{pid} to this sample ({})",
                d.provenance.recipe.as_deref().map(clean).unwrap_or_default()
            ),
            t.title,
        ));
        out.extend(field_diffs(parent, &d.original, t));
    }
    if d.current != d.original {
        out.push(Line::styled("━━ your edits: original → edited", t.title));
        out.extend(field_diffs(&d.original, &d.current, t));
    }
    out
}

fn field_diffs(old: &SampleText, new: &SampleText, t: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    type Field = (&'static str, fn(&SampleText) -> &str);
    let fields: [Field; 3] =
        [("Instruction", |s| &s.instruction), ("Input", |s| &s.input), ("Output", |s| &s.output)];
    for (name, get) in fields {
        let (a, b) = (get(old), get(new));
        if a == b {
            continue;
        }
        out.push(heading(name, "(struck out: removed · underlined: added)", t));
        out.extend(word_diff(a, b, t));
    }
    if out.is_empty() {
        out.push(Line::styled("(no change in the text)", t.muted));
    }
    out
}

/// A word-level inline diff, split into lines.
pub fn word_diff(old: &str, new: &str, t: &Theme) -> Vec<Line<'static>> {
    let (old, new) = (clean(old), clean(new));
    let diff = TextDiff::from_words(old.as_ref(), new.as_ref());
    let mut lines = vec![Line::default()];
    for change in diff.iter_all_changes() {
        let style = match change.tag() {
            ChangeTag::Delete => t.removed,
            ChangeTag::Insert => t.added,
            ChangeTag::Equal => t.text,
        };
        for (i, part) in change.value().split('\n').enumerate() {
            if i > 0 {
                lines.push(Line::default());
            }
            if !part.is_empty() {
                if let Some(l) = lines.last_mut() {
                    l.spans.push(Span::styled(part.to_owned(), style));
                }
            }
        }
    }
    lines
}
