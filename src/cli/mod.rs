//! The command line: one file per subcommand.

pub mod bench;
mod bench_batch;
mod bench_endpoint;
mod bench_endpoint_server;
pub mod bench_engine;
mod bench_import;
mod bench_judge;
pub mod bench_outcome;
mod bench_outcome_table;
mod bench_teacher;
mod bench_train;
mod bench_workbench;
mod debug;
mod demo;
mod eval;
mod export;
mod fuzz_import;
mod generate;
mod import;
mod judge;
pub mod logging;
pub mod models;
mod round;
mod stats;
mod train;

pub use import::{import_bytes, ImportRequest};

use crate::formats::{ExportFormat, Format, ImportAs};
use crate::workspace::Workspace;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Distillery: curate LLM training data from the terminal.
#[derive(Debug, Parser)]
#[command(name = "distillery", version, about, long_about = None)]
pub struct Cli {
    /// The workspace folder (holds distillery.toml and distillery.db).
    #[arg(long, short = 'w', global = true, env = "DISTILLERY_WORKSPACE", default_value = ".")]
    pub workspace: PathBuf,
    /// More on stderr: -v what is being done, -vv the details (the log file gets `info` always).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Who decides (stored on every decision; undo takes back only your own). Default: the
    /// user name.
    #[arg(long, global = true, env = "DISTILLERY_CURATOR")]
    pub curator: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: DIR/distillery.toml and DIR/distillery.db.
    Init {
        /// Folder to create (default: the --workspace folder).
        dir: Option<PathBuf>,
    },
    /// Import samples, seed tasks or an evaluation set from a file (`-`: standard input).
    Import {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "auto")]
        format: Format,
        /// What the rows become (default: seeds for seed files, eval for eval files, else samples).
        #[arg(long = "as", value_enum)]
        as_: Option<ImportAs>,
        /// Task name stored with rows that have no `task` field.
        #[arg(long)]
        task: Option<String>,
        /// The outcome as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Export samples, preference pairs or the held-out set (streamed, written atomically).
    Export {
        /// The rows' shape (the file's extension gives the layout: .jsonl or .json).
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// Which samples: accepted (accepted and edited), edited, rejected, pending or all.
        #[arg(long, default_value = "accepted")]
        status: String,
        #[arg(long, short = 'o')]
        output: PathBuf,
        /// Add a `metadata` object with provenance and every machine signal to every row.
        #[arg(long)]
        with_provenance: bool,
        /// Write NAME-train and NAME-validation files, this share of the prompts in train (0.9);
        /// no prompt is in both.
        #[arg(long)]
        split: Option<f64>,
        /// The seed that picks the split.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Export the held-out eval items (the eval format `import --as eval` reads).
        #[arg(long, conflicts_with_all = ["format", "split", "card"])]
        eval: bool,
        /// Write a dataset card, README.md in the Hugging Face layout, beside the files.
        #[arg(long)]
        card: bool,
        /// The outcome as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Counts by status, origin and recipe; decisions per hour; edit rate.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Open the curation TUI (also what `distillery` alone does).
    Tui,
    /// Create or reopen the demo workspace with the sample data, fetch the local teacher if needed,
    /// and open the TUI on it with a rejection-sampling job running on the labelled questions.
    Demo {
        /// Where the demo workspace lives (default: the user's data directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Set up the workspace but do not open the TUI.
        #[arg(long)]
        no_tui: bool,
    },
    /// Generate candidate samples with a recipe and the teacher (local engine or an endpoint).
    Generate(generate::GenerateArgs),
    /// List the recipes and where their prompt templates come from.
    Recipes,
    /// The critic's verdict and a self-consistency vote on undecided samples without a verdict.
    Judge(judge::JudgeArgs),
    /// LoRA-fine-tune the student on the accepted set (checkpointed; `--resume ID` continues a run).
    Train(train::TrainArgs),
    /// Headless rounds: rejection sampling on fresh seed questions, a curator policy decides
    /// (automatic, undoable events), the student retrains from the base on everything accepted,
    /// and is evaluated on the held-out items; repeated `--rounds` times.
    Round(round::RoundArgs),
    /// Write a training run's adapter as a PEFT LoRA folder (adapter_config.json, adapter_model.safetensors).
    ExportAdapter(train::ExportAdapterArgs),
    /// The base model and each round's student on the held-out items, side by side, with the
    /// collapse guard; stores the student's wrong answers on its training items for llm2llm.
    Eval(eval::EvalArgs),
    /// Merge a training run's adapter into its base and write a GGUF (llama.cpp, Ollama, or
    /// Distillery's own teacher load it).
    ExportModel(eval::ExportModelArgs),
    /// Fetch, list or try the models (the local teacher: SmolLM2-135M-Instruct GGUF with candle).
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Run the workbench benchmarks and print their figures.
    Bench {
        /// import (1M rows against Python, decisions meanwhile), export, commit, filter, first-frame, teacher (the local engine against llama.cpp),
        /// throughput (16 prompts batched against 16 sequential llama.cpp generations), eval (the
        /// base model on the demo's 120 held-out items), judge (critic injection and throughput),
        /// share (teacher and trainer at once), train (a LoRA step against PyTorch + PEFT),
        /// endpoint (requests in flight against a 0.5 s-per-request server, concurrency 1 vs 8),
        /// outcome (base vs uncurated vs curated students on the held-out items, about 30
        /// minutes), or all (the workbench ones).
        #[arg(default_value = "all")]
        which: String,
        /// Rows for the import and first-frame benchmarks.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// `judge`'s critic: `local`, or an `[endpoints.NAME]` of the workspace's distillery.toml.
        #[arg(long)]
        critic: Option<String>,
        /// `train` on a random model of SmolLM2-135M's shape instead of the file.
        #[arg(long)]
        random_model: bool,
        #[command(flatten)]
        engine: bench_engine::EngineArgs,
        #[command(flatten)]
        outcome: bench_outcome::OutcomeArgs,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to stdout: `distillery man > distillery.1`.
    Man,
    /// Internal commands used by tests and benchmarks.
    #[command(hide = true, subcommand)]
    Debug(debug::DebugCommand),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let tui = match &cli.command {
        None | Some(Command::Tui) => true,
        Some(Command::Demo { no_tui, .. }) => !no_tui,
        _ => false,
    };
    if !tui {
        logging::quiet_on_closed_pipe();
    }
    logging::init(&cli.workspace, cli.verbose, cli.quiet, !tui);
    let args: Vec<String> = std::env::args().skip(1).collect();
    tracing::info!("distillery {}", crate::text::clean_line(&args.join(" ")));
    let result = dispatch(cli);
    if let Err(e) = &result {
        // To the log file only: `main` prints the error on stderr, once.
        tracing::error!(target: logging::FILE_ONLY, "{}", crate::text::clean(&format!("{e:#}")));
    }
    result
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    if let Some(c) = &cli.curator {
        crate::workspace::set_curator(c).map_err(|e| anyhow::anyhow!("--curator: {e}"))?;
    }
    let ws_dir = cli.workspace;
    let verbose = cli.verbose;
    match cli.command {
        None | Some(Command::Tui) => crate::tui::run_workspace(&open(&ws_dir)?, None),
        Some(Command::Init { dir }) => {
            let dir = dir.unwrap_or(ws_dir);
            let (_, created) = Workspace::init(&dir)?;
            let what = if created { "created" } else { "already existed; store checked" };
            println!("workspace {}: {what}", dir.display());
            Ok(())
        }
        Some(Command::Import { file, format, as_, task, json }) => {
            let opts = crate::formats::ImportOptions { format, as_, task };
            import::run(&open(&ws_dir)?, &file, opts, json)
        }
        Some(Command::Export {
            format,
            status,
            output,
            with_provenance,
            split,
            seed,
            eval,
            card,
            json,
        }) => {
            let args = export::ExportArgs {
                format,
                status: &status,
                out: &output,
                with_provenance,
                split,
                seed,
                eval,
                card,
                json,
            };
            export::run(&open(&ws_dir)?, args)
        }
        Some(Command::Stats { json }) => stats::run(&open(&ws_dir)?, json),
        Some(Command::Demo { dir, no_tui }) => demo::run(dir, no_tui),
        Some(Command::Models(cmd)) => models::run(cmd),
        Some(Command::Generate(args)) => generate::run(&open(&ws_dir)?, args, verbose),
        Some(Command::Recipes) => generate::list_recipes(&ws_dir),
        Some(Command::Judge(args)) => judge::run(&open(&ws_dir)?, args),
        Some(Command::Train(args)) => train::run(&open(&ws_dir)?, args),
        Some(Command::Round(args)) => round::run(&open(&ws_dir)?, args),
        Some(Command::ExportAdapter(args)) => train::export_adapter(&open(&ws_dir)?, args),
        Some(Command::Eval(args)) => eval::run(&open(&ws_dir)?, args),
        Some(Command::ExportModel(args)) => eval::export_model(&open(&ws_dir)?, args),
        Some(Command::Bench { which, rows, critic, random_model, engine, outcome }) => {
            if which == "outcome" {
                return bench_outcome::run(&outcome);
            }
            match critic.as_deref() {
                Some(name) if name != "local" => {
                    bench::run(&which, rows, Some((&open(&ws_dir)?, name)), random_model, &engine)
                }
                _ => bench::run(&which, rows, None, random_model, &engine),
            }
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "distillery", &mut std::io::stdout());
            Ok(())
        }
        Some(Command::Man) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            Ok(())
        }
        Some(Command::Debug(cmd)) => debug::run(cmd),
    }
}

fn open(dir: &Path) -> anyhow::Result<Workspace> {
    Workspace::open(dir).with_context(|| format!("opening workspace {}", dir.display()))
}
