//! The machine signals a curator saw beside a sample, as one JSON object for exports with
//! provenance: the critic's latest verdict, the vote, the verifiers, the nearest neighbour.

use super::{Store, StoreError};
use rusqlite::OptionalExtension;
use serde_json::{json, Value};

impl Store {
    /// The sample's signals; a signal that never ran is `null`.
    pub fn signals(&self, id: i64) -> Result<Value, StoreError> {
        let critic = self
            .conn
            .prepare_cached(
                "SELECT score, rationale, judge_model, rubric_hash, confidence FROM judgements
                 WHERE sample_id = ?1 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([id], |r| {
                Ok(json!({"score": r.get::<_, Option<f64>>(0)?, "rationale": r.get::<_, Option<String>>(1)?,
                          "model": r.get::<_, Option<String>>(2)?, "rubric_hash": r.get::<_, Option<String>>(3)?,
                          "confidence": r.get::<_, Option<f64>>(4)?}))
            })
            .optional()?;
        let vote = self
            .conn
            .prepare_cached("SELECT k, winner, agreement, agrees FROM votes WHERE sample_id = ?1")?
            .query_row([id], |r| {
                Ok(json!({"k": r.get::<_, i64>(0)?, "winner": r.get::<_, Option<String>>(1)?,
                          "agreement": r.get::<_, f64>(2)?, "agrees": r.get::<_, Option<bool>>(3)?}))
            })
            .optional()?;
        let checks = self
            .conn
            .prepare_cached("SELECT failed, passed, results FROM checks WHERE sample_id = ?1")?
            .query_row([id], |r| {
                let results: String = r.get(2)?;
                Ok(json!({"failed": r.get::<_, i64>(0)?, "passed": r.get::<_, i64>(1)?,
                          "results": serde_json::from_str::<Value>(&results).unwrap_or(Value::String(results))}))
            })
            .optional()?;
        let neighbour = self
            .conn
            .prepare_cached(
                "SELECT kind, other_id, rouge, cosine, near FROM neighbours WHERE sample_id = ?1",
            )?
            .query_row([id], |r| {
                Ok(json!({"kind": r.get::<_, String>(0)?, "id": r.get::<_, i64>(1)?,
                          "rouge_l": r.get::<_, f64>(2)?, "cosine": r.get::<_, Option<f64>>(3)?,
                          "near": r.get::<_, bool>(4)?}))
            })
            .optional()?;
        Ok(json!({"critic": critic, "vote": vote, "verifiers": checks, "nearest": neighbour}))
    }
}
