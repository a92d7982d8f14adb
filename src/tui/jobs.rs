//! Background generation jobs: a thread that owns the teacher (the local model or an endpoint)
//! and its own store connection, runs a recipe, and reports each attempt as an event. The UI
//! thread never waits on it; candidates appear in the queue as they are written.

use super::effects::Event;
use crate::recipes::run::{Outcome, Progress, RunOptions};
use crate::workspace::Workspace;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// What the generation dialog asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub recipe: String,
    pub n: usize,
    /// A named endpoint; None runs the local engine.
    pub endpoint: Option<String>,
}

/// What a job reports.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// The teacher is loaded and the recipe runs.
    Running {
        teacher: String,
    },
    /// One attempt ended; `kept` is the new sample's id when it was kept.
    Attempt {
        progress: Progress,
        kept: Option<i64>,
        line: String,
    },
    Finished {
        progress: Progress,
        cancelled: bool,
    },
    Failed(String),
    /// The critic is loaded and judges this many samples.
    Judging {
        total: usize,
    },
    Judged(Box<super::judging::Judged>),
}

/// Starts jobs, one at a time, and cancels them.
pub struct JobRunner {
    ws: Workspace,
    cancel: Option<Arc<AtomicBool>>,
    running: Arc<AtomicBool>,
}

impl JobRunner {
    pub fn new(ws: Workspace) -> JobRunner {
        JobRunner { ws, cancel: None, running: Arc::new(AtomicBool::new(false)) }
    }

    /// Starts a generation job (which judges what it kept when `[judge] auto` is on).
    pub fn start(&mut self, spec: JobSpec, events: UnboundedSender<Event>) {
        let ws = self.ws.clone();
        self.spawn(spec.recipe.clone(), events, move |cancel, events| {
            run_job(&ws, &spec, cancel, events)
        });
    }

    /// Starts judging `ids` (the `J` key).
    pub fn start_judge(&mut self, ids: Vec<i64>, events: UnboundedSender<Event>) {
        let ws = self.ws.clone();
        self.spawn("judge".into(), events, move |cancel, events| {
            let mut critic = match super::judging::open_critic(&ws, None)? {
                Some(c) => c,
                None => open_teacher(&ws, ws.config.teacher.endpoint.as_deref(), None, &mut |m| {
                    tracing::info!("{m}")
                })?,
            };
            critic.set_cancel(cancel.clone());
            let p = super::judging::judge_ids(&ws, critic.as_mut(), ids, cancel, events)?;
            Ok(Progress { seconds: p.seconds, tokens: p.tokens, ..Progress::default() })
        });
    }

    fn spawn<F>(&mut self, what: String, events: UnboundedSender<Event>, job: F)
    where
        F: FnOnce(Arc<AtomicBool>, &UnboundedSender<Event>) -> anyhow::Result<Progress>
            + Send
            + 'static,
    {
        if self.running.swap(true, Ordering::SeqCst) {
            let _ = events.send(Event::Job(JobEvent::Failed(
                "a job is already running; cancel it first".into(),
            )));
            return;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancel = Some(cancel.clone());
        let running = self.running.clone();
        let spawned = std::thread::Builder::new().name("job".into()).spawn(move || {
            let result = job(cancel.clone(), &events);
            let ev = match result {
                Ok(progress) => {
                    JobEvent::Finished { progress, cancelled: cancel.load(Ordering::SeqCst) }
                }
                Err(e) => JobEvent::Failed(format!("{what}: {e:#}")),
            };
            running.store(false, Ordering::SeqCst);
            let _ = events.send(Event::Job(ev));
        });
        if spawned.is_err() {
            self.running.store(false, Ordering::SeqCst);
        }
    }

    /// Asks the running job to stop (the answer being generated is dropped; kept ones stay).
    pub fn cancel(&self) {
        if let Some(c) = &self.cancel {
            c.store(true, Ordering::SeqCst);
        }
    }
}

use crate::recipes::dispatch::open_teacher;

/// The teacher as the jobs line names it: the model, and the local engine's kernels.
fn teacher_line(t: &dyn crate::llm::Generator) -> String {
    match t.engine() {
        Some(e) => format!("{} ({e})", t.name()),
        None => t.name(),
    }
}

fn run_job(
    ws: &Workspace,
    spec: &JobSpec,
    cancel: Arc<AtomicBool>,
    events: &UnboundedSender<Event>,
) -> anyhow::Result<Progress> {
    use crate::recipes::dispatch::{documents_dir, run_recipe, sources};
    let (tmpl, _) = crate::recipes::template(&spec.recipe, Some(&ws.dir))
        .ok_or_else(|| anyhow::anyhow!("unknown recipe"))?;
    let mut store = ws.store()?;
    let srcs = if spec.recipe == "self-instruct" {
        Vec::new()
    } else {
        sources(&store, &spec.recipe, None, Some(&documents_dir(ws)))?
    };
    let mut teacher =
        open_teacher(ws, spec.endpoint.as_deref(), None, &mut |m| tracing::info!("{m}"))?;
    // Cancel stops the model mid-answer, not only between attempts.
    teacher.set_cancel(cancel.clone());
    let _ = events.send(Event::Job(JobEvent::Running { teacher: teacher_line(teacher.as_ref()) }));
    let opts = RunOptions {
        n: spec.n,
        params: crate::llm::GenParams {
            temperature: 0.8,
            max_tokens: 160,
            seed: crate::store::now_ms() as u64,
            ..Default::default()
        },
        task: None,
        shots: 3,
        template_hash: crate::recipes::template_hash(&tmpl),
        template: tmpl,
        cancel: cancel.clone(),
    };
    let mut kept_ids = Vec::new();
    let mut on = |p: &Progress, o: &Outcome| {
        let (kept, line) = match o {
            Outcome::Kept { id, summary, .. } => {
                kept_ids.push(*id);
                (Some(*id), format!("kept #{id}: {summary}"))
            }
            Outcome::Dropped { reason, .. } => (None, format!("dropped: {reason}")),
        };
        let _ = events.send(Event::Job(JobEvent::Attempt { progress: *p, kept, line }));
    };
    let progress = run_recipe(
        &spec.recipe,
        teacher.as_mut(),
        &mut store,
        &opts,
        &srcs,
        ("a curious learner", "an expert teacher"),
        2,
        &mut on,
    )?;
    if ws.config.judge.auto && !kept_ids.is_empty() && !cancel.load(Ordering::SeqCst) {
        // The critic is the teacher already loaded unless `[judge] critic` names another.
        let mut other = super::judging::open_critic(
            ws,
            spec.endpoint.as_deref().or(ws.config.teacher.endpoint.as_deref()),
        )?;
        if let Some(c) = other.as_mut() {
            c.set_cancel(cancel.clone());
        }
        let critic: &mut dyn crate::llm::Generator = match other.as_mut() {
            Some(c) => c.as_mut(),
            None => teacher.as_mut(),
        };
        super::judging::judge_ids(ws, critic, kept_ids, cancel, events)?;
    }
    Ok(progress)
}

/// The jobs pane's state.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub spec: JobSpec,
    pub state: String,
    pub progress: Progress,
    pub last: String,
    pub done: bool,
    /// Samples judged so far, of `to_judge`.
    pub judged: usize,
    pub to_judge: usize,
}

impl JobView {
    pub fn new(spec: JobSpec, state: &str) -> JobView {
        JobView {
            spec,
            state: state.into(),
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
        self.job = Some(JobView::new(spec.clone(), "loading the teacher…"));
        fx.push(super::effects::Effect::StartJob(spec));
    }

    pub(super) fn cancel_job(&mut self, fx: &mut Vec<super::effects::Effect>) {
        match self.job.as_mut().filter(|j| !j.done) {
            Some(j) => {
                j.state = "cancelling…".into();
                fx.push(super::effects::Effect::CancelJob);
            }
            None => self.say("no generation job is running"),
        }
    }

    pub(super) fn on_job(&mut self, ev: JobEvent, fx: &mut Vec<super::effects::Effect>) {
        let Some(job) = self.job.as_mut() else { return };
        match ev {
            JobEvent::Running { teacher } => {
                job.state = format!("running on {}", crate::text::clean_line(&teacher))
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
                job.state = if cancelled { "cancelled".into() } else { "done".into() };
                let msg = if job.spec.recipe == "judge" {
                    format!("judged {} of {}", job.judged, job.to_judge)
                } else if job.to_judge > 0 {
                    format!(
                        "{}: kept {}, dropped {}; judged {} of {}",
                        job.spec.recipe, progress.kept, progress.dropped, job.judged, job.to_judge
                    )
                } else {
                    format!(
                        "{}: kept {}, dropped {}",
                        job.spec.recipe, progress.kept, progress.dropped
                    )
                };
                self.say(msg);
            }
            JobEvent::Failed(msg) => {
                job.done = true;
                job.state = "failed".into();
                self.fail(msg);
            }
            JobEvent::Judging { total } => {
                job.to_judge = total;
                job.state = "judging".into();
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
        Span::styled(format!(" job {} ", j.spec.recipe), t.title),
        Span::styled(
            format!("│ {} ", j.state),
            if j.state == "failed" { t.error } else { t.accent },
        ),
    ];
    if j.spec.recipe != "judge" {
        spans.push(Span::styled(
            format!(
                "│ kept {}/{} · dropped {} · {:.0} tok/s · {:.0} s ",
                p.kept, j.spec.n, p.dropped, rate, p.seconds
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
