//! Rejection sampling's prompt (worked examples as earlier turns, `--worked`'s line) and a short
//! run of the recipe on the real model when it is in the cache.

use super::rounds::{answer, seeds};
use distillery::llm::{Completion, GenParams, Generator, LlmError};
use distillery::recipes::rejection::{questions, run, Sampling};
use distillery::recipes::run::RunOptions;
use distillery::recipes::{template, Recipe};
use distillery::sample::{Message, Role, Status};
use distillery::store::Store;

/// Answers every question with worked solutions, and keeps the conversations it was sent.
struct Worked {
    seen: Vec<Vec<Message>>,
    answers: Vec<&'static str>,
}

impl Generator for Worked {
    fn generate(
        &mut self,
        messages: &[Message],
        _: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.seen.push(messages.to_vec());
        Ok((0..n).map(|i| answer(self.answers[i % self.answers.len()])).collect())
    }
    fn complete(&mut self, _: &str, _: &GenParams, _: usize) -> Result<Vec<Completion>, LlmError> {
        unreachable!("rejection sampling asks in chat form")
    }
    fn name(&self) -> String {
        "worked".into()
    }
}

fn store(qa: &[(&str, &str)]) -> Store {
    let mut s = Store::open_in_memory().unwrap();
    seeds(&mut s, qa);
    s
}

fn options(n: usize, shots: usize, params: GenParams) -> RunOptions {
    let (text, _) = template(Recipe::RejectionSampling, None);
    RunOptions {
        cancel: Default::default(),
        n,
        params,
        task: None,
        shots,
        template_hash: distillery::text::template_hash(&text),
        template: text,
    }
}

#[test]
fn worked_solutions_are_asked_for_and_scored_on_their_final_answer() {
    let mut s = store(&[
        ("Tom has 3 apples and gets 2 more.", "5"),
        ("Ann had 9 pens and lost 4.", "5"),
        ("Mei has 7 cards and gives 2 away.", "5"),
    ]);
    let mut teacher = Worked {
        seen: Vec::new(),
        // Right by its `#### ` line although the steps end on another number; then wrong.
        answers: vec!["3 + 2 = 5, and 5 is 1 more than 4.\n#### 5", "9 - 4 = 6\n#### 6"],
    };
    let qs = questions(&s, None, 7).unwrap();
    let sampling = Sampling { k: 2, worked: true, ..Sampling::default() };
    let o = options(1, 2, GenParams::default());
    run(&mut teacher, &mut s, &o, &sampling, &qs, &mut |_, _| {}).unwrap();

    // One question sampled, two others of its task as worked examples before it, and the
    // template's line after the question itself.
    assert_eq!(teacher.seen.len(), 1);
    let msgs = &teacher.seen[0];
    let users: Vec<&Message> = msgs.iter().filter(|m| m.role == Role::User).collect();
    assert_eq!(users.len(), 3, "{msgs:?}");
    assert_eq!(msgs.iter().filter(|m| m.role == Role::Assistant).count(), 2);
    let last = &msgs.last().unwrap().content;
    assert_eq!(msgs.last().unwrap().role, Role::User);
    assert!(last.contains(&qs[0].input) && last.contains("\"#### <answer>\""), "{last}");
    for m in &users[..2] {
        assert!(!m.content.contains("####"), "earlier turns are the bare examples: {m:?}");
    }

    let rows = s.export_rows(&[Status::Pending]).unwrap();
    let sampled = &qs[0];
    assert_eq!(rows.len(), 1, "one of the two answers is right");
    let params: serde_json::Value =
        serde_json::from_str(rows[0].provenance.params.as_deref().unwrap()).unwrap();
    assert_eq!(params["worked"], true);
    assert_eq!(params["passed"], 1);
    assert_eq!(rows[0].current.input, sampled.input, "the candidate keeps the bare question");
    assert!(rows[0].current.output.ends_with("#### 5"), "{:?}", rows[0].current.output);
}

#[test]
fn rejection_sampling_on_the_real_model() {
    let Some(mut m) = super::llm_real::model() else { return };
    let mut s = store(&[
        ("Tom has 3 apples and gets 2 more. How many apples does he have?", "5"),
        ("Ann had 9 pens and lost 4. How many pens are left?", "5"),
        ("Mei has 7 cards and gets 6 more. How many cards does she have?", "13"),
        ("Sam had 8 coins and gave 3 away. How many coins are left?", "5"),
    ]);
    let qs = questions(&s, None, 3).unwrap();
    let params = GenParams { temperature: 0.8, max_tokens: 24, ..GenParams::default() };
    let sampling = Sampling { k: 4, keep_failed: true, ..Sampling::default() };
    let o = options(2, 2, params);
    let p = run(&mut m, &mut s, &o, &sampling, &qs, &mut |_, _| {}).unwrap();
    assert_eq!(p.attempts, 2);
    assert!(p.tokens > 0);
    // Every stored answer's verdict is the reference scorer's on the model's real text.
    let rows = s.export_rows(&[Status::Pending]).unwrap();
    assert!(!rows.is_empty() && rows.len() <= 8, "{} candidates", rows.len());
    for r in &rows {
        let params: serde_json::Value =
            serde_json::from_str(r.provenance.params.as_deref().unwrap()).unwrap();
        let reference = params["reference"].as_str().unwrap();
        let right = distillery::judge::score::correct("number", &r.current.output, reference);
        let verdict = if right { "pass" } else { "fail" };
        assert_eq!(params["verdict"], verdict, "{:?} vs {reference}", r.current.output);
        assert_eq!(params["k"], 4);
    }
    // A sampled question none of whose answers passed is a hard case; the others are not.
    let passing = |seed: i64| {
        rows.iter().any(|r| {
            r.provenance.seed_id == Some(seed)
                && r.provenance.params.as_deref().unwrap().contains("\"verdict\":\"pass\"")
        })
    };
    let hard: Vec<i64> = s.hard_cases().unwrap().iter().map(|h| h.item_id).collect();
    for q in &qs[..2] {
        assert_eq!(hard.contains(&q.seed_id), !passing(q.seed_id), "{:?}", q.input);
    }
    eprintln!("real model: {} candidates, {} hard cases of 2 questions", rows.len(), hard.len());
}

#[test]
fn the_same_seeds_give_the_same_round() {
    // Two workspaces built alike: the same candidates, decisions and held-out figures, to the bit
    // (what makes `bench outcome` reproducible).
    let once = |dir: &std::path::Path| {
        let (ws, spec) = super::rounds::tiny_round(dir);
        let mut teacher =
            distillery::work::open::open_teacher(&ws, None, None, &mut |_| {}).unwrap();
        let r = distillery::work::round::run_round(
            &ws,
            &spec,
            teacher.as_mut(),
            false,
            Default::default(),
            &mut |_| {},
        )
        .unwrap();
        assert!(r.run_id.is_some() && !r.metrics.is_empty(), "the round trained and evaluated");
        let s = ws.store().unwrap();
        let all = [Status::Pending, Status::Accepted, Status::Edited, Status::Rejected];
        let texts: Vec<(String, String, Status)> = s
            .export_rows(&all)
            .unwrap()
            .into_iter()
            .map(|r| (r.current.input, r.current.output, r.status))
            .collect();
        (texts, r.metrics, r.decided.accepted)
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = once(a.path());
    assert!(!first.0.is_empty());
    assert_eq!(first, once(b.path()));
}
