//! The critic and the vote see the whole conversation: the sample's system prompt and earlier
//! turns reach both, inside the markers for the critic, as messages for the vote.

use distillery::judge::critic::{ballots, critique, markers, prompt, RUBRIC};
use distillery::llm::{Completion, FinishReason, GenParams, Generator, LlmError};
use distillery::sample::{Message, Role, SampleText};

/// Keeps every conversation it is sent; answers "7".
#[derive(Default)]
struct Recorder(Vec<Vec<Message>>);

impl Generator for Recorder {
    fn generate(
        &mut self,
        m: &[Message],
        _: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.0.push(m.to_vec());
        let c = Completion {
            text: "{\"score\": 7, \"rationale\": \"fine\"}".into(),
            tokens: vec![],
            logprobs: vec![],
            finish: FinishReason::Stop,
            prompt_tokens: 1,
            completion_tokens: 1,
            reasoning: None,
        };
        Ok(vec![c; n])
    }
    fn complete(&mut self, _: &str, _: &GenParams, _: usize) -> Result<Vec<Completion>, LlmError> {
        unreachable!()
    }
    fn name(&self) -> String {
        "recorder".into()
    }
}

fn conversation() -> SampleText {
    let mut s = SampleText::new("And in euros?", "", "About 9 euros.");
    s.system = Some("You are a currency assistant. Rates: 1 USD = 0.9 EUR.".into());
    s.history = vec![
        Message { role: Role::User, content: "How much is 10 USD in pounds?".into() },
        Message { role: Role::Assistant, content: "About 7.9 pounds.".into() },
    ];
    s
}

#[test]
fn the_critic_and_the_vote_see_the_system_prompt_and_earlier_turns() {
    let s = conversation();
    let p = prompt(RUBRIC, &s);
    let (open, close) = markers(&s);
    let inside = &p[p.rfind(&open).unwrap()..p.rfind(&close).unwrap()];
    for part in ["Rates: 1 USD = 0.9 EUR", "10 USD in pounds", "About 7.9 pounds", "And in euros?"]
    {
        assert!(inside.contains(part), "{part:?} is missing from the judged sample:\n{inside}");
    }
    // A rubric of the curator's own without `{context}` still gets it, before the request.
    let own = "Judge {open}\nQ: {instruction}\nA: {output}\n{close}";
    let p = prompt(own, &s);
    assert!(
        p.contains("Rates: 1 USD") && p.find("Rates").unwrap() < p.find("And in euros").unwrap()
    );
    // The markers cover the system prompt and history too: changing them changes the markers.
    let mut other = s.clone();
    other.system = Some("You are a pirate.".into());
    assert_ne!(markers(&other), markers(&s));

    let mut m = Recorder::default();
    let c = critique(&mut m, RUBRIC, &s).unwrap();
    assert_eq!(c.verdict.score, Some(7.0));
    let (votes, _) = ballots(&mut m, &s, 3, 5).unwrap();
    assert_eq!(votes.len(), 3);
    let asked = &m.0[1];
    let roles: Vec<Role> = asked.iter().map(|m| m.role).collect();
    assert_eq!(roles, vec![Role::System, Role::User, Role::Assistant, Role::User]);
    assert_eq!(asked[3].content, "And in euros?");
    assert!(asked[0].content.contains("Rates"));
}
