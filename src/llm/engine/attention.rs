//! Causal attention over the block cache. A unit takes one KV head (its group of query heads)
//! and a set of runs (consecutive positions of one sequence each); runs that share cache blocks
//! (the k rows of one prompt, a prompt's chunks) read and convert each shared block once.
//!
//! A query's result is computed the same way whatever unit it is in: its scores position by
//! position, then the softmax over exactly its positions, then the values added in position
//! order. So a prompt's positions give the same numbers computed in one pass, in chunks, or
//! alongside other sequences, and a decoded position the same as if its sequence ran alone.

use super::forward::Pos;
use super::kernels::Kernels;
use super::kv::{KvRaw, BLOCK};
use super::model::Config;
use super::ops::Out;
use super::vmath;
use std::cell::RefCell;

/// A run of consecutive positions of one sequence (at most 16), and its cache blocks.
pub struct Run {
    pub start: usize,
    pub end: usize,
    pub table: Vec<u32>,
}

thread_local! {
    /// Scores, one block of keys or values as f32, and each query head's softmax divisor.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// What attention reads and writes in one layer.
pub struct Ctx<'a> {
    pub k: Kernels,
    pub cfg: &'a Config,
    pub raw: KvRaw,
    pub layer: usize,
    pub ps: &'a [Pos],
    /// Queries, `[positions × hidden]`, rope applied.
    pub q: &'a [f32],
    /// The output, `[positions × hidden]`.
    pub out: Out<f32>,
}

/// Groups `runs` into units: runs of sequences that start with the same block go together (in
/// `parts` interleaved pieces, so the later, longer runs of a prompt spread over the pieces).
pub fn units(runs: &[Run], threads: usize, heads: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Option<u32>, Vec<usize>)> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let first = r.table.first().copied();
        match groups.iter_mut().find(|(f, _)| first.is_some() && *f == first) {
            Some((_, g)) => g.push(i),
            None => groups.push((first, vec![i])),
        }
    }
    let want = (threads * 4).div_ceil(heads.max(1)).max(1);
    let mut out = Vec::new();
    for (_, g) in groups {
        let parts = (want * g.len()).div_ceil(runs.len()).clamp(1, g.len());
        for p in 0..parts {
            out.push(g.iter().skip(p).step_by(parts).copied().collect());
        }
    }
    out
}

/// One distinct cache block at one index, and the queries (index, row, positions used) that
/// read it.
struct Use {
    b: usize,
    id: u32,
    lim: usize,
    queries: Vec<(usize, usize, usize)>,
}

/// Attention for KV head `h` of the positions of `runs` (indices into `all`).
pub fn attend(c: &Ctx, h: usize, all: &[Run], runs: &[usize]) {
    let (cfg, k) = (c.cfg, c.k);
    let (g, hd, width) = (cfg.group(), cfg.head_dim, cfg.hidden);
    let scale = 1.0 / (hd as f32).sqrt();
    // (row, position) of every query.
    let queries: Vec<(usize, usize)> =
        runs.iter().flat_map(|&r| (all[r].start..all[r].end).map(|i| (i, c.ps[i].pos))).collect();
    let Some(tmax) = queries.iter().map(|q| q.1 + 1).max() else { return };
    let plan = plan(c, all, runs, tmax.div_ceil(BLOCK));
    // The unit's blocks are likely out of cache (the weights streamed through since the last
    // step): ask for all of them at once, so their reads overlap.
    for u in &plan {
        c.raw.prefetch(u.id, c.layer, h);
    }
    // A row's g query heads (and their outputs) are contiguous.
    let query = |row: usize| &c.q[row * width + h * g * hd..][..g * hd];
    // SAFETY: each (position, query head) of this KV head is written by this unit only.
    let out = |row: usize| unsafe { c.out.slice(row * width + h * g * hd, g * hd) };
    SCRATCH.with(|s| {
        let (scores, buf, inv) = &mut *s.borrow_mut();
        scores.resize(queries.len() * g * tmax, 0.0);
        buf.resize(BLOCK * hd, 0.0);
        inv.resize(queries.len() * g, 0.0);
        for u in &plan {
            // SAFETY: the positions read were written by this layer's projections or earlier.
            unsafe { c.raw.read(k, u.id, c.layer, 0, h, u.lim, buf) };
            for &(qi, row, lim) in &u.queries {
                let s = &mut scores[qi * g * tmax + u.b * BLOCK..];
                vmath::scores_heads(k, query(row), &buf[..lim * hd], scale, s, tmax, lim);
            }
        }
        for (qi, &(row, pos)) in queries.iter().enumerate() {
            for gi in 0..g {
                let s = &mut scores[(qi * g + gi) * tmax..][..pos + 1];
                let m = vmath::max(s);
                inv[qi * g + gi] = 1.0 / vmath::exp_shifted(k, s, m);
            }
            out(row).fill(0.0);
        }
        for u in &plan {
            // SAFETY: as above.
            unsafe { c.raw.read(k, u.id, c.layer, 1, h, u.lim, buf) };
            for &(qi, row, lim) in &u.queries {
                let p = &scores[qi * g * tmax + u.b * BLOCK..];
                vmath::accumulate_heads(k, p, tmax, &buf[..lim * hd], out(row), lim);
            }
        }
        for (qi, &(row, _)) in queries.iter().enumerate() {
            for (gi, o) in out(row).chunks_exact_mut(hd).enumerate() {
                let f = inv[qi * g + gi];
                o.iter_mut().for_each(|v| *v *= f);
            }
        }
    });
}

/// The unit's distinct blocks in position order, each with the queries that read it.
fn plan(c: &Ctx, all: &[Run], runs: &[usize], blocks: usize) -> Vec<Use> {
    let mut plan: Vec<Use> = Vec::new();
    for b in 0..blocks {
        let first = plan.len();
        let mut qi = 0;
        for &r in runs {
            let run = &all[r];
            if let Some(&id) = run.table.get(b) {
                for (j, row) in (run.start..run.end).enumerate() {
                    let lim = (c.ps[row].pos + 1).saturating_sub(b * BLOCK).min(BLOCK);
                    if lim == 0 {
                        continue;
                    }
                    let at = match plan[first..].iter().position(|u| u.id == id) {
                        Some(i) => first + i,
                        None => {
                            plan.push(Use { b, id, lim: 0, queries: Vec::new() });
                            plan.len() - 1
                        }
                    };
                    plan[at].lim = plan[at].lim.max(lim);
                    plan[at].queries.push((qi + j, row, lim));
                }
            }
            qi += run.end - run.start;
        }
    }
    plan
}
