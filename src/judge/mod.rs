//! The judge: the machine signals beside every sample.
//!
//! In so far: the parts that need no model, each tested on recorded outputs.
//! - [`verdict`]: reading a critic's verdict (JSON, "Score: N" prose, or unparsed with the raw
//!   text and the reason).
//! - [`extract`]: the final answer in an output, normalised for voting.
//! - [`vote`]: self-consistency over k answers: groups, majority, agreement, and a vote weighted
//!   by each answer's mean token log-probability.
//! - [`verify`]: programmatic verifiers (arithmetic, JSON with keys, regex, exact match).
//!
//! Still to come (issue 4): running the critic on the teacher's engine or an endpoint with the
//! rubric file, storing verdicts and votes, the detail pane's display, near-duplicate checks at
//! accept time, triage, self-refine, telemetry and the judge benchmark.

pub mod critic;
pub mod extract;
pub mod run;
pub mod verdict;
pub mod verify;
pub mod vote;
