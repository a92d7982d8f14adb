//! Scoring an answer against a reference: the held-out evaluation, the rejection-sampling
//! recipe and the `verified` policy all decide "right" the same way.

use super::extract::{extract, normalise_text};
use super::verify::Check;
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

/// The check a reference answer makes on an output: by the reference's own scorer (a number,
/// a JSON value, else text).
pub fn reference_check(output: &str, reference: &str) -> Check {
    let scorer = scorer_for(reference);
    let ok = correct(scorer, output, reference);
    let shown =
        |t: &str| crate::text::truncate_width(&crate::text::clean_line(t.trim()), 60).into_owned();
    Check {
        name: "reference",
        passed: Some(ok),
        detail: if ok {
            format!("{scorer}: as the reference {}", shown(reference))
        } else {
            format!("{scorer}: the reference is {}", shown(reference))
        },
    }
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

    #[test]
    fn a_reference_check_names_its_scorer() {
        let c = reference_check("The answer is 43.", "43");
        assert_eq!((c.name, c.passed), ("reference", Some(true)));
        let c = reference_check("{\"a\": 2}", "{\"a\": 1}");
        assert_eq!(c.passed, Some(false));
        assert!(c.detail.starts_with("json_exact"), "{}", c.detail);
    }
}
