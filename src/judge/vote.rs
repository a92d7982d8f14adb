//! Self-consistency: k answers to one instruction, grouped by their extracted answer, a majority
//! vote, the agreement ratio, and a vote weighted by each answer's own confidence (its mean token
//! log-probability). Long free-text answers, which have no extractable answer, are clustered by
//! embedding similarity (all-MiniLM-L6-v2) when an embedder is at hand ([`cluster`]).

use super::extract::{extract, Answer, Kind};

/// What a cluster's label starts with (stored as the answers' extracted value).
pub const CLUSTER_MARK: &str = "≈ ";

/// Two long answers say the same when their embeddings are at least this close. Paraphrases
/// measure 0.84 with all-MiniLM-L6-v2 (`tests/embed_real.rs`), unrelated texts near 0.
pub const SAME_MEANING: f32 = 0.75;

/// One of the k answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Ballot {
    pub text: String,
    /// Log-probabilities of its tokens (empty when the backend gave none).
    pub logprobs: Vec<f32>,
}

/// Answers that agree.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub answer: Answer,
    /// Indices into the ballots.
    pub members: Vec<usize>,
    /// The sum of the members' weights (`exp(mean log-probability)`; 1 each without them).
    pub weight: f64,
    /// For a cluster of long answers: its first member's embedding, what others are compared with.
    pub centroid: Option<Vec<f32>>,
}

/// The outcome of a vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    /// Largest first (ties: heavier, then the one seen first).
    pub groups: Vec<Group>,
    /// Ballots with no extractable answer.
    pub unanswered: Vec<usize>,
    /// How many voted.
    pub k: usize,
}

impl Vote {
    /// The majority answer (`None` when no ballot had an answer).
    pub fn winner(&self) -> Option<&Answer> {
        self.groups.first().map(|g| &g.answer)
    }

    /// The winner's share of all k ballots (unanswered ones count against it).
    pub fn agreement(&self) -> f64 {
        match (self.groups.first(), self.k) {
            (Some(g), k) if k > 0 => g.members.len() as f64 / k as f64,
            _ => 0.0,
        }
    }

    /// The answer with the most weight, and its share of the total weight.
    pub fn weighted(&self) -> Option<(&Answer, f64)> {
        let total: f64 = self.groups.iter().map(|g| g.weight).sum();
        let best = self
            .groups
            .iter()
            .max_by(|a, b| a.weight.total_cmp(&b.weight).then(b.members[0].cmp(&a.members[0])))?;
        Some((&best.answer, if total > 0.0 { best.weight / total } else { 0.0 }))
    }

    /// Whether `text` (the sample's own output) gives the winning answer. For a cluster, the
    /// text's embedding is compared instead ([`Vote::agrees_in_meaning`]).
    pub fn agrees_with(&self, text: &str) -> Option<bool> {
        let w = self.winner()?;
        if w.kind == Kind::Meaning {
            return None;
        }
        Some(extract(text)?.value == w.value)
    }

    /// Whether an output with embedding `own` says what the winning cluster says (None when the
    /// winner is not a cluster).
    pub fn agrees_in_meaning(&self, own: &[f32]) -> Option<bool> {
        let c = self.groups.first()?.centroid.as_ref()?;
        Some(super::embed::cosine(own, c) >= SAME_MEANING)
    }
}

/// Groups the unanswered ballots by meaning: each joins the first cluster whose first member's
/// embedding is within [`SAME_MEANING`], else starts one. `vecs[i]` embeds ballot
/// `vote.unanswered[i]`. A cluster's label is its first member, shortened.
pub fn cluster(vote: &mut Vote, ballots: &[Ballot], vecs: &[Vec<f32>]) {
    let todo = std::mem::take(&mut vote.unanswered);
    for (&i, v) in todo.iter().zip(vecs) {
        match vote.groups.iter_mut().find(|g| {
            g.centroid.as_ref().is_some_and(|c| super::embed::cosine(v, c) >= SAME_MEANING)
        }) {
            Some(g) => {
                g.members.push(i);
                g.weight += weight(&ballots[i]);
            }
            None => {
                let label = format!(
                    "{CLUSTER_MARK}{}",
                    crate::text::truncate_width(&crate::text::clean_line(&ballots[i].text), 50)
                );
                vote.groups.push(Group {
                    answer: Answer { kind: Kind::Meaning, value: label },
                    members: vec![i],
                    weight: weight(&ballots[i]),
                    centroid: Some(v.clone()),
                });
            }
        }
    }
    vote.unanswered.extend(todo.iter().skip(vecs.len()));
    sort_groups(&mut vote.groups);
}

/// Rebuilds a stored vote from each answer's stored extracted value (the label a cluster gave
/// it, or the extracted answer; None: no answer).
pub fn from_labels(ballots: &[Ballot], labels: &[Option<String>]) -> Vote {
    let mut groups: Vec<Group> = Vec::new();
    let mut unanswered = Vec::new();
    for (i, (b, l)) in ballots.iter().zip(labels).enumerate() {
        let Some(l) = l else {
            unanswered.push(i);
            continue;
        };
        match groups.iter_mut().find(|g| g.answer.value == *l) {
            Some(g) => {
                g.members.push(i);
                g.weight += weight(b);
            }
            None => {
                let kind = if l.starts_with(CLUSTER_MARK) { Kind::Meaning } else { Kind::Text };
                groups.push(Group {
                    answer: Answer { kind, value: l.clone() },
                    members: vec![i],
                    weight: weight(b),
                    centroid: None,
                });
            }
        }
    }
    sort_groups(&mut groups);
    Vote { groups, unanswered, k: ballots.len() }
}

fn sort_groups(groups: &mut [Group]) {
    groups.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(b.weight.total_cmp(&a.weight))
            .then(a.members[0].cmp(&b.members[0]))
    });
}

/// A ballot's weight: the geometric mean of its token probabilities.
fn weight(b: &Ballot) -> f64 {
    if b.logprobs.is_empty() {
        return 1.0;
    }
    let mean = b.logprobs.iter().map(|&l| l as f64).sum::<f64>() / b.logprobs.len() as f64;
    mean.exp()
}

/// Counts the ballots.
pub fn tally(ballots: &[Ballot]) -> Vote {
    let mut groups: Vec<Group> = Vec::new();
    let mut unanswered = Vec::new();
    for (i, b) in ballots.iter().enumerate() {
        match extract(&b.text) {
            None => unanswered.push(i),
            Some(a) => match groups.iter_mut().find(|g| g.answer == a) {
                Some(g) => {
                    g.members.push(i);
                    g.weight += weight(b);
                }
                None => groups.push(Group {
                    answer: a,
                    members: vec![i],
                    weight: weight(b),
                    centroid: None,
                }),
            },
        }
    }
    sort_groups(&mut groups);
    Vote { groups, unanswered, k: ballots.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(text: &str, lp: &[f32]) -> Ballot {
        Ballot { text: text.into(), logprobs: lp.to_vec() }
    }

    #[test]
    fn the_majority_wins_and_agreement_counts_every_ballot() {
        let v = tally(&[
            b("#### 7", &[]),
            b("The answer is 7.", &[]),
            b("#### 8", &[]),
            b("I am not sure about this one at all, sorry, it could be many things really.", &[]),
            b("7", &[]),
        ]);
        assert_eq!(v.winner().unwrap().value, "7");
        assert_eq!(
            v.groups.iter().map(|g| g.members.clone()).collect::<Vec<_>>(),
            vec![vec![0, 1, 4], vec![2]]
        );
        assert_eq!(v.unanswered, vec![3]);
        assert!((v.agreement() - 0.6).abs() < 1e-12);
        assert_eq!(v.agrees_with("So it is 7."), Some(true));
        assert_eq!(v.agrees_with("#### 9"), Some(false));
        assert_eq!(v.agrees_with(""), None);
    }

    #[test]
    fn the_weighted_vote_follows_confidence() {
        // Two unsure answers say 8, one sure answer says 7: the majority is 8, the weight is 7's.
        let v = tally(&[
            b("#### 8", &[-3.0, -3.0]),
            b("#### 7", &[-0.01, -0.01]),
            b("#### 8", &[-2.5]),
        ]);
        assert_eq!(v.winner().unwrap().value, "8");
        let (w, share) = v.weighted().unwrap();
        assert_eq!(w.value, "7");
        let (e7, e8) = ((-0.01f64).exp(), (-3.0f64).exp() + (-2.5f64).exp());
        assert!((share - e7 / (e7 + e8)).abs() < 1e-9, "{share}");
        // Without log-probabilities every ballot weighs 1: the weighted vote is the majority.
        let v = tally(&[b("#### 8", &[]), b("#### 7", &[]), b("#### 8", &[])]);
        assert_eq!(v.weighted().map(|(a, s)| (a.value.clone(), s)), Some(("8".into(), 2.0 / 3.0)));
    }

    #[test]
    fn long_answers_cluster_by_meaning_and_the_output_is_compared_by_embedding() {
        let long = |s: &str| {
            b(
                &format!(
                    "{s} and that is the whole story of why it happens, told at some length here."
                ),
                &[],
            )
        };
        let ballots = [
            long("Light scatters off air"),
            b("#### 4", &[]),
            long("Air scatters the light"),
            long("Cats like fish"),
            long("Molecules scatter sunlight"),
        ];
        let mut v = tally(&ballots);
        assert_eq!(v.unanswered, vec![0, 2, 3, 4]);
        let unit = |x: f32, y: f32| {
            let n = (x * x + y * y).sqrt();
            vec![x / n, y / n]
        };
        // 0, 2 and 4 point the same way (cosine > 0.75 to ballot 0); 3 is orthogonal.
        cluster(
            &mut v,
            &ballots,
            &[unit(1.0, 0.0), unit(1.0, 0.2), unit(0.0, 1.0), unit(1.0, -0.5)],
        );
        assert!(v.unanswered.is_empty());
        assert_eq!(
            v.groups.iter().map(|g| g.members.clone()).collect::<Vec<_>>(),
            vec![vec![0, 2, 4], vec![1], vec![3]]
        );
        let w = v.winner().unwrap();
        assert_eq!(w.kind, Kind::Meaning);
        assert!(w.value.starts_with("≈ Light scatters off air"), "{}", w.value);
        assert!((v.agreement() - 0.6).abs() < 1e-12);
        assert_eq!(v.agrees_in_meaning(&unit(1.0, 0.1)), Some(true));
        assert_eq!(v.agrees_in_meaning(&unit(-1.0, 0.1)), Some(false));
        assert_eq!(
            v.agrees_with("Light scatters off air, mostly."),
            None,
            "a cluster is not compared as text"
        );
        // Stored, the labels rebuild the same groups.
        let labels: Vec<Option<String>> = (0..5)
            .map(|i| {
                v.groups.iter().find(|g| g.members.contains(&i)).map(|g| g.answer.value.clone())
            })
            .collect();
        let again = from_labels(&ballots, &labels);
        assert_eq!(
            again.groups.iter().map(|g| (g.members.clone(), g.answer.kind)).collect::<Vec<_>>(),
            vec![(vec![0, 2, 4], Kind::Meaning), (vec![1], Kind::Text), (vec![3], Kind::Meaning)]
        );
    }

    #[test]
    fn ties_and_empty_votes() {
        let v = tally(&[b("#### 1", &[]), b("#### 2", &[])]);
        assert_eq!(v.winner().unwrap().value, "1", "a tie goes to the answer seen first");
        assert!((v.agreement() - 0.5).abs() < 1e-12);
        let v = tally(&[]);
        assert_eq!((v.winner(), v.agreement(), v.weighted()), (None, 0.0, None));
    }
}
