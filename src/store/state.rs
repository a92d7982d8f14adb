//! A sample's state as its events make it: the fold over the events in force, the text it has
//! now, and whether a decision would be a second curator's verdict.

use super::decisions::SampleState;
use super::samples::parse_edited;
use super::StoreError;
use crate::sample::{SampleText, Status};
use rusqlite::{params, OptionalExtension, Transaction};

/// A text as stored in `decisions.before/after` and `sample_state.edited`.
pub(super) fn json(t: &SampleText) -> String {
    serde_json::to_string(t).unwrap_or_default()
}

/// The text a sample has now: its latest effective edit, or the original.
pub(super) fn current_text(tx: &Transaction, id: i64) -> Result<SampleText, StoreError> {
    let edited: Option<String> = tx
        .query_row("SELECT edited FROM sample_state WHERE sample_id = ?1", [id], |r| r.get(0))
        .optional()?
        .flatten();
    if let Some(t) = parse_edited(id, edited)? {
        return Ok(t);
    }
    let (mut text, messages) = tx.query_row(
        "SELECT system, messages, instruction, input, output FROM samples WHERE id = ?1",
        [id],
        |r| super::samples::text_from_row(r, 0),
    )?;
    text.history = super::samples::parse_history(id, messages)?;
    Ok(text)
}

pub(super) fn read_state(tx: &Transaction, id: i64) -> Result<Option<SampleState>, StoreError> {
    let raw: Option<(String, bool, Option<String>, Option<String>)> = tx
        .query_row(
            "SELECT status, flagged, note, edited FROM sample_state WHERE sample_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    raw.map(|(status, flagged, note, edited)| {
        Ok(SampleState {
            sample_id: id,
            status: Status::parse(&status).unwrap_or(Status::Pending),
            flagged,
            note,
            edited: parse_edited(id, edited)?,
            text: None,
        })
    })
    .transpose()
}

/// Whether the decision in force on sample `id` is someone else's than `curator`'s.
pub(super) fn second_opinion(tx: &Transaction, id: i64, curator: &str) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT d.curator FROM decisions d WHERE d.sample_id = ?1 AND {} ORDER BY d.id DESC LIMIT 1",
        super::stats::EFFECTIVE
    );
    let last: Option<Option<String>> = tx.query_row(&sql, [id], |r| r.get(0)).optional()?;
    Ok(last.is_some_and(|c| c.as_deref() != Some(curator)))
}

impl SampleState {
    /// A sample no event has touched.
    pub(super) fn pending(id: i64) -> SampleState {
        SampleState {
            sample_id: id,
            status: Status::Pending,
            flagged: false,
            note: None,
            edited: None,
            text: None,
        }
    }
}

/// One event's effect on a sample's state.
pub(super) fn apply(
    st: &mut SampleState,
    kind: &str,
    after: Option<String>,
) -> Result<(), StoreError> {
    match kind {
        // Accepting an edited sample keeps it marked as edited: kept, with changes.
        "accept" => st.status = if st.edited.is_some() { Status::Edited } else { Status::Accepted },
        "reject" => st.status = Status::Rejected,
        "edit" => {
            st.status = Status::Edited;
            st.edited = parse_edited(st.sample_id, after)?;
        }
        "note" => st.note = after.filter(|n| !n.is_empty()),
        "flag" => st.flagged = true,
        "unflag" => st.flagged = false,
        _ => {}
    }
    Ok(())
}

/// Folds the sample's events still in force into its state and stores it.
pub(super) fn recompute(
    tx: &Transaction,
    id: i64,
    last_event: i64,
) -> Result<SampleState, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT d.kind, d.after FROM decisions d WHERE d.sample_id = ?1 AND d.kind != 'undo'
           AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id) ORDER BY d.id",
    )?;
    let events =
        stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
    let mut st = SampleState::pending(id);
    for e in events {
        let (kind, after) = e?;
        apply(&mut st, &kind, after)?;
    }
    tx.prepare_cached(
        "INSERT INTO sample_state (sample_id, status, flagged, note, edited, last_event) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(sample_id) DO UPDATE SET status = ?2, flagged = ?3, note = ?4, edited = ?5, last_event = ?6",
    )?
    .execute(params![id, st.status.as_str(), st.flagged, st.note, st.edited.as_ref().map(json), last_event])?;
    Ok(st)
}
