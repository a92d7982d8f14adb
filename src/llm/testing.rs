//! Test fixtures: a tiny random-initialised llama written as a real GGUF file, so tests run the
//! same loading and generation code as the real model, in milliseconds. Never a default path.

use super::sampling::Rng;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::path::Path;

/// What to put in the tiny file (to test the error paths too).
#[derive(Debug, Clone)]
pub struct TinyOptions {
    pub architecture: String,
    pub tokenizer: bool,
    pub chat_template: Option<String>,
    pub seed: u64,
    /// Store the matrices as Q4_1, like the real SmolLM2 file (norms stay F32).
    pub q4_1: bool,
    /// Store the matrices as Q8_0.
    pub q8_0: bool,
    /// No `output.weight`: the output matrix is the embedding table, as in SmolLM2 (the
    /// vocabulary then gets unused tokens up to a multiple of 16, so it tiles).
    pub tied: bool,
    /// Another shape than the tiny one (the vocabulary is padded with unused tokens up to
    /// `vocab`): benchmarks build a random model of a real model's shape with it.
    pub dims: Option<Dims>,
}

/// A llama's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dims {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub blocks: usize,
    pub vocab: usize,
}

impl Dims {
    /// SmolLM2-135M-Instruct's shape.
    pub const SMOLLM2_135M: Dims =
        Dims { hidden: 576, heads: 9, kv_heads: 3, ffn: 1536, blocks: 30, vocab: 49152 };
}

impl Default for TinyOptions {
    fn default() -> Self {
        TinyOptions {
            architecture: "llama".into(),
            tokenizer: true,
            chat_template: None,
            seed: 1,
            q4_1: false,
            q8_0: false,
            tied: false,
            dims: None,
        }
    }
}

const TINY: Dims = Dims { hidden: 32, heads: 4, kv_heads: 2, ffn: 64, blocks: 2, vocab: 0 };
/// The control tokens, ids 0..3 as in SmolLM2.
pub const SPECIAL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// The vocabulary: the control tokens, then the 256 byte-level symbols, then a few merges.
pub fn vocab() -> (Vec<String>, Vec<String>) {
    let mut tokens: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
    let mut bytes: Vec<char> =
        tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet().into_iter().collect();
    bytes.sort_unstable();
    tokens.extend(bytes.iter().map(|c| c.to_string()));
    let merges = vec!["h e".to_string(), "l l".to_string(), "he ll".to_string()];
    tokens.extend(["he", "ll", "hell"].iter().map(|s| s.to_string()));
    (tokens, merges)
}

fn random(
    shape: &[usize],
    rng: &mut Rng,
    scale: f32,
    dtype: GgmlDType,
) -> candle_core::Result<QTensor> {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| (rng.next_f64() as f32 - 0.5) * scale).collect();
    QTensor::quantize(&Tensor::from_vec(data, shape, &Device::Cpu)?, dtype)
}

fn ones(n: usize) -> candle_core::Result<QTensor> {
    QTensor::quantize(&Tensor::ones(n, candle_core::DType::F32, &Device::Cpu)?, GgmlDType::F32)
}

/// Writes a tiny llama GGUF to `path`.
pub fn write_tiny_llama(path: &Path, opts: &TinyOptions) -> candle_core::Result<()> {
    let (mut tokens, merges) = vocab();
    let d = opts.dims.unwrap_or(TINY);
    let (hidden, heads, kv_heads, ffn) = (d.hidden, d.heads, d.kv_heads, d.ffn);
    let head_dim = hidden / heads;
    let n = tokens.len();
    let want = if opts.tied { n.next_multiple_of(16) } else { n }.max(d.vocab);
    tokens.extend((n..want).map(|i| format!("<|unused_{i}|>")));
    let vocab_size = tokens.len();
    let mut md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(opts.architecture.clone())),
        ("llama.attention.head_count".into(), Value::U32(heads as u32)),
        ("llama.attention.head_count_kv".into(), Value::U32(kv_heads as u32)),
        ("llama.block_count".into(), Value::U32(d.blocks as u32)),
        ("llama.embedding_length".into(), Value::U32(hidden as u32)),
        ("llama.feed_forward_length".into(), Value::U32(ffn as u32)),
        ("llama.rope.dimension_count".into(), Value::U32(head_dim as u32)),
        ("llama.rope.freq_base".into(), Value::F32(10000.0)),
        ("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(1e-5)),
    ];
    if opts.tokenizer {
        let types: Vec<Value> =
            (0..vocab_size).map(|i| Value::I32(if i < SPECIAL.len() { 3 } else { 1 })).collect();
        md.push(("tokenizer.ggml.model".into(), Value::String("gpt2".into())));
        md.push((
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.iter().cloned().map(Value::String).collect()),
        ));
        md.push((
            "tokenizer.ggml.merges".into(),
            Value::Array(merges.into_iter().map(Value::String).collect()),
        ));
        md.push(("tokenizer.ggml.token_type".into(), Value::Array(types)));
        md.push(("tokenizer.ggml.eos_token_id".into(), Value::U32(2)));
    }
    if let Some(t) = &opts.chat_template {
        md.push(("tokenizer.chat_template".into(), Value::String(t.clone())));
    }
    let mut rng = Rng::new(opts.seed);
    let dt = match (opts.q4_1, opts.q8_0) {
        (true, _) => GgmlDType::Q4_1,
        (false, true) => GgmlDType::Q8_0,
        _ => GgmlDType::F32,
    };
    let mut ts: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), random(&[vocab_size, hidden], &mut rng, 1.0, dt)?),
        ("output_norm.weight".into(), ones(hidden)?),
    ];
    if !opts.tied {
        ts.push(("output.weight".into(), random(&[vocab_size, hidden], &mut rng, 1.0, dt)?));
    }
    for b in 0..d.blocks {
        let p = |n: &str| format!("blk.{b}.{n}.weight");
        ts.push((p("attn_norm"), ones(hidden)?));
        ts.push((p("ffn_norm"), ones(hidden)?));
        ts.push((p("attn_q"), random(&[hidden, hidden], &mut rng, 0.5, dt)?));
        ts.push((p("attn_k"), random(&[kv_heads * head_dim, hidden], &mut rng, 0.5, dt)?));
        ts.push((p("attn_v"), random(&[kv_heads * head_dim, hidden], &mut rng, 0.5, dt)?));
        ts.push((p("attn_output"), random(&[hidden, hidden], &mut rng, 0.5, dt)?));
        ts.push((p("ffn_gate"), random(&[ffn, hidden], &mut rng, 0.5, dt)?));
        ts.push((p("ffn_up"), random(&[ffn, hidden], &mut rng, 0.5, dt)?));
        ts.push((p("ffn_down"), random(&[hidden, ffn], &mut rng, 0.5, dt)?));
    }
    let mut f = std::fs::File::create(path)?;
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = ts.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut f, &md_refs, &t_refs)
}
