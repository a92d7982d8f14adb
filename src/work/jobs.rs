//! Background jobs, one at a time: a thread that owns its model (the teacher or the critic) and
//! its own store connection, and reports through [`JobEvent`]s to a sink the caller supplies
//! (the workbench turns them into its events). Cancel stops the model mid-answer.

pub use super::events::{JobEvent, JobFailure, JobKind};
use super::generate::{generate, GenEvent, GenerateSpec};
use super::judge_job::judge_ids;
use super::open::{model_line, open_critic, open_critic_or_teacher};
use crate::llm::Generator;
use crate::recipes::run::{Outcome, Progress};
use crate::recipes::Recipe;
use crate::workspace::Workspace;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the generation dialog asks for; the rest of [`GenerateSpec`] keeps its defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub recipe: Recipe,
    pub n: usize,
    /// A named endpoint; None runs the local engine.
    pub endpoint: Option<String>,
}

impl JobSpec {
    /// The generation this job runs (seeded from the clock: each job draws anew).
    pub fn generation(&self) -> GenerateSpec {
        let mut g = GenerateSpec::new(self.recipe, self.n);
        g.endpoint = self.endpoint.clone();
        g.params.seed = crate::store::now_ms() as u64;
        g
    }
}

/// Where a job's events go.
pub type Sink = Arc<dyn Fn(JobEvent) + Send + Sync>;

/// Starts jobs, one at a time, and cancels them.
pub struct JobRunner {
    ws: Workspace,
    sink: Sink,
    cancel: Option<Arc<AtomicBool>>,
    running: Arc<AtomicBool>,
}

impl JobRunner {
    pub fn new(ws: Workspace, sink: Sink) -> JobRunner {
        JobRunner { ws, sink, cancel: None, running: Arc::new(AtomicBool::new(false)) }
    }

    /// Starts a generation job (which judges what it kept when `[judge] auto` is on).
    pub fn start(&mut self, spec: JobSpec) {
        let ws = self.ws.clone();
        self.spawn(JobKind::Generate(spec.recipe), move |cancel, on| {
            run_generation(&ws, &spec.generation(), cancel, on)
        });
    }

    /// Starts judging `ids` (the `J` key).
    pub fn start_judge(&mut self, ids: Vec<i64>) {
        let ws = self.ws.clone();
        self.spawn(JobKind::Judge, move |cancel, on| {
            let mut critic = open_critic_or_teacher(&ws, &mut |m| tracing::info!("{m}"))?;
            critic.set_cancel(cancel.clone());
            let p = judge_ids(&ws, critic.as_mut(), ids, cancel, on)?;
            Ok(Progress { seconds: p.seconds, tokens: p.tokens, ..Progress::default() })
        });
    }

    fn spawn<F>(&mut self, kind: JobKind, job: F)
    where
        F: FnOnce(Arc<AtomicBool>, &(dyn Fn(JobEvent) + Sync)) -> anyhow::Result<Progress>
            + Send
            + 'static,
    {
        if self.running.swap(true, Ordering::SeqCst) {
            (self.sink)(JobEvent::Failed(JobFailure::Busy));
            return;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancel = Some(cancel.clone());
        let running = self.running.clone();
        let sink = self.sink.clone();
        let spawned = std::thread::Builder::new().name("job".into()).spawn(move || {
            let on = |e: JobEvent| sink(e);
            let ev = match job(cancel.clone(), &on) {
                Ok(progress) => {
                    JobEvent::Finished { progress, cancelled: cancel.load(Ordering::SeqCst) }
                }
                Err(e) => {
                    tracing::warn!("job {kind} failed: {e:#}");
                    JobEvent::Failed(JobFailure::Error { kind, message: format!("{e:#}") })
                }
            };
            running.store(false, Ordering::SeqCst);
            on(ev);
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

/// A generation job: the teacher, the recipe, then (with `[judge] auto`) the critic on what
/// was kept.
fn run_generation(
    ws: &Workspace,
    spec: &GenerateSpec,
    cancel: Arc<AtomicBool>,
    on: &(dyn Fn(JobEvent) + Sync),
) -> anyhow::Result<Progress> {
    let mut teacher = super::generate::open_teacher(ws, spec, &mut |m| tracing::info!("{m}"))?;
    // Cancel stops the model mid-answer, not only between attempts.
    teacher.set_cancel(cancel.clone());
    on(JobEvent::Running { teacher: model_line(teacher.as_ref()) });
    let mut kept_ids = Vec::new();
    let stats = teacher.endpoint_stats();
    let mut each = |e: GenEvent| {
        let GenEvent::Attempt { progress, outcome } = e else { return };
        let (kept, mut line) = match outcome {
            Outcome::Kept { id, summary, .. } => {
                kept_ids.push(id);
                (Some(id), format!("kept #{id}: {summary}"))
            }
            Outcome::Dropped { reason, .. } => (None, format!("dropped: {reason}")),
        };
        // An endpoint's retries and waits show on the job line too.
        if let Some(w) = stats.as_ref().and_then(|s| s.take_wait()) {
            line = format!("{w} · {line}");
        }
        on(JobEvent::Attempt { progress, kept, line });
    };
    let progress = generate(ws, spec, teacher.as_mut(), cancel.clone(), &mut each)?;
    if ws.config.judge.auto && !kept_ids.is_empty() && !cancel.load(Ordering::SeqCst) {
        // The critic is the teacher already loaded unless `[judge] critic` names another.
        let endpoint = spec.endpoint.as_deref().or(ws.config.teacher.endpoint.as_deref());
        let mut other = open_critic(ws, endpoint)?;
        if let Some(c) = other.as_mut() {
            c.set_cancel(cancel.clone());
        }
        let critic: &mut dyn Generator = match other.as_mut() {
            Some(c) => c.as_mut(),
            None => teacher.as_mut(),
        };
        judge_ids(ws, critic, kept_ids, cancel, on)?;
    }
    Ok(progress)
}
