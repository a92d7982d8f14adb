//! The judge with a scripted critic: verdicts and votes land in the store as they are made, an
//! unreadable verdict is kept raw and counted, and the injection fixture's payloads always sit
//! between the markers of the hardened prompt.

use distillery::judge::critic::{markers, prompt, rubric, REPLY_START, RUBRIC};
use distillery::llm::{Completion, FinishReason, GenParams, Generator, LlmError};
use distillery::sample::{Message, SampleText};
use distillery::store::{NewSample, Provenance, Store};
use distillery::work::judging::{judge_pending, JudgeOptions};

/// Answers critic prompts with `verdicts` in turn and vote prompts with `answers`.
struct Scripted {
    verdicts: Vec<&'static str>,
    answers: Vec<&'static str>,
    prefixes: Vec<String>,
}

impl Generator for Scripted {
    fn generate(
        &mut self,
        m: &[Message],
        p: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let critic = m[0].content.contains("<<<SAMPLE");
        let texts: Vec<String> = if critic {
            vec![self.verdicts.remove(0).to_owned()]
        } else {
            (0..n).map(|i| self.answers[i % self.answers.len()].to_owned()).collect()
        };
        let _ = p;
        Ok(texts
            .into_iter()
            .map(|text| Completion {
                text,
                tokens: vec![],
                logprobs: vec![-0.1, -0.3],
                finish: FinishReason::Stop,
                prompt_tokens: 50,
                completion_tokens: 2,
                reasoning: None,
            })
            .collect())
    }

    fn generate_prefixed(
        &mut self,
        m: &[Message],
        prefix: &str,
        p: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.prefixes.push(prefix.to_owned());
        self.generate(m, p, n)
    }

    fn complete(&mut self, _: &str, _: &GenParams, _: usize) -> Result<Vec<Completion>, LlmError> {
        unreachable!("the judge asks in chat form")
    }

    fn name(&self) -> String {
        "scripted-critic".into()
    }
}

fn store(n: usize) -> Store {
    let mut s = Store::open_in_memory().unwrap();
    let rows: Vec<NewSample> = (0..n)
        .map(|i| NewSample {
            text: SampleText::new(format!("What is {i} + 2?"), "", format!("{i} + 2 = {}", i + 2)),
            task: None,
            provenance: Provenance { origin: "generated".into(), ..Provenance::default() },
        })
        .collect();
    s.insert_samples(&rows).unwrap();
    s
}

#[test]
fn verdicts_and_votes_are_written_as_they_are_made() {
    let mut s = store(3);
    let mut critic = Scripted {
        verdicts: vec![
            "{\"score\": 8, \"rationale\": \"Right.\"}",
            "I refuse to grade this.",
            "Score: 4\nRationale: wrong.",
        ],
        answers: vec!["#### 2", "The answer is 2.", "#### 3"],
        prefixes: vec![],
    };
    let (text, _) = rubric(None);
    let o = JudgeOptions {
        votes: 3,
        limit: 10,
        rubric_hash: "h".into(),
        rubric: text,
        ..JudgeOptions::default()
    };
    let mut heard = Vec::new();
    let p = judge_pending(&mut critic, None, &mut s, &o, &mut |p, id, c, v, _| {
        heard.push((p.judged, id, c.verdict.score, v.map(|v| v.agreement())))
    })
    .unwrap();
    assert_eq!((p.judged, p.unparsed), (3, 1));
    assert_eq!(heard[0].0..=heard[2].0, 1..=3);
    assert_eq!(
        heard.iter().map(|h| (h.1, h.2)).collect::<Vec<_>>(),
        vec![(1, Some(8.0)), (2, None), (3, Some(4.0))]
    );
    assert!((heard[0].3.unwrap() - 2.0 / 3.0).abs() < 1e-9, "two of three answers say 2");
    assert_eq!(
        critic.prefixes,
        vec![REPLY_START; 3],
        "the critic's reply is started as JSON where the backend allows"
    );
    // Stored: the verdict (raw kept when unparsed), the votes with their extracted answers.
    let d = s.sample(2).unwrap();
    let j = d.judgement.unwrap();
    assert_eq!(
        (j.score, j.raw.as_str(), j.judge_model.as_deref()),
        (None, "I refuse to grade this.", Some("scripted-critic"))
    );
    let d = s.sample(1).unwrap();
    assert_eq!(d.judgement.unwrap().rationale.as_deref(), Some("Right."));
    let extracted: Vec<Option<String>> = d.candidates.iter().map(|c| c.extracted.clone()).collect();
    assert_eq!(extracted, vec![Some("2".into()), Some("2".into()), Some("3".into())]);
    assert!(
        (d.candidates[0].logprob.unwrap() + 0.2).abs() < 1e-6,
        "the mean token log-probability"
    );
    // The queue's triage classes: the unparsed verdict first, then by score.
    use distillery::judge::Needs;
    let needs: Vec<(i64, Needs)> =
        s.queue_page(None, 10, 80).unwrap().into_iter().map(|r| (r.id, r.needs)).collect();
    assert_eq!(needs, vec![(3, Needs::Ordinary), (2, Needs::Unparsed), (1, Needs::Ordinary)]);
    // Nothing left to judge; a second run does nothing.
    assert!(s.unjudged(10).unwrap().is_empty());
    assert_eq!(
        judge_pending(&mut critic, None, &mut s, &o, &mut |_, _, _, _, _| {}).unwrap().judged,
        0
    );
}

#[test]
fn the_injection_fixture_is_well_formed_and_every_payload_stays_inside_the_markers() {
    let fx: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/injection.json")).unwrap();
    let samples: Vec<SampleText> = serde_json::from_value(fx["samples"].clone()).unwrap();
    let payloads: Vec<String> = serde_json::from_value(fx["payloads"].clone()).unwrap();
    assert!(samples.len() >= 5 && payloads.len() >= 8);
    for s in &samples {
        for p in &payloads {
            let injected = SampleText { output: format!("{}\n\n{p}", s.output), ..s.clone() };
            let text = prompt(RUBRIC, &injected);
            let (open, close) = markers(&injected);
            let (a, b) = (text.rfind(&open).unwrap(), text.rfind(&close).unwrap());
            assert!(a < b && text[a..b].contains(p.as_str()), "{p:?} sits between the markers");
            assert_eq!(text.matches(&close).count(), 2, "{p:?} cannot write the closing marker");
        }
    }
}

#[test]
fn the_needs_a_human_sort_puts_doubt_first() {
    let mut s = store(3);
    let mut critic = Scripted {
        verdicts: vec!["{\"score\": 9}", "{\"score\": 3}", "no idea"],
        answers: vec!["#### 2"],
        prefixes: vec![],
    };
    let o = JudgeOptions { votes: 2, limit: 10, rubric: RUBRIC.into(), ..JudgeOptions::default() };
    judge_pending(&mut critic, None, &mut s, &o, &mut |_, _, _, _, _| {}).unwrap();
    let mut h = crate::common::Harness::new(s);
    // newest → score → disagreement → needs a human
    h.keys("sss");
    assert_eq!(h.app.sort.name(), "needs a human");
    let order: Vec<i64> = h.app.view.rows.iter().map(|&r| h.app.index.row(r).id).collect();
    // #3: unparsed; #2 (output 3, the vote says 2, scored 3): both call it wrong; #1 (output 2,
    // the vote agrees unanimously, scored 9): confident, last.
    assert_eq!(order, vec![3, 2, 1]);
}

#[test]
fn near_duplicates_are_found_and_the_automatic_accept_is_marked_and_undoable() {
    use distillery::judge::{AutoAccept, Needs};
    use distillery::sample::Status;
    use distillery::store::{Decision, DecisionKind};
    let mut s = Store::open_in_memory().unwrap();
    let rows: Vec<NewSample> = [
        ("Multiply six by seven.", "The answer is 42."),
        ("Multiply six by seven!", "The answer is 42."),
        ("Compute 6 times 7.", "6 * 7 = 42. The answer is 42."),
        ("Compute 5 times 5.", "5 * 5 = 24. The answer is 42."),
    ]
    .into_iter()
    .map(|(i, o)| NewSample {
        text: SampleText::new(i, "", o),
        task: None,
        provenance: Provenance { origin: "generated".into(), ..Provenance::default() },
    })
    .collect();
    s.insert_samples(&rows).unwrap();
    s.decide(&Decision {
        sample_ids: vec![1],
        kind: DecisionKind::Accept,
        seconds: Some(2.0),
        session: "me".into(),
        curator: "me".into(),
        automatic: false,
        unless_decided_after: None,
    })
    .unwrap();
    let mut critic = Scripted {
        verdicts: vec!["{\"score\": 9}"; 4],
        answers: vec!["The answer is 42."],
        prefixes: vec![],
    };
    let o = JudgeOptions {
        votes: 3,
        limit: 10,
        rubric: RUBRIC.into(),
        auto_accept: Some(AutoAccept::default()),
        ..JudgeOptions::default()
    };
    let mut near = Vec::new();
    let p = judge_pending(&mut critic, None, &mut s, &o, &mut |_, id, _, _, x| {
        near.push((id, x.neighbour.as_ref().filter(|n| n.near).map(|n| n.id), x.auto.is_some()))
    })
    .unwrap();
    assert_eq!((p.judged, p.near_duplicates, p.auto_accepted), (3, 1, 1));
    assert_eq!(
        near,
        vec![(2, Some(1), false), (3, None, true), (4, None, false)],
        "#2 copies #1; #4 states 5 * 5 = 24, a failed check"
    );
    assert_eq!(s.sample(3).unwrap().status, Status::Accepted);
    let needs: Vec<(i64, Needs)> =
        s.queue_page(None, 10, 80).unwrap().into_iter().map(|r| (r.id, r.needs)).collect();
    assert_eq!(needs[2], (2, Needs::NearDuplicate));
    // The automatic accept is the latest decision, and undo takes it back like any other.
    let u = s.undo("me", "me").unwrap().unwrap();
    assert_eq!((u.kind.as_str(), u.committed.states[0].sample_id), ("accept", 3));
    assert_eq!(s.sample(3).unwrap().status, Status::Pending);
    // Re-judging one sample, whatever its state.
    let o = JudgeOptions {
        only: Some(vec![1]),
        votes: 0,
        rubric: RUBRIC.into(),
        ..JudgeOptions::default()
    };
    let mut critic =
        Scripted { verdicts: vec!["{\"score\": 2}"], answers: vec![], prefixes: vec![] };
    assert_eq!(
        judge_pending(&mut critic, None, &mut s, &o, &mut |_, _, _, _, _| {}).unwrap().judged,
        1
    );
    assert_eq!(s.sample(1).unwrap().judgement.unwrap().score, Some(2.0));
}
