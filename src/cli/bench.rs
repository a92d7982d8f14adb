//! `distillery bench`: the workbench's performance figures, each ending with one line
//! `bench <name>: <metric>=<value> ...`. References are measured in the same run.

use crate::cli::import::{import_bytes, ImportRequest};
use crate::formats::Format;
use crate::sample::SampleText;
use crate::store::NewSample;
use crate::workspace::Workspace;
use std::time::Instant;

use super::bench_workbench::{commit, filter, first_frame};

const PY_REFERENCE: &str = include_str!("../../benches/import_reference.py");
const IMPORT_ROWS: usize = 50_000;

/// Runs one benchmark, or `all`.
/// `critic`: the workspace and endpoint `bench judge` asks (None: the local model).
pub fn run(
    which: &str,
    rows: usize,
    critic: Option<(&Workspace, &str)>,
    random_model: bool,
    engine: &super::bench_engine::EngineArgs,
) -> anyhow::Result<()> {
    match which {
        "import" => import(),
        "commit" => commit(),
        "filter" => filter(),
        "first-frame" => first_frame(rows),
        "teacher" => super::bench_teacher::run(&super::models::default_model(), engine),
        "throughput" => super::bench_batch::throughput(&super::models::default_model(), engine),
        "eval" => super::bench_batch::eval(&super::models::default_model(), engine),
        "share" => super::bench_batch::share(&super::models::default_model(), engine),
        "judge" => super::bench_judge::run(&super::models::default_model(), critic, engine),
        "train" => super::bench_train::run(&super::models::default_model(), random_model),
        "endpoint" => super::bench_endpoint::run(),
        "all" => {
            import()?;
            commit()?;
            filter()?;
            first_frame(rows)
        }
        other => anyhow::bail!("unknown benchmark {other:?}: expected import, commit, filter, first-frame, teacher, throughput, eval, judge, share, train, endpoint, outcome or all"),
    }
}

/// Deterministic pseudo-random words for synthetic samples.
pub struct Words(u64);

const VOCAB: &[&str] = &[
    "order",
    "mugs",
    "apples",
    "Priya",
    "Tom",
    "March",
    "2024",
    "extract",
    "the",
    "quantity",
    "answer",
    "with",
    "just",
    "number",
    "bought",
    "kettles",
    "how",
    "many",
    "does",
    "have",
    "now",
    "translate",
    "French",
    "summary",
    "JSON",
    "date",
    "name",
    "item",
    "report",
    "write",
    "a",
    "short",
    "poem",
    "about",
    "rain",
    "explain",
    "why",
    "sky",
    "blue",
];

impl Words {
    pub fn new(seed: u64) -> Self {
        Words(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` words, plus a unique tag so every sample differs.
    pub fn sentence(&mut self, n: usize, tag: usize) -> String {
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(VOCAB[(self.next() % VOCAB.len() as u64) as usize]);
            s.push(' ');
        }
        s.push_str(&tag.to_string());
        s
    }

    pub fn sample(&mut self, i: usize) -> SampleText {
        SampleText::new(
            self.sentence(10, i),
            if i.is_multiple_of(3) { self.sentence(6, i) } else { String::new() },
            self.sentence(40, i),
        )
    }
}

pub(super) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(super) fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn import() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("alpaca_50k.json");
    let mut w = Words::new(7);
    let rows: Vec<serde_json::Value> = (0..IMPORT_ROWS)
        .map(|i| {
            let t = w.sample(i);
            serde_json::json!({"instruction": t.instruction, "input": t.input, "output": t.output})
        })
        .collect();
    std::fs::write(&file, serde_json::to_vec(&rows)?)?;
    let mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for run in 0..3 {
        let ws = dir.path().join(format!("rs{run}"));
        let (ws, _) = Workspace::init(&ws)?;
        let mut store = ws.store()?;
        let start = Instant::now();
        let bytes = std::fs::read(&file)?;
        let req = ImportRequest {
            file: &file,
            bytes: &bytes,
            format: Format::Auto,
            as_: None,
            task: None,
        };
        let (_, _, report) = import_bytes(&mut store, &req)?;
        ours.push(start.elapsed().as_secs_f64());
        anyhow::ensure!(report.added == IMPORT_ROWS, "imported {} of {IMPORT_ROWS}", report.added);
        // The SQLite part alone: the same rows, already parsed, into a fresh store.
        let (ws2, _) = Workspace::init(&dir.path().join(format!("floor{run}")))?;
        let rows: Vec<NewSample> = store
            .export_rows(&crate::sample::Status::ALL)?
            .into_iter()
            .map(|r| NewSample { text: r.original, task: None, provenance: r.provenance })
            .collect();
        let mut store2 = ws2.store()?;
        let start = Instant::now();
        store2.insert_samples(&rows)?;
        floor.push(start.elapsed().as_secs_f64());
    }
    let ours = median(&mut ours);
    let floor = median(&mut floor);
    let script = dir.path().join("import_reference.py");
    std::fs::write(&script, PY_REFERENCE)?;
    let mut theirs = Vec::new();
    for run in 0..3 {
        let (ws, _) = Workspace::init(&dir.path().join(format!("py{run}")))?;
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(&file)
            .arg(ws.db_path())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                theirs.push(String::from_utf8_lossy(&o.stdout).trim().parse::<f64>()?)
            }
            Ok(o) => {
                anyhow::bail!("python reference failed: {}", String::from_utf8_lossy(&o.stderr))
            }
            Err(e) => {
                println!("import: python3 not found ({e}); no reference ratio");
                break;
            }
        }
    }
    println!(
        "import: {IMPORT_ROWS} Alpaca rows ({mb:.1} MB JSON) into a new workspace, median of 3"
    );
    println!("  distillery      {:>8.1} ms  ({:.0} rows/s)", ours * 1e3, IMPORT_ROWS as f64 / ours);
    println!("    of which SQLite: {:.1} ms to hash, insert and commit already-parsed rows (the floor both sides share)", floor * 1e3);
    if theirs.is_empty() {
        println!(
            "bench import: rows={IMPORT_ROWS} ms={:.1} rows_per_s={:.0}",
            ours * 1e3,
            IMPORT_ROWS as f64 / ours
        );
    } else {
        let theirs = median(&mut theirs);
        println!(
            "  python json+sqlite3 {:>4.1} ms  ({:.0} rows/s)",
            theirs * 1e3,
            IMPORT_ROWS as f64 / theirs
        );
        println!(
            "bench import: rows={IMPORT_ROWS} ms={:.1} python_ms={:.1} ratio={:.2} sqlite_floor_ms={:.1} target_ratio=5",
            ours * 1e3,
            theirs * 1e3,
            theirs / ours,
            floor * 1e3
        );
    }
    Ok(())
}
