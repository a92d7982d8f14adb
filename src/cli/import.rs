//! `distillery import`: read a file whole, then store it in one transaction or not at all.

use crate::formats::{parse_records, read_records, Format, ImportAs, Parsed};
use crate::store::{ImportReport, NewSample, NewSeed, Provenance, Store};
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

/// Parses and stores a file; on any error nothing from it is stored.
pub fn import_bytes(
    store: &mut Store,
    req: &ImportRequest,
) -> anyhow::Result<(Format, &'static str, ImportReport)> {
    let records = read_records(req.file, req.bytes)?;
    let (format, parsed) = parse_records(req.file, &records, req.format, req.as_)?;
    let name = req.file.display().to_string();
    let task = |t: Option<String>| t.or_else(|| req.task.clone());
    let report = match parsed {
        Parsed::Samples(rows) => {
            let rows: Vec<NewSample> = rows
                .into_iter()
                .map(|(line, text, t)| NewSample {
                    text,
                    task: task(t),
                    provenance: Provenance::imported(format!("{name}:{line}")),
                })
                .collect();
            ("samples", store.insert_samples(&rows)?)
        }
        Parsed::Seeds(rows) => {
            let rows: Vec<NewSeed> = rows
                .into_iter()
                .map(|(line, seed, t)| NewSeed {
                    seed,
                    task: task(t),
                    source: format!("{name}:{line}"),
                })
                .collect();
            ("seed tasks", store.insert_seeds(&rows)?)
        }
        Parsed::Eval(rows) => {
            let rows: Vec<_> = rows
                .into_iter()
                .map(|(line, mut item)| {
                    item.task = task(item.task);
                    (item, format!("{name}:{line}"))
                })
                .collect();
            ("eval items", store.insert_eval_items(&rows)?)
        }
    };
    Ok((format, report.0, report.1))
}

/// A sentence describing an import's outcome.
pub fn describe(file: &Path, format: Format, what: &str, r: &ImportReport) -> String {
    let fmt = format!("{format:?}").to_lowercase();
    let mut s = format!("{}: {} new {what} (format {fmt})", file.display(), r.added);
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
    format: Format,
    as_: Option<ImportAs>,
    task: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", file.display()))?;
    let mut store = ws.store()?;
    let (format, what, report) =
        import_bytes(&mut store, &ImportRequest { file, bytes: &bytes, format, as_, task })?;
    if json {
        let v = serde_json::json!({
            "file": file.display().to_string(), "format": format, "as": what,
            "added": report.added, "already_present": report.already_present,
            "repeated_in_file": report.repeated_in_file,
        });
        println!("{v}");
    } else {
        println!("{}", describe(file, format, what, &report));
    }
    Ok(())
}
