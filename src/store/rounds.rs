//! Rejection sampling's hard cases (seed questions no sampled answer got right) and headless
//! rounds (generate → decide → train → eval, with a curator policy).

use super::{now_ms, Failure, Store, StoreError};
use rusqlite::params;
use serde::Serialize;

/// A seed question all of whose `k` sampled answers were wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct HardCase {
    pub seed_id: i64,
    pub task: Option<String>,
    pub instruction: String,
    pub input: String,
    pub reference: String,
    /// The most common wrong answer.
    pub answer: String,
    pub k: usize,
    pub model: String,
}

/// Where a round is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoundStep {
    Generate,
    Decide,
    Train,
    Eval,
    Done,
    Failed,
    Cancelled,
}

impl RoundStep {
    pub const ALL: [RoundStep; 7] = [
        RoundStep::Generate,
        RoundStep::Decide,
        RoundStep::Train,
        RoundStep::Eval,
        RoundStep::Done,
        RoundStep::Failed,
        RoundStep::Cancelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RoundStep::Generate => "generate",
            RoundStep::Decide => "decide",
            RoundStep::Train => "train",
            RoundStep::Eval => "eval",
            RoundStep::Done => "done",
            RoundStep::Failed => "failed",
            RoundStep::Cancelled => "cancelled",
        }
    }

    /// Whether the round still has steps to run (a resumed `round` continues it).
    pub fn open(self) -> bool {
        !matches!(self, RoundStep::Done | RoundStep::Failed)
    }

    fn parse(s: &str) -> RoundStep {
        RoundStep::ALL.into_iter().find(|r| r.name() == s).unwrap_or(RoundStep::Failed)
    }
}

impl std::fmt::Display for RoundStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A stored round.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub id: i64,
    pub policy: String,
    pub recipe: String,
    pub budget: usize,
    pub step: RoundStep,
    pub first_sample: i64,
    pub last_sample: Option<i64>,
    pub run_id: Option<i64>,
    /// What the steps reported, a JSON object.
    pub results: serde_json::Value,
}

impl Store {
    /// Records (or replaces) a seed's hard case.
    pub fn record_hard_case(&mut self, h: &HardCase) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "INSERT OR REPLACE INTO hard_cases (seed_id, task, instruction, input, reference, answer, k, model, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![h.seed_id, h.task, h.instruction, h.input, h.reference, h.answer, h.k as i64, h.model, now_ms()],
        )?;
        Ok(tx.commit()?)
    }

    /// A seed's hard case is gone once some answer to it passes.
    pub fn clear_hard_case(&mut self, seed_id: i64) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("DELETE FROM hard_cases WHERE seed_id = ?1", [seed_id])?;
        Ok(tx.commit()?)
    }

    /// The teacher's hard cases as llm2llm failures (`kind` "teacher", the seed as the item).
    pub fn hard_cases(&self) -> Result<Vec<Failure>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, seed_id, task, instruction, input, reference, answer FROM hard_cases ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Failure {
                id: r.get(0)?,
                run_id: 0,
                kind: "teacher".into(),
                item_id: r.get(1)?,
                task: r.get(2)?,
                instruction: r.get(3)?,
                input: r.get(4)?,
                reference: r.get(5)?,
                answer: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Starts a round at its generate step; its candidates are the samples made from now on.
    pub fn start_round(
        &mut self,
        policy: &str,
        recipe: &str,
        budget: usize,
    ) -> Result<Round, StoreError> {
        let first = self.last_sample_id()?;
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO rounds (policy, recipe, budget, step, first_sample, results, created_at) VALUES (?1, ?2, ?3, 'generate', ?4, '{}', ?5)",
            params![policy, recipe, budget as i64, first, now_ms()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        self.round(id)?.ok_or(StoreError::NoSample(id))
    }

    /// Moves a round on: its step, and what the finished step reported (merged into `results`).
    pub fn advance_round(
        &mut self,
        id: i64,
        step: RoundStep,
        last_sample: Option<i64>,
        run_id: Option<i64>,
        results: &serde_json::Value,
    ) -> Result<Round, StoreError> {
        let tx = self.write()?;
        let done = (!step.open() || step == RoundStep::Cancelled).then(now_ms);
        tx.execute(
            "UPDATE rounds SET step = ?2, last_sample = coalesce(?3, last_sample), run_id = coalesce(?4, run_id),
             results = json_patch(coalesce(results, '{}'), ?5), finished_at = ?6 WHERE id = ?1",
            params![id, step.name(), last_sample, run_id, results.to_string(), done],
        )?;
        tx.commit()?;
        self.round(id)?.ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
    }

    /// Sets the policy an open round decides by (the outcome benchmark's arms share candidates).
    pub fn set_round_policy(&mut self, id: i64, policy: &str) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("UPDATE rounds SET policy = ?2 WHERE id = ?1", params![id, policy])?;
        Ok(tx.commit()?)
    }

    /// One round.
    pub fn round(&self, id: i64) -> Result<Option<Round>, StoreError> {
        Ok(self.rounds_where(Some(id))?.pop())
    }

    /// Every round, oldest first.
    pub fn rounds(&self) -> Result<Vec<Round>, StoreError> {
        self.rounds_where(None)
    }

    fn rounds_where(&self, id: Option<i64>) -> Result<Vec<Round>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, policy, recipe, budget, step, first_sample, last_sample, run_id, results FROM rounds
             WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([id], |r| {
            let results: Option<String> = r.get(8)?;
            Ok(Round {
                id: r.get(0)?,
                policy: r.get(1)?,
                recipe: r.get(2)?,
                budget: r.get::<_, i64>(3)? as usize,
                step: RoundStep::parse(&r.get::<_, String>(4)?),
                first_sample: r.get(5)?,
                last_sample: r.get(6)?,
                run_id: r.get(7)?,
                results: results
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest round that has steps left (what `round --resume` continues).
    pub fn open_round(&self) -> Result<Option<Round>, StoreError> {
        Ok(self.rounds()?.into_iter().rev().find(|r| r.step.open()))
    }

    /// The seed questions used by earlier rounds' candidates (rounds sample fresh ones first).
    pub fn seeds_sampled(&self) -> Result<Vec<i64>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT DISTINCT seed_id FROM samples WHERE recipe = 'rejection-sampling' AND seed_id IS NOT NULL
             UNION SELECT seed_id FROM hard_cases",
        )?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The ids of the samples made by a round (above its first, up to its last when known).
    pub fn round_samples(&self, r: &Round) -> Result<Vec<i64>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id FROM samples WHERE id > ?1 AND (?2 IS NULL OR id <= ?2) ORDER BY id",
        )?;
        let rows = st.query_map(params![r.first_sample, r.last_sample], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
