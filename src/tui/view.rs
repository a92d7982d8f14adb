//! The view of the queue: the rows shown (status tab, fuzzy filter, sort), rebuilt in `update`
//! when one of its inputs changes, never while drawing.

use super::filter::{filter_rows, matcher};
use super::queue::{QueueIndex, Sort, Tab};
use fuzzy_matcher::skim::SkimMatcherV2;
use fuzzy_matcher::FuzzyMatcher;
use std::collections::HashMap;

/// The rows shown, in order, with the inputs they were derived from.
pub struct View {
    pub rows: Vec<u32>,
    tab: Option<Tab>,
    sort: Option<Sort>,
    query: String,
    matcher: SkimMatcherV2,
    /// Matched character positions of rows near the cursor.
    highlights: HashMap<u32, Vec<usize>>,
    covered: (usize, usize),
}

impl Default for View {
    fn default() -> Self {
        View {
            rows: Vec::new(),
            tab: None,
            sort: None,
            query: String::new(),
            matcher: matcher(),
            highlights: HashMap::new(),
            covered: (0, 0),
        }
    }
}

impl View {
    /// Rebuilds the view. With a query, rows are ranked by match quality (ties keep the chosen
    /// sort); when only the query grew, it filters the current rows instead of all of them.
    pub fn rebuild(&mut self, index: &QueueIndex, tab: Tab, sort: Sort, query: &str) {
        let narrowing = self.tab == Some(tab)
            && self.sort == Some(sort)
            && !self.query.is_empty()
            && query.starts_with(&self.query);
        let mut base: Vec<u32> = if narrowing {
            std::mem::take(&mut self.rows)
        } else {
            let mut rows: Vec<u32> =
                (0..index.len() as u32).filter(|&i| tab.shows(index.row(i).status)).collect();
            sort_rows(&mut rows, index, sort);
            rows
        };
        if narrowing {
            // Narrowing keeps the rank order, which must be rebuilt from the base sort.
            sort_rows(&mut base, index, sort);
        }
        if !query.is_empty() {
            base = filter_rows(index, &base, query, &self.matcher);
        }
        self.rows = base;
        (self.tab, self.sort, self.query) = (Some(tab), Some(sort), query.to_owned());
        self.highlights.clear();
        self.covered = (0, 0);
    }

    /// Forces the next rebuild to start from all rows.
    pub fn invalidate(&mut self) {
        self.tab = None;
    }

    /// Removes rows that no longer belong to the tab (after a decision).
    pub fn drop_outside_tab(&mut self, index: &QueueIndex) {
        if let Some(tab) = self.tab {
            self.rows.retain(|&i| tab.shows(index.row(i).status));
        }
    }

    pub fn position_of(&self, row: u32) -> Option<usize> {
        self.rows.iter().position(|&r| r == row)
    }

    /// Computes match positions for view positions `lo..hi` unless already there.
    pub fn refresh_highlights(&mut self, index: &QueueIndex, lo: usize, hi: usize) {
        let hi = hi.min(self.rows.len());
        if self.query.is_empty() || (lo >= self.covered.0 && hi <= self.covered.1) {
            return;
        }
        let (lo, hi) = (lo.saturating_sub(50), (hi + 50).min(self.rows.len()));
        for &i in &self.rows[lo..hi] {
            if !self.highlights.contains_key(&i) {
                let idx = self
                    .matcher
                    .fuzzy_indices(index.text(i), &self.query)
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                self.highlights.insert(i, idx);
            }
        }
        self.covered = (lo, hi);
    }

    /// Matched character indices of a row's text (empty when no filter).
    pub fn highlight(&self, row: u32) -> &[usize] {
        self.highlights.get(&row).map_or(&[], Vec::as_slice)
    }

    pub fn query(&self) -> &str {
        &self.query
    }
}

fn sort_rows(rows: &mut [u32], index: &QueueIndex, sort: Sort) {
    let key = |i: &u32| index.row(*i);
    match sort {
        Sort::Newest => {} // the index is newest first already
        Sort::Score => rows.sort_by(|a, b| {
            let (a, b) = (key(a), key(b));
            b.score
                .unwrap_or(f32::NEG_INFINITY)
                .total_cmp(&a.score.unwrap_or(f32::NEG_INFINITY))
                .then(b.id.cmp(&a.id))
        }),
        Sort::Disagreement => rows.sort_by(|a, b| {
            let (a, b) = (key(a), key(b));
            a.agreement
                .unwrap_or(f32::INFINITY)
                .total_cmp(&b.agreement.unwrap_or(f32::INFINITY))
                .then(b.id.cmp(&a.id))
        }),
        // Within a class, lower scores first, then newest.
        Sort::Triage => rows.sort_by(|a, b| {
            let (a, b) = (key(a), key(b));
            a.needs
                .cmp(&b.needs)
                .then(a.score.unwrap_or(f32::INFINITY).total_cmp(&b.score.unwrap_or(f32::INFINITY)))
                .then(b.id.cmp(&a.id))
        }),
    }
}
