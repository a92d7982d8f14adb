//! Evol-instruct, backtranslation, self-chat and role-play with a scripted teacher: what is kept
//! lands in the store with provenance, failed evolutions and malformed dialogues say why, and a
//! cancelled run stops.

use distillery::llm::{Completion, FinishReason, GenParams, Generator, LlmError};
use distillery::recipes::dispatch::{run_recipe, sources};
use distillery::recipes::run::{Outcome, Progress, RunOptions};
use distillery::recipes::{template, template_hash};
use distillery::sample::{Instance, Message, SeedTask};
use distillery::store::{NewSeed, Store};

/// Replays outputs in order, whatever the prompt; records the prompts.
pub(crate) struct Replay(pub(crate) Vec<&'static str>, pub(crate) Vec<String>);

impl Generator for Replay {
    fn generate(
        &mut self,
        messages: &[Message],
        p: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let all: Vec<String> = messages.iter().map(|m| m.content.clone()).collect();
        self.complete(&all.join("\n"), p, n)
    }

    fn complete(
        &mut self,
        prompt: &str,
        _: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.1.push(prompt.to_owned());
        let text = if self.0.is_empty() { String::new() } else { self.0.remove(0).to_owned() };
        Ok((0..n)
            .map(|_| Completion {
                text: text.clone(),
                tokens: vec![],
                logprobs: vec![],
                finish: FinishReason::Stop,
                prompt_tokens: 9,
                completion_tokens: 4,
                reasoning: None,
            })
            .collect())
    }

    fn name(&self) -> String {
        "replay".into()
    }
}

pub(crate) fn store() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    let seed = NewSeed {
        seed: SeedTask {
            name: None,
            instruction: "Explain why the sky is blue.".into(),
            instances: vec![Instance {
                input: String::new(),
                output: "Rayleigh scattering.".into(),
            }],
            is_classification: None,
        },
        task: Some("science".into()),
        source: "seeds.jsonl:1".into(),
    };
    s.insert_seeds(&[seed]).unwrap();
    s
}

pub(crate) fn opts(recipe: &str, n: usize) -> RunOptions {
    let (tmpl, _) = template(recipe.parse().unwrap(), None);
    RunOptions {
        cancel: Default::default(),
        n,
        params: GenParams::default(),
        task: None,
        shots: 2,
        template_hash: template_hash(&tmpl),
        template: tmpl,
    }
}

pub(crate) fn run(
    recipe: &str,
    n: usize,
    outputs: Vec<&'static str>,
    s: &mut Store,
    docs: Option<&std::path::Path>,
) -> (Progress, Vec<Outcome>, Replay) {
    let srcs = sources(s, recipe.parse().unwrap(), None, docs).unwrap();
    let mut teacher = Replay(outputs, Vec::new());
    let mut seen = Vec::new();
    let p = run_recipe(
        recipe.parse().unwrap(),
        &mut teacher,
        s,
        &opts(recipe, n),
        &srcs,
        ("a student", "a teacher"),
        2,
        &mut |_, o| seen.push(o.clone()),
    )
    .unwrap();
    (p, seen, teacher)
}

pub(crate) fn reasons(o: &[Outcome]) -> Vec<String> {
    o.iter()
        .filter_map(|o| {
            if let Outcome::Dropped { reason, .. } = o {
                Some(reason.clone())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn evol_instruct_keeps_real_evolutions_and_eliminates_failed_ones_with_a_reason() {
    let mut s = store();
    let outputs = vec![
        "Explain why the sky is blue.", // a copy
        "#Rewritten Prompt#: Explain why the sky is blue at noon but red at sunset, in two steps of reasoning.",
        "At noon sunlight crosses little air, so blue light scattered by molecules dominates; at sunset the path is long and blue is scattered away, leaving red.",
        "The given prompt asks about the sky.", // leaks the rewriter's words
        "Describe how a rainbow forms after rain.",
        "I'm sorry, but I cannot help with that.", // a refusal
    ];
    let (p, seen, teacher) = run("evol-instruct", 1, outputs.clone(), &mut s, None);
    assert_eq!((p.kept, p.dropped), (1, 1), "{seen:?}");
    assert!(reasons(&seen)[0].contains("copy of the original"), "{seen:?}");
    assert!(
        teacher.1[0].contains("#Given Prompt#")
            && teacher.1[0].contains("Explain why the sky is blue.")
    );
    let d = s.sample(1).unwrap();
    assert!(d.original.instruction.starts_with("Explain why the sky is blue at noon"));
    assert!(d.original.output.starts_with("At noon"));
    let prov = &d.provenance;
    assert_eq!(prov.recipe.as_deref(), Some("evol-instruct"));
    assert!(prov.seed_id.is_some());
    let params: serde_json::Value = serde_json::from_str(prov.params.as_deref().unwrap()).unwrap();
    assert_eq!(params["evolved_from"], "Explain why the sky is blue.");
    assert!(params["evolution"].as_str().is_some());
    // With the first sample accepted, the next run evolves it (it becomes the parent).
    let decision = distillery::store::Decision {
        sample_ids: vec![1],
        kind: distillery::store::DecisionKind::Accept,
        seconds: None,
        session: "t".into(),
        curator: "t".into(),
        automatic: false,
        unless_decided_after: None,
    };
    s.decide(&decision).unwrap();
    let (p, seen, _) = run("evol-instruct", 1, outputs[3..].to_vec(), &mut s, None);
    assert_eq!(p.kept, 0);
    let r = reasons(&seen);
    assert!(r[0].contains("leaks") && r[1].contains("refusal"), "{r:?}");
    let srcs = sources(&s, "evol-instruct".parse().unwrap(), None, None).unwrap();
    assert_eq!(srcs[0].parent, Some(1));
}

#[test]
fn backtranslation_pairs_documents_with_requests() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs.txt");
    std::fs::write(&docs, "Mugs ship free on orders of five boxes or more.\n\nThe shop closes on Sundays and public holidays.\n").unwrap();
    let mut s = store();
    let outputs = vec![
        "Request: Do mugs ship free if I order five boxes?",
        "Why?",
        "When is the shop closed?",
    ];
    let (p, seen, teacher) = run("backtranslation", 2, outputs.clone(), &mut s, Some(&docs));
    assert_eq!((p.kept, p.dropped), (2, 1), "{seen:?}");
    assert!(reasons(&seen)[0].contains("words"), "{seen:?}");
    // Each sample pairs a document with the request written for that document.
    for id in [1, 2] {
        let t = s.sample(id).unwrap().original;
        let k = outputs
            .iter()
            .position(|o| o.trim_start_matches("Request: ") == t.instruction)
            .unwrap();
        assert!(teacher.1[k].contains(&t.output), "{t:?} came from prompt {:?}", teacher.1[k]);
        assert!(
            t.output == "Mugs ship free on orders of five boxes or more."
                || t.output == "The shop closes on Sundays and public holidays."
        );
    }
    let e = sources(&s, "backtranslation".parse().unwrap(), None, None).unwrap_err().to_string();
    assert!(e.contains("--docs"), "{e}");
    let bad = dir.path().join("docs.jsonl");
    std::fs::write(&bad, "{\"text\": \"ok\"}\n{\"body\": 1}\n").unwrap();
    let e =
        sources(&s, "backtranslation".parse().unwrap(), None, Some(&bad)).unwrap_err().to_string();
    assert!(e.contains("docs.jsonl:2") && e.contains("text"), "{e}");
    // A folder (the workspace's documents/, which the TUI's dialog uses): its .txt, .md and
    // .jsonl files in name order, others ignored; an empty folder says what to put there.
    let folder = dir.path().join("documents");
    std::fs::create_dir(&folder).unwrap();
    let e = sources(&s, "backtranslation".parse().unwrap(), None, Some(&folder))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no documents") && e.contains(".jsonl"), "{e}");
    std::fs::write(folder.join("b.jsonl"), "{\"text\": \"Third.\"}\n").unwrap();
    std::fs::write(folder.join("a.txt"), "First.\n\nSecond.\n").unwrap();
    std::fs::write(folder.join("notes.pdf"), "not text").unwrap();
    let got: Vec<String> = sources(&s, "backtranslation".parse().unwrap(), None, Some(&folder))
        .unwrap()
        .into_iter()
        .map(|d| d.text.output)
        .collect();
    assert_eq!(got, vec!["First.", "Second.", "Third."]);
}

#[test]
fn self_chat_builds_a_multi_turn_dialogue_turn_by_turn() {
    let mut s = store();
    let outputs = vec![
        "Sunlight scatters off air molecules, and blue scatters most.",
        "Then why are sunsets red?",
        "At sunset light travels through more air, so the blue is scattered away.",
    ];
    let (p, seen, teacher) = run("self-chat", 1, outputs, &mut s, None);
    assert_eq!(p.kept, 1, "{seen:?}");
    assert!(
        teacher.1[0].ends_with("[Human]: Explain why the sky is blue.\n[AI]: "),
        "{:?}",
        teacher.1[0]
    );
    assert!(teacher.1[1].ends_with("[Human]: "));
    let t = s.sample(1).unwrap().original;
    assert_eq!(t.history.len(), 2);
    assert_eq!(t.history[0].content, "Explain why the sky is blue.");
    assert_eq!(t.instruction, "Then why are sunsets red?");
    assert!(t.output.starts_with("At sunset"));
}

#[test]
fn role_play_alternates_two_roles_and_drops_bad_turns() {
    let mut s = store();
    let outputs = vec![
        "Tell me what makes the sky look blue.", "Air molecules scatter short blue wavelengths more than red ones.",
        "Now explain it to a ten-year-old.", "Sunlight bumps into tiny bits of air, and blue bounces around the most, so we see blue everywhere.",
    ];
    let (p, seen, teacher) = run("role-play", 1, outputs, &mut s, None);
    assert_eq!(p.kept, 1, "{seen:?}");
    assert!(
        teacher.1[0].contains("You are a student") && teacher.1[1].contains("You are a teacher")
    );
    let t = s.sample(1).unwrap().original;
    assert_eq!((t.history.len(), t.instruction.as_str()), (2, "Now explain it to a ten-year-old."));
    let (p, seen, _) = run(
        "role-play",
        1,
        vec!["Tell me more about clouds and rain.", "I'm sorry, I cannot help."],
        &mut store(),
        None,
    );
    assert_eq!(p.kept, 0);
    assert!(
        reasons(&seen)[0].contains("assistant role") && reasons(&seen)[0].contains("refusal"),
        "{seen:?}"
    );
}
