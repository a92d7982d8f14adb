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
//! - [`critic`] and [`run`]: the critic on any generator, with the rubric file; votes; both
//!   stored as they are made.
//! - [`needs`]: how much a sample needs a human, for the queue's triage sort.
//!
//! Still to come (issue 4): judging in the TUI, near-duplicate checks at accept time, self-refine,
//! telemetry.

pub mod critic;
pub mod extract;
pub mod run;
pub mod verdict;
pub mod verify;
pub mod vote;

/// How much a sample needs a human, most first (the queue's "needs a human" sort).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Needs {
    /// The critic's verdict could not be read.
    Unparsed,
    /// The signals disagree about it: the vote's majority contradicts an output the critic did
    /// not score low (or did not score), or confirms one it scored low.
    Conflict,
    /// The k answers disagree (under 60% for the majority).
    LowAgreement,
    /// No machine signal yet.
    #[default]
    Unjudged,
    Ordinary,
    /// Unanimous, confirmed by the vote and scored 7 or more: last.
    Confident,
}

/// The triage class of a sample from its signals: whether it has a verdict, the latest score
/// (`None` when unparsed), the vote's agreement and whether its own output agrees.
pub fn needs(judged: bool, score: Option<f32>, agreement: Option<f32>, agrees: Option<bool>) -> Needs {
    let high = score.is_some_and(|s| s >= 7.0);
    let low = score.is_some_and(|s| s <= 4.0);
    match (judged, score, agreement, agrees) {
        (true, None, ..) => Needs::Unparsed,
        (_, _, _, Some(false)) if !low => Needs::Conflict,
        (_, _, _, Some(true)) if low => Needs::Conflict,
        (_, _, Some(a), _) if a < 0.6 => Needs::LowAgreement,
        (false, _, None, _) => Needs::Unjudged,
        (_, _, Some(a), Some(true)) if a >= 1.0 && high => Needs::Confident,
        _ => Needs::Ordinary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triage_puts_conflicts_and_doubt_first() {
        assert_eq!(needs(true, None, Some(1.0), Some(true)), Needs::Unparsed);
        assert_eq!(needs(true, Some(9.0), Some(0.8), Some(false)), Needs::Conflict, "high score, contradicted by the vote");
        assert_eq!(needs(true, Some(2.0), Some(1.0), Some(true)), Needs::Conflict, "low score, confirmed by the vote");
        assert_eq!(needs(false, None, Some(0.8), Some(false)), Needs::Conflict, "no verdict, contradicted by the vote");
        assert_eq!(needs(true, Some(2.0), Some(0.8), Some(false)), Needs::Ordinary, "both say it is wrong");
        assert_eq!(needs(true, Some(6.0), Some(0.4), Some(true)), Needs::LowAgreement);
        assert_eq!(needs(false, None, None, None), Needs::Unjudged);
        assert_eq!(needs(true, Some(8.0), Some(1.0), Some(true)), Needs::Confident);
        assert_eq!(needs(true, Some(8.0), Some(0.8), Some(true)), Needs::Ordinary);
        assert_eq!(needs(true, Some(6.0), None, None), Needs::Ordinary);
        let mut order = [Needs::Confident, Needs::Ordinary, Needs::Unjudged, Needs::LowAgreement, Needs::Conflict, Needs::Unparsed];
        order.sort();
        assert_eq!(order, [Needs::Unparsed, Needs::Conflict, Needs::LowAgreement, Needs::Unjudged, Needs::Ordinary, Needs::Confident]);
    }
}
