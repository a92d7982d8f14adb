//! `distillery bench teacher`: the local engine's speed on the real model against llama.cpp
//! (llama-cpp-python) on the same GGUF, prompt tokens and thread count, measured in the same
//! run; the share of a decoding step spent outside the matrix products; the decode speed as a
//! share of what the memory bandwidth allows; and with `--busy N`, both engines again beside N
//! busy-looping processes. Ends with `bench teacher: ...`.

use super::bench_engine::{bandwidth, llama_cpp, median, peak_rss_mb, Busy, EngineArgs, Reference};
use crate::llm::LocalModel;
use crate::sample::{Message, Role};
use std::path::Path;
use std::time::Instant;

const STEPS: usize = 128;

/// The bench's prompt: a short customer request with a system prompt (92 tokens on SmolLM2).
pub fn prompt_ids(model: &LocalModel) -> anyhow::Result<Vec<u32>> {
    let question = "Priya ordered 3 boxes of mugs on 4 March 2024 and 2 more boxes a week later. Each box holds 6 mugs. \
        Write a short, friendly reply to her that says how many mugs she ordered in all, when the second order was \
        placed, and one sentence about caring for ceramic mugs.";
    let prompt = model.prompt(&[
        Message { role: Role::System, content: "You are a helpful assistant.".into() },
        Message { role: Role::User, content: question.into() },
    ])?;
    Ok(model.encode(&prompt)?)
}

/// (prompt s, decode s, matmul share, attention share) for k rows, medians of 3.
fn ours(model: &mut LocalModel, ids: &[u32], k: usize) -> anyhow::Result<(f64, f64, f64, f64)> {
    let (mut p, mut d, mut mm, mut at) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let m = model.measure(ids, k, STEPS)?;
        p.push(m.prompt_s);
        d.push(m.decode_s);
        mm.push(m.decode.matmul.as_secs_f64() / m.decode_s);
        at.push(m.decode.attention.as_secs_f64() / m.decode_s);
    }
    Ok((median(&mut p), median(&mut d), median(&mut mm), median(&mut at)))
}

pub fn run(model_path: &Path, a: &EngineArgs) -> anyhow::Result<()> {
    let t = Instant::now();
    let mut model = LocalModel::load_with(model_path, &a.load_options()?)?;
    let load_s = t.elapsed().as_secs_f64();
    let info = model.info().clone();
    let ids = prompt_ids(&model)?;
    println!(
        "teacher: {} ({} prompt tokens, {STEPS} decode steps, greedy, median of 3)",
        model_path.display(),
        ids.len()
    );
    println!("  engine: {}; load {load_s:.2} s", info.describe());
    model.measure(&ids, 1, 8)?;
    let (p1, d1, mm, at) = ours(&mut model, &ids, 1)?;
    let (p8, d8, mm8, at8) = ours(&mut model, &ids, 8)?;
    let (one, eight) = (p1 + d1, p8 + d8);
    let (prompt_tps, decode_tps) = (ids.len() as f64 / p1, STEPS as f64 / d1);
    let rss = peak_rss_mb().unwrap_or(f64::NAN);
    println!("  distillery  prompt {prompt_tps:>7.1} tok/s   decode {decode_tps:>6.1} tok/s   ({:.2} ms per step)", d1 * 1e3 / STEPS as f64);
    println!(
        "  a decoding step: {:.0}% matrix products, {:.0}% attention, {:.0}% the rest (norms, quantizing, sampling, embedding)",
        mm * 100.0,
        at * 100.0,
        (1.0 - mm - at).max(0.0) * 100.0
    );
    println!("  k=1: {one:.2} s   k=8: {eight:.2} s  (k=8 is {:.2}× one; {:.0} tokens/s over the 8 rows)", eight / one, (8 * STEPS) as f64 / d8);
    println!(
        "  a step of 8 rows: {:.2} ms, {:.0}% matrix products, {:.0}% attention",
        d8 * 1e3 / STEPS as f64,
        mm8 * 100.0,
        at8 * 100.0
    );
    let bw = bandwidth(info.threads);
    let bound = bw.map(|b| b * 1e9 / info.bytes_per_token as f64);
    match (bw, bound) {
        (Some(b), Some(t)) => println!(
            "  memory: {b:.1} GB/s read with {} threads; a step reads {:.1} MB of weights, so decoding is bound at {t:.0} tok/s: we reach {:.0}%",
            info.threads,
            info.bytes_per_token as f64 / 1e6,
            decode_tps / t * 100.0
        ),
        _ => println!("  memory bandwidth: not measured"),
    }
    println!("  peak RSS {rss:.0} MB");
    let mut line = format!(
        "bench teacher: isa={} threads={} prompt_tps={prompt_tps:.1} decode_tps={decode_tps:.1} k8_over_k1={:.2} rss_mb={rss:.0} load_s={load_s:.2} outside_matmul_pct={:.0} bandwidth_pct={:.0}",
        info.isa,
        info.threads,
        eight / one,
        (1.0 - mm) * 100.0,
        bound.map_or(f64::NAN, |t| decode_tps / t * 100.0)
    );
    let reference = llama_cpp(a, "teacher", model_path, STEPS, std::slice::from_ref(&ids));
    match &reference {
        Ok(r) => {
            let (rp, rd) = (ids.len() as f64 / r.prompt_s, STEPS as f64 / r.decode_s);
            println!("  llama.cpp   prompt {rp:>7.1} tok/s   decode {rd:>6.1} tok/s   ({:.2} ms per step; its build: {})", r.decode_s * 1e3 / STEPS as f64, r.isa);
            println!(
                "  ratio (distillery / llama.cpp): prompt {:.2}×, decode {:.2}×",
                prompt_tps / rp,
                decode_tps / rd
            );
            if let Some(why) = r.mismatch(info.isa) {
                println!("  NOTE: {why}");
            }
            line += &format!(
                " llamacpp_isa={} llamacpp_prompt_tps={rp:.1} llamacpp_decode_tps={rd:.1} decode_ratio={:.2} prompt_ratio={:.2}",
                r.isa,
                decode_tps / rd,
                prompt_tps / rp
            );
        }
        Err(why) => println!("  llama.cpp reference SKIPPED: {why}"),
    }
    if a.busy > 0 {
        line += &busy(&mut model, &ids, a, model_path, decode_tps, reference.as_ref().ok())?;
    }
    println!("{line}");
    Ok(())
}

/// Both engines' decoding beside `a.busy` busy processes, each in turn; the slowdowns.
fn busy(
    model: &mut LocalModel,
    ids: &[u32],
    a: &EngineArgs,
    path: &Path,
    quiet: f64,
    reference: Option<&Reference>,
) -> anyhow::Result<String> {
    let n = a.busy;
    let ours = {
        let _load = Busy::start(n)?;
        let (_, d, _, _) = self::ours(model, ids, 1)?;
        STEPS as f64 / d
    };
    println!(
        "  beside {n} busy process(es): distillery decode {ours:.1} tok/s ({:.2}× its quiet speed)",
        ours / quiet
    );
    let mut out = format!(" busy={n} busy_decode_tps={ours:.1} busy_slowdown={:.2}", ours / quiet);
    if let Some(r) = reference {
        let quiet_ref = STEPS as f64 / r.decode_s;
        let _load = Busy::start(n)?;
        match llama_cpp(a, "teacher", path, STEPS, &[ids.to_vec()]) {
            Ok(b) => {
                let theirs = STEPS as f64 / b.decode_s;
                println!("  beside {n} busy process(es): llama.cpp decode {theirs:.1} tok/s ({:.2}× its quiet speed)", theirs / quiet_ref);
                out += &format!(
                    " llamacpp_busy_decode_tps={theirs:.1} llamacpp_busy_slowdown={:.2}",
                    theirs / quiet_ref
                );
            }
            Err(why) => println!("  llama.cpp beside busy processes SKIPPED: {why}"),
        }
    }
    Ok(out)
}
