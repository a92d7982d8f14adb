//! The judge: the machine signals beside every sample.
//!
//! In so far: the parts that need no model, each tested on recorded outputs.
//! - [`verdict`]: reading a critic's verdict (JSON, "Score: N" prose, or unparsed with the raw
//!   text and the reason).
//! - [`extract`]: the final answer in an output, normalised for voting.
//! - [`vote`]: self-consistency over k answers: groups, majority, agreement, and a vote weighted
//!   by each answer's mean token log-probability.
//! - [`verify`]: programmatic verifiers (arithmetic, JSON with keys, regex, exact match).
//! - [`score`]: an answer against a reference (what evaluation and rejection sampling count right).
//!
//! - [`critic`] and [`run`]: the critic on any generator, with the rubric file; votes; both
//!   stored as they are made.
//! - [`needs`]: how much a sample needs a human, for the queue's triage sort.
//!
//! - [`embed`] and [`dedup`]: all-MiniLM-L6-v2 embeddings on candle, and each sample's nearest
//!   seed or accepted sample by ROUGE-L and cosine.

pub mod critic;
pub mod dedup;
pub mod embed;
pub mod extract;
pub mod score;
pub mod verdict;
pub mod verify;
pub mod vote;

/// The optional automatic accept (`[judge.auto_accept]`, off unless the table is there): a sample
/// is accepted, marked automatic and undoable, when the critic scores it at least `min_score`,
/// at least `min_agreement` of the vote gives its answer, its automatic checks pass and it is no
/// near-duplicate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoAccept {
    pub min_score: f32,
    pub min_agreement: f32,
}

impl Default for AutoAccept {
    fn default() -> Self {
        AutoAccept { min_score: 8.0, min_agreement: 1.0 }
    }
}

impl AutoAccept {
    /// Whether the rule accepts a sample with these signals (a vote is required).
    pub fn admits(
        &self,
        score: Option<f32>,
        agreement: Option<f32>,
        agrees: Option<bool>,
        near: bool,
        checks_pass: bool,
    ) -> bool {
        score.is_some_and(|s| s >= self.min_score)
            && agreement.is_some_and(|a| a >= self.min_agreement)
            && agrees == Some(true)
            && !near
            && checks_pass
    }
}

/// How much a sample needs a human, most first (the queue's "needs a human" sort).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Needs {
    /// The critic's verdict could not be read.
    Unparsed,
    /// The signals disagree about it: the vote's majority contradicts an output the critic did
    /// not score low (or did not score), or confirms one it scored low.
    Conflict,
    /// A verifier found it wrong (a stated calculation, JSON, a pattern, a reference answer).
    FailedCheck,
    /// Close to a seed or an accepted sample (ROUGE-L or embedding cosine over the threshold).
    NearDuplicate,
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
/// (`None` when unparsed), the vote's agreement, whether its own output agrees, and whether the
/// judge found it near a seed or an accepted sample.
pub fn needs(
    judged: bool,
    score: Option<f32>,
    agreement: Option<f32>,
    agrees: Option<bool>,
    near: bool,
) -> Needs {
    let high = score.is_some_and(|s| s >= 7.0);
    let low = score.is_some_and(|s| s <= 4.0);
    match (judged, score, agreement, agrees) {
        (true, None, ..) => Needs::Unparsed,
        (_, _, _, Some(false)) if !low => Needs::Conflict,
        (_, _, _, Some(true)) if low => Needs::Conflict,
        _ if near => Needs::NearDuplicate,
        (_, _, Some(a), _) if a < 0.6 => Needs::LowAgreement,
        (false, _, None, _) => Needs::Unjudged,
        (_, _, Some(a), Some(true)) if a >= 1.0 && high => Needs::Confident,
        _ => Needs::Ordinary,
    }
}

/// The class once the verifiers are heard: a failed check comes right after conflicts.
pub fn with_checks(n: Needs, failed: bool) -> Needs {
    if failed && n > Needs::Conflict {
        Needs::FailedCheck
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triage_puts_conflicts_and_doubt_first() {
        assert_eq!(needs(true, None, Some(1.0), Some(true), false), Needs::Unparsed);
        assert_eq!(
            needs(true, Some(9.0), Some(0.8), Some(false), false),
            Needs::Conflict,
            "high score, contradicted by the vote"
        );
        assert_eq!(
            needs(true, Some(2.0), Some(1.0), Some(true), false),
            Needs::Conflict,
            "low score, confirmed by the vote"
        );
        assert_eq!(
            needs(false, None, Some(0.8), Some(false), false),
            Needs::Conflict,
            "no verdict, contradicted by the vote"
        );
        assert_eq!(
            needs(true, Some(2.0), Some(0.8), Some(false), false),
            Needs::Ordinary,
            "both say it is wrong"
        );
        assert_eq!(needs(true, Some(6.0), Some(0.4), Some(true), false), Needs::LowAgreement);
        assert_eq!(needs(false, None, None, None, false), Needs::Unjudged);
        assert_eq!(needs(true, Some(8.0), Some(1.0), Some(true), false), Needs::Confident);
        assert_eq!(needs(true, Some(8.0), Some(0.8), Some(true), false), Needs::Ordinary);
        assert_eq!(needs(true, Some(6.0), None, None, false), Needs::Ordinary);
        let r = AutoAccept::default();
        assert!(r.admits(Some(8.0), Some(1.0), Some(true), false, true));
        assert!(!r.admits(Some(7.5), Some(1.0), Some(true), false, true), "score below the rule");
        assert!(
            !r.admits(Some(9.0), Some(0.8), Some(true), false, true),
            "agreement below the rule"
        );
        assert!(!r.admits(Some(9.0), Some(1.0), None, false, true), "no answer to agree with");
        assert!(!r.admits(Some(9.0), Some(1.0), Some(true), true, true), "a near-duplicate");
        assert!(!r.admits(Some(9.0), Some(1.0), Some(true), false, false), "a failed check");
        assert!(!r.admits(None, Some(1.0), Some(true), false, true), "an unparsed verdict");
        assert_eq!(
            needs(true, Some(9.0), Some(1.0), Some(true), true),
            Needs::NearDuplicate,
            "confident but a near-duplicate"
        );
        assert_eq!(needs(false, None, None, None, true), Needs::NearDuplicate);
        assert_eq!(
            needs(true, Some(9.0), Some(0.8), Some(false), true),
            Needs::Conflict,
            "a conflict comes first"
        );
        let mut order = [
            Needs::Confident,
            Needs::Ordinary,
            Needs::Unjudged,
            Needs::LowAgreement,
            Needs::NearDuplicate,
            Needs::FailedCheck,
            Needs::Conflict,
            Needs::Unparsed,
        ];
        order.sort();
        assert_eq!(
            order,
            [
                Needs::Unparsed,
                Needs::Conflict,
                Needs::FailedCheck,
                Needs::NearDuplicate,
                Needs::LowAgreement,
                Needs::Unjudged,
                Needs::Ordinary,
                Needs::Confident
            ]
        );
        assert_eq!(
            with_checks(Needs::Confident, true),
            Needs::FailedCheck,
            "a failed check outranks a confident verdict"
        );
        assert_eq!(with_checks(Needs::Conflict, true), Needs::Conflict);
        assert_eq!(with_checks(Needs::Confident, false), Needs::Confident);
    }
}

/// A critic's verdict as a revision answers it: its score and rationale.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub score: f32,
    pub rationale: String,
}
