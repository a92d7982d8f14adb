//! Curator policies: how a headless round decides its candidates. Each decision is stored as an
//! automatic event (session `policy NAME`), undoable and left out of critic–human agreement,
//! exactly like the judge's automatic accept.
//!
//! - `accept-all`: every candidate (training on unchecked teacher output, the baseline).
//! - `verified`: accepts what passes every check of its task (the reference answer it carries,
//!   the workspace's verifiers, the automatic ones) and rejects the rest.
//! - `voted`: accepts a candidate whose answer is the vote's winner with at least 60% of the
//!   answers; rejects the rest (a candidate without a vote stays undecided).
//! - `reference-fix`: `verified`, except that a wrong answer that has a reference is edited to
//!   it, as a curator fixing it would (samples without a reference: as `verified`).

use crate::judge::verify::{reference_of, Check};
use crate::store::{Decision, DecisionKind, SampleDetail, Store, StoreError};

/// The share of a vote the `voted` policy needs.
pub const MIN_AGREEMENT: f32 = 0.6;

/// A curator policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    AcceptAll,
    Verified,
    Voted,
    ReferenceFix,
}

impl Policy {
    pub const ALL: [Policy; 4] =
        [Policy::AcceptAll, Policy::Verified, Policy::Voted, Policy::ReferenceFix];

    pub fn name(self) -> &'static str {
        match self {
            Policy::AcceptAll => "accept-all",
            Policy::Verified => "verified",
            Policy::Voted => "voted",
            Policy::ReferenceFix => "reference-fix",
        }
    }

    /// The session its decisions are stored under.
    pub fn session(self) -> String {
        format!("policy {}", self.name())
    }

    /// Whether it needs the judge's vote.
    pub fn needs_votes(self) -> bool {
        self == Policy::Voted
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        Policy::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let all: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
            format!("unknown policy {s:?} (policies: {})", all.join(", "))
        })
    }
}

/// What a policy decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Decided {
    pub accepted: usize,
    pub rejected: usize,
    pub edited: usize,
    pub undecided: usize,
}

/// What `policy` decides about one sample, given its checks and its vote (agrees with the
/// winner, the winner's share); None leaves it undecided.
pub fn decision(
    policy: Policy,
    d: &SampleDetail,
    checks: &[Check],
    vote: Option<(Option<bool>, f32)>,
) -> Option<DecisionKind> {
    let passes = checks.iter().all(|c| c.passed != Some(false));
    match policy {
        Policy::AcceptAll => Some(DecisionKind::Accept),
        Policy::Verified => Some(if passes { DecisionKind::Accept } else { DecisionKind::Reject }),
        Policy::Voted => vote.map(|(agrees, share)| {
            if agrees == Some(true) && share >= MIN_AGREEMENT {
                DecisionKind::Accept
            } else {
                DecisionKind::Reject
            }
        }),
        Policy::ReferenceFix => {
            let wrong = checks.iter().any(|c| c.passed == Some(false));
            match reference_of(d.provenance.params.as_deref()) {
                Some(r) if wrong && !r.trim().is_empty() => {
                    let mut text = d.current.clone();
                    text.output = r;
                    Some(DecisionKind::Edit(text))
                }
                _ => Some(if passes { DecisionKind::Accept } else { DecisionKind::Reject }),
            }
        }
    }
}

/// Decides the undecided samples among `ids` by `policy`, one automatic event each.
pub fn apply(store: &mut Store, policy: Policy, ids: &[i64]) -> Result<Decided, StoreError> {
    apply_as(store, policy, ids, &policy.session(), true)
}

/// [`apply`] under another session (the outcome benchmark's simulated curator decides by the
/// reference as a person would, `automatic` false).
///
/// `reference-fix` keeps one answer per seed question, as a curator looking at a question's
/// answers would: the right ones are accepted, and where none is right the first wrong one is
/// fixed to the reference and the other wrong ones rejected (they would be copies of the fix).
pub fn apply_as(
    store: &mut Store,
    policy: Policy,
    ids: &[i64],
    session: &str,
    automatic: bool,
) -> Result<Decided, StoreError> {
    let mut out = Decided::default();
    let mut planned: Vec<(i64, Option<DecisionKind>)> = Vec::new();
    // Seed questions that already have a right (or fixed) answer.
    let mut covered: std::collections::HashSet<i64> = Default::default();
    let mut details = Vec::new();
    for &id in ids {
        let d = store.sample(id)?;
        if d.status != crate::sample::Status::Pending {
            continue;
        }
        let checks = store.checks_of(&d);
        store.record_checks(id, &d.current.output, &checks)?;
        let vote = store.vote_summary(id)?.map(|v| (v.agrees, v.agreement));
        let kind = decision(policy, &d, &checks, vote);
        if policy == Policy::ReferenceFix && matches!(kind, Some(DecisionKind::Accept)) {
            covered.extend(d.provenance.seed_id);
        }
        details.push((d, kind));
    }
    for (d, kind) in details {
        let kind = match (kind, d.provenance.seed_id) {
            (Some(DecisionKind::Edit(t)), Some(seed)) if policy == Policy::ReferenceFix => {
                if covered.insert(seed) {
                    Some(DecisionKind::Edit(t))
                } else {
                    Some(DecisionKind::Reject)
                }
            }
            (k, _) => k,
        };
        planned.push((d.id, kind));
    }
    for (id, kind) in planned {
        let Some(kind) = kind else {
            out.undecided += 1;
            continue;
        };
        match kind {
            DecisionKind::Accept => out.accepted += 1,
            DecisionKind::Reject => out.rejected += 1,
            _ => out.edited += 1,
        }
        store.decide(&Decision {
            sample_ids: vec![id],
            kind,
            seconds: None,
            session: session.to_owned(),
            curator: session.to_owned(),
            automatic,
            unless_decided_after: None,
        })?;
    }
    Ok(out)
}
