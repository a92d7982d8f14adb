//! The fuzzy filter: a SIMD subsequence test that decides what matches, and the skim scorer that
//! ranks the matches when there are few enough.

use super::queue::QueueIndex;
use fuzzy_matcher::skim::SkimMatcherV2;
use fuzzy_matcher::FuzzyMatcher;

/// A query prepared for the subsequence test.
pub(super) struct Needle {
    bytes: Vec<u8>,
    /// Smart case: an upper-case letter in the query makes the match case-sensitive.
    case_sensitive: bool,
    /// Only ASCII queries are tested byte-wise; others go straight to the scorer.
    ascii: bool,
}

impl Needle {
    pub(super) fn new(query: &str) -> Needle {
        Needle {
            bytes: query.as_bytes().to_vec(),
            case_sensitive: query.bytes().any(|b| b.is_ascii_uppercase()),
            ascii: query.is_ascii(),
        }
    }

    /// True when every query character occurs in `hay` in order: exactly the condition for the
    /// skim matcher to find a match (for ASCII queries), found with SIMD jumps.
    pub(super) fn matches(&self, hay: &str) -> bool {
        let mut rest = hay.as_bytes();
        for &c in &self.bytes {
            let found = if !self.case_sensitive && c.is_ascii_alphabetic() {
                memchr::memchr2(c.to_ascii_lowercase(), c.to_ascii_uppercase(), rest)
            } else {
                memchr::memchr(c, rest)
            };
            match found {
                Some(p) => rest = &rest[p + 1..],
                None => return false,
            }
        }
        true
    }
}

/// Filters with the subsequence test; ranks by the skim score only when at most this many rows
/// match. Broader filters keep the queue's sort (ranking 90,000 two-letter matches helps nobody,
/// and scoring them costs more than a keystroke's budget).
pub const RANK_LIMIT: usize = 8_000;

/// The matcher: smart case; haystacks whose score matrix would exceed this many cells use the
/// matcher's linear `simple_match`, which keeps a keystroke over 100,000 rows within budget.
const ELEMENT_LIMIT: usize = 256;

pub(super) fn matcher() -> SkimMatcherV2 {
    SkimMatcherV2::default().smart_case().element_limit(ELEMENT_LIMIT)
}

/// Runs `work` over `rows` split across the cores, concatenating results in order.
fn par_map<T: Send>(rows: &[u32], work: impl Fn(&[u32]) -> Vec<T> + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if rows.len() < 20_000 || threads == 1 {
        return work(rows);
    }
    let chunk = rows.len().div_ceil(threads);
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = rows.chunks(chunk).map(|part| s.spawn(move || work(part))).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// The rows that match `query`, best first when few enough to rank (see [`RANK_LIMIT`]).
pub(super) fn filter_rows(
    index: &QueueIndex,
    rows: &[u32],
    query: &str,
    m: &SkimMatcherV2,
) -> Vec<u32> {
    let needle = Needle::new(query);
    let hits: Vec<u32> = if needle.ascii {
        par_map(rows, |part| {
            part.iter().copied().filter(|&i| needle.matches(index.text(i))).collect()
        })
    } else {
        par_map(rows, |part| {
            part.iter()
                .copied()
                .filter(|&i| m.fuzzy_match(index.text(i), query).is_some())
                .collect()
        })
    };
    if hits.len() > RANK_LIMIT {
        return hits;
    }
    let mut scored: Vec<(i64, u32)> = par_map(&hits, |part| {
        part.iter().filter_map(|&i| m.fuzzy_match(index.text(i), query).map(|s| (s, i))).collect()
    });
    // A stable sort by score keeps the base order among equal scores.
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    scored.into_iter().map(|(_, i)| i).collect()
}
