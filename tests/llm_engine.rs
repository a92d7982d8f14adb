//! The local engine's forward pass on the tiny random llama: a reused prompt prefix, batched
//! steps for several rows, cache growth and width padding all give the logits of computing each
//! text from scratch.

use candle_core::quantized::gguf_file;
use candle_core::Tensor;
use distillery::llm::llama::Llama;
use distillery::llm::testing::TinyOptions;
use distillery::llm::weights::Kernel;

/// The tiny llama built for `kernel`.
fn tiny_with(opts: &TinyOptions, kernel: Kernel) -> (tempfile::TempDir, Llama) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tiny.gguf");
    distillery::llm::testing::write_tiny_llama(&p, opts).unwrap();
    let mut f = std::fs::File::open(&p).unwrap();
    let ct = gguf_file::Content::read(&mut f).unwrap();
    let m = Llama::from_gguf_with(&ct, &mut f, kernel).unwrap();
    (dir, m)
}

/// The F32 tiny llama, padded.
fn tiny() -> (tempfile::TempDir, Llama) {
    tiny_with(&TinyOptions::default(), Kernel::CandlePadded)
}

#[test]
fn padding_the_widths_changes_nothing_but_the_shapes() {
    let (_a, plain) = tiny_with(&TinyOptions::default(), Kernel::Candle);
    let (_b, padded) = tiny();
    assert_eq!((plain.cfg.width, padded.cfg.width), (32, 256));
    let ids = [1u32, 40, 41, 42, 43, 2, 50];
    let a = plain.prefill(&mut plain.prefix().unwrap(), &ids).unwrap();
    let b = padded.prefill(&mut padded.prefix().unwrap(), &ids).unwrap();
    assert!(max_diff(&a, &b) < 1e-4, "{}", max_diff(&a, &b));
    let (mut ra, mut rb) = (plain.rows(2, 2).unwrap(), padded.rows(2, 2).unwrap());
    let mut pa = plain.prefix().unwrap();
    let mut pb = padded.prefix().unwrap();
    plain.prefill(&mut pa, &ids).unwrap();
    padded.prefill(&mut pb, &ids).unwrap();
    let sa = plain.step(&pa, &mut ra, &[7, 9]).unwrap();
    let sb = padded.step(&pb, &mut rb, &[7, 9]).unwrap();
    assert!(max_diff(&sa, &sb) < 1e-4, "{}", max_diff(&sa, &sb));
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn reused_prefix_and_batched_steps_match_a_full_prompt() {
    let (_d, m) = tiny();
    prefix_and_batch_checks(&m, |_| 1e-4);
    // The same on the packed kernel (Q4_1 matrices, tied output). It quantizes activations to 8
    // bits, so a last-bit difference upstream (the attention is summed in another order when
    // stepping) can move a value by one quantization step: allow 2% of the largest logit.
    let (_e, m) = tiny_with(&TinyOptions { q4_1: true, tied: true, ..Default::default() }, Kernel::Packed);
    prefix_and_batch_checks(&m, |want| 0.02 * want.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap());
}

fn prefix_and_batch_checks(m: &Llama, tol: impl Fn(&Tensor) -> f32) {
    let ids: Vec<u32> = vec![1, 40, 41, 42, 43, 44, 45, 46, 47, 2, 1, 50, 51];
    let full = m.prefill(&mut m.prefix().unwrap(), &ids).unwrap();
    // The same prompt again, computed from a cache holding its start.
    let mut p = m.prefix().unwrap();
    m.prefill(&mut p, &ids[..8]).unwrap();
    let again = m.prefill(&mut p, &ids).unwrap();
    assert!(max_diff(&full, &again) < tol(&full), "prefix reuse changed the logits by {}", max_diff(&full, &again));
    // A different prompt sharing a start: only the shared part is kept.
    let mut other = ids.clone();
    other[10] = 60;
    let fresh = m.prefill(&mut m.prefix().unwrap(), &other).unwrap();
    let reused = m.prefill(&mut p, &other).unwrap();
    assert!(max_diff(&fresh, &reused) < tol(&fresh));
    // Three rows stepping from a shared prompt match each row's own full prompt.
    let mut p = m.prefix().unwrap();
    m.prefill(&mut p, &ids[..10]).unwrap();
    let mut rows = m.rows(3, 4).unwrap();
    let next = [ids[10], 70, 71];
    let l1 = m.step(&p, &mut rows, &next).unwrap();
    let then = [ids[11], 72, 73];
    let l2 = m.step(&p, &mut rows, &then).unwrap();
    for (r, (a, b)) in next.iter().zip(then).enumerate() {
        let mut own = ids[..10].to_vec();
        own.push(*a);
        let want1 = m.prefill(&mut m.prefix().unwrap(), &own).unwrap();
        own.push(b);
        let want2 = m.prefill(&mut m.prefix().unwrap(), &own).unwrap();
        assert!(max_diff(&l1.get(r).unwrap(), &want1) < tol(&want1), "row {r}, step 1: {}", max_diff(&l1.get(r).unwrap(), &want1));
        assert!(max_diff(&l2.get(r).unwrap(), &want2) < tol(&want2), "row {r}, step 2: {}", max_diff(&l2.get(r).unwrap(), &want2));
    }
    // The caches grew past their first capacity without losing anything.
    let long: Vec<u32> = (0..300).map(|i| 3 + (i % 250)).collect();
    let a = m.prefill(&mut m.prefix().unwrap(), &long).unwrap();
    let mut p = m.prefix().unwrap();
    m.prefill(&mut p, &long[..100]).unwrap();
    m.prefill(&mut p, &long[..200]).unwrap();
    let b = m.prefill(&mut p, &long).unwrap();
    assert!(max_diff(&a, &b) < tol(&a).max(1e-3));
}
