//! One import, streamed: records are read and parsed on a thread of their own and written on the
//! caller's in short transactions, under an import id that the store shows only once the last
//! chunk is in. A bad record anywhere leaves nothing behind.

use super::{Format, FormatError, ImportAs, Item, Notes, RecordParser, RecordReader};
use crate::sample::EvalItem;
use crate::store::{
    ImportReport, NewSample, NewSeed, PairDecisions, Provenance, StagedImport, Store, StoreError,
};
use std::io::BufRead;
use std::path::Path;
use std::sync::mpsc::sync_channel;

/// Rows per transaction: small enough that a curator's decision waits a few tens of milliseconds
/// at most, large enough that commits do not dominate.
pub const CHUNK_ROWS: usize = 2_000;

/// How to read an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: Format,
    pub as_: Option<ImportAs>,
    /// Task name stored with rows that have no `task` field.
    pub task: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    pub format: Format,
    pub as_: ImportAs,
    pub records: usize,
    pub report: ImportReport,
    /// What was changed or not kept, with counts.
    pub notes: Notes,
    /// What the preference pairs' decisions were.
    pub pairs: PairDecisions,
}

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rows of some records, ready for one transaction (one file gives one kind of row).
#[derive(Default)]
struct Chunk {
    samples: Vec<NewSample>,
    seeds: Vec<NewSeed>,
    eval: Vec<(EvalItem, String)>,
    pairs: Vec<(NewSample, NewSample)>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.samples.len() + self.seeds.len() + self.eval.len() + 2 * self.pairs.len()
    }

    fn stage(&self, store: &mut Store, imp: &StagedImport) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        if !self.samples.is_empty() {
            report += store.stage_samples(imp, &self.samples)?;
        }
        if !self.seeds.is_empty() {
            report += store.stage_seeds(imp, &self.seeds)?;
        }
        if !self.eval.is_empty() {
            report += store.stage_eval_items(imp, &self.eval)?;
        }
        if !self.pairs.is_empty() {
            report += store.stage_pairs(imp, &self.pairs)?;
        }
        Ok(report)
    }

    fn push(&mut self, item: Item, source: &str, opts: &ImportOptions) {
        let task = |t: Option<String>| t.or_else(|| opts.task.clone());
        match item {
            Item::Sample { text, task: t, extra } => {
                let provenance = Provenance { extra, ..Provenance::imported(source.to_owned()) };
                self.samples.push(NewSample { text, task: task(t), provenance });
            }
            Item::Pair { text, rejected, task: t, extra } => {
                let sample = |output: Option<String>| {
                    let mut text = text.clone();
                    if let Some(o) = output {
                        text.output = o;
                    }
                    let provenance = Provenance {
                        extra: extra.clone(),
                        ..Provenance::imported(source.to_owned())
                    };
                    NewSample { text, task: task(t.clone()), provenance }
                };
                self.pairs.push((sample(None), sample(Some(rejected))));
            }
            Item::Seed { seed, task: t } => {
                self.seeds.push(NewSeed { seed, task: task(t), source: source.to_owned() })
            }
            Item::Eval(mut item) => {
                item.task = task(item.task);
                self.eval.push((item, source.to_owned()));
            }
        }
    }
}

/// Imports the records of `src` (named `name` in errors and provenance) into `store`: all of
/// them, or, on any error, none.
pub fn import_stream(
    store: &mut Store,
    name: &Path,
    src: impl BufRead + Send,
    opts: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    let imp = store.begin_import(&name.display().to_string())?;
    let result = std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Result<Chunk, FormatError>>(2);
        let parser = s.spawn(move || parse_side(name, src, opts, tx));
        let mut report = ImportReport::default();
        for msg in rx {
            report += msg?.stage(store, &imp)?;
        }
        let (parser, records) = parser.join().map_err(|_| {
            FormatError::new(name, 0, None, "the reading thread stopped unexpectedly")
        })?;
        if records == 0 {
            return Err(FormatError::new(name, 0, None, "the file holds no records").into());
        }
        Ok(ImportOutcome {
            format: parser.format(),
            as_: parser.import_as(),
            records,
            report,
            notes: parser.notes,
            pairs: PairDecisions::default(),
        })
    });
    match result {
        Ok(mut outcome) => {
            outcome.pairs = store.finish_import(imp)?;
            let p = outcome.pairs;
            if p.conflicting > 0 {
                outcome.notes.insert(
                    "samples chosen in one pair and rejected in another, left pending".into(),
                    p.conflicting,
                );
            }
            if p.already_decided > 0 {
                outcome.notes.insert(
                    "pair samples already decided in the workspace, decisions left as they were"
                        .into(),
                    p.already_decided,
                );
            }
            Ok(outcome)
        }
        Err(e) => {
            if let Err(abort) = store.abort_import(imp) {
                tracing::warn!("could not remove the failed import's rows yet: {abort}");
            }
            Err(e)
        }
    }
}

/// Reads and parses every record, sending chunks of rows; returns the parser and the number of
/// records. Stops at the first error (sent on) or when the writer hangs up.
fn parse_side(
    name: &Path,
    src: impl BufRead,
    opts: &ImportOptions,
    tx: std::sync::mpsc::SyncSender<Result<Chunk, FormatError>>,
) -> (RecordParser, usize) {
    let mut reader = RecordReader::new(name, src);
    let mut parser = RecordParser::new(name, opts.format, opts.as_);
    let shown = name.display().to_string();
    let mut chunk = Chunk::default();
    let mut records = 0;
    while let Some(rec) = reader.next_record() {
        let items = rec.and_then(|r| parser.parse(&r).map(|items| (r, items)));
        let (r, items) = match items {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.send(Err(e));
                return (parser, records);
            }
        };
        records += 1;
        let source = match r.element {
            None => format!("{shown}:{}", r.line),
            Some(i) => format!("{shown}:{}[{i}]", r.line),
        };
        for item in items {
            chunk.push(item, &source, opts);
        }
        if chunk.len() >= CHUNK_ROWS && tx.send(Ok(std::mem::take(&mut chunk))).is_err() {
            return (parser, records);
        }
    }
    if chunk.len() > 0 {
        let _ = tx.send(Ok(chunk));
    }
    (parser, records)
}
