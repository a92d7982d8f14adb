//! Versioned schema migrations, tracked with `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry migrates from version `i` to `i + 1`. Append only; never edit a shipped step.
const MIGRATIONS: &[&str] = &[
    // v1: the whole workbench schema.
    r#"
CREATE TABLE seeds (
    id INTEGER PRIMARY KEY,
    task TEXT,
    name TEXT,
    instruction TEXT NOT NULL,
    instances TEXT NOT NULL DEFAULT '[]',      -- JSON [{input, output}]
    is_classification INTEGER,
    source TEXT,                               -- file:line it came from
    content_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL                -- unix ms
);
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    task TEXT,
    system TEXT,
    messages TEXT,                             -- JSON [{role, content}]: turns before the last prompt
    instruction TEXT NOT NULL,
    input TEXT NOT NULL DEFAULT '',
    output TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('imported', 'generated')),
    recipe TEXT,
    model TEXT,
    template_hash TEXT,
    params TEXT,                               -- JSON generation parameters (sampling, seed)
    parent_id INTEGER REFERENCES samples(id),
    seed_id INTEGER REFERENCES seeds(id),
    round INTEGER NOT NULL DEFAULT 0,
    source TEXT,
    content_hash BLOB NOT NULL,                -- SHA-256 of every text field
    content_key INTEGER NOT NULL UNIQUE,       -- its first 8 bytes: a small index for de-duplication
    created_at INTEGER NOT NULL
);
CREATE INDEX samples_parent ON samples(parent_id) WHERE parent_id IS NOT NULL;
-- k sampled answers per sample, for self-consistency votes.
CREATE TABLE candidates (
    id INTEGER PRIMARY KEY,
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    answer TEXT NOT NULL,
    extracted TEXT,
    logprob REAL,
    model TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX candidates_sample ON candidates(sample_id);
CREATE TABLE judgements (
    id INTEGER PRIMARY KEY,
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    score REAL,                                -- NULL when the verdict could not be parsed
    rationale TEXT,
    raw TEXT NOT NULL,                         -- the judge's raw output, always kept
    judge_model TEXT,
    rubric_hash TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX judgements_sample ON judgements(sample_id, id);
-- The append-only decision log. Nothing here is ever updated or deleted.
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    batch INTEGER NOT NULL,                    -- id of the first event of one user action
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    kind TEXT NOT NULL CHECK (kind IN ('accept', 'reject', 'edit', 'note', 'flag', 'unflag', 'undo')),
    before TEXT,                               -- edit: JSON of the text before
    after TEXT,                                -- edit: JSON of the text after; note: the note
    undoes INTEGER REFERENCES decisions(id),   -- undo: the event it cancels
    seconds REAL,                              -- time the curator spent on the sample
    session TEXT NOT NULL,
    automatic INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX decisions_sample ON decisions(sample_id, id);
CREATE INDEX decisions_batch ON decisions(batch);
CREATE UNIQUE INDEX decisions_undoes ON decisions(undoes) WHERE undoes IS NOT NULL;
-- Derived from `decisions` in the same transaction as every event; `Store::rebuild_state`
-- recomputes it from the log. No row means pending and unedited.
CREATE TABLE sample_state (
    sample_id INTEGER PRIMARY KEY REFERENCES samples(id),
    status TEXT NOT NULL,
    flagged INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    edited TEXT,                               -- JSON of the current text when edited
    last_event INTEGER NOT NULL
);
CREATE INDEX sample_state_status ON sample_state(status);
CREATE TABLE eval_items (
    id INTEGER PRIMARY KEY,
    task TEXT,
    instruction TEXT NOT NULL,
    input TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL,
    scorer TEXT NOT NULL,
    source TEXT,
    content_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE training_runs (
    id INTEGER PRIMARY KEY,
    round INTEGER NOT NULL,
    base_model TEXT NOT NULL,
    params TEXT NOT NULL,                      -- JSON hyper-parameters
    status TEXT NOT NULL,
    pid INTEGER,
    adapter_path TEXT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES training_runs(id),   -- NULL: the base model
    task TEXT,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    n INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
"#,
    // v2: each sample's vote summary, written with its answers (what the queue sorts by).
    r#"
CREATE TABLE votes (
    sample_id INTEGER PRIMARY KEY REFERENCES samples(id),
    k INTEGER NOT NULL,
    winner TEXT,                               -- the majority's extracted answer
    agreement REAL NOT NULL,                   -- its share of all k answers
    agrees INTEGER,                            -- whether the sample's own output gives it (NULL: unknown)
    created_at INTEGER NOT NULL
);
"#,
    // v3: the critic's confidence; embeddings and each sample's nearest neighbour (near-duplicates).
    r#"
ALTER TABLE judgements ADD COLUMN confidence REAL;   -- from the verdict's token log-probabilities
CREATE TABLE embeddings (
    kind TEXT NOT NULL CHECK (kind IN ('seed', 'sample')),
    item_id INTEGER NOT NULL,
    model TEXT NOT NULL,
    text_hash BLOB NOT NULL,                   -- SHA-256 of the text embedded: an edit makes it stale
    vector BLOB NOT NULL,                      -- little-endian f32, unit length
    PRIMARY KEY (kind, item_id)
);
-- Written by the judge: the nearest seed or accepted sample when it ran (the queue's triage reads
-- `near`; the detail pane and accept recompute it against the accepted set of the moment).
CREATE TABLE neighbours (
    sample_id INTEGER PRIMARY KEY REFERENCES samples(id),
    kind TEXT NOT NULL CHECK (kind IN ('seed', 'sample')),
    other_id INTEGER NOT NULL,
    rouge REAL NOT NULL,
    cosine REAL,
    near INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
"#,
    // v4: each sample's verifier results as the judge found them (the queue's triage reads `failed`).
    r#"
CREATE TABLE checks (
    sample_id INTEGER PRIMARY KEY REFERENCES samples(id),
    failed INTEGER NOT NULL,                   -- how many checks failed
    passed INTEGER NOT NULL,                   -- how many passed (checks with nothing to check count in neither)
    results TEXT NOT NULL,                     -- JSON [{name, passed, detail}]
    text_hash BLOB NOT NULL,                   -- SHA-256 of the output checked
    created_at INTEGER NOT NULL
);
"#,
    // v5: the student's wrong answers on its training items (what the llm2llm recipe starts from).
    r#"
CREATE TABLE student_failures (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES training_runs(id),
    kind TEXT NOT NULL CHECK (kind IN ('seed', 'sample')),
    item_id INTEGER NOT NULL,
    task TEXT,
    instruction TEXT NOT NULL,
    input TEXT NOT NULL,
    reference TEXT NOT NULL,
    answer TEXT NOT NULL,                      -- the student's, raw
    created_at INTEGER NOT NULL,
    UNIQUE (run_id, kind, item_id)
);
CREATE INDEX evaluations_run ON evaluations(run_id);
"#,
    // v6: seed questions no sampled answer got right (rejection sampling's hard cases, offered
    // to llm2llm), and headless rounds with their policy and step.
    r#"
CREATE TABLE hard_cases (
    id INTEGER PRIMARY KEY,
    seed_id INTEGER NOT NULL REFERENCES seeds(id),
    task TEXT,
    instruction TEXT NOT NULL,
    input TEXT NOT NULL,
    reference TEXT NOT NULL,
    answer TEXT NOT NULL,                      -- the most common wrong answer, raw
    k INTEGER NOT NULL,                        -- answers sampled, all wrong
    model TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (seed_id)
);
CREATE TABLE rounds (
    id INTEGER PRIMARY KEY,
    policy TEXT NOT NULL,
    recipe TEXT NOT NULL,
    budget INTEGER NOT NULL,                   -- seed questions per task
    step TEXT NOT NULL CHECK (step IN ('generate', 'decide', 'train', 'eval', 'done', 'failed', 'cancelled')),
    first_sample INTEGER NOT NULL,             -- the round's candidates: ids above this
    last_sample INTEGER,                       -- ... up to this one (set after generating)
    run_id INTEGER REFERENCES training_runs(id),
    results TEXT,                              -- JSON: what each step reported
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
"#,
    // v7: who made each decision (`--curator`, `DISTILLERY_CURATOR`, the user name): undo takes a
    // curator's own actions back, and `stats` compares curators. NULL on events from before.
    r#"
ALTER TABLE decisions ADD COLUMN curator TEXT;
CREATE INDEX decisions_curator ON decisions(curator, id);
"#,
    // v8: imports commit in short transactions under an import id. An import's rows are hidden
    // by the views `samples`, `seeds` and `eval_items` until its row is marked done, and removed
    // when it fails or, after a crash, at the next open. `extra`: an imported record's other
    // fields (a JSON object), which the exporters write back.
    r#"
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    lock_file TEXT,                            -- held locked by the importing process
    started_at INTEGER NOT NULL,
    done_at INTEGER                            -- NULL while running: its rows are hidden
);
ALTER TABLE samples RENAME TO sample_rows;
ALTER TABLE sample_rows ADD COLUMN import_id INTEGER;
ALTER TABLE sample_rows ADD COLUMN extra TEXT;
CREATE VIEW samples AS SELECT * FROM sample_rows
    WHERE import_id IS NULL OR import_id NOT IN (SELECT id FROM imports WHERE done_at IS NULL);
ALTER TABLE seeds RENAME TO seed_rows;
ALTER TABLE seed_rows ADD COLUMN import_id INTEGER;
CREATE VIEW seeds AS SELECT * FROM seed_rows
    WHERE import_id IS NULL OR import_id NOT IN (SELECT id FROM imports WHERE done_at IS NULL);
ALTER TABLE eval_items RENAME TO eval_item_rows;
ALTER TABLE eval_item_rows ADD COLUMN import_id INTEGER;
CREATE VIEW eval_items AS SELECT * FROM eval_item_rows
    WHERE import_id IS NULL OR import_id NOT IN (SELECT id FROM imports WHERE done_at IS NULL);
-- Preference pairs as imported: the chosen and the rejected sample of each record.
CREATE TABLE preference_pairs (
    id INTEGER PRIMARY KEY,
    chosen_id INTEGER NOT NULL REFERENCES sample_rows(id),
    rejected_id INTEGER NOT NULL REFERENCES sample_rows(id),
    import_id INTEGER,
    source TEXT                                -- file:line of the record
);
CREATE INDEX preference_pairs_import ON preference_pairs(import_id);
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], one transaction per step.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<MigrateOutcome> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Ok(MigrateOutcome::TooNew(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(MigrateOutcome::Ok)
}

/// What [`migrate`] found.
pub enum MigrateOutcome {
    Ok,
    /// The file was written by a newer Distillery.
    TooNew(i64),
}
