//! Training runs: one row per run (its round, base model, settings, process and state), so the
//! workbench can find a run again after it was closed, and `train --resume` its settings.

use super::{now_ms, Store, StoreError};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// Where a training run stands (the `training_runs.status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Done,
    Cancelled,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<RunStatus> {
        [RunStatus::Running, RunStatus::Done, RunStatus::Cancelled, RunStatus::Failed]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A training run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingRun {
    pub id: i64,
    pub round: i64,
    pub base_model: String,
    /// The settings, as JSON.
    pub params: String,
    pub status: RunStatus,
    pub pid: Option<i64>,
    pub adapter_path: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

impl Store {
    /// Starts a run of the next round (rounds count from 1).
    pub fn start_run(
        &mut self,
        base_model: &str,
        params: &str,
        pid: u32,
    ) -> Result<TrainingRun, StoreError> {
        let tx = self.write()?;
        let round: i64 =
            tx.query_row("SELECT coalesce(max(round), 0) + 1 FROM training_runs", [], |r| {
                r.get(0)
            })?;
        tx.execute(
            "INSERT INTO training_runs (round, base_model, params, status, pid, started_at) VALUES (?1, ?2, ?3, 'running', ?4, ?5)",
            params![round, base_model, params, pid, now_ms()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        self.run(id)?.ok_or(StoreError::NoSample(id))
    }

    /// A run picked up again by a resumed process.
    pub fn resume_run(&mut self, id: i64, pid: u32) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("UPDATE training_runs SET status = 'running', pid = ?2, finished_at = NULL WHERE id = ?1", params![id, pid])?;
        Ok(tx.commit()?)
    }

    /// Records how a run ended and where its adapter is.
    pub fn finish_run(
        &mut self,
        id: i64,
        status: RunStatus,
        adapter_path: Option<&str>,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("UPDATE training_runs SET status = ?2, adapter_path = coalesce(?3, adapter_path), finished_at = ?4 WHERE id = ?1", params![id, status.as_str(), adapter_path, now_ms()])?;
        Ok(tx.commit()?)
    }

    pub fn run(&self, id: i64) -> Result<Option<TrainingRun>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM training_runs WHERE id = ?1"),
                [id],
                run_row,
            )
            .optional()?)
    }

    /// Every training run, oldest first (one query: the workbench reads them once a second).
    pub fn runs(&self) -> Result<Vec<TrainingRun>, StoreError> {
        let mut st =
            self.conn.prepare(&format!("SELECT {RUN_COLUMNS} FROM training_runs ORDER BY id"))?;
        let rows = st.query_map([], run_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest run, if any.
    pub fn last_run(&self) -> Result<Option<TrainingRun>, StoreError> {
        let id: Option<i64> =
            self.conn.query_row("SELECT max(id) FROM training_runs", [], |r| r.get(0))?;
        match id {
            Some(id) => self.run(id),
            None => Ok(None),
        }
    }
}

const RUN_COLUMNS: &str =
    "id, round, base_model, params, status, pid, adapter_path, started_at, finished_at";

/// A `training_runs` row selected with [`RUN_COLUMNS`].
fn run_row(r: &rusqlite::Row) -> rusqlite::Result<TrainingRun> {
    Ok(TrainingRun {
        id: r.get(0)?,
        round: r.get(1)?,
        base_model: r.get(2)?,
        params: r.get(3)?,
        status: {
            let s: String = r.get(4)?;
            RunStatus::parse(&s).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    4,
                    rusqlite::types::Type::Text,
                    format!("unknown run status {s:?}").into(),
                )
            })?
        },
        pid: r.get(5)?,
        adapter_path: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::store::{RunStatus, Store};

    #[test]
    fn runs_count_rounds_and_keep_their_state() {
        let mut s = Store::open_in_memory().unwrap();
        assert!(s.last_run().unwrap().is_none());
        let a = s.start_run("base.gguf", "{\"rank\": 8}", 42).unwrap();
        assert_eq!((a.round, a.status, a.pid), (1, RunStatus::Running, Some(42)));
        s.finish_run(a.id, RunStatus::Cancelled, Some("/runs/1")).unwrap();
        s.resume_run(a.id, 43).unwrap();
        s.finish_run(a.id, RunStatus::Done, None).unwrap();
        let a = s.run(a.id).unwrap().unwrap();
        assert_eq!(
            (a.status.as_str(), a.pid, a.adapter_path.as_deref()),
            ("done", Some(43), Some("/runs/1"))
        );
        let b = s.start_run("base.gguf", "{}", 44).unwrap();
        assert_eq!(b.round, 2);
        assert_eq!(s.last_run().unwrap().unwrap().id, b.id);
    }
}
