//! `distillery export`: samples or preference pairs to a file, atomically.

use crate::formats::{export, ExportFormat, ExportOptions};
use crate::sample::Status;
use crate::workspace::Workspace;
use std::path::Path;

/// The statuses a `--status` value selects.
pub fn statuses(name: &str) -> anyhow::Result<Vec<Status>> {
    Ok(match name {
        "accepted" => vec![Status::Accepted, Status::Edited],
        "all" => Status::ALL.to_vec(),
        other => vec![Status::parse(other).ok_or_else(|| {
            anyhow::anyhow!(
                "--status {other:?}: expected accepted, edited, rejected, pending or all"
            )
        })?],
    })
}

pub(super) fn run(
    ws: &Workspace,
    format: ExportFormat,
    status: &str,
    out: &Path,
    with_provenance: bool,
    json: bool,
) -> anyhow::Result<()> {
    let pairs = matches!(format, ExportFormat::Dpo | ExportFormat::TrlPairs);
    // Pairs come from every decided sample, whatever --status says.
    let wanted = if pairs {
        vec![Status::Accepted, Status::Edited, Status::Rejected]
    } else {
        statuses(status)?
    };
    let rows = ws.store()?.export_rows(&wanted)?;
    let json_array = out.extension().is_some_and(|e| e == "json");
    let summary = export(&rows, out, &ExportOptions { format, with_provenance, json_array })
        .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", out.display()))?;

    let what = if pairs { "preference pairs" } else { "samples" };
    if json {
        let v = serde_json::json!({
            "output": crate::text::clean_line(&out.display().to_string()), "format": format!("{format:?}").to_lowercase(),
            "what": what, "rows": summary.rows, "dropped_history": summary.dropped_history,
        });
        println!("{v}");
        return Ok(());
    }
    let shown = crate::text::clean_line(&out.display().to_string());
    println!("{shown}: {} {what} written ({format:?})", summary.rows);
    if summary.dropped_history > 0 {
        eprintln!(
            "warning: {} multi-turn samples kept only their last exchange (their turns are not user/answer pairs, which Alpaca's history needs); use sharegpt or openai to keep them",
            summary.dropped_history
        );
    }
    Ok(())
}
