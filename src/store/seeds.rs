//! Reading stored seed tasks and the prompts of recent samples (what the recipes start from and
//! compare against).

use super::{Store, StoreError};
use crate::sample::SeedTask;

/// A stored seed task.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSeed {
    pub id: i64,
    pub task: Option<String>,
    pub seed: SeedTask,
}

impl Store {
    /// Every seed task, oldest first.
    pub fn seeds(&self) -> Result<Vec<StoredSeed>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id, task, name, instruction, instances, is_classification FROM seeds ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, String>(4)?,
                r.get(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, task, name, instruction, instances, is_classification) = row?;
            let instances = serde_json::from_str(&instances)
                .map_err(|source| StoreError::BadJson { id, column: "instances", source })?;
            out.push(StoredSeed {
                id,
                task,
                seed: SeedTask { name, instruction, instances, is_classification },
            });
        }
        Ok(out)
    }

    /// The id of the newest sample (0 when there is none).
    pub fn last_sample_id(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT coalesce(max(id), 0) FROM samples", [], |r| r.get(0))?)
    }

    /// Instruction and input of the newest `limit` samples of a task (for similarity filters).
    pub fn sample_prompts(
        &self,
        task: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT instruction, input FROM samples WHERE task IS ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows =
            stmt.query_map(rusqlite::params![task, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
