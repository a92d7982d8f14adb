//! `bench workbench`'s parts: committing decisions, filtering and sorting the index, and the
//! first frame of the workbench on a large store (time and memory).

use super::bench::{percentile, Words};
use crate::store::{Decision, DecisionKind, NewSample, Provenance, Store};
use crate::tui::effects::{Effect, Event, StoreWorker};
use crate::tui::queue::{QueueIndex, Sort, Tab, View};
use crate::workspace::Workspace;
use anyhow::Context;
use std::path::Path;
use std::time::Instant;

pub(super) fn commit() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (ws, _) = Workspace::init(dir.path())?;
    let mut store = ws.store()?;
    let mut w = Words::new(3);
    let rows: Vec<NewSample> = (0..10_000)
        .map(|i| NewSample {
            text: w.sample(i),
            task: None,
            provenance: Provenance::imported(format!("b:{i}")),
        })
        .collect();
    store.insert_samples(&rows)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = StoreWorker::spawn(store, tx);
    let n = 500;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let kind = if i % 2 == 0 { DecisionKind::Accept } else { DecisionKind::Reject };
        let d = Decision {
            sample_ids: vec![(i % 10_000) as i64 + 1],
            kind,
            seconds: Some(1.0),
            session: "bench".into(),
            curator: "bench".into(),
            automatic: false,
            unless_decided_after: None,
        };
        let start = Instant::now();
        worker.send(Effect::Decide(d));
        match rx.blocking_recv() {
            Some(Event::Committed { .. }) => lat.push(start.elapsed().as_secs_f64() * 1e3),
            other => anyhow::bail!("unexpected answer from the store: {other:?}"),
        }
    }
    worker.finish();
    let (p50, p99, max) =
        (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99), percentile(&mut lat, 1.0));
    println!("commit: {n} decisions through the store worker (BEGIN IMMEDIATE, WAL, synchronous=FULL, fsync per commit)");
    println!(
        "bench commit: n={n} p50_ms={p50:.2} p99_ms={p99:.2} max_ms={max:.2} target_p99_ms=10"
    );
    Ok(())
}

pub(super) fn filter() -> anyhow::Result<()> {
    let n = 100_000;
    let mut w = Words::new(11);
    let cap = crate::tui::effects::summary_cap(n as i64);
    let rows = (0..n)
        .map(|i| {
            let (summary, title_len) = crate::sample::summary_line(&w.sample(i), cap);
            crate::store::QueueRow {
                id: (n - i) as i64,
                status: crate::sample::Status::Pending,
                flagged: false,
                score: None,
                agreement: None,
                needs: Default::default(),
                summary,
                title_len,
            }
        })
        .collect();
    let mut index = QueueIndex::default();
    index.extend(rows);
    let mut view = View::default();
    view.rebuild(&index, Tab::All, Sort::Newest, "");
    let query = "order mugs 2024 99";
    let mut times = Vec::new();
    let mut matches = 0;
    let mut ranked = 0;
    // Type the query, then delete it again (each backspace is a full rebuild).
    let steps: Vec<String> = (1..=query.len())
        .map(|k| query[..k].to_owned())
        .chain((1..query.len()).rev().map(|k| query[..k].to_owned()))
        .collect();
    for q in &steps {
        let start = Instant::now();
        view.rebuild(&index, Tab::All, Sort::Newest, q);
        view.refresh_highlights(&index, 0, 60);
        times.push(start.elapsed().as_secs_f64() * 1e3);
        if std::env::var_os("DISTILLERY_BENCH_VERBOSE").is_some() {
            println!("  {q:?}: {:.1} ms, {} rows", times[times.len() - 1], view.rows.len());
        }
        if q == query {
            matches = view.rows.len();
        }
        ranked += usize::from(view.rows.len() <= crate::tui::filter::RANK_LIMIT);
    }
    let (p50, max) = (percentile(&mut times, 0.5), percentile(&mut times, 1.0));
    println!(
        "filter: fuzzy filter over {n} samples ({cap}-byte summaries), {} keystrokes typing and deleting {query:?} \
         ({matches} final matches; {ranked} keystrokes ranked by score, the rest filtered in queue order)",
        steps.len()
    );
    println!("bench filter: rows={n} keystrokes={} ranked={ranked} p50_ms={p50:.2} max_ms={max:.2} target_ms=30", steps.len());
    Ok(())
}

/// Builds a store of `rows` samples (reused between runs) and measures a fresh process opening
/// the workbench on it.
pub(super) fn first_frame(rows: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("distillery-bench-{rows}"));
    let db = dir.join("bench.db");
    std::fs::create_dir_all(&dir)?;
    let mut store = Store::open(&db)?;
    let have = store.sample_count()? as usize;
    if have < rows {
        let start = Instant::now();
        let mut w = Words::new(5);
        for chunk in (have..rows).collect::<Vec<_>>().chunks(100_000) {
            let batch: Vec<NewSample> = chunk
                .iter()
                .map(|&i| NewSample {
                    text: w.sample(i),
                    task: None,
                    provenance: Provenance::imported(format!("b:{i}")),
                })
                .collect();
            store.insert_samples(&batch)?;
        }
        println!(
            "first-frame: built a store of {rows} samples in {:.1} s ({})",
            start.elapsed().as_secs_f64(),
            db.display()
        );
    }
    drop(store);
    let exe = std::env::current_exe()?;
    let exe = if exe.file_name().is_some_and(|n| n.to_string_lossy().starts_with("distillery")) {
        exe
    } else {
        // Under `cargo bench` the current exe is the bench harness: use the built binary.
        exe.parent()
            .and_then(Path::parent)
            .map(|p| p.join("distillery"))
            .context("locating the distillery binary")?
    };
    let out = std::process::Command::new(&exe)
        .args(["debug", "first-frame", "--db"])
        .arg(&db)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "first-frame child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    println!("first-frame: a fresh process opens {rows} samples: first frame after the first page, then the whole index streams in");
    println!(
        "bench first_frame: rows={rows} first_frame_ms={:.1} full_index_ms={:.1} rss_first_frame_mb={:.1} rss_peak_mb={:.1} index_mb={:.1} target_ms=300 target_rss_mb=200",
        v["first_frame_ms"].as_f64().unwrap_or(f64::NAN),
        v["full_index_ms"].as_f64().unwrap_or(f64::NAN),
        v["rss_first_frame_mb"].as_f64().unwrap_or(f64::NAN),
        v["rss_peak_mb"].as_f64().unwrap_or(f64::NAN),
        v["index_mb"].as_f64().unwrap_or(f64::NAN),
    );
    Ok(())
}

/// The child side of `first_frame`: open, draw the first frame, load everything; print JSON.
pub fn measure_first_frame(db: &Path) -> anyhow::Result<()> {
    use ratatui::{backend::TestBackend, Terminal};
    let start = Instant::now();
    let store = Store::open(db)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = StoreWorker::spawn(store, tx);
    let mut app = crate::tui::app::App::new(
        "bench".into(),
        crate::tui::keymap::Keymap::default_keys(),
        crate::store::now_ms,
    );
    let mut terminal = Terminal::new(TestBackend::new(120, 40))?;
    for e in app.init() {
        worker.send(e);
    }
    let mut first_frame_ms = None;
    let mut rss_first = 0.0;
    while app.loading {
        let ev = rx.blocking_recv().context("store worker ended")?;
        for e in app.update(ev) {
            worker.send(e);
        }
        if first_frame_ms.is_none() && !app.index.is_empty() {
            terminal.draw(|f| app.render(f))?;
            first_frame_ms = Some(start.elapsed().as_secs_f64() * 1e3);
            rss_first = rss_mb("VmRSS");
        }
    }
    terminal.draw(|f| app.render(f))?;
    let full = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "{}",
        serde_json::json!({
            "first_frame_ms": first_frame_ms, "full_index_ms": full, "rss_first_frame_mb": rss_first,
            "rss_peak_mb": rss_mb("VmHWM"), "index_mb": app.index.heap_bytes() as f64 / 1e6,
        })
    );
    drop(worker);
    Ok(())
}

fn rss_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
