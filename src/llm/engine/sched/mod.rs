//! Continuous batching: the requests in flight decode together, one forward pass per step for
//! all their rows; a finished row leaves at once and a waiting request joins at the next step,
//! its prompt computed in the same pass as the others' new tokens.
//!
//! - A request is a prompt and `n` rows (the k answers of one prompt share its cache blocks).
//! - Admission: a request joins while the rows stay under `max_rows` and the cache can hold its
//!   prompt and `n × max_tokens` more positions (reserved, so a running row never runs out).
//! - A step takes every running row's next token and up to `chunk` prompt positions.
//! - Row `i` of a request samples with the seed `seed + i`; a row's tokens are the same in any
//!   batch (see `forward`), so a seed gives the same text however many requests run beside it.

mod sample;

use super::forward::{Engine, Pos};
use super::kv::{SeqId, BLOCK};
use crate::llm::local::{Completion, FinishReason};
use crate::llm::sampling::{GenParams, Rng};
use crate::llm::LlmError;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use tokenizers::Tokenizer;

/// How many earlier tokens the repetition penalty looks at (llama.cpp's default).
const PENALTY_WINDOW: usize = 64;

/// A generation asked of the engine.
#[derive(Debug, Clone)]
pub struct Request {
    pub ids: Vec<u32>,
    pub params: GenParams,
    pub n: usize,
    /// Decode past end-of-turn tokens, exactly `max_tokens` per row (benchmarks).
    pub ignore_eos: bool,
    pub cancel: Option<Arc<AtomicBool>>,
    /// Every row writes text of this grammar (its tokens masked at each step).
    pub constraint: Option<Arc<crate::llm::grammar::Constraint>>,
}

/// The answer to a request.
pub type Reply = Result<Vec<Completion>, LlmError>;

struct Row {
    seq: SeqId,
    out: Vec<u32>,
    lps: Vec<f32>,
    rng: Rng,
    done: Option<(FinishReason, usize)>,
    /// Where the row's text stands in the request's grammar.
    gram: Option<crate::llm::grammar::state::State>,
}

struct Active {
    req: Request,
    reply: mpsc::Sender<Reply>,
    /// The prompt's sequence and how many of its positions are computed (prefill).
    prompt: SeqId,
    computed: usize,
    rows: Vec<Row>,
    reserved: usize,
    /// Why it failed mid-step (answered at the end of the step).
    failed: Option<LlmError>,
}

impl Active {
    fn cancelled(&self) -> bool {
        self.req.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    fn prefilling(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Who asked for one row of logits.
enum Owner {
    /// The last prompt position of request `a`: its rows start.
    Start(usize),
    /// Row `r` of request `a`.
    Row(usize, usize),
}

/// The engine with its queue of requests.
pub struct Scheduler {
    pub engine: Engine,
    tokenizer: Tokenizer,
    stop_ids: Vec<u32>,
    waiting: VecDeque<(Request, mpsc::Sender<Reply>)>,
    active: Vec<Active>,
    /// Most rows decoding at once.
    pub max_rows: usize,
    /// Most positions per forward pass.
    pub chunk: usize,
}

impl Scheduler {
    pub fn new(
        engine: Engine,
        tokenizer: Tokenizer,
        stop_ids: Vec<u32>,
        max_rows: usize,
    ) -> Scheduler {
        Scheduler {
            engine,
            tokenizer,
            stop_ids,
            waiting: VecDeque::new(),
            active: Vec::new(),
            max_rows: max_rows.max(1),
            chunk: 512,
        }
    }

    /// Queues a request; its reply goes to `reply` when all its rows are done.
    pub fn submit(&mut self, req: Request, reply: mpsc::Sender<Reply>) {
        self.waiting.push_back((req, reply));
    }

    /// Whether nothing is waiting or running.
    pub fn idle(&self) -> bool {
        self.waiting.is_empty() && self.active.is_empty()
    }

    /// Rows decoding now.
    pub fn rows(&self) -> usize {
        self.active.iter().map(|a| a.req.n.max(1)).sum()
    }

    fn blocks_for(req: &Request) -> usize {
        req.ids.len().div_ceil(BLOCK) + req.n.max(1) * (req.params.max_tokens.div_ceil(BLOCK) + 1)
    }

    fn reserved(&self) -> usize {
        self.active.iter().map(|a| a.reserved).sum()
    }

    /// Moves waiting requests in while there is room, answering at once those that cannot run.
    fn admit(&mut self) {
        while let Some((req, _)) = self.waiting.front() {
            let cfg = &self.engine.w.cfg;
            let bad = if req.ids.is_empty() {
                Some("the prompt is empty".to_string())
            } else if req.ids.len() > cfg.context {
                Some(format!(
                    "the text is {} tokens long, more than the model's context of {}",
                    req.ids.len(),
                    cfg.context
                ))
            } else {
                req.ids
                    .iter()
                    .find(|&&t| t as usize >= cfg.vocab)
                    .map(|t| format!("token id {t} is outside the vocabulary of {}", cfg.vocab))
            };
            if let Some(why) = bad {
                if let Some((_, reply)) = self.waiting.pop_front() {
                    let _ = reply.send(Err(LlmError::Run(why)));
                }
                continue;
            }
            let need = Self::blocks_for(req);
            let room = self.engine.kv.available().saturating_sub(self.reserved());
            if !self.active.is_empty()
                && (self.rows() + req.n.max(1) > self.max_rows || need > room)
            {
                return;
            }
            let Some((req, reply)) = self.waiting.pop_front() else { return };
            let kv = &mut self.engine.kv;
            let prompt = kv.new_seq();
            let computed = kv.reuse(prompt, &req.ids);
            self.active.push(Active {
                req,
                reply,
                prompt,
                computed,
                rows: Vec::new(),
                reserved: need,
                failed: None,
            });
        }
    }

    /// Answers and removes request `i` (its rows' blocks go back to the cache).
    fn finish(&mut self, i: usize, result: Option<LlmError>) {
        let a = self.active.swap_remove(i);
        let kv = &mut self.engine.kv;
        if a.rows.is_empty() {
            kv.free_seq(a.prompt);
        }
        for r in &a.rows {
            if r.done.is_none() {
                kv.free_seq(r.seq);
            }
        }
        let reply = match result {
            Some(e) => Err(e),
            None => a.rows.iter().map(|r| self.completion(&a.req, r)).collect(),
        };
        let _ = a.reply.send(reply);
    }

    fn completion(&self, req: &Request, r: &Row) -> Result<Completion, LlmError> {
        let (finish, cut) = r.done.unwrap_or((FinishReason::Length, usize::MAX));
        let mut text = self
            .tokenizer
            .decode(&r.out, false)
            .map_err(|e| LlmError::Run(format!("decoding: {e}")))?;
        text.truncate(cut.min(text.len()));
        Ok(Completion {
            text,
            tokens: r.out.clone(),
            logprobs: r.lps.clone(),
            finish,
            prompt_tokens: req.ids.len(),
            completion_tokens: r.out.len(),
            reasoning: None,
        })
    }

    /// One step: admit, compute every running row's next token and some prompt positions,
    /// sample, answer what finished. Returns whether anything ran.
    pub fn step(&mut self) -> bool {
        for i in (0..self.active.len()).rev() {
            if self.active[i].cancelled() {
                self.finish(i, Some(LlmError::Cancelled));
            }
        }
        let cancelled = |r: &Request| r.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
        for (_, reply) in self.waiting.iter().filter(|(r, _)| cancelled(r)) {
            let _ = reply.send(Err(LlmError::Cancelled));
        }
        self.waiting.retain(|(r, _)| !cancelled(r));
        self.admit();
        if self.active.is_empty() {
            return false;
        }
        let (ps, owners) = match self.positions() {
            Ok(x) => x,
            Err((i, e)) => {
                self.finish(i, Some(e));
                return true;
            }
        };
        let vocab = self.engine.w.cfg.vocab;
        let logits = match self.engine.forward(&ps) {
            Ok(l) => l.to_vec(),
            Err(e) => {
                for i in (0..self.active.len()).rev() {
                    self.finish(i, Some(LlmError::Run(e.clone())));
                }
                return true;
            }
        };
        let mut seqs: Vec<SeqId> = ps.iter().map(|p| p.seq).collect();
        seqs.dedup();
        for s in seqs {
            self.engine.kv.commit(s);
        }
        self.sample_all(&owners, &logits, vocab);
        for i in (0..self.active.len()).rev() {
            let a = &mut self.active[i];
            if let Some(e) = a.failed.take() {
                self.finish(i, Some(e));
            } else if !a.prefilling() && a.rows.iter().all(|r| r.done.is_some()) {
                self.finish(i, None);
            }
        }
        true
    }

    /// The positions of this step and, for each row of logits, who wants it.
    #[allow(clippy::type_complexity)]
    fn positions(&mut self) -> Result<(Vec<Pos>, Vec<Owner>), (usize, LlmError)> {
        let (mut ps, mut owners) = (Vec::new(), Vec::new());
        let context = self.engine.w.cfg.context;
        let kv = &mut self.engine.kv;
        for (ai, a) in self.active.iter().enumerate() {
            for (ri, r) in a.rows.iter().enumerate().filter(|(_, r)| r.done.is_none()) {
                let (Some(&id), pos) = (r.out.last(), kv.seq(r.seq).tokens.len()) else { continue };
                if pos >= context {
                    return Err((ai, LlmError::Run(format!("the text is {} tokens long, more than the model's context of {context}", pos + 1))));
                }
                let slot = kv
                    .append(r.seq, &[id])
                    .ok_or((ai, LlmError::Run("the KV cache is full".into())))?;
                ps.push(Pos {
                    seq: r.seq,
                    pos,
                    id,
                    block: slot[0].0,
                    slot: slot[0].1,
                    logits: true,
                });
                owners.push(Owner::Row(ai, ri));
            }
        }
        let mut budget = self.chunk.saturating_sub(ps.len()).max(BLOCK);
        for (ai, a) in self.active.iter_mut().enumerate().filter(|(_, a)| a.prefilling()) {
            if budget == 0 {
                break;
            }
            let take = (a.req.ids.len() - a.computed).min(budget);
            let ids = &a.req.ids[a.computed..a.computed + take];
            let slots = kv
                .append(a.prompt, ids)
                .ok_or((ai, LlmError::Run("the KV cache is full".into())))?;
            for (j, (&id, (block, slot))) in ids.iter().zip(slots).enumerate() {
                let pos = a.computed + j;
                let last = pos + 1 == a.req.ids.len();
                ps.push(Pos { seq: a.prompt, pos, id, block, slot, logits: last });
                if last {
                    owners.push(Owner::Start(ai));
                }
            }
            a.computed += take;
            budget -= take;
        }
        Ok((ps, owners))
    }
}
