//! Samples as the workbench reads them: the queue index, one sample's
//! detail, and the rows an export reads.

use super::{Store, StoreError};
use crate::sample::{Message, SampleText, Status};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

/// Where a sample came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Provenance {
    /// `imported` or `generated`.
    pub origin: String,
    pub recipe: Option<String>,
    pub model: Option<String>,
    pub template_hash: Option<String>,
    pub params: Option<String>,
    pub parent_id: Option<i64>,
    pub seed_id: Option<i64>,
    pub round: i64,
    /// `file:line` for imports.
    pub source: Option<String>,
    /// The imported record's other fields (a JSON object), which the exporters write back.
    pub extra: Option<String>,
}

impl Provenance {
    /// Provenance of a row read from a file.
    pub fn imported(source: String) -> Self {
        Provenance { origin: "imported".into(), source: Some(source), ..Default::default() }
    }
}

/// One line of the curation queue, small enough to hold a million in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub id: i64,
    pub status: Status,
    pub flagged: bool,
    pub score: Option<f32>,
    /// Self-consistency agreement in 0..=1 (None until votes exist).
    pub agreement: Option<f32>,
    /// How much it needs a human, from its machine signals.
    pub needs: crate::judge::Needs,
    /// [`crate::sample::summary_line`] of the current text.
    pub summary: String,
    pub title_len: usize,
}

/// Everything the detail pane shows about one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleDetail {
    pub id: i64,
    pub task: Option<String>,
    pub status: Status,
    pub flagged: bool,
    pub note: Option<String>,
    pub original: SampleText,
    /// The text after the curator's edits (equal to `original` when unedited).
    pub current: SampleText,
    pub provenance: Provenance,
    pub created_at: i64,
    pub judgement: Option<Judgement>,
    pub candidates: Vec<Candidate>,
    /// Whether its output gave the vote's winner, as the judge found (None: no vote, or unknown).
    pub vote_agrees: Option<bool>,
    /// Number of effective edit events.
    pub edits: usize,
    /// Filled by the workbench, not by [`Store::sample`]: the nearest seed or accepted sample,
    /// the verifiers' results, and the current text of the sample this one derives from.
    pub neighbour: Option<crate::judge::dedup::Neighbour>,
    pub checks: Vec<crate::judge::verify::Check>,
    pub parent: Option<Box<SampleText>>,
}

/// A critic's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub score: Option<f32>,
    pub rationale: Option<String>,
    pub raw: String,
    pub judge_model: Option<String>,
    pub confidence: Option<f32>,
}

/// One sampled answer of a self-consistency vote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub answer: String,
    pub extracted: Option<String>,
    pub logprob: Option<f64>,
}

/// A sample as an export sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    pub id: i64,
    pub task: Option<String>,
    pub status: Status,
    pub original: SampleText,
    pub current: SampleText,
    pub provenance: Provenance,
    pub score: Option<f32>,
    pub content_hash: String,
    pub decided_at: Option<i64>,
}

pub(super) fn text_from_row(
    r: &Row,
    base: usize,
) -> rusqlite::Result<(SampleText, Option<String>)> {
    // Columns at base..: system, messages, instruction, input, output
    let messages: Option<String> = r.get(base + 1)?;
    Ok((
        SampleText {
            system: r.get(base)?,
            history: Vec::new(),
            instruction: r.get(base + 2)?,
            input: r.get(base + 3)?,
            output: r.get(base + 4)?,
        },
        messages,
    ))
}

pub(super) fn parse_history(id: i64, messages: Option<String>) -> Result<Vec<Message>, StoreError> {
    match messages {
        None => Ok(Vec::new()),
        Some(m) => serde_json::from_str(&m).map_err(|source| StoreError::BadJson {
            id,
            column: "messages",
            source,
        }),
    }
}

pub(super) fn parse_edited(
    id: i64,
    edited: Option<String>,
) -> Result<Option<SampleText>, StoreError> {
    edited
        .map(|e| {
            serde_json::from_str(&e).map_err(|source| StoreError::BadJson {
                id,
                column: "edited",
                source,
            })
        })
        .transpose()
}

fn status_of(s: Option<String>) -> Status {
    s.as_deref().and_then(Status::parse).unwrap_or(Status::Pending)
}

pub(super) const SAMPLE_COLS: &str =
    "s.id, s.task, s.system, s.messages, s.instruction, s.input, s.output, s.origin, s.recipe, \
     s.model, s.template_hash, s.params, s.parent_id, s.seed_id, s.round, s.source, s.created_at, \
     st.status, st.flagged, st.note, st.edited, hex(s.content_hash), s.extra";

pub(super) struct FullRow {
    pub(super) id: i64,
    pub(super) task: Option<String>,
    pub(super) original: SampleText,
    pub(super) current: SampleText,
    pub(super) provenance: Provenance,
    pub(super) created_at: i64,
    pub(super) status: Status,
    pub(super) flagged: bool,
    pub(super) note: Option<String>,
    pub(super) hash: String,
}

pub(super) fn read_full(r: &Row) -> rusqlite::Result<(FullRow, Option<String>, Option<String>)> {
    let (original, messages) = text_from_row(r, 2)?;
    let provenance = Provenance {
        origin: r.get(7)?,
        recipe: r.get(8)?,
        model: r.get(9)?,
        template_hash: r.get(10)?,
        params: r.get(11)?,
        parent_id: r.get(12)?,
        seed_id: r.get(13)?,
        round: r.get(14)?,
        source: r.get(15)?,
        extra: r.get(22)?,
    };
    let row = FullRow {
        id: r.get(0)?,
        task: r.get(1)?,
        current: original.clone(),
        original,
        provenance,
        created_at: r.get(16)?,
        status: status_of(r.get(17)?),
        flagged: r.get::<_, Option<bool>>(18)?.unwrap_or(false),
        note: r.get(19)?,
        hash: r.get(21)?,
    };
    Ok((row, messages, r.get(20)?))
}

pub(super) fn finish_full(
    (mut row, messages, edited): (FullRow, Option<String>, Option<String>),
) -> Result<FullRow, StoreError> {
    row.original.history = parse_history(row.id, messages)?;
    row.current = match parse_edited(row.id, edited)? {
        Some(e) => e,
        None => row.original.clone(),
    };
    Ok(row)
}

impl Store {
    /// Number of samples in the store.
    pub fn sample_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM samples", [], |r| r.get(0))?)
    }

    /// Number of seed tasks and eval items, for `stats`.
    pub fn seed_and_eval_counts(&self) -> Result<(i64, i64), StoreError> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM seeds), (SELECT count(*) FROM eval_items)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// One page of the queue index, newest first: rows with `id < before` (all when `None`).
    /// `cap` bounds each summary in bytes, so a million rows fit in memory.
    pub fn queue_page(
        &self,
        before: Option<i64>,
        limit: usize,
        cap: usize,
    ) -> Result<Vec<QueueRow>, StoreError> {
        self.queue_rows("s.id < ?1", before.unwrap_or(i64::MAX), limit, cap)
    }

    /// Queue rows of the samples newer than `after` (written since the index was loaded).
    pub fn queue_newer(&self, after: i64, cap: usize) -> Result<Vec<QueueRow>, StoreError> {
        self.queue_rows("s.id > ?1", after, 100_000, cap)
    }

    fn queue_rows(
        &self,
        condition: &str,
        bound: i64,
        limit: usize,
        cap: usize,
    ) -> Result<Vec<QueueRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT s.id, st.status, st.flagged, st.edited,
                    substr(s.instruction, 1, ?3), substr(s.input, 1, ?3), substr(s.output, 1, ?3),
                    (SELECT score FROM judgements j WHERE j.sample_id = s.id ORDER BY j.id DESC LIMIT 1),
                    EXISTS (SELECT 1 FROM judgements j WHERE j.sample_id = s.id), v.agreement, v.agrees, coalesce(nb.near, 0),
                    coalesce(ck.failed, 0) > 0
             FROM samples s LEFT JOIN sample_state st ON st.sample_id = s.id LEFT JOIN votes v ON v.sample_id = s.id
                  LEFT JOIN neighbours nb ON nb.sample_id = s.id LEFT JOIN checks ck ON ck.sample_id = s.id
             WHERE {condition} ORDER BY s.id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![bound, limit as i64, cap as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<bool>>(2)?,
                r.get::<_, Option<String>>(3)?,
                SampleText::new(
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ),
                r.get::<_, Option<f64>>(7)?,
                (
                    r.get::<_, bool>(8)?,
                    r.get::<_, Option<f64>>(9)?,
                    r.get::<_, Option<bool>>(10)?,
                    r.get::<_, bool>(11)?,
                    r.get::<_, bool>(12)?,
                ),
            ))
        })?;
        let mut out = Vec::with_capacity(limit.min(100_000));
        for row in rows {
            let (
                id,
                status,
                flagged,
                edited,
                text,
                score,
                (judged, agreement, agrees, near, failed),
            ) = row?;
            let text = parse_edited(id, edited)?.unwrap_or(text);
            let (summary, title_len) = crate::sample::summary_line(&text, cap);
            out.push(QueueRow {
                id,
                status: status_of(status),
                flagged: flagged.unwrap_or(false),
                score: score.map(|s| s as f32),
                agreement: agreement.map(|a| a as f32),
                needs: crate::judge::with_checks(
                    crate::judge::needs(
                        judged,
                        score.map(|s| s as f32),
                        agreement.map(|a| a as f32),
                        agrees,
                        near,
                    ),
                    failed,
                ),
                summary,
                title_len,
            });
        }
        Ok(out)
    }

    /// Everything about one sample.
    pub fn sample(&self, id: i64) -> Result<SampleDetail, StoreError> {
        let sql = format!("SELECT {SAMPLE_COLS} FROM samples s LEFT JOIN sample_state st ON st.sample_id = s.id WHERE s.id = ?1");
        let raw = self
            .conn
            .query_row(&sql, [id], read_full)
            .optional()?
            .ok_or(StoreError::NoSample(id))?;
        let row = finish_full(raw)?;
        let (judgement, candidates, vote_agrees) = self.judge_detail(id)?;
        let edits: i64 = self.conn.query_row(
            "SELECT count(*) FROM decisions d WHERE d.sample_id = ?1 AND d.kind = 'edit'
               AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id)",
            [id],
            |r| r.get(0),
        )?;
        Ok(SampleDetail {
            id: row.id,
            task: row.task,
            status: row.status,
            flagged: row.flagged,
            note: row.note,
            original: row.original,
            current: row.current,
            provenance: row.provenance,
            created_at: row.created_at,
            judgement,
            candidates,
            vote_agrees,
            edits: edits as usize,
            neighbour: None,
            checks: Vec::new(),
            parent: None,
        })
    }
}
