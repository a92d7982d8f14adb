//! Seeing other processes' decisions: `PRAGMA data_version` says cheaply whether anything was
//! committed by another connection; the events past a watermark say what.

use super::decisions::SampleState;
use super::state::{current_text, read_state};
use super::{Store, StoreError};
use rusqlite::Transaction;

/// A sample another session decided after the curator's watermark.
#[derive(Debug, Clone, PartialEq)]
pub struct Elsewhere {
    pub sample_id: i64,
    /// Who (NULL curators, from before they were recorded, show as "someone").
    pub curator: String,
    pub kind: String,
}

/// What other sessions changed since a watermark.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// The current state of every sample they touched (with its text).
    pub states: Vec<SampleState>,
    /// Their decisions, latest per sample.
    pub by: Vec<Elsewhere>,
    /// The newest event now: the next watermark.
    pub last_event: i64,
}

/// "sample 4 was accepted by bob meanwhile".
pub fn describe(others: &[Elsewhere]) -> String {
    let list: Vec<String> = others
        .iter()
        .take(3)
        .map(|e| {
            format!(
                "sample {} ({} by {})",
                e.sample_id,
                e.kind,
                crate::text::clean_line(&e.curator)
            )
        })
        .collect();
    let more = others.len().saturating_sub(3);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!("decided elsewhere meanwhile: {}{more}", list.join(", "))
}

/// The latest event per sample, of `kinds`, by sessions other than `?2`, after event `?1`.
fn others(kinds: &str) -> String {
    format!(
        "SELECT d.sample_id, coalesce(d.curator, 'someone'), d.kind FROM decisions d
         WHERE d.id > ?1 AND d.session != ?2 AND d.kind IN ({kinds})
           AND d.id = (SELECT max(e.id) FROM decisions e WHERE e.sample_id = d.sample_id
                       AND e.id > ?1 AND e.session != ?2 AND e.kind IN ({kinds}))"
    )
}

/// What decides a sample's fate (a conflict), and what else a row shows.
const DECIDING: &str = "'accept', 'reject', 'edit', 'undo'";
const SHOWN: &str = "'accept', 'reject', 'edit', 'undo', 'flag', 'unflag'";

/// A row of [`others`].
fn elsewhere(r: &rusqlite::Row) -> rusqlite::Result<Elsewhere> {
    Ok(Elsewhere { sample_id: r.get(0)?, curator: r.get(1)?, kind: r.get(2)? })
}

/// The samples of `ids` another session decided (or undid) after event `after`.
pub(super) fn decided_elsewhere(
    tx: &Transaction,
    ids: &[i64],
    after: i64,
    session: &str,
) -> Result<Vec<Elsewhere>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!("{} AND d.sample_id = ?3", others(DECIDING)))?;
    let mut out = Vec::new();
    for &id in ids {
        let rows = stmt.query_map(rusqlite::params![after, session, id], elsewhere)?;
        for e in rows {
            out.push(e?);
        }
    }
    Ok(out)
}

impl Store {
    /// Changes whenever another connection commits (SQLite's `PRAGMA data_version`).
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// The newest decision event's id (0 when none).
    pub fn last_event(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT coalesce(max(id), 0) FROM decisions", [], |r| r.get(0))?)
    }

    /// What sessions other than `session` decided after event `after`.
    pub fn changes_since(&mut self, after: i64, session: &str) -> Result<Changes, StoreError> {
        // One read transaction: the states and the watermark agree.
        let tx = self.conn.transaction()?;
        let last_event: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) FROM decisions", [], |r| r.get(0))?;
        let by: Vec<Elsewhere> = tx
            .prepare(&format!("{} ORDER BY d.id", others(SHOWN)))?
            .query_map(rusqlite::params![after, session], elsewhere)?
            .collect::<Result<_, _>>()?;
        let mut states = Vec::with_capacity(by.len());
        for e in &by {
            let mut st =
                read_state(&tx, e.sample_id)?.unwrap_or_else(|| SampleState::pending(e.sample_id));
            st.text = Some(current_text(&tx, e.sample_id)?);
            states.push(st);
        }
        tx.commit()?;
        Ok(Changes { states, by, last_event })
    }
}
