//! `bench import`: an Alpaca JSONL of `rows` rows through `distillery import` (a child process,
//! for its peak RSS) against Python's json + sqlite3 on the same file, while a second connection
//! decides a sample every 100 ms and times how long each decision waits for the store.

use super::bench::{median, percentile, Words};
use crate::sample::SampleText;
use crate::store::{Decision, DecisionKind, NewSample, Provenance};
use crate::workspace::Workspace;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PY_REFERENCE: &str = include_str!("../../benches/import_reference.py");
const PY_EXPORT: &str = include_str!("../../benches/export_reference.py");
/// Samples present before the import, for the decisions made during it.
const DECIDED: i64 = 100;

/// A finished child: wall seconds, peak resident memory in MB, success.
struct Finished {
    seconds: f64,
    rss_mb: f64,
    ok: bool,
}

pub fn run(rows: usize) -> anyhow::Result<()> {
    run_with(rows, false)
}

/// `bench export`: the same workspace after the import, all its rows to an Alpaca JSONL, against
/// Python's sqlite3 + json writing the same rows.
pub fn export(rows: usize) -> anyhow::Result<()> {
    run_with(rows, true)
}

fn run_with(rows: usize, then_export: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("alpaca.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    let mut w = Words::new(7);
    for i in 0..rows {
        let t = w.sample(i);
        let v =
            serde_json::json!({"instruction": t.instruction, "input": t.input, "output": t.output});
        serde_json::to_writer(&mut out, &v)?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
    println!("import: {rows} Alpaca rows ({mb:.0} MB JSONL) into a new workspace");

    let (ws, _) = Workspace::init(&dir.path().join("ours"))?;
    let seeds: Vec<NewSample> = (0..DECIDED)
        .map(|i| NewSample {
            text: SampleText::new(format!("decide me {i}"), "", "ok"),
            task: None,
            provenance: Provenance::imported(format!("bench:{i}")),
        })
        .collect();
    ws.store()?.insert_samples(&seeds)?;
    let exe = std::env::current_exe()?;
    let start = Instant::now();
    let child = std::process::Command::new(exe)
        .arg("-q")
        .arg("-w")
        .arg(&ws.dir)
        .arg("import")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let done = AtomicBool::new(false);
    let (ours, mut waits) = std::thread::scope(|s| {
        let decider = s.spawn(|| decide_meanwhile(&ws, &done));
        let ours = finish((child, start));
        done.store(true, Ordering::Relaxed);
        (ours, decider.join().unwrap_or_else(|_| Ok(Vec::new())))
    });
    let ours = ours?;
    anyhow::ensure!(ours.ok, "distillery import failed");
    let stored = ws.store()?.sample_count()?;
    anyhow::ensure!(stored == rows as i64 + DECIDED, "stored {stored} of {rows}");
    let waits = waits.as_mut().map_err(|e| anyhow::anyhow!("deciding during the import: {e}"))?;
    println!(
        "  distillery       {:>8.1} s  ({:.0} rows/s)  peak RSS {:.0} MB",
        ours.seconds,
        rows as f64 / ours.seconds,
        ours.rss_mb
    );
    let (p50, p99, max) = if waits.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        let max = waits.iter().cloned().fold(0.0, f64::max);
        (median(waits), percentile(waits, 0.99), max)
    };
    println!(
        "  a decision during it ({} made): waits p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        waits.len(),
        p50 * 1e3,
        p99 * 1e3,
        max * 1e3
    );
    let script = dir.path().join("import_reference.py");
    std::fs::write(&script, PY_REFERENCE)?;
    let (py, _) = Workspace::init(&dir.path().join("py"))?;
    let start = Instant::now();
    let theirs = std::process::Command::new("python3")
        .arg(&script)
        .arg(&file)
        .arg(py.db_path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map(|c| finish((c, start)));
    let summary = format!(
        "bench import: rows={rows} s={:.2} rss_mb={:.0} decision_wait_p99_ms={:.1} decision_wait_max_ms={:.1}",
        ours.seconds,
        ours.rss_mb,
        p99 * 1e3,
        max * 1e3
    );
    match theirs {
        Ok(Ok(t)) if t.ok => {
            println!(
                "  python json+sqlite3 {:>5.1} s  ({:.0} rows/s)  peak RSS {:.0} MB",
                t.seconds,
                rows as f64 / t.seconds,
                t.rss_mb
            );
            println!(
                "{summary} py_s={:.2} py_rss_mb={:.0} speedup={:.2}",
                t.seconds,
                t.rss_mb,
                t.seconds / ours.seconds
            );
        }
        other => {
            println!(
                "  python reference did not run ({}); no ratio",
                match other {
                    Ok(Ok(_)) => "it failed".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                }
            );
            println!("{summary}");
        }
    }
    if then_export {
        return measure_export(&ws, rows, dir.path());
    }
    Ok(())
}

/// Accepts and rejects the samples there before the import, one every 100 ms, timing each.
fn decide_meanwhile(ws: &Workspace, done: &AtomicBool) -> anyhow::Result<Vec<f64>> {
    let mut store = ws.store()?;
    store.set_busy_timeout(Duration::from_secs(30))?;
    let mut waits = Vec::new();
    let mut i = 0;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let kind = if i % 2 == 0 { DecisionKind::Accept } else { DecisionKind::Reject };
        let d = Decision {
            sample_ids: vec![1 + (i / 2) % DECIDED],
            kind,
            seconds: None,
            session: "bench".into(),
            curator: "bench".into(),
            automatic: false,
            unless_decided_after: None,
        };
        let start = Instant::now();
        store.decide(&d)?;
        waits.push(start.elapsed().as_secs_f64());
        i += 1;
    }
    Ok(waits)
}

/// Waits for `child` and reads its peak resident memory (Linux: `wait4`'s rusage).
fn finish((child, start): (std::process::Child, Instant)) -> anyhow::Result<Finished> {
    #[cfg(target_os = "linux")]
    {
        extern "C" {
            fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut [i64; 18]) -> i32;
        }
        let mut status = 0i32;
        let mut usage = [0i64; 18];
        // SAFETY: `usage` is larger than struct rusage (two timevals, then 14 longs); the child
        // is ours and not yet waited for.
        let r = unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
        anyhow::ensure!(r > 0, "wait4 failed: {}", std::io::Error::last_os_error());
        // ru_maxrss (KiB) follows the two timevals.
        return Ok(Finished {
            seconds: start.elapsed().as_secs_f64(),
            rss_mb: usage[4] as f64 / 1024.0,
            ok: status & 0x7f == 0 && (status >> 8) & 0xff == 0,
        });
    }
    #[allow(unreachable_code)]
    {
        let mut child = child;
        let ok = child.wait()?.success();
        Ok(Finished { seconds: start.elapsed().as_secs_f64(), rss_mb: f64::NAN, ok })
    }
}

fn measure_export(ws: &Workspace, rows: usize, dir: &std::path::Path) -> anyhow::Result<()> {
    let out = dir.join("export.jsonl");
    let start = Instant::now();
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["-q", "-w"])
        .arg(&ws.dir)
        .args(["export", "--format", "alpaca", "--status", "all", "-o"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let ours = finish((child, start))?;
    anyhow::ensure!(ours.ok, "distillery export failed");
    let mb = std::fs::metadata(&out)?.len() as f64 / 1e6;
    println!(
        "export: {} rows ({mb:.0} MB Alpaca JSONL)\n  distillery       {:>8.1} s  peak RSS {:.0} MB",
        rows as i64 + DECIDED,
        ours.seconds,
        ours.rss_mb
    );
    let script = dir.join("export_reference.py");
    std::fs::write(&script, PY_EXPORT)?;
    let start = Instant::now();
    let py = std::process::Command::new("python3")
        .arg(&script)
        .arg(ws.db_path())
        .arg(dir.join("py.jsonl"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .map(|c| finish((c, start)));
    let summary =
        format!("bench export: rows={rows} s={:.2} rss_mb={:.0}", ours.seconds, ours.rss_mb);
    match py {
        Ok(Ok(t)) if t.ok => {
            println!("  python sqlite3+json {:>4.1} s  peak RSS {:.0} MB", t.seconds, t.rss_mb);
            println!(
                "{summary} py_s={:.2} py_rss_mb={:.0} speedup={:.2}",
                t.seconds,
                t.rss_mb,
                t.seconds / ours.seconds
            );
        }
        _ => println!("  python reference did not run; no ratio\n{summary}"),
    }
    Ok(())
}
