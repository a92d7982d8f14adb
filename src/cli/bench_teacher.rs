//! `distillery bench teacher`: the local engine's speed on the real model, against llama.cpp
//! (llama-cpp-python) on the same GGUF, the same prompt tokens and the same thread count,
//! measured in the same run. Ends with `bench teacher: ...`.

use crate::llm::LocalModel;
use crate::sample::{Message, Role};
use std::path::Path;
use std::time::Instant;

const REFERENCE: &str = include_str!("../../benches/llamacpp_reference.py");
const STEPS: usize = 128;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident memory of this process, in MB (Linux; None elsewhere).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

pub fn run(model_path: &Path) -> anyhow::Result<()> {
    let threads = candle_core::utils::get_num_threads();
    let t = Instant::now();
    let mut model = LocalModel::load(model_path)?;
    let load_s = t.elapsed().as_secs_f64();
    let question = "Priya ordered 3 boxes of mugs on 4 March 2024 and 2 more boxes a week later. Each box holds 6 mugs. \
        Write a short, friendly reply to her that says how many mugs she ordered in all, when the second order was \
        placed, and one sentence about caring for ceramic mugs.";
    let prompt = model.prompt(&[
        Message { role: Role::System, content: "You are a helpful assistant.".into() },
        Message { role: Role::User, content: question.into() },
    ])?;
    let ids = model.encode(&prompt)?;
    println!(
        "teacher: {} ({} prompt tokens, {STEPS} decode steps, greedy, {threads} threads, median of 3, {:?} kernel)",
        model_path.display(),
        ids.len(),
        crate::llm::local::Kernel::detect()
    );
    println!("  load {load_s:.2} s");
    model.measure(&ids, 1, 8)?; // warm-up
    let mut runs = |k: usize| -> anyhow::Result<(f64, f64)> {
        let (mut p, mut d) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let (ps, ds) = model.measure(&ids, k, STEPS)?;
            p.push(ps);
            d.push(ds);
        }
        Ok((median(&mut p), median(&mut d)))
    };
    let (prompt1, decode1) = runs(1)?;
    let (prompt8, decode8) = runs(8)?;
    let one = prompt1 + decode1;
    let eight = prompt8 + decode8;
    let prompt_tps = ids.len() as f64 / prompt1;
    let decode_tps = STEPS as f64 / decode1;
    let rss = peak_rss_mb().unwrap_or(f64::NAN);
    println!("  distillery  prompt {:>7.1} tok/s   decode {:>6.1} tok/s   ({:.1} ms per step)", prompt_tps, decode_tps, decode1 * 1e3 / STEPS as f64);
    println!("  k=1: {:.2} s   k=8: {:.2} s  (k=8 is {:.2}× one sample; {:.0} tokens/s over the 8 rows)", one, eight, eight / one, (8 * STEPS) as f64 / decode8);
    println!("  peak RSS {rss:.0} MB");
    let reference = llama_cpp(model_path, threads, &ids);
    let mut line = format!(
        "bench teacher: prompt_tps={prompt_tps:.1} decode_tps={decode_tps:.1} k8_over_k1={:.2} rss_mb={rss:.0} load_s={load_s:.2}",
        eight / one
    );
    match reference {
        Ok((rp, rd)) => {
            let (rp_tps, rd_tps) = (ids.len() as f64 / rp, STEPS as f64 / rd);
            println!("  llama.cpp   prompt {:>7.1} tok/s   decode {:>6.1} tok/s   ({:.1} ms per step)", rp_tps, rd_tps, rd * 1e3 / STEPS as f64);
            println!("  ratio (distillery / llama.cpp): prompt {:.2}×, decode {:.2}×", prompt_tps / rp_tps, decode_tps / rd_tps);
            line.push_str(&format!(" llamacpp_prompt_tps={rp_tps:.1} llamacpp_decode_tps={rd_tps:.1} decode_ratio={:.2} prompt_ratio={:.2}", decode_tps / rd_tps, prompt_tps / rp_tps));
        }
        Err(why) => println!("  llama.cpp reference skipped: {why}"),
    }
    println!("{line}");
    Ok(())
}

/// (prompt seconds, decode seconds) from llama-cpp-python, or why it could not run.
fn llama_cpp(model: &Path, threads: usize, ids: &[u32]) -> Result<(f64, f64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = dir.path().join("llamacpp_reference.py");
    std::fs::write(&script, REFERENCE).map_err(|e| e.to_string())?;
    let probe = std::process::Command::new("python3").args(["-c", "import llama_cpp, numpy"]).output();
    match probe {
        Err(e) => return Err(format!("python3 not found ({e})")),
        Ok(o) if !o.status.success() => {
            return Err("llama-cpp-python is not installed (python3 -m pip install llama-cpp-python; it builds llama.cpp, about 8 minutes)".into())
        }
        Ok(_) => {}
    }
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(model)
        .arg(threads.to_string())
        .arg(STEPS.to_string())
        .args(ids.iter().map(u32::to_string))
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("the reference failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable reference output: {e}"))?;
    match (v["prompt_s"].as_f64(), v["decode_s"].as_f64()) {
        (Some(p), Some(d)) => Ok((p, d)),
        _ => Err(format!("unexpected reference output: {v}")),
    }
}
