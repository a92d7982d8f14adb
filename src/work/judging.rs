//! Judging the queue: for each undecided sample without a verdict, the critic's verdict, the k
//! answers of a vote and its nearest seed or accepted sample, each written as soon as it is made;
//! then, when the workspace asks for it, the automatic accept.

use crate::judge::critic::{ballots, critique, mean, Critique};
use crate::judge::embed::{EmbedError, Embedder};
use crate::judge::vote::{cluster, tally, Vote};
use crate::judge::AutoAccept;
use crate::llm::{Generator, LlmError};
use crate::store::{
    Candidate, Decision, DecisionKind, NewJudgement, Store, StoreError, VoteSummary,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// How long a judging run keeps the near-duplicate pool before reading it again.
const POOL_TTL: std::time::Duration = std::time::Duration::from_secs(30);

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
    /// Judge these samples (again), whatever their state; None: the undecided ones without a verdict.
    pub only: Option<Vec<i64>>,
    /// Accept what this rule admits, marked automatic (None: never).
    pub auto_accept: Option<AutoAccept>,
}

/// What the judge found about one sample besides the verdict and vote.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extra {
    pub neighbour: Option<crate::judge::dedup::Neighbour>,
    /// Whether the sample's own output gives the vote's winner (None: no vote, or unknown).
    pub agrees: Option<bool>,
    /// The automatic accept, when the rule admitted the sample.
    pub auto: Option<crate::store::Committed>,
    /// The verifiers' results (those of its task and recipe, and the automatic ones).
    pub checks: Vec<crate::judge::verify::Check>,
}

/// How far a run got.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JudgeProgress {
    pub judged: usize,
    pub unparsed: usize,
    /// Samples left unjudged because an endpoint's answer was broken.
    pub failed: usize,
    pub near_duplicates: usize,
    pub auto_accepted: usize,
    pub embedded: usize,
    pub tokens: usize,
    pub seconds: f64,
}

impl JudgeProgress {
    /// Samples judged per minute.
    pub fn per_minute(&self) -> f64 {
        self.judged as f64 * 60.0 / self.seconds.max(1e-9)
    }
}

/// What a run reports after each sample: progress, the sample's id, its verdict, its vote, the rest.
pub type OnJudged<'a> = dyn FnMut(&JudgeProgress, i64, &Critique, Option<&Vote>, &Extra) + 'a;

/// Embeds every seed and not-rejected sample that has no embedding of its current text.
pub fn embed_missing(
    embedder: &Embedder,
    store: &mut Store,
    cancel: &AtomicBool,
) -> Result<usize, JudgeError> {
    let mut done = 0;
    loop {
        let todo = store.unembedded(64)?;
        if todo.is_empty() || cancel.load(Ordering::Relaxed) {
            return Ok(done);
        }
        let texts: Vec<&str> = todo.iter().map(|t| t.text.as_str()).collect();
        let vecs = embedder.embed(&texts)?;
        done += todo.len();
        let items: Vec<_> = todo.into_iter().zip(vecs).collect();
        store.record_embeddings(&items, embedder.name())?;
    }
}

/// What the models said about one sample: the critic's verdict and the vote's answers.
type Said = Result<(Critique, Option<(Vec<crate::judge::vote::Ballot>, usize)>), LlmError>;

/// Judges up to `o.limit` samples; `on` hears each one. With an embedder, seeds and samples are
/// embedded first, so neighbours have a cosine as well as ROUGE-L.
///
/// Several samples are judged at once (the critic and the votes of each on a handle of its own,
/// so the local engine batches them); each is written and reported in order.
pub fn judge_pending(
    model: &mut dyn Generator,
    embedder: Option<&Embedder>,
    store: &mut Store,
    o: &JudgeOptions,
    on: &mut OnJudged,
) -> Result<JudgeProgress, JudgeError> {
    let start = Instant::now();
    let mut p = JudgeProgress::default();
    let name = model.name();
    let ids = match &o.only {
        Some(ids) => ids.clone(),
        None => store.unjudged(o.limit)?,
    };
    let store = std::cell::RefCell::new(store);
    // The pool a sample is compared with (seeds and the accepted set), read again with any new
    // embeddings every POOL_TTL, not per sample: the curator's accepts meanwhile reach it then,
    // and the detail pane and the accept check always compare against the pool of the moment.
    let mut pool: Option<(Vec<crate::judge::dedup::PoolItem>, Instant)> = None;
    let mut failed: Option<JudgeError> = None;
    let mut next = |i: usize| -> Option<Result<crate::store::SampleDetail, StoreError>> {
        ids.get(i).map(|&id| store.borrow().sample(id))
    };
    let work = |m: &mut dyn Generator,
                d: Result<crate::store::SampleDetail, StoreError>|
     -> (Result<crate::store::SampleDetail, StoreError>, Said) {
        let Ok(detail) = &d else { return (d, Err(LlmError::Cancelled)) };
        let said = critique(m, &o.rubric, &detail.current).and_then(|c| {
            let votes = if o.votes > 0 {
                Some(ballots(m, &detail.current, o.votes, o.seed.wrapping_add(detail.id as u64))?)
            } else {
                None
            };
            Ok((c, votes))
        });
        (d, said)
    };
    let mut commit =
        |_: usize, (detail, said): (Result<crate::store::SampleDetail, StoreError>, Said)| {
            let result = detail.map_err(JudgeError::from).and_then(|d| {
                let said = said?;
                let mut store = store.borrow_mut();
                record(&mut store, embedder, o, &name, &mut pool, &mut p, d, said, start, on)
            });
            match result {
                Ok(()) => true,
                Err(JudgeError::Llm(LlmError::Cancelled)) => false,
                Err(JudgeError::Llm(e @ LlmError::Answer { .. })) => {
                    // A broken answer: this sample stays unjudged, the others go on.
                    tracing::warn!("{e}; the sample stays unjudged");
                    p.failed += 1;
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        };
    let width = crate::llm::parallel::width(model, (o.votes + 1).div_ceil(2), 16);
    crate::llm::parallel::run_ordered(model, width, &o.cancel, &mut next, &work, &mut commit);
    if let Some(e) = failed {
        return Err(e);
    }
    p.seconds = start.elapsed().as_secs_f64();
    Ok(p)
}

/// Writes what the judge found about one sample (checks, verdict, vote, neighbour, the
/// automatic accept) and reports it.
#[allow(clippy::too_many_arguments)]
fn record(
    store: &mut Store,
    embedder: Option<&Embedder>,
    o: &JudgeOptions,
    name: &str,
    pool: &mut Option<(Vec<crate::judge::dedup::PoolItem>, Instant)>,
    p: &mut JudgeProgress,
    detail: crate::store::SampleDetail,
    (c, votes): (Critique, Option<(Vec<crate::judge::vote::Ballot>, usize)>),
    start: Instant,
    on: &mut OnJudged,
) -> Result<(), JudgeError> {
    let id = detail.id;
    if pool.as_ref().is_none_or(|(_, at)| at.elapsed() > POOL_TTL) {
        if let Some(e) = embedder {
            p.embedded += embed_missing(e, store, &o.cancel)?;
        }
        *pool = Some((store.dedup_pool()?, Instant::now()));
    }
    let checks = store.checks_of(&detail);
    store.record_checks(id, &detail.current.output, &checks)?;
    let text = detail.current;
    let v = &c.verdict;
    let rationale = (!v.rationale.is_empty()).then_some(v.rationale.as_str());
    store.record_judgement(
        id,
        &NewJudgement {
            score: v.score,
            rationale,
            raw: &v.raw,
            judge_model: name,
            rubric_hash: &o.rubric_hash,
            confidence: c.confidence,
        },
    )?;
    p.tokens += c.tokens;
    p.unparsed += usize::from(v.score.is_none());
    let mut agrees = None;
    let vote = match votes {
        Some((bs, tokens)) => {
            p.tokens += tokens;
            let mut vote = tally(&bs);
            // Long free-text answers: clustered by meaning, and the output compared by embedding.
            let mut meaning = None;
            if let (Some(e), false) = (embedder, vote.unanswered.is_empty()) {
                let mut texts: Vec<&str> =
                    vote.unanswered.iter().map(|&i| bs[i].text.as_str()).collect();
                texts.push(&text.output);
                let mut vecs = e.embed(&texts)?;
                let own = vecs.pop();
                cluster(&mut vote, &bs, &vecs);
                meaning = own.and_then(|o| vote.agrees_in_meaning(&o));
            }
            let extracted = |i: usize| {
                vote.groups.iter().find(|g| g.members.contains(&i)).map(|g| g.answer.value.clone())
            };
            let answers: Vec<Candidate> = bs
                .iter()
                .enumerate()
                .map(|(i, b)| Candidate {
                    answer: b.text.clone(),
                    extracted: extracted(i),
                    logprob: mean(&b.logprobs).map(f64::from),
                })
                .collect();
            let winner = vote.winner().map(|w| w.value.clone());
            agrees = vote.agrees_with(&text.output).or(meaning);
            let summary = VoteSummary { winner, agreement: vote.agreement() as f32, agrees };
            store.record_votes(id, &answers, &summary, name)?;
            Some(vote)
        }
        None => None,
    };
    let neighbour = store.nearest_in(pool.as_ref().map_or(&[][..], |(p, _)| p), id, &text)?;
    if let Some(n) = &neighbour {
        store.record_neighbour(id, n)?;
        p.near_duplicates += usize::from(n.near);
    }
    let near = neighbour.as_ref().is_some_and(|n| n.near);
    let checks_pass = checks.iter().all(|c| c.passed != Some(false));
    let admitted = o.auto_accept.is_some_and(|r| {
        r.admits(v.score, vote.as_ref().map(|v| v.agreement() as f32), agrees, near, checks_pass)
    });
    let auto = if admitted {
        let d = Decision {
            sample_ids: vec![id],
            kind: DecisionKind::Accept,
            seconds: None,
            session: format!("auto-judge {name}"),
            curator: format!("auto-judge {name}"),
            automatic: true,
            unless_decided_after: None,
        };
        p.auto_accepted += 1;
        *pool = None; // the accepted set changed: the next sample compares with this one too
        Some(store.decide(&d)?)
    } else {
        None
    };
    p.judged += 1;
    p.seconds = start.elapsed().as_secs_f64();
    on(p, id, &c, vote.as_ref(), &Extra { neighbour, agrees, auto, checks });
    Ok(())
}
