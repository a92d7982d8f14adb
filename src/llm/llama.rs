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
//! - The matrices run on our own packed Q8_0 kernel ([`super::packed`]) on CPUs with AVX-512 VNNI:
//!   one copy of the weights, no padding. Elsewhere candle's matmuls run them; on CPUs with only
//!   AVX-VNNI the residual width is then zero-padded to a multiple of 256 (576 → 768 for
//!   SmolLM2), so candle takes its repacked Q8_0 kernels, which need that. The padding is exact:
//!   padded weights and activations are zero, and the RMS norms are rescaled.
//!
//! Attention is grouped-query without copying the KV heads: the query heads that share a KV head
//! are laid out as extra rows of one matmul. GGUF `llama` stores q and k permuted for the
//! interleaved rotary embedding, so `rope_i` is the right one here.

use super::packed::Packed;
use super::weights::{self, pad_matrix, Kernel, Weight};
use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::{DType, Device, Result, Tensor};
use std::io::{Read, Seek};
use std::sync::Arc;

/// The hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    /// The attention width, heads × head size (the model's hidden size).
    pub hidden: usize,
    /// The residual stream's width: `hidden`, or more when padded for faster kernels.
    pub width: usize,
    /// What the attention output is padded to before `attn_output` (`hidden` when unpadded).
    pub wo_width: usize,
    pub vocab: usize,
    pub context: usize,
    pub eps: f32,
    pub rope_base: f32,
}

struct Layer {
    attn_norm: Tensor,
    wq: Weight,
    wk: Weight,
    wv: Weight,
    wo: Weight,
    ffn_norm: Tensor,
    gate: Weight,
    up: Weight,
    down: Weight,
}

/// The weights of a llama-family model.
pub struct Llama {
    pub cfg: Config,
    /// The embedding table; `None` when it is the packed output matrix (tied weights).
    embed: Option<QMatMul>,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Weight,
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
    /// Builds the model from a GGUF file's content (the tensors are read from `r`), for the
    /// kernel [`Kernel::detect`] picks.
    pub fn from_gguf<R: Read + Seek>(ct: &gguf_file::Content, r: &mut R) -> Result<Llama> {
        Self::from_gguf_with(ct, r, Kernel::detect())
    }

    /// Like [`Llama::from_gguf`], for a given kernel.
    pub fn from_gguf_with<R: Read + Seek>(ct: &gguf_file::Content, r: &mut R, kernel: Kernel) -> Result<Llama> {
        let (pad, pack) = (kernel == Kernel::CandlePadded, kernel == Kernel::Packed);
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
        let up256 = |n: usize| if pad { n.div_ceil(256) * 256 } else { n };
        let width = up256(hidden);
        let wo_width = up256(hidden);
        // The norms see zeros in the padding: rescale so they still divide by `hidden`.
        let eps = eps * hidden as f32 / width as f32;
        let norm_scale = (hidden as f64 / width as f64).sqrt();
        let norm_w = |t: QTensor| -> Result<Tensor> { t.dequantize(&cpu)?.pad_with_zeros(0, 0, width - hidden)? * norm_scale };
        let embed_q = tensor("token_embd.weight")?;
        let vocab = embed_q.shape().dims2()?.0;
        let embed_q = pad_matrix(embed_q, vocab, width)?;
        let (embed, output) = if ct.tensor_infos.contains_key("output.weight") {
            (Some(QMatMul::from_qtensor(embed_q)?), Weight::new(pad_matrix(tensor("output.weight")?, vocab, width)?, pack)?)
        } else if let Some(p) = if pack { Packed::new(&embed_q)? } else { None } {
            // Tied: the packed output matrix serves the lookups too, one copy.
            (None, Weight::Packed(p))
        } else {
            let shared = Arc::new(embed_q);
            (Some(QMatMul::from_arc(shared.clone())?), Weight::Candle(QMatMul::from_arc(shared)?))
        };
        let norm = norm_w(tensor("output_norm.weight")?)?;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let ffn_rows = ct
                .tensor_infos
                .get(&format!("blk.{i}.ffn_up.weight"))
                .map(|t| t.shape.dims()[t.shape.rank().saturating_sub(2)])
                .ok_or_else(|| candle_core::Error::Msg(format!("tensor `blk.{i}.ffn_up.weight` is missing")))?;
            let ffn_w = up256(ffn_rows);
            let attn_norm = norm_w(tensor(&format!("blk.{i}.attn_norm.weight"))?)?;
            let ffn_norm = norm_w(tensor(&format!("blk.{i}.ffn_norm.weight"))?)?;
            // (rows, cols) = (outputs, inputs); what meets the residual is padded to `width`.
            let mut m = |n: &str, rows_to: Option<usize>, cols_to: usize| -> Result<Weight> {
                let q = tensor(&format!("blk.{i}.{n}.weight"))?;
                let (rows, _) = q.shape().dims2()?;
                Weight::new(pad_matrix(q, rows_to.unwrap_or(rows), cols_to)?, pack)
            };
            layers.push(Layer {
                attn_norm,
                wq: m("attn_q", None, width)?,
                wk: m("attn_k", None, width)?,
                wv: m("attn_v", None, width)?,
                wo: m("attn_output", Some(width), wo_width)?,
                ffn_norm,
                gate: m("ffn_gate", Some(ffn_w), width)?,
                up: m("ffn_up", Some(ffn_w), width)?,
                down: m("ffn_down", Some(width), ffn_w)?,
            });
        }
        let theta: Vec<f32> = (0..head_dim).step_by(2).map(|i| 1.0 / rope_base.powf(i as f32 / head_dim as f32)).collect();
        let theta = Tensor::new(theta.as_slice(), &cpu)?.reshape((1, head_dim / 2))?;
        let pos = Tensor::arange(0u32, context as u32, &cpu)?.to_dtype(DType::F32)?.reshape((context, 1))?;
        let angles = pos.matmul(&theta)?;
        let cfg = Config { n_layer, n_head, n_kv_head, head_dim, hidden, width, wo_width, vocab, context, eps, rope_base };
        Ok(Llama { cfg, embed, layers, norm, output, cos: angles.cos()?, sin: angles.sin()? })
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

    /// The attention output, zero-padded to the width `wo` takes.
    fn widen(&self, y: &Tensor) -> Result<Tensor> {
        if self.cfg.wo_width == self.cfg.hidden {
            return Ok(y.clone());
        }
        y.pad_with_zeros(candle_core::D::Minus1, 0, self.cfg.wo_width - self.cfg.hidden)
    }

    fn check_room(&self, end: usize) -> Result<()> {
        if end > self.cfg.context {
            candle_core::bail!("the text is {end} tokens long, more than the model's context of {}", self.cfg.context);
        }
        Ok(())
    }

    /// The embeddings of `ids`, `[ids, width]`.
    fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        match (&self.embed, &self.output) {
            (Some(e), _) => e.embedding(&Tensor::new(ids, &Device::Cpu)?),
            (None, Weight::Packed(p)) => {
                let (n, k) = p.dims();
                let mut v = vec![0f32; ids.len() * k];
                for (&id, row) in ids.iter().zip(v.chunks_exact_mut(k)) {
                    if id as usize >= n {
                        candle_core::bail!("token id {id} is outside the vocabulary of {n}");
                    }
                    p.row(id as usize, row);
                }
                Tensor::from_vec(v, (ids.len(), k), &Device::Cpu)
            }
            (None, Weight::Candle(_)) => candle_core::bail!("no embedding table"),
        }
    }

    /// q, k and v of the normed input.
    fn qkv(&self, l: &Layer, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let h = candle_nn::ops::rms_norm(x, &l.attn_norm, self.cfg.eps)?;
        let mut o = weights::forward_many(&[&l.wq, &l.wk, &l.wv], &h)?.into_iter();
        match (o.next(), o.next(), o.next()) {
            (Some(q), Some(k), Some(v)) => Ok((q, k, v)),
            _ => candle_core::bail!("q, k, v: fewer results than matrices"),
        }
    }

    fn ffn(&self, l: &Layer, x: &Tensor) -> Result<Tensor> {
        let h = candle_nn::ops::rms_norm(x, &l.ffn_norm, self.cfg.eps)?;
        let gu = weights::forward_many(&[&l.gate, &l.up], &h)?;
        let act = (gu[0].silu()? * &gu[1])?;
        x + l.down.forward(&act)?
    }

    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.output.forward(&candle_nn::ops::rms_norm(x, &self.norm, self.cfg.eps)?)
    }

    /// Makes `prefix` hold `ids` and returns the logits after its last token (`[vocab]`). The
    /// longest common start with what the cache already holds is kept (at least the last token is
    /// always computed, for its logits).
    pub fn prefill(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<Tensor> {
        // On a pool thread, the matmuls' parallel loops start without waking this thread.
        rayon::scope(|_| self.prefill_here(prefix, ids))
    }

    fn prefill_here(&self, prefix: &mut Prefix, ids: &[u32]) -> Result<Tensor> {
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
        let mut x = self.embed(new)?.unsqueeze(0)?;
        // Causal mask over [new tokens × all tokens], the same for every head of a group.
        let total = keep + s;
        let mask: Vec<f32> = (0..g * s).flat_map(|r| (0..total).map(move |j| if j > keep + r % s { f32::NEG_INFINITY } else { 0.0 })).collect();
        let mask = Tensor::from_vec(mask, (1, 1, g * s, total), &Device::Cpu)?;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        for (l, kv) in self.layers.iter().zip(prefix.kv.iter_mut()) {
            let (q, k, v) = self.qkv(l, &x)?;
            let q = q.reshape((1, s, c.n_head, c.head_dim))?.transpose(1, 2)?;
            let k = k.reshape((1, s, c.n_kv_head, c.head_dim))?.transpose(1, 2)?;
            let v = v.reshape((1, s, c.n_kv_head, c.head_dim))?.transpose(1, 2)?;
            let q = self.rope(&q, keep)?.reshape((1, c.n_kv_head, g * s, c.head_dim))?;
            kv.append(&self.rope(&k, keep)?, &v)?;
            let att = (q.matmul(&kv.keys()?.t()?)? * scale)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&kv.values()?)?.reshape((1, c.n_head, s, c.head_dim))?.transpose(1, 2)?.reshape((1, s, c.hidden))?;
            x = self.ffn(l, &(x + l.wo.forward(&self.widen(&y)?)?)?)?;
        }
        prefix.ids.extend_from_slice(new);
        self.logits(&x.narrow(1, s - 1, 1)?)?.flatten_all()
    }

    /// One decoding step for every row: row `i` reads the shared `prefix`, its own earlier tokens
    /// in `rows`, and the new token `ids[i]`. Returns the logits `[rows, vocab]`.
    pub fn step(&self, prefix: &Prefix, rows: &mut Rows, ids: &[u32]) -> Result<Tensor> {
        rayon::scope(|_| self.step_here(prefix, rows, ids))
    }

    fn step_here(&self, prefix: &Prefix, rows: &mut Rows, ids: &[u32]) -> Result<Tensor> {
        let (b, c) = (rows.batch, &self.cfg);
        if ids.len() != b {
            candle_core::bail!("{} tokens for {b} rows", ids.len());
        }
        let (p, pos) = (prefix.len(), prefix.len() + rows.len());
        self.check_room(pos + 1)?;
        let g = c.n_head / c.n_kv_head;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let mut x = self.embed(ids)?.unsqueeze(1)?;
        for ((l, shared), own) in self.layers.iter().zip(&prefix.kv).zip(rows.kv.iter_mut()) {
            let (q, k, v) = self.qkv(l, &x)?;
            let q = self.rope(&q.reshape((b, c.n_head, 1, c.head_dim))?, pos)?;
            let k = self.rope(&k.reshape((b, c.n_kv_head, 1, c.head_dim))?, pos)?;
            let v = v.reshape((b, c.n_kv_head, 1, c.head_dim))?;
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
            x = self.ffn(l, &(x + l.wo.forward(&self.widen(&y)?)?)?)?;
        }
        self.logits(&x)?.reshape((b, c.vocab))
    }
}

// Tests: tests/llm_engine.rs (prefix reuse, batched steps and padding against from-scratch logits).
