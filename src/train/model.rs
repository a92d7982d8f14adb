//! A llama-family model for training: the base weights dequantized and frozen, LoRA adapters
//! (`A` `[r, in]`, `B` `[out, r]`, scaled by `alpha / r`) as the only trainable tensors, and a
//! forward whose every op has a backward: our fused ops ([`super::fused`], [`super::attention`],
//! [`super::frozen`]) with their gradients written out, and candle's matmuls and adds for the
//! adapters. (candle's own fast norm, softmax and rope drop gradients silently.) GGUF stores q
//! and k permuted for the interleaved rope, so the interleaved rope is the right one for these
//! weights (as in inference).

use super::attention::CausalAttention;
use crate::llm::sampling::Rng;
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Result, Tensor, Var};
use std::path::Path;

pub use super::target::{gguf_block, LoraConfig, Target};

/// A LoRA adapter on one projection.
pub struct Lora {
    pub a: Var,
    pub b: Var,
    pub scale: f64,
}

/// A frozen projection `[out, in]`, with its adapter when it has one.
pub struct Linear {
    pub w: Tensor,
    pub lora: Option<Lora>,
}

impl Linear {
    /// `x` `[b, s, in]` → `[b, s, out]`. `mask`: the dropout mask for the adapter's input.
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let y = super::frozen::frozen_matmul(x, &self.w)?;
        let Some(l) = &self.lora else { return Ok(y) };
        let xin = match mask {
            Some(m) => x.broadcast_mul(m)?,
            None => x.clone(),
        };
        let delta =
            xin.broadcast_matmul(&l.a.as_tensor().t()?)?.broadcast_matmul(&l.b.as_tensor().t()?)?;
        y + (delta * l.scale)?
    }
}

struct Block {
    attn_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// The shape of the model, from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub hidden: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub eps: f32,
    pub rope_base: f32,
}

/// The model being trained.
pub struct TrainModel {
    pub shape: Shape,
    pub lora: LoraConfig,
    pub dtype: DType,
    embed: Tensor,
    /// The output matrix (the embedding table when tied, as in SmolLM2).
    output: Tensor,
    norm: Tensor,
    blocks: Vec<Block>,
    /// Dropout is drawn from this, so a run (and a resumed run) is reproducible.
    pub rng: Rng,
    /// Dropout on (training) or off (evaluation).
    pub train: bool,
}

impl TrainModel {
    /// Loads a llama-family GGUF, dequantized to `dtype`, with fresh adapters on `lora.targets`.
    pub fn from_gguf(path: &Path, lora: &LoraConfig, dtype: DType) -> Result<TrainModel> {
        let mut f = std::fs::File::open(path)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))?;
        let ct = gguf_file::Content::read(&mut f).map_err(|e| {
            candle_core::Error::Msg(format!("{}: not a GGUF file: {e}", path.display()))
        })?;
        let dev = Device::Cpu;
        let md = |key: &str| {
            ct.metadata.get(key).ok_or_else(|| {
                candle_core::Error::Msg(format!("{}: no `{key}` in the metadata", path.display()))
            })
        };
        let arch = md("general.architecture")?.to_string()?.clone();
        if arch != "llama" {
            candle_core::bail!(
                "{}: architecture {arch:?}; training needs a llama-family model",
                path.display()
            );
        }
        let u = |key: &str| -> Result<usize> { Ok(md(key)?.to_u32()? as usize) };
        let (n_head, hidden, n_layer) = (
            u("llama.attention.head_count")?,
            u("llama.embedding_length")?,
            u("llama.block_count")?,
        );
        let n_kv_head = ct
            .metadata
            .get("llama.attention.head_count_kv")
            .map_or(Ok(n_head as u32), |v| v.to_u32())? as usize;
        let eps = md("llama.attention.layer_norm_rms_epsilon")?.to_f32()?;
        let rope_base =
            ct.metadata.get("llama.rope.freq_base").map_or(Ok(10_000.0), |v| v.to_f32())?;
        let head = Head {
            n_layer,
            n_head,
            n_kv_head,
            hidden,
            eps,
            rope_base,
            tied: !ct.tensor_infos.contains_key("output.weight"),
        };
        Self::build(path, &head, lora, dtype, &mut |name: &str| {
            ct.tensor(&mut f, name, &dev).and_then(|q| q.dequantize(&dev))
        })
    }

    /// Loads `path`: a GGUF file, or a Hugging Face directory.
    pub fn from_path(path: &Path, lora: &LoraConfig, dtype: DType) -> Result<TrainModel> {
        if path.is_dir() {
            Self::from_hf_dir(path, lora, dtype)
        } else {
            Self::from_gguf(path, lora, dtype)
        }
    }

    /// Builds the model from tensors named as in GGUF (`blk.N.attn_q.weight`), already in GGUF
    /// row order, given as f32 by `get`.
    pub(super) fn build(
        path: &Path,
        h: &Head,
        lora: &LoraConfig,
        dtype: DType,
        get: &mut dyn FnMut(&str) -> Result<Tensor>,
    ) -> Result<TrainModel> {
        let dev = Device::Cpu;
        let (n_head, n_kv_head, hidden, n_layer) = (h.n_head, h.n_kv_head, h.hidden, h.n_layer);
        let mut tensor = |name: &str| -> Result<Tensor> {
            get(name).and_then(|t| t.to_dtype(dtype)).map_err(|e| {
                candle_core::Error::Msg(format!("{}: tensor `{name}`: {e}", path.display()))
            })
        };
        let embed = tensor("token_embd.weight")?;
        let vocab = embed.dim(0)?;
        let output = if h.tied { embed.clone() } else { tensor("output.weight")? };
        let norm = tensor("output_norm.weight")?;
        let mut rng = Rng::new(lora.seed);
        let mut blocks = Vec::with_capacity(n_layer);
        let mut ffn = 0;
        for i in 0..n_layer {
            let mut lin = |t: Target| -> Result<Linear> {
                let w = tensor(&format!("blk.{i}.{}.weight", t.gguf()))?;
                let (out, inp) = w.dims2()?;
                let lora = if lora.targets.contains(&t) {
                    // PEFT's default: A from kaiming-uniform (a = √5, bound 1/√in), B zero.
                    let bound = 1.0 / (inp as f64).sqrt();
                    let a: Vec<f64> = (0..lora.rank * inp)
                        .map(|_| (rng.next_f64() * 2.0 - 1.0) * bound)
                        .collect();
                    let a = Tensor::from_vec(a, (lora.rank, inp), &dev)?.to_dtype(dtype)?;
                    let b = Tensor::zeros((out, lora.rank), dtype, &dev)?;
                    Some(Lora {
                        a: Var::from_tensor(&a)?,
                        b: Var::from_tensor(&b)?,
                        scale: lora.alpha / lora.rank as f64,
                    })
                } else {
                    None
                };
                Ok(Linear { w, lora })
            };
            let (q, k, v, o) = (lin(Target::Q)?, lin(Target::K)?, lin(Target::V)?, lin(Target::O)?);
            let (gate, up, down) = (lin(Target::Gate)?, lin(Target::Up)?, lin(Target::Down)?);
            ffn = gate.w.dim(0)?;
            let attn_norm = tensor(&format!("blk.{i}.attn_norm.weight"))?;
            let ffn_norm = tensor(&format!("blk.{i}.ffn_norm.weight"))?;
            blocks.push(Block { attn_norm, q, k, v, o, ffn_norm, gate, up, down });
        }
        if n_head == 0 || n_kv_head == 0 || hidden % n_head != 0 || n_head % n_kv_head != 0 {
            candle_core::bail!("{}: inconsistent head counts: {n_head} heads, {n_kv_head} KV heads, hidden size {hidden}", path.display());
        }
        let shape = Shape {
            n_layer,
            n_head,
            n_kv_head,
            head_dim: hidden / n_head,
            hidden,
            ffn,
            vocab,
            eps: h.eps,
            rope_base: h.rope_base,
        };
        Ok(TrainModel {
            shape,
            lora: lora.clone(),
            dtype,
            embed,
            output,
            norm,
            blocks,
            rng: Rng::new(lora.seed ^ 0x9e37_79b9_7f4a_7c15),
            train: true,
        })
    }

    /// The trainable tensors, named as PEFT names them
    /// (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`), in a fixed order.
    pub fn trainable(&self) -> Vec<(String, &Var)> {
        let mut out = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            for (t, lin) in [
                (Target::Q, &b.q),
                (Target::K, &b.k),
                (Target::V, &b.v),
                (Target::O, &b.o),
                (Target::Gate, &b.gate),
                (Target::Up, &b.up),
                (Target::Down, &b.down),
            ] {
                if let Some(l) = &lin.lora {
                    let base = t.peft(i);
                    out.push((format!("{base}.lora_A.weight"), &l.a));
                    out.push((format!("{base}.lora_B.weight"), &l.b));
                }
            }
        }
        out
    }

    fn dropout_mask(&mut self, shape: (usize, usize, usize)) -> Result<Option<Tensor>> {
        let p = self.lora.dropout as f64;
        if !self.train || p <= 0.0 {
            return Ok(None);
        }
        let n = shape.0 * shape.1 * shape.2;
        let keep = 1.0 / (1.0 - p);
        let m: Vec<f32> =
            (0..n).map(|_| if self.rng.next_f64() < p { 0.0 } else { keep as f32 }).collect();
        Ok(Some(Tensor::from_vec(m, shape, &Device::Cpu)?.to_dtype(self.dtype)?))
    }

    /// The logits `[b, s, vocab]` for token ids `[b, s]` (each row from position 0, causal).
    pub fn forward(&mut self, ids: &Tensor) -> Result<Tensor> {
        let h = self.hidden(ids)?;
        super::frozen::frozen_matmul(&h, &self.output)
    }

    /// The mean cross-entropy of predicting `targets` `[b, s]` where `mask` `[b, s]` is 1, with
    /// the logits computed only at those positions (the output matrix is the largest one).
    /// Returns the loss and the number of positions counted; None, without running the model,
    /// when the mask has no response position (there is nothing to learn from).
    pub fn loss(
        &mut self,
        ids: &Tensor,
        targets: &Tensor,
        mask: &Tensor,
    ) -> Result<Option<(Tensor, usize)>> {
        let (b, s) = ids.dims2()?;
        let Some(idx) = super::loss::response_positions(mask)? else { return Ok(None) };
        let h = self.hidden(ids)?.reshape((b * s, self.shape.hidden))?.index_select(&idx, 0)?;
        let logits = super::frozen::frozen_matmul(&h, &self.output)?;
        let loss = super::loss::cross_entropy_rows(
            &logits,
            &targets.flatten_all()?.index_select(&idx, 0)?,
        )?;
        Ok(Some((loss, idx.dim(0)?)))
    }

    /// The final hidden states `[b, s, hidden]` (after the last norm).
    fn hidden(&mut self, ids: &Tensor) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let sh = self.shape.clone();
        let mut x = self.embed.index_select(&ids.flatten_all()?, 0)?.reshape((b, s, sh.hidden))?;
        for i in 0..self.blocks.len() {
            // A dropout mask only for inputs that feed an adapter.
            let l = &self.blocks[i];
            let adapted = |ls: &[&Linear]| ls.iter().any(|l| l.lora.is_some());
            let need = [
                adapted(&[&l.q, &l.k, &l.v]),
                adapted(&[&l.o]),
                adapted(&[&l.gate, &l.up]),
                adapted(&[&l.down]),
            ];
            let mut mask = |on: bool, width: usize| {
                if on {
                    self.dropout_mask((b, s, width))
                } else {
                    Ok(None)
                }
            };
            let (m_attn, m_o, m_ffn, m_down) = (
                mask(need[0], sh.hidden)?,
                mask(need[1], sh.hidden)?,
                mask(need[2], sh.hidden)?,
                mask(need[3], sh.ffn)?,
            );
            let l = &self.blocks[i];
            let h = super::fused::rms_norm(&x, &l.attn_norm, sh.eps)?;
            let (q, k, v) = (
                l.q.forward(&h, m_attn.as_ref())?,
                l.k.forward(&h, m_attn.as_ref())?,
                l.v.forward(&h, m_attn.as_ref())?,
            );
            let op = CausalAttention {
                n_head: sh.n_head,
                n_kv_head: sh.n_kv_head,
                head_dim: sh.head_dim,
                rope_base: sh.rope_base as f64,
            };
            let y = super::attention::causal_attention(&q, &k, &v, op)?;
            x = (x + l.o.forward(&y, m_o.as_ref())?)?;
            let h = super::fused::rms_norm(&x, &l.ffn_norm, sh.eps)?;
            let act = super::fused::swiglu(
                &l.gate.forward(&h, m_ffn.as_ref())?,
                &l.up.forward(&h, m_ffn.as_ref())?,
            )?;
            x = (x + l.down.forward(&act, m_down.as_ref())?)?;
        }
        super::fused::rms_norm(&x, &self.norm, sh.eps)
    }
}

/// What the loaders read from the model's config.
pub(super) struct Head {
    pub(super) n_layer: usize,
    pub(super) n_head: usize,
    pub(super) n_kv_head: usize,
    pub(super) hidden: usize,
    pub(super) eps: f32,
    pub(super) rope_base: f32,
    pub(super) tied: bool,
}
