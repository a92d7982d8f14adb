//! Aggregate figures for `distillery stats` and the status line.

use super::{Store, StoreError};
use crate::sample::Status;
use serde::Serialize;
use std::collections::BTreeMap;

/// Samples per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub pending: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub edited: u64,
}

impl StatusCounts {
    pub fn get(&self, s: Status) -> u64 {
        match s {
            Status::Pending => self.pending,
            Status::Accepted => self.accepted,
            Status::Rejected => self.rejected,
            Status::Edited => self.edited,
        }
    }

    pub fn get_mut(&mut self, s: Status) -> &mut u64 {
        match s {
            Status::Pending => &mut self.pending,
            Status::Accepted => &mut self.accepted,
            Status::Rejected => &mut self.rejected,
            Status::Edited => &mut self.edited,
        }
    }

    pub fn total(&self) -> u64 {
        self.pending + self.accepted + self.rejected + self.edited
    }
}

/// Everything `distillery stats` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub samples: u64,
    pub seeds: i64,
    pub eval_items: i64,
    pub by_status: StatusCounts,
    pub by_origin: BTreeMap<String, u64>,
    /// Samples per recipe, with how many of them are kept (accepted or edited).
    pub by_recipe: BTreeMap<String, RecipeCounts>,
    /// Decision events (accept, reject, edit) still in force, and undos.
    pub decisions: u64,
    pub undos: u64,
    /// Decisions per clock hour (`YYYY-MM-DD HH:00` UTC), the latest 24 hours that had any.
    pub decisions_per_hour: BTreeMap<String, u64>,
    /// Decisions divided by the hours between the first and the last (at least one hour).
    pub mean_decisions_per_hour: f64,
    /// Edited ÷ decided samples.
    pub edit_rate: f64,
    /// Median seconds the curator spent per decision (where measured).
    pub median_seconds_per_decision: Option<f64>,
    /// The judge's signals against the curator's decisions.
    pub judge: super::judge_stats::JudgeStats,
    /// Each curator's pace.
    pub curators: Vec<super::CuratorStats>,
    /// Each pair of curators that decided the same samples: how alike.
    pub curator_agreement: Vec<super::Agreement>,
}

/// Counts of one recipe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecipeCounts {
    pub samples: u64,
    pub kept: u64,
    pub edited: u64,
    pub rejected: u64,
}

/// A decision event (accept, reject, edit) still in force, as `d`.
pub(super) const EFFECTIVE: &str = "d.kind IN ('accept', 'reject', 'edit') AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id)";

impl Store {
    /// Samples per status, from the derived state.
    pub fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        let total = self.sample_count()? as u64;
        let mut counts = StatusCounts::default();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT status, count(*) FROM sample_state GROUP BY status")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
            let (s, n) = row?;
            if let Some(s) = Status::parse(&s) {
                *counts.get_mut(s) += n;
            }
        }
        // Samples without a state row have never been decided: pending too.
        counts.pending = total.saturating_sub(counts.accepted + counts.rejected + counts.edited);
        Ok(counts)
    }

    /// All figures for `stats`.
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let mut st = Stats { by_status: self.status_counts()?, ..Default::default() };
        st.samples = st.by_status.total();
        (st.seeds, st.eval_items) = self.seed_and_eval_counts()?;
        let mut stmt = self.conn.prepare("SELECT origin, count(*) FROM samples GROUP BY origin")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
            let (o, n) = row?;
            st.by_origin.insert(o, n);
        }
        let mut stmt = self.conn.prepare(
            "SELECT coalesce(s.recipe, '(none)'), count(*),
                    sum(coalesce(st.status, 'pending') IN ('accepted', 'edited')),
                    sum(coalesce(st.status, 'pending') = 'edited'),
                    sum(coalesce(st.status, 'pending') = 'rejected')
             FROM samples s LEFT JOIN sample_state st ON st.sample_id = s.id GROUP BY 1",
        )?;
        for row in stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })? {
            let (recipe, samples, kept, edited, rejected) = row?;
            st.by_recipe.insert(recipe, RecipeCounts { samples, kept, edited, rejected });
        }
        let (n, first, last): (u64, Option<i64>, Option<i64>) = self.conn.query_row(
            &format!("SELECT count(*), min(created_at), max(created_at) FROM decisions d WHERE {EFFECTIVE}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        st.decisions = n;
        st.undos =
            self.conn.query_row("SELECT count(*) FROM decisions WHERE kind = 'undo'", [], |r| {
                r.get(0)
            })?;
        if let (Some(a), Some(b)) = (first, last) {
            st.mean_decisions_per_hour = per_hour(n, a, b);
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT strftime('%Y-%m-%d %H:00', d.created_at / 1000, 'unixepoch') AS h, count(*) FROM decisions d
             WHERE {EFFECTIVE} GROUP BY h ORDER BY h DESC LIMIT 24"
        ))?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
            let (h, n) = row?;
            st.decisions_per_hour.insert(h, n);
        }
        let decided = st.by_status.accepted + st.by_status.rejected + st.by_status.edited;
        if decided > 0 {
            st.edit_rate = st.by_status.edited as f64 / decided as f64;
        }
        let mut secs: Vec<f64> = self
            .conn
            .prepare(&format!(
                "SELECT d.seconds FROM decisions d WHERE {EFFECTIVE} AND d.seconds IS NOT NULL"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        st.median_seconds_per_decision = median(&mut secs);
        st.judge = self.judge_stats()?;
        (st.curators, st.curator_agreement) = self.curator_stats()?;
        Ok(st)
    }
}

/// `n` events between `first_ms` and `last_ms`, per hour (over at least one hour).
pub(super) fn per_hour(n: u64, first_ms: i64, last_ms: i64) -> f64 {
    n as f64 / ((last_ms - first_ms) as f64 / 3_600_000.0).max(1.0)
}

/// The (upper) median of some seconds; sorts them.
pub(super) fn median(secs: &mut [f64]) -> Option<f64> {
    secs.sort_by(f64::total_cmp);
    (!secs.is_empty()).then(|| secs[secs.len() / 2])
}
