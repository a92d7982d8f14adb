//! Per-curator figures: each curator's pace, and where two curators decided the same samples,
//! how often they agreed (Cohen's κ on keep vs reject).

use super::{Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// One curator's decisions still in force (automatic ones are not a curator's).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CuratorStats {
    pub curator: String,
    pub decisions: u64,
    pub kept: u64,
    pub rejected: u64,
    pub edited: u64,
    /// Decisions divided by the hours between their first and last (at least one hour).
    pub per_hour: f64,
    pub median_seconds: Option<f64>,
}

/// Two curators on the samples both decided: each one's latest decision, keep or reject.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Agreement {
    pub a: String,
    pub b: String,
    pub samples: u64,
    pub agreed: u64,
    /// Cohen's κ; `None` where chance agreement is total (both gave one label throughout).
    pub kappa: Option<f64>,
}

/// Cohen's κ for two raters' keep (`true`) / reject labels on the same items.
pub fn cohen_kappa(pairs: &[(bool, bool)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let agree = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let a_keep = pairs.iter().filter(|p| p.0).count() as f64 / n;
    let b_keep = pairs.iter().filter(|p| p.1).count() as f64 / n;
    let chance = a_keep * b_keep + (1.0 - a_keep) * (1.0 - b_keep);
    (chance < 1.0 - 1e-12).then(|| (agree - chance) / (1.0 - chance))
}

impl Store {
    /// Every curator's figures, and the agreement of each pair that shares samples.
    pub fn curator_stats(&self) -> Result<(Vec<CuratorStats>, Vec<Agreement>), StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT d.curator, d.sample_id, d.kind, d.seconds, d.created_at FROM decisions d
             WHERE {} AND d.curator IS NOT NULL AND NOT d.automatic ORDER BY d.id",
            super::stats::EFFECTIVE
        ))?;
        type Row = (String, i64, String, Option<f64>, i64);
        let rows = stmt.query_map([], |r| -> rusqlite::Result<Row> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        let mut per: BTreeMap<String, (CuratorStats, Vec<f64>, i64, i64)> = BTreeMap::new();
        // Each curator's latest label per sample: keep (accept, edit) or reject.
        let mut latest: BTreeMap<String, BTreeMap<i64, bool>> = BTreeMap::new();
        for row in rows {
            let (curator, sample, kind, seconds, at) = row?;
            let e = per.entry(curator.clone()).or_insert_with(|| {
                (CuratorStats { curator: curator.clone(), ..Default::default() }, vec![], at, at)
            });
            e.0.decisions += 1;
            match kind.as_str() {
                "accept" => e.0.kept += 1,
                "edit" => e.0.edited += 1,
                _ => e.0.rejected += 1,
            }
            e.1.extend(seconds);
            e.2 = e.2.min(at);
            e.3 = e.3.max(at);
            latest.entry(curator).or_default().insert(sample, kind != "reject");
        }
        let curators = per
            .into_values()
            .map(|(mut c, mut secs, first, last)| {
                c.per_hour = super::stats::per_hour(c.decisions, first, last);
                c.median_seconds = super::stats::median(&mut secs);
                c
            })
            .collect();
        let names: Vec<&String> = latest.keys().collect();
        let mut pairs = Vec::new();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                let (la, lb) = (&latest[*a], &latest[*b]);
                let both: Vec<(bool, bool)> =
                    la.iter().filter_map(|(s, &x)| lb.get(s).map(|&y| (x, y))).collect();
                if both.is_empty() {
                    continue;
                }
                pairs.push(Agreement {
                    a: (*a).clone(),
                    b: (*b).clone(),
                    samples: both.len() as u64,
                    agreed: both.iter().filter(|(x, y)| x == y).count() as u64,
                    kappa: cohen_kappa(&both),
                });
            }
        }
        Ok((curators, pairs))
    }
}

/// The lines `stats` prints for curators (names cleaned for the terminal).
pub fn report(curators: &[CuratorStats], pairs: &[Agreement]) -> Vec<String> {
    let clean = crate::text::clean_line;
    let mut out = Vec::new();
    for (i, c) in curators.iter().enumerate() {
        let label = if i == 0 { "curators" } else { "" };
        let median =
            c.median_seconds.map(|s| format!(", median {s:.1} s each")).unwrap_or_default();
        out.push(format!(
            "{label:<11} {}: {} decisions ({} kept, {} edited, {} rejected), {:.1} per hour{median}",
            clean(&c.curator),
            c.decisions,
            c.kept,
            c.edited,
            c.rejected,
            c.per_hour
        ));
    }
    for p in pairs {
        let kappa = p.kappa.map(|k| format!("κ {k:.2}")).unwrap_or_else(|| "κ undefined".into());
        out.push(format!(
            "agreement   {} and {}: {} of {} shared samples alike, {kappa}",
            clean(&p.a),
            clean(&p.b),
            p.agreed,
            p.samples
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_matches_the_textbook() {
        // 50 items: 20 both keep, 15 both reject, 5 + 10 disagree: po 0.7, pe 0.5, κ 0.4.
        let mut v = vec![(true, true); 20];
        v.extend(vec![(false, false); 15]);
        v.extend(vec![(true, false); 5]);
        v.extend(vec![(false, true); 10]);
        assert!((cohen_kappa(&v).unwrap() - 0.4).abs() < 1e-9);
        assert_eq!(cohen_kappa(&[(true, true), (true, true)]), None);
        assert_eq!(cohen_kappa(&[]), None);
    }
}
