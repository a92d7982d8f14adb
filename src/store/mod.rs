//! The SQLite store: one file per workspace, the only place in the crate that speaks SQL.

mod checks;
mod curators;
mod decisions;
mod dedup;
mod export;
mod imports;
mod insert;
mod judge;
mod judge_stats;
mod migrations;
mod pairs;
mod rounds;
mod runs;
mod samples;
mod seeds;
mod signals;
mod state;
mod stats;
mod student;
mod watch;

pub use curators::{report as curator_report, Agreement, CuratorStats};
pub use decisions::{Committed, Decision, DecisionKind, DecisionTag, SampleState, Undone};
pub use dedup::ToEmbed;
pub use imports::StagedImport;
pub use insert::{ImportReport, NewSample, NewSeed};
pub use judge::{NewJudgement, VoteSummary};
pub use judge_stats::{JudgeStats, AGREEMENT_BUCKETS, BANDS, KEEP_AT};
pub use migrations::SCHEMA_VERSION;
pub use pairs::{PairDecisions, IMPORTED_CURATOR};
pub use rounds::{HardCase, Round, RoundStep};
pub use runs::{RunStatus, TrainingRun};
pub use samples::{Candidate, ExportRow, Judgement, Provenance, QueueRow, SampleDetail};
pub use seeds::StoredSeed;
pub use stats::{Stats, StatusCounts};
pub use student::{Failure, Metric};
pub use watch::{Changes, Elsewhere};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors from the store; each says what failed and where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("the store {path} was written by a newer Distillery (schema {found}, this build knows {SCHEMA_VERSION})")]
    TooNew { path: PathBuf, found: i64 },
    #[error("sample {0} does not exist")]
    NoSample(i64),
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}: a different sample shares this one's 64-bit content key (a SHA-256 prefix collision); nothing was imported")]
    HashCollision(String),
    #[error("store: bad JSON in column {column} of sample {id}: {source}")]
    BadJson { id: i64, column: &'static str, source: serde_json::Error },
    #[error("store: {0}")]
    Io(String),
    #[error("{}", watch::describe(.0))]
    DecidedElsewhere(Vec<Elsewhere>),
}

impl StoreError {
    /// Another connection holds the lock (SQLITE_BUSY or SQLITE_LOCKED past the busy timeout):
    /// the same write can be tried again.
    pub fn is_busy(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        matches!(self, StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, DatabaseBusy | DatabaseLocked))
    }
}

/// How long a writer waits for another process's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A workspace's SQLite database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// When a neighbour counts as a near-duplicate (the workspace's `[judge] near_duplicate`).
    pub near_duplicate: crate::judge::dedup::Thresholds,
    /// The verifiers the workspace names per task or recipe (`[[judge.verify]]`).
    pub verifiers: Vec<crate::judge::verify::VerifyRule>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        Self::setup(conn, path.to_owned())
    }

    /// A private in-memory store, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::setup(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn setup(mut conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        let wrap = |source| StoreError::Open { path: path.clone(), source };
        // Pragmas set explicitly on every open; busy_timeout first so the others can wait.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(wrap)?;
        conn.set_prepared_statement_cache_capacity(64);
        match migrations::migrate(&mut conn).map_err(wrap)? {
            migrations::MigrateOutcome::Ok => {
                let mut store =
                    Store { conn, path, near_duplicate: Default::default(), verifiers: Vec::new() };
                store.remove_abandoned_imports()?;
                Ok(store)
            }
            migrations::MigrateOutcome::TooNew(found) => Err(StoreError::TooNew { path, found }),
        }
    }

    /// How long a write waits for another process's lock before it reports busy.
    pub fn set_busy_timeout(&self, d: Duration) -> Result<(), StoreError> {
        Ok(self.conn.busy_timeout(d)?)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a write transaction that takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// read-then-write cannot fail half-way with SQLITE_BUSY; `busy_timeout` applies to the wait.
    /// A consistent copy of the whole database at `path` (`VACUUM INTO`; `path` must not exist).
    pub fn copy_to(&self, path: &Path) -> Result<(), StoreError> {
        self.conn.execute("VACUUM INTO ?1", [path.display().to_string()])?;
        Ok(())
    }

    fn write(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Runs SQLite's own consistency check; `Ok(())` when it answers "ok".
    pub fn integrity_check(&self) -> Result<(), String> {
        let res: Result<Vec<String>, _> = self
            .conn
            .prepare("PRAGMA integrity_check")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
        match res {
            Ok(v) if v == ["ok"] => Ok(()),
            Ok(v) => Err(v.join("; ")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A pragma's current value as text (for checks and `stats`).
    pub fn pragma(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.conn.query_row(&format!("PRAGMA {name}"), [], |r| {
            Ok(match r.get_ref(0)? {
                rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{other:?}"),
            })
        })?)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pragmas_are_set_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        assert_eq!(store.pragma("journal_mode").unwrap(), "wal");
        assert_eq!(store.pragma("synchronous").unwrap(), "2"); // FULL
        assert_eq!(store.pragma("foreign_keys").unwrap(), "1");
        assert_eq!(store.pragma("busy_timeout").unwrap(), "5000");
        assert_eq!(store.pragma("user_version").unwrap(), SCHEMA_VERSION.to_string());
    }

    #[test]
    fn reopening_does_not_migrate_twice() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        drop(Store::open(&p).unwrap());
        let s = Store::open(&p).unwrap();
        assert_eq!(s.integrity_check(), Ok(()));
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        let s = Store::open(&p).unwrap();
        s.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        assert!(matches!(Store::open(&p), Err(StoreError::TooNew { found: 99, .. })));
    }
}
