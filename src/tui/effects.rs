//! Effects are IO that `App::update` asks for; the store worker carries them out on its own
//! thread and answers with `Event`s, so the UI never waits on SQLite.

use crate::sample::SampleText;
use crate::store::{Committed, Decision, QueueRow, SampleDetail, StatusCounts, Store, Undone};
use crossterm::event::KeyEvent;
use std::sync::mpsc;
use tokio::sync::mpsc::UnboundedSender;

/// Something that happened: a key, or a result coming back from a worker.
#[derive(Debug)]
pub enum Event {
    Key(KeyEvent),
    /// The terminal's new size (columns, rows).
    Resize(u16, u16),
    /// A page of the queue index; `total` is known from the first page on.
    IndexPage {
        rows: Vec<QueueRow>,
        counts: Option<StatusCounts>,
        done: bool,
    },
    Detail(Box<SampleDetail>),
    /// A decision is durable in the store.
    Committed {
        kind: crate::store::DecisionTag,
        committed: Committed,
    },
    /// A decision could not be stored; the message says why.
    NotSaved {
        kind: crate::store::DecisionTag,
        ids: Vec<i64>,
        error: String,
    },
    /// The store is busy (another process writes): the decision on `ids` waits and is retried.
    Waiting {
        ids: Vec<i64>,
    },
    /// Another session decided some of the decision's samples meanwhile: nothing was written;
    /// the curator is asked first. `last_event` is the newest event now.
    Conflict {
        decision: Box<Decision>,
        others: Vec<crate::store::Elsewhere>,
        last_event: i64,
    },
    /// Once a second: time to look for other processes' decisions.
    Tick,
    /// What other processes changed, with the store's `data_version` (None: nothing).
    Polled(Option<Box<(crate::store::Changes, i64)>>),
    /// An undo is durable (None: nothing was left to undo).
    Undone(Option<Box<Undone>>),
    /// `$EDITOR` returned: the new text (None when unchanged or aborted) or an error.
    ExternalEdit {
        id: i64,
        result: Result<Option<SampleText>, String>,
    },
    /// A generation job's progress.
    Job(crate::work::jobs::JobEvent),
    /// Samples newer than the index's newest (a job wrote them).
    NewRows(Vec<QueueRow>),
    /// What the student watcher sees (runs, progress, evaluations).
    Student(Box<crate::work::student::StudentView>),
    /// The figures for the stats pane.
    Stats(Box<crate::store::Stats>),
    /// A store operation failed; the message says which.
    Failed(String),
}

/// IO requested by `update`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Stream the queue index in pages.
    LoadIndex,
    LoadDetail(i64),
    Decide(Decision),
    /// Take back the curator's latest action.
    Undo {
        curator: String,
        session: String,
    },
    /// Suspend the UI and edit this text in `$EDITOR` (run by the loop, which owns the terminal).
    EditExternal {
        id: i64,
        text: SampleText,
    },
    /// Start a generation job (run by the job runner, not the store thread).
    StartJob(crate::work::jobs::JobSpec),
    /// Judge these samples in the background (the job runner's).
    StartJudge(Vec<i64>),
    CancelJob,
    /// A command for the student watcher (train, cancel, evaluate).
    Student(crate::work::student::StudentCmd),
    LoadStats,
    /// Look for other sessions' decisions after event `after` (None: only learn the newest
    /// event), unless `data_version` is still `version`.
    Poll {
        after: Option<i64>,
        version: Option<i64>,
        session: String,
    },
    /// Load the samples newer than `after`.
    LoadNewer {
        after: i64,
    },
    Quit,
}

/// The first page is small so the first frame comes fast; later pages are large.
pub const FIRST_PAGE: usize = 400;
pub const PAGE: usize = 50_000;

/// How many bytes of summary each row keeps: generous for small stores, tight for huge ones, so
/// the index stays near 100 MB at a million rows.
pub fn summary_cap(total: i64) -> usize {
    (64_000_000 / total.max(1) as usize).clamp(80, 200)
}

/// Owns the store on a thread of its own; commands run in order, so a decision sent before a
/// quit is committed before the worker ends.
pub struct StoreWorker {
    tx: Option<mpsc::Sender<Effect>>,
    handle: Option<std::thread::JoinHandle<()>>,
    events: UnboundedSender<Event>,
    /// Generation jobs (None: this workbench cannot start them, as in tests).
    jobs: Option<std::sync::Mutex<crate::work::jobs::JobRunner>>,
    /// The student watcher (None: not here, as in tests).
    student: Option<std::sync::mpsc::Sender<crate::work::student::StudentCmd>>,
}

impl StoreWorker {
    pub fn spawn(mut store: Store, events: UnboundedSender<Event>) -> StoreWorker {
        // A decision that waits for the lock says so after a second (and keeps trying).
        if let Err(e) = store.set_busy_timeout(std::time::Duration::from_secs(1)) {
            tracing::warn!("setting the busy timeout: {e}");
        }
        let (tx, rx) = mpsc::channel::<Effect>();
        let job_events = events.clone();
        let handle = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                for effect in rx {
                    run_one(&mut store, effect, &events);
                }
            })
            .ok();
        StoreWorker { tx: Some(tx), handle, events: job_events, jobs: None, student: None }
    }

    /// Lets this workbench run generation jobs in `ws`.
    pub fn enable_jobs(&mut self, ws: crate::workspace::Workspace) {
        let events = self.events.clone();
        let sink = std::sync::Arc::new(move |e| {
            let _ = events.send(Event::Job(e));
        });
        self.jobs = Some(std::sync::Mutex::new(crate::work::jobs::JobRunner::new(ws, sink)));
    }

    /// Lets this workbench train and evaluate students in `ws` (starts the watcher).
    pub fn enable_student(&mut self, ws: crate::workspace::Workspace) {
        use crate::work::student::StudentEvent;
        let events = self.events.clone();
        self.student = Some(crate::work::student::spawn(ws, move |e| {
            let ev = match e {
                StudentEvent::View(v) => Event::Student(v),
                StudentEvent::Failed(m) => Event::Failed(m),
            };
            events.send(ev).is_ok()
        }));
    }

    /// Queues a store effect; job effects go to the job runner.
    pub fn send(&self, effect: Effect) {
        if let Effect::Student(cmd) = effect {
            match &self.student {
                Some(tx) => {
                    let _ = tx.send(cmd);
                }
                None => {
                    let _ =
                        self.events.send(Event::Failed("training is not available here".into()));
                }
            }
            return;
        }
        if let Effect::StartJob(_) | Effect::StartJudge(_) | Effect::CancelJob = effect {
            let Some(jobs) = &self.jobs else {
                let _ = self.events.send(Event::Job(crate::work::jobs::JobEvent::Failed(
                    crate::work::jobs::JobFailure::Unavailable,
                )));
                return;
            };
            let mut jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
            match effect {
                Effect::StartJob(spec) => jobs.start(spec),
                Effect::StartJudge(ids) => jobs.start_judge(ids),
                _ => jobs.cancel(),
            }
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(effect);
        }
    }

    /// Waits until every queued command has run.
    pub fn finish(mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Runs one store effect, sending its result as events.
pub fn run_one(store: &mut Store, effect: Effect, events: &UnboundedSender<Event>) {
    let send = |e| {
        let _ = events.send(e);
    };
    match effect {
        Effect::LoadIndex => {
            if let Err(e) = load_index(store, events) {
                send(Event::Failed(format!("loading the queue: {e}")));
            }
        }
        Effect::LoadDetail(id) => match store.sample(id).and_then(|mut d| {
            // The nearest seed or accepted sample as of now (what accepting it would duplicate),
            // the verifiers on the current text, and the parent the diff compares with.
            d.neighbour = store.nearest_to(id, &d.current)?;
            d.checks = store.checks_of(&d);
            if let Some(pid) = d.provenance.parent_id {
                d.parent = Some(Box::new(store.sample(pid)?.current));
            }
            Ok(d)
        }) {
            Ok(d) => send(Event::Detail(Box::new(d))),
            Err(e) => send(Event::Failed(format!("loading sample {id}: {e}"))),
        },
        Effect::Decide(d) => decide(store, d, events),
        Effect::Poll { after, version, session } => {
            let polled = (|| -> Result<_, crate::store::StoreError> {
                let v = store.data_version()?;
                let changes = match after {
                    Some(_) if version == Some(v) => return Ok(None),
                    Some(a) => store.changes_since(a, &session)?,
                    None => crate::store::Changes {
                        last_event: store.last_event()?,
                        ..Default::default()
                    },
                };
                Ok(Some(Box::new((changes, v))))
            })();
            match polled {
                Ok(p) => send(Event::Polled(p)),
                Err(e) => send(Event::Failed(format!("looking for other decisions: {e}"))),
            }
        }
        Effect::Undo { curator, session } => match store.undo(&curator, &session) {
            Ok(u) => send(Event::Undone(u.map(Box::new))),
            Err(e) => send(Event::Failed(format!("undo failed: {e}"))),
        },
        Effect::LoadStats => match store.stats() {
            Ok(st) => send(Event::Stats(Box::new(st))),
            Err(e) => send(Event::Failed(format!("loading the stats: {e}"))),
        },
        Effect::LoadNewer { after } => match store.queue_newer(after, summary_cap(1_000_000)) {
            Ok(rows) => send(Event::NewRows(rows)),
            Err(e) => send(Event::Failed(format!("loading new samples: {e}"))),
        },
        Effect::EditExternal { .. }
        | Effect::Quit
        | Effect::Student(_)
        | Effect::StartJob(_)
        | Effect::StartJudge(_)
        | Effect::CancelJob => {}
    }
}

/// Commits a decision, waiting while another process holds the lock: a decision is never
/// dropped because the store was busy.
fn decide(store: &mut Store, d: Decision, events: &UnboundedSender<Event>) {
    let send = |e| {
        let _ = events.send(e);
    };
    let kind = d.kind.tag();
    let mut waited = false;
    let result = loop {
        match store.decide(&d) {
            Err(e) if e.is_busy() => {
                if !waited {
                    tracing::warn!("the store is busy: {kind} on {:?} waits", d.sample_ids);
                    send(Event::Waiting { ids: d.sample_ids.clone() });
                    waited = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => break other,
        }
    };
    match result {
        Ok(committed) => send(Event::Committed { kind, committed }),
        Err(crate::store::StoreError::DecidedElsewhere(others)) => {
            let last_event = store.last_event().unwrap_or(0);
            send(Event::Conflict { decision: Box::new(d), others, last_event })
        }
        Err(e) => {
            tracing::error!("saving {kind} on {:?}: {e}", d.sample_ids);
            send(Event::NotSaved { kind, ids: d.sample_ids, error: e.to_string() })
        }
    }
}

fn load_index(
    store: &Store,
    events: &UnboundedSender<Event>,
) -> Result<(), crate::store::StoreError> {
    let counts = store.status_counts()?;
    let cap = summary_cap(counts.total() as i64);
    let mut before = None;
    let mut limit = FIRST_PAGE;
    let mut first = true;
    loop {
        let rows = store.queue_page(before, limit, cap)?;
        let done = rows.len() < limit;
        before = rows.last().map(|r| r.id);
        let counts = first.then_some(counts);
        first = false;
        if events.send(Event::IndexPage { rows, counts, done }).is_err() || done {
            return Ok(());
        }
        limit = PAGE;
    }
}
