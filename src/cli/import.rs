//! `distillery import`: stream a file (or standard input) into the store in short transactions;
//! on any error nothing from it is stored.

use crate::formats::{import_stream, open_input, Format, ImportAs, ImportOptions, ImportOutcome};
use crate::store::{ImportReport, Store};
use crate::text::clean_line;
use crate::workspace::Workspace;
use std::path::Path;

/// One import: a file's bytes, with how to read them.
pub struct ImportRequest<'a> {
    /// The name used in errors and provenance.
    pub file: &'a Path,
    pub bytes: &'a [u8],
    pub format: Format,
    pub as_: Option<ImportAs>,
    pub task: Option<String>,
}

/// Parses and stores bytes already in memory (the demo's sample data, benchmarks); on any error
/// nothing from them is stored.
pub fn import_bytes(
    store: &mut Store,
    req: &ImportRequest,
) -> anyhow::Result<(Format, &'static str, ImportReport)> {
    let opts = ImportOptions { format: req.format, as_: req.as_, task: req.task.clone() };
    let out = import_stream(store, req.file, req.bytes, &opts)?;
    Ok((out.format, what(out.as_), out.report))
}

/// What the rows of an import became, in words.
pub fn what(as_: ImportAs) -> &'static str {
    match as_ {
        ImportAs::Sample => "samples",
        ImportAs::Seed => "seed tasks",
        ImportAs::Eval => "eval items",
    }
}

/// A sentence describing an import's outcome, cleaned for the terminal.
pub fn describe(file: &Path, format: Format, what: &str, r: &ImportReport) -> String {
    let mut s = format!(
        "{}: {} new {what} (format {})",
        clean_line(&file.display().to_string()),
        r.added,
        format.name()
    );
    if r.already_present > 0 {
        s.push_str(&format!("; {} already in the workspace, skipped", r.already_present));
    }
    if r.repeated_in_file > 0 {
        s.push_str(&format!("; {} repeated within the file, skipped", r.repeated_in_file));
    }
    if r.added == 0 && r.already_present > 0 {
        s.push_str(" — nothing added");
    }
    s
}

pub(super) fn run(
    ws: &Workspace,
    file: &Path,
    opts: ImportOptions,
    json: bool,
) -> anyhow::Result<()> {
    let src = open_input(file)?;
    let name = if file.as_os_str() == "-" { Path::new("<stdin>") } else { file };
    let mut store = ws.store()?;
    let out: ImportOutcome = import_stream(&mut store, name, src, &opts)?;
    let r = &out.report;
    if json {
        let notes: serde_json::Map<String, serde_json::Value> =
            out.notes.iter().map(|(k, n)| (k.clone(), (*n).into())).collect();
        let v = serde_json::json!({
            "file": clean_line(&name.display().to_string()), "format": out.format,
            "as": what(out.as_), "records": out.records, "added": r.added,
            "already_present": r.already_present, "repeated_in_file": r.repeated_in_file,
            "notes": notes, "pairs_accepted": out.pairs.accepted,
            "pairs_rejected": out.pairs.rejected,
        });
        println!("{v}");
    } else {
        println!("{}", describe(name, out.format, what(out.as_), r));
        if out.pairs.accepted + out.pairs.rejected > 0 {
            println!(
                "  preference pairs: {} chosen accepted, {} rejected (imported decisions)",
                out.pairs.accepted, out.pairs.rejected
            );
        }
    }
    for (note, n) in &out.notes {
        eprintln!("note: {note}: {n} record(s)");
    }
    Ok(())
}
