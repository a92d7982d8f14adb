//! The training loop: batches in a seeded order, gradient accumulation, AdamW with warmup and
//! cosine decay, a checkpoint every N steps, and a resume that continues exactly where the last
//! good checkpoint stopped (the same batches, dropout and optimizer state).

use super::checkpoint::{self, RunState};
use super::data::Example;
use super::model::TrainModel;
use super::optim::{gradients, lr_at, AdamW, AdamWConfig};
use crate::llm::sampling::Rng;
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub lr: f64,
    /// Warmup steps (optimizer steps).
    pub warmup: usize,
    pub epochs: usize,
    pub batch: usize,
    /// Micro-batches per optimizer step.
    pub accum: usize,
    pub seed: u64,
    /// Checkpoint every this many optimizer steps (0: only at the end).
    pub checkpoint_every: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            lr: 2e-4,
            warmup: 2,
            epochs: 2,
            batch: 4,
            accum: 1,
            seed: 1,
            checkpoint_every: 10,
        }
    }
}

/// What the loop reports after each optimizer step.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepReport {
    pub step: usize,
    pub total: usize,
    pub loss: f64,
    pub lr: f64,
    /// Tokens through the model this step (prompt and response, padding left out).
    pub tokens: usize,
    pub tokens_per_s: f64,
    pub seconds_per_step: f64,
    pub eta_s: f64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub steps: usize,
    pub cancelled: bool,
    /// The step a resumed run started from, and the damaged checkpoints it skipped.
    pub resumed_from: Option<usize>,
    pub skipped: Vec<String>,
    pub losses: Vec<(usize, f64)>,
}

/// The micro-batches of every epoch, in order: each epoch's examples shuffled by a generator
/// seeded with the run's seed and the epoch.
pub fn schedule(n: usize, o: &TrainOptions) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for e in 0..o.epochs {
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = Rng::new(o.seed.wrapping_mul(1_000_003).wrapping_add(e as u64));
        for i in (1..n).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        out.extend(order.chunks(o.batch.max(1)).map(<[usize]>::to_vec));
    }
    out
}

/// A padded batch: ids `[b, s-1]`, next-token targets `[b, s-1]`, the response mask, and the
/// real tokens in it.
pub(crate) fn batch(
    examples: &[Example],
    which: &[usize],
) -> candle_core::Result<(Tensor, Tensor, Tensor, usize)> {
    let s = which.iter().map(|&i| examples[i].ids.len()).max().unwrap_or(1).max(2) - 1;
    let (mut ids, mut targets, mut mask) = (Vec::new(), Vec::new(), Vec::new());
    let mut tokens = 0;
    for &i in which {
        let e = &examples[i];
        tokens += e.ids.len();
        for p in 0..s {
            // Right padding: a real token never attends to a later (padded) position.
            ids.push(e.ids.get(p).copied().unwrap_or(0));
            targets.push(e.ids.get(p + 1).copied().unwrap_or(0));
            mask.push(if p + 1 >= e.response_start.max(1) && p + 1 < e.ids.len() {
                1f32
            } else {
                0.0
            });
        }
    }
    let b = which.len();
    let dev = Device::Cpu;
    Ok((
        Tensor::from_vec(ids, (b, s), &dev)?,
        Tensor::from_vec(targets, (b, s), &dev)?,
        Tensor::from_vec(mask, (b, s), &dev)?,
        tokens,
    ))
}

/// A fingerprint of what decides the run's result: a checkpoint of other settings is not resumed.
pub fn fingerprint(model: &TrainModel, o: &TrainOptions, examples: &[Example]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("{:?}|{:?}|{:?}|{:?}", model.shape, model.lora, model.dtype, o).as_bytes());
    for e in examples {
        h.update((e.ids.len() as u64).to_le_bytes());
        h.update(e.response_start.to_le_bytes());
        for id in &e.ids {
            h.update(id.to_le_bytes());
        }
    }
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Trains `model` on `examples`, checkpointing into `dir`; with `resume`, continues from the
/// newest good checkpoint there. `on` hears each optimizer step.
pub fn train(
    model: &mut TrainModel,
    examples: &[Example],
    o: &TrainOptions,
    dir: &Path,
    resume: bool,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(&StepReport),
) -> Result<Finished, String> {
    if examples.is_empty() {
        return Err("nothing to train on".into());
    }
    let sched = schedule(examples.len(), o);
    let accum = o.accum.max(1);
    let total = sched.len().div_ceil(accum);
    let names: Vec<(String, Var)> =
        model.trainable().into_iter().map(|(n, v)| (n, v.clone())).collect();
    let vars: Vec<&Var> = names.iter().map(|(_, v)| v).collect();
    let named: Vec<(String, &Var)> = names.iter().map(|(n, v)| (n.clone(), v)).collect();
    let mut opt = AdamW::new(&vars, AdamWConfig::default()).map_err(|e| e.to_string())?;
    let print = fingerprint(model, o, examples);
    let mut state = RunState {
        step: 0,
        rng: model.rng.state(),
        losses: Vec::new(),
        fingerprint: print.clone(),
    };
    let (mut resumed_from, mut skipped) = (None, Vec::new());
    if resume {
        let (found, bad) = checkpoint::latest(dir)?;
        skipped = bad;
        if let Some(l) = found {
            if l.state.fingerprint != print {
                return Err(format!("{}: made with other settings or data (fingerprint {} ≠ {print}); start a new run instead of --resume", l.path.display(), l.state.fingerprint));
            }
            l.restore(model, &mut opt)?;
            state = l.state.clone();
            resumed_from = Some(state.step);
        }
    }
    let e = |e: candle_core::Error| e.to_string();
    let started = Instant::now();
    let first = state.step;
    for step in state.step..total {
        if cancel.load(Ordering::Relaxed) {
            // What was learned since the last checkpoint is kept: a cancelled run can be resumed
            // or exported.
            if step > first && !(o.checkpoint_every > 0 && step.is_multiple_of(o.checkpoint_every))
            {
                checkpoint::save(dir, model, &opt, &state)?;
            }
            return Ok(Finished {
                steps: step,
                cancelled: true,
                resumed_from,
                skipped,
                losses: state.losses,
            });
        }
        let t0 = Instant::now();
        let micro = &sched[step * accum..((step + 1) * accum).min(sched.len())];
        let batches: Vec<_> = micro
            .iter()
            .map(|m| batch(examples, m))
            .collect::<candle_core::Result<_>>()
            .map_err(e)?;
        let counted: f64 = batches
            .iter()
            .map(|(_, _, m, _)| {
                m.sum_all().and_then(|s| s.to_scalar::<f32>()).unwrap_or(0.0) as f64
            })
            .sum();
        let mut acc: Option<Vec<Tensor>> = None;
        let (mut loss_sum, mut tokens) = (0.0, 0);
        for (ids, targets, mask, n_tok) in &batches {
            tokens += n_tok;
            // A micro-batch with no response token adds nothing; any error is reported.
            let Some((loss, n)) = model.loss(ids, targets, mask).map_err(e)? else { continue };
            // Each micro-batch's mean, weighted by its share of the step's response tokens.
            let loss = (loss * (n as f64 / counted.max(1.0))).map_err(e)?;
            loss_sum += loss
                .to_dtype(candle_core::DType::F64)
                .and_then(|l| l.to_scalar::<f64>())
                .map_err(e)?;
            let g = gradients(&named, &loss.backward().map_err(e)?).map_err(e)?;
            acc = Some(match acc {
                None => g,
                Some(a) => a
                    .iter()
                    .zip(&g)
                    .map(|(a, b)| a + b)
                    .collect::<candle_core::Result<_>>()
                    .map_err(e)?,
            });
        }
        let lr = lr_at(step, total, o.warmup, o.lr);
        if let Some(g) = acc {
            opt.step(&vars, &g, lr).map_err(e)?;
        }
        state.step = step + 1;
        state.rng = model.rng.state();
        state.losses.push((state.step, loss_sum));
        let dt = t0.elapsed().as_secs_f64();
        let per = started.elapsed().as_secs_f64() / (state.step - first) as f64;
        on(&StepReport {
            step: state.step,
            total,
            loss: loss_sum,
            lr,
            tokens,
            tokens_per_s: tokens as f64 / dt.max(1e-9),
            seconds_per_step: dt,
            eta_s: per * (total - state.step) as f64,
        });
        if (o.checkpoint_every > 0 && state.step.is_multiple_of(o.checkpoint_every))
            || state.step == total
        {
            checkpoint::save(dir, model, &opt, &state)?;
        }
    }
    Ok(Finished { steps: total, cancelled: false, resumed_from, skipped, losses: state.losses })
}
