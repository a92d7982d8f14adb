//! Jobs in the workbench: the dialog starts one, its events (from [`crate::work::jobs`]) move
//! the one-line jobs pane, and the candidates it keeps join the queue as they are written.

use crate::recipes::run::Progress;
use crate::work::jobs::{JobEvent, JobKind, JobSpec};

/// Where a job stands, as the jobs line shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Opening its model ("teacher" or "critic").
    Loading(&'static str),
    /// Running on this model.
    Running(String),
    Judging,
    Cancelling,
    Cancelled,
    Done,
    Failed,
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobState::Loading(what) => write!(f, "loading the {what}…"),
            JobState::Running(model) => write!(f, "running on {model}"),
            JobState::Judging => f.write_str("judging"),
            JobState::Cancelling => f.write_str("cancelling…"),
            JobState::Cancelled => f.write_str("cancelled"),
            JobState::Done => f.write_str("done"),
            JobState::Failed => f.write_str("failed"),
        }
    }
}

/// The jobs pane's state.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub kind: JobKind,
    /// Candidates to keep (generation).
    pub n: usize,
    pub state: JobState,
    pub progress: Progress,
    pub last: String,
    pub done: bool,
    /// Samples judged so far, of `to_judge`.
    pub judged: usize,
    pub to_judge: usize,
}

impl JobView {
    pub fn new(kind: JobKind, n: usize, state: JobState) -> JobView {
        JobView {
            kind,
            n,
            state,
            progress: Progress::default(),
            last: String::new(),
            done: false,
            judged: 0,
            to_judge: 0,
        }
    }
}

impl super::app::App {
    /// `N`: the dialog, unless a job runs.
    pub(super) fn open_generate(&mut self) {
        if self.job.as_ref().is_some_and(|j| !j.done) {
            self.say("a generation job is running; C cancels it");
            return;
        }
        let popup = super::panes::GeneratePopup::new(
            self.endpoints.clone(),
            self.default_endpoint.as_deref(),
        );
        self.popup = Some(super::app::Popup::Generate(popup));
    }

    pub(super) fn start_job(&mut self, spec: JobSpec, fx: &mut Vec<super::effects::Effect>) {
        self.job = Some(JobView::new(
            JobKind::Generate(spec.recipe),
            spec.n,
            JobState::Loading("teacher"),
        ));
        fx.push(super::effects::Effect::StartJob(spec));
    }

    pub(super) fn cancel_job(&mut self, fx: &mut Vec<super::effects::Effect>) {
        match self.job.as_mut().filter(|j| !j.done) {
            Some(j) => {
                j.state = JobState::Cancelling;
                fx.push(super::effects::Effect::CancelJob);
            }
            None => self.say("no generation job is running"),
        }
    }

    pub(super) fn on_job(&mut self, ev: JobEvent, fx: &mut Vec<super::effects::Effect>) {
        let Some(job) = self.job.as_mut() else { return };
        match ev {
            JobEvent::Running { teacher } => {
                job.state = JobState::Running(crate::text::clean_line(&teacher))
            }
            JobEvent::Attempt { progress, kept, line } => {
                job.progress = progress;
                job.last = line;
                if kept.is_some() {
                    fx.push(super::effects::Effect::LoadNewer {
                        after: self.index.newest_id().unwrap_or(0),
                    });
                }
            }
            JobEvent::Finished { progress, cancelled } => {
                job.progress = progress;
                job.done = true;
                job.state = if cancelled { JobState::Cancelled } else { JobState::Done };
                let msg = if job.kind == JobKind::Judge {
                    format!("judged {} of {}", job.judged, job.to_judge)
                } else if job.to_judge > 0 {
                    format!(
                        "{}: kept {}, dropped {}; judged {} of {}",
                        job.kind, progress.kept, progress.dropped, job.judged, job.to_judge
                    )
                } else {
                    format!("{}: kept {}, dropped {}", job.kind, progress.kept, progress.dropped)
                };
                self.say(msg);
            }
            JobEvent::Failed(why) => {
                job.done = true;
                job.state = JobState::Failed;
                self.fail(why.to_string());
            }
            JobEvent::Judging { total } => {
                job.to_judge = total;
                job.state = JobState::Judging;
            }
            JobEvent::Judged(j) => self.on_judged(*j),
        }
    }

    /// Samples a job wrote: they join the index (newest first) and the view.
    pub(super) fn on_new_rows(&mut self, rows: Vec<crate::store::QueueRow>) {
        let keep = self.current_id();
        let added = self.index.insert_newer(rows);
        for st in &added {
            *self.counts.get_mut(*st) += 1;
        }
        if !added.is_empty() {
            self.view.invalidate();
            self.rebuild_view(keep);
        }
    }
}

/// The one-line jobs pane.
pub fn render_job(f: &mut ratatui::Frame, area: ratatui::layout::Rect, app: &super::app::App) {
    use ratatui::text::{Line, Span};
    let Some(j) = &app.job else { return };
    let t = &app.theme;
    let p = &j.progress;
    let rate = p.tokens as f64 / p.seconds.max(1e-9);
    let mut spans = vec![
        Span::styled(format!(" job {} ", j.kind), t.title),
        Span::styled(
            format!("│ {} ", j.state),
            if j.state == JobState::Failed { t.error } else { t.accent },
        ),
    ];
    if j.kind != JobKind::Judge {
        spans.push(Span::styled(
            format!(
                "│ kept {}/{} · dropped {} · {:.0} tok/s · {:.0} s ",
                p.kept, j.n, p.dropped, rate, p.seconds
            ),
            t.text,
        ));
    }
    if j.to_judge > 0 {
        spans.push(Span::styled(format!("│ judged {}/{} ", j.judged, j.to_judge), t.text));
    }
    if !j.done {
        let keys = app.keymap.keys(super::keymap::Context::Queue, super::action::Action::CancelJob);
        if let Some(k) = keys.first() {
            spans.push(Span::styled(format!("│ {} cancel ", k.display()), t.muted));
        }
    }
    if !j.last.is_empty() {
        spans.push(Span::styled(format!("│ {}", crate::text::clean_line(&j.last)), t.muted));
    }
    f.render_widget(ratatui::widgets::Paragraph::new(Line::from(spans)), area);
}
