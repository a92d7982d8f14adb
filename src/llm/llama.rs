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
//! - On CPUs with VNNI int8 dot products, the residual width is zero-padded to a multiple of 256
//!   (576 → 768 for SmolLM2), so every matmul takes candle's repacked Q8_0 kernels, which need
//!   that; they are several times faster than the generic ones even with the extra columns. The
//!   padding is exact: padded weights and activations are zero, and the RMS norms are rescaled.
//!
//! Attention is grouped-query without copying the KV heads: the query heads that share a KV head
//! are laid out as extra rows of one matmul. GGUF `llama` stores q and k permuted for the
//! interleaved rotary embedding, so `rope_i` is the right one here.

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QStorage, QTensor};
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

/// Whether padding the widths to multiples of 256 pays off here: it does when candle's repacked
/// Q8_0 kernels run (x86 with VNNI). `DISTILLERY_PAD=0` / `=1` overrides.
pub fn pad_pays() -> bool {
    match std::env::var("DISTILLERY_PAD").as_deref() {
        Ok("0") => return false,
        Ok("1") => return true,
        _ => {}
    }
    #[cfg(target_arch = "x86_64")]
    {
        (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")) || is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A matrix zero-padded to `rows × cols` (Q8_0 block by block, without requantizing; other
/// types through f32).
fn pad_matrix(t: QTensor, rows: usize, cols: usize) -> Result<QTensor> {
    let (r, c) = t.shape().dims2()?;
    if (r, c) == (rows, cols) {
        return Ok(t);
    }
    if t.dtype() == GgmlDType::Q8_0 && c.is_multiple_of(32) && cols.is_multiple_of(32) {
        const BLOCK: usize = 34;
        let (from, to) = (c / 32 * BLOCK, cols / 32 * BLOCK);
        let data = t.data()?;
        // An all-zero block is the value 0 (scale 0.0 as f16, quants 0).
        let mut out = vec![0u8; rows * to];
        for i in 0..r {
            out[i * to..i * to + from].copy_from_slice(&data[i * from..(i + 1) * from]);
        }
        let storage = QStorage::from_data(std::borrow::Cow::Owned(out), &Device::Cpu, GgmlDType::Q8_0)?;
        return QTensor::new(storage, (rows, cols));
    }
    let d = t.dequantize(&Device::Cpu)?.pad_with_zeros(1, 0, cols - c)?.pad_with_zeros(0, 0, rows - r)?;
    QTensor::quantize(&d, t.dtype())
}

impl Llama {
    /// Builds the model from a GGUF file's content (the tensors are read from `r`), padded when
    /// [`pad_pays`].
    pub fn from_gguf<R: Read + Seek>(ct: &gguf_file::Content, r: &mut R) -> Result<Llama> {
        Self::from_gguf_padded(ct, r, pad_pays())
    }

    /// Like [`Llama::from_gguf`], choosing whether to pad.
    pub fn from_gguf_padded<R: Read + Seek>(ct: &gguf_file::Content, r: &mut R, pad: bool) -> Result<Llama> {
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
        let embed = Arc::new(pad_matrix(embed_q, vocab, width)?);
        let output = match ct.tensor_infos.contains_key("output.weight") {
            true => QMatMul::from_qtensor(pad_matrix(tensor("output.weight")?, vocab, width)?)?,
            false => QMatMul::from_arc(embed.clone())?,
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
            let mut m = |n: &str, rows_to: Option<usize>, cols_to: usize| -> Result<QMatMul> {
                let q = tensor(&format!("blk.{i}.{n}.weight"))?;
                let (rows, _) = q.shape().dims2()?;
                QMatMul::from_qtensor(pad_matrix(q, rows_to.unwrap_or(rows), cols_to)?)
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
            x = self.ffn(l, &(x + l.wo.forward(&self.widen(&y)?)?)?)?;
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
            x = self.ffn(l, &(x + l.wo.forward(&self.widen(&y)?)?)?)?;
        }
        self.logits(&x)?.reshape((b, c.vocab))
    }
}

// Tests: tests/llm_engine.rs (prefix reuse, batched steps and padding against from-scratch logits).
