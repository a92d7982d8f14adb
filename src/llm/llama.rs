//! Our own llama forward pass on candle's quantized matmuls, shaped for how recipes sample: one
//! prompt, k continuations.
//!
//! - The prompt's keys and values are computed once, into a [`Prefix`] cache, and all k rows read
//!   that one copy; each row keeps its own small cache for the tokens it generated ([`Rows`]).
//! - The k rows decode as one batch, so every weight matrix is read once per step for all rows.
//! - A prompt that starts like the previous one reuses the cached prefix: few-shot recipes send the
//!   same instructions and examples every time, and only the new tail is computed.
//! - Caches are preallocated and grown by doubling; a step writes its keys in place instead of
//!   concatenating the whole cache (candle-transformers' quantized llama copies it every step).
//!
//! Attention is grouped-query without copying the KV heads: the query heads that share a KV head
//! are laid out as extra rows of one matmul. GGUF `llama` stores q and k permuted for the
//! interleaved rotary embedding, so `rope_i` is the right one here.

use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};
use std::io::{Read, Seek};
use std::sync::Arc;

/// The hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub hidden: usize,
    pub vocab: usize,
    pub context: usize,
    pub eps: f32,
    pub rope_base: f32,
}

struct Layer {
    attn_norm: Tensor,
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    ffn_norm: Tensor,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// The weights of a llama-family model.
pub struct Llama {
    pub cfg: Config,
    embed: QMatMul,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
}

/// Keys and values of one layer: `[batch, kv_heads, capacity, head_dim]`, the first `len`
/// positions in use.
struct Kv {
    k: Tensor,
    v: Tensor,
    len: usize,
}

impl Kv {
    fn new(batch: usize, heads: usize, cap: usize, dim: usize) -> Result<Kv> {
        let z = || Tensor::zeros((batch, heads, cap.max(1), dim), DType::F32, &Device::Cpu);
        Ok(Kv { k: z()?, v: z()?, len: 0 })
    }

    fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        let add = k.dim(2)?;
        let cap = self.k.dim(2)?;
        if self.len + add > cap {
            let (b, h, _, d) = self.k.dims4()?;
            let bigger = Kv::new(b, h, (cap * 2).max(self.len + add), d)?;
            if self.len > 0 {
                bigger.k.slice_set(&self.k.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                bigger.v.slice_set(&self.v.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
            }
            self.k = bigger.k;
            self.v = bigger.v;
        }
        self.k.slice_set(&k.contiguous()?, 2, self.len)?;
        self.v.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len += add;
        Ok(())
    }

    fn keys(&self) -> Result<Tensor> {
        self.k.narrow(2, 0, self.len)
    }

    fn values(&self) -> Result<Tensor> {
        self.v.narrow(2, 0, self.len)
    }
}

/// The prompt's cache (batch 1), with the token ids it holds.
pub struct Prefix {
    ids: Vec<u32>,
    kv: Vec<Kv>,
}

impl Prefix {
    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The k rows' caches for their generated tokens.
pub struct Rows {
    kv: Vec<Kv>,
    pub batch: usize,
}

impl Rows {
    /// Tokens generated so far (the same for every row: they step together).
    pub fn len(&self) -> usize {
        self.kv.first().map_or(0, |kv| kv.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn md<'a>(ct: &'a gguf_file::Content, key: &str) -> Result<&'a gguf_file::Value> {
    ct.metadata.get(key).ok_or_else(|| candle_core::Error::Msg(format!("metadata `{key}` is missing")))
}

impl Llama {
    /// Builds the model from a GGUF file's content (the tensors are read from `r`).
    pub fn from_gguf<R: Read + Seek>(ct: &gguf_file::Content, r: &mut R) -> Result<Llama> {
        let u = |key: &str| -> Result<usize> { Ok(md(ct, key)?.to_u32()? as usize) };
        let n_head = u("llama.attention.head_count")?;
        let hidden = u("llama.embedding_length")?;
        let n_kv_head = ct.metadata.get("llama.attention.head_count_kv").map_or(Ok(n_head as u32), |v| v.to_u32())? as usize;
        if n_head == 0 || n_kv_head == 0 || hidden % n_head != 0 || n_head % n_kv_head != 0 {
            candle_core::bail!("inconsistent head counts: {n_head} heads, {n_kv_head} KV heads, hidden size {hidden}");
        }
        let head_dim = hidden / n_head;
        let eps = md(ct, "llama.attention.layer_norm_rms_epsilon")?.to_f32()?;
        let rope_base = ct.metadata.get("llama.rope.freq_base").map_or(Ok(10_000.0), |v| v.to_f32())?;
        let context = ct.metadata.get("llama.context_length").map_or(Ok(4096), |v| v.to_u32())? as usize;
        let n_layer = u("llama.block_count")?;
        let cpu = Device::Cpu;
        let mut tensor = |name: &str| -> Result<QTensor> {
            ct.tensor(r, name, &cpu).map_err(|e| candle_core::Error::Msg(format!("tensor `{name}`: {e}")))
        };
        let embed = Arc::new(tensor("token_embd.weight")?);
        let vocab = embed.shape().dims2()?.0;
        let output = match ct.tensor_infos.contains_key("output.weight") {
            true => QMatMul::from_qtensor(tensor("output.weight")?)?,
            false => QMatMul::from_arc(embed.clone())?,
        };
        let norm = tensor("output_norm.weight")?.dequantize(&cpu)?;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut t = |n: &str| tensor(&format!("blk.{i}.{n}.weight"));
            layers.push(Layer {
                attn_norm: t("attn_norm")?.dequantize(&cpu)?,
                wq: QMatMul::from_qtensor(t("attn_q")?)?,
                wk: QMatMul::from_qtensor(t("attn_k")?)?,
                wv: QMatMul::from_qtensor(t("attn_v")?)?,
                wo: QMatMul::from_qtensor(t("attn_output")?)?,
                ffn_norm: t("ffn_norm")?.dequantize(&cpu)?,
                gate: QMatMul::from_qtensor(t("ffn_gate")?)?,
                up: QMatMul::from_qtensor(t("ffn_up")?)?,
                down: QMatMul::from_qtensor(t("ffn_down")?)?,
            });
        }
        let theta: Vec<f32> = (0..head_dim).step_by(2).map(|i| 1.0 / rope_base.powf(i as f32 / head_dim as f32)).collect();
        let theta = Tensor::new(theta.as_slice(), &cpu)?.reshape((1, head_dim / 2))?;
        let pos = Tensor::arange(0u32, context as u32, &cpu)?.to_dtype(DType::F32)?.reshape((context, 1))?;
        let angles = pos.matmul(&theta)?;
        let cfg = Config { n_layer, n_head, n_kv_head, head_dim, hidden, vocab, context, eps, rope_base };
        Ok(Llama { cfg, embed: QMatMul::from_arc(embed)?, layers, norm, output, cos: angles.cos()?, sin: angles.sin()? })
    }

    /// An empty prompt cache.
    pub fn prefix(&self) -> Result<Prefix> {
        let kv = (0..self.cfg.n_layer).map(|_| Kv::new(1, self.cfg.n_kv_head, 256, self.cfg.head_dim)).collect::<Result<_>>()?;
        Ok(Prefix { ids: Vec::new(), kv })
    }

    /// Empty caches for `batch` rows that will generate about `expect` tokens each.
    pub fn rows(&self, batch: usize, expect: usize) -> Result<Rows> {
        let cap = expect.clamp(1, 64);
        let kv = (0..self.cfg.n_layer).map(|_| Kv::new(batch, self.cfg.n_kv_head, cap, self.cfg.head_dim)).collect::<Result<_>>()?;
        Ok(Rows { kv, batch })
    }

    fn rope(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let s = x.dim(2)?;
        candle_nn::rotary_emb::rope_i(&x.contiguous()?, &self.cos.narrow(0, pos, s)?, &self.sin.narrow(0, pos, s)?)
    }

    fn check_room(&self, end: usize) -> Result<()> {
        if end > self.cfg.context {
            candle_core::bail!("the text is {end} tokens long, more than the model's context of {}", self.cfg.context);
        }
        Ok(())
    }

    fn ffn(&self, l: &Layer, x: &Tensor) -> Result<Tensor> {
        let h = candle_nn::ops::rms_norm(x, &l.ffn_norm, self.cfg.eps)?;
        let act = (l.gate.forward(&h)?.silu()? * l.up.forward(&h)?)?;
        x + l.down.forward(&act)?
    }

    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.output.forward(&candle_nn::ops::rms_norm(x, &self.norm, self.cfg.eps)?)
    }

    /// Makes `prefix` hold `ids` and returns the logits after its last token (`[vocab]`). The
    /// longest common start with what the cache already holds is kept (at least the last token is
    /// always computed, for its logits).
    pub fn prefill(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<Tensor> {
        if ids.is_empty() {
            candle_core::bail!("the prompt is empty");
        }
        self.check_room(ids.len())?;
        let keep = prefix.ids.iter().zip(ids).take_while(|(a, b)| a == b).count().min(ids.len() - 1);
        prefix.ids.truncate(keep);
        prefix.kv.iter_mut().for_each(|kv| kv.len = keep);
        let new = &ids[keep..];
        let (s, c) = (new.len(), &self.cfg);
        let g = c.n_head / c.n_kv_head;
        let mut x = self.embed.embedding(&Tensor::new(new, &Device::Cpu)?)?.unsqueeze(0)?;
        // Causal mask over [new tokens × all tokens], the same for every head of a group.
        let total = keep + s;
        let mask: Vec<f32> = (0..g * s).flat_map(|r| (0..total).map(move |j| if j > keep + r % s { f32::NEG_INFINITY } else { 0.0 })).collect();
        let mask = Tensor::from_vec(mask, (1, 1, g * s, total), &Device::Cpu)?;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        for (l, kv) in self.layers.iter().zip(prefix.kv.iter_mut()) {
            let h = candle_nn::ops::rms_norm(&x, &l.attn_norm, c.eps)?;
            let q = l.wq.forward(&h)?.reshape((1, s, c.n_head, c.head_dim))?.transpose(1, 2)?;
            let k = l.wk.forward(&h)?.reshape((1, s, c.n_kv_head, c.head_dim))?.transpose(1, 2)?;
            let v = l.wv.forward(&h)?.reshape((1, s, c.n_kv_head, c.head_dim))?.transpose(1, 2)?;
            let q = self.rope(&q, keep)?.reshape((1, c.n_kv_head, g * s, c.head_dim))?;
            kv.append(&self.rope(&k, keep)?, &v)?;
            let att = (q.matmul(&kv.keys()?.t()?)? * scale)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&kv.values()?)?.reshape((1, c.n_head, s, c.head_dim))?.transpose(1, 2)?.reshape((1, s, c.hidden))?;
            x = self.ffn(l, &(x + l.wo.forward(&y)?)?)?;
        }
        prefix.ids.extend_from_slice(new);
        self.logits(&x.narrow(1, s - 1, 1)?)?.flatten_all()
    }

    /// One decoding step for every row: row `i` reads the shared `prefix`, its own earlier tokens
    /// in `rows`, and the new token `ids[i]`. Returns the logits `[rows, vocab]`.
    pub fn step(&self, prefix: &Prefix, rows: &mut Rows, ids: &[u32]) -> Result<Tensor> {
        let (b, c) = (rows.batch, &self.cfg);
        if ids.len() != b {
            candle_core::bail!("{} tokens for {b} rows", ids.len());
        }
        let (p, pos) = (prefix.len(), prefix.len() + rows.len());
        self.check_room(pos + 1)?;
        let g = c.n_head / c.n_kv_head;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let mut x = self.embed.embedding(&Tensor::new(ids, &Device::Cpu)?)?.unsqueeze(1)?;
        for ((l, shared), own) in self.layers.iter().zip(&prefix.kv).zip(rows.kv.iter_mut()) {
            let h = candle_nn::ops::rms_norm(&x, &l.attn_norm, c.eps)?;
            let q = self.rope(&l.wq.forward(&h)?.reshape((b, c.n_head, 1, c.head_dim))?, pos)?;
            let k = self.rope(&l.wk.forward(&h)?.reshape((b, c.n_kv_head, 1, c.head_dim))?, pos)?;
            let v = l.wv.forward(&h)?.reshape((b, c.n_kv_head, 1, c.head_dim))?;
            own.append(&k, &v)?;
            // Against the shared prompt: all rows' query heads of a KV head in one matmul.
            let q = q.reshape((b, c.n_kv_head, g, c.head_dim))?;
            let qs = q.transpose(0, 1)?.contiguous()?.reshape((1, c.n_kv_head, b * g, c.head_dim))?;
            let sp = qs.matmul(&shared.keys()?.t()?)?.reshape((c.n_kv_head, b, g, p))?.transpose(0, 1)?;
            let so = q.matmul(&own.keys()?.t()?)?;
            let att = candle_nn::ops::softmax_last_dim(&(Tensor::cat(&[&sp, &so], 3)? * scale)?)?;
            let ap = att.narrow(3, 0, p)?.transpose(0, 1)?.contiguous()?.reshape((1, c.n_kv_head, b * g, p))?;
            let yp = ap.matmul(&shared.values()?)?.reshape((c.n_kv_head, b, g, c.head_dim))?.transpose(0, 1)?;
            let yo = att.narrow(3, p, own.len)?.contiguous()?.matmul(&own.values()?)?;
            let y = (yp + yo)?.reshape((b, 1, c.hidden))?;
            x = self.ffn(l, &(x + l.wo.forward(&y)?)?)?;
        }
        self.logits(&x)?.reshape((b, c.vocab))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (tempfile::TempDir, Llama) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tiny.gguf");
        crate::llm::testing::write_tiny_llama(&p, &Default::default()).unwrap();
        let mut f = std::fs::File::open(&p).unwrap();
        let ct = gguf_file::Content::read(&mut f).unwrap();
        let m = Llama::from_gguf(&ct, &mut f).unwrap();
        (dir, m)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn reused_prefix_and_batched_steps_match_a_full_prompt() {
        let (_d, m) = tiny();
        let ids: Vec<u32> = vec![1, 40, 41, 42, 43, 44, 45, 46, 47, 2, 1, 50, 51];
        let full = m.prefill(&mut m.prefix().unwrap(), &ids).unwrap();
        // The same prompt again, computed from a cache holding its start.
        let mut p = m.prefix().unwrap();
        m.prefill(&mut p, &ids[..8]).unwrap();
        let again = m.prefill(&mut p, &ids).unwrap();
        assert!(max_diff(&full, &again) < 1e-4, "prefix reuse changed the logits by {}", max_diff(&full, &again));
        // A different prompt sharing a start: only the shared part is kept.
        let mut other = ids.clone();
        other[10] = 60;
        let fresh = m.prefill(&mut m.prefix().unwrap(), &other).unwrap();
        let reused = m.prefill(&mut p, &other).unwrap();
        assert!(max_diff(&fresh, &reused) < 1e-4);
        // Three rows stepping from a shared prompt match each row's own full prompt.
        let mut p = m.prefix().unwrap();
        m.prefill(&mut p, &ids[..10]).unwrap();
        let mut rows = m.rows(3, 4).unwrap();
        let next = [ids[10], 70, 71];
        let l1 = m.step(&p, &mut rows, &next).unwrap();
        let then = [ids[11], 72, 73];
        let l2 = m.step(&p, &mut rows, &then).unwrap();
        for (r, (a, b)) in next.iter().zip(then).enumerate() {
            let mut own = ids[..10].to_vec();
            own.push(*a);
            let want1 = m.prefill(&mut m.prefix().unwrap(), &own).unwrap();
            own.push(b);
            let want2 = m.prefill(&mut m.prefix().unwrap(), &own).unwrap();
            assert!(max_diff(&l1.get(r).unwrap(), &want1) < 1e-4, "row {r}, step 1: {}", max_diff(&l1.get(r).unwrap(), &want1));
            assert!(max_diff(&l2.get(r).unwrap(), &want2) < 1e-4, "row {r}, step 2: {}", max_diff(&l2.get(r).unwrap(), &want2));
        }
        // The caches grew past their first capacity without losing anything.
        let long: Vec<u32> = (0..300).map(|i| 3 + (i % 250)).collect();
        let a = m.prefill(&mut m.prefix().unwrap(), &long).unwrap();
        let mut p = m.prefix().unwrap();
        m.prefill(&mut p, &long[..100]).unwrap();
        m.prefill(&mut p, &long[..200]).unwrap();
        let b = m.prefill(&mut p, &long).unwrap();
        assert!(max_diff(&a, &b) < 1e-3);
    }
}
