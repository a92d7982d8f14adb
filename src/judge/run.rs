//! Judging the queue: for each undecided sample without a verdict, the critic's verdict and the
//! k answers of a vote, each written as soon as it is made.

use super::critic::{ballots, critique, mean, Critique};
use super::vote::{tally, Vote};
use crate::llm::{Generator, LlmError};
use crate::store::{Candidate, NewJudgement, Store, StoreError, VoteSummary};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a judging run does.
#[derive(Debug, Clone, Default)]
pub struct JudgeOptions {
    /// Answers per vote (0: no vote).
    pub votes: usize,
    /// Samples to judge at most.
    pub limit: usize,
    pub seed: u64,
    pub rubric: String,
    pub rubric_hash: String,
    pub cancel: Arc<AtomicBool>,
}

/// How far a run got.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JudgeProgress {
    pub judged: usize,
    pub unparsed: usize,
    pub tokens: usize,
    pub seconds: f64,
}

impl JudgeProgress {
    /// Samples judged per minute.
    pub fn per_minute(&self) -> f64 {
        self.judged as f64 * 60.0 / self.seconds.max(1e-9)
    }
}

/// What a run reports after each sample: progress, the sample's id, its verdict, its vote.
pub type OnJudged<'a> = dyn FnMut(&JudgeProgress, i64, &Critique, Option<&Vote>) + 'a;

/// Judges up to `o.limit` samples; `on` hears each one.
pub fn judge_pending(
    model: &mut dyn Generator,
    store: &mut Store,
    o: &JudgeOptions,
    on: &mut OnJudged,
) -> Result<JudgeProgress, JudgeError> {
    let start = Instant::now();
    let mut p = JudgeProgress::default();
    let name = model.name();
    for id in store.unjudged(o.limit)? {
        if o.cancel.load(Ordering::Relaxed) {
            break;
        }
        let text = store.sample(id)?.current;
        let c = critique(model, &o.rubric, &text)?;
        let v = &c.verdict;
        let rationale = (!v.rationale.is_empty()).then_some(v.rationale.as_str());
        store.record_judgement(id, &NewJudgement { score: v.score, rationale, raw: &v.raw, judge_model: &name, rubric_hash: &o.rubric_hash })?;
        p.tokens += c.tokens;
        p.unparsed += usize::from(v.score.is_none());
        let vote = if o.votes > 0 {
            let (bs, tokens) = ballots(model, &text, o.votes, o.seed.wrapping_add(id as u64))?;
            p.tokens += tokens;
            let vote = tally(&bs);
            let extracted = |i: usize| vote.groups.iter().find(|g| g.members.contains(&i)).map(|g| g.answer.value.clone());
            let answers: Vec<Candidate> = bs
                .iter()
                .enumerate()
                .map(|(i, b)| Candidate { answer: b.text.clone(), extracted: extracted(i), logprob: mean(&b.logprobs).map(f64::from) })
                .collect();
            let winner = vote.winner().map(|w| w.value.clone());
            let summary = VoteSummary { winner, agreement: vote.agreement() as f32, agrees: vote.agrees_with(&text.output) };
            store.record_votes(id, &answers, &summary, &name)?;
            Some(vote)
        } else {
            None
        };
        p.judged += 1;
        p.seconds = start.elapsed().as_secs_f64();
        on(&p, id, &c, vote.as_ref());
    }
    p.seconds = start.elapsed().as_secs_f64();
    Ok(p)
}
