//! Programmatic verifiers a recipe or task can name: checks by computation, never by running the
//! sample's own code (Self-Debug's idea of checking by execution, kept safe).
//!
//! - `arithmetic`: every "a op b = c" the output states is recomputed.
//! - `json`: the output is one JSON value; with `keys`, an object holding them (a small schema).
//! - `regex`: the output matches a pattern.
//! - `exact`: the output's extracted answer equals a reference answer: the one the rule gives,
//!   else the sample's own (a `"reference"` in its provenance parameters, written by recipes and
//!   imports that know one); with neither, there is nothing to check.
//!
//! A workspace names them per task or recipe (`[[judge.verify]]` in distillery.toml); the
//! automatic checks (stated arithmetic, JSON that looks like JSON) run on every sample besides.

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
        #[serde(default)]
        reference: Option<String>,
    },
}

/// A verifier and the samples it applies to (`[[judge.verify]]`): those of `task` and of
/// `recipe`, each when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    #[serde(flatten)]
    pub verifier: Verifier,
}

impl VerifyRule {
    pub fn applies(&self, task: Option<&str>, recipe: Option<&str>) -> bool {
        self.task.as_deref().is_none_or(|t| Some(t) == task)
            && self.recipe.as_deref().is_none_or(|r| Some(r) == recipe)
    }
}

/// One verifier's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    /// `None` when the verifier had nothing to check (no equation stated, say).
    pub passed: Option<bool>,
    /// What was checked, or what is wrong.
    pub detail: String,
}

impl Verifier {
    /// Runs the check on a sample's output (`reference`: the sample's own reference answer).
    pub fn check(&self, output: &str, reference: Option<&str>) -> Check {
        match self {
            Verifier::Arithmetic => arithmetic(output),
            Verifier::Json { keys } => json(output, keys),
            Verifier::Regex { pattern } => match regex::Regex::new(pattern) {
                Err(e) => Check {
                    name: "regex",
                    passed: Some(false),
                    detail: format!("the pattern {pattern:?} is not valid: {e}"),
                },
                Ok(re) => {
                    let ok = re.is_match(output);
                    Check {
                        name: "regex",
                        passed: Some(ok),
                        detail: format!(
                            "{} /{pattern}/",
                            if ok { "matches" } else { "does not match" }
                        ),
                    }
                }
            },
            Verifier::Exact { reference: fixed } => {
                match (extract(output), fixed.as_deref().or(reference).and_then(extract)) {
                    (Some(a), Some(r)) => {
                        let ok = a == r;
                        Check {
                            name: "exact",
                            passed: Some(ok),
                            detail: if ok {
                                format!("answer {} as the reference", a.value)
                            } else {
                                format!("answer {}, reference {}", a.value, r.value)
                            },
                        }
                    }
                    (_, None) => Check {
                        name: "exact",
                        passed: None,
                        detail: "no reference answer to compare with".into(),
                    },
                    (None, _) => Check {
                        name: "exact",
                        passed: Some(false),
                        detail: "no answer found in the output".into(),
                    },
                }
            }
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
    let t =
        output.trim_start().trim_start_matches("```json").trim_start_matches("```").trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        out.push(json(output, &[]));
    }
    out
}

/// Every check for a sample: the rules that apply to its task and recipe, the reference check
/// when it carries a reference answer, then the automatic checks of a kind no rule ran. Checks with nothing to check stay in (they say why).
pub fn checks_for(
    rules: &[VerifyRule],
    task: Option<&str>,
    recipe: Option<&str>,
    output: &str,
    reference: Option<&str>,
) -> Vec<Check> {
    let mut out: Vec<Check> = rules
        .iter()
        .filter(|r| r.applies(task, recipe))
        .map(|r| r.verifier.check(output, reference))
        .collect();
    let named: Vec<&str> = out.iter().map(|c| c.name).collect();
    // A sample that carries a reference answer is checked against it, unless a rule already does.
    if let Some(r) = reference.filter(|_| !named.contains(&"exact")) {
        out.push(super::score::reference_check(output, r));
    }
    let auto: Vec<Check> =
        automatic(output).into_iter().filter(|a| !named.contains(&a.name)).collect();
    out.extend(auto);
    out
}

/// The reference answer a sample carries: `"reference"` in its provenance parameters.
pub fn reference_of(params: Option<&str>) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(params?).ok()?;
    v.get("reference")?.as_str().map(str::to_owned)
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
        let (Some(a), Some(b), Some(stated)) = (num(&c[1]), num(&c[3]), num(&c[4])) else {
            continue;
        };
        let value = match &c[2] {
            "+" => a + b,
            "-" | "−" => a - b,
            "*" | "×" | "x" | "X" => a * b,
            _ if b == 0.0 => f64::NAN,
            _ => a / b,
        };
        checked += 1;
        if !value.is_finite() || (value - stated).abs() > 1e-6 * value.abs().max(1.0) {
            wrong.push(format!(
                "{} is {}, not {}",
                &c[0][..c[0].find('=').unwrap_or(c[0].len())].trim(),
                trim_float(value),
                &c[4]
            ));
        }
    }
    match (checked, wrong.is_empty()) {
        (0, _) => {
            Check { name: "arithmetic", passed: None, detail: "no calculation stated".into() }
        }
        (n, true) => Check {
            name: "arithmetic",
            passed: Some(true),
            detail: format!("{n} calculation{} right", if n == 1 { "" } else { "s" }),
        },
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
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .map_or(t, |s| s.trim_end().trim_end_matches("```"))
        .trim();
    match serde_json::from_str::<serde_json::Value>(t) {
        Err(e) => Check { name: "json", passed: Some(false), detail: format!("not JSON: {e}") },
        Ok(_) if keys.is_empty() => {
            Check { name: "json", passed: Some(true), detail: "valid JSON".into() }
        }
        Ok(serde_json::Value::Object(m)) => {
            let missing: Vec<&str> =
                keys.iter().filter(|k| !m.contains_key(*k)).map(String::as_str).collect();
            match missing.is_empty() {
                true => Check {
                    name: "json",
                    passed: Some(true),
                    detail: format!("an object with {}", keys.join(", ")),
                },
                false => Check {
                    name: "json",
                    passed: Some(false),
                    detail: format!("missing {}", missing.join(", ")),
                },
            }
        }
        Ok(_) => {
            Check { name: "json", passed: Some(false), detail: "JSON, but not an object".into() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stated_arithmetic_is_recomputed() {
        let a = |o: &str| Verifier::Arithmetic.check(o, None);
        assert_eq!(a("3 + 4 = 7, then 7 × 6 = 42 and 1,200 / 4 = 300.").passed, Some(true));
        let c = a("She has 12 - 5 = 8, so 8 are left.");
        assert_eq!(c.passed, Some(false));
        assert_eq!(c.detail, "12 - 5 is 7, not 8");
        assert_eq!(a("7 / 0 = 3").passed, Some(false));
        assert_eq!(a("The answer is 7.").passed, None, "nothing to check is not a pass");
        assert!(a("2.5 * 4 = 10.0").passed.unwrap());
    }

    #[test]
    fn json_regex_and_exact_checks() {
        let keys =
            |ks: &[&str]| Verifier::Json { keys: ks.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            keys(&["name", "date"])
                .check("{\"name\": \"Marco\", \"date\": \"2021-09-26\"}", None)
                .passed,
            Some(true)
        );
        assert_eq!(keys(&[]).check("```json\n[1, 2]\n```", None).passed, Some(true));
        let c = keys(&["name", "quantity"]).check("{\"name\": \"Marco\"}", None);
        assert_eq!((c.passed, c.detail.as_str()), (Some(false), "missing quantity"));
        assert!(keys(&[]).check("{\"name\": ", None).detail.starts_with("not JSON"));
        let date = Verifier::Regex { pattern: r#""date": "\d{4}-\d{2}-\d{2}""#.into() };
        assert_eq!(date.check("{\"date\": \"2021-09-26\"}", None).passed, Some(true));
        assert_eq!(date.check("{\"date\": \"2021/09/26\"}", None).passed, Some(false));
        assert!(Verifier::Regex { pattern: "(".into() }
            .check("x", None)
            .detail
            .contains("not valid"));
        let exact = Verifier::Exact { reference: Some("#### 42".into()) };
        assert_eq!(exact.check("6 × 7 = 42, so the answer is 42.", None).passed, Some(true));
        assert_eq!(exact.check("The answer is 41.", None).detail, "answer 41, reference 42");
        // With no configuration: arithmetic when stated, JSON when it looks like JSON.
        let auto = automatic("{\"work\": \"3 + 4 = 8\"");
        assert_eq!(
            auto.iter().map(|c| (c.name, c.passed)).collect::<Vec<_>>(),
            vec![("arithmetic", Some(false)), ("json", Some(false))]
        );
        assert!(automatic("Paris.").is_empty());
        // Without a fixed reference, the sample's own; with neither, nothing to check.
        let own = Verifier::Exact { reference: None };
        assert_eq!(own.check("So 6 × 7 = 42.", Some("42")).passed, Some(true));
        assert_eq!(own.check("So 6 × 7 = 42.", None).passed, None);
        assert_eq!(
            reference_of(Some("{\"seed\": 3, \"reference\": \"#### 42\"}")).as_deref(),
            Some("#### 42")
        );
        // Verifiers are named in config as tagged tables, per task or recipe.
        let v: Verifier = toml::from_str("kind = \"json\"\nkeys = [\"name\"]").unwrap();
        assert_eq!(v, keys(&["name"]));
        #[derive(serde::Deserialize)]
        struct Cfg {
            verify: Vec<VerifyRule>,
        }
        let cfg: Cfg = toml::from_str("[[verify]]\ntask = \"extract\"\nkind = \"json\"\nkeys = [\"name\"]\n\n[[verify]]\nkind = \"regex\"\npattern = \"^[A-Z]\"\n").unwrap();
        let rules = cfg.verify;
        let names = |task: Option<&str>, out: &str| {
            checks_for(&rules, task, Some("self-instruct"), out, None)
                .into_iter()
                .map(|c| (c.name, c.passed))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Some("extract"), "{\"name\": 1}"),
            vec![("json", Some(true)), ("regex", Some(false))],
            "the configured json check replaces the automatic one"
        );
        assert_eq!(
            names(Some("maths"), "Paris, 2 + 2 = 5"),
            vec![("regex", Some(true)), ("arithmetic", Some(false))]
        );
        assert!(!VerifyRule {
            task: None,
            recipe: Some("evol-instruct".into()),
            verifier: Verifier::Arithmetic
        }
        .applies(None, Some("self-instruct")));
    }
}
