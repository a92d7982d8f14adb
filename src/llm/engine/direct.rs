//! Driving the engine directly, without the scheduler: a model file loaded into an [`Engine`],
//! the logits of a token sequence computed from scratch (tests compare them with other ways of
//! computing the same positions), and the timing benchmarks run.

use super::forward::{Engine, Pos, Timing};
use super::kernels::Kernels;
use super::model::Weights;
use super::server::Measured;
use super::Isa;
use candle_core::quantized::gguf_file;
use std::path::Path;

fn greedy(l: &[f32]) -> u32 {
    (0..l.len()).fold(0, |b, i| if l[i] > l[b] { i } else { b }) as u32
}

impl Engine {
    /// A GGUF file's model on `isa` with `threads` threads and a cache of `kv_mb` MB.
    pub fn open(path: &Path, isa: Isa, threads: usize, kv_mb: usize) -> Result<Engine, String> {
        let kernels = Kernels::new(isa)?;
        let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let ct =
            gguf_file::Content::read(&mut f).map_err(|e| format!("{}: {e}", path.display()))?;
        let w = Weights::from_gguf(&ct, &mut f).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Engine::new(w, kernels, threads, kv_mb << 20))
    }

    /// A new sequence holding `ids`, computed in passes of at most `chunk` positions, its start
    /// taken from the cache's index when `reuse`. Returns the sequence and the logits after each
    /// pass's last position.
    pub fn run_prompt(
        &mut self,
        ids: &[u32],
        chunk: usize,
        reuse: bool,
    ) -> Result<(usize, Vec<Vec<f32>>), String> {
        let seq = self.kv.new_seq();
        let from = if reuse { self.kv.reuse(seq, ids) } else { 0 };
        let mut out = Vec::new();
        for start in (from..ids.len()).step_by(chunk.max(1)) {
            let part = &ids[start..start.saturating_add(chunk.max(1)).min(ids.len())];
            let slots = self.kv.append(seq, part).ok_or("the KV cache is full")?;
            let ps: Vec<Pos> = part
                .iter()
                .zip(slots)
                .enumerate()
                .map(|(j, (&id, (block, slot)))| Pos {
                    seq,
                    pos: start + j,
                    id,
                    block,
                    slot,
                    logits: j + 1 == part.len(),
                })
                .collect();
            out.push(self.forward(&ps)?.to_vec());
            self.kv.commit(seq);
        }
        Ok((seq, out))
    }

    /// The logits after the last of `ids`, computed from scratch in one pass.
    pub fn last_logits(&mut self, ids: &[u32]) -> Result<Vec<f32>, String> {
        let (seq, mut out) = self.run_prompt(ids, usize::MAX, false)?;
        self.kv.free_seq(seq);
        out.pop().ok_or_else(|| "no positions".into())
    }

    /// Engine timing for benchmarks: `ids` computed from an empty cache, then `steps` greedy
    /// steps of `k` rows, never stopping early.
    pub fn measure(&mut self, ids: &[u32], k: usize, steps: usize) -> Result<Measured, String> {
        let full = || "the KV cache is full".to_string();
        let vocab = self.w.cfg.vocab;
        let t0 = std::time::Instant::now();
        let (seq, logits) = self.run_prompt(ids, usize::MAX, false)?;
        let first = logits.last().map_or(0, |l| greedy(l));
        let prompt_s = t0.elapsed().as_secs_f64();
        let mut rows = vec![seq];
        for _ in 1..k.max(1) {
            rows.push(self.kv.fork(seq).ok_or_else(full)?);
        }
        let mut next = vec![first; rows.len()];
        self.timing = Timing::default();
        let t1 = std::time::Instant::now();
        let mut step = || -> Result<(), String> {
            let mut ps = Vec::with_capacity(rows.len());
            for (&s, &id) in rows.iter().zip(&next) {
                let pos = self.kv.seq(s).tokens.len();
                let (block, slot) = self.kv.append(s, &[id]).ok_or_else(full)?[0];
                ps.push(Pos { seq: s, pos, id, block, slot, logits: true });
            }
            next = self.forward(&ps)?.chunks_exact(vocab).map(greedy).collect();
            Ok(())
        };
        let result = (0..steps).try_for_each(|_| step());
        let decode_s = t1.elapsed().as_secs_f64();
        for s in rows {
            self.kv.free_seq(s);
        }
        result.map(|()| Measured { prompt_s, decode_s, decode: self.timing })
    }
}
