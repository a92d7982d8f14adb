//! Choosing the next token: repetition penalty, temperature, top-k, top-p, a seeded RNG, and the
//! log-probability of the chosen token under the model.

use super::engine::isa::Isa;
use super::engine::kernels::Kernels;
use super::engine::vmath;
use serde::{Deserialize, Serialize};

/// Sampling settings of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenParams {
    /// 0 means greedy.
    pub temperature: f32,
    pub top_p: f32,
    /// 0 means no limit.
    pub top_k: usize,
    /// 1.0 means none; applied to tokens already in the prompt or the output.
    pub repetition_penalty: f32,
    pub max_tokens: usize,
    /// Generation stops when the text ends with one of these (it is not included).
    pub stop: Vec<String>,
    pub seed: u64,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            temperature: 0.7,
            top_p: 0.9,
            top_k: 40,
            repetition_penalty: 1.1,
            max_tokens: 256,
            stop: Vec::new(),
            seed: 42,
        }
    }
}

/// SplitMix64: small, fast, and the same everywhere, so a seed gives the same text.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The state: `Rng::new(r.state())` continues exactly where `r` is (checkpoints keep it).
    pub fn state(&self) -> u64 {
        self.0
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A seed for a request: in `0..2^31`, which every server takes (a non-negative signed
    /// 32-bit integer), so provenance holds the seed that was sent.
    pub fn next_seed(&mut self) -> u64 {
        self.next_u64() >> 33
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Log-softmax of one entry of `logits`.
pub fn logprob(logits: &[f32], id: usize) -> f32 {
    logprob_with(Isa::best(), logits, id)
}

fn kernels(isa: Isa) -> Kernels {
    Kernels::new(isa).unwrap_or_else(|_| Kernels::new(Isa::Scalar).expect("scalar runs everywhere"))
}

/// [`logprob`] with the vector maths of `isa`.
pub fn logprob_with(isa: Isa, logits: &[f32], id: usize) -> f32 {
    let max = vmath::max(logits);
    let sum = vmath::sum_exp(kernels(isa), logits, max) as f64;
    (logits[id] - max) - sum.ln() as f32
}

/// Picks the next token from `logits`; `seen` are the tokens so far (for the penalty).
/// Returns the token and its log-probability under the unmodified distribution.
pub fn sample(logits: &[f32], seen: &[u32], p: &GenParams, rng: &mut Rng) -> (u32, f32) {
    sample_with(Isa::best(), logits, seen, p, rng)
}

/// The `k` best entries of `l`, best first: highest value, ties to the lowest id (a total order,
/// so the choice is the same as sorting the whole vocabulary; one pass instead of a sort).
fn top_k(l: &[f32], k: usize) -> Vec<usize> {
    let mut best: Vec<usize> = Vec::with_capacity(k + 1);
    let worse =
        |a: usize, b: usize| l[a].total_cmp(&l[b]).then(b.cmp(&a)) == std::cmp::Ordering::Less;
    for i in 0..l.len() {
        if best.len() == k && !worse(best[k - 1], i) {
            continue;
        }
        let at = best.partition_point(|&b| !worse(b, i));
        best.insert(at, i);
        best.truncate(k);
    }
    best
}

/// [`sample`] with the vector maths of `isa`.
pub fn sample_with(
    isa: Isa,
    logits: &[f32],
    seen: &[u32],
    p: &GenParams,
    rng: &mut Rng,
) -> (u32, f32) {
    let mut l = logits.to_vec();
    if p.repetition_penalty != 1.0 {
        let mut done = std::collections::HashSet::new();
        for &t in seen {
            let t = t as usize;
            if t < l.len() && done.insert(t) {
                l[t] = if l[t] >= 0.0 {
                    l[t] / p.repetition_penalty
                } else {
                    l[t] * p.repetition_penalty
                };
            }
        }
    }
    // Ties go to the lowest id, in greedy decoding and in the top-k order alike.
    let argmax = |v: &[f32]| (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best });
    let id = if p.temperature <= 0.0 {
        argmax(&l)
    } else {
        let idx: Vec<usize> = if p.top_k > 0 && p.top_k < l.len() {
            top_k(&l, p.top_k)
        } else {
            let mut idx: Vec<usize> = (0..l.len()).collect();
            idx.sort_unstable_by(|a, b| l[*b].total_cmp(&l[*a]).then(a.cmp(b)));
            idx
        };
        let max = l[idx[0]];
        let mut probs: Vec<f64> =
            idx.iter().map(|&i| (((l[i] - max) / p.temperature) as f64).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|x| *x /= total);
        // Top-p: the smallest prefix whose mass reaches top_p.
        let mut mass = 0.0;
        let mut keep = probs.len();
        for (i, &q) in probs.iter().enumerate() {
            mass += q;
            if mass >= p.top_p as f64 {
                keep = i + 1;
                break;
            }
        }
        let total: f64 = probs[..keep].iter().sum();
        let mut r = rng.next_f64() * total;
        let mut choice = idx[keep - 1];
        for (k, &q) in probs[..keep].iter().enumerate() {
            if r < q {
                choice = idx[k];
                break;
            }
            r -= q;
        }
        choice
    };
    (id as u32, logprob_with(isa, logits, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_max_and_reports_its_logprob() {
        let p = GenParams { temperature: 0.0, repetition_penalty: 1.0, ..Default::default() };
        let (id, lp) = sample(&[0.0, 2.0, 1.0], &[], &p, &mut Rng::new(1));
        assert_eq!(id, 1);
        let want = 2.0 - (0f32.exp() + 2f32.exp() + 1f32.exp()).ln();
        assert!((lp - want).abs() < 1e-5, "{lp} vs {want}");
    }

    #[test]
    fn same_seed_same_choices_and_top_k_one_is_greedy() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 / 3.0).collect();
        let p = GenParams {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            ..Default::default()
        };
        let run = |seed| {
            (0..20)
                .map(|_| 0)
                .scan(Rng::new(seed), |r, _| Some(sample(&logits, &[], &p, r).0))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let k1 = GenParams { top_k: 1, ..p };
        let greedy =
            sample(&logits, &[], &GenParams { temperature: 0.0, ..k1.clone() }, &mut Rng::new(0)).0;
        assert_eq!(sample(&logits, &[], &k1, &mut Rng::new(3)).0, greedy);
    }

    #[test]
    fn top_k_selection_is_the_sorted_prefix_ties_to_the_lowest_id() {
        let l: Vec<f32> = (0..500).map(|i| ((i * 7919) % 97) as f32 / 5.0).collect();
        let mut sorted: Vec<usize> = (0..l.len()).collect();
        sorted.sort_by(|a, b| l[*b].total_cmp(&l[*a]).then(a.cmp(b)));
        for k in [1, 2, 40, 97, 499] {
            assert_eq!(top_k(&l, k), sorted[..k], "k = {k}");
        }
        let lp = logprob(&l, 3);
        let max = l.iter().copied().fold(f32::MIN, f32::max) as f64;
        let want =
            (l[3] as f64 - max) - l.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
        assert!((lp as f64 - want).abs() < 1e-5, "{lp} vs {want}");
    }

    #[test]
    fn repetition_penalty_lowers_seen_tokens() {
        let p = GenParams { temperature: 0.0, repetition_penalty: 2.0, ..Default::default() };
        assert_eq!(sample(&[1.0, 1.5], &[1], &p, &mut Rng::new(0)).0, 0);
    }
}
