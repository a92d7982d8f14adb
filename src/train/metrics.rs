//! The figures stored per model and task (`metrics.metric`): evaluation's and the collapse
//! guard's. One enum, so the evaluator, the guard, the table and the student pane agree on the
//! keys.

/// A stored figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKey {
    /// Held-out answers right by the item's scorer (a share).
    ExactMatch,
    /// Held-out answers that pass every verifier that applies (a share).
    VerifierPass,
    /// The critic's mean score of the held-out answers (1–10).
    CriticScore,
    /// Mean loss on the held-out references.
    Loss,
    /// The training data's share of generated samples.
    SyntheticShare,
    /// Distinct unigrams and bigrams of the training outputs.
    Distinct1,
    Distinct2,
    /// Mean embedding distance between training samples.
    Diversity,
    /// The share of training samples with a near-duplicate.
    NearDupRate,
}

impl MetricKey {
    /// Every figure.
    pub const ALL: [MetricKey; 9] = [
        MetricKey::ExactMatch,
        MetricKey::VerifierPass,
        MetricKey::CriticScore,
        MetricKey::Loss,
        MetricKey::SyntheticShare,
        MetricKey::Distinct1,
        MetricKey::Distinct2,
        MetricKey::Diversity,
        MetricKey::NearDupRate,
    ];

    /// Evaluation's figures, in the order tables show them.
    pub const EVAL: [MetricKey; 4] =
        [MetricKey::ExactMatch, MetricKey::VerifierPass, MetricKey::CriticScore, MetricKey::Loss];

    /// The key in the store.
    pub fn key(self) -> &'static str {
        match self {
            MetricKey::ExactMatch => "exact_match",
            MetricKey::VerifierPass => "verifier_pass",
            MetricKey::CriticScore => "critic_score",
            MetricKey::Loss => "loss",
            MetricKey::SyntheticShare => "guard.synthetic_share",
            MetricKey::Distinct1 => "guard.distinct_1",
            MetricKey::Distinct2 => "guard.distinct_2",
            MetricKey::Diversity => "guard.diversity",
            MetricKey::NearDupRate => "guard.near_dup_rate",
        }
    }

    /// How tables and the pane name it.
    pub fn label(self) -> &'static str {
        match self {
            MetricKey::ExactMatch => "exact match",
            MetricKey::VerifierPass => "verifier pass",
            MetricKey::CriticScore => "critic score",
            MetricKey::Loss => "loss",
            MetricKey::SyntheticShare => "synthetic share",
            MetricKey::Distinct1 => "distinct-1",
            MetricKey::Distinct2 => "distinct-2",
            MetricKey::Diversity => "diversity",
            MetricKey::NearDupRate => "near-dup rate",
        }
    }

    /// Whether it is a share (shown as a percentage) rather than a value.
    pub fn is_share(self) -> bool {
        !matches!(
            self,
            MetricKey::Loss | MetricKey::CriticScore | MetricKey::Diversity | MetricKey::Distinct2
        )
    }

    /// The metric of a stored key.
    pub fn from_key(key: &str) -> Option<MetricKey> {
        MetricKey::ALL.into_iter().find(|m| m.key() == key)
    }

    /// A value as tables show it: shares as percentages, others to three places.
    pub fn format(self, value: f64) -> String {
        if self.is_share() {
            format!("{:.0}%", value * 100.0)
        } else {
            format!("{value:.3}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MetricKey;

    #[test]
    fn keys_round_trip() {
        for m in MetricKey::ALL {
            assert_eq!(MetricKey::from_key(m.key()), Some(m));
        }
        assert_eq!(MetricKey::from_key("nope"), None);
        assert_eq!(MetricKey::ExactMatch.format(0.25), "25%");
        assert_eq!(MetricKey::Loss.format(1.5), "1.500");
    }
}
