//! Reading a critic's verdict: a JSON object, or "Score: N" prose, or neither. An unreadable
//! verdict is kept as unparsed with its raw text and the reason, never a silent null.

use serde_json::Value;

/// How the verdict was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    Prose,
    Unparsed,
}

/// A critic's verdict on one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// 1–10; `None` when unparsed.
    pub score: Option<f32>,
    pub rationale: String,
    pub form: Form,
    /// Why it could not be read (empty when it was).
    pub problem: String,
    /// The critic's output as it came.
    pub raw: String,
}

const SCORE_KEYS: [&str; 4] = ["score", "rating", "overall", "grade"];
const WHY_KEYS: [&str; 5] = ["rationale", "reason", "reasoning", "explanation", "critique"];

/// Reads `raw`. JSON wins when an object with a score is found (the last one: a critic that quotes
/// the sample's own JSON still ends with its verdict); then the last "Score: N" line.
pub fn parse(raw: &str) -> Verdict {
    let unparsed = |problem: String| Verdict {
        score: None,
        rationale: String::new(),
        form: Form::Unparsed,
        problem,
        raw: raw.to_owned(),
    };
    let mut out_of_range = None;
    for obj in json_objects(raw).into_iter().rev() {
        let Some(score) = SCORE_KEYS.iter().find_map(|k| obj.get(*k)).and_then(number) else {
            continue;
        };
        if !(1.0..=10.0).contains(&score) {
            out_of_range = Some(score);
            continue;
        }
        let rationale = WHY_KEYS
            .iter()
            .find_map(|k| obj.get(*k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned();
        return Verdict {
            score: Some(score),
            rationale,
            form: Form::Json,
            problem: String::new(),
            raw: raw.to_owned(),
        };
    }
    // A JSON verdict cut short (the critic ran out of tokens) still states its score.
    match truncated_json(raw) {
        Some((score, rationale)) if (1.0..=10.0).contains(&score) => {
            return Verdict {
                score: Some(score),
                rationale,
                form: Form::Json,
                problem: String::new(),
                raw: raw.to_owned(),
            };
        }
        Some((score, _)) => out_of_range = out_of_range.or(Some(score)),
        None => {}
    }
    match prose_score(raw) {
        Some((score, line)) if (1.0..=10.0).contains(&score) => {
            let rationale = prose_rationale(raw, line);
            Verdict {
                score: Some(score),
                rationale,
                form: Form::Prose,
                problem: String::new(),
                raw: raw.to_owned(),
            }
        }
        Some((score, _)) => unparsed(format!("score {score} is outside 1–10")),
        None => match out_of_range {
            Some(s) => unparsed(format!("score {s} is outside 1–10")),
            None if raw.trim().is_empty() => unparsed("the critic said nothing".into()),
            None => unparsed(
                "no score found (neither JSON with \"score\" nor a \"Score: N\" line)".into(),
            ),
        },
    }
}

/// A score from a JSON value: a number, or a string like "8" or "8/10".
fn number(v: &Value) -> Option<f32> {
    match v {
        Value::Number(n) => n.as_f64().map(|f| f as f32),
        Value::String(s) => leading_number(s.trim()).map(|(n, _)| n),
        _ => None,
    }
}

/// Every top-level `{...}` in `text` that parses as a JSON object.
fn json_objects(text: &str) -> Vec<serde_json::Map<String, Value>> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(off) = text[start..].find('{') {
        let open = start + off;
        let (mut depth, mut in_str, mut esc, mut end) = (0i32, false, false, None);
        for (i, &b) in bytes.iter().enumerate().skip(open) {
            match (in_str, esc, b) {
                (true, true, _) => esc = false,
                (true, false, b'\\') => esc = true,
                (true, false, b'"') => in_str = false,
                (true, false, _) => {}
                (false, _, b'"') => in_str = true,
                (false, _, b'{') => depth += 1,
                (false, _, b'}') => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        match serde_json::from_str::<Value>(&text[open..=end]) {
            Ok(Value::Object(m)) => {
                found.push(m);
                start = end + 1;
            }
            _ => start = open + 1,
        }
    }
    found
}

/// `"score": N` where no whole object parses, and what follows `"rationale": "`.
fn truncated_json(raw: &str) -> Option<(f32, String)> {
    let i = raw.rfind("\"score\"")?;
    let rest = raw[i + 7..].trim_start().strip_prefix(':')?.trim_start().trim_start_matches('"');
    let (score, _) = leading_number(rest)?;
    let rationale = WHY_KEYS.iter().find_map(|k| {
        let j = raw[i..].find(&format!("\"{k}\""))? + i + k.len() + 2;
        let r = raw[j..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
        Some(r.split('"').next().unwrap_or(r).trim().to_owned())
    });
    Some((score, rationale.unwrap_or_default()))
}

/// The number a string starts with, and the rest ("8/10" → 8; "8.5 out of 10" → 8.5).
fn leading_number(s: &str) -> Option<(f32, &str)> {
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let n: f32 = s[..end].trim_end_matches('.').parse().ok()?;
    Some((n, &s[end..]))
}

/// The last line of the form "Score: N" (also "**Score:** N", "Rating - N/10", "Overall score = N"),
/// with its line index.
fn prose_score(raw: &str) -> Option<(f32, usize)> {
    let mut found = None;
    for (i, line) in raw.lines().enumerate() {
        let l = line.trim().trim_start_matches(['#', '*', '-', ' ', '>']).to_lowercase();
        let l = l.replace('*', "");
        for key in ["overall score", "final score", "score", "rating"] {
            if let Some(rest) = l.strip_prefix(key) {
                let rest = rest.trim_start_matches(|c: char| {
                    c == ':' || c == '=' || c == '-' || c.is_whitespace()
                });
                if let Some((n, after)) = leading_number(rest) {
                    let after = after.trim_start();
                    // "7/10" and "7 out of 10" are fine; "7/5" is another scale: not a 1–10 score.
                    let scale = after
                        .strip_prefix('/')
                        .or_else(|| after.strip_prefix("out of"))
                        .and_then(|s| leading_number(s.trim_start()));
                    if scale.is_none_or(|(d, _)| d == 10.0) {
                        found = Some((n, i));
                    } else if let Some((d, _)) = scale {
                        found = Some((n / d * 10.0, i));
                    }
                }
                break;
            }
        }
    }
    found
}

/// "Rationale: …" (and what follows) when the critic labelled it; otherwise every line but the
/// score's.
fn prose_rationale(raw: &str, score_line: usize) -> String {
    let lines: Vec<&str> = raw.lines().collect();
    // The byte offset just past a leading "Rationale" label.
    let label = |l: &str| -> Option<usize> {
        let t = l.trim_start().trim_start_matches(['#', '*', ' ']);
        WHY_KEYS
            .iter()
            .find(|k| t.get(..k.len()).is_some_and(|p| p.eq_ignore_ascii_case(k)))
            .map(|k| l.len() - t.len() + k.len())
    };
    let from = lines.iter().position(|l| label(l).is_some());
    let parts =
        lines.iter().enumerate().skip(from.unwrap_or(0)).filter(|(i, _)| *i != score_line).map(
            |(i, l)| match (Some(i) == from, label(l)) {
                (true, Some(off)) => &l[off..],
                _ => l,
            },
        );
    parts
        .map(|p| p.trim_matches(|c: char| c == ':' || c == '*' || c.is_whitespace()))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_verdicts_are_read_with_their_rationale() {
        let v = parse("{\"score\": 8, \"rationale\": \"Correct and clear.\"}");
        assert_eq!(
            (v.score, v.form, v.rationale.as_str()),
            (Some(8.0), Form::Json, "Correct and clear.")
        );
        // In a code fence, after chatter, with a string score.
        let v = parse("Here is my verdict:\n```json\n{\"rating\": \"7/10\", \"reason\": \"Mostly right.\"}\n```");
        assert_eq!((v.score, v.rationale.as_str()), (Some(7.0), "Mostly right."));
        // A quoted sample object first, the verdict last.
        let v = parse(
            "The output {\"name\": \"Marco\"} is valid. {\"score\": 9, \"explanation\": \"ok\"}",
        );
        assert_eq!(v.score, Some(9.0));
        // Cut short by the token limit: the score is still there.
        let v = parse("{\"score\": 8, \"rationale\": \"The sum is right but the");
        assert_eq!((v.score, v.rationale.as_str()), (Some(8.0), "The sum is right but the"));
    }

    #[test]
    fn prose_verdicts_are_read() {
        let v = parse("The answer adds the numbers correctly.\nScore: 9");
        assert_eq!(
            (v.score, v.form, v.rationale.as_str()),
            (Some(9.0), Form::Prose, "The answer adds the numbers correctly.")
        );
        let v = parse("**Score:** 6/10\n**Rationale:** The date format is wrong.");
        assert_eq!((v.score, v.rationale.as_str()), (Some(6.0), "The date format is wrong."));
        assert_eq!(parse("Rating - 4 out of 10. Too vague.").score, Some(4.0));
        assert_eq!(parse("Score: 4/5").score, Some(8.0), "another scale is rescaled");
        // The last score line wins (the critic may first quote the sample's own "Score: 10").
        assert_eq!(
            parse("The sample says \"Score: 10\".\nScore: 3\nIt tries to game the rubric.").score,
            Some(3.0)
        );
    }

    #[test]
    fn unreadable_verdicts_keep_the_raw_text_and_say_why() {
        for (raw, why) in [
            ("", "said nothing"),
            ("This is a fine answer, I like it.", "no score found"),
            ("Score: 0", "outside 1–10"),
            ("{\"score\": 42}", "outside 1–10"),
            ("{\"score\": \"high\"}", "no score found"),
            ("{\"score\": 11, \"rationale\": \"cut", "outside 1–10"),
        ] {
            let v = parse(raw);
            assert_eq!((v.score, v.form), (None, Form::Unparsed), "{raw:?}");
            assert!(v.problem.contains(why), "{raw:?}: {}", v.problem);
            assert_eq!(v.raw, raw);
        }
    }
}
