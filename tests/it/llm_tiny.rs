//! The local engine on a tiny random llama written as a real GGUF: loading, sampling, batching,
//! stop strings, determinism, and clear errors for bad files.

use distillery::llm::testing::{write_tiny_llama, TinyOptions};
use distillery::llm::{FinishReason, GenParams, LocalModel};
use distillery::sample::{Message, Role};

fn tiny(opts: &TinyOptions) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tiny.gguf");
    write_tiny_llama(&p, opts).unwrap();
    (dir, p)
}

fn ask(text: &str) -> Vec<Message> {
    vec![Message { role: Role::User, content: text.into() }]
}

fn params(seed: u64) -> GenParams {
    GenParams {
        temperature: 1.0,
        top_p: 0.95,
        top_k: 50,
        repetition_penalty: 1.1,
        max_tokens: 12,
        stop: vec![],
        seed,
    }
}

#[test]
fn same_seed_same_text_and_batches_give_k_answers() {
    let (_d, p) = tiny(&TinyOptions::default());
    let mut m = LocalModel::load(&p).unwrap();
    let a = m.generate(&ask("hello"), &params(7), 1).unwrap();
    let b = m.generate(&ask("hello"), &params(7), 1).unwrap();
    // The second call reuses the cached prompt; the text is the same, the log-probabilities agree
    // to float rounding.
    let same = |x: &distillery::llm::Completion, y: &distillery::llm::Completion| {
        x.tokens == y.tokens
            && x.text == y.text
            && x.logprobs.iter().zip(&y.logprobs).all(|(p, q)| (p - q).abs() < 1e-4)
    };
    assert!(same(&a[0], &b[0]), "a seed fixes the text: {a:?} vs {b:?}");
    let c = m.generate(&ask("hello"), &params(8), 1).unwrap();
    assert_ne!(a[0].tokens, c[0].tokens, "another seed, another text");
    let k = m.generate(&ask("hello"), &params(7), 4).unwrap();
    assert!(same(&k[0], &a[0]), "answer i uses seed + i: the first is the single answer");
    assert_eq!(k.len(), 4);
    assert!(k
        .iter()
        .all(|c| c.logprobs.len() == c.tokens.len() && c.logprobs.iter().all(|&l| l <= 0.0)));
    assert!(k.iter().all(|c| c.prompt_tokens == a[0].prompt_tokens));
    let distinct: std::collections::HashSet<_> = k.iter().map(|c| c.tokens.clone()).collect();
    assert!(distinct.len() > 1, "the k samples differ");
}

#[test]
fn greedy_is_deterministic_and_max_tokens_bounds_length() {
    let (_d, p) = tiny(&TinyOptions::default());
    let mut m = LocalModel::load(&p).unwrap();
    let g = GenParams { temperature: 0.0, max_tokens: 5, ..params(1) };
    let a = m.generate(&ask("hi"), &g, 2).unwrap();
    assert_eq!(a[0].tokens, a[1].tokens, "greedy answers agree");
    assert!(a[0].tokens.len() <= 5);
    if a[0].tokens.len() == 5 {
        assert_eq!(a[0].finish, FinishReason::Length);
    }
}

#[test]
fn stop_strings_end_the_text_before_them() {
    let (_d, p) = tiny(&TinyOptions::default());
    let mut m = LocalModel::load(&p).unwrap();
    let free =
        m.generate(&ask("abc"), &GenParams { max_tokens: 30, ..params(3) }, 1).unwrap().remove(0);
    let text = free.text.clone();
    assert!(text.chars().count() >= 4, "the tiny model wrote something: {text:?}");
    // Stop at a piece of what it writes anyway: the text must end right before it.
    let stop: String = text.chars().skip(2).take(2).collect();
    let cut = m
        .generate(
            &ask("abc"),
            &GenParams { max_tokens: 30, stop: vec![stop.clone()], ..params(3) },
            1,
        )
        .unwrap()
        .remove(0);
    assert_eq!(cut.finish, FinishReason::Stop);
    assert_eq!(cut.text, text[..text.find(&stop).unwrap()]);
}

#[test]
fn tokenizer_round_trips_and_keeps_chatml_tokens_whole() {
    let (_d, p) = tiny(&TinyOptions::default());
    let m = LocalModel::load(&p).unwrap();
    let text = "<|im_start|>user\nhello 2024 ñ 🦀<|im_end|>";
    let ids = m.encode(text).unwrap();
    assert_eq!(ids[0], 1, "<|im_start|> is one token");
    assert_eq!(*ids.last().unwrap(), 2);
    assert_eq!(m.decode(&ids).unwrap(), text, "byte-exact round trip");
    let hell = m.tokenizer().token_to_id("hell").unwrap();
    assert!(ids.contains(&hell), "merges apply: {ids:?}");
    assert_eq!(
        m.prompt(&ask("q")).unwrap(),
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n",
        "ChatML when the file has no template"
    );
}

#[test]
fn the_files_own_chat_template_is_used() {
    let t = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}";
    let (_d, p) = tiny(&TinyOptions { chat_template: Some(t.into()), ..Default::default() });
    let m = LocalModel::load(&p).unwrap();
    assert_eq!(m.prompt(&ask("q")).unwrap(), "[user] q\n[assistant] ");
}

#[test]
fn bad_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.gguf");
    let e = LocalModel::load(&missing).err().unwrap().to_string();
    assert!(e.contains("nope.gguf") && e.contains("cannot open"), "{e}");

    let (_d, p) = tiny(&TinyOptions::default());
    let bytes = std::fs::read(&p).unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = LocalModel::load(&cut).err().unwrap().to_string();
    assert!(e.contains("cut.gguf") && e.contains("truncated"), "{e}");

    let text = dir.path().join("text.gguf");
    std::fs::write(&text, "not a model").unwrap();
    let e = LocalModel::load(&text).err().unwrap().to_string();
    assert!(e.contains("text.gguf") && e.contains("GGUF"), "{e}");

    let (_d2, p) = tiny(&TinyOptions { architecture: "gpt2".into(), ..Default::default() });
    let e = LocalModel::load(&p).err().unwrap().to_string();
    assert!(e.contains("architecture `gpt2`"), "{e}");

    let (_d3, p) = tiny(&TinyOptions { tokenizer: false, ..Default::default() });
    let e = LocalModel::load(&p).err().unwrap().to_string();
    assert!(e.contains("tokenizer"), "{e}");
}

#[test]
fn q4_1_q8_0_and_f32_files_load_as_they_are_and_answer_the_same_on_every_path() {
    use distillery::llm::engine::isa::supported;
    use distillery::llm::local::LoadOptions;
    for opts in [
        TinyOptions { q4_1: true, ..Default::default() },
        TinyOptions { q8_0: true, tied: true, ..Default::default() },
        TinyOptions::default(),
    ] {
        let (_d, p) = tiny(&opts);
        let greedy = GenParams { temperature: 0.0, max_tokens: 8, ..params(1) };
        for isa in supported() {
            let mut m =
                LocalModel::load_with(&p, &LoadOptions { isa: Some(isa), ..Default::default() })
                    .unwrap();
            assert_eq!((m.requantized, m.isa()), (0, isa), "{opts:?}");
            let a = m.generate(&ask("hello"), &greedy, 1).unwrap();
            assert_eq!(a[0].tokens.len(), a[0].completion_tokens);
        }
    }
}

#[test]
fn handles_on_one_engine_decode_together_and_answer_as_alone() {
    let (_d, p) = tiny(&TinyOptions { q4_1: true, tied: true, ..Default::default() });
    let mut m = LocalModel::load(&p).unwrap();
    let questions = ["one", "two two", "three three three", "four"];
    let alone: Vec<_> =
        questions.iter().map(|q| m.generate(&ask(q), &params(3), 2).unwrap()).collect();
    let together: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = questions
            .iter()
            .map(|q| {
                let mut h = m.handle();
                s.spawn(move || h.generate(&ask(q), &params(3), 2).unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(alone, together);
}

#[test]
fn several_answers_work_on_quantized_weights() {
    // candle's quantized llama cannot run a batched prompt on Q4_1/Q8_0 weights; k answers must
    // still come back, as from the real model.
    let (_d, p) = tiny(&TinyOptions { q4_1: true, ..Default::default() });
    let mut m = LocalModel::load(&p).unwrap();
    let k = m.generate(&ask("hello"), &params(5), 3).unwrap();
    assert_eq!(k.len(), 3);
    assert_eq!(k[1], m.generate(&ask("hello"), &params(6), 1).unwrap()[0], "answer 1 is seed + 1");
}

#[test]
fn a_set_cancel_flag_stops_generation_mid_answer() {
    use distillery::llm::{Generator, LlmError};
    let (_d, p) = tiny(&TinyOptions::default());
    let mut m = LocalModel::load(&p).unwrap();
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    m.set_cancel(flag.clone());
    assert!(m.generate(&ask("hi"), &params(1), 1).is_ok());
    flag.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(m.generate(&ask("hi"), &params(1), 1), Err(LlmError::Cancelled)));
}
