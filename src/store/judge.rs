//! What the judge writes: critic verdicts and the k answers of a self-consistency vote. The
//! detail pane reads them back through [`Store::sample`].

use super::{now_ms, Candidate, Judgement, Store, StoreError};
use rusqlite::{params, OptionalExtension};

/// A vote's outcome, stored beside its answers.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteSummary {
    pub winner: Option<String>,
    pub agreement: f32,
    pub agrees: Option<bool>,
}

/// What [`Store::sample`] shows of the judge: the newest verdict, the vote's answers, and
/// whether the output agreed with the vote.
pub(super) type JudgeDetail = (Option<Judgement>, Vec<Candidate>, Option<bool>);

/// A verdict to record (the raw output always, the score only when it could be read).
#[derive(Debug, Clone, Copy)]
pub struct NewJudgement<'a> {
    pub score: Option<f32>,
    pub rationale: Option<&'a str>,
    pub raw: &'a str,
    pub judge_model: &'a str,
    pub rubric_hash: &'a str,
    /// The critic's confidence from its token log-probabilities.
    pub confidence: Option<f32>,
}

impl Store {
    fn require(&self, sample_id: i64) -> Result<(), StoreError> {
        let found: Option<i64> = self
            .conn
            .query_row("SELECT id FROM samples WHERE id = ?1", [sample_id], |r| r.get(0))
            .optional()?;
        found.map(|_| ()).ok_or(StoreError::NoSample(sample_id))
    }

    /// A sample's newest verdict, its vote's answers, and whether its output agreed with the vote.
    pub(super) fn judge_detail(&self, id: i64) -> Result<JudgeDetail, StoreError> {
        let judgement = self
            .conn
            .query_row(
                "SELECT score, rationale, raw, judge_model, confidence FROM judgements WHERE sample_id = ?1 ORDER BY id DESC LIMIT 1",
                [id],
                |r| {
                    let f = |v: Option<f64>| v.map(|s| s as f32);
                    Ok(Judgement { score: f(r.get(0)?), rationale: r.get(1)?, raw: r.get(2)?, judge_model: r.get(3)?, confidence: f(r.get(4)?) })
                },
            )
            .optional()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT answer, extracted, logprob FROM candidates WHERE sample_id = ?1 ORDER BY id",
        )?;
        let candidates = stmt
            .query_map([id], |r| {
                Ok(Candidate { answer: r.get(0)?, extracted: r.get(1)?, logprob: r.get(2)? })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let agrees: Option<Option<bool>> = self
            .conn
            .query_row("SELECT agrees FROM votes WHERE sample_id = ?1", [id], |r| r.get(0))
            .optional()?;
        Ok((judgement, candidates, agrees.flatten()))
    }

    /// Adds a verdict on a sample (the newest one is the one shown).
    pub fn record_judgement(&mut self, sample_id: i64, j: &NewJudgement) -> Result<(), StoreError> {
        self.require(sample_id)?;
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO judgements (sample_id, score, rationale, raw, judge_model, rubric_hash, confidence, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![sample_id, j.score.map(f64::from), j.rationale, j.raw, j.judge_model, j.rubric_hash, j.confidence.map(f64::from), now_ms()],
        )?;
        Ok(tx.commit()?)
    }

    /// A sample's vote: the winner, its share and whether the output gives it (None: no vote).
    pub fn vote_summary(&self, sample_id: i64) -> Result<Option<VoteSummary>, StoreError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                "SELECT winner, agreement, agrees FROM votes WHERE sample_id = ?1",
                [sample_id],
                |r| {
                    Ok(VoteSummary {
                        winner: r.get(0)?,
                        agreement: r.get::<_, f64>(1)? as f32,
                        agrees: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Replaces a sample's vote (its answers and outcome), in one transaction.
    pub fn record_votes(
        &mut self,
        sample_id: i64,
        answers: &[Candidate],
        summary: &VoteSummary,
        model: &str,
    ) -> Result<(), StoreError> {
        self.require(sample_id)?;
        let tx = self.write()?;
        tx.execute("DELETE FROM candidates WHERE sample_id = ?1", [sample_id])?;
        tx.execute(
            "INSERT OR REPLACE INTO votes (sample_id, k, winner, agreement, agrees, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![sample_id, answers.len() as i64, summary.winner, f64::from(summary.agreement), summary.agrees, now_ms()],
        )?;
        {
            let mut ins = tx.prepare("INSERT INTO candidates (sample_id, answer, extracted, logprob, model, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
            let now = now_ms();
            for a in answers {
                ins.execute(params![sample_id, a.answer, a.extracted, a.logprob, model, now])?;
            }
        }
        Ok(tx.commit()?)
    }

    /// What self-refine revises: undecided or rejected samples (of `task`, when given) whose
    /// newest verdict scored below `below` and has a rationale, and that no self-refine revision
    /// derives from yet; oldest first, at most `limit`.
    pub fn refine_sources(
        &self,
        task: Option<&str>,
        below: f32,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id FROM samples s
             JOIN judgements j ON j.id = (SELECT max(id) FROM judgements WHERE sample_id = s.id)
             LEFT JOIN sample_state st ON st.sample_id = s.id
             WHERE coalesce(st.status, 'pending') IN ('pending', 'rejected')
               AND j.score IS NOT NULL AND j.score < ?1 AND trim(coalesce(j.rationale, '')) <> ''
               AND (?2 IS NULL OR s.task = ?2)
               AND NOT EXISTS (SELECT 1 FROM samples c WHERE c.parent_id = s.id AND c.recipe = 'self-refine')
             ORDER BY s.id LIMIT ?3",
        )?;
        let ids = stmt
            .query_map(params![f64::from(below), task, limit as i64], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        Ok(ids)
    }

    /// The newest scored verdict with a rationale of each of `ids`: what self-refine revises from.
    pub fn feedback(
        &self,
        ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, crate::judge::Feedback>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT score, rationale FROM judgements WHERE sample_id = ?1 AND score IS NOT NULL AND trim(coalesce(rationale, '')) <> '' ORDER BY id DESC LIMIT 1",
        )?;
        let mut out = std::collections::HashMap::new();
        for &id in ids {
            let row: Option<(f64, String)> =
                stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            if let Some((score, rationale)) = row {
                out.insert(id, crate::judge::Feedback { score: score as f32, rationale });
            }
        }
        Ok(out)
    }

    /// Undecided samples without a verdict, oldest first, at most `limit`.
    pub fn unjudged(&self, limit: usize) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id FROM samples s LEFT JOIN sample_state st ON st.sample_id = s.id
             WHERE coalesce(st.status, 'pending') = 'pending'
               AND NOT EXISTS (SELECT 1 FROM judgements j WHERE j.sample_id = s.id)
             ORDER BY s.id LIMIT ?1",
        )?;
        let ids = stmt.query_map([limit as i64], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SampleText;
    use crate::store::{NewSample, Provenance};

    #[test]
    fn verdicts_and_votes_are_stored_and_read_back() {
        let mut s = Store::open_in_memory().unwrap();
        let rows: Vec<NewSample> = (0..3)
            .map(|i| NewSample {
                text: SampleText::new(format!("q{i}"), "", "a"),
                task: None,
                provenance: Provenance { origin: "imported".into(), ..Provenance::default() },
            })
            .collect();
        s.insert_samples(&rows).unwrap();
        assert_eq!(s.unjudged(10).unwrap(), vec![1, 2, 3]);
        let j = NewJudgement {
            score: Some(7.0),
            rationale: Some("fine"),
            raw: "{\"score\": 7}",
            judge_model: "m",
            rubric_hash: "h",
            confidence: Some(0.5),
        };
        s.record_judgement(2, &j).unwrap();
        s.record_judgement(2, &NewJudgement { score: None, rationale: None, raw: "???", ..j })
            .unwrap();
        let d = s.sample(2).unwrap().judgement.unwrap();
        assert_eq!(
            (d.score, d.raw.as_str()),
            (None, "???"),
            "the newest verdict is shown, unparsed and raw"
        );
        assert_eq!(s.unjudged(10).unwrap(), vec![1, 3]);
        assert_eq!(s.unjudged(1).unwrap(), vec![1]);
        let c = |a: &str| Candidate {
            answer: a.into(),
            extracted: Some(a.into()),
            logprob: Some(-0.5),
        };
        let sum = |w: &str, a: f32| VoteSummary {
            winner: Some(w.into()),
            agreement: a,
            agrees: Some(false),
        };
        s.record_votes(3, &[c("7"), c("8")], &sum("7", 0.5), "m").unwrap();
        s.record_votes(3, &[c("7"), c("7"), c("9")], &sum("7", 2.0 / 3.0), "m").unwrap();
        let got: Vec<String> =
            s.sample(3).unwrap().candidates.into_iter().map(|c| c.answer).collect();
        assert_eq!(got, vec!["7", "7", "9"], "a new vote replaces the old one");
        let row = s.queue_page(None, 10, 80).unwrap().into_iter().find(|r| r.id == 3).unwrap();
        assert!(
            (row.agreement.unwrap() - 2.0 / 3.0).abs() < 1e-6,
            "the queue reads the newest vote's agreement"
        );
        assert_eq!(
            row.needs,
            crate::judge::Needs::Conflict,
            "no verdict and a disagreeing output: the votes conflict with it"
        );
        assert!(matches!(s.record_judgement(99, &j), Err(StoreError::NoSample(99))));
    }
}
