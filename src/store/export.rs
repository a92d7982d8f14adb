//! Samples as an export reads them: streamed one at a time, oldest first.

use super::samples::{finish_full, read_full, ExportRow, SAMPLE_COLS};
use super::{Store, StoreError};
use crate::sample::Status;

impl Store {
    /// Every sample whose status is in `statuses`, oldest first, as an export reads it.
    pub fn export_rows(&self, statuses: &[Status]) -> Result<Vec<ExportRow>, StoreError> {
        let mut out = Vec::new();
        self.export_each(statuses, |r| {
            out.push(r);
            Ok::<(), StoreError>(())
        })?;
        Ok(out)
    }

    /// Hands every sample whose status is in `statuses` to `f`, oldest first, one at a time (an
    /// export streams them; memory does not grow with the workspace).
    pub fn export_each<E: From<StoreError>>(
        &self,
        statuses: &[Status],
        mut f: impl FnMut(ExportRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let sql = format!(
            "SELECT {SAMPLE_COLS}, (SELECT score FROM judgements j WHERE j.sample_id = s.id ORDER BY j.id DESC LIMIT 1),
                    (SELECT created_at FROM decisions d WHERE d.id = st.last_event)
             FROM samples s LEFT JOIN sample_state st ON st.sample_id = s.id ORDER BY s.id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(StoreError::from)?;
        let mut rows = stmt.query([]).map_err(StoreError::from)?;
        while let Some(r) = rows.next().map_err(StoreError::from)? {
            let raw = read_full(r).map_err(StoreError::from)?;
            let score: Option<f64> = r.get(23).map_err(StoreError::from)?;
            let decided_at: Option<i64> = r.get(24).map_err(StoreError::from)?;
            if !statuses.contains(&raw.0.status) {
                continue;
            }
            let row = finish_full(raw)?;
            f(ExportRow {
                id: row.id,
                task: row.task,
                status: row.status,
                original: row.original,
                current: row.current,
                provenance: row.provenance,
                score: score.map(|s| s as f32),
                content_hash: row.hash.to_lowercase(),
                decided_at,
            })?;
        }
        Ok(())
    }
}
