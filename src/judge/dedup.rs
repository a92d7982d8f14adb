//! Near-duplicates: a sample's nearest neighbour among the seeds and the accepted set, by ROUGE-L
//! over the words of the instruction and input, and by embedding cosine where both have one.
//! The neighbour says which item it is and why it counts as near.

use super::embed::cosine;
use crate::text::rouge::{rouge_l, words};
use serde::Serialize;

/// What the neighbour is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Seed,
    Sample,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Seed => "seed",
            Kind::Sample => "sample",
        }
    }
}

/// When a neighbour counts as a near-duplicate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// ROUGE-L F1 at or above which two texts are near-duplicates (Self-Instruct drops ≥ 0.7).
    pub rouge: f64,
    /// Embedding cosine at or above which two texts are near-duplicates.
    pub cosine: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { rouge: 0.7, cosine: 0.9 }
    }
}

/// One item a sample is compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolItem {
    pub kind: Kind,
    pub id: i64,
    pub text: String,
    pub words: Compared,
    pub embedding: Option<Vec<f32>>,
}

impl PoolItem {
    pub fn new(
        kind: Kind,
        id: i64,
        instruction: &str,
        input: &str,
        embedding: Option<Vec<f32>>,
    ) -> PoolItem {
        PoolItem {
            kind,
            id,
            words: Compared::new(instruction, input),
            text: key_text(instruction, input),
            embedding,
        }
    }
}

/// The words ROUGE-L compares: all of them, and the instruction's and input's apart. When two
/// samples share their instruction (a task's fixed instruction) and both have an input, only the
/// inputs are compared, so a shared instruction does not make every pair of a task look alike.
/// Numbers distinguish too: the same template with other numbers is another problem (another
/// answer), however alike the words and embeddings are.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    all: Vec<String>,
    instruction: Vec<String>,
    input: Vec<String>,
}

/// Which part of two texts was compared, and what it found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub rouge: f64,
    /// "input" (their instruction is the same) or "instruction and input".
    pub part: &'static str,
    /// The compared parts hold different numbers: not a copy, whatever the scores say.
    pub numbers_differ: bool,
}

/// The numbers among `words`, sorted (the multiset two problems are told apart by).
fn numbers(words: &[String]) -> Vec<&str> {
    let mut n: Vec<&str> = words
        .iter()
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
        .map(String::as_str)
        .collect();
    n.sort_unstable();
    n
}

impl Compared {
    pub fn new(instruction: &str, input: &str) -> Compared {
        Compared {
            all: words(&key_text(instruction, input)),
            instruction: words(instruction),
            input: words(input),
        }
    }

    pub fn rouge(&self, other: &Compared) -> f64 {
        self.compare(other).rouge
    }

    /// Compares what distinguishes the two: the inputs when the instruction is shared.
    pub fn compare(&self, other: &Compared) -> Comparison {
        let (a, b, part) = if self.instruction == other.instruction
            && !self.input.is_empty()
            && !other.input.is_empty()
        {
            (&self.input, &other.input, "input")
        } else {
            (&self.all, &other.all, "instruction and input")
        };
        Comparison { rouge: rouge_l(a, b), part, numbers_differ: numbers(a) != numbers(b) }
    }
}

/// The nearest item and how near it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighbour {
    pub kind: Kind,
    pub id: i64,
    /// Its text (instruction and input), for the detail pane.
    pub text: String,
    pub rouge: f64,
    /// None when either side has no embedding yet.
    pub cosine: Option<f32>,
    /// Over a threshold, with the same numbers.
    pub near: bool,
    /// The thresholds it was measured against.
    pub limits: Thresholds,
    /// What was compared: "input" or "instruction and input".
    pub part: &'static str,
    /// The compared parts hold different numbers (so it is not near, whatever the scores).
    pub numbers_differ: bool,
}

impl Neighbour {
    /// Why it is (or is not) a near-duplicate, e.g. "ROUGE-L 0.82 ≥ 0.70".
    pub fn why(&self) -> String {
        let t = &self.limits;
        let r = format!(
            "ROUGE-L {:.2}{} on the {}",
            self.rouge,
            if self.rouge >= t.rouge { format!(" ≥ {:.2}", t.rouge) } else { String::new() },
            self.part
        );
        let why = match self.cosine {
            Some(c) => format!(
                "{r} · cosine {c:.2}{}",
                if c >= t.cosine { format!(" ≥ {:.2}", t.cosine) } else { String::new() }
            ),
            None => format!("{r} · cosine not computed yet"),
        };
        let alike = self.rouge >= t.rouge || self.cosine.is_some_and(|c| c >= t.cosine);
        if self.numbers_differ && alike {
            format!("{why} · other numbers: another problem")
        } else {
            why
        }
    }
}

/// The text a sample is compared by: its instruction and input.
pub fn key_text(instruction: &str, input: &str) -> String {
    if input.trim().is_empty() {
        instruction.to_owned()
    } else {
        format!("{instruction}\n{input}")
    }
}

/// The item of `pool` nearest to a sample's instruction and input (skipping `skip`, the sample
/// itself): the one whose ROUGE-L or cosine is highest relative to its threshold.
pub fn nearest(
    instruction: &str,
    input: &str,
    embedding: Option<&[f32]>,
    pool: &[PoolItem],
    skip: Option<(Kind, i64)>,
    t: &Thresholds,
) -> Option<Neighbour> {
    let w = Compared::new(instruction, input);
    let mut best: Option<(f64, Neighbour)> = None;
    for item in pool {
        if skip == Some((item.kind, item.id)) {
            continue;
        }
        let cmp = w.compare(&item.words);
        let rouge = cmp.rouge;
        let cos = match (embedding, item.embedding.as_deref()) {
            (Some(a), Some(b)) => Some(cosine(a, b)),
            _ => None,
        };
        let rank = (rouge / t.rouge).max(cos.map_or(0.0, |c| f64::from(c) / f64::from(t.cosine)));
        if best.as_ref().is_none_or(|(b, _)| rank > *b) {
            let near =
                !cmp.numbers_differ && (rouge >= t.rouge || cos.is_some_and(|c| c >= t.cosine));
            best = Some((
                rank,
                Neighbour {
                    kind: item.kind,
                    id: item.id,
                    text: item.text.clone(),
                    rouge,
                    cosine: cos,
                    near,
                    limits: *t,
                    part: cmp.part,
                    numbers_differ: cmp.numbers_differ,
                },
            ));
        }
    }
    best.map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_item_says_which_and_why() {
        let t = Thresholds::default();
        let pool = vec![
            PoolItem::new(Kind::Seed, 1, "Write a haiku about the sea.", "", None),
            PoolItem::new(Kind::Sample, 7, "Name three prime numbers.", "", Some(vec![1.0, 0.0])),
            PoolItem::new(
                Kind::Sample,
                9,
                "Explain photosynthesis to a child.",
                "",
                Some(vec![0.0, 1.0]),
            ),
        ];
        let n = nearest("Write a haiku about the ocean.", "", None, &pool, None, &t).unwrap();
        assert_eq!((n.kind, n.id), (Kind::Seed, 1));
        assert!((n.rouge - 5.0 / 6.0).abs() < 1e-9, "5 of 6 words in order: {}", n.rouge);
        assert!(n.near);
        assert_eq!(
            n.why(),
            "ROUGE-L 0.83 ≥ 0.70 on the instruction and input · cosine not computed yet"
        );
        // No shared words, but the embedding says it is the same thing.
        let n = nearest(
            "Describe how plants make food from light.",
            "",
            Some(&[0.1, 0.995]),
            &pool,
            None,
            &t,
        )
        .unwrap();
        assert_eq!(n.id, 9);
        assert!(n.near && n.rouge < 0.2, "{n:?}");
        assert!(n.why().contains("cosine 0.99 ≥ 0.90"), "{}", n.why());
        // Far from everything: the nearest is still named, not near.
        let n = nearest(
            "List three prime numbers below ten, please, with a short reason for each.",
            "",
            Some(&[0.8, 0.6]),
            &pool,
            None,
            &t,
        )
        .unwrap();
        assert_eq!(n.id, 7);
        assert!(!n.near, "{n:?}");
        assert_eq!(
            nearest("x", "", None, &pool[..1], Some((Kind::Seed, 1)), &t),
            None,
            "the sample itself is skipped"
        );
        // A task's shared instruction: only the inputs are compared.
        let task = "Solve the word problem. Answer with just the number.";
        let pool = vec![PoolItem::new(
            Kind::Seed,
            2,
            task,
            "Priya had 26 balloons and gave 3 away. How many balloons are left?",
            None,
        )];
        let n = nearest(
            task,
            "Elena had 29 books and gave 12 away. How many books are left?",
            None,
            &pool,
            None,
            &t,
        )
        .unwrap();
        assert!(!n.near && (n.rouge - 8.0 / 13.0).abs() < 1e-9, "{n:?}");
        let n = nearest(
            task,
            "Priya had 26 balloons and gave 4 away. How many balloons are left?",
            None,
            &pool,
            None,
            &t,
        )
        .unwrap();
        assert!(!n.near && n.rouge > 0.9, "the same template with one number changed: {n:?}");
        assert!(n.why().ends_with("other numbers: another problem"), "{}", n.why());
        let copy = "Priya had 26 balloons and gave 3 away. How many balloons are left now?";
        let n = nearest(task, copy, None, &pool, None, &t).unwrap();
        assert!(n.near && n.part == "input", "a copy, reworded a little: {n:?}");
        assert_eq!(key_text("Do it.", "  "), "Do it.");
        assert_eq!(key_text("Do it.", "now"), "Do it.\nnow");
    }
}
