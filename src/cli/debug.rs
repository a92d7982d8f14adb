//! Hidden commands for tests and benchmarks: a decision writer that is killed mid-flight.

use crate::sample::SampleText;
use crate::store::{Decision, DecisionKind, NewSample, Provenance, Store};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

/// Internal commands.
#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Apply random decisions to a store in a loop, printing `committed BATCH SAMPLE KIND` after
    /// each commit. Used by the crash test, which kills it with SIGKILL.
    CrashWriter {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        session: String,
        /// Samples to create first when the store has none.
        #[arg(long, default_value_t = 50)]
        samples: usize,
        /// Stop after this many decisions (default: until killed).
        #[arg(long)]
        max: Option<u64>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Open a store as the TUI does, draw the first frame, load the whole index; print timings
    /// and memory as JSON (the child side of `distillery bench first-frame`).
    FirstFrame {
        #[arg(long)]
        db: PathBuf,
    },
    /// Write a random llama GGUF of SmolLM2-135M's shape (f32, tied embeddings) for
    /// `distillery bench train --random-model`, in a process of its own so its memory does not
    /// count in the benchmark's peak RSS.
    RandomModel { path: PathBuf },
    /// Print the memory read bandwidth in GB/s with this many threads (the child side of the
    /// engine benchmarks, so its 512 MB buffer does not count in their peak RSS).
    Bandwidth { threads: usize },
    /// Spin on one core until killed (`distillery bench teacher --busy N` runs N of them).
    BusyLoop,
    /// Fuzz the importers with mutated inputs of every format for this many seconds; crashes
    /// and hangs are saved under `--out` and make the command fail.
    FuzzImport {
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "fuzz-findings")]
        out: PathBuf,
    },
}

pub(super) fn run(cmd: DebugCommand) -> anyhow::Result<()> {
    let (db, session, samples, max, seed) = match cmd {
        DebugCommand::CrashWriter { db, session, samples, max, seed } => {
            (db, session, samples, max, seed)
        }
        DebugCommand::FirstFrame { db } => return super::bench_workbench::measure_first_frame(&db),
        DebugCommand::Bandwidth { threads } => {
            println!("{:.2}", super::bench_engine::read_bandwidth(threads));
            return Ok(());
        }
        DebugCommand::FuzzImport { seconds, seed, out } => {
            return super::fuzz_import::run(seconds, seed, &out)
        }
        DebugCommand::BusyLoop => loop {
            std::hint::black_box(0u64);
        },
        DebugCommand::RandomModel { path } => {
            let opts = crate::llm::testing::TinyOptions {
                tied: true,
                dims: Some(crate::llm::testing::Dims::SMOLLM2_135M),
                ..Default::default()
            };
            return Ok(crate::llm::testing::write_tiny_llama(&path, &opts)?);
        }
    };
    let mut store = Store::open(&db)?;
    if store.sample_count()? == 0 {
        let rows: Vec<NewSample> = (0..samples)
            .map(|i| NewSample {
                text: SampleText::new(format!("Question {i}"), "", format!("Answer {i}")),
                task: None,
                provenance: Provenance::imported(format!("crash-writer:{i}")),
            })
            .collect();
        store.insert_samples(&rows)?;
    }
    let n = store.sample_count()?.max(1) as u64;
    let mut rng = seed.max(1) ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let out = std::io::stdout();
    let mut i = 0u64;
    while max.is_none_or(|m| i < m) {
        i += 1;
        let first = (next() % n) as i64 + 1;
        let ids = if next() % 10 == 0 { vec![first, (first % n as i64) + 1] } else { vec![first] };
        let kind = match next() % 7 {
            0 => DecisionKind::Reject,
            1 => DecisionKind::Note(format!("note {i}")),
            2 => DecisionKind::Flag,
            3 if ids.len() == 1 => DecisionKind::Edit(SampleText::new(
                format!("Question {first}"),
                "",
                format!("Edited {i}"),
            )),
            4 => {
                if let Some(u) = store.undo(&session, &session)? {
                    writeln!(
                        out.lock(),
                        "committed {} {} undo",
                        u.committed.batch,
                        u.committed.states[0].sample_id
                    )?;
                }
                continue;
            }
            _ => DecisionKind::Accept,
        };
        let name = kind.name();
        let c = store.decide(&Decision {
            sample_ids: ids.clone(),
            kind,
            seconds: Some(1.0),
            session: session.clone(),
            curator: session.clone(),
            automatic: false,
            unless_decided_after: None,
        })?;
        // Reported only after the commit returned: every line printed is a durable decision
        // (batch 0: it changed nothing, so nothing was written).
        if let Some(first) = c.written.first() {
            writeln!(out.lock(), "committed {} {first} {name}", c.batch)?;
        }
    }
    Ok(())
}
