//! What near-duplicate checks read and write: embeddings of seeds and samples (kept fresh
//! against edits by a hash of the text embedded), the pool a sample is compared with (the seeds
//! and the accepted set), and the neighbour the judge found.

use super::samples::parse_edited;
use super::{now_ms, Store, StoreError};
use crate::judge::dedup::{key_text, nearest, Kind, Neighbour, PoolItem};
use crate::judge::embed::{from_blob, to_blob};
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Something to embed: what it is, and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct ToEmbed {
    pub kind: Kind,
    pub id: i64,
    pub text: String,
}

fn hash(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

fn kind_of(s: &str) -> Kind {
    if s == "seed" {
        Kind::Seed
    } else {
        Kind::Sample
    }
}

/// Stored embeddings: (kind, id) → (hash of the text embedded, vector).
type Stored = HashMap<(Kind, i64), (Vec<u8>, Vec<f32>)>;

impl Store {
    /// Every seed's and every not-rejected sample's comparison text (current, with edits).
    fn dedup_texts(&self, only_kept: bool) -> Result<Vec<(Kind, i64, String, String)>, StoreError> {
        // A seed is compared by its instruction and its first example's input.
        let mut out: Vec<(Kind, i64, String, String)> = self
            .seeds()?
            .into_iter()
            .map(|s| {
                let input =
                    s.seed.instances.into_iter().next().map(|i| i.input).unwrap_or_default();
                (Kind::Seed, s.id, s.seed.instruction, input)
            })
            .collect();
        let filter = if only_kept {
            "st.status IN ('accepted', 'edited')"
        } else {
            "coalesce(st.status, 'pending') <> 'rejected'"
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT s.id, s.instruction, s.input, st.edited FROM samples s LEFT JOIN sample_state st ON st.sample_id = s.id WHERE {filter} ORDER BY s.id"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        for row in rows {
            let (id, instruction, input, edited) = row?;
            out.push(match parse_edited(id, edited)? {
                Some(t) => (Kind::Sample, id, t.instruction, t.input),
                None => (Kind::Sample, id, instruction, input),
            });
        }
        Ok(out)
    }

    /// Stored embeddings (of the pool only: seeds and the accepted set, when `only_kept`); callers
    /// compare each text hash with the current text.
    fn embeddings(&self, only_kept: bool) -> Result<Stored, StoreError> {
        let filter = if only_kept {
            " WHERE kind = 'seed' OR item_id IN (SELECT sample_id FROM sample_state WHERE status IN ('accepted', 'edited'))"
        } else {
            ""
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT kind, item_id, text_hash, vector FROM embeddings{filter}"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (kind, id, h, v) = row?;
            out.insert((kind_of(&kind), id), (h, from_blob(&v)));
        }
        Ok(out)
    }

    /// Seeds and not-rejected samples with no embedding of their current text, at most `limit`.
    pub fn unembedded(&self, limit: usize) -> Result<Vec<ToEmbed>, StoreError> {
        let have = self.embeddings(false)?;
        Ok(self
            .dedup_texts(false)?
            .into_iter()
            .map(|(kind, id, ins, inp)| ToEmbed { kind, id, text: key_text(&ins, &inp) })
            .filter(|t| have.get(&(t.kind, t.id)).is_none_or(|(h, _)| *h != hash(&t.text)))
            .take(limit)
            .collect())
    }

    /// Stores embeddings of the texts given (replacing older ones), in one transaction.
    pub fn record_embeddings(
        &mut self,
        items: &[(ToEmbed, Vec<f32>)],
        model: &str,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        {
            let mut ins = tx.prepare("INSERT OR REPLACE INTO embeddings (kind, item_id, model, text_hash, vector) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (t, v) in items {
                ins.execute(params![t.kind.name(), t.id, model, hash(&t.text), to_blob(v)])?;
            }
        }
        Ok(tx.commit()?)
    }

    /// The seeds and the accepted set, with fresh embeddings where there are some.
    pub fn dedup_pool(&self) -> Result<Vec<PoolItem>, StoreError> {
        let mut have = self.embeddings(true)?;
        Ok(self
            .dedup_texts(true)?
            .into_iter()
            .map(|(kind, id, ins, inp)| {
                let emb = have
                    .remove(&(kind, id))
                    .filter(|(h, _)| *h == hash(&key_text(&ins, &inp)))
                    .map(|(_, v)| v);
                PoolItem::new(kind, id, &ins, &inp, emb)
            })
            .collect())
    }

    /// Sample `id`'s nearest seed or accepted sample now (None when the pool is empty).
    pub fn nearest(&self, id: i64) -> Result<Option<Neighbour>, StoreError> {
        self.nearest_to(id, &self.sample(id)?.current)
    }

    /// The same, for a caller that already holds the sample's current text `cur`.
    pub fn nearest_to(
        &self,
        id: i64,
        cur: &crate::sample::SampleText,
    ) -> Result<Option<Neighbour>, StoreError> {
        self.nearest_in(&self.dedup_pool()?, id, cur)
    }

    /// The same against a pool the caller read earlier (a judging run reads it once in a while,
    /// not once per sample).
    pub fn nearest_in(
        &self,
        pool: &[PoolItem],
        id: i64,
        cur: &crate::sample::SampleText,
    ) -> Result<Option<Neighbour>, StoreError> {
        let text = key_text(&cur.instruction, &cur.input);
        let own: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT text_hash, vector FROM embeddings WHERE kind = 'sample' AND item_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let own = own.filter(|(h, _)| *h == hash(&text)).map(|(_, v)| from_blob(&v));
        Ok(nearest(
            &cur.instruction,
            &cur.input,
            own.as_deref(),
            pool,
            Some((Kind::Sample, id)),
            &self.near_duplicate,
        ))
    }

    /// Stores the neighbour the judge found for a sample.
    pub fn record_neighbour(&mut self, sample_id: i64, n: &Neighbour) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "INSERT OR REPLACE INTO neighbours (sample_id, kind, other_id, rouge, cosine, near, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![sample_id, n.kind.name(), n.id, n.rouge, n.cosine.map(f64::from), n.near, now_ms()],
        )?;
        Ok(tx.commit()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SampleText;
    use crate::store::{Decision, DecisionKind, NewSample, Provenance};

    fn sample(i: &str) -> NewSample {
        NewSample {
            text: SampleText::new(i, "", "out"),
            task: None,
            provenance: Provenance { origin: "generated".into(), ..Provenance::default() },
        }
    }

    fn decide(s: &mut Store, id: i64, kind: DecisionKind) {
        s.decide(&Decision {
            sample_ids: vec![id],
            kind,
            seconds: None,
            session: "t".into(),
            curator: "t".into(),
            automatic: false,
            unless_decided_after: None,
        })
        .unwrap();
    }

    #[test]
    fn the_pool_is_the_accepted_set_and_embeddings_follow_edits() {
        let mut s = Store::open_in_memory().unwrap();
        s.insert_samples(&[
            sample("Write a haiku about the sea."),
            sample("Write a haiku about the ocean."),
            sample("Name three primes."),
        ])
        .unwrap();
        assert_eq!(s.nearest(2).unwrap(), None, "nothing accepted, no seeds: no neighbour");
        decide(&mut s, 1, DecisionKind::Accept);
        let n = s.nearest(2).unwrap().unwrap();
        assert_eq!((n.kind, n.id, n.near, n.cosine), (Kind::Sample, 1, true, None));
        assert_eq!(s.nearest(1).unwrap(), None, "a sample is not its own neighbour");
        decide(&mut s, 3, DecisionKind::Reject);
        let todo = s.unembedded(10).unwrap();
        assert_eq!(
            todo.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![1, 2],
            "rejected samples are not embedded"
        );
        let vecs: Vec<(ToEmbed, Vec<f32>)> =
            todo.into_iter().zip([vec![1.0, 0.0], vec![0.6, 0.8]]).collect();
        s.record_embeddings(&vecs, "m").unwrap();
        assert!(s.unembedded(10).unwrap().is_empty());
        let n = s.nearest(2).unwrap().unwrap();
        assert!((n.cosine.unwrap() - 0.6).abs() < 1e-6, "{n:?}");
        // An edit makes sample 1's embedding stale: it is not used, and is asked for again.
        decide(
            &mut s,
            1,
            DecisionKind::Edit(SampleText::new("Write a limerick about a cat.", "", "out")),
        );
        let n = s.nearest(2).unwrap().unwrap();
        assert_eq!((n.cosine, n.near), (None, false), "{n:?}");
        assert_eq!(s.unembedded(10).unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
        s.record_neighbour(2, &n).unwrap();
        s.record_neighbour(2, &Neighbour { near: true, ..n }).unwrap();
        let near: bool = s
            .conn
            .query_row("SELECT near FROM neighbours WHERE sample_id = 2", [], |r| r.get(0))
            .unwrap();
        assert!(near, "the newest neighbour replaces the old one");
    }
}
