//! The real SmolLM2-135M-Instruct GGUF (fetched by `distillery models fetch`; CI fetches it).
//! Outside CI the test says so and passes when the model is absent; in CI it must be there.

use distillery::llm::fetch::{cache_dir, DEFAULT_FILES};
use distillery::llm::{FinishReason, GenParams, LocalModel};
use distillery::sample::{Message, Role};

pub fn model() -> Option<LocalModel> {
    let path = DEFAULT_FILES[0].path(&cache_dir());
    if !path.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must fetch the model first: {} is missing",
            path.display()
        );
        eprintln!("SKIPPED: {} is missing; run `distillery models fetch`", path.display());
        return None;
    }
    Some(LocalModel::load(&path).expect("the real model loads"))
}

#[test]
fn real_smollm2_tokenizer_and_answer() {
    let Some(mut m) = model() else { return };
    // The kernels read the file's Q4_1 and Q8_0 blocks as they are.
    assert_eq!(m.requantized, 0);
    assert_eq!(m.info().formats, "Q4_1 ×210, Q8_0 ×1");
    let t = m.tokenizer();
    let id = |s: &str| t.token_to_id(s).unwrap_or_else(|| panic!("{s:?} is in the vocabulary"));
    // Control tokens and ChatML, with no prefix space before the role (MODEL-NOTES' trap).
    assert_eq!((id("<|endoftext|>"), id("<|im_start|>"), id("<|im_end|>")), (0, 1, 2));
    assert_eq!(m.encode("<|im_start|>user\n").unwrap(), vec![1, id("user"), id("Ċ")]);
    assert_ne!(id("user"), id("Ġuser"));
    // Digits are split one by one; words keep their leading-space form.
    assert_eq!(m.encode("2024").unwrap(), vec![id("2"), id("0"), id("2"), id("4")]);
    assert_eq!(m.encode("Hello world").unwrap(), vec![id("Hello"), id("Ġworld")]);
    let text = "Ünïcode, tabs\tand 漢字 🦀 — round trip";
    assert_eq!(m.decode(&m.encode(text).unwrap()).unwrap(), text);

    let msgs = vec![Message {
        role: Role::User,
        content: "What is the capital of France? Answer with one word.".into(),
    }];
    let p = GenParams { temperature: 0.0, max_tokens: 16, ..GenParams::default() };
    let out = m.generate(&msgs, &p, 1).unwrap().remove(0);
    assert_eq!(out.finish, FinishReason::Stop, "the model ended its turn: {:?}", out.text);
    assert!(out.text.to_lowercase().contains("paris"), "a sensible answer: {:?}", out.text);
    // Every instruction set this CPU runs answers the same way.
    for isa in distillery::llm::engine::isa::supported() {
        let o = distillery::llm::local::LoadOptions { isa: Some(isa), ..Default::default() };
        let mut m2 = LocalModel::load_with(&m.path.clone(), &o).expect("the real model loads");
        let out2 = m2.generate(&msgs, &p, 1).unwrap().remove(0);
        assert!(out2.text.to_lowercase().contains("paris"), "{isa}: {:?}", out2.text);
    }
}
