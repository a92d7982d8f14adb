//! LLM2LLM (Lee et al., 2024): the student's wrong answers on its training items become seeds.
//! For each failure (`distillery eval` stores them), the teacher writes a new example of the same
//! kind that practises the same skill (`assets/recipes/llm2llm.txt`). A task with a fixed
//! instruction keeps it and gets a new input; one without an input gets a new instruction.
//! Each candidate's provenance names the failure, the run and the student's wrong answer.

use super::each::{bad_answer, Made, Source};
use crate::llm::{FinishReason, GenParams, Generator, LlmError};
use crate::sample::{Message, Role, SampleText};
use crate::store::Failure;
use serde_json::json;

/// The prompt for one failure; placeholders are filled in one pass, so text inside the failure
/// is never filled again.
pub fn prompt(template: &str, f: &Failure) -> String {
    let input = if f.input.trim().is_empty() { "(none)" } else { f.input.trim() };
    let fill = [
        ("{instruction}", f.instruction.trim()),
        ("{input}", input),
        ("{reference}", f.reference.trim()),
        ("{answer}", f.answer.trim()),
    ];
    super::fill_once(template, &fill)
}

/// The field after `label` up to the next labelled line. Matching is ASCII case-insensitive:
/// ASCII lower-casing keeps every byte offset (full Unicode lower-casing does not, and a reply
/// with `İ` before the label would have been cut inside a character).
fn field(text: &str, label: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find(&format!("{}:", label.to_ascii_lowercase()))? + label.len() + 1;
    let (rest, rest_lower) = (&text[start..], &lower[start..]);
    let end = ["\ninput:", "\nanswer:", "\noutput:", "\ninstruction:", "\ncorrect answer:", "\n\n"]
        .iter()
        .filter_map(|m| rest_lower.find(m))
        .min()
        .unwrap_or(rest.len());
    let v = rest[..end].trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// Reads the teacher's reply into a sample of the failure's task, or says why not.
pub fn parse(f: &Failure, reply: &str, finish: FinishReason) -> Result<SampleText, String> {
    if finish == FinishReason::Length {
        return Err("the reply did not finish (max tokens)".into());
    }
    let answer =
        field(reply, "Answer").or_else(|| field(reply, "Output")).ok_or("no \"Answer:\" line")?;
    if let Some(why) = bad_answer(&answer) {
        return Err(why);
    }
    let text = if f.input.trim().is_empty() {
        let instruction = field(reply, "Instruction")
            .or_else(|| field(reply, "Input"))
            .ok_or("no new instruction")?;
        SampleText::new(instruction, String::new(), answer)
    } else {
        let input = field(reply, "Input").ok_or("no \"Input:\" line")?;
        let (had, has) = (f.input.split_whitespace().count(), input.split_whitespace().count());
        if has * 2 < had {
            return Err(format!(
                "the new input is a fragment ({has} words; the failed one has {had})"
            ));
        }
        SampleText::new(f.instruction.clone(), input, answer)
    };
    let same = |a: &str, b: &str| {
        crate::judge::extract::normalise_text(a) == crate::judge::extract::normalise_text(b)
    };
    if same(&text.input, &f.input) && same(&text.instruction, &f.instruction) {
        return Err("repeats the failed example instead of writing a new one".into());
    }
    Ok(text)
}

/// One attempt on the failure behind `src`.
pub fn attempt(
    template: &str,
    model: &mut dyn Generator,
    f: &Failure,
    p: &GenParams,
) -> Result<(Made, usize), LlmError> {
    // The reply is started with its first label (local models; endpoints answer in full).
    let label = if f.input.trim().is_empty() { "Instruction:" } else { "Input:" };
    let out = model
        .generate_prefixed(
            &[Message { role: Role::User, content: prompt(template, f) }],
            label,
            p,
            1,
        )?
        .remove(0);
    let reply = if out.text.to_lowercase().contains(&label.to_lowercase()) {
        out.text.clone()
    } else {
        format!("{label}{}", out.text)
    };
    let made = match parse(f, &reply, out.finish) {
        Ok(text) => Made::Keep {
            text,
            extra: json!({ "llm2llm": { "failure_id": f.id, "run_id": f.run_id, "from": f.kind, "item_id": f.item_id, "student_answer": f.answer, "reference": f.reference } }),
        },
        Err(reason) => Made::Drop { reason, raw: reply },
    };
    Ok((made, out.completion_tokens))
}

/// The sources for a list of failures: each keeps its item as parent (a sample) or seed.
pub fn sources(failures: &[Failure]) -> Vec<Source> {
    failures
        .iter()
        .map(|f| Source {
            parent: (f.kind == "sample").then_some(f.item_id),
            seed_id: (f.kind != "sample").then_some(f.item_id),
            task: f.task.clone(),
            text: SampleText::new(f.instruction.clone(), f.input.clone(), f.reference.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(input: &str) -> Failure {
        Failure {
            id: 3,
            run_id: 1,
            kind: "seed".into(),
            item_id: 7,
            task: Some("arithmetic".into()),
            instruction: "Solve the word problem. Answer with just the number.".into(),
            input: input.into(),
            reference: "43".into(),
            answer: "41".into(),
        }
    }

    #[test]
    fn a_reply_becomes_a_new_example_of_the_same_task_or_a_named_drop() {
        let f = failure("Ines has 17 cards and gets 26 more. How many cards does Ines have now?");
        let p = prompt("{instruction}|{input}|{reference}|{answer}", &f);
        assert!(p.ends_with("|43|41"), "{p}");
        let t = parse(
            &f,
            "Input: Tom has 12 apples and gets 5 more. How many apples now?\nAnswer: 17",
            FinishReason::Stop,
        )
        .unwrap();
        assert_eq!((t.instruction.as_str(), t.output.as_str()), (f.instruction.as_str(), "17"));
        assert!(t.input.starts_with("Tom has 12"));
        assert_eq!(
            parse(&f, "Sure! Here it is: 17", FinishReason::Stop).unwrap_err(),
            "no \"Answer:\" line"
        );
        let t = parse(&f, "Input: Ana has 3 pens and gets 4 more. How many pens now?\nOutput: 7\n\nThis example shows…", FinishReason::Stop).unwrap();
        assert_eq!(t.output, "7", "an Output: line serves, up to the blank line");
        assert!(parse(&f, &format!("Input: {}\nAnswer: 43", f.input), FinishReason::Stop)
            .unwrap_err()
            .contains("repeats"));
        assert!(parse(&f, "Input: x\nAnswer: 1", FinishReason::Length)
            .unwrap_err()
            .contains("finish"));
        assert!(parse(&f, "Input: [1]\nAnswer: 23", FinishReason::Stop)
            .unwrap_err()
            .contains("fragment"));
        // Full Unicode lower-casing lengthens `İ`: the labels' offsets must still fit the text.
        let t = parse(
            &f,
            "İİ İstanbul\nInput: Ece has 6 figs and gets 2 more. How many figs now?\nAnswer: 8",
            FinishReason::Stop,
        )
        .unwrap();
        assert_eq!(
            (t.input.as_str(), t.output.as_str()),
            ("Ece has 6 figs and gets 2 more. How many figs now?", "8"),
            "non-ASCII text before a label"
        );
        let open = failure("");
        let t = parse(
            &open,
            "Instruction: Name a prime number above 10.\nAnswer: 11",
            FinishReason::Stop,
        )
        .unwrap();
        assert_eq!(
            (t.instruction.as_str(), t.input.as_str()),
            ("Name a prime number above 10.", "")
        );
    }
}
