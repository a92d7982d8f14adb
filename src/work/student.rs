//! The training supervisor: a watcher thread that starts `distillery train` and
//! `distillery eval` as processes of their own (one thread each, `RAYON_NUM_THREADS=1`, their
//! own process group, so the teacher keeps its core and closing the terminal does not stop
//! them), follows the newest run through `training_runs` and its progress file once a second,
//! and sends what it sees as [`StudentView`]s. A run whose process is gone while it is still
//! marked running (the machine or the trainer was killed) is resumed from its last checkpoint
//! when the workbench opens.

use super::run_files::{alive, last_segment, log_tail, read_progress};
use crate::store::{Metric, RunStatus, Store, TrainingRun};
use crate::train::run::StepReport;
use crate::workspace::Workspace;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};

/// What the training dialog asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSpec {
    /// The base model (None: the trainer's default, `[teacher] model` or SmolLM2).
    pub base: Option<PathBuf>,
    /// Only this task's samples (None: all).
    pub task: Option<String>,
    /// The projections to adapt, as `--targets` takes them (`q,v`).
    pub targets: String,
    pub rank: usize,
    pub epochs: usize,
    pub lr: f64,
    /// Share of real seed examples mixed in.
    pub seed_share: f64,
}

impl TrainSpec {
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["train".into(), "--json".into()];
        if let Some(b) = &self.base {
            a.push("--base".into());
            a.push(b.display().to_string());
        }
        if let Some(t) = &self.task {
            a.push("--task".into());
            a.push(t.clone());
        }
        for (k, v) in [
            ("--targets", self.targets.clone()),
            ("--rank", self.rank.to_string()),
            ("--epochs", self.epochs.to_string()),
            ("--lr", format!("{:e}", self.lr)),
            ("--seed-share", self.seed_share.to_string()),
        ] {
            a.push(k.into());
            a.push(v);
        }
        a
    }
}

/// What the workbench asks of the watcher.
#[derive(Debug, Clone, PartialEq)]
pub enum StudentCmd {
    Train(TrainSpec),
    /// Ask the running trainer to stop after its step (it writes a checkpoint).
    Cancel,
    Evaluate,
}

/// The newest run and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct RunProgress {
    pub run: TrainingRun,
    /// Its process is alive.
    pub alive: bool,
    /// One report per step (a resumed run's repeated steps replaced).
    pub steps: Vec<StepReport>,
}

/// What the student pane shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StudentView {
    /// The base models the dialog offers: the trainer's default first, then SmolLM2 and the
    /// bases of earlier runs, where they differ and exist.
    pub bases: Vec<PathBuf>,
    /// The seeds' tasks, which the dialog offers to limit a round to.
    pub tasks: Vec<String>,
    pub runs: Vec<TrainingRun>,
    /// Headless rounds (`distillery round`), oldest first.
    pub rounds: Vec<crate::store::Round>,
    pub current: Option<RunProgress>,
    pub metrics: Vec<Metric>,
    pub warnings: Vec<String>,
    pub evaluating: bool,
    /// The evaluation's latest progress line, while it runs.
    pub eval_progress: Option<String>,
    /// Something to tell the curator once (an error when the flag is set).
    pub note: Option<(String, bool)>,
}

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq)]
pub enum StudentEvent {
    /// What it sees now (sent when it changes).
    View(Box<StudentView>),
    /// The watcher could not start.
    Failed(String),
}

/// Starts the watcher; commands go through the returned sender, and what it sees to `sink`
/// (which returns false once nobody listens, ending the watcher).
pub fn spawn(
    ws: Workspace,
    sink: impl Fn(StudentEvent) -> bool + Send + 'static,
) -> Sender<StudentCmd> {
    let (tx, rx) = mpsc::channel();
    let _ = std::thread::Builder::new().name("student".into()).spawn(move || {
        let store = match ws.store() {
            Ok(s) => s,
            Err(e) => {
                sink(StudentEvent::Failed(format!("student: {e}")));
                return;
            }
        };
        let mut w = Watcher { ws, store, trainer: None, evaluator: None, note: None, last: None };
        w.rediscover();
        loop {
            match rx.recv_timeout(std::time::Duration::from_secs(1)) {
                Ok(cmd) => w.command(cmd),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            w.reap();
            // The teacher (in this process) yields a core to the trainer or evaluation.
            let beside = w.trainer.is_some() || w.evaluator.is_some() || w.running_run().is_some();
            crate::llm::engine::pool::set_cap(usize::from(beside));
            let view = w.view();
            if w.last.as_ref() != Some(&view) {
                w.last = Some(view.clone());
                w.note = None;
                if !sink(StudentEvent::View(Box::new(view))) {
                    return;
                }
            }
        }
    });
    tx
}

struct Watcher {
    ws: Workspace,
    store: Store,
    trainer: Option<Child>,
    evaluator: Option<Child>,
    note: Option<(String, bool)>,
    last: Option<StudentView>,
}

impl Watcher {
    fn runs_dir(&self) -> PathBuf {
        self.ws.dir.join("runs")
    }

    fn train_log(&self) -> PathBuf {
        self.runs_dir().join(crate::train::LOG)
    }

    fn eval_log(&self) -> PathBuf {
        self.runs_dir().join(crate::train::EVAL_LOG)
    }

    /// Starts `distillery <args>` detached, its output into `log`.
    fn start(&self, args: &[String], log: &Path) -> std::io::Result<Child> {
        use std::os::unix::process::CommandExt;
        std::fs::create_dir_all(self.runs_dir())?;
        let out = std::fs::File::create(log)?;
        Command::new(std::env::current_exe()?)
            .arg("-w")
            .arg(&self.ws.dir)
            .args(args)
            .env("RAYON_NUM_THREADS", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
    }

    /// A run left marked running whose process is gone is resumed.
    fn rediscover(&mut self) {
        let Ok(Some(run)) = self.store.last_run() else { return };
        if run.status != RunStatus::Running || run.pid.is_some_and(alive) {
            return;
        }
        let args = vec!["train".into(), "--json".into(), "--resume".into(), run.id.to_string()];
        let from = match crate::train::checkpoint::latest(
            &crate::train::run_dir(&self.ws.dir, run.id).join("checkpoints"),
        ) {
            Ok((Some(l), _)) => format!("from its checkpoint of step {}", l.state.step),
            _ => "from the start (it had no checkpoint yet)".into(),
        };
        self.note = Some(match self.start(&args, &self.train_log()) {
            Ok(c) => {
                self.trainer = Some(c);
                (
                    format!(
                        "training run {} was interrupted (its process is gone); resuming it {from}",
                        run.id
                    ),
                    false,
                )
            }
            Err(e) => (
                format!("training run {} was interrupted and could not be resumed: {e}", run.id),
                true,
            ),
        });
    }

    fn running_run(&self) -> Option<TrainingRun> {
        self.store
            .last_run()
            .ok()
            .flatten()
            .filter(|r| r.status == RunStatus::Running && r.pid.is_some_and(alive))
    }

    fn command(&mut self, cmd: StudentCmd) {
        self.note = Some(match cmd {
            StudentCmd::Train(spec) => {
                if self.trainer.is_some() || self.running_run().is_some() {
                    ("a training run is already going; cancel it first (c)".into(), true)
                } else {
                    match self.start(&spec.args(), &self.train_log()) {
                        Ok(c) => {
                            self.trainer = Some(c);
                            (format!("training started: {} · LoRA r={} on {} · {} epochs · lr {:e} · seed share {:.0}%", spec.task.as_deref().unwrap_or("all tasks"), spec.rank, spec.targets, spec.epochs, spec.lr, spec.seed_share * 100.0), false)
                        }
                        Err(e) => (format!("could not start the trainer: {e}"), true),
                    }
                }
            }
            StudentCmd::Cancel => match self.running_run() {
                Some(r) => match std::fs::write(
                    crate::train::run_dir(&self.ws.dir, r.id).join(crate::train::CANCEL),
                    "",
                ) {
                    Ok(()) => (
                        format!(
                            "run {} stops after its current step (its checkpoint is kept)",
                            r.id
                        ),
                        false,
                    ),
                    Err(e) => (format!("could not ask run {} to stop: {e}", r.id), true),
                },
                None => ("no training is running".into(), true),
            },
            StudentCmd::Evaluate => {
                if self.evaluator.is_some() {
                    ("an evaluation is already running".into(), true)
                } else {
                    match self.start(&["eval".into()], &self.eval_log()) {
                        Ok(c) => {
                            self.evaluator = Some(c);
                            ("evaluating the base model and each round's student on the held-out items…".into(), false)
                        }
                        Err(e) => (format!("could not start the evaluation: {e}"), true),
                    }
                }
            }
        });
    }

    /// Collects finished children, noting a failure with its log's last words.
    fn reap(&mut self) {
        let logs = (self.train_log(), self.eval_log());
        for (child, log, what) in
            [(&mut self.trainer, &logs.0, "training"), (&mut self.evaluator, &logs.1, "evaluation")]
        {
            if let Some(Ok(Some(st))) = child.as_mut().map(Child::try_wait) {
                *child = None;
                self.note = Some(if st.success() {
                    (format!("{what} finished"), false)
                } else {
                    (format!("{what} failed: {}", log_tail(log)), true)
                });
            }
        }
    }

    fn view(&self) -> StudentView {
        let runs = self.store.runs().unwrap_or_default();
        let current = runs.last().map(|r| RunProgress {
            run: r.clone(),
            alive: r.status == RunStatus::Running && r.pid.is_some_and(alive),
            steps: read_progress(
                &crate::train::run_dir(&self.ws.dir, r.id).join(crate::train::PROGRESS),
            ),
        });
        let metrics = self.store.metrics().unwrap_or_default();
        let warnings = crate::train::evaluate::all_warnings(&metrics, &runs);
        let mut bases = vec![self.ws.teacher_model()];
        for b in std::iter::once(crate::llm::fetch::default_model())
            .chain(runs.iter().map(|r| PathBuf::from(&r.base_model)))
        {
            if !bases.contains(&b) && b.exists() {
                bases.push(b);
            }
        }
        StudentView {
            rounds: self.store.rounds().unwrap_or_default(),
            bases,
            tasks: self.store.seed_tasks().unwrap_or_default(),
            runs,
            current,
            metrics,
            warnings,
            evaluating: self.evaluator.is_some(),
            eval_progress: self.evaluator.as_ref().and_then(|_| last_segment(&self.eval_log())),
            note: self.note.clone(),
        }
    }
}
