//! The collapse guard: figures on each round's training data that show drift before it bites
//! ("The Curse of Recursion"): how much of it is synthetic, how varied it is (distinct n-grams,
//! the mean pairwise embedding distance, the share of near-duplicate pairs), and warnings when
//! diversity drops or held-out metrics regress from one round to the next.

use super::metrics::MetricKey;

use crate::judge::embed::{cosine, Embedder};
use crate::sample::SampleText;
use std::collections::HashSet;

/// A round's data figures (stored as evaluation metrics named `guard.*`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Guard {
    pub synthetic_share: f64,
    /// Distinct word unigrams and bigrams over all of them, of the prompts and answers.
    pub distinct_1: f64,
    pub distinct_2: f64,
    /// Mean `1 − cosine` over all pairs of prompt+answer embeddings (None without the embedder).
    pub diversity: Option<f64>,
    /// Share of samples with another sample at cosine ≥ the near-duplicate threshold.
    pub near_dup_rate: Option<f64>,
}

impl Guard {
    /// The figures as `(metric, value)` pairs.
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        let mut m = vec![
            (MetricKey::SyntheticShare.key(), self.synthetic_share),
            (MetricKey::Distinct1.key(), self.distinct_1),
            (MetricKey::Distinct2.key(), self.distinct_2),
        ];
        if let Some(d) = self.diversity {
            m.push((MetricKey::Diversity.key(), d));
        }
        if let Some(d) = self.near_dup_rate {
            m.push((MetricKey::NearDupRate.key(), d));
        }
        m
    }
}

/// Distinct n-grams over all n-grams of `texts` (lower-cased words); 0 when there are none.
pub fn distinct_n(texts: &[&str], n: usize) -> f64 {
    let mut seen = HashSet::new();
    let mut total = 0usize;
    for t in texts {
        let w: Vec<String> = t.split_whitespace().map(str::to_lowercase).collect();
        for g in w.windows(n) {
            total += 1;
            seen.insert(g.join(" "));
        }
    }
    if total == 0 {
        0.0
    } else {
        seen.len() as f64 / total as f64
    }
}

/// Mean pairwise `1 − cosine`, and the share of vectors with a neighbour at cosine ≥ `near`.
pub fn diversity(vectors: &[Vec<f32>], near: f32) -> Option<(f64, f64)> {
    let n = vectors.len();
    if n < 2 {
        return None;
    }
    let (mut sum, mut pairs) = (0.0, 0usize);
    let mut has_near = vec![false; n];
    for i in 0..n {
        for j in i + 1..n {
            let c = cosine(&vectors[i], &vectors[j]);
            sum += 1.0 - c as f64;
            pairs += 1;
            if c >= near {
                has_near[i] = true;
                has_near[j] = true;
            }
        }
    }
    Some((sum / pairs as f64, has_near.iter().filter(|&&b| b).count() as f64 / n as f64))
}

/// The figures for a round's texts, `synthetic` of which are accepted samples.
pub fn measure(
    texts: &[&SampleText],
    synthetic: usize,
    embedder: Option<&Embedder>,
    near: f32,
) -> Guard {
    let joined: Vec<String> =
        texts.iter().map(|t| format!("{}\n{}", t.prompt(), t.output)).collect();
    let refs: Vec<&str> = joined.iter().map(String::as_str).collect();
    let mut g = Guard {
        synthetic_share: if texts.is_empty() { 0.0 } else { synthetic as f64 / texts.len() as f64 },
        distinct_1: distinct_n(&refs, 1),
        distinct_2: distinct_n(&refs, 2),
        ..Guard::default()
    };
    // At most 400 samples are embedded: the pairs grow with the square.
    let refs = &refs[..refs.len().min(400)];
    if let Some(Ok(vs)) = embedder.map(|e| e.embed(refs)) {
        if let Some((d, r)) = diversity(&vs, near) {
            g.diversity = Some(d);
            g.near_dup_rate = Some(r);
        }
    }
    g
}

/// Warnings comparing a round with the one before it (`(metric, value)` pairs of each):
/// diversity down by more than 10%, the near-duplicate rate up by more than 10 points, held-out
/// exact match or verifier pass rate down by more than 5 points, loss up by more than 5%.
pub fn warnings(
    round: i64,
    now: &[(String, f64)],
    before: &[(String, f64)],
    before_name: &str,
) -> Vec<String> {
    let get = |v: &[(String, f64)], k: &str| v.iter().find(|(m, _)| m == k).map(|(_, x)| *x);
    let mut out = Vec::new();
    for (k, what) in [
        (MetricKey::Diversity.key(), "embedding diversity"),
        (MetricKey::Distinct2.key(), "distinct-2"),
    ] {
        if let (Some(a), Some(b)) = (get(now, k), get(before, k)) {
            if b > 0.0 && a < b * 0.9 {
                out.push(format!("round {round}: {what} fell {:.0}% from {before_name} ({b:.3} → {a:.3}): the data is narrowing", (1.0 - a / b) * 100.0));
            }
        }
    }
    if let (Some(a), Some(b)) =
        (get(now, MetricKey::NearDupRate.key()), get(before, MetricKey::NearDupRate.key()))
    {
        if a > b + 0.10 {
            out.push(format!(
                "round {round}: near-duplicates rose from {:.0}% to {:.0}% of the data",
                b * 100.0,
                a * 100.0
            ));
        }
    }
    for (k, what) in [
        (MetricKey::ExactMatch.key(), "exact match"),
        (MetricKey::VerifierPass.key(), "verifier pass rate"),
    ] {
        if let (Some(a), Some(b)) = (get(now, k), get(before, k)) {
            if a < b - 0.05 {
                out.push(format!("round {round}: held-out {what} regressed from {:.0}% ({before_name}) to {:.0}%", b * 100.0, a * 100.0));
            }
        }
    }
    if let (Some(a), Some(b)) =
        (get(now, MetricKey::Loss.key()), get(before, MetricKey::Loss.key()))
    {
        if a > b * 1.05 {
            out.push(format!(
                "round {round}: held-out loss rose from {b:.3} ({before_name}) to {a:.3}"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_n_counts_repeats_and_diversity_sees_copies() {
        assert_eq!(distinct_n(&["a b a b"], 1), 0.5);
        assert!((distinct_n(&["a b c", "a b d"], 2) - 3.0 / 4.0).abs() < 1e-12);
        assert_eq!(distinct_n(&[""], 2), 0.0);
        let v = |x: f32, y: f32| {
            let n = (x * x + y * y).sqrt();
            vec![x / n, y / n]
        };
        let (d, near) = diversity(&[v(1.0, 0.0), v(1.0, 0.01), v(0.0, 1.0)], 0.9).unwrap();
        assert!(d > 0.5 && d < 0.8, "{d}");
        assert!((near - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(diversity(&[v(1.0, 0.0)], 0.9), None);
    }

    #[test]
    fn warnings_name_what_regressed_and_stay_quiet_otherwise() {
        let s = |v: &[(&str, f64)]| v.iter().map(|(k, x)| (k.to_string(), *x)).collect::<Vec<_>>();
        let before = s(&[
            ("guard.diversity", 0.60),
            ("exact_match", 0.40),
            ("loss", 2.0),
            ("guard.near_dup_rate", 0.05),
        ]);
        let same = s(&[
            ("guard.diversity", 0.58),
            ("exact_match", 0.38),
            ("loss", 2.05),
            ("guard.near_dup_rate", 0.10),
        ]);
        assert!(warnings(2, &same, &before, "round 1").is_empty());
        let worse = s(&[
            ("guard.diversity", 0.40),
            ("exact_match", 0.20),
            ("loss", 2.5),
            ("guard.near_dup_rate", 0.30),
        ]);
        let w = warnings(2, &worse, &before, "round 1");
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("embedding diversity fell 33%"), "{w:?}");
        assert!(
            w.iter().any(|l| l.contains("exact match regressed from 40% (round 1) to 20%")),
            "{w:?}"
        );
    }
}
