//! The llama forward pass over a batch of positions from any number of sequences: a prompt's
//! chunk, one new token of each row being decoded, or both at once. Every weight matrix is read
//! once per pass for all positions; attention reads each sequence's own cache blocks.
//!
//! Per layer: RMS norm → q, k, v (rope applied and the keys and values written into the cache as
//! each tile is computed) → attention → output projection added to the residual → RMS norm →
//! gate and up side by side (SiLU(gate) · up as each tile is computed) → down projection added
//! to the residual. Logits only for the positions that ask for them.

use super::attention::{attend, units, Ctx, Run};
use super::kernels::{Input, Kernels};
use super::kv::{KvCache, KvType, Layout, SeqId, BLOCK};
use super::matrix::{Matrix, TILE};
use super::model::Weights;
use super::ops::{each_row, each_tile, each_tile_pair, Out};
use super::pool::Pool;
use super::quant::Acts;
use super::vmath;
use std::time::{Duration, Instant};

/// One position to compute: token `id` at `pos` of sequence `seq`, its keys and values going to
/// `slot` of cache block `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub seq: SeqId,
    pub pos: usize,
    pub id: u32,
    pub block: u32,
    pub slot: usize,
    /// Whether the logits after this position are wanted.
    pub logits: bool,
}

#[derive(Default)]
struct Buffers {
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    att: Vec<f32>,
    ffn: Vec<f32>,
    acts: Acts,
    acts_ffn: Acts,
    cos: Vec<f32>,
    sin: Vec<f32>,
    last: Vec<f32>,
    logits: Vec<f32>,
}

/// Where forward passes spent their time (wall time of the calling thread), for benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// The matrix products (with the rope, cache writes, SiLU and residual adds done per tile).
    pub matmul: Duration,
    pub attention: Duration,
    /// Whole passes.
    pub total: Duration,
}

/// The model with its cache and threads.
pub struct Engine {
    pub w: Weights,
    pub kv: KvCache,
    pub pool: Pool,
    pub kernels: Kernels,
    pub timing: Timing,
    inv_freq: Vec<f64>,
    buf: Buffers,
}

fn any_packed(ms: &[&Matrix]) -> bool {
    ms.iter().any(|m| matches!(m, Matrix::Packed(_)))
}

impl Engine {
    /// The engine for `w`: `threads` threads, a cache of at most `kv_bytes` (f16 when the model
    /// has quantized matrices, f32 for float ones).
    pub fn new(w: Weights, kernels: Kernels, threads: usize, kv_bytes: usize) -> Engine {
        let c = &w.cfg;
        let quantized = any_packed(&[&w.output, &w.layers[0].wq, &w.layers[0].down]);
        let ty = if quantized { KvType::F16 } else { KvType::F32 };
        let layout = Layout { layers: c.n_layer, heads: c.n_kv_head, dim: c.head_dim };
        let inv_freq = (0..c.head_dim / 2)
            .map(|i| 1.0 / (c.rope_base as f64).powf(2.0 * i as f64 / c.head_dim as f64))
            .collect();
        let pool = Pool::new(threads, Pool::poll_from_env());
        Engine {
            kv: KvCache::new(ty, layout, kv_bytes),
            w,
            pool,
            kernels,
            timing: Timing::default(),
            inv_freq,
            buf: Buffers::default(),
        }
    }

    /// Computes `ps` (each sequence's positions consecutive and in order, its earlier positions
    /// in the cache, its blocks allocated) and returns the logits of those that ask, in order,
    /// `[count × vocab]`.
    pub fn forward(&mut self, ps: &[Pos]) -> Result<&[f32], String> {
        let start = Instant::now();
        let Engine { w, kv, pool, kernels, timing, inv_freq, buf } = self;
        let (k, c) = (*kernels, &w.cfg);
        let (m, hid, kvw, hd) = (ps.len(), c.hidden, c.kv_width(), c.head_dim);
        if let Some(p) = ps.iter().find(|p| p.pos >= c.context) {
            return Err(format!(
                "the text is {} tokens long, more than the model's context of {}",
                p.pos + 1,
                c.context
            ));
        }
        buf.x.resize(m * hid, 0.0);
        for (i, p) in ps.iter().enumerate() {
            w.embed_row(p.id, &mut buf.x[i * hid..(i + 1) * hid]).map_err(|e| e.to_string())?;
        }
        let half = hd / 2;
        buf.cos.resize(m * half, 0.0);
        buf.sin.resize(m * half, 0.0);
        for (i, p) in ps.iter().enumerate() {
            for (j, f) in inv_freq.iter().enumerate() {
                let (s, co) = (p.pos as f64 * f).sin_cos();
                (buf.cos[i * half + j], buf.sin[i * half + j]) = (co as f32, s as f32);
            }
        }
        let runs = runs(kv, ps);
        let units = units(&runs, pool.active(), c.n_kv_head);
        for b in [&mut buf.h, &mut buf.q, &mut buf.att] {
            b.resize(m * hid, 0.0);
        }
        buf.ffn.resize(m * c.ffn, 0.0);
        let (mut p16, mut p32) = (Vec::new(), Vec::new());
        let raw = kv.raw(&mut p16, &mut p32);
        for (l, lw) in w.layers.iter().enumerate() {
            norm_rows(pool, &buf.x, &lw.attn_norm, c.eps, &mut buf.h, m, hid);
            let qkv = [&lw.wq, &lw.wk, &lw.wv];
            let acts = quantize(pool, k, &buf.h, m, hid, any_packed(&qkv), &mut buf.acts);
            let input = Input { x: &buf.h, acts, k: hid };
            let (q, cos, sin) = (Out::new(&mut buf.q), &buf.cos, &buf.sin);
            let t = Instant::now();
            each_tile(pool, k, &qkv, input, m, &|mi, t, r0, out| {
                let (c0, n) = (t * TILE, [hid, kvw, kvw][mi]);
                for (i, vals) in out.iter().enumerate() {
                    let (row, cols) = (r0 + i, TILE.min(n - c0));
                    let mut v = *vals;
                    if mi < 2 {
                        rope(
                            &mut v[..cols],
                            c0,
                            hd,
                            &cos[row * half..(row + 1) * half],
                            &sin[row * half..(row + 1) * half],
                        );
                    }
                    if mi == 0 {
                        // SAFETY: each tile of each row is written by one unit.
                        unsafe { q.slice(row * hid + c0, cols) }.copy_from_slice(&v[..cols]);
                        continue;
                    }
                    let p = ps[row];
                    let mut col = c0;
                    while col < c0 + cols {
                        let (head, at) = (col / hd, col % hd);
                        let len = (hd - at).min(c0 + cols - col);
                        // SAFETY: the block was allocated for this position; one unit per column.
                        unsafe {
                            raw.write(
                                k,
                                p.block,
                                p.slot,
                                l,
                                mi - 1,
                                head,
                                at,
                                &v[col - c0..col - c0 + len],
                            )
                        };
                        col += len;
                    }
                }
            });
            let t = tick(&mut timing.matmul, t);
            let ctx = Ctx { k, cfg: c, raw, layer: l, ps, q: &buf.q, out: Out::new(&mut buf.att) };
            let heads = c.n_kv_head;
            pool.run(units.len() * heads, &|u| attend(&ctx, u % heads, &runs, &units[u / heads]));
            tick(&mut timing.attention, t);
            let acts = quantize(pool, k, &buf.att, m, hid, any_packed(&[&lw.wo]), &mut buf.acts);
            let t = Instant::now();
            add_product(pool, k, &lw.wo, Input { x: &buf.att, acts, k: hid }, m, &mut buf.x);
            tick(&mut timing.matmul, t);
            norm_rows(pool, &buf.x, &lw.ffn_norm, c.eps, &mut buf.h, m, hid);
            let acts =
                quantize(pool, k, &buf.h, m, hid, any_packed(&[&lw.gate, &lw.up]), &mut buf.acts);
            let (f, fw) = (Out::new(&mut buf.ffn), c.ffn);
            let t = Instant::now();
            each_tile_pair(
                pool,
                k,
                &lw.gate,
                &lw.up,
                Input { x: &buf.h, acts, k: hid },
                m,
                &|t, r0, ga, ua| {
                    let (c0, cols) = (t * TILE, TILE.min(fw - t * TILE));
                    for (i, (g, u)) in ga.iter().zip(ua).enumerate() {
                        // SAFETY: each tile of each row is written by one unit.
                        vmath::silu_mul(k, &g[..cols], &u[..cols], unsafe {
                            f.slice((r0 + i) * fw + c0, cols)
                        });
                    }
                },
            );
            tick(&mut timing.matmul, t);
            let acts =
                quantize(pool, k, &buf.ffn, m, fw, any_packed(&[&lw.down]), &mut buf.acts_ffn);
            let t = Instant::now();
            add_product(pool, k, &lw.down, Input { x: &buf.ffn, acts, k: fw }, m, &mut buf.x);
            tick(&mut timing.matmul, t);
        }
        let want: Vec<usize> = (0..m).filter(|&i| ps[i].logits).collect();
        let n = want.len();
        buf.last.resize(n * hid, 0.0);
        for (j, &i) in want.iter().enumerate() {
            vmath::rms_norm(
                &buf.x[i * hid..(i + 1) * hid],
                &w.norm,
                c.eps,
                &mut buf.last[j * hid..(j + 1) * hid],
            );
        }
        let acts = quantize(pool, k, &buf.last, n, hid, any_packed(&[&w.output]), &mut buf.acts);
        let vocab = c.vocab;
        buf.logits.resize(n * vocab, 0.0);
        let lo = Out::new(&mut buf.logits);
        let t = Instant::now();
        each_tile(
            pool,
            k,
            &[&w.output],
            Input { x: &buf.last, acts, k: hid },
            n,
            &|_, t, r0, out| {
                let (c0, cols) = (t * TILE, TILE.min(vocab - t * TILE));
                for (i, v) in out.iter().enumerate() {
                    // SAFETY: each tile of each row is written by one unit.
                    unsafe { lo.slice((r0 + i) * vocab + c0, cols) }.copy_from_slice(&v[..cols]);
                }
            },
        );
        tick(&mut timing.matmul, t);
        timing.total += start.elapsed();
        Ok(&buf.logits[..n * vocab])
    }
}

/// Adds the time since `t` to `acc`; returns now.
fn tick(acc: &mut Duration, t: Instant) -> Instant {
    let now = Instant::now();
    *acc += now - t;
    now
}

/// Splits the positions into runs of one sequence's consecutive positions (at most 16, so the
/// runs of a long prompt spread over the threads).
fn runs(kv: &KvCache, ps: &[Pos]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for (i, p) in ps.iter().enumerate() {
        let joins = out.last().is_some_and(|r| {
            let prev = ps[r.end - 1];
            prev.seq == p.seq && prev.pos + 1 == p.pos && r.end - r.start < BLOCK
        });
        match out.last_mut() {
            Some(r) if joins => r.end = i + 1,
            _ => out.push(Run { start: i, end: i + 1, table: kv.seq(p.seq).blocks.clone() }),
        }
    }
    out
}

/// Interleaved rotary embedding of the columns `c0..` of one row (pairs `(2i, 2i + 1)` of each
/// head turned by the position's angle `i`), as GGUF's permuted llama weights expect.
fn rope(v: &mut [f32], c0: usize, hd: usize, cos: &[f32], sin: &[f32]) {
    for j in (0..v.len()).step_by(2) {
        let i = ((c0 + j) % hd) / 2;
        let (a, b) = (v[j], v[j + 1]);
        v[j] = a * cos[i] - b * sin[i];
        v[j + 1] = a * sin[i] + b * cos[i];
    }
}

fn norm_rows(pool: &Pool, x: &[f32], w: &[f32], eps: f32, out: &mut [f32], m: usize, width: usize) {
    let o = Out::new(out);
    each_row(pool, m, &|r| {
        // SAFETY: each row is written by one call.
        vmath::rms_norm(&x[r * width..(r + 1) * width], w, eps, unsafe {
            o.slice(r * width, width)
        });
    });
}

/// `x` quantized into `acts` when a packed matrix reads it.
fn quantize<'a>(
    pool: &Pool,
    k: Kernels,
    x: &[f32],
    m: usize,
    width: usize,
    needed: bool,
    acts: &'a mut Acts,
) -> Option<&'a Acts> {
    if !needed {
        return None;
    }
    acts.resize(m, width);
    let b = acts.block_ptrs();
    each_row(pool, m, &|r| {
        for j in 0..width / 32 {
            // SAFETY: row r's blocks are written by this call only.
            unsafe { b.put(k.isa(), r, j, &x[r * width + j * 32..r * width + (j + 1) * 32]) };
        }
    });
    Some(acts)
}

/// `x += input · Wᵀ` (the residual add of the output and down projections).
fn add_product(pool: &Pool, k: Kernels, w: &Matrix, input: Input, m: usize, x: &mut [f32]) {
    let n = w.dims().0;
    let xo = Out::new(x);
    each_tile(pool, k, &[w], input, m, &|_, t, r0, out| {
        let (c0, cols) = (t * TILE, TILE.min(n - t * TILE));
        for (i, v) in out.iter().enumerate() {
            // SAFETY: each tile of each row is written by one unit.
            let dst = unsafe { xo.slice((r0 + i) * n + c0, cols) };
            dst.iter_mut().zip(v).for_each(|(d, v)| *d += v);
        }
    });
}
