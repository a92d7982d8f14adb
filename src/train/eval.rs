//! Evaluating a model: its greedy answers to prompts, scored against references, and its mean
//! loss on the reference answers (the same loss training minimises, on the response tokens only).

use super::data::Example;
use super::model::TrainModel;
use crate::judge::extract::{extract, normalise_text};
use crate::llm::{GenParams, Generator, LlmError};
use crate::sample::SampleText;
use crate::text::rouge::{rouge_l, words};

/// Free-text answers at or above this ROUGE-L to the reference count as right.
pub const TEXT_ROUGE: f64 = 0.5;

/// The scorer a reference calls for when none is given: a number, a JSON value, else text.
pub fn scorer_for(reference: &str) -> &'static str {
    if json_value(reference).is_some_and(|v| v.is_object() || v.is_array()) {
        "json_exact"
    } else if extract(reference).is_some_and(|a| a.kind == crate::judge::extract::Kind::Number) {
        "number"
    } else {
        "text"
    }
}

fn json_value(s: &str) -> Option<serde_json::Value> {
    let t = s
        .trim()
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```")
        .trim();
    let (a, b) = (t.find(['{', '['])?, t.rfind(['}', ']'])?);
    serde_json::from_str(t.get(a..=b)?).ok()
}

/// Whether `answer` is right by `scorer`: `number` (the extracted numbers are equal),
/// `json_exact` (the JSON values are equal), `exact` (equal after normalising case, spaces and
/// punctuation), `text` (ROUGE-L ≥ [`TEXT_ROUGE`]).
pub fn correct(scorer: &str, answer: &str, reference: &str) -> bool {
    match scorer {
        "number" => match (extract(answer), extract(reference)) {
            (Some(a), Some(r)) => a == r,
            _ => false,
        },
        "json_exact" | "json" => match (json_value(answer), json_value(reference)) {
            (Some(a), Some(r)) => a == r,
            _ => false,
        },
        "exact" => normalise_text(answer) == normalise_text(reference),
        _ => rouge_l(&words(answer), &words(reference)) >= TEXT_ROUGE,
    }
}

/// The model's greedy answer to each prompt (`text.output` is ignored), at most `max_tokens`;
/// several prompts in flight at once (the local engine decodes them as one batch). `on` hears
/// how many are answered, in order.
pub fn answer_all(
    model: &mut dyn Generator,
    prompts: &[SampleText],
    max_tokens: usize,
    on: &mut dyn FnMut(usize),
) -> Result<Vec<String>, LlmError> {
    let p = GenParams { temperature: 0.0, max_tokens, ..GenParams::default() };
    let mut out = Vec::with_capacity(prompts.len());
    let mut failed = None;
    let work = |m: &mut dyn Generator, t: &SampleText| {
        let mut msgs = SampleText { output: String::new(), ..t.clone() }.to_messages();
        msgs.pop();
        m.generate(&msgs, &p, 1).map(|mut c| c.remove(0).text.trim().to_owned())
    };
    let mut commit = |i: usize, answer: Result<String, LlmError>| match answer {
        Ok(a) => {
            out.push(a);
            on(i + 1);
            true
        }
        Err(e) => {
            failed = Some(e);
            false
        }
    };
    let width = crate::llm::parallel::width(model, 1, 32);
    let never = std::sync::atomic::AtomicBool::new(false);
    crate::llm::parallel::run_ordered(
        model,
        width,
        &never,
        &mut |i| prompts.get(i),
        &work,
        &mut commit,
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The mean cross-entropy per response token over `examples`, in batches of `batch`, with
/// dropout off, and the number of response tokens it is the mean of.
pub fn mean_loss(
    model: &mut TrainModel,
    examples: &[Example],
    batch: usize,
) -> candle_core::Result<(f64, usize)> {
    model.train = false;
    let (mut sum, mut n) = (0.0, 0usize);
    let idx: Vec<usize> = (0..examples.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let (ids, targets, mask, _) = super::run::batch(examples, chunk)?;
        // A batch without response tokens has no loss to count.
        let Some((loss, k)) = model.loss(&ids, &targets, &mask)? else { continue };
        sum += loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()? * k as f64;
        n += k;
    }
    Ok((if n == 0 { f64::NAN } else { sum / n as f64 }, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scorers_compare_what_their_kind_means() {
        assert!(correct("number", "The answer is 47.", "47"));
        assert!(!correct("number", "48", "47"));
        assert!(!correct("number", "no idea", "47"));
        assert!(correct("json_exact", "```json\n{\"b\": 2, \"a\": 1}\n```", "{\"a\":1,\"b\":2}"));
        assert!(!correct("json_exact", "{\"a\": 1}", "{\"a\":1,\"b\":2}"));
        assert!(correct("exact", "Paris.", "paris"));
        assert!(correct(
            "text",
            "the sky is blue because of scattering",
            "The sky is blue because of Rayleigh scattering"
        ));
        assert!(!correct(
            "text",
            "bread needs flour",
            "The sky is blue because of Rayleigh scattering"
        ));
        assert_eq!(scorer_for("42"), "number");
        assert_eq!(scorer_for("{\"date\": \"2024-01-02\"}"), "json_exact");
        assert_eq!(scorer_for("A long free answer about the weather and the sea."), "text");
    }
}
