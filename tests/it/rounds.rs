//! Rejection sampling, curator policies and headless rounds: only verified distinct answers are
//! kept (with provenance, and hard cases for llm2llm), policies decide as documented and their
//! decisions undo, rounds accumulate data and retrain from the base; the outcome bench's
//! arithmetic.

use distillery::llm::testing::{write_tiny_llama, TinyOptions};
use distillery::llm::{Completion, FinishReason, GenParams, Generator, LlmError};
use distillery::recipes::rejection::{questions, run, Sampling};
use distillery::recipes::run::{Outcome, RunOptions};
use distillery::sample::{EvalItem, Instance, Message, SampleText, SeedTask, Status};
use distillery::store::{NewSample, NewSeed, Provenance, RoundStep, Store};
use distillery::work::policy::{apply, Policy};
use std::collections::HashMap;

/// Answers each question with the answers scripted for its input (the last user message).
struct Answers(HashMap<&'static str, Vec<&'static str>>);

impl Generator for Answers {
    fn generate(
        &mut self,
        messages: &[Message],
        _: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let last = &messages.last().unwrap().content;
        let script = self.0.iter().find(|(k, _)| last.contains(*k)).map(|(_, v)| v.clone());
        let script = script.unwrap_or_default();
        Ok((0..n).map(|i| answer(script.get(i).copied().unwrap_or(""))).collect())
    }
    fn complete(&mut self, _: &str, _: &GenParams, _: usize) -> Result<Vec<Completion>, LlmError> {
        unreachable!("rejection sampling asks in chat form")
    }
    fn name(&self) -> String {
        "scripted".into()
    }
}

/// One scripted answer of three tokens.
pub fn answer(text: &str) -> Completion {
    Completion {
        text: text.to_owned(),
        tokens: vec![1; 3],
        logprobs: vec![-0.1; 3],
        finish: FinishReason::Stop,
        prompt_tokens: 20,
        completion_tokens: 3,
        reasoning: None,
    }
}

pub const INSTRUCTION: &str = "Solve the word problem. Answer with just the number.";

/// Arithmetic seed questions with their reference answers.
pub fn seeds(store: &mut Store, qa: &[(&str, &str)]) {
    let rows: Vec<NewSeed> = qa
        .iter()
        .enumerate()
        .map(|(i, (q, a))| NewSeed {
            seed: SeedTask {
                name: None,
                instruction: INSTRUCTION.into(),
                instances: vec![Instance { input: (*q).into(), output: (*a).into() }],
                is_classification: Some(false),
            },
            task: Some("arithmetic".into()),
            source: format!("questions.jsonl:{}", i + 1),
        })
        .collect();
    store.insert_seeds(&rows).unwrap();
}

fn opts(n: usize, keep: bool) -> (RunOptions, Sampling) {
    let o = RunOptions {
        cancel: Default::default(),
        n,
        params: GenParams::default(),
        task: None,
        shots: 0,
        template: "{prompt}".into(),
        template_hash: "t".into(),
    };
    (o, Sampling { k: 4, keep_failed: keep, ..Sampling::default() })
}

#[test]
fn rejection_sampling_keeps_only_verified_distinct_answers_and_records_hard_cases() {
    let mut s = Store::open_in_memory().unwrap();
    seeds(
        &mut s,
        &[
            ("Tom has 3 apples and gets 2 more.", "5"),
            ("Ann had 9 pens and lost 4.", "5"),
            ("Mei has 7 cards and gets 6 more.", "13"),
        ],
    );
    let mut teacher = Answers(HashMap::from([
        ("Tom has", vec!["5", " 5", "6", "The answer is 5."]),
        ("Ann had", vec!["4", "3", "4", "13"]),
        ("Mei has", vec!["13", "12", "13", ""]),
    ]));
    let qs = questions(&s, None, 1).unwrap();
    assert_eq!(qs.len(), 3);
    let (o, sampling) = opts(3, false);
    let mut outcomes = Vec::new();
    let p = run(&mut teacher, &mut s, &o, &sampling, &qs, &mut |_, o| outcomes.push(o.clone()))
        .unwrap();
    // Tom: "5" and "The answer is 5." (distinct, both right); " 5" is the same answer; "6" wrong.
    // Ann: all wrong; Mei: "13" once.
    assert_eq!((p.attempts, p.kept), (3, 3), "{outcomes:?}");
    let reasons: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Dropped { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert!(reasons.iter().any(|r| r.contains("same answer")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("wrong (reference: number")), "{reasons:?}");
    let rows = s.export_rows(&[Status::Pending]).unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let params: serde_json::Value =
            serde_json::from_str(r.provenance.params.as_deref().unwrap()).unwrap();
        assert_eq!(params["k"], 4);
        assert_eq!(params["verdict"], "pass");
        assert_eq!(params["check"], "reference");
        assert!(params["seed"].as_u64().unwrap() <= i32::MAX as u64, "a portable seed");
        assert_eq!(r.provenance.recipe.as_deref(), Some("rejection-sampling"));
        assert!(r.provenance.seed_id.is_some());
    }
    let tom: Vec<_> = rows.iter().filter(|r| r.current.input.starts_with("Tom")).collect();
    assert_eq!(tom.len(), 2);
    // The question all four answers got wrong is a hard case, offered to llm2llm.
    let hard = s.hard_cases().unwrap();
    assert_eq!(hard.len(), 1);
    assert!(hard[0].input.starts_with("Ann") && hard[0].answer == "4", "{hard:?}");
    let srcs = distillery::recipes::dispatch::sources(
        &s,
        distillery::recipes::Recipe::Llm2llm,
        None,
        None,
    )
    .unwrap();
    assert_eq!(srcs.len(), 1);
    assert_eq!(srcs[0].seed_id, Some(hard[0].item_id));

    // With keep_failed the wrong answers become candidates too, marked; the questions sampled
    // before go last.
    let mut s2 = Store::open_in_memory().unwrap();
    seeds(&mut s2, &[("Ann had 9 pens and lost 4.", "5")]);
    let (o, sampling) = opts(1, true);
    let qs = questions(&s2, None, 1).unwrap();
    run(&mut teacher, &mut s2, &o, &sampling, &qs, &mut |_, _| {}).unwrap();
    let rows = s2.export_rows(&[Status::Pending]).unwrap();
    assert_eq!(rows.len(), 3, "4, 3 and 13: the repeated 4 once");
    assert!(rows.iter().all(|r| r
        .provenance
        .params
        .as_deref()
        .unwrap()
        .contains("\"verdict\":\"fail\"")));
}

fn candidate(s: &mut Store, seed: i64, output: &str, reference: &str) -> i64 {
    let p = serde_json::json!({ "reference": reference }).to_string();
    s.insert_samples(&[NewSample {
        text: SampleText::new(INSTRUCTION, format!("question {seed}"), output),
        task: Some("arithmetic".into()),
        provenance: Provenance {
            origin: "generated".into(),
            recipe: Some("rejection-sampling".into()),
            params: Some(p),
            seed_id: Some(seed),
            ..Provenance::default()
        },
    }])
    .unwrap();
    s.last_sample_id().unwrap()
}

#[test]
fn policies_decide_as_documented_and_their_decisions_undo() {
    let mut s = Store::open_in_memory().unwrap();
    seeds(&mut s, &[("question 1", "5"), ("question 2", "7")]);
    let right = candidate(&mut s, 1, "5", "5");
    let wrong = candidate(&mut s, 1, "6", "5");
    let wrong2a = candidate(&mut s, 2, "8", "7");
    let wrong2b = candidate(&mut s, 2, "9", "7");
    let ids = [right, wrong, wrong2a, wrong2b];

    let d = apply(&mut s, Policy::Verified, &ids).unwrap();
    assert_eq!((d.accepted, d.rejected, d.edited), (1, 3, 0));
    let status = |s: &Store, id: i64| s.sample(id).unwrap().status;
    assert_eq!(status(&s, right), Status::Accepted);
    assert_eq!(status(&s, wrong), Status::Rejected);
    // Automatic events, undone one by one like any other.
    for _ in 0..4 {
        assert!(s.undo("someone", "someone").unwrap().is_some());
    }
    assert!(ids.iter().all(|&id| status(&s, id) == Status::Pending));

    let verdict = distillery::store::NewJudgement {
        score: Some(9.0),
        rationale: None,
        raw: "9",
        judge_model: "critic",
        rubric_hash: "r",
        confidence: None,
    };
    s.record_judgement(right, &verdict).unwrap();
    // reference-fix: one answer per question: question 1 has a right one (the wrong one is
    // rejected), question 2 none: its first wrong answer is fixed, the other rejected.
    let d = apply(&mut s, Policy::ReferenceFix, &ids).unwrap();
    assert_eq!((d.accepted, d.edited, d.rejected), (1, 1, 2));
    let fixed = s.sample(wrong2a).unwrap();
    assert_eq!((fixed.status, fixed.current.output.as_str()), (Status::Edited, "7"));
    assert_eq!(fixed.original.output, "8", "the original stays, the fix is an edit");
    assert_eq!(status(&s, wrong2b), Status::Rejected);
    let stats = s.judge_stats().unwrap();
    assert_eq!(stats.compared, 0, "automatic decisions are left out of critic–human agreement");

    // accept-all takes everything still pending; voted needs a vote.
    let mut s = Store::open_in_memory().unwrap();
    seeds(&mut s, &[("question 1", "5")]);
    let a = candidate(&mut s, 1, "5", "5");
    let b = candidate(&mut s, 1, "6", "5");
    let d = apply(&mut s, Policy::Voted, &[a, b]).unwrap();
    assert_eq!(d.undecided, 2, "no vote, no decision");
    let vote = |agrees, agreement| distillery::store::VoteSummary {
        winner: Some("5".into()),
        agreement,
        agrees: Some(agrees),
    };
    s.record_votes(a, &[], &vote(true, 0.8), "m").unwrap();
    s.record_votes(b, &[], &vote(false, 0.8), "m").unwrap();
    let d = apply(&mut s, Policy::Voted, &[a, b]).unwrap();
    assert_eq!((d.accepted, d.rejected), (1, 1));
    let c = candidate(&mut s, 1, "4", "5");
    let d = apply(&mut s, Policy::AcceptAll, &[a, b, c]).unwrap();
    assert_eq!((d.accepted, d.rejected), (1, 0), "decided samples are left as they are");
}

/// A workspace on the tiny llama (teacher and base) with 8 arithmetic questions and 2 held-out
/// items in `dir`, and an accept-all round spec over it.
pub fn tiny_round(
    dir: &std::path::Path,
) -> (distillery::workspace::Workspace, distillery::work::round::RoundSpec) {
    let base = dir.join("tiny.gguf");
    write_tiny_llama(&base, &TinyOptions { tied: true, q4_1: true, ..TinyOptions::default() })
        .unwrap();
    let wsd = dir.join("ws");
    let (_, _) = distillery::workspace::Workspace::init(&wsd).unwrap();
    let cfg = wsd.join("distillery.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[teacher]\n", &format!("[teacher]\nmodel = {:?}\n", base.display().to_string()));
    std::fs::write(&cfg, text).unwrap();
    let ws = distillery::workspace::Workspace::open(&wsd).unwrap();
    let mut s = ws.store().unwrap();
    let qa: Vec<(String, String)> =
        (0..8).map(|i| (format!("{i} + 2"), (i + 2).to_string())).collect();
    let qa: Vec<(&str, &str)> = qa.iter().map(|(q, a)| (q.as_str(), a.as_str())).collect();
    seeds(&mut s, &qa);
    let items: Vec<(EvalItem, String)> = (0..2)
        .map(|i| {
            let item = EvalItem {
                task: Some("arithmetic".into()),
                instruction: INSTRUCTION.into(),
                input: format!("{i} + 9"),
                reference: (i + 9).to_string(),
                scorer: "number".into(),
            };
            (item, "test".into())
        })
        .collect();
    s.insert_eval_items(&items).unwrap();
    drop(s);
    let spec = distillery::work::round::RoundSpec {
        policy: Policy::AcceptAll,
        budget: 3,
        task: None,
        k: 2,
        shots: 1,
        params: GenParams { temperature: 1.0, max_tokens: 6, seed: 3, ..GenParams::default() },
        train: distillery::train::settings::Settings {
            task: None,
            rank: 2,
            alpha: 4.0,
            dropout: 0.0,
            targets: vec![distillery::train::model::Target::Q],
            max_len: 256,
            seed_share: 0.0,
            options: distillery::train::run::TrainOptions {
                epochs: 1,
                batch: 2,
                checkpoint_every: 0,
                ..Default::default()
            },
        },
        base: base.clone(),
        judge: false,
        eval_max_tokens: 4,
        until: RoundStep::Done,
    };
    (ws, spec)
}

#[test]
fn rounds_accumulate_and_retrain_from_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, spec) = tiny_round(dir.path());
    let base = spec.base.clone();
    let mut teacher = distillery::work::open::open_teacher(&ws, None, None, &mut |_| {}).unwrap();
    // A round cancelled in its first step stops, marked, and `--resume` continues that round.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let e =
        distillery::work::round::run_round(&ws, &spec, teacher.as_mut(), false, stop, &mut |_| {})
            .unwrap_err();
    assert!(e.to_string().contains("cancelled"), "{e}");
    let r0 = ws.store().unwrap().open_round().unwrap().unwrap();
    assert_eq!(r0.step, RoundStep::Cancelled);
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r0 = distillery::work::round::run_round(
        &ws,
        &spec,
        teacher.as_mut(),
        true,
        cancel.clone(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        (r0.round.id, r0.round.step, r0.run_id),
        (1, RoundStep::Done, None),
        "nothing generated, nothing trained"
    );
    let r1 = distillery::work::round::run_round(
        &ws,
        &spec,
        teacher.as_mut(),
        false,
        cancel.clone(),
        &mut |_| {},
    )
    .unwrap();
    let r2 = distillery::work::round::run_round(
        &ws,
        &spec,
        teacher.as_mut(),
        false,
        cancel,
        &mut |_| {},
    )
    .unwrap();
    let s = ws.store().unwrap();
    let (n1, n2) = (r1.decided.accepted, r2.decided.accepted);
    assert!(n1 > 0 && n2 > 0, "{n1} {n2}");
    let runs = s.runs().unwrap();
    assert_eq!(runs.len(), 2);
    for run in &runs {
        assert_eq!(run.base_model, base.display().to_string(), "every round trains from the base");
    }
    // Round 2 trained on both rounds' candidates; the rounds are stored, done, with figures.
    let g = |run: i64| {
        s.metrics()
            .unwrap()
            .into_iter()
            .find(|m| m.run_id == Some(run) && m.metric == "guard.synthetic_share")
            .map(|m| m.n)
    };
    assert_eq!(g(runs[0].id), Some(n1 as i64));
    assert_eq!(g(runs[1].id), Some((n1 + n2) as i64));
    let rounds: Vec<_> = s.rounds().unwrap().into_iter().skip(1).collect();
    assert_eq!(rounds.len(), 2);
    assert!(rounds
        .iter()
        .all(|r| r.step == RoundStep::Done && r.results["figures"]["exact_match"].is_number()));
    // Round 2 sampled fresh questions first.
    let seeds_of = |r: &distillery::store::Round| -> Vec<i64> {
        s.round_samples(r)
            .unwrap()
            .into_iter()
            .filter_map(|id| s.sample(id).unwrap().provenance.seed_id)
            .collect()
    };
    let (a, b) = (seeds_of(&rounds[0]), seeds_of(&rounds[1]));
    assert!(b.iter().all(|x| !a.contains(x)), "{a:?} {b:?}");
}

#[test]
fn the_outcome_bench_computes_its_deltas() {
    use distillery::cli::bench_outcome::{max_drop, share_of_gain};
    assert!((share_of_gain(0.3, 0.1, 0.5).unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(share_of_gain(0.3, 0.5, 0.5), None, "no gain to share");
    assert!((max_drop(&[0.2, 0.25, 0.22, 0.3]) - 0.03).abs() < 1e-12);
    assert_eq!(max_drop(&[0.1, 0.2, 0.3]), 0.0);
}
