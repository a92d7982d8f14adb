//! Recipes end to end with a scripted teacher (recorded outputs, malformed ones included): what is
//! kept lands in the store with provenance, what is dropped says why.

use distillery::llm::{Completion, FinishReason, GenParams, Generator, LlmError};
use distillery::recipes::run::{self_instruct, Outcome, RunOptions};
use distillery::recipes::{template, template_hash, Recipe};
use distillery::sample::{Instance, Message, SeedTask};
use distillery::store::{NewSeed, Store};

/// Replays recorded teacher outputs in order.
struct Scripted(Vec<&'static str>, Vec<String>);

impl Generator for Scripted {
    fn generate(
        &mut self,
        messages: &[Message],
        p: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.complete(&messages[0].content, p, n)
    }

    fn complete(
        &mut self,
        prompt: &str,
        _: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        // Recorded after an opened "3. Input:"; answer with the number this prompt ends on.
        let next = prompt
            .trim_end()
            .trim_end_matches(". Input:")
            .rsplit('\n')
            .next()
            .unwrap_or("3")
            .to_owned();
        self.1.push(prompt.to_owned());
        let text = if self.0.is_empty() {
            String::new()
        } else {
            self.0.remove(0).replace("3. ", &format!("{next}. "))
        };
        Ok((0..n)
            .map(|_| Completion {
                text: text.clone(),
                tokens: vec![1; 5],
                logprobs: vec![-0.1; 5],
                finish: FinishReason::Stop,
                prompt_tokens: 50,
                completion_tokens: 5,
                reasoning: None,
            })
            .collect())
    }

    fn name(&self) -> String {
        "scripted-teacher".into()
    }
}

const INSTRUCTION: &str = "Solve the word problem. Answer with just the number.";

fn store() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    let seeds: Vec<NewSeed> = [
        ("Tom has 3 apples and gets 2 more. How many apples?", "5"),
        ("Ann had 9 pens and lost 4. How many are left?", "5"),
    ]
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
        source: format!("seeds.jsonl:{}", i + 1),
    })
    .collect();
    s.insert_seeds(&seeds).unwrap();
    s
}

#[test]
fn self_instruct_keeps_good_candidates_with_provenance_and_says_why_it_drops() {
    // Continuations after the prompt's opened "3. Input:" (the seeds share one instruction).
    let recorded = vec![
        // Good: a new problem.
        " Mei bakes 12 cakes and sells 7 at the market. How many cakes remain?\n3. Output: 5\n",
        // A copy of a seed: too similar.
        " Tom has 3 apples and gets 2 more. How many apples?\n3. Output: 5",
        // Malformed: no output.
        " Liam has 4 kites.",
        // Off-task keyword.
        " Draw a picture of the apples described below.\n3. Output: (a picture)",
        // Good again.
        " Omar reads 20 pages a day for 3 days. How many pages does he read?\n3. Output: 60",
    ];
    let mut teacher = Scripted(recorded, Vec::new());
    let mut s = store();
    let (tmpl, _) = template(Recipe::SelfInstruct, None);
    let opts = RunOptions {
        cancel: Default::default(),
        n: 2,
        params: GenParams::default(),
        task: None,
        shots: 2,
        template_hash: template_hash(&tmpl),
        template: tmpl,
    };
    let mut outcomes = Vec::new();
    let p =
        self_instruct(&mut teacher, &mut s, &opts, &mut |_, o| outcomes.push(o.clone())).unwrap();
    assert_eq!((p.kept, p.dropped, p.attempts), (2, 3, 5));
    let reasons: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Dropped { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert!(reasons[0].contains("ROUGE-L 1.00"), "{reasons:?}");
    assert_eq!(reasons[1], "unparsable: no output");
    assert!(reasons[2].contains("picture"), "{reasons:?}");
    // The prompt carried the seeds' worked examples.
    assert!(
        teacher.1[0].contains("1. Instruction: Solve the word problem")
            && teacher.1[0].contains("3. Instruction:")
    );
    // The later prompt adds the first kept candidate as an example.
    assert!(teacher.1[4].contains("Mei bakes 12 cakes"));

    let d = s.sample(1).unwrap();
    assert_eq!(
        d.original.input,
        "Mei bakes 12 cakes and sells 7 at the market. How many cakes remain?"
    );
    assert_eq!(d.original.output, "5");
    assert_eq!(d.task.as_deref(), Some("arithmetic"));
    let prov = &d.provenance;
    assert_eq!(
        (prov.origin.as_str(), prov.recipe.as_deref(), prov.model.as_deref()),
        ("generated", Some("self-instruct"), Some("scripted-teacher"))
    );
    assert_eq!(prov.template_hash.as_deref(), Some(template_hash(&opts.template).as_str()));
    assert!(prov.seed_id.is_some());
    let params: serde_json::Value = serde_json::from_str(prov.params.as_deref().unwrap()).unwrap();
    assert!(params["most_similar"]["rouge_l"].as_f64().unwrap() < 0.7);
    assert_eq!(params["shots"].as_array().unwrap().len(), 2);
    assert_eq!(s.sample(2).unwrap().original.output, "60");
}

#[test]
fn no_seeds_is_a_clear_error() {
    let mut s = Store::open_in_memory().unwrap();
    let (tmpl, _) = template(Recipe::SelfInstruct, None);
    let opts = RunOptions {
        cancel: Default::default(),
        n: 1,
        params: GenParams::default(),
        task: None,
        shots: 3,
        template_hash: template_hash(&tmpl),
        template: tmpl,
    };
    let e = self_instruct(&mut Scripted(vec![], vec![]), &mut s, &opts, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("no seed tasks") && e.contains("distillery import"), "{e}");
}

#[test]
fn attempts_are_bounded_when_everything_is_dropped() {
    let mut s = store();
    let (tmpl, _) = template(Recipe::SelfInstruct, None);
    let opts = RunOptions {
        cancel: Default::default(),
        n: 3,
        params: GenParams::default(),
        task: None,
        shots: 2,
        template_hash: template_hash(&tmpl),
        template: tmpl,
    };
    let p = self_instruct(&mut Scripted(vec![], vec![]), &mut s, &opts, &mut |_, _| {}).unwrap();
    assert_eq!((p.kept, p.attempts), (0, 12));
}

#[test]
fn on_the_local_engine_attempts_run_together_and_a_seed_fixes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    distillery::llm::testing::write_tiny_llama(
        &path,
        &distillery::llm::testing::TinyOptions { q4_1: true, tied: true, ..Default::default() },
    )
    .unwrap();
    let mut model = distillery::llm::LocalModel::load(&path).unwrap();
    assert!(
        distillery::recipes::each::attempts_in_flight(&model, 3) > 1,
        "the engine takes several attempts at once"
    );
    let (tmpl, _) = template(Recipe::SelfInstruct, None);
    let run = |model: &mut distillery::llm::LocalModel, seed: u64| {
        let opts = RunOptions {
            cancel: Default::default(),
            n: 3,
            params: GenParams { temperature: 1.0, max_tokens: 24, seed, ..GenParams::default() },
            task: None,
            shots: 2,
            template_hash: template_hash(&tmpl),
            template: tmpl.clone(),
        };
        let mut outcomes = Vec::new();
        let p = self_instruct(model, &mut store(), &opts, &mut |p, o| {
            outcomes.push((p.attempts, o.clone()))
        })
        .unwrap();
        assert_eq!(
            outcomes.iter().map(|o| o.0).collect::<Vec<_>>(),
            (1..=p.attempts).collect::<Vec<_>>(),
            "outcomes in attempt order"
        );
        outcomes
    };
    let a = run(&mut model, 11);
    assert_eq!(a.len(), 12, "the tiny model writes nothing usable: every attempt is spent");
    assert_eq!(run(&mut model, 11), a, "the same seed, the same run");
    assert_ne!(run(&mut model, 12), a);
}
