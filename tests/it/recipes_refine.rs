//! Recipes stopped mid-run (cancel between and during answers), and self-refine revising from
//! the critic's rationale.

use super::recipes_more::{opts, reasons, run, store, Replay};
use distillery::llm::{Completion, FinishReason, GenParams, Generator, LlmError};
use distillery::recipes::dispatch::{run_recipe, sources};
use distillery::sample::Message;

#[test]
fn a_cancelled_run_stops_before_its_next_attempt() {
    let mut s = store();
    let srcs = sources(&s, "self-chat".parse().unwrap(), None, None).unwrap();
    let o = opts("self-chat", 5);
    o.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
    let p = run_recipe(
        "self-chat".parse().unwrap(),
        &mut Replay(vec![], vec![]),
        &mut s,
        &o,
        &srcs,
        ("a", "b"),
        2,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(p.attempts, 0);
}

/// Answers once, then reports a cancel (as a model does when its flag is set mid-answer).
struct CancelsSecond(usize);

impl Generator for CancelsSecond {
    fn generate(
        &mut self,
        m: &[Message],
        p: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.complete(&m[0].content, p, n)
    }

    fn complete(&mut self, _: &str, _: &GenParams, _: usize) -> Result<Vec<Completion>, LlmError> {
        self.0 += 1;
        if self.0 > 3 {
            return Err(LlmError::Cancelled);
        }
        let text =
            ["Light scatters.", "Why blue?", "Short waves scatter most."][self.0 - 1].to_owned();
        Ok(vec![Completion {
            text,
            tokens: vec![],
            logprobs: vec![],
            finish: FinishReason::Stop,
            prompt_tokens: 1,
            completion_tokens: 2,
            reasoning: None,
        }])
    }

    fn name(&self) -> String {
        "cancels".into()
    }
}

#[test]
fn a_cancel_during_an_answer_ends_the_run_keeping_what_was_kept() {
    let mut s = store();
    let srcs = sources(&s, "self-chat".parse().unwrap(), None, None).unwrap();
    let p = run_recipe(
        "self-chat".parse().unwrap(),
        &mut CancelsSecond(0),
        &mut s,
        &opts("self-chat", 5),
        &srcs,
        ("a", "b"),
        2,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!((p.kept, p.attempts), (1, 2));
    assert_eq!(s.stats().unwrap().samples, 1);
}

#[test]
fn self_refine_revises_low_scored_samples_from_the_critics_rationale() {
    use distillery::sample::SampleText;
    use distillery::store::{Decision, DecisionKind, NewJudgement, NewSample, Provenance};
    let mut s = store();
    let rows: Vec<NewSample> =
        ["Sydney is the capital of Australia.", "Canberra.", "Lyon.", "Water boils at 50 degrees."]
            .iter()
            .enumerate()
            .map(|(i, o)| NewSample {
                text: SampleText::new(format!("Question {i}?"), "", *o),
                task: Some("science".into()),
                provenance: Provenance { origin: "generated".into(), ..Provenance::default() },
            })
            .collect();
    s.insert_samples(&rows).unwrap();
    let j = |score: Option<f32>, rationale: &'static str| NewJudgement {
        score,
        rationale: Some(rationale),
        raw: rationale,
        judge_model: "c",
        rubric_hash: "h",
        confidence: None,
    };
    s.record_judgement(1, &j(Some(3.0), "Wrong: the capital is Canberra.")).unwrap();
    s.record_judgement(2, &j(Some(9.0), "Right.")).unwrap();
    s.record_judgement(3, &j(Some(2.0), "Lyon is not the capital of France.")).unwrap();
    s.record_judgement(4, &j(None, "???")).unwrap();
    // Sample 3 is accepted already: the curator has decided it, there is nothing to revise.
    s.decide(&Decision {
        sample_ids: vec![3],
        kind: DecisionKind::Accept,
        seconds: None,
        session: "t".into(),
        curator: "t".into(),
        automatic: false,
        unless_decided_after: None,
    })
    .unwrap();
    assert_eq!(
        s.refine_sources(None, 7.0, 10).unwrap(),
        vec![1],
        "low scored, undecided, with a rationale; not the high, decided or unparsed ones"
    );
    assert_eq!(s.refine_sources(Some("maths"), 7.0, 10).unwrap(), Vec::<i64>::new());
    let outputs = vec![
        "Sydney is the capital of Australia.",
        "Better answer: Canberra is the capital of Australia; Sydney is its largest city.",
    ];
    let (p, seen, teacher) = run("self-refine", 1, outputs, &mut s, None);
    assert_eq!((p.kept, p.dropped), (1, 1), "{seen:?}");
    assert!(reasons(&seen)[0].contains("changes almost nothing"), "{seen:?}");
    assert!(
        teacher.1[0].contains("Wrong: the capital is Canberra.")
            && teacher.1[0].contains("3/10")
            && teacher.1[0].contains("Sydney is the capital"),
        "{}",
        teacher.1[0]
    );
    let id = s.last_sample_id().unwrap();
    let d = s.sample(id).unwrap();
    assert_eq!(
        d.current.output,
        "Canberra is the capital of Australia; Sydney is its largest city."
    );
    assert_eq!(d.current.instruction, "Question 0?", "the revision answers its parent's prompt");
    assert_eq!(
        (d.provenance.recipe.as_deref(), d.provenance.parent_id, d.task.as_deref()),
        (Some("self-refine"), Some(1), Some("science"))
    );
    let params: serde_json::Value =
        serde_json::from_str(d.provenance.params.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            params["refined_from"].as_i64(),
            params["critic_score"].as_f64(),
            params["critique"].as_str()
        ),
        (Some(1), Some(3.0), Some("Wrong: the capital is Canberra."))
    );
    // A sample is revised once; with nothing left, the recipe says what it needs.
    assert!(s.refine_sources(None, 7.0, 10).unwrap().is_empty());
    let srcs = sources(&s, "self-refine".parse().unwrap(), None, None).unwrap();
    let mut teacher = Replay(vec![], Vec::new());
    let err = run_recipe(
        "self-refine".parse().unwrap(),
        &mut teacher,
        &mut s,
        &opts("self-refine", 1),
        &srcs,
        ("a", "b"),
        2,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("judge first"), "{err}");
}
