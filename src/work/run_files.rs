//! What the supervisor reads of a run from outside its process: whether the process lives, the
//! steps of its progress file, and the last words of its log.

use crate::train::run::StepReport;
use std::path::Path;

/// Whether process `pid` is alive and a trainer (on systems without /proc: assumed alive).
pub fn alive(pid: i64) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    if stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) == Some("Z") {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("train"))
}

/// The steps of a run's progress file as the run stands: a resumed run goes on from its last
/// checkpoint, so a step at or before the last one seen replaces everything from it on.
pub fn read_progress(path: &Path) -> Vec<StepReport> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: Vec<StepReport> = Vec::new();
    for r in text.lines().filter_map(|l| serde_json::from_str::<StepReport>(l).ok()) {
        while out.last().is_some_and(|l| l.step >= r.step) {
            out.pop();
        }
        out.push(r);
    }
    out
}

/// The last progress line of a log (lines end in `\n` or are redrawn after `\r`).
pub fn last_segment(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(400))).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.split(['\r', '\n']).map(str::trim).rfind(|l| !l.is_empty()).map(crate::text::clean_line)
}

/// The last line of a log that says what went wrong.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("Error"))
        .or(lines.last())
        .copied()
        .unwrap_or("no output");
    format!("{} (log: {})", crate::text::clean_line(line), path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::run::StepReport;
    use crate::work::student::TrainSpec;

    #[test]
    fn a_resumed_runs_steps_replace_the_ones_after_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("progress.jsonl");
        let line = |step: usize, loss: f64| {
            serde_json::to_string(&StepReport { step, total: 9, loss, ..StepReport::default() })
                .unwrap()
        };
        // Steps 1–4, killed, resumed from the checkpoint of step 2.
        let text = [
            line(1, 3.0),
            line(2, 2.9),
            line(3, 2.8),
            line(4, 2.7),
            "{\"half a li".into(),
            line(3, 2.6),
            line(4, 2.5),
        ]
        .join("\n");
        std::fs::write(&p, text).unwrap();
        let steps: Vec<(usize, f64)> = read_progress(&p).iter().map(|r| (r.step, r.loss)).collect();
        assert_eq!(steps, vec![(1, 3.0), (2, 2.9), (3, 2.6), (4, 2.5)]);
        assert!(read_progress(&dir.path().join("missing")).is_empty());
        assert!(!alive(i64::from(i32::MAX)), "no such process");
        let spec = TrainSpec {
            base: None,
            task: None,
            targets: "q,v".into(),
            rank: 8,
            epochs: 2,
            lr: 2e-4,
            seed_share: 0.2,
        };
        assert_eq!(
            spec.args().join(" "),
            "train --json --targets q,v --rank 8 --epochs 2 --lr 2e-4 --seed-share 0.2"
        );
        let b = TrainSpec {
            base: Some("/m/other.gguf".into()),
            task: Some("extraction".into()),
            ..spec
        };
        assert!(b.args().join(" ").starts_with(
            "train --json --base /m/other.gguf --task extraction --targets q,v --rank 8"
        ));
    }
}
