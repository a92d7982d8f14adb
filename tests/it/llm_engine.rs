//! The engine's forward pass and its batching on the tiny random llama, F32 and quantized: a
//! prompt gives the same logits in one pass, in chunks and from cached blocks; sequences decoded
//! together give the tokens each gives alone, while rows finish at different steps and new
//! requests join; the k rows of one prompt share its blocks.

use distillery::llm::engine::forward::Engine;
use distillery::llm::engine::isa::supported;
use distillery::llm::engine::sched::{Reply, Request};
use distillery::llm::engine::Isa;
use distillery::llm::local::{open, LoadOptions};
use distillery::llm::testing::{write_tiny_llama, TinyOptions};
use distillery::llm::GenParams;
use std::sync::mpsc;

fn tiny(opts: &TinyOptions) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tiny.gguf");
    write_tiny_llama(&p, opts).unwrap();
    (dir, p)
}

fn models() -> Vec<TinyOptions> {
    vec![
        TinyOptions::default(),
        TinyOptions { q4_1: true, tied: true, ..Default::default() },
        TinyOptions { q8_0: true, ..Default::default() },
    ]
}

fn prompt(n: usize, salt: u32) -> Vec<u32> {
    (0..n as u32).map(|i| 3 + (i * 7 + salt) % 250).collect()
}

#[test]
fn a_prompt_gives_the_same_logits_in_one_pass_in_chunks_and_from_cached_blocks() {
    for opts in models() {
        let (_d, p) = tiny(&opts);
        for isa in supported() {
            let mut e = Engine::open(&p, isa, 2, 64).unwrap();
            let ids = prompt(45, 1);
            let full = e.last_logits(&ids).unwrap();
            let (s, chunks) = e.run_prompt(&ids, 7, false).unwrap();
            e.kv.free_seq(s);
            assert_eq!(chunks.last().unwrap(), &full, "{isa} {opts:?}: chunks of 7");
            // The first 40 positions computed and indexed; the whole prompt then reuses 32 of them.
            let (s, _) = e.run_prompt(&ids[..40], 40, false).unwrap();
            e.kv.free_seq(s);
            let before = e.kv.reused;
            let (s, again) = e.run_prompt(&ids, usize::MAX, true).unwrap();
            assert_eq!(e.kv.reused - before, 32, "two full blocks reused");
            assert_eq!(again.last().unwrap(), &full, "{isa} {opts:?}: from cached blocks");
            e.kv.free_seq(s);
            // A prompt differing inside the second block reuses only the first.
            let mut other = ids.clone();
            other[20] = 99;
            let want = e.last_logits(&other).unwrap();
            let before = e.kv.reused;
            let (s, got) = e.run_prompt(&other, usize::MAX, true).unwrap();
            assert_eq!((e.kv.reused - before, got.last().unwrap()), (16, &want));
            e.kv.free_seq(s);
        }
    }
}

fn request(ids: Vec<u32>, max_tokens: usize, n: usize, seed: u64) -> Request {
    let params = GenParams {
        temperature: 0.9,
        top_p: 0.95,
        top_k: 20,
        max_tokens,
        seed,
        ..GenParams::default()
    };
    Request { ids, params, n, ignore_eos: false, cancel: None, constraint: None }
}

/// Runs requests through a scheduler: request `i` is submitted before step `at[i]`. Returns the
/// replies and the most rows that decoded in one step.
fn run(path: &std::path::Path, isa: Isa, reqs: &[(Request, usize)]) -> (Vec<Reply>, usize) {
    let (mut s, _, _, _) = open(
        path,
        &LoadOptions { isa: Some(isa), threads: Some(2), max_rows: Some(8), kv_mb: Some(64) },
    )
    .unwrap();
    let mut rx: Vec<Option<mpsc::Receiver<Reply>>> = reqs.iter().map(|_| None).collect();
    let (mut out, mut most): (Vec<Option<Reply>>, usize) = (reqs.iter().map(|_| None).collect(), 0);
    for step in 0..1000 {
        for (i, (r, at)) in reqs.iter().enumerate() {
            if *at == step {
                let (tx, r_rx) = mpsc::channel();
                s.submit(r.clone(), tx);
                rx[i] = Some(r_rx);
            }
        }
        s.step();
        most = most.max(s.rows());
        for (i, r) in rx.iter().enumerate() {
            if let Some(reply) = r.as_ref().and_then(|r| r.try_recv().ok()) {
                out[i] = Some(reply);
            }
        }
        if out.iter().all(Option::is_some) {
            break;
        }
    }
    (out.into_iter().map(|r| r.expect("every request answered")).collect(), most)
}

#[test]
fn sequences_decoded_together_give_the_tokens_each_gives_alone() {
    for opts in models() {
        let (_d, p) = tiny(&opts);
        let long = Request { ignore_eos: true, ..request(prompt(30, 1), 14, 1, 5) };
        let reqs = vec![
            (long, 0),
            (request(prompt(9, 2), 5, 1, 6), 3),
            (request(prompt(21, 3), 9, 3, 7), 3),
            (request(prompt(40, 4), 12, 1, 8), 6),
        ];
        for isa in supported() {
            let (together, most) = run(&p, isa, &reqs);
            assert!(most >= 5, "{isa}: rows decoded together ({most})");
            for (i, (r, _)) in reqs.iter().enumerate() {
                let (alone, _) = run(&p, isa, &[(r.clone(), 0)]);
                let (a, t) = (alone[0].as_ref().unwrap(), together[i].as_ref().unwrap());
                assert_eq!(a.len(), r.n);
                for (x, y) in a.iter().zip(t) {
                    assert_eq!(
                        (&x.tokens, &x.logprobs, &x.text),
                        (&y.tokens, &y.logprobs, &y.text),
                        "{isa} {opts:?}: request {i}"
                    );
                }
            }
            let lens: Vec<usize> = together
                .iter()
                .flat_map(|r| r.as_ref().unwrap().iter().map(|c| c.tokens.len()))
                .collect();
            assert!(lens.iter().any(|&l| l != lens[0]), "rows ended at different steps: {lens:?}");
        }
    }
}

#[test]
fn bad_requests_are_answered_with_their_error_and_the_rest_run() {
    let (_d, p) = tiny(&TinyOptions::default());
    let reqs = vec![
        (request(vec![], 4, 1, 1), 0),
        (request(vec![3, 900_000], 4, 1, 1), 0),
        (request(prompt(5, 1), 4, 2, 1), 0),
    ];
    let (out, _) = run(&p, Isa::Scalar, &reqs);
    assert!(out[0].as_ref().unwrap_err().to_string().contains("empty"));
    assert!(out[1].as_ref().unwrap_err().to_string().contains("outside the vocabulary"));
    assert_eq!(out[2].as_ref().unwrap().len(), 2);
}
