//! Imported preference pairs: both samples are staged with their import and linked in
//! `preference_pairs`; in the transaction that makes the import visible, the chosen sample is
//! accepted and the rejected one rejected, as automatic decisions of the curator `imported`.

use super::imports::StagedImport;
use super::insert::{insert_rows, ImportReport, NewSample};
use super::{now_ms, Store, StoreError};
use rusqlite::{params, Transaction};

/// The curator name imported decisions carry.
pub const IMPORTED_CURATOR: &str = "imported";

/// What the end of an import decided for its pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairDecisions {
    pub accepted: usize,
    pub rejected: usize,
    /// Samples chosen in one pair and rejected in another: left pending.
    pub conflicting: usize,
    /// Samples that had a decision already (from an earlier import or a curator): left as they are.
    pub already_decided: usize,
}

impl Store {
    /// Writes one chunk of an import's pairs (chosen, rejected) in its own short transaction.
    pub fn stage_pairs(
        &mut self,
        imp: &StagedImport,
        pairs: &[(NewSample, NewSample)],
    ) -> Result<ImportReport, StoreError> {
        let rows: Vec<NewSample> = pairs.iter().flat_map(|(c, r)| [c.clone(), r.clone()]).collect();
        let tx = self.write()?;
        let report = insert_rows(&tx, &rows, Some(imp.id))?;
        {
            let mut find =
                tx.prepare_cached("SELECT id FROM sample_rows WHERE content_key = ?1")?;
            let mut link = tx.prepare_cached(
                "INSERT INTO preference_pairs (chosen_id, rejected_id, import_id, source)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (chosen, rejected) in pairs {
                let mut id = |s: &NewSample| -> rusqlite::Result<i64> {
                    let key = crate::sample::content_key(&s.text.content_hash());
                    find.query_row([key], |r| r.get(0))
                };
                let (c, r) = (id(chosen)?, id(rejected)?);
                link.execute(params![c, r, imp.id, chosen.provenance.source])?;
            }
        }
        tx.commit()?;
        Ok(report)
    }
}

/// Accepts the chosen and rejects the rejected samples of import `id`, within `tx`: one batch of
/// automatic events, for samples with no decision yet.
pub(super) fn decide_pairs(tx: &Transaction, id: i64) -> Result<PairDecisions, StoreError> {
    let count = |sql: &str| -> rusqlite::Result<usize> {
        tx.query_row(sql, [id], |r| r.get::<_, i64>(0)).map(|n| n as usize)
    };
    const CHOSEN: &str = "SELECT chosen_id AS id FROM preference_pairs WHERE import_id = ?1";
    const REJECTED: &str = "SELECT rejected_id AS id FROM preference_pairs WHERE import_id = ?1";
    let mut out = PairDecisions {
        conflicting: count(&format!("SELECT count(*) FROM ({CHOSEN} INTERSECT {REJECTED})"))?,
        already_decided: count(&format!(
            "SELECT count(*) FROM ({CHOSEN} UNION {REJECTED}) p
             WHERE EXISTS (SELECT 1 FROM decisions d WHERE d.sample_id = p.id)"
        ))?,
        ..PairDecisions::default()
    };
    let batch: i64 =
        tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM decisions", [], |r| r.get(0))?;
    let at = now_ms();
    for (kind, mine, other) in [("accept", CHOSEN, REJECTED), ("reject", REJECTED, CHOSEN)] {
        let n = tx.execute(
            &format!(
                "INSERT INTO decisions (batch, sample_id, kind, session, curator, automatic, created_at)
                 SELECT ?2, p.id, ?3, 'import', ?4, 1, ?5 FROM ({mine} EXCEPT {other}) p
                 WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.sample_id = p.id)
                 ORDER BY p.id"
            ),
            params![id, batch, kind, IMPORTED_CURATOR, at],
        )?;
        match kind {
            "accept" => out.accepted = n,
            _ => out.rejected = n,
        }
    }
    tx.execute(
        "INSERT INTO sample_state (sample_id, status, flagged, note, edited, last_event)
         SELECT d.sample_id, CASE d.kind WHEN 'accept' THEN 'accepted' ELSE 'rejected' END, 0,
                NULL, NULL, d.id
         FROM decisions d WHERE d.batch = ?1",
        [batch],
    )?;
    Ok(out)
}
