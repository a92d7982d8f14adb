//! A llama-family model's hyper-parameters and weights, read from a GGUF file into the
//! kernels' layout ([`Matrix`]), one tensor at a time (the file's copy of each is dropped once
//! packed).

use super::matrix::{Loaded, Matrix};
use candle_core::quantized::gguf_file;
use candle_core::{Device, Result};
use std::io::{Read, Seek};

/// The hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    /// The residual width (heads × head size).
    pub hidden: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub context: usize,
    pub eps: f32,
    pub rope_base: f32,
}

impl Config {
    /// Query heads per KV head.
    pub fn group(&self) -> usize {
        self.n_head / self.n_kv_head
    }

    /// The width of the keys (and values) of one position.
    pub fn kv_width(&self) -> usize {
        self.n_kv_head * self.head_dim
    }
}

/// One transformer block.
pub struct Layer {
    pub attn_norm: Vec<f32>,
    pub wq: Matrix,
    pub wk: Matrix,
    pub wv: Matrix,
    pub wo: Matrix,
    pub ffn_norm: Vec<f32>,
    pub gate: Matrix,
    pub up: Matrix,
    pub down: Matrix,
}

/// The weights of a llama-family model.
pub struct Weights {
    pub cfg: Config,
    /// The embedding table; None when it is the output matrix (tied weights, one copy).
    pub embed: Option<Matrix>,
    pub layers: Vec<Layer>,
    pub norm: Vec<f32>,
    pub output: Matrix,
    /// Tensors re-quantized to Q8_0 at load (block types the kernels do not read).
    pub requantized: usize,
}

fn md<'a>(ct: &'a gguf_file::Content, key: &str) -> Result<&'a gguf_file::Value> {
    ct.metadata
        .get(key)
        .ok_or_else(|| candle_core::Error::Msg(format!("metadata `{key}` is missing")))
}

/// A 2-D tensor as a [`Matrix`] of `rows` (when given) × `cols`; counts re-quantized ones.
fn load_matrix<R: Read + Seek>(
    ct: &gguf_file::Content,
    r: &mut R,
    name: &str,
    rows: Option<usize>,
    cols: usize,
    requantized: &mut usize,
) -> Result<Matrix> {
    let err = |e: candle_core::Error| candle_core::Error::Msg(format!("tensor `{name}`: {e}"));
    let t = ct.tensor(r, name, &Device::Cpu).map_err(err)?;
    let (m, how) = Matrix::from_qtensor(&t).map_err(err)?;
    let (n, k) = m.dims();
    if k != cols || rows.is_some_and(|want| want != n) {
        let want = rows.map_or("?".into(), |r| r.to_string());
        candle_core::bail!("tensor `{name}` is {n}×{k}, expected {want}×{cols}");
    }
    *requantized += usize::from(how == Loaded::Requantized);
    Ok(m)
}

/// A 1-D tensor of `len` values as f32.
fn load_vector<R: Read + Seek>(
    ct: &gguf_file::Content,
    r: &mut R,
    name: &str,
    len: usize,
) -> Result<Vec<f32>> {
    let err = |e: candle_core::Error| candle_core::Error::Msg(format!("tensor `{name}`: {e}"));
    let t = ct.tensor(r, name, &Device::Cpu).map_err(err)?;
    let v = t.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
    if v.len() != len {
        candle_core::bail!("tensor `{name}` has {} values, expected {len}", v.len());
    }
    Ok(v)
}

impl Weights {
    /// Reads the model from a GGUF file's content (the tensors from `r`).
    pub fn from_gguf<R: Read + Seek>(ct: &gguf_file::Content, r: &mut R) -> Result<Weights> {
        let u = |key: &str| -> Result<usize> { Ok(md(ct, key)?.to_u32()? as usize) };
        let n_head = u("llama.attention.head_count")?;
        let hidden = u("llama.embedding_length")?;
        let n_kv_head = ct
            .metadata
            .get("llama.attention.head_count_kv")
            .map_or(Ok(n_head as u32), |v| v.to_u32())? as usize;
        if n_head == 0
            || n_kv_head == 0
            || hidden % n_head != 0
            || n_head % n_kv_head != 0
            || (hidden / n_head) % 2 != 0
        {
            candle_core::bail!("inconsistent head counts: {n_head} heads, {n_kv_head} KV heads, hidden size {hidden}");
        }
        let head_dim = hidden / n_head;
        let eps = md(ct, "llama.attention.layer_norm_rms_epsilon")?.to_f32()?;
        let rope_base =
            ct.metadata.get("llama.rope.freq_base").map_or(Ok(10_000.0), |v| v.to_f32())?;
        let context =
            ct.metadata.get("llama.context_length").map_or(Ok(4096), |v| v.to_u32())? as usize;
        let n_layer = u("llama.block_count")?;
        let mut requantized = 0;
        let tied = !ct.tensor_infos.contains_key("output.weight");
        let embed = load_matrix(ct, r, "token_embd.weight", None, hidden, &mut requantized)?;
        let vocab = embed.dims().0;
        let (embed, output) = if tied {
            (None, embed)
        } else {
            (
                Some(embed),
                load_matrix(ct, r, "output.weight", Some(vocab), hidden, &mut requantized)?,
            )
        };
        let norm = load_vector(ct, r, "output_norm.weight", hidden)?;
        let kv = n_kv_head * head_dim;
        let mut layers = Vec::with_capacity(n_layer);
        let mut ffn = 0;
        for i in 0..n_layer {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            let q = &mut requantized;
            let attn_norm = load_vector(ct, r, &n("attn_norm"), hidden)?;
            let ffn_norm = load_vector(ct, r, &n("ffn_norm"), hidden)?;
            let gate = load_matrix(ct, r, &n("ffn_gate"), None, hidden, q)?;
            ffn = gate.dims().0;
            layers.push(Layer {
                attn_norm,
                wq: load_matrix(ct, r, &n("attn_q"), Some(hidden), hidden, q)?,
                wk: load_matrix(ct, r, &n("attn_k"), Some(kv), hidden, q)?,
                wv: load_matrix(ct, r, &n("attn_v"), Some(kv), hidden, q)?,
                wo: load_matrix(ct, r, &n("attn_output"), Some(hidden), hidden, q)?,
                ffn_norm,
                gate,
                up: load_matrix(ct, r, &n("ffn_up"), Some(ffn), hidden, q)?,
                down: load_matrix(ct, r, &n("ffn_down"), Some(hidden), ffn, q)?,
            });
        }
        let cfg = Config {
            n_layer,
            n_head,
            n_kv_head,
            head_dim,
            hidden,
            ffn,
            vocab,
            context,
            eps,
            rope_base,
        };
        Ok(Weights { cfg, embed, layers, norm, output, requantized })
    }

    /// The embedding of token `id`.
    pub fn embed_row(&self, id: u32, out: &mut [f32]) -> Result<()> {
        if id as usize >= self.cfg.vocab {
            candle_core::bail!("token id {id} is outside the vocabulary of {}", self.cfg.vocab);
        }
        self.embed.as_ref().unwrap_or(&self.output).row(id as usize, out);
        Ok(())
    }

    /// Bytes of weights one decoding step reads (every layer's matrices and the output).
    pub fn bytes_per_token(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down]
                    .iter()
                    .map(|m| m.bytes())
                    .sum::<usize>()
            })
            .sum();
        layers + self.output.bytes()
    }

    /// The formats of the matrices, for the load report (`"Q4_1 ×210, Q8_0 ×1"`).
    pub fn formats(&self) -> String {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        let mats = self
            .layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down])
            .chain([&self.output])
            .chain(self.embed.as_ref());
        for m in mats {
            match counts.iter_mut().find(|(k, _)| *k == m.kind()) {
                Some((_, n)) => *n += 1,
                None => counts.push((m.kind(), 1)),
            }
        }
        counts.iter().map(|(k, n)| format!("{k} ×{n}")).collect::<Vec<_>>().join(", ")
    }
}
