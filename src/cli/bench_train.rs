//! `distillery bench train`: seconds per optimizer step and peak RSS for LoRA r=8 on q and v at
//! batch 4 × 128 tokens on the default model (SmolLM2-135M, dequantized to f32), the loss over
//! the last 64 tokens of each row. The PyTorch + PEFT reference is not wired yet: the line says so.
//!
//! Ends with `bench train: ...`.

use crate::llm::sampling::Rng;
use crate::train::data::Example;
use crate::train::model::{LoraConfig, Target, TrainModel};
use crate::train::run::{train, TrainOptions};
use std::path::Path;
use std::sync::atomic::AtomicBool;

pub fn run(model_path: &Path) -> anyhow::Result<()> {
    let threads = rayon::current_num_threads();
    let t = std::time::Instant::now();
    let lora = LoraConfig { rank: 8, alpha: 16.0, dropout: 0.0, targets: vec![Target::Q, Target::V], seed: 1 };
    let mut model = TrainModel::from_gguf(model_path, &lora, candle_core::DType::F32)?;
    println!("train: {} loaded for training in {:.1} s ({} threads)", model_path.display(), t.elapsed().as_secs_f64(), threads);
    let mut rng = Rng::new(7);
    let vocab = model.shape.vocab as u64;
    let examples: Vec<Example> = (0..12).map(|i| Example { source: format!("random #{i}"), ids: (0..129).map(|_| (rng.next_u64() % vocab) as u32).collect(), response_start: 65 }).collect();
    let o = TrainOptions { lr: 1e-4, warmup: 0, epochs: 1, batch: 4, accum: 1, seed: 1, checkpoint_every: 0 };
    let dir = tempfile::tempdir()?;
    let mut times = Vec::new();
    let mut last_loss = 0.0;
    train(&mut model, &examples, &o, dir.path(), false, &AtomicBool::new(false), &mut |r| {
        println!("  step {}/{}: {:.2} s, loss {:.3}, {:.0} tokens/s", r.step, r.total, r.seconds_per_step, r.loss, r.tokens_per_s);
        times.push(r.seconds_per_step);
        last_loss = r.loss;
    })
    .map_err(anyhow::Error::msg)?;
    // The first step pays for allocations; the rest are the steady state.
    let steady = &times[1..];
    let per = steady.iter().sum::<f64>() / steady.len() as f64;
    let rss = super::bench_teacher::peak_rss_mb().unwrap_or(f64::NAN);
    println!("  steady state: {per:.2} s per step of 4 × 128 tokens ({:.0} tokens/s), peak RSS {rss:.0} MB", 512.0 / per);
    println!("  PyTorch + PEFT reference: not measured (the reference script is not written yet)");
    println!("bench train: seconds_per_step={per:.3} tokens_per_s={:.0} peak_rss_mb={rss:.0} threads={threads} last_loss={last_loss:.3} torch_ratio=none", 512.0 / per);
    Ok(())
}
