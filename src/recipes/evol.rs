//! Evol-Instruct (WizardLM) and instruction backtranslation (Humpback).
//!
//! Evol-instruct rewrites an instruction in depth (constraints, deeper questions, concrete
//! details, more reasoning steps) or in breadth (a new, rarer task of the same domain), has the
//! teacher answer the new one, and then eliminates failed evolutions, saying why: copies of the
//! original, rewrites that leak the prompt's own words, unfinished rewrites, refusals and
//! degenerate answers.
//!
//! Backtranslation goes the other way: from a plain document to the request it would answer, so
//! (request, document) becomes a sample.

use super::each::{bad_answer, Made, Source};
use crate::llm::sampling::Rng;
use crate::llm::{FinishReason, GenParams, Generator, LlmError};
use crate::sample::{Message, Role, SampleText};
use crate::text::rouge::{rouge_l, words};
use serde_json::json;

/// The evolutions: (name, what the rewriter is asked to do).
pub const METHODS: &[(&str, &str)] = &[
    ("add-constraints", "Add one more constraint or requirement to it."),
    ("deepen", "If it asks about a topic, make the question deeper and broader."),
    ("concretize", "Replace general concepts with more specific ones."),
    ("more-reasoning", "If it can be solved in a few simple steps, rewrite it so that it needs more steps of reasoning."),
    ("breadth", "Draw inspiration from it to create a brand new prompt of the same domain, but rarer and more specific."),
];

/// Above this ROUGE-L to the original, a rewrite is a copy.
pub const COPY_ROUGE_L: f64 = 0.9;

/// The rewriter prompt.
pub fn evol_prompt(template: &str, method: &str, instruction: &str) -> String {
    template.replace("{method}", method).replace("{instruction}", instruction.trim())
}

/// The instruction as the rewriter sees it (with its input, if any).
fn full_instruction(t: &SampleText) -> String {
    if t.input.trim().is_empty() {
        t.instruction.trim().to_owned()
    } else {
        format!("{}\n{}", t.instruction.trim(), t.input.trim())
    }
}

/// Cleans a rewrite and says why it failed, if it did.
pub fn check_rewrite(
    original: &str,
    rewrite: &str,
    finish: FinishReason,
) -> Result<String, String> {
    let mut r = rewrite.trim();
    for tag in
        ["#Rewritten Prompt#:", "Rewritten Prompt:", "#Rewritten Prompt#", "New prompt:", "Prompt:"]
    {
        if let Some(rest) = r.strip_prefix(tag) {
            r = rest.trim();
        }
    }
    let r = r.trim_matches('"').trim();
    if r.is_empty() {
        return Err("empty rewrite".into());
    }
    if finish == FinishReason::Length {
        return Err("the rewrite did not finish (max tokens)".into());
    }
    let lower = r.to_lowercase();
    if ["given prompt", "rewritten prompt", "#given", "prompt rewriter"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return Err("the rewrite leaks the rewriter's instructions".into());
    }
    let sim = rouge_l(&words(original), &words(r));
    if sim > COPY_ROUGE_L {
        return Err(format!("a copy of the original (ROUGE-L {sim:.2})"));
    }
    if let Some(why) = bad_answer(r) {
        return Err(format!("rewrite: {why}"));
    }
    Ok(r.to_owned())
}

/// One evol-instruct attempt on `src`.
pub fn evolve(
    template: &str,
    model: &mut dyn Generator,
    src: &Source,
    p: &GenParams,
    rng: &mut Rng,
) -> Result<(Made, usize), LlmError> {
    let (method, how) = METHODS[(rng.next_u64() % METHODS.len() as u64) as usize];
    let original = full_instruction(&src.text);
    let ask = evol_prompt(template, how, &original);
    let rw = model
        .generate(
            &[Message { role: Role::User, content: ask }],
            &GenParams { stop: vec!["#Given".into()], ..p.clone() },
            1,
        )?
        .remove(0);
    let mut tokens = rw.completion_tokens;
    let instruction = match check_rewrite(&original, &rw.text, rw.finish) {
        Ok(i) => i,
        Err(reason) => {
            return Ok((Made::Drop { reason: format!("{method}: {reason}"), raw: rw.text }, tokens))
        }
    };
    let answer = model
        .generate(&[Message { role: Role::User, content: instruction.clone() }], p, 1)?
        .remove(0);
    tokens += answer.completion_tokens;
    if let Some(why) = bad_answer(&answer.text) {
        return Ok((
            Made::Drop {
                reason: format!("{method}: {why}"),
                raw: format!("{instruction}\n---\n{}", answer.text),
            },
            tokens,
        ));
    }
    if answer.finish == FinishReason::Length {
        return Ok((
            Made::Drop {
                reason: format!("{method}: the answer did not finish (max tokens)"),
                raw: answer.text,
            },
            tokens,
        ));
    }
    let text =
        SampleText { instruction, output: answer.text.trim().to_owned(), ..SampleText::default() };
    Ok((Made::Keep { text, extra: json!({"evolution": method, "evolved_from": original}) }, tokens))
}

/// Cleans a backtranslated request and says why it failed, if it did.
pub fn check_request(
    document: &str,
    request: &str,
    finish: FinishReason,
) -> Result<String, String> {
    let r = request.trim().trim_start_matches("Request:").trim().trim_matches('"').trim();
    let r = r.lines().next().unwrap_or("").trim();
    if r.is_empty() {
        return Err("empty request".into());
    }
    if finish == FinishReason::Length && r.split_whitespace().count() > 60 {
        return Err("the request did not finish (max tokens)".into());
    }
    let n = r.split_whitespace().count();
    if !(3..=80).contains(&n) {
        return Err(format!("request of {n} words (want 3 to 80)"));
    }
    let sim = rouge_l(&words(document), &words(r));
    if sim > 0.5 {
        return Err(format!("the request copies the document (ROUGE-L {sim:.2})"));
    }
    Ok(r.to_owned())
}

/// One backtranslation attempt: `src.text.output` is the document.
pub fn backtranslate(
    template: &str,
    model: &mut dyn Generator,
    src: &Source,
    p: &GenParams,
) -> Result<(Made, usize), LlmError> {
    let doc = src.text.output.trim();
    let ask = template.replace("{document}", doc);
    let out = model
        .generate(
            &[Message { role: Role::User, content: ask }],
            &GenParams { stop: vec!["\n\n".into()], ..p.clone() },
            1,
        )?
        .remove(0);
    let made = match check_request(doc, &out.text, out.finish) {
        Ok(instruction) => Made::Keep {
            text: SampleText { instruction, output: doc.to_owned(), ..SampleText::default() },
            extra: json!({}),
        },
        Err(reason) => Made::Drop { reason, raw: out.text },
    };
    Ok((made, out.completion_tokens))
}

/// Documents from a file: a `.jsonl` of `{"text": …}` records, else plain text split at blank
/// lines. Errors name the file and line.
pub fn read_documents(path: &std::path::Path) -> Result<Vec<String>, String> {
    if path.is_dir() {
        // Every .txt, .md and .jsonl file in it, in name order.
        let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|e| e == "txt" || e == "md" || e == "jsonl")
            })
            .collect();
        files.sort();
        let mut docs = Vec::new();
        for f in &files {
            docs.extend(read_documents(f)?);
        }
        if docs.is_empty() {
            return Err(format!(
                "{}: no documents (put .txt, .md or .jsonl files there)",
                path.display()
            ));
        }
        return Ok(docs);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "jsonl") {
        let mut docs = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
            let t = v
                .get("text")
                .and_then(|t| t.as_str())
                .ok_or_else(|| format!("{}:{}: no string field \"text\"", path.display(), i + 1))?;
            docs.push(t.to_owned());
        }
        return Ok(docs);
    }
    Ok(text.split("\n\n").map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_are_cleaned_or_eliminated_with_a_reason() {
        let orig = "Add 3 and 4.";
        assert_eq!(
            check_rewrite(
                orig,
                "#Rewritten Prompt#: Add 3 and 4, then double the result.",
                FinishReason::Stop
            )
            .unwrap(),
            "Add 3 and 4, then double the result."
        );
        assert!(check_rewrite(orig, "Add 3 and 4.", FinishReason::Stop)
            .unwrap_err()
            .contains("copy"));
        assert!(check_rewrite(orig, "The given prompt asks to add", FinishReason::Stop)
            .unwrap_err()
            .contains("leaks"));
        assert!(check_rewrite(orig, "Add 3 and 4 and then", FinishReason::Length)
            .unwrap_err()
            .contains("did not finish"));
        assert_eq!(check_rewrite(orig, "", FinishReason::Stop).unwrap_err(), "empty rewrite");
        assert!(check_rewrite(orig, "I'm sorry, I cannot rewrite this.", FinishReason::Stop)
            .unwrap_err()
            .contains("refusal"));
    }

    #[test]
    fn backtranslated_requests_are_checked() {
        let doc =
            "Water boils at 100 degrees Celsius at sea level, and at lower temperatures higher up.";
        assert_eq!(
            check_request(
                doc,
                "Request: At what temperature does water boil?\nmore",
                FinishReason::Stop
            )
            .unwrap(),
            "At what temperature does water boil?"
        );
        assert!(check_request(doc, doc, FinishReason::Stop).unwrap_err().contains("copies"));
        assert!(check_request(doc, "Why?", FinishReason::Stop).unwrap_err().contains("words"));
        assert_eq!(check_request(doc, "  ", FinishReason::Stop).unwrap_err(), "empty request");
    }
}
