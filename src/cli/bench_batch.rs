//! The local engine's batching benchmarks, each ending with its `bench <name>:` line:
//! - `bench throughput`: 16 different prompts of 40–300 tokens, 128 new tokens each, decoded
//!   together, against 16 sequential llama.cpp generations in the same run.
//! - `bench eval`: the base model's greedy answers to the demo's 120 held-out items.
//! - `bench share`: the teacher (one thread) and a trainer process (one thread) alone, then at
//!   once, as in the workbench.

use super::bench_engine::{llama_cpp, median, EngineArgs};
use crate::llm::{GenParams, LocalModel};
use crate::sample::SampleText;
use std::path::Path;
use std::time::Instant;

const NOTES: &str = include_str!("../../sample-data/documents/shop-notes.txt");
const EVAL: [&str; 2] = [
    include_str!("../../sample-data/arithmetic/eval.jsonl"),
    include_str!("../../sample-data/extraction/eval.jsonl"),
];
const NEW_TOKENS: usize = 128;

/// 16 prompts of 40 to 300 tokens, each starting with another paragraph of the shop's notes
/// (so no two share a cached start), without a chat template.
fn prompts(model: &LocalModel) -> anyhow::Result<Vec<Vec<u32>>> {
    let paras: Vec<&str> = NOTES.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).collect();
    let mut out = Vec::new();
    for i in 0..16 {
        let want = 40 + i * 260 / 15;
        let mut text = String::new();
        let mut j = i;
        let ids = loop {
            text.push_str(paras[j % paras.len()]);
            text.push_str("\n\n");
            let ids = model.encode(&text)?;
            if ids.len() >= want {
                break ids;
            }
            j += 1;
        };
        out.push(ids[..want].to_vec());
    }
    Ok(out)
}

pub fn throughput(model_path: &Path, a: &EngineArgs) -> anyhow::Result<()> {
    let opts = crate::llm::local::LoadOptions { max_rows: Some(16), ..a.load_options()? };
    let model = LocalModel::load_with(model_path, &opts)?;
    let ps = prompts(&model)?;
    let lens: Vec<usize> = ps.iter().map(Vec::len).collect();
    println!(
        "throughput: {} prompts of {}–{} tokens, {NEW_TOKENS} new tokens each, greedy",
        ps.len(),
        lens[0],
        lens[lens.len() - 1]
    );
    println!("  engine: {}", model.info().describe());
    let p = GenParams { temperature: 0.0, max_tokens: NEW_TOKENS, ..GenParams::default() };
    model.complete_ids(ps[0][..8].to_vec(), &p, 1, true)?;
    let t = Instant::now();
    let done: Vec<usize> = std::thread::scope(|s| {
        let hs: Vec<_> = ps
            .iter()
            .map(|ids| {
                let (h, p) = (model.handle(), &p);
                s.spawn(move || {
                    h.complete_ids(ids.clone(), p, 1, true).map(|c| c[0].completion_tokens)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a request thread panicked"))?
                    .map_err(anyhow::Error::from)
            })
            .collect::<anyhow::Result<_>>()
    })?;
    let wall = t.elapsed().as_secs_f64();
    let tokens: usize = done.iter().sum();
    let ours = tokens as f64 / wall;
    println!("  distillery, batched: {tokens} tokens in {wall:.2} s: {ours:.0} tok/s");
    let mut line = format!("bench throughput: isa={} threads={} prompts={} new_tokens={NEW_TOKENS} tps={ours:.1} wall_s={wall:.2}", model.isa(), model.info().threads, ps.len());
    match llama_cpp(a, "sequential", model_path, NEW_TOKENS, &ps) {
        Ok(r) => {
            let theirs = (ps.len() * NEW_TOKENS) as f64 / r.total_s;
            println!(
                "  llama.cpp, one after another: {:.2} s: {theirs:.0} tok/s (its build: {})",
                r.total_s, r.isa
            );
            println!("  ratio: {:.2}× (target ≥ 3×)", ours / theirs);
            if let Some(why) = r.mismatch(model.isa()) {
                println!("  NOTE: {why}");
            }
            line += &format!(
                " llamacpp_isa={} llamacpp_tps={theirs:.1} ratio={:.2}",
                r.isa,
                ours / theirs
            );
        }
        Err(why) => println!("  llama.cpp reference SKIPPED: {why}"),
    }
    println!("{line}");
    Ok(())
}

/// The demo's held-out items: (task, prompt, reference, scorer).
fn eval_items() -> anyhow::Result<Vec<(String, SampleText, String, String)>> {
    let mut out = Vec::new();
    for file in EVAL {
        for line in file.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            out.push((
                s("task"),
                SampleText::new(s("instruction"), s("input"), ""),
                s("reference"),
                s("scorer"),
            ));
        }
    }
    Ok(out)
}

pub fn eval(model_path: &Path, a: &EngineArgs) -> anyhow::Result<()> {
    let mut model = LocalModel::load_with(model_path, &a.load_options()?)?;
    let items = eval_items()?;
    println!(
        "eval: the base model's greedy answers (at most 96 tokens) to the demo's {} held-out items",
        items.len()
    );
    println!("  engine: {}", model.info().describe());
    let prompts: Vec<SampleText> = items.iter().map(|i| i.1.clone()).collect();
    let t = Instant::now();
    let answers = crate::train::eval::answer_all(&mut model, &prompts, 96, &mut |_| {})?;
    let wall = t.elapsed().as_secs_f64();
    let right = items
        .iter()
        .zip(&answers)
        .filter(|((_, _, r, s), a)| crate::train::eval::correct(s, a, r))
        .count();
    println!("  {} answers in {wall:.1} s ({:.1} items/s; target ≤ 30 s); {right} right by the items' scorers", answers.len(), answers.len() as f64 / wall);
    println!(
        "bench eval: isa={} threads={} items={} wall_s={wall:.2} exact={right}",
        model.isa(),
        model.info().threads,
        answers.len()
    );
    Ok(())
}

/// The teacher's decode speed on one thread, median of `runs`.
fn teacher_tps(model: &mut LocalModel, ids: &[u32], runs: usize) -> anyhow::Result<f64> {
    let mut v = Vec::new();
    for _ in 0..runs {
        v.push(64.0 / model.measure(ids, 1, 64)?.decode_s);
    }
    Ok(median(&mut v))
}

/// A trainer process on one thread (`bench train` without its reference); returns its seconds
/// per step, calling `beside` repeatedly while it runs.
fn trainer(beside: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["bench", "train"])
        .env("RAYON_NUM_THREADS", "1")
        .env("DISTILLERY_TORCH_PYTHON", "none")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    while child.try_wait()?.is_none() {
        beside()?;
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("bench train:"))
        .ok_or_else(|| anyhow::anyhow!("the trainer failed"))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("seconds_per_step="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no seconds_per_step in {line}"))
}

pub fn share(model_path: &Path, a: &EngineArgs) -> anyhow::Result<()> {
    let opts = crate::llm::local::LoadOptions { threads: Some(1), ..a.load_options()? };
    let mut model = LocalModel::load_with(model_path, &opts)?;
    let ids = super::bench_teacher::prompt_ids(&model)?;
    println!(
        "share: the teacher ({}) and a trainer (bench train), one thread each",
        model.info().short()
    );
    let solo = teacher_tps(&mut model, &ids, 5)?;
    println!("  teacher alone: {solo:.1} tok/s");
    let train_solo = trainer(&mut || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        Ok(())
    })?;
    println!("  trainer alone: {train_solo:.2} s per step");
    let started = Instant::now();
    let mut beside = Vec::new();
    let train_shared = trainer(&mut || {
        let tps = teacher_tps(&mut model, &ids, 1)?;
        // The trainer's first seconds are its load; its steps come after.
        if started.elapsed().as_secs_f64() > 5.0 {
            beside.push(tps);
        }
        Ok(())
    })?;
    let shared = if beside.is_empty() { f64::NAN } else { median(&mut beside) };
    println!("  at once: teacher {shared:.1} tok/s ({:.0}% of alone), trainer {train_shared:.2} s per step ({:.0}% of alone's speed)", shared / solo * 100.0, train_solo / train_shared * 100.0);
    println!(
        "bench share: teacher_solo_tps={solo:.1} teacher_shared_tps={shared:.1} teacher_kept={:.2} trainer_solo_s={train_solo:.2} trainer_shared_s={train_shared:.2} trainer_kept={:.2}",
        shared / solo,
        train_solo / train_shared
    );
    Ok(())
}
