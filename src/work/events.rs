//! What jobs are and what they report: the types the job runner, the judging job and their
//! callers share.

use crate::recipes::run::Progress;
use crate::recipes::Recipe;
use crate::store::Committed;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// A recipe writes candidates (and the critic judges them when `[judge] auto` is on).
    Generate(Recipe),
    /// The critic judges chosen samples.
    Judge,
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobKind::Generate(r) => f.write_str(r.name()),
            JobKind::Judge => f.write_str("judge"),
        }
    }
}

/// What a job reports.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// The model is loaded and the job runs.
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
    /// The job stopped on an error (or could not start).
    Failed(JobFailure),
    /// The critic is loaded and judges this many samples.
    Judging {
        total: usize,
    },
    Judged(Box<Judged>),
}

/// Why a job did not finish.
#[derive(Debug, Clone, PartialEq)]
pub enum JobFailure {
    /// Another job runs; one at a time.
    Busy,
    /// This workbench cannot run jobs (as in tests).
    Unavailable,
    /// The job failed: what it was, and the error.
    Error { kind: JobKind, message: String },
}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobFailure::Busy => f.write_str("a job is already running; cancel it first"),
            JobFailure::Unavailable => f.write_str("generation jobs are not available here"),
            JobFailure::Error { kind, message } => write!(f, "{kind}: {message}"),
        }
    }
}

/// What the job reports after judging one sample: its new signals for the queue row.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub id: i64,
    pub score: Option<f32>,
    pub agreement: Option<f32>,
    pub needs: crate::judge::Needs,
    /// The automatic accept, when the workspace's rule admitted it.
    pub auto: Option<Committed>,
    pub done: usize,
    pub total: usize,
    pub line: String,
}
