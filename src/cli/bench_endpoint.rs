//! `distillery bench endpoint`: requests in flight against a server that takes 0.5 s per request
//! (the latency server, on 127.0.0.1): `generate -n 32` (rejection sampling, 4 answers per
//! question: one request each) and `judge -n 32 --votes 5` (the critic and the vote: two requests
//! a sample), at concurrency 1 and at 8, in the same run. Target: ≥ 6× faster at 8.
//!
//! Ends with `bench endpoint: ...`.

use super::bench_endpoint_server::LatencyServer;
use crate::llm::openai::{EndpointConfig, OpenAiClient};
use crate::recipes::Recipe;
use crate::work::generate::{generate, GenerateSpec};
use crate::work::judging::{judge_pending, JudgeOptions};
use std::time::{Duration, Instant};

/// Seconds each request takes.
const DELAY: Duration = Duration::from_millis(500);
const N: usize = 32;

/// (generate seconds, judge seconds, most requests in flight) at `concurrency`.
fn at(server: &LatencyServer, concurrency: usize) -> anyhow::Result<(f64, f64, usize, usize)> {
    let dir = tempfile::tempdir()?;
    let ws = super::demo::setup_quiet(dir.path())?;
    let mut cfg = EndpointConfig::new(&server.url, "latency");
    cfg.concurrency = concurrency;
    cfg.logprobs = false;
    let mut client = OpenAiClient::new("latency", cfg)?;
    server.reset();
    let mut spec = GenerateSpec::new(Recipe::RejectionSampling, N);
    spec.k = 4;
    spec.keep_failed = true;
    let t = Instant::now();
    let p = generate(&ws, &spec, &mut client, Default::default(), &mut |_| {})?;
    let gen_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(p.attempts == N, "generate made {} attempts of {N}", p.attempts);
    let gen_max = server.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    server.reset();
    let mut store = ws.store()?;
    let ids: Vec<i64> = store.unjudged(N)?;
    anyhow::ensure!(ids.len() == N, "only {} candidates to judge", ids.len());
    let (rubric, _) = crate::judge::critic::rubric(None);
    let opts = JudgeOptions {
        votes: 5,
        limit: N,
        seed: 1,
        rubric_hash: crate::text::template_hash(&rubric),
        rubric,
        cancel: Default::default(),
        only: Some(ids),
        auto_accept: None,
    };
    let t = Instant::now();
    let j = judge_pending(&mut client, None, &mut store, &opts, &mut |_, _, _, _, _| {})?;
    let judge_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(j.judged == N, "judged {} of {N}", j.judged);
    anyhow::ensure!(j.unparsed == 0, "{} verdicts unparsed", j.unparsed);
    let judge_max = server.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    Ok((gen_s, judge_s, gen_max, judge_max))
}

pub fn run() -> anyhow::Result<()> {
    let server = LatencyServer::start(DELAY)?;
    println!(
        "latency server {} ({:.1} s per request); generate -n {N} -k 4, judge -n {N} --votes 5",
        server.url,
        DELAY.as_secs_f64()
    );
    let (g1, j1, gm1, jm1) = at(&server, 1)?;
    println!("  concurrency 1: generate {g1:.1} s (≤ {gm1} in flight), judge {j1:.1} s (≤ {jm1})");
    let (g8, j8, gm8, jm8) = at(&server, 8)?;
    println!("  concurrency 8: generate {g8:.1} s (≤ {gm8} in flight), judge {j8:.1} s (≤ {jm8})");
    let (gx, jx) = (g1 / g8, j1 / j8);
    println!("  speed-up at 8: generate {gx:.2}×, judge {jx:.2}× (target ≥ 6×)");
    println!(
        "bench endpoint: generate_c1_s={g1:.2} generate_c8_s={g8:.2} generate_speedup={gx:.2} judge_c1_s={j1:.2} judge_c8_s={j8:.2} judge_speedup={jx:.2}"
    );
    Ok(())
}
