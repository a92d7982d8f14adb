//! A tokenizer built from a GGUF file's own metadata, matching llama.cpp's ids for byte-level BPE
//! models (see MODEL-NOTES: digits split one by one, byte-level without a prefix space, and the
//! control tokens added as special tokens).

use super::LlmError;
use candle_core::quantized::gguf_file::Value;
use std::collections::HashMap;
use std::path::Path;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

fn strings(meta: &HashMap<String, Value>, key: &str, file: &Path) -> Result<Vec<String>, LlmError> {
    let bad = |m: &str| LlmError::model(file, format!("tokenizer metadata `{key}` {m}"));
    match meta.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.to_string().cloned().map_err(|_| bad("holds a non-string")))
            .collect(),
        Some(_) => Err(bad("is not an array")),
        None => Err(bad("is missing")),
    }
}

/// Builds the tokenizer of a GGUF file from `tokenizer.ggml.*`.
pub fn from_gguf(meta: &HashMap<String, Value>, file: &Path) -> Result<Tokenizer, LlmError> {
    let kind = meta.get("tokenizer.ggml.model").and_then(|v| v.to_string().ok()).cloned();
    match kind.as_deref() {
        Some("gpt2") => {}
        Some(other) => {
            return Err(LlmError::model(
                file,
                format!(
                    "tokenizer model `{other}` is not supported yet (byte-level BPE, `gpt2`, is)"
                ),
            ))
        }
        None => {
            return Err(LlmError::model(
                file,
                "the GGUF has no tokenizer metadata (tokenizer.ggml.model)",
            ))
        }
    }
    let tokens = strings(meta, "tokenizer.ggml.tokens", file)?;
    let merges: Vec<(String, String)> = strings(meta, "tokenizer.ggml.merges", file)?
        .into_iter()
        .map(|m| match m.split_once(' ') {
            Some((a, b)) => Ok((a.to_owned(), b.to_owned())),
            None => Err(LlmError::model(file, format!("tokenizer merge {m:?} is not two tokens"))),
        })
        .collect::<Result<_, _>>()?;
    let types: Vec<i32> = match meta.get("tokenizer.ggml.token_type") {
        Some(Value::Array(v)) => v.iter().map(|t| t.to_i32().unwrap_or(1)).collect(),
        _ => vec![1; tokens.len()],
    };
    let vocab: tokenizers::models::bpe::Vocab =
        tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| LlmError::model(file, format!("cannot build the BPE tokenizer: {e}")))?;
    let mut tok = Tokenizer::new(bpe);
    let pre = Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ]);
    tok.with_pre_tokenizer(Some(pre));
    tok.with_decoder(Some(ByteLevel::new(false, true, true)));
    // token_type 3 = control tokens (<|im_start|>, <|endoftext|>, …): matched whole, never split.
    let special: Vec<AddedToken> = tokens
        .iter()
        .zip(types.iter().chain(std::iter::repeat(&1)))
        .filter(|(_, &t)| t == 3)
        .map(|(s, _)| AddedToken::from(s.clone(), true))
        .collect();
    tok.add_special_tokens(&special);
    Ok(tok)
}
