//! Self-refine (Madaan et al.): the critic's rationale goes back to the teacher, which revises
//! the answer. The teacher sees a conversation: the question, its old answer, then the feedback
//! (`assets/recipes/self-refine.txt`). The revision is a new candidate whose parent is the sample it revises, so the
//! detail pane's diff (`d`) shows what changed, and it is judged like any other candidate.
//!
//! Sources: undecided or rejected samples whose newest verdict scored below [`REFINE_BELOW`]
//! and has a rationale, with no self-refine revision yet ([`crate::store::Store::refine_sources`]).
//! A revision is eliminated, with its raw text, when it is empty, unfinished, a refusal or a
//! loop, when it talks about the review instead of answering, or when it changes (almost)
//! nothing.

use super::each::{bad_answer, Made, Source};
use crate::llm::{FinishReason, GenParams, Generator, LlmError};
use crate::sample::{Message, Role, SampleText};
use crate::text::rouge::{rouge_l, words};
use serde_json::json;

/// Samples the critic scored below this are refined.
pub const REFINE_BELOW: f32 = 7.0;

/// Above this ROUGE-L to the old answer, a revision changes nothing worth a look.
pub const SAME_ROUGE_L: f64 = 0.95;

pub use crate::judge::Feedback;

/// The reviser's prompt. Placeholders are filled in one pass, so text inside the sample or the
/// feedback is never filled again.
pub fn refine_prompt(template: &str, text: &SampleText, fb: &Feedback) -> String {
    let score = format!("{:.0}", fb.score);
    let instruction = text.prompt();
    let fill = [
        ("{instruction}", instruction.trim()),
        ("{output}", text.output.trim()),
        ("{score}", score.as_str()),
        ("{feedback}", fb.rationale.trim()),
    ];
    super::fill_once(template, &fill)
}

/// Cleans a revision and says why it failed, if it did.
pub fn check_revision(old: &str, revision: &str, finish: FinishReason) -> Result<String, String> {
    let mut r = revision.trim();
    for tag in ["Better answer:", "Improved answer:", "Revised answer:", "Answer:"] {
        if let Some(rest) = r.strip_prefix(tag) {
            r = rest.trim();
        }
    }
    if let Some(why) = bad_answer(r) {
        return Err(format!("revision: {why}"));
    }
    if finish == FinishReason::Length {
        return Err("the revision did not finish (max tokens)".into());
    }
    let lower = r.to_lowercase();
    if let Some(w) = [
        "reviewer",
        "the original answer",
        "previous answer",
        "revised version",
        "my answer was",
        "feedback",
    ]
    .iter()
    .find(|w| lower.contains(*w))
    {
        return Err(format!("the revision talks about the review (\"{w}\") instead of answering"));
    }
    let sim = rouge_l(&words(old), &words(r));
    if sim > SAME_ROUGE_L {
        return Err(format!(
            "the revision changes almost nothing (ROUGE-L {sim:.2} to the old answer)"
        ));
    }
    Ok(r.to_owned())
}

/// One self-refine attempt on `src` with its critic's feedback.
pub fn refine(
    template: &str,
    model: &mut dyn Generator,
    src: &Source,
    fb: &Feedback,
    p: &GenParams,
) -> Result<(Made, usize), LlmError> {
    // As a conversation: the question, the old answer as the teacher's own turn, then the
    // feedback. A template that quotes {instruction} or {output} itself is sent alone.
    let ask = refine_prompt(template, &src.text, fb);
    let messages = if template.contains("{instruction}") || template.contains("{output}") {
        vec![Message { role: Role::User, content: ask }]
    } else {
        let mut m = src.text.to_messages();
        m.push(Message { role: Role::User, content: ask });
        m
    };
    let out = model.generate(&messages, p, 1)?.remove(0);
    let made = match check_revision(&src.text.output, &out.text, out.finish) {
        Ok(output) => Made::Keep {
            text: SampleText { output, ..src.text.clone() },
            extra: json!({"refined_from": src.parent, "critic_score": fb.score, "critique": fb.rationale}),
        },
        Err(reason) => Made::Drop { reason, raw: out.text },
    };
    Ok((made, out.completion_tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_fills_each_placeholder_once() {
        let text = SampleText::new("Add {output} to 2.", "", "It is {feedback}.");
        let fb = Feedback { score: 3.0, rationale: "Wrong: {score}".into() };
        let p =
            refine_prompt("T: {instruction}\nA: {output}\nS: {score}\nF: {feedback}", &text, &fb);
        assert_eq!(p, "T: Add {output} to 2.\nA: It is {feedback}.\nS: 3\nF: Wrong: {score}");
    }

    #[test]
    fn revisions_are_cleaned_or_eliminated_with_a_reason() {
        let old = "The capital of Australia is Sydney, its largest city.";
        assert_eq!(
            check_revision(
                old,
                "Better answer: The capital of Australia is Canberra.",
                FinishReason::Stop
            )
            .unwrap(),
            "The capital of Australia is Canberra."
        );
        assert!(check_revision(old, old, FinishReason::Stop)
            .unwrap_err()
            .contains("changes almost nothing"));
        assert!(check_revision(old, "  ", FinishReason::Stop).unwrap_err().contains("empty"));
        assert!(check_revision(old, "The capital is Canberra, which", FinishReason::Length)
            .unwrap_err()
            .contains("did not finish"));
        assert!(check_revision(old, "I'm sorry, I cannot help with that.", FinishReason::Stop)
            .unwrap_err()
            .contains("refusal"));
        assert!(check_revision(
            old,
            "Yes, the previous answer was too short for the Reviewer.",
            FinishReason::Stop
        )
        .unwrap_err()
        .contains("talks about the review"));
    }
}
