//! What the judge writes: critic verdicts and the k answers of a self-consistency vote. The
//! detail pane reads them back through [`Store::sample`].

use super::{now_ms, Candidate, Store, StoreError};
use rusqlite::{params, OptionalExtension};

/// A vote's outcome, stored beside its answers.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteSummary {
    pub winner: Option<String>,
    pub agreement: f32,
    pub agrees: Option<bool>,
}

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
        let found: Option<i64> = self.conn.query_row("SELECT id FROM samples WHERE id = ?1", [sample_id], |r| r.get(0)).optional()?;
        found.map(|_| ()).ok_or(StoreError::NoSample(sample_id))
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

    /// Replaces a sample's vote (its answers and outcome), in one transaction.
    pub fn record_votes(&mut self, sample_id: i64, answers: &[Candidate], summary: &VoteSummary, model: &str) -> Result<(), StoreError> {
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
            .map(|i| NewSample { text: SampleText::new(format!("q{i}"), "", "a"), task: None, provenance: Provenance { origin: "imported".into(), ..Provenance::default() } })
            .collect();
        s.insert_samples(&rows).unwrap();
        assert_eq!(s.unjudged(10).unwrap(), vec![1, 2, 3]);
        let j = NewJudgement { score: Some(7.0), rationale: Some("fine"), raw: "{\"score\": 7}", judge_model: "m", rubric_hash: "h", confidence: Some(0.5) };
        s.record_judgement(2, &j).unwrap();
        s.record_judgement(2, &NewJudgement { score: None, rationale: None, raw: "???", ..j }).unwrap();
        let d = s.sample(2).unwrap().judgement.unwrap();
        assert_eq!((d.score, d.raw.as_str()), (None, "???"), "the newest verdict is shown, unparsed and raw");
        assert_eq!(s.unjudged(10).unwrap(), vec![1, 3]);
        assert_eq!(s.unjudged(1).unwrap(), vec![1]);
        let c = |a: &str| Candidate { answer: a.into(), extracted: Some(a.into()), logprob: Some(-0.5) };
        let sum = |w: &str, a: f32| VoteSummary { winner: Some(w.into()), agreement: a, agrees: Some(false) };
        s.record_votes(3, &[c("7"), c("8")], &sum("7", 0.5), "m").unwrap();
        s.record_votes(3, &[c("7"), c("7"), c("9")], &sum("7", 2.0 / 3.0), "m").unwrap();
        let got: Vec<String> = s.sample(3).unwrap().candidates.into_iter().map(|c| c.answer).collect();
        assert_eq!(got, vec!["7", "7", "9"], "a new vote replaces the old one");
        let row = s.queue_page(None, 10, 80).unwrap().into_iter().find(|r| r.id == 3).unwrap();
        assert!((row.agreement.unwrap() - 2.0 / 3.0).abs() < 1e-6, "the queue reads the newest vote's agreement");
        assert_eq!(row.needs, crate::judge::Needs::Conflict, "no verdict and a disagreeing output: the votes conflict with it");
        assert!(matches!(s.record_judgement(99, &j), Err(StoreError::NoSample(99))));
    }
}
