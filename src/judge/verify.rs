//! Programmatic verifiers a recipe or task can name: checks by computation, never by running the
//! sample's own code (Self-Debug's idea of checking by execution, kept safe).
//!
//! - `arithmetic`: every "a op b = c" the output states is recomputed.
//! - `json`: the output is one JSON value; with `keys`, an object holding them (a small schema).
//! - `regex`: the output matches a pattern.
//! - `exact`: the output's extracted answer equals a reference answer.

use super::extract::extract;
use serde::{Deserialize, Serialize};

/// A verifier as a config or recipe names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Verifier {
    Arithmetic,
    Json {
        #[serde(default)]
        keys: Vec<String>,
    },
    Regex {
        pattern: String,
    },
    Exact {
        reference: String,
    },
}

/// One verifier's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    /// `None` when the verifier had nothing to check (no equation stated, say).
    pub passed: Option<bool>,
    /// What was checked, or what is wrong.
    pub detail: String,
}

impl Verifier {
    /// Runs the check on a sample's output.
    pub fn check(&self, output: &str) -> Check {
        match self {
            Verifier::Arithmetic => arithmetic(output),
            Verifier::Json { keys } => json(output, keys),
            Verifier::Regex { pattern } => match regex::Regex::new(pattern) {
                Err(e) => Check { name: "regex", passed: Some(false), detail: format!("the pattern {pattern:?} is not valid: {e}") },
                Ok(re) => {
                    let ok = re.is_match(output);
                    Check { name: "regex", passed: Some(ok), detail: format!("{} /{pattern}/", if ok { "matches" } else { "does not match" }) }
                }
            },
            Verifier::Exact { reference } => match (extract(output), extract(reference)) {
                (Some(a), Some(r)) => {
                    let ok = a == r;
                    Check { name: "exact", passed: Some(ok), detail: if ok { format!("answer {} as the reference", a.value) } else { format!("answer {}, reference {}", a.value, r.value) } }
                }
                (None, _) => Check { name: "exact", passed: Some(false), detail: "no answer found in the output".into() },
                (_, None) => Check { name: "exact", passed: None, detail: "the reference has no answer to compare".into() },
            },
        }
    }
}

/// The checks that need no configuration, for any output: its stated arithmetic, and JSON
/// validity when it looks like JSON. Checks with nothing to say are left out.
pub fn automatic(output: &str) -> Vec<Check> {
    let mut out = Vec::new();
    let a = arithmetic(output);
    if a.passed.is_some() {
        out.push(a);
    }
    let t = output.trim_start().trim_start_matches("```json").trim_start_matches("```").trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        out.push(json(output, &[]));
    }
    out
}

/// Recomputes each stated "a op b = c" (op: + − * × / ÷ and x between numbers).
fn arithmetic(output: &str) -> Check {
    static EQUATION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(-?\d(?:[\d,]*\d)?(?:\.\d+)?)\s*([-+*/×÷xX−])\s*(-?\d(?:[\d,]*\d)?(?:\.\d+)?)\s*=\s*\$?(-?\d(?:[\d,]*\d)?(?:\.\d+)?)").expect("a fixed, valid pattern")
    });
    let re = &*EQUATION;
    let num = |s: &str| s.replace(',', "").parse::<f64>().ok();
    let (mut checked, mut wrong) = (0, Vec::new());
    for c in re.captures_iter(output) {
        let (Some(a), Some(b), Some(stated)) = (num(&c[1]), num(&c[3]), num(&c[4])) else { continue };
        let value = match &c[2] {
            "+" => a + b,
            "-" | "−" => a - b,
            "*" | "×" | "x" | "X" => a * b,
            _ if b == 0.0 => f64::NAN,
            _ => a / b,
        };
        checked += 1;
        if !value.is_finite() || (value - stated).abs() > 1e-6 * value.abs().max(1.0) {
            wrong.push(format!("{} is {}, not {}", &c[0][..c[0].find('=').unwrap_or(c[0].len())].trim(), trim_float(value), &c[4]));
        }
    }
    match (checked, wrong.is_empty()) {
        (0, _) => Check { name: "arithmetic", passed: None, detail: "no calculation stated".into() },
        (n, true) => Check { name: "arithmetic", passed: Some(true), detail: format!("{n} calculation{} right", if n == 1 { "" } else { "s" }) },
        (_, false) => Check { name: "arithmetic", passed: Some(false), detail: wrong.join("; ") },
    }
}

fn trim_float(v: f64) -> String {
    if v.is_nan() {
        "undefined".into()
    } else if v == v.trunc() {
        format!("{}", v as i64)
    } else {
        format!("{:.4}", v).trim_end_matches('0').to_owned()
    }
}

fn json(output: &str, keys: &[String]) -> Check {
    let t = output.trim();
    let t = t.strip_prefix("```json").or_else(|| t.strip_prefix("```")).map_or(t, |s| s.trim_end().trim_end_matches("```")).trim();
    match serde_json::from_str::<serde_json::Value>(t) {
        Err(e) => Check { name: "json", passed: Some(false), detail: format!("not JSON: {e}") },
        Ok(_) if keys.is_empty() => Check { name: "json", passed: Some(true), detail: "valid JSON".into() },
        Ok(serde_json::Value::Object(m)) => {
            let missing: Vec<&str> = keys.iter().filter(|k| !m.contains_key(*k)).map(String::as_str).collect();
            match missing.is_empty() {
                true => Check { name: "json", passed: Some(true), detail: format!("an object with {}", keys.join(", ")) },
                false => Check { name: "json", passed: Some(false), detail: format!("missing {}", missing.join(", ")) },
            }
        }
        Ok(_) => Check { name: "json", passed: Some(false), detail: "JSON, but not an object".into() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stated_arithmetic_is_recomputed() {
        let a = Verifier::Arithmetic;
        assert_eq!(a.check("3 + 4 = 7, then 7 × 6 = 42 and 1,200 / 4 = 300.").passed, Some(true));
        let c = a.check("She has 12 - 5 = 8, so 8 are left.");
        assert_eq!(c.passed, Some(false));
        assert_eq!(c.detail, "12 - 5 is 7, not 8");
        assert_eq!(a.check("7 / 0 = 3").passed, Some(false));
        assert_eq!(a.check("The answer is 7.").passed, None, "nothing to check is not a pass");
        assert!(a.check("2.5 * 4 = 10.0").passed.unwrap());
    }

    #[test]
    fn json_regex_and_exact_checks() {
        let keys = |ks: &[&str]| Verifier::Json { keys: ks.iter().map(|s| s.to_string()).collect() };
        assert_eq!(keys(&["name", "date"]).check("{\"name\": \"Marco\", \"date\": \"2021-09-26\"}").passed, Some(true));
        assert_eq!(keys(&[]).check("```json\n[1, 2]\n```").passed, Some(true));
        let c = keys(&["name", "quantity"]).check("{\"name\": \"Marco\"}");
        assert_eq!((c.passed, c.detail.as_str()), (Some(false), "missing quantity"));
        assert!(keys(&[]).check("{\"name\": ").detail.starts_with("not JSON"));
        let date = Verifier::Regex { pattern: r#""date": "\d{4}-\d{2}-\d{2}""#.into() };
        assert_eq!(date.check("{\"date\": \"2021-09-26\"}").passed, Some(true));
        assert_eq!(date.check("{\"date\": \"2021/09/26\"}").passed, Some(false));
        assert!(Verifier::Regex { pattern: "(".into() }.check("x").detail.contains("not valid"));
        let exact = Verifier::Exact { reference: "#### 42".into() };
        assert_eq!(exact.check("6 × 7 = 42, so the answer is 42.").passed, Some(true));
        assert_eq!(exact.check("The answer is 41.").detail, "answer 41, reference 42");
        // With no configuration: arithmetic when stated, JSON when it looks like JSON.
        let auto = automatic("{\"work\": \"3 + 4 = 8\"");
        assert_eq!(auto.iter().map(|c| (c.name, c.passed)).collect::<Vec<_>>(), vec![("arithmetic", Some(false)), ("json", Some(false))]);
        assert!(automatic("Paris.").is_empty());
        // Verifiers are named in config as tagged tables.
        let v: Verifier = toml::from_str("kind = \"json\"\nkeys = [\"name\"]").unwrap();
        assert_eq!(v, keys(&["name"]));
    }
}
