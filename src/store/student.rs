//! The student's side of the store: held-out evaluation items, the metrics of the base model and
//! of each round's student (`evaluations`), and the student's wrong answers on its training
//! items (`student_failures`, what the llm2llm recipe starts from).

use super::{now_ms, Store, StoreError};
use crate::sample::EvalItem;
use rusqlite::params;
use serde::Serialize;

/// One stored metric. `run_id` None is the base model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub run_id: Option<i64>,
    pub task: Option<String>,
    pub metric: String,
    pub value: f64,
    pub n: i64,
}

/// A wrong answer of the student on one of its training items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub id: i64,
    pub run_id: i64,
    /// `seed` or `sample`, and its id.
    pub kind: String,
    pub item_id: i64,
    pub task: Option<String>,
    pub instruction: String,
    pub input: String,
    pub reference: String,
    pub answer: String,
}

impl Store {
    /// The seeds' task names, sorted: what a round can be limited to.
    pub fn seed_tasks(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT DISTINCT task FROM seeds WHERE task IS NOT NULL AND task != '' ORDER BY task",
        )?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The held-out items of `task` (all when None), in import order.
    pub fn eval_items(&self, task: Option<&str>) -> Result<Vec<(i64, EvalItem)>, StoreError> {
        let mut st = self.conn.prepare("SELECT id, task, instruction, input, reference, scorer FROM eval_items WHERE ?1 IS NULL OR task = ?1 ORDER BY id")?;
        let rows = st.query_map([task], |r| {
            Ok((
                r.get(0)?,
                EvalItem {
                    task: r.get(1)?,
                    instruction: r.get(2)?,
                    input: r.get(3)?,
                    reference: r.get(4)?,
                    scorer: r.get(5)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces the metrics named in `metrics` of (`run_id`, `task`), in one transaction.
    pub fn record_metrics(
        &mut self,
        run_id: Option<i64>,
        task: Option<&str>,
        metrics: &[(String, f64, i64)],
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        for (m, v, n) in metrics {
            tx.execute(
                "DELETE FROM evaluations WHERE run_id IS ?1 AND task IS ?2 AND metric = ?3",
                params![run_id, task, m],
            )?;
            tx.execute("INSERT INTO evaluations (run_id, task, metric, value, n, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", params![run_id, task, m, v, n, now_ms()])?;
        }
        Ok(tx.commit()?)
    }

    /// Every stored metric, the base model's first, then by run.
    pub fn metrics(&self) -> Result<Vec<Metric>, StoreError> {
        let mut st = self.conn.prepare("SELECT run_id, task, metric, value, n FROM evaluations ORDER BY coalesce(run_id, 0), task, metric")?;
        let rows = st.query_map([], |r| {
            Ok(Metric {
                run_id: r.get(0)?,
                task: r.get(1)?,
                metric: r.get(2)?,
                value: r.get(3)?,
                n: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces run `run_id`'s failures with `failures` (their `id` and `run_id` are ignored).
    pub fn record_failures(&mut self, run_id: i64, failures: &[Failure]) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("DELETE FROM student_failures WHERE run_id = ?1", [run_id])?;
        for f in failures {
            tx.execute(
                "INSERT INTO student_failures (run_id, kind, item_id, task, instruction, input, reference, answer, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![run_id, f.kind, f.item_id, f.task, f.instruction, f.input, f.reference, f.answer, now_ms()],
            )?;
        }
        Ok(tx.commit()?)
    }

    /// The failures of run `run_id`, or of the newest run that has any when None.
    pub fn failures(&self, run_id: Option<i64>) -> Result<Vec<Failure>, StoreError> {
        let run: Option<i64> = match run_id {
            Some(id) => Some(id),
            None => {
                self.conn.query_row("SELECT max(run_id) FROM student_failures", [], |r| r.get(0))?
            }
        };
        let mut st = self.conn.prepare("SELECT id, run_id, kind, item_id, task, instruction, input, reference, answer FROM student_failures WHERE run_id = ?1 ORDER BY id")?;
        let rows = st.query_map([run], |r| {
            Ok(Failure {
                id: r.get(0)?,
                run_id: r.get(1)?,
                kind: r.get(2)?,
                item_id: r.get(3)?,
                task: r.get(4)?,
                instruction: r.get(5)?,
                input: r.get(6)?,
                reference: r.get(7)?,
                answer: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
