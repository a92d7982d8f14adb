//! The final answer in a model's output, normalised so that votes can count equal answers:
//! `#### N` (GSM8K), "the answer is X", `\boxed{X}`, a chosen option, the last number of a short
//! worked answer, or short normalised text. Long free text has no extractable answer here (it is
//! clustered by embedding instead).

/// What kind of answer was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Number,
    Choice,
    Text,
    /// A cluster of long free-text answers that say the same by embedding similarity; its value
    /// is a label (the first member, shortened, after [`crate::judge::vote::CLUSTER_MARK`]).
    Meaning,
}

/// An extracted, normalised answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Answer {
    pub kind: Kind,
    pub value: String,
}

/// Free text up to this many words counts as a short answer.
const SHORT_WORDS: usize = 12;

/// The answer in `text`, if one can be told.
pub fn extract(text: &str) -> Option<Answer> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(rest) = t.rfind("####").map(|i| &t[i + 4..]) {
        if let Some(n) = first_number(rest) {
            return Some(Answer { kind: Kind::Number, value: n });
        }
    }
    if let Some(inner) = boxed(t) {
        return Some(classify(inner));
    }
    let lower = t.to_lowercase();
    for marker in ["the final answer is", "the answer is", "final answer:", "answer:"] {
        if let Some(i) = lower.rfind(marker) {
            let rest = &t[i + marker.len()..];
            let rest = rest.split(['\n']).next().unwrap_or("").trim();
            if !rest.is_empty() {
                return Some(classify(rest));
            }
        }
    }
    if let Some(c) = choice(t) {
        return Some(Answer { kind: Kind::Choice, value: c });
    }
    let words = t.split_whitespace().count();
    if let Some(n) = last_number(t) {
        // A worked answer ends with its result; a short one may be just the number.
        if words <= 60 {
            return Some(Answer { kind: Kind::Number, value: n });
        }
    }
    (words <= SHORT_WORDS)
        .then(|| Answer { kind: Kind::Text, value: normalise_text(t) })
        .filter(|a| !a.value.is_empty())
}

/// A number, an option letter, or short text.
fn classify(s: &str) -> Answer {
    let s = s.trim().trim_end_matches(['.', '!']);
    if let Some(c) = choice(s).filter(|_| s.len() <= 12) {
        return Answer { kind: Kind::Choice, value: c };
    }
    // A number up front ("9 pencils", "$42, since…") or in a short phrase is the answer.
    let leads =
        s.trim_start_matches(['$', '€', '£']).starts_with(|c: char| c.is_ascii_digit() || c == '-');
    match first_number(s) {
        Some(n) if leads || s.split_whitespace().count() <= 3 => {
            Answer { kind: Kind::Number, value: n }
        }
        _ => Answer { kind: Kind::Text, value: normalise_text(s) },
    }
}

/// The contents of the last `\boxed{...}`.
fn boxed(t: &str) -> Option<&str> {
    let i = t.rfind("\\boxed{")? + 7;
    let mut depth = 1;
    for (j, c) in t[i..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&t[i..i + j]);
                }
            }
            _ => {}
        }
    }
    None
}

/// A chosen option: "(B)", "B)", "B.", "option B", "B" alone.
fn choice(t: &str) -> Option<String> {
    let s = t.trim().trim_end_matches('.');
    let lower = s.to_lowercase();
    let s =
        lower.strip_prefix("option ").or_else(|| lower.strip_prefix("choice ")).unwrap_or(&lower);
    let s = s.trim_start_matches('(').trim_end_matches(')').trim_end_matches(['.', ':']);
    let mut cs = s.chars();
    match (cs.next(), cs.next()) {
        (Some(c @ 'a'..='e'), None) if t.trim().len() <= 12 => {
            Some(c.to_ascii_uppercase().to_string())
        }
        _ => None,
    }
}

/// Numbers in `s`, normalised: "1,234.50" → "1234.5", "$12" → "12", "-3.0" → "-3", "50%" → "50".
fn numbers(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let neg = chars[i] == '-'
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            && (i == 0 || !chars[i - 1].is_alphanumeric());
        if chars[i].is_ascii_digit() || neg {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || ((chars[i] == ',' || chars[i] == '.')
                        && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            let raw: String = chars[start..i].iter().filter(|c| **c != ',').collect();
            out.push(normalise_number(&raw));
        } else {
            i += 1;
        }
    }
    out
}

fn normalise_number(raw: &str) -> String {
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() => {
            let r = (v * 1e6).round() / 1e6;
            if r == r.trunc() && r.abs() < 1e15 {
                format!("{}", r as i64)
            } else {
                format!("{r}")
            }
        }
        _ => raw.to_owned(),
    }
}

fn first_number(s: &str) -> Option<String> {
    numbers(s).into_iter().next()
}

fn last_number(s: &str) -> Option<String> {
    numbers(s).pop()
}

/// Lower case, punctuation and articles dropped, spaces collapsed.
pub fn normalise_text(s: &str) -> String {
    let cleaned: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() || c.is_whitespace() { c } else { ' ' })
        .collect();
    cleaned
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(t: &str) -> Option<(Kind, String)> {
        extract(t).map(|a| (a.kind, a.value))
    }

    #[test]
    fn numbers_are_found_in_the_forms_models_write() {
        let n = |s: &str| Some((Kind::Number, s.to_owned()));
        assert_eq!(value("She has 3 + 4 = 7 apples.\n#### 7"), n("7"));
        assert_eq!(value("#### 1,234.50"), n("1234.5"));
        assert_eq!(value("First 12, then 30. The answer is $42."), n("42"));
        assert_eq!(value("So the total is \\boxed{18}."), n("18"));
        assert_eq!(value("Final answer: -3.0"), n("-3"));
        assert_eq!(value("The answer is 9 which is the number of pencils left."), n("9"));
        assert_eq!(
            value("He gave 5 away and kept 12."),
            n("12"),
            "a short worked answer ends with its result"
        );
        assert_eq!(value("50%"), n("50"));
        assert_eq!(value("The temperature fell to -5 degrees."), n("-5"));
        assert_eq!(
            value("item-3 is sold out"),
            n("3"),
            "a hyphen inside a word is not a minus sign"
        );
    }

    #[test]
    fn options_and_short_text_are_normalised() {
        assert_eq!(value("(b)"), Some((Kind::Choice, "B".into())));
        assert_eq!(value("The answer is C."), Some((Kind::Choice, "C".into())));
        assert_eq!(value("Option D"), Some((Kind::Choice, "D".into())));
        assert_eq!(value("The Eiffel Tower!"), Some((Kind::Text, "eiffel tower".into())));
        assert_eq!(
            value("The answer is: Paris, France."),
            Some((Kind::Text, "paris france".into()))
        );
    }

    #[test]
    fn long_free_text_and_empty_output_have_no_answer() {
        assert_eq!(value(""), None);
        assert_eq!(value("   "), None);
        let essay = "Writing a good cover letter means explaining why you want the job, what you have done that fits it, and how you would \
                     approach the first months, in a friendly but professional tone that shows you read the advert carefully and know the company well.";
        assert_eq!(value(essay), None);
        // A "####" on its own line still reads the number that follows.
        assert_eq!(value("#### \nI think it is 9"), Some((Kind::Number, "9".into())));
    }
}
