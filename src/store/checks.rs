//! Verifier results: what the workspace's verifiers (and the automatic checks) say about a
//! sample's current output, and the record the judge keeps of them (the queue's triage reads
//! whether any failed).

use super::{now_ms, SampleDetail, Store, StoreError};
use crate::judge::verify::{checks_for, reference_of, Check};
use rusqlite::params;
use sha2::{Digest, Sha256};

impl Store {
    /// Every check for a sample as it reads now: the verifiers its task and recipe name, then
    /// the automatic ones; a reference answer comes from its provenance when it has one.
    pub fn checks_of(&self, d: &SampleDetail) -> Vec<Check> {
        let reference = reference_of(d.provenance.params.as_deref());
        checks_for(
            &self.verifiers,
            d.task.as_deref(),
            d.provenance.recipe.as_deref(),
            &d.current.output,
            reference.as_deref(),
        )
    }

    /// Replaces a sample's stored check results (those of `output`).
    pub fn record_checks(
        &mut self,
        sample_id: i64,
        output: &str,
        checks: &[Check],
    ) -> Result<(), StoreError> {
        let failed = checks.iter().filter(|c| c.passed == Some(false)).count() as i64;
        let passed = checks.iter().filter(|c| c.passed == Some(true)).count() as i64;
        let results = serde_json::to_string(checks).expect("checks serialise");
        let tx = self.write()?;
        tx.execute(
            "INSERT OR REPLACE INTO checks (sample_id, failed, passed, results, text_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![sample_id, failed, passed, results, Sha256::digest(output.as_bytes()).to_vec(), now_ms()],
        )?;
        Ok(tx.commit()?)
    }

    /// (samples with a failed check, samples checked).
    pub fn check_counts(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(failed > 0), 0), count(*) FROM checks",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use crate::judge::verify::{Verifier, VerifyRule};
    use crate::sample::SampleText;
    use crate::store::{NewSample, Provenance, Store};

    #[test]
    fn checks_follow_the_rules_and_a_failure_reaches_the_queue() {
        let mut s = Store::open_in_memory().unwrap();
        let row = |out: &str, task: &str, params: Option<&str>| NewSample {
            text: SampleText::new("Extract the order as JSON.", "", out),
            task: Some(task.into()),
            provenance: Provenance {
                origin: "generated".into(),
                params: params.map(str::to_owned),
                ..Provenance::default()
            },
        };
        s.insert_samples(&[
            row("{\"name\": \"Ann\"}", "extract", None),
            row("{\"name\": \"Ann\", \"date\": 1}", "extract", None),
            row("So 6 × 7 = 42.", "maths", Some("{\"reference\": \"#### 41\"}")),
        ])
        .unwrap();
        s.verifiers = vec![
            VerifyRule {
                task: Some("extract".into()),
                recipe: None,
                verifier: Verifier::Json { keys: vec!["name".into(), "date".into()] },
            },
            VerifyRule {
                task: Some("maths".into()),
                recipe: None,
                verifier: Verifier::Exact { reference: None },
            },
        ];
        let c1 = s.checks_of(&s.sample(1).unwrap());
        assert_eq!(
            (c1.len(), c1[0].passed, c1[0].detail.as_str()),
            (1, Some(false), "missing date")
        );
        assert_eq!(s.checks_of(&s.sample(2).unwrap())[0].passed, Some(true));
        let c3 = s.checks_of(&s.sample(3).unwrap());
        assert_eq!(
            c3.iter().map(|c| (c.name, c.passed)).collect::<Vec<_>>(),
            vec![("exact", Some(false)), ("arithmetic", Some(true))],
            "{c3:?}"
        );
        assert_eq!(
            c3[0].detail, "answer 42, reference 41",
            "the reference comes from the sample's provenance"
        );
        for id in [1, 2] {
            let d = s.sample(id).unwrap();
            let c = s.checks_of(&d);
            s.record_checks(id, &d.current.output, &c).unwrap();
        }
        assert_eq!(s.check_counts().unwrap(), (1, 2));
        let needs = |id: i64| {
            s.queue_page(None, 10, 80).unwrap().into_iter().find(|r| r.id == id).unwrap().needs
        };
        assert_eq!(
            (needs(1), needs(2), needs(3)),
            (
                crate::judge::Needs::FailedCheck,
                crate::judge::Needs::Unjudged,
                crate::judge::Needs::Unjudged
            )
        );
    }
}
