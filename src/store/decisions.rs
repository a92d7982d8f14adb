//! The append-only decision log, the state derived from it, and undo.

use super::state::{apply, current_text, json, read_state, recompute, second_opinion};
use super::{now_ms, Store, StoreError};
use crate::sample::{SampleText, Status};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

/// What the curator decided.
#[derive(Debug, Clone, PartialEq)]
pub enum DecisionKind {
    Accept,
    Reject,
    /// Replace the sample's text (one sample at a time).
    Edit(SampleText),
    /// Set the note (empty clears it).
    Note(String),
    Flag,
    Unflag,
}

/// A decision's kind without its payload (what events and counters carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionTag {
    Accept,
    Reject,
    Edit,
    Note,
    Flag,
    Unflag,
}

impl DecisionTag {
    /// The name in the event log (`decisions.kind`).
    pub fn name(self) -> &'static str {
        match self {
            DecisionTag::Accept => "accept",
            DecisionTag::Reject => "reject",
            DecisionTag::Edit => "edit",
            DecisionTag::Note => "note",
            DecisionTag::Flag => "flag",
            DecisionTag::Unflag => "unflag",
        }
    }

    /// Whether it decides a sample's fate (counted in the curator's pace).
    pub fn decides(self) -> bool {
        matches!(self, DecisionTag::Accept | DecisionTag::Reject | DecisionTag::Edit)
    }
}

impl std::fmt::Display for DecisionTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl DecisionKind {
    pub fn tag(&self) -> DecisionTag {
        match self {
            DecisionKind::Accept => DecisionTag::Accept,
            DecisionKind::Reject => DecisionTag::Reject,
            DecisionKind::Edit(_) => DecisionTag::Edit,
            DecisionKind::Note(_) => DecisionTag::Note,
            DecisionKind::Flag => DecisionTag::Flag,
            DecisionKind::Unflag => DecisionTag::Unflag,
        }
    }

    pub fn name(&self) -> &'static str {
        self.tag().name()
    }
}

/// One user action over one or more samples; stored as one event per sample in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub sample_ids: Vec<i64>,
    pub kind: DecisionKind,
    /// Seconds the curator spent on the sample before deciding.
    pub seconds: Option<f64>,
    pub session: String,
    /// Who decided (`--curator`, `DISTILLERY_CURATOR`, the user name; a policy's name).
    pub curator: String,
    pub automatic: bool,
    /// The newest event the curator had seen: when another session decided one of the samples
    /// after it, nothing is written and [`StoreError::DecidedElsewhere`] says who (ask first).
    pub unless_decided_after: Option<i64>,
}

/// The state of one sample after a write, for the UI to update its row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleState {
    pub sample_id: i64,
    pub status: Status,
    pub flagged: bool,
    pub note: Option<String>,
    /// The current text when the sample has effective edits.
    pub edited: Option<SampleText>,
    /// The current text, filled after writes that may change it (edit, undo).
    #[serde(skip)]
    pub text: Option<SampleText>,
}

/// The result of a committed decision or undo.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// Id of the first event written: the batch id (0: the decision changed nothing, and
    /// nothing was written).
    pub batch: i64,
    pub states: Vec<SampleState>,
    /// The samples an event was written for (a sample the decision did not change has none).
    pub written: Vec<i64>,
    pub at_ms: i64,
}

/// What an undo cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct Undone {
    /// Kind of the cancelled events (`accept`, `edit`, …).
    pub kind: String,
    pub committed: Committed,
}

impl Store {
    /// Appends a decision (one event per sample) and updates the derived state, in one
    /// `BEGIN IMMEDIATE` transaction. When this returns, the decision is durable.
    pub fn decide(&mut self, d: &Decision) -> Result<Committed, StoreError> {
        let at_ms = now_ms();
        let tx = self.write()?;
        if let Some(after) = d.unless_decided_after {
            let others = super::watch::decided_elsewhere(&tx, &d.sample_ids, after, &d.session)?;
            if !others.is_empty() {
                return Err(StoreError::DecidedElsewhere(others));
            }
        }
        let mut batch = None;
        let mut written = Vec::new();
        let mut states = Vec::with_capacity(d.sample_ids.len());
        for &id in &d.sample_ids {
            let exists: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM samples WHERE id = ?1)", [id], |r| {
                    r.get(0)
                })?;
            if !exists {
                return Err(StoreError::NoSample(id));
            }
            let (before, after) = match &d.kind {
                DecisionKind::Edit(text) => (Some(json(&current_text(&tx, id)?)), Some(json(text))),
                DecisionKind::Note(n) => (None, Some(n.clone())),
                _ => (None, None),
            };
            // A decision that changes nothing (accepting an accepted sample, saving the same
            // text) appends nothing, unless it is a second curator's own verdict (what their
            // agreement is measured on).
            let now = read_state(&tx, id)?.unwrap_or_else(|| SampleState::pending(id));
            let mut next = now.clone();
            apply(&mut next, d.kind.name(), after.clone())?;
            if next == now && !(d.kind.tag().decides() && second_opinion(&tx, id, &d.curator)?) {
                let mut st = now;
                st.text = Some(current_text(&tx, id)?);
                states.push(st);
                continue;
            }
            let who = Who { session: &d.session, curator: &d.curator, automatic: d.automatic };
            let event = insert_event(
                &tx,
                batch,
                id,
                d.kind.name(),
                before,
                after,
                None,
                d.seconds,
                &who,
                at_ms,
            )?;
            batch.get_or_insert(event);
            written.push(id);
            let mut st = recompute(&tx, id, event)?;
            if matches!(d.kind, DecisionKind::Edit(_)) {
                st.text = Some(current_text(&tx, id)?);
            }
            states.push(st);
        }
        tx.commit()?;
        Ok(Committed { batch: batch.unwrap_or(0), states, written, at_ms })
    }

    /// Cancels `curator`'s latest action still in force (all events of its batch) by appending
    /// `undo` events; automatic decisions (and those from before curators were recorded) are
    /// anyone's to undo. Returns `None` when there is nothing left to undo. Works across restarts.
    pub fn undo(&mut self, curator: &str, session: &str) -> Result<Option<Undone>, StoreError> {
        let at_ms = now_ms();
        let tx = self.write()?;
        let latest: Option<i64> = tx
            .query_row(
                "SELECT batch FROM decisions d WHERE d.kind != 'undo'
                   AND (d.curator = ?1 OR d.curator IS NULL OR d.automatic)
                   AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id)
                 ORDER BY d.id DESC LIMIT 1",
                [curator],
                |r| r.get(0),
            )
            .optional()?;
        let Some(target) = latest else { return Ok(None) };
        let events: Vec<(i64, i64, String)> = tx
            .prepare(
                "SELECT d.id, d.sample_id, d.kind FROM decisions d WHERE d.batch = ?1 AND d.kind != 'undo'
                   AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id) ORDER BY d.id",
            )?
            .query_map([target], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let mut batch = None;
        let mut written = Vec::with_capacity(events.len());
        let mut states = Vec::with_capacity(events.len());
        let kind = events.first().map(|e| e.2.clone()).unwrap_or_default();
        for (event, sample, _) in events {
            let who = Who { session, curator, automatic: false };
            let id = insert_event(
                &tx,
                batch,
                sample,
                "undo",
                None,
                None,
                Some(event),
                None,
                &who,
                at_ms,
            )?;
            batch.get_or_insert(id);
            written.push(sample);
            let mut st = recompute(&tx, sample, id)?;
            st.text = Some(current_text(&tx, sample)?);
            states.push(st);
        }
        tx.commit()?;
        let committed = Committed { batch: batch.unwrap_or(0), states, written, at_ms };
        Ok(Some(Undone { kind, committed }))
    }

    /// Recomputes every sample's derived state from the log and reports the samples whose stored
    /// state disagreed (always empty unless the table was tampered with).
    pub fn rebuild_state(&mut self) -> Result<Vec<i64>, StoreError> {
        let tx = self.write()?;
        let ids: Vec<(i64, i64)> = tx
            .prepare("SELECT sample_id, max(id) FROM decisions GROUP BY sample_id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut changed = Vec::new();
        for (id, last) in ids {
            let before = read_state(&tx, id)?;
            let after = recompute(&tx, id, last)?;
            if before.as_ref() != Some(&after) {
                changed.push(id);
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// The events written by `session` as (batch, sample, kind), in order (for checks).
    pub fn session_events(&self, session: &str) -> Result<Vec<(i64, i64, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT batch, sample_id, kind FROM decisions WHERE session = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Who writes an event.
struct Who<'a> {
    session: &'a str,
    curator: &'a str,
    automatic: bool,
}

#[allow(clippy::too_many_arguments)]
fn insert_event(
    tx: &Transaction,
    batch: Option<i64>,
    sample: i64,
    kind: &str,
    before: Option<String>,
    after: Option<String>,
    undoes: Option<i64>,
    seconds: Option<f64>,
    who: &Who,
    at_ms: i64,
) -> Result<i64, StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO decisions (batch, sample_id, kind, before, after, undoes, seconds, session, curator, automatic, created_at)
         VALUES (coalesce(?1, (SELECT coalesce(max(id), 0) + 1 FROM decisions)), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let Who { session, curator, automatic } = *who;
    stmt.execute(params![
        batch, sample, kind, before, after, undoes, seconds, session, curator, automatic, at_ms
    ])?;
    Ok(tx.last_insert_rowid())
}
