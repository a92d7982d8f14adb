//! `distillery bench train`: seconds per optimizer step and peak RSS for LoRA r=8 on q and v at
//! batch 4 × 128 tokens on the default model (SmolLM2-135M, dequantized to f32), the loss over
//! the last 64 tokens of each row; then the same step in PyTorch + PEFT
//! (`benches/train_torch.py`, on a llama of the same shape, same thread count) when `python3`
//! has torch, peft and transformers, and the ratio. Without them the line says why it was
//! skipped. `--random-model` trains a random model of SmolLM2-135M's shape instead of the file
//! (the step time does not depend on the weights), for machines without the model.
//!
//! Ends with `bench train: ...`.

use crate::llm::sampling::Rng;
use crate::train::data::Example;
use crate::train::model::{LoraConfig, Target, TrainModel};
use crate::train::run::{train, TrainOptions};
use std::path::Path;
use std::sync::atomic::AtomicBool;

pub fn run(model_path: &Path, random_model: bool) -> anyhow::Result<()> {
    let threads = rayon::current_num_threads();
    let tmp = tempfile::tempdir()?;
    let random_path = tmp.path().join("random-smollm2-shape.gguf");
    let model_path = if random_model {
        let st = std::process::Command::new(std::env::current_exe()?)
            .arg("debug")
            .arg("random-model")
            .arg(&random_path)
            .status()?;
        anyhow::ensure!(st.success(), "writing the random model failed");
        println!(
            "train: a random model of SmolLM2-135M's shape ({:?})",
            crate::llm::testing::Dims::SMOLLM2_135M
        );
        random_path.as_path()
    } else {
        model_path
    };
    let t = std::time::Instant::now();
    let lora = LoraConfig {
        rank: 8,
        alpha: 16.0,
        dropout: 0.0,
        targets: vec![Target::Q, Target::V],
        seed: 1,
    };
    let mut model = TrainModel::from_gguf(model_path, &lora, candle_core::DType::F32)?;
    let gemm = crate::train::gemm_kernels();
    println!(
        "train: {} loaded for training in {:.1} s ({} threads, gemm's {gemm} kernels)",
        model_path.display(),
        t.elapsed().as_secs_f64(),
        threads
    );
    let mut rng = Rng::new(7);
    let vocab = model.shape.vocab as u64;
    let examples: Vec<Example> = (0..24)
        .map(|i| Example {
            source: format!("random #{i}"),
            ids: (0..129).map(|_| (rng.next_u64() % vocab) as u32).collect(),
            response_start: 65,
        })
        .collect();
    let o = TrainOptions {
        lr: 1e-4,
        warmup: 0,
        epochs: 1,
        batch: 4,
        accum: 1,
        seed: 1,
        checkpoint_every: 0,
    };
    let dir = tempfile::tempdir()?;
    let mut times = Vec::new();
    let mut last_loss = 0.0;
    train(&mut model, &examples, &o, dir.path(), false, &AtomicBool::new(false), &mut |r| {
        println!(
            "  step {}/{}: {:.2} s, loss {:.3}, {:.0} tokens/s",
            r.step, r.total, r.seconds_per_step, r.loss, r.tokens_per_s
        );
        times.push(r.seconds_per_step);
        last_loss = r.loss;
    })
    .map_err(anyhow::Error::msg)?;
    // The first step pays for allocations; the rest are the steady state.
    let steady = &times[1..];
    let per = steady.iter().sum::<f64>() / steady.len() as f64;
    let rss = super::bench_engine::peak_rss_mb().unwrap_or(f64::NAN);
    println!("  steady state: {per:.2} s per step of 4 × 128 tokens ({:.0} tokens/s), peak RSS {rss:.0} MB", 512.0 / per);
    let sh = model.shape.clone();
    drop(model);
    let torch = torch_reference(&sh, threads, gemm);
    let ratio = match &torch {
        Ok((t, trss)) => {
            println!("  PyTorch + PEFT: {t:.2} s per step, peak RSS {trss:.0} MB; Distillery runs at {:.2}× PyTorch's speed", t / per);
            format!("{:.3}", t / per)
        }
        Err(why) => {
            println!("  PyTorch + PEFT reference SKIPPED: {why}");
            "none".into()
        }
    };
    println!("bench train: gemm={gemm} seconds_per_step={per:.3} tokens_per_s={:.0} peak_rss_mb={rss:.0} threads={threads} last_loss={last_loss:.3} torch_ratio={ratio}", 512.0 / per);
    Ok(())
}

/// Runs `benches/train_torch.py` (compiled in) on a llama of shape `sh`; its seconds per step
/// and peak RSS, or why not.
/// PyTorch is held to the same instruction set as our `gemm` kernels (`avx2`: ATen's AVX2
/// kernels and MKL's AVX2 code path).
fn torch_reference(
    sh: &crate::train::model::Shape,
    threads: usize,
    gemm: &str,
) -> Result<(f64, f64), String> {
    // DISTILLERY_TORCH_PYTHON names the python with torch (`none`: no reference, for `bench share`).
    let python = std::env::var("DISTILLERY_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    if python == "none" {
        return Err("not asked for (DISTILLERY_TORCH_PYTHON=none)".into());
    }
    let probe = std::process::Command::new(&python)
        .args(["-c", "import torch, peft, transformers"])
        .output()
        .map_err(|e| format!("no {python} ({e})"))?;
    if !probe.status.success() {
        return Err(format!(
            "python3 lacks torch, peft or transformers ({})",
            String::from_utf8_lossy(&probe.stderr).lines().last().unwrap_or("")
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = dir.path().join("train_torch.py");
    std::fs::write(&script, include_str!("../../benches/train_torch.py"))
        .map_err(|e| e.to_string())?;
    let args = [sh.hidden, sh.n_head, sh.n_kv_head, sh.ffn, sh.n_layer, sh.vocab, threads, 6, 1]
        .map(|v| v.to_string());
    println!("  PyTorch + PEFT: the same step on a llama of this shape, {threads} threads …");
    let mut cmd = std::process::Command::new(&python);
    if gemm == "avx2" {
        cmd.env("ATEN_CPU_CAPABILITY", "avx2").env("MKL_ENABLE_INSTRUCTIONS", "AVX2");
        println!(
            "  PyTorch held to AVX2 too (ATEN_CPU_CAPABILITY=avx2, MKL_ENABLE_INSTRUCTIONS=AVX2)"
        );
    }
    let out = cmd.arg(&script).args(&args).output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("torch: ")).ok_or_else(|| {
        format!(
            "the script failed: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        )
    })?;
    let get = |k: &str| {
        line.split_whitespace().find_map(|w| w.strip_prefix(k)).and_then(|v| v.parse::<f64>().ok())
    };
    Ok((
        get("seconds_per_step=").ok_or("no seconds_per_step")?,
        get("peak_rss_mb=").unwrap_or(f64::NAN),
    ))
}
