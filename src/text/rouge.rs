//! ROUGE-L (longest common subsequence of words, F-measure), as Self-Instruct uses to drop
//! instructions too similar to ones already kept.

/// Lower-cased alphanumeric words.
pub fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn lcs(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y { prev[j] + 1 } else { cur[j].max(prev[j + 1]) };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// ROUGE-L F1 between two word lists (0 when either is empty).
pub fn rouge_l(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let l = lcs(a, b) as f64;
    if l == 0.0 {
        return 0.0;
    }
    let (p, r) = (l / a.len() as f64, l / b.len() as f64);
    2.0 * p * r / (p + r)
}

/// The most similar of `pool` to `text`: (index, score).
pub fn most_similar(text: &[String], pool: &[Vec<String>]) -> Option<(usize, f64)> {
    pool.iter().enumerate().map(|(i, p)| (i, rouge_l(text, p))).max_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let w = |s: &str| words(s);
        // LCS("the cat sat on the mat", "the cat on the mat") = 5 → P = 5/6, R = 1 → F = 10/11.
        assert!(
            (rouge_l(&w("the cat sat on the mat"), &w("The cat, on the mat!")) - 10.0 / 11.0).abs()
                < 1e-12
        );
        assert_eq!(rouge_l(&w("a b c"), &w("a b c")), 1.0);
        assert_eq!(rouge_l(&w("a b c"), &w("d e f")), 0.0);
        assert_eq!(rouge_l(&w(""), &w("x")), 0.0);
        // LCS("a b c d", "b d a") = 2 ("b d") → P = 2/4, R = 2/3 → F = 4/7.
        assert!((rouge_l(&w("a b c d"), &w("b d a")) - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(most_similar(&w("a b"), &[w("c"), w("a b"), w("a")]).map(|m| m.0), Some(1));
    }
}
