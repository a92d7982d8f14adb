//! Streams an export into its files: JSON Lines or one JSON array (by the file's extension),
//! optionally split into train and validation files by prompt, each written to a temp file,
//! fsynced and renamed, all or none.

use super::card::{columns, Tally};
use super::export::{metadata, pairs, prompt_hash, sample_value, ExportFormat, Lost};
use crate::fsio::write_atomic_many;
use crate::sample::{SampleText, Status};
use crate::store::{ExportRow, Store};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How rows are laid out in a file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// `.jsonl` (or no extension): one JSON object per line
    Jsonl,
    /// `.json`: one JSON array
    JsonArray,
}

impl Container {
    /// The layout a file name asks for, or why it cannot be written.
    pub fn from_path(path: &Path) -> Result<Container, String> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            None | Some("jsonl") | Some("ndjson") => Ok(Container::Jsonl),
            Some("json") => Ok(Container::JsonArray),
            Some("csv") => Err("CSV export is not built yet; write .jsonl or .json".into()),
            Some("parquet") => Err("Parquet export is not built yet; write .jsonl or .json".into()),
            Some(e) => Err(format!("unknown extension .{e}: write .jsonl or .json")),
        }
    }
}

/// A train/validation split: the share of prompts in train, and the seed that picks them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    pub train: f64,
    pub seed: u64,
}

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// Add a `metadata` object: provenance, the decision and every machine signal.
    pub with_provenance: bool,
    pub container: Container,
    pub split: Option<Split>,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows in each file (one file, or train and validation).
    pub rows: Vec<usize>,
    pub files: Vec<PathBuf>,
    /// Fields the format could not hold, with how many rows lost them.
    pub lost: Lost,
    /// Counts over the samples read, for the dataset card.
    pub tally: Tally,
}

impl ExportSummary {
    pub fn total(&self) -> usize {
        self.rows.iter().sum()
    }
}

/// The files a split writes: `name-train.ext` and `name-validation.ext` beside `path`.
pub fn split_paths(path: &Path) -> [PathBuf; 2] {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    ["train", "validation"].map(|side| path.with_file_name(format!("{stem}-{side}{ext}")))
}

/// Writes rows into one file, in its layout.
struct RowWriter<'a> {
    w: &'a mut dyn Write,
    container: Container,
    rows: usize,
}

impl RowWriter<'_> {
    fn put(&mut self, v: &Value) -> std::io::Result<()> {
        if self.container == Container::JsonArray {
            self.w.write_all(if self.rows == 0 { b"[\n" } else { b",\n" })?;
            serde_json::to_writer(&mut *self.w, v)?;
        } else {
            serde_json::to_writer(&mut *self.w, v)?;
            self.w.write_all(b"\n")?;
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(self) -> std::io::Result<usize> {
        if self.container == Container::JsonArray {
            self.w.write_all(if self.rows == 0 { b"[]\n" } else { b"\n]\n" })?;
        }
        Ok(self.rows)
    }
}

/// Which file a row with this prompt goes to.
fn side(opts: &ExportOptions, t: &SampleText) -> usize {
    match opts.split {
        Some(s) if (prompt_hash(t, s.seed) as f64) >= s.train * u64::MAX as f64 => 1,
        _ => 0,
    }
}

/// Exports the samples of `store` whose status is in `statuses` (pair formats: every decided
/// sample) to `path`, streaming sample rows from the store.
pub fn export_store(
    store: &Store,
    statuses: &[Status],
    path: &Path,
    opts: &ExportOptions,
) -> std::io::Result<ExportSummary> {
    let source = |f: &mut dyn FnMut(ExportRow) -> std::io::Result<()>| -> std::io::Result<()> {
        let wanted: &[Status] = if opts.format.is_pairs() {
            &[Status::Accepted, Status::Edited, Status::Rejected]
        } else {
            statuses
        };
        store.export_each(wanted, |r| f(r).map_err(Io)).map_err(|e: Io| e.0)
    };
    let signals = |id: i64| store.signals(id).ok();
    write_rows(source, &signals, path, opts)
}

/// Exports rows already in memory (tests, small callers).
pub fn export(
    rows: &[ExportRow],
    path: &Path,
    opts: &ExportOptions,
) -> std::io::Result<ExportSummary> {
    let source = |f: &mut dyn FnMut(ExportRow) -> std::io::Result<()>| -> std::io::Result<()> {
        rows.iter().try_for_each(|r| f(r.clone()))
    };
    write_rows(source, &|_| None, path, opts)
}

/// An I/O error that a store error converts into, for [`Store::export_each`].
struct Io(std::io::Error);

impl From<crate::store::StoreError> for Io {
    fn from(e: crate::store::StoreError) -> Self {
        Io(std::io::Error::other(e.to_string()))
    }
}

fn write_rows(
    source: impl FnOnce(&mut dyn FnMut(ExportRow) -> std::io::Result<()>) -> std::io::Result<()>,
    signals: &dyn Fn(i64) -> Option<Value>,
    path: &Path,
    opts: &ExportOptions,
) -> std::io::Result<ExportSummary> {
    let files: Vec<PathBuf> = match opts.split {
        None => vec![path.to_owned()],
        Some(_) => split_paths(path).to_vec(),
    };
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let mut summary = ExportSummary { files: files.clone(), ..Default::default() };
    let lost = &mut summary.lost;
    let tally = &mut summary.tally;
    let own = columns(opts.format);
    let note_keys = |v: &Value, tally: &mut Tally| {
        if let Value::Object(o) = v {
            for k in o.keys().filter(|k| !own.contains(&k.as_str())) {
                if !tally.other_keys.contains(k) {
                    tally.other_keys.insert(k.clone());
                }
            }
        }
    };
    let mut counts = Vec::new();
    write_atomic_many(&refs, |ws| {
        let mut writers: Vec<RowWriter> = ws
            .iter_mut()
            .map(|w| RowWriter { w: &mut **w, container: opts.container, rows: 0 })
            .collect();
        if opts.format.is_pairs() {
            let mut rows = Vec::new();
            source(&mut |r| {
                tally.add(&r);
                rows.push(r);
                Ok(())
            })?;
            for (prompt, v) in pairs(&rows, opts.format, opts.with_provenance, lost) {
                note_keys(&v, tally);
                writers[side(opts, &prompt)].put(&v)?;
            }
        } else {
            source(&mut |r| {
                tally.add(&r);
                let meta = opts.with_provenance.then(|| metadata(&r, signals(r.id)));
                let v = sample_value(&r, opts.format, meta, lost);
                note_keys(&v, tally);
                writers[side(opts, &r.current)].put(&v)
            })?;
        }
        for w in writers {
            counts.push(w.finish()?);
        }
        Ok(())
    })?;
    summary.rows = counts;
    Ok(summary)
}
