//! A step's sampling: every row with logits draws its next token (in parallel, each with its own
//! RNG), then the tokens are applied in row order (stops, penalties, the cache's commit).

use super::{Owner, Row, Scheduler, PENALTY_WINDOW};
use crate::llm::grammar::state::State;
use crate::llm::local::FinishReason;
use crate::llm::sampling::{sample_with, Rng};
use crate::llm::LlmError;
use std::sync::Mutex;

impl Scheduler {
    /// Samples every row that has logits this step (in parallel), then applies the tokens.
    pub(super) fn sample_all(&mut self, owners: &[Owner], logits: &[f32], vocab: usize) {
        // (request, row, logits row) for every row to sample, the started requests' rows first made.
        let mut jobs: Vec<(usize, usize, usize)> = Vec::new();
        for (li, o) in owners.iter().enumerate() {
            match *o {
                Owner::Row(a, r) => jobs.push((a, r, li)),
                Owner::Start(a) => {
                    let n = self.active[a].req.n.max(1);
                    let mut rows = vec![self.active[a].prompt];
                    for _ in 1..n {
                        match self.engine.kv.fork(self.active[a].prompt) {
                            Some(s) => rows.push(s),
                            None => {
                                self.active[a].failed =
                                    Some(LlmError::Run("the KV cache is full".into()));
                                break;
                            }
                        }
                    }
                    let seed = self.active[a].req.params.seed;
                    let gram =
                        self.active[a].req.constraint.as_ref().map(|c| State::new(&c.grammar));
                    for (i, seq) in rows.into_iter().enumerate() {
                        let rng = Rng::new(seed.wrapping_add(i as u64));
                        self.active[a].rows.push(Row {
                            seq,
                            out: Vec::new(),
                            lps: Vec::new(),
                            rng,
                            done: None,
                            gram: gram.clone(),
                        });
                        jobs.push((a, i, li));
                    }
                    if self.active[a].req.params.max_tokens == 0 || self.active[a].failed.is_some()
                    {
                        for r in self.active[a].rows.iter_mut() {
                            r.done = Some((FinishReason::Length, usize::MAX));
                            self.engine.kv.free_seq(r.seq);
                        }
                        jobs.retain(|j| j.0 != a);
                    }
                }
            }
        }
        let picked: Vec<Mutex<(u32, Option<f32>, Rng)>> =
            jobs.iter().map(|_| Mutex::new((0, None, Rng::new(0)))).collect();
        let isa = self.engine.kernels.isa();
        let (active, stops) = (&self.active, &self.stop_ids);
        self.engine.pool.run(jobs.len(), &|j| {
            let (a, r, li) = jobs[j];
            let (req, row) = (&active[a].req, &active[a].rows[r]);
            let mut seen: Vec<u32> = req.ids.iter().chain(&row.out).copied().collect();
            seen.drain(..seen.len().saturating_sub(PENALTY_WINDOW));
            let mut rng = row.rng.clone();
            let row_logits = &logits[li * vocab..(li + 1) * vocab];
            let picked_now = match (&req.constraint, &row.gram) {
                (Some(c), Some(st)) => {
                    // Only what the grammar allows; the end of turn only when the text is whole.
                    let mut allowed = c.table.allowed(&c.grammar, st);
                    if st.accepting(&c.grammar) || allowed.is_empty() {
                        allowed.extend(stops.iter().copied().filter(|&t| (t as usize) < vocab));
                    }
                    let mut masked = vec![f32::NEG_INFINITY; vocab];
                    for &t in &allowed {
                        masked[t as usize] = row_logits[t as usize];
                    }
                    let (tok, lp) = sample_with(isa, &masked, &seen, &req.params, &mut rng);
                    // A forced token says nothing of the model's confidence: no log-probability.
                    (tok, (allowed.len() > 1).then_some(lp))
                }
                _ => {
                    let (tok, lp) = sample_with(isa, row_logits, &seen, &req.params, &mut rng);
                    (tok, Some(lp))
                }
            };
            *picked[j].lock().unwrap_or_else(|e| e.into_inner()) =
                (picked_now.0, picked_now.1, rng);
        });
        for ((a, r, _), p) in jobs.into_iter().zip(picked) {
            let (tok, lp, rng) = p.into_inner().unwrap_or_else(|e| e.into_inner());
            self.apply(a, r, tok, lp, rng);
        }
    }

    /// Appends a sampled token to a row and ends the row when it is done.
    fn apply(&mut self, a: usize, r: usize, tok: u32, lp: Option<f32>, rng: Rng) {
        let stop = self.stop_ids.contains(&tok);
        let act = &mut self.active[a];
        let (p, ignore) = (&act.req.params, act.req.ignore_eos);
        let row = &mut act.rows[r];
        row.rng = rng;
        if stop && !ignore {
            row.done = Some((FinishReason::Stop, usize::MAX));
        } else {
            row.out.push(tok);
            row.lps.extend(lp);
            if let (Some(c), Some(st)) = (&act.req.constraint, row.gram.as_mut()) {
                let text = c.table.text.get(tok as usize).cloned().flatten().unwrap_or_default();
                st.feed_str(&c.grammar, &text);
                if st.finished(&c.grammar) {
                    row.done = Some((FinishReason::Stop, usize::MAX));
                }
            }
            if !p.stop.is_empty() {
                if let Ok(text) = self.tokenizer.decode(&row.out, false) {
                    if let Some(at) = p.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                        row.done = Some((FinishReason::Stop, at));
                    }
                }
            }
            if row.done.is_none() && row.out.len() >= p.max_tokens {
                row.done = Some((FinishReason::Length, usize::MAX));
            }
        }
        if row.done.is_some() {
            let seq = row.seq;
            self.engine.kv.free_seq(seq);
        }
    }
}
