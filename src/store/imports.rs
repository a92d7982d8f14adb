//! Imports in short transactions: rows are written under an import id, hidden by the views until
//! one small transaction marks the import done, and removed when it fails. The importing process
//! holds a lock file for as long as it runs; an import left unfinished by a process that no
//! longer holds its lock (a crash, a kill) is removed at the next open.

use super::insert::{ImportReport, NewSample, NewSeed};
use super::pairs::{decide_pairs, PairDecisions};
use super::{now_ms, Store, StoreError};
use crate::sample::EvalItem;
use rusqlite::params;
use std::fs::File;
use std::path::PathBuf;

/// An import in progress; finish or abort it.
#[derive(Debug)]
pub struct StagedImport {
    pub id: i64,
    /// The lock file and its open, locked handle (none for an in-memory store).
    lock: Option<(PathBuf, File)>,
}

impl Store {
    /// Starts an import of `source`: takes a lock file beside the store, then records the import.
    pub fn begin_import(&mut self, source: &str) -> Result<StagedImport, StoreError> {
        let lock = if self.path.as_os_str() == ":memory:" {
            None
        } else {
            let name = format!(
                "{}.import-{}-{}.lock",
                self.path.file_name().map_or("store".into(), |n| n.to_string_lossy()),
                std::process::id(),
                now_ms()
            );
            let path = self.path.with_file_name(name);
            let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", path.display()));
            let f = File::create(&path).map_err(io)?;
            f.lock().map_err(io)?;
            Some((path, f))
        };
        let lock_name = lock.as_ref().map(|(p, _)| p.display().to_string());
        self.conn.execute(
            "INSERT INTO imports (source, lock_file, started_at) VALUES (?1, ?2, ?3)",
            params![source, lock_name, now_ms()],
        )?;
        Ok(StagedImport { id: self.conn.last_insert_rowid(), lock })
    }

    /// Writes one chunk of an import's samples in its own short transaction, hidden until done.
    pub fn stage_samples(
        &mut self,
        imp: &StagedImport,
        rows: &[NewSample],
    ) -> Result<ImportReport, StoreError> {
        self.insert_samples_tx(rows, Some(imp.id))
    }

    /// Writes one chunk of an import's seed tasks.
    pub fn stage_seeds(
        &mut self,
        imp: &StagedImport,
        rows: &[NewSeed],
    ) -> Result<ImportReport, StoreError> {
        self.insert_seeds_tx(rows, Some(imp.id))
    }

    /// Writes one chunk of an import's eval items.
    pub fn stage_eval_items(
        &mut self,
        imp: &StagedImport,
        rows: &[(EvalItem, String)],
    ) -> Result<ImportReport, StoreError> {
        self.insert_eval_items_tx(rows, Some(imp.id))
    }

    /// Makes every row of the import visible at once, with its pairs' decisions.
    pub fn finish_import(&mut self, imp: StagedImport) -> Result<PairDecisions, StoreError> {
        let tx = self.write()?;
        let decided = decide_pairs(&tx, imp.id)?;
        tx.execute("UPDATE imports SET done_at = ?2 WHERE id = ?1", params![imp.id, now_ms()])?;
        tx.commit()?;
        release(imp.lock);
        Ok(decided)
    }

    /// Removes every row the import wrote.
    pub fn abort_import(&mut self, imp: StagedImport) -> Result<(), StoreError> {
        self.remove_import(imp.id)?;
        release(imp.lock);
        Ok(())
    }

    fn remove_import(&mut self, id: i64) -> Result<(), StoreError> {
        let tx = self.write()?;
        for table in ["preference_pairs", "sample_rows", "seed_rows", "eval_item_rows"] {
            tx.execute(&format!("DELETE FROM {table} WHERE import_id = ?1"), [id])?;
        }
        tx.execute("DELETE FROM imports WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Rows written by imports that are not done (hidden from every view).
    pub fn staged_rows(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM sample_rows WHERE import_id IN
               (SELECT id FROM imports WHERE done_at IS NULL)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Removes the imports whose process is gone without finishing (run at every open).
    pub(super) fn remove_abandoned_imports(&mut self) -> Result<Vec<String>, StoreError> {
        let open: Vec<(i64, String, Option<String>)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id, source, lock_file FROM imports WHERE done_at IS NULL")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut removed = Vec::new();
        for (id, source, lock) in open {
            let alive = lock.as_ref().is_some_and(|p| {
                File::options().write(true).open(p).is_ok_and(|f| f.try_lock().is_err())
            });
            if alive {
                continue;
            }
            self.remove_import(id)?;
            if let Some(p) = lock {
                let _ = std::fs::remove_file(p);
            }
            tracing::warn!(
                "removed the unfinished import of {} (its process ended before it was done)",
                crate::text::clean_line(&source)
            );
            removed.push(source);
        }
        Ok(removed)
    }
}

fn release(lock: Option<(PathBuf, File)>) {
    if let Some((path, f)) = lock {
        drop(f);
        let _ = std::fs::remove_file(path);
    }
}
