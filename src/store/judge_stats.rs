//! The judge's telemetry: how often the curator's decision matches the critic's side of a
//! threshold, acceptance and edit rates by score band, the score histogram, vote agreement.

use super::{Store, StoreError};
use serde::Serialize;

/// The critic's "keep" side: a score at or above this.
pub const KEEP_AT: f32 = 6.0;

/// Score bands, as `stats` prints them.
pub const BANDS: [(&str, f32, f32); 3] =
    [("1–3", 0.0, 3.5), ("4–6", 3.5, 6.5), ("7–10", 6.5, 11.0)];

/// Vote agreement buckets: under 40%, 40–59%, 60–79%, 80–99%, unanimous.
pub const AGREEMENT_BUCKETS: [&str; 5] = ["<40%", "40–59%", "60–79%", "80–99%", "100%"];

/// Decisions on the samples of one score band.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Band {
    pub samples: u64,
    pub accepted: u64,
    pub edited: u64,
    pub rejected: u64,
}

/// What the judge's signals and the curator's decisions say together.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JudgeStats {
    /// Samples with a verdict, and how many of those verdicts could not be read.
    pub judged: u64,
    pub unparsed: u64,
    /// Samples decided by the curator (not automatically) that have a score.
    pub compared: u64,
    /// Of those, how many the curator kept or rejected on the critic's side of [`KEEP_AT`].
    pub agreed: u64,
    /// The critic said keep, the curator rejected; and the other way round.
    pub overruled_keep: u64,
    pub overruled_reject: u64,
    /// Scores rounded to 1..=10.
    pub histogram: [u64; 10],
    pub bands: [Band; 3],
    /// Samples with a vote per agreement bucket.
    pub vote_agreement: [u64; 5],
    /// Accepts made by the automatic rule, still in force.
    pub auto_accepted: u64,
    pub near_duplicates: u64,
    /// Samples whose stored verifier results include a failure, and samples checked.
    pub failed_checks: u64,
    pub checked: u64,
}

impl JudgeStats {
    /// Critic–human agreement in 0..=1 (None before any comparable decision).
    pub fn agreement(&self) -> Option<f64> {
        (self.compared > 0).then(|| self.agreed as f64 / self.compared as f64)
    }

    /// The figures as text lines (`distillery stats` and the workbench's stats pane).
    pub fn report(&self) -> Vec<String> {
        let pct = |a: u64, b: u64| {
            if b > 0 {
                format!("{:.0}%", 100.0 * a as f64 / b as f64)
            } else {
                "-".into()
            }
        };
        let mut out = vec![format!(
            "judged      {} samples ({} unparsed verdicts, {} near-duplicates)",
            self.judged, self.unparsed, self.near_duplicates
        )];
        out.push(match self.agreement() {
            Some(a) => format!(
                "critic–human agreement {:.0}% of {} decisions (the critic keeps at ≥ {KEEP_AT}); overruled {} keeps, {} drops",
                a * 100.0,
                self.compared,
                self.overruled_keep,
                self.overruled_reject
            ),
            None => "critic–human agreement: no decided sample with a score yet".into(),
        });
        if self.checked > 0 {
            out.push(format!(
                "verifiers   {} of {} checked samples failed a check",
                self.failed_checks, self.checked
            ));
        }
        if self.auto_accepted > 0 {
            out.push(format!(
                "automatic   {} accepted by the [judge.auto_accept] rule (undoable)",
                self.auto_accepted
            ));
        }
        for (i, (name, ..)) in BANDS.iter().enumerate() {
            let b = &self.bands[i];
            let decided = b.accepted + b.edited + b.rejected;
            out.push(format!(
                "score {name:<5} {} samples, {} decided: accepted {} · edited {} · rejected {}",
                b.samples,
                decided,
                pct(b.accepted + b.edited, decided),
                pct(b.edited, b.accepted + b.edited),
                pct(b.rejected, decided)
            ));
        }
        let most = self.histogram.iter().copied().max().unwrap_or(0).max(1);
        for (i, n) in self.histogram.iter().enumerate() {
            let bar = "█".repeat(((*n * 30).div_ceil(most)) as usize);
            out.push(format!("score {:>2}    {bar} {n}", i + 1));
        }
        let votes: Vec<String> = AGREEMENT_BUCKETS
            .iter()
            .zip(self.vote_agreement)
            .map(|(b, n)| format!("{b} {n}"))
            .collect();
        out.push(format!("vote agreement {}", votes.join(" · ")));
        out
    }
}

impl Store {
    pub fn judge_stats(&self) -> Result<JudgeStats, StoreError> {
        let mut st = JudgeStats::default();
        (st.failed_checks, st.checked) = self.check_counts()?;
        let mut stmt = self.conn.prepare(
            "SELECT coalesce(st.status, 'pending'),
                    EXISTS (SELECT 1 FROM judgements j WHERE j.sample_id = s.id),
                    (SELECT score FROM judgements j WHERE j.sample_id = s.id ORDER BY j.id DESC LIMIT 1),
                    coalesce(d.automatic, 0), v.agreement, coalesce(nb.near, 0)
             FROM samples s LEFT JOIN sample_state st ON st.sample_id = s.id
                  LEFT JOIN decisions d ON d.id = st.last_event
                  LEFT JOIN votes v ON v.sample_id = s.id
                  LEFT JOIN neighbours nb ON nb.sample_id = s.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, Option<f64>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<f64>>(4)?,
                r.get::<_, bool>(5)?,
            ))
        })?;
        for row in rows {
            let (status, judged, score, automatic, agreement, near) = row?;
            st.near_duplicates += u64::from(near);
            if let Some(a) = agreement {
                let b = if a >= 1.0 - 1e-9 {
                    4
                } else {
                    ((a * 5.0).floor() as usize).saturating_sub(1).min(3)
                };
                st.vote_agreement[b] += 1;
            }
            let kept = matches!(status.as_str(), "accepted" | "edited");
            if automatic && kept {
                st.auto_accepted += 1;
            }
            if !judged {
                continue;
            }
            st.judged += 1;
            let Some(score) = score.map(|s| s as f32) else {
                st.unparsed += 1;
                continue;
            };
            st.histogram[(score.round().clamp(1.0, 10.0) as usize) - 1] += 1;
            if let Some(i) = BANDS.iter().position(|(_, lo, hi)| score >= *lo && score < *hi) {
                let b = &mut st.bands[i];
                b.samples += 1;
                match status.as_str() {
                    "accepted" => b.accepted += 1,
                    "edited" => b.edited += 1,
                    "rejected" => b.rejected += 1,
                    _ => {}
                }
            }
            if status == "pending" || automatic {
                continue;
            }
            st.compared += 1;
            match (score >= KEEP_AT, kept) {
                (true, true) | (false, false) => st.agreed += 1,
                (true, false) => st.overruled_keep += 1,
                (false, true) => st.overruled_reject += 1,
            }
        }
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SampleText;
    use crate::store::{Decision, DecisionKind, NewJudgement, NewSample, Provenance, VoteSummary};

    #[test]
    fn critic_human_agreement_counts_only_the_curators_decisions() {
        let mut s = Store::open_in_memory().unwrap();
        let rows: Vec<NewSample> = (0..6)
            .map(|i| NewSample {
                text: SampleText::new(format!("q{i}"), "", "a"),
                task: None,
                provenance: Provenance { origin: "generated".into(), ..Provenance::default() },
            })
            .collect();
        s.insert_samples(&rows).unwrap();
        // Scores: #1 9, #2 8, #3 2, #4 unparsed, #5 5, #6 none.
        for (id, score) in
            [(1, Some(9.0)), (2, Some(8.0)), (3, Some(2.0)), (4, None), (5, Some(5.0))]
        {
            s.record_judgement(
                id,
                &NewJudgement {
                    score,
                    rationale: None,
                    raw: "r",
                    judge_model: "m",
                    rubric_hash: "h",
                    confidence: None,
                },
            )
            .unwrap();
        }
        let d = |ids: Vec<i64>, kind, automatic| Decision {
            sample_ids: ids,
            kind,
            seconds: None,
            session: "t".into(),
            curator: "t".into(),
            automatic,
            unless_decided_after: None,
        };
        s.decide(&d(vec![1], DecisionKind::Accept, false)).unwrap(); // agrees
        s.decide(&d(vec![2], DecisionKind::Reject, false)).unwrap(); // overrules a keep
        s.decide(&d(vec![3], DecisionKind::Edit(SampleText::new("q3, fixed", "", "b")), false))
            .unwrap(); // overrules a reject
        s.decide(&d(vec![5], DecisionKind::Accept, true)).unwrap(); // automatic: not compared
        let sum =
            |a: f32| VoteSummary { winner: Some("a".into()), agreement: a, agrees: Some(true) };
        s.record_votes(1, &[], &sum(1.0), "m").unwrap();
        s.record_votes(2, &[], &sum(0.6), "m").unwrap();
        s.record_votes(3, &[], &sum(0.2), "m").unwrap();
        let st = s.judge_stats().unwrap();
        assert_eq!(
            (
                st.judged,
                st.unparsed,
                st.compared,
                st.agreed,
                st.overruled_keep,
                st.overruled_reject
            ),
            (5, 1, 3, 1, 1, 1)
        );
        assert!((st.agreement().unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(st.histogram, [0, 1, 0, 0, 1, 0, 0, 1, 1, 0]);
        assert_eq!(st.bands[0], Band { samples: 1, accepted: 0, edited: 1, rejected: 0 });
        assert_eq!(
            st.bands[1],
            Band { samples: 1, accepted: 1, edited: 0, rejected: 0 },
            "the automatic accept counts as an accept in its band"
        );
        assert_eq!(st.bands[2], Band { samples: 2, accepted: 1, edited: 0, rejected: 1 });
        assert_eq!(st.vote_agreement, [1, 0, 1, 0, 1]);
        assert_eq!(st.auto_accepted, 1);
        assert_eq!(Store::open_in_memory().unwrap().judge_stats().unwrap().agreement(), None);
    }
}
