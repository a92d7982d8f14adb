//! Inserting samples, seeds and eval items: one transaction each, de-duplicated by content hash.

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

impl Store {
    /// Runs a large write with a 256 MiB page cache, so SQLite does not spill pages to the WAL
    /// half-way through the transaction; small writes keep the default (and the TUI its small RSS).
    fn with_big_cache<T>(
        &mut self,
        rows: usize,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if rows < 5_000 {
            return f(self);
        }
        self.conn.pragma_update(None, "cache_size", -262_144)?;
        let res = f(self);
        let _ = self.conn.pragma_update(None, "cache_size", super::DEFAULT_CACHE_KIB);
        res
    }

    /// Inserts samples in one transaction; rows whose content hash is present are skipped.
    pub fn insert_samples(&mut self, rows: &[NewSample]) -> Result<ImportReport, StoreError> {
        self.with_big_cache(rows.len(), |s| s.insert_samples_tx(rows))
    }

    fn insert_samples_tx(&mut self, rows: &[NewSample]) -> Result<ImportReport, StoreError> {
        let now = now_ms();
        let mut report = ImportReport::default();
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        let hashes = par_hashes(rows);
        let tx = self.write()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO samples (task, system, messages, instruction, input, output, origin, recipe, model,
                   template_hash, params, parent_id, seed_id, round, source, content_hash, content_key, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                 ON CONFLICT(content_key) DO NOTHING",
            )?;
            let mut same =
                tx.prepare_cached("SELECT content_hash = ?2 FROM samples WHERE content_key = ?1")?;
            for (NewSample { text, task, provenance: p }, hash) in rows.iter().zip(hashes) {
                if !seen.insert(hash) {
                    report.repeated_in_file += 1;
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
                    now
                ])?;
                if n == 1 {
                    report.added += 1;
                } else if same.query_row(params![key, &hash[..]], |r| r.get::<_, bool>(0))? {
                    report.already_present += 1;
                } else {
                    // Two different texts share 64 bits of SHA-256: refuse rather than drop one.
                    return Err(StoreError::HashCollision(p.source.clone().unwrap_or_default()));
                }
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// Inserts seed tasks in one transaction, skipping ones already present.
    pub fn insert_seeds(&mut self, rows: &[NewSeed]) -> Result<ImportReport, StoreError> {
        let now = now_ms();
        self.insert_deduplicated(
            "INSERT INTO seeds (task, name, instruction, instances, is_classification, source, content_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(content_hash) DO NOTHING",
            rows,
            |r| r.seed.content_hash(),
            |ins, NewSeed { seed, task, source }, hash| {
                let instances = serde_json::to_string(&seed.instances).unwrap_or_else(|_| "[]".into());
                ins.execute(params![task, seed.name, seed.instruction, instances, seed.is_classification, source, &hash[..], now])
            },
        )
    }

    /// Inserts held-out evaluation items in one transaction, skipping ones already present.
    pub fn insert_eval_items(
        &mut self,
        rows: &[(EvalItem, String)],
    ) -> Result<ImportReport, StoreError> {
        let now = now_ms();
        self.insert_deduplicated(
            "INSERT INTO eval_items (task, instruction, input, reference, scorer, source, content_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(content_hash) DO NOTHING",
            rows,
            |(item, _)| SampleText::new(item.instruction.as_str(), item.input.as_str(), item.reference.as_str()).content_hash(),
            |ins, (item, source), hash| {
                ins.execute(params![item.task, item.instruction, item.input, item.reference, item.scorer, source, &hash[..], now])
            },
        )
    }

    /// One transaction of `INSERT … ON CONFLICT(content_hash) DO NOTHING`, counting what was
    /// added, already present, and repeated within `rows`.
    fn insert_deduplicated<T>(
        &mut self,
        sql: &str,
        rows: &[T],
        hash: impl Fn(&T) -> [u8; 32],
        insert: impl Fn(&mut rusqlite::CachedStatement<'_>, &T, [u8; 32]) -> rusqlite::Result<usize>,
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        let mut seen = std::collections::HashSet::new();
        let tx = self.write()?;
        {
            let mut ins = tx.prepare_cached(sql)?;
            for row in rows {
                let h = hash(row);
                if !seen.insert(h) {
                    report.repeated_in_file += 1;
                } else if insert(&mut ins, row, h)? == 1 {
                    report.added += 1;
                } else {
                    report.already_present += 1;
                }
            }
        }
        tx.commit()?;
        Ok(report)
    }
}
