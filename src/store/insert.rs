//! Inserting samples, seeds and eval items: one transaction each, de-duplicated by content hash,
//! visible at once or, for a staged import (`imports.rs`), when the import is done.

use super::samples::Provenance;
use super::{now_ms, Store, StoreError};
use crate::sample::{EvalItem, SampleText, SeedTask};
use rusqlite::params;
use serde::Serialize;

/// A sample to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSample {
    pub text: SampleText,
    pub task: Option<String>,
    pub provenance: Provenance,
}

/// A seed task to insert, with the `file:line` it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSeed {
    pub seed: SeedTask,
    pub task: Option<String>,
    pub source: String,
}

/// What an import added and skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub added: usize,
    /// Rows whose content is already in the workspace.
    pub already_present: usize,
    /// Rows repeated within the same file.
    pub repeated_in_file: usize,
}

impl std::ops::AddAssign for ImportReport {
    fn add_assign(&mut self, o: ImportReport) {
        self.added += o.added;
        self.already_present += o.already_present;
        self.repeated_in_file += o.repeated_in_file;
    }
}

/// Content hashes of all rows, computed on every core.
fn par_hashes(rows: &[NewSample]) -> Vec<[u8; 32]> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if rows.len() < 10_000 || threads == 1 {
        return rows.iter().map(|r| r.text.content_hash()).collect();
    }
    std::thread::scope(|s| {
        let parts: Vec<_> = rows
            .chunks(rows.len().div_ceil(threads))
            .map(|part| {
                s.spawn(move || part.iter().map(|r| r.text.content_hash()).collect::<Vec<_>>())
            })
            .collect();
        parts.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Tells rows repeated within one write (or, for a staged import, within the import) from rows
/// already in the workspace.
struct Repeats {
    import_id: Option<i64>,
    seen: std::collections::HashSet<[u8; 32]>,
}

impl Repeats {
    fn new(import_id: Option<i64>) -> Self {
        Repeats { import_id, seen: Default::default() }
    }

    /// False when this write already had the row (counted as repeated).
    fn first(&mut self, hash: [u8; 32], report: &mut ImportReport) -> bool {
        if self.import_id.is_none() && !self.seen.insert(hash) {
            report.repeated_in_file += 1;
            return false;
        }
        true
    }

    /// Counts a row the store refused as a duplicate: `same_import` says whether the row there
    /// came from this import.
    fn count(&self, same_import: bool, report: &mut ImportReport) {
        if self.import_id.is_some() && same_import {
            report.repeated_in_file += 1;
        } else {
            report.already_present += 1;
        }
    }
}

/// Inserts samples within `tx`, skipping (and counting) those whose content is there already.
pub(super) fn insert_rows(
    tx: &rusqlite::Transaction,
    rows: &[NewSample],
    import_id: Option<i64>,
) -> Result<ImportReport, StoreError> {
    let now = now_ms();
    let mut report = ImportReport::default();
    let mut repeats = Repeats::new(import_id);
    let hashes = par_hashes(rows);
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO sample_rows (task, system, messages, instruction, input, output, origin, recipe, model,
               template_hash, params, parent_id, seed_id, round, source, content_hash, content_key, created_at,
               import_id, extra)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
             ON CONFLICT(content_key) DO NOTHING",
        )?;
        let mut same = tx.prepare_cached(
            "SELECT content_hash = ?2, import_id IS ?3 FROM sample_rows WHERE content_key = ?1",
        )?;
        for (NewSample { text, task, provenance: p }, hash) in rows.iter().zip(hashes) {
            if !repeats.first(hash, &mut report) {
                continue;
            }
            let messages = if text.history.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&text.history).unwrap_or_default())
            };
            let key = crate::sample::content_key(&hash);
            let n = ins.execute(params![
                task,
                text.system,
                messages,
                text.instruction,
                text.input,
                text.output,
                p.origin,
                p.recipe,
                p.model,
                p.template_hash,
                p.params,
                p.parent_id,
                p.seed_id,
                p.round,
                p.source,
                &hash[..],
                key,
                now,
                import_id,
                p.extra,
            ])?;
            if n == 1 {
                report.added += 1;
                continue;
            }
            let (equal, same_import): (bool, bool) =
                same.query_row(params![key, &hash[..], import_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if !equal {
                // Two different texts share 64 bits of SHA-256: refuse rather than drop one.
                return Err(StoreError::HashCollision(p.source.clone().unwrap_or_default()));
            }
            repeats.count(same_import, &mut report);
        }
    }
    Ok(report)
}

impl Store {
    /// Inserts samples in one transaction; rows whose content hash is present are skipped.
    pub fn insert_samples(&mut self, rows: &[NewSample]) -> Result<ImportReport, StoreError> {
        self.insert_samples_tx(rows, None)
    }

    pub(super) fn insert_samples_tx(
        &mut self,
        rows: &[NewSample],
        import_id: Option<i64>,
    ) -> Result<ImportReport, StoreError> {
        let tx = self.write()?;
        let report = insert_rows(&tx, rows, import_id)?;
        tx.commit()?;
        Ok(report)
    }

    /// Inserts seed tasks in one transaction, skipping ones already present.
    pub fn insert_seeds(&mut self, rows: &[NewSeed]) -> Result<ImportReport, StoreError> {
        self.insert_seeds_tx(rows, None)
    }

    pub(super) fn insert_seeds_tx(
        &mut self,
        rows: &[NewSeed],
        import_id: Option<i64>,
    ) -> Result<ImportReport, StoreError> {
        let now = now_ms();
        self.insert_deduplicated(
            "seed_rows",
            "INSERT INTO seed_rows (task, name, instruction, instances, is_classification, source, content_hash, created_at, import_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(content_hash) DO NOTHING",
            rows,
            import_id,
            |r| r.seed.content_hash(),
            |ins, NewSeed { seed, task, source }, hash| {
                let instances = serde_json::to_string(&seed.instances).unwrap_or_else(|_| "[]".into());
                ins.execute(params![task, seed.name, seed.instruction, instances, seed.is_classification, source, &hash[..], now, import_id])
            },
        )
    }

    /// Inserts held-out evaluation items in one transaction, skipping ones already present.
    pub fn insert_eval_items(
        &mut self,
        rows: &[(EvalItem, String)],
    ) -> Result<ImportReport, StoreError> {
        self.insert_eval_items_tx(rows, None)
    }

    pub(super) fn insert_eval_items_tx(
        &mut self,
        rows: &[(EvalItem, String)],
        import_id: Option<i64>,
    ) -> Result<ImportReport, StoreError> {
        let now = now_ms();
        self.insert_deduplicated(
            "eval_item_rows",
            "INSERT INTO eval_item_rows (task, instruction, input, reference, scorer, source, content_hash, created_at, import_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(content_hash) DO NOTHING",
            rows,
            import_id,
            |(item, _)| SampleText::new(item.instruction.as_str(), item.input.as_str(), item.reference.as_str()).content_hash(),
            |ins, (item, source), hash| {
                ins.execute(params![item.task, item.instruction, item.input, item.reference, item.scorer, source, &hash[..], now, import_id])
            },
        )
    }

    /// One transaction of `INSERT … ON CONFLICT(content_hash) DO NOTHING` into `table`, counting
    /// what was added, already present, and repeated.
    fn insert_deduplicated<T>(
        &mut self,
        table: &str,
        sql: &str,
        rows: &[T],
        import_id: Option<i64>,
        hash: impl Fn(&T) -> [u8; 32],
        insert: impl Fn(&mut rusqlite::CachedStatement<'_>, &T, [u8; 32]) -> rusqlite::Result<usize>,
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        let mut repeats = Repeats::new(import_id);
        let tx = self.write()?;
        {
            let mut ins = tx.prepare_cached(sql)?;
            let mut same = tx.prepare_cached(&format!(
                "SELECT import_id IS ?2 FROM {table} WHERE content_hash = ?1"
            ))?;
            for row in rows {
                let h = hash(row);
                if !repeats.first(h, &mut report) {
                    continue;
                }
                if insert(&mut ins, row, h)? == 1 {
                    report.added += 1;
                } else {
                    let same_import = same.query_row(params![&h[..], import_id], |r| r.get(0))?;
                    repeats.count(same_import, &mut report);
                }
            }
        }
        tx.commit()?;
        Ok(report)
    }
}
