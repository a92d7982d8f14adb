//! `distillery bench`: the workbench's performance figures, each ending with one line
//! `bench <name>: <metric>=<value> ...`. References are measured in the same run.

use crate::sample::SampleText;
use crate::workspace::Workspace;

use super::bench_workbench::{commit, filter, first_frame};

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
        "import" => super::bench_import::run(rows),
        "export" => super::bench_import::export(rows),
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
            super::bench_import::run(rows)?;
            commit()?;
            filter()?;
            first_frame(rows)
        }
        other => anyhow::bail!("unknown benchmark {other:?}: expected import, export, commit, filter, first-frame, teacher, throughput, eval, judge, share, train, endpoint, outcome or all"),
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
