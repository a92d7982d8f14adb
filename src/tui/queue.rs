//! The queue: every sample's row in compact form (one text arena, so a million rows fit); the
//! view derived from it is [`View`].

pub use super::view::View;
use crate::sample::Status;
use crate::store::QueueRow;

/// The status tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Pending,
    Accepted,
    Rejected,
    Edited,
    All,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Pending, Tab::Accepted, Tab::Rejected, Tab::Edited, Tab::All];

    pub fn name(self) -> &'static str {
        match self {
            Tab::Pending => "Pending",
            Tab::Accepted => "Accepted",
            Tab::Rejected => "Rejected",
            Tab::Edited => "Edited",
            Tab::All => "All",
        }
    }

    pub fn status(self) -> Option<Status> {
        match self {
            Tab::Pending => Some(Status::Pending),
            Tab::Accepted => Some(Status::Accepted),
            Tab::Rejected => Some(Status::Rejected),
            Tab::Edited => Some(Status::Edited),
            Tab::All => None,
        }
    }

    pub fn shows(self, s: Status) -> bool {
        self.status().is_none_or(|t| t == s)
    }
}

/// The queue's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Newest,
    /// Critic score, highest first (unscored last).
    Score,
    /// Self-consistency agreement, lowest first (no votes last).
    Disagreement,
    /// Needs a human first: unparsed verdicts, conflicting signals, low agreement; confident
    /// ones last ([`crate::judge::needs`]).
    Triage,
}

impl Sort {
    pub fn next(self) -> Sort {
        match self {
            Sort::Newest => Sort::Score,
            Sort::Score => Sort::Disagreement,
            Sort::Disagreement => Sort::Triage,
            Sort::Triage => Sort::Newest,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Score => "score",
            Sort::Disagreement => "disagreement",
            Sort::Triage => "needs a human",
        }
    }
}

/// One sample in the index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub id: i64,
    start: u32,
    len: u32,
    pub title_len: u32,
    pub score: Option<f32>,
    pub agreement: Option<f32>,
    pub needs: crate::judge::Needs,
    pub status: Status,
    pub flagged: bool,
    /// A decision on it is on its way to the store.
    pub saving: bool,
}

/// Every row, newest first.
#[derive(Debug, Default)]
pub struct QueueIndex {
    rows: Vec<Row>,
    arena: String,
}

impl QueueIndex {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn row(&self, i: u32) -> &Row {
        &self.rows[i as usize]
    }

    /// The row's one-line summary.
    pub fn text(&self, i: u32) -> &str {
        let r = &self.rows[i as usize];
        &self.arena[r.start as usize..(r.start + r.len) as usize]
    }

    /// Appends a page of rows (pages come newest first, each older than the last).
    pub fn extend(&mut self, page: Vec<QueueRow>) {
        self.rows.reserve(page.len());
        for q in page {
            let start = self.push_text(&q.summary);
            self.rows.push(Row {
                id: q.id,
                start,
                len: q.summary.len() as u32,
                title_len: q.title_len as u32,
                score: q.score,
                agreement: q.agreement,
                needs: q.needs,
                status: q.status,
                flagged: q.flagged,
                saving: false,
            });
        }
    }

    /// The newest sample's id.
    pub fn newest_id(&self) -> Option<i64> {
        self.rows.first().map(|r| r.id)
    }

    /// Puts samples newer than every row in front (rows stay sorted by id, descending); returns
    /// the statuses of those added. Older or known ids are skipped.
    pub fn insert_newer(&mut self, mut rows: Vec<QueueRow>) -> Vec<Status> {
        let newest = self.newest_id().unwrap_or(i64::MIN);
        rows.retain(|r| r.id > newest);
        rows.sort_by_key(|r| std::cmp::Reverse(r.id));
        rows.dedup_by_key(|r| r.id);
        let statuses = rows.iter().map(|r| r.status).collect();
        let mut front = QueueIndex::default();
        front.extend(rows);
        let shift = self.arena.len() as u32;
        // The new rows' texts go to the end of the arena; the rows go in front.
        self.arena.push_str(&front.arena);
        front.rows.iter_mut().for_each(|r| r.start += shift);
        front.rows.append(&mut self.rows);
        self.rows = front.rows;
        statuses
    }

    fn push_text(&mut self, s: &str) -> u32 {
        let start = self.arena.len() as u32;
        self.arena.push_str(s);
        start
    }

    /// The index of a sample's row (rows are sorted by id, descending).
    pub fn find(&self, id: i64) -> Option<u32> {
        self.rows.binary_search_by(|r| id.cmp(&r.id)).ok().map(|i| i as u32)
    }

    pub fn row_mut(&mut self, id: i64) -> Option<&mut Row> {
        let i = self.find(id)?;
        Some(&mut self.rows[i as usize])
    }

    /// Replaces a row's summary after an edit.
    pub fn set_text(&mut self, id: i64, summary: &str, title_len: usize) {
        if let Some(i) = self.find(id) {
            let start = self.push_text(summary);
            let r = &mut self.rows[i as usize];
            (r.start, r.len, r.title_len) = (start, summary.len() as u32, title_len as u32);
        }
    }

    /// Gives back the spare capacity the growing buffers kept.
    pub fn shrink_to_fit(&mut self) {
        self.rows.shrink_to_fit();
        self.arena.shrink_to_fit();
    }

    /// Bytes held, for the memory benchmark.
    pub fn heap_bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Row>() + self.arena.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::filter::matcher;
    use fuzzy_matcher::FuzzyMatcher;

    fn index(texts: &[(&str, Status, Option<f32>)]) -> QueueIndex {
        let mut ix = QueueIndex::default();
        let n = texts.len() as i64;
        ix.extend(
            texts
                .iter()
                .enumerate()
                .map(|(i, (t, s, score))| QueueRow {
                    id: n - i as i64,
                    status: *s,
                    flagged: false,
                    score: *score,
                    agreement: None,
                    needs: Default::default(),
                    summary: (*t).to_owned(),
                    title_len: t.len(),
                })
                .collect(),
        );
        ix
    }

    #[test]
    fn filters_by_tab_and_fuzzy_query_incrementally() {
        let ix = index(&[
            ("apples and pears", Status::Pending, None),
            ("bananas", Status::Accepted, None),
            ("apricot", Status::Pending, None),
        ]);
        let mut v = View::default();
        v.rebuild(&ix, Tab::Pending, Sort::Newest, "");
        assert_eq!(v.rows, vec![0, 2]);
        v.rebuild(&ix, Tab::All, Sort::Newest, "ap");
        assert_eq!(v.rows, vec![0, 2], "equal matches keep the newest-first order");
        v.rebuild(&ix, Tab::All, Sort::Newest, "apr");
        assert_eq!(v.rows, vec![2, 0], "the tighter match ranks first");
        v.rebuild(&ix, Tab::All, Sort::Newest, "apri");
        assert_eq!(v.rows, vec![2]);
        v.refresh_highlights(&ix, 0, 10);
        assert_eq!(v.highlight(2), &[0, 1, 2, 3]);
        v.rebuild(&ix, Tab::All, Sort::Newest, "a");
        assert_eq!(v.rows.len(), 3, "a shorter query starts again from all rows");
    }

    #[test]
    fn sorts_by_score_with_unscored_last() {
        let ix = index(&[
            ("a", Status::Pending, Some(3.0)),
            ("b", Status::Pending, None),
            ("c", Status::Pending, Some(9.0)),
        ]);
        let mut v = View::default();
        v.rebuild(&ix, Tab::All, Sort::Score, "");
        assert_eq!(v.rows, vec![2, 0, 1]);
    }

    #[test]
    fn finds_rows_by_id() {
        let ix = index(&[("a", Status::Pending, None), ("b", Status::Pending, None)]);
        assert_eq!(ix.find(2), Some(0));
        assert_eq!(ix.find(1), Some(1));
        assert_eq!(ix.find(7), None);
    }

    #[test]
    fn subsequence_test_agrees_with_the_matcher() {
        use super::super::filter::Needle;
        let m = matcher();
        for (hay, q) in [
            ("Hello World", "hwd"),
            ("Hello", "hz"),
            ("x", ""),
            ("Hello", "H"),
            ("hello", "H"),
            ("a-b_c d", "abcd"),
            ("ABC", "abc"),
            ("Straße", "st"),
        ] {
            assert_eq!(
                Needle::new(q).matches(hay),
                m.fuzzy_match(hay, q).is_some(),
                "{hay:?} / {q:?}"
            );
        }
    }
}
