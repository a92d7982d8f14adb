//! `distillery demo`: a workspace with the sample data, then the TUI with a rejection-sampling
//! job running.

use super::import::{describe, import_bytes, ImportRequest};
use crate::formats::Format;
use crate::workspace::Workspace;
use std::path::{Path, PathBuf};

const SHOP_NOTES: &str = include_str!("../../sample-data/documents/shop-notes.txt");

/// The sample data, compiled in so the demo works from any folder: (task, file, contents).
pub const SAMPLE_DATA: &[(&str, &str, &str)] = &[
    (
        "arithmetic",
        "sample-data/arithmetic/seeds.jsonl",
        include_str!("../../sample-data/arithmetic/seeds.jsonl"),
    ),
    (
        "arithmetic",
        "sample-data/arithmetic/candidates.jsonl",
        include_str!("../../sample-data/arithmetic/candidates.jsonl"),
    ),
    (
        "arithmetic",
        "sample-data/arithmetic/eval.jsonl",
        include_str!("../../sample-data/arithmetic/eval.jsonl"),
    ),
    (
        "arithmetic",
        "sample-data/arithmetic/questions.jsonl",
        include_str!("../../sample-data/arithmetic/questions.jsonl"),
    ),
    (
        "extraction",
        "sample-data/extraction/seeds.jsonl",
        include_str!("../../sample-data/extraction/seeds.jsonl"),
    ),
    (
        "extraction",
        "sample-data/extraction/candidates.jsonl",
        include_str!("../../sample-data/extraction/candidates.jsonl"),
    ),
    (
        "extraction",
        "sample-data/extraction/eval.jsonl",
        include_str!("../../sample-data/extraction/eval.jsonl"),
    ),
    (
        "extraction",
        "sample-data/extraction/questions.jsonl",
        include_str!("../../sample-data/extraction/questions.jsonl"),
    ),
];

/// What the demo's config adds: verifiers for the extraction task.
const DEMO_VERIFIERS: &str = r#"
# The demo's extraction task names its verifiers (see [[judge.verify]] above):
[[judge.verify]]
task = "extraction"
kind = "json"
keys = ["name", "item", "quantity", "date"]

[[judge.verify]]
task = "extraction"
kind = "regex"
pattern = '"date": "\d{4}-\d{2}-\d{2}"'

# Its answers' shape: the teacher's answers to it are constrained to this schema (the local
# engine's grammar; an endpoint's structured output).
[tasks.extraction.output_schema]
type = "object"
required = ["name", "item", "quantity", "date"]
properties.name = { type = "string", maxLength = 40 }
properties.item = { type = "string", maxLength = 40 }
properties.quantity = { type = "integer", minimum = 0, maximum = 100000 }
properties.date = { type = "string", format = "date" }
"#;

/// The default demo folder: `<data dir>/distillery/demo`.
pub fn default_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "distillery")
        .map(|d| d.data_dir().join("demo"))
        .unwrap_or_else(|| PathBuf::from("distillery-demo"))
}

/// Creates or reopens the demo workspace and imports the sample data (a no-op when present).
pub fn setup(dir: &Path) -> anyhow::Result<Workspace> {
    setup_with(dir, true)
}

/// [`setup`] without a line per imported file (benchmarks).
pub fn setup_quiet(dir: &Path) -> anyhow::Result<Workspace> {
    setup_with(dir, false)
}

fn setup_with(dir: &Path, say: bool) -> anyhow::Result<Workspace> {
    let (mut ws, created) = Workspace::init(dir)?;
    if created {
        // The extraction task names its verifiers: the JSON keys and the date format it asks for.
        let cfg = dir.join(crate::workspace::CONFIG_FILE);
        let text = std::fs::read_to_string(&cfg)? + DEMO_VERIFIERS;
        crate::fsio::write_atomic(&cfg, |w| w.write_all(text.as_bytes()))?;
        ws = Workspace::open(dir)?;
    }
    let mut store = ws.store()?;
    for (task, file, contents) in SAMPLE_DATA {
        let req = ImportRequest {
            file: Path::new(file),
            bytes: contents.as_bytes(),
            format: Format::Auto,
            as_: None,
            task: Some((*task).to_owned()),
        };
        let (format, what, report) = import_bytes(&mut store, &req)?;
        if say {
            println!("{}", describe(Path::new(file), format, what, &report));
        }
    }
    // Backtranslation's documents (the TUI's dialog reads the workspace's documents/ folder).
    let notes = ws.documents_dir().join("shop-notes.txt");
    if !notes.exists() {
        std::fs::create_dir_all(notes.parent().unwrap_or(dir))?;
        crate::fsio::write_atomic(&notes, |w| w.write_all(SHOP_NOTES.as_bytes()))?;
    }
    Ok(ws)
}

pub(super) fn run(dir: Option<PathBuf>, no_tui: bool) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(default_dir);
    let ws = setup(&dir)?;
    println!("demo workspace: {}", dir.display());
    if no_tui {
        return Ok(());
    }
    // The local teacher: fetched on first run, then a small job in the background.
    let job = match teacher_ready(&ws) {
        // Rejection sampling on the labelled questions: the first candidates a new user sees
        // are answers that matched their references (the rest are counted, and the questions
        // every answer missed are stored as hard cases).
        Ok(()) => Some(crate::work::jobs::JobSpec {
            recipe: crate::recipes::Recipe::RejectionSampling,
            n: 16,
            endpoint: None,
        }),
        Err(e) => {
            eprintln!("no live generation in this demo: {e:#}");
            None
        }
    };
    crate::tui::run_workspace(&ws, job)
}

/// Makes sure the demo's teacher can run: the workspace's endpoint, or the default model
/// (fetched into the cache when missing).
fn teacher_ready(ws: &Workspace) -> anyhow::Result<()> {
    if ws.config.teacher.endpoint.is_some() || ws.config.teacher.model.is_some() {
        return Ok(());
    }
    let path = super::models::default_model();
    if !path.exists() {
        println!(
            "fetching the default teacher (SmolLM2-135M-Instruct, about 100 MB) into {} …",
            crate::llm::fetch::cache_dir().display()
        );
        crate::llm::fetch::fetch(&crate::llm::fetch::cache_dir(), &mut |m| println!("  {m}"))?;
    }
    Ok(())
}
