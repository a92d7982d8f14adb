//! `distillery train`: LoRA fine-tuning of the student on the accepted set, as its own process
//! (its thread count is `RAYON_NUM_THREADS`; the workbench will start it with 1, so the teacher
//! keeps its own). Checkpoints go to `<workspace>/runs/<id>/checkpoints`; `--resume ID`
//! continues a run from its last good checkpoint with the settings it was started with.

use crate::train::model::Target;
use crate::train::run::TrainOptions;
use crate::work::training::{train_run, TrainEvent};
use crate::workspace::Workspace;
use clap::Args;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Options of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The base model: a llama-family GGUF, or a Hugging Face llama folder (config.json,
    /// *.safetensors, tokenizer.json) [default: `[teacher] model`, else SmolLM2-135M-Instruct].
    #[arg(long)]
    base: Option<PathBuf>,
    /// Only this task's samples.
    #[arg(long)]
    task: Option<String>,
    #[arg(long, default_value_t = 8)]
    rank: usize,
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    #[arg(long, default_value_t = 0.05)]
    dropout: f32,
    /// Projections to adapt: q, k, v, o, gate, up, down.
    #[arg(long, value_delimiter = ',', default_value = "q,v")]
    targets: Vec<String>,
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    /// Warmup steps before the cosine decay.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = 1)]
    accum: usize,
    /// Longest example in tokens (prompt and answer); longer samples are named in an error.
    #[arg(long, default_value_t = 512)]
    max_len: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 5)]
    checkpoint_every: usize,
    /// Share of real seed examples mixed into the data (0.2: one in five), against forgetting.
    #[arg(long, default_value_t = 0.0)]
    seed_share: f64,
    /// Continue run ID from its last good checkpoint, with the settings it started with.
    #[arg(long)]
    resume: Option<i64>,
    /// One JSON object per step on stdout (what the workbench reads).
    #[arg(long)]
    json: bool,
}

pub use crate::train::settings::Settings;

pub(super) fn run(ws: &Workspace, a: TrainArgs) -> anyhow::Result<()> {
    let store = ws.store()?;
    // The settings: a resumed run's own, or the command line's (no run is recorded yet).
    let (resumed, settings, base) = match a.resume {
        Some(id) => {
            let run = store.run(id)?.ok_or_else(|| {
                anyhow::anyhow!("no training run {id} (see the runs in `distillery stats`)")
            })?;
            let s: Settings = serde_json::from_str(&run.params)
                .map_err(|e| anyhow::anyhow!("run {id}: unreadable settings: {e}"))?;
            let base = PathBuf::from(&run.base_model);
            (Some(run), s, base)
        }
        None => {
            let targets = a
                .targets
                .iter()
                .map(|t| {
                    Target::parse(t).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--targets: unknown projection {t:?} (q, k, v, o, gate, up, down)"
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let options = TrainOptions {
                lr: a.lr,
                warmup: a.warmup,
                epochs: a.epochs,
                batch: a.batch,
                accum: a.accum,
                seed: a.seed,
                checkpoint_every: a.checkpoint_every,
            };
            let s = Settings {
                task: a.task.clone(),
                rank: a.rank,
                alpha: a.alpha,
                dropout: a.dropout,
                targets,
                max_len: a.max_len,
                seed_share: a.seed_share,
                options,
            };
            let base = a.base.clone().unwrap_or_else(|| ws.teacher_model());
            if !base.exists() {
                anyhow::bail!("{}: no such base model; run `distillery models fetch` or pass --base FILE.gguf", base.display());
            }
            (None, s, base)
        }
    };
    let json = a.json;
    let cancel = AtomicBool::new(false);
    let mut on = |e: TrainEvent| match e {
        TrainEvent::Note(m) => eprintln!("train: {m}"),
        TrainEvent::Resumed { from, skipped } if json => println!(
            "{}",
            serde_json::json!({"resumed_from": from, "damaged_checkpoints": skipped})
        ),
        TrainEvent::Resumed { from, skipped } => {
            for s in skipped {
                eprintln!("train: {s}");
            }
            match from {
                Some(step) => eprintln!("train: resumed from step {step}"),
                None => eprintln!("train: no complete checkpoint; starting from step 0"),
            }
        }
        TrainEvent::Step(r) if json => {
            println!("{}", serde_json::to_string(&r).expect("a report serialises"))
        }
        TrainEvent::Step(r) => eprintln!(
            "step {}/{} · loss {:.4} · lr {:.2e} · {:.0} tokens/s · ETA {:.0} s",
            r.step, r.total, r.loss, r.lr, r.tokens_per_s, r.eta_s
        ),
    };
    let done = train_run(ws, &settings, &base, resumed, &cancel, &mut on)?;
    println!(
        "train: run {} {} after {} steps; checkpoints in {}",
        done.run_id,
        done.status,
        done.steps,
        done.dir.join("checkpoints").display()
    );
    Ok(())
}

/// Options of `export-adapter`.
#[derive(Debug, Args)]
pub struct ExportAdapterArgs {
    /// The training run [default: the newest finished one].
    #[arg(long)]
    run: Option<i64>,
    /// The adapter folder to write.
    #[arg(short, long)]
    output: PathBuf,
    /// `base_model_name_or_path` in adapter_config.json [default: the GGUF's Hugging Face
    /// repository when its metadata names one, else the base file's path].
    #[arg(long)]
    base_name: Option<String>,
}

pub(super) fn export_adapter(ws: &Workspace, a: ExportAdapterArgs) -> anyhow::Result<()> {
    let store = ws.store()?;
    let run = match a.run {
        Some(id) => store.run(id)?.ok_or_else(|| anyhow::anyhow!("no training run {id}"))?,
        None => store
            .last_run()?
            .ok_or_else(|| anyhow::anyhow!("no training run yet: `distillery train` first"))?,
    };
    let s: Settings = serde_json::from_str(&run.params)
        .map_err(|e| anyhow::anyhow!("run {}: unreadable settings: {e}", run.id))?;
    let ck = ws.dir.join("runs").join(run.id.to_string()).join("checkpoints");
    let (found, skipped) = crate::train::checkpoint::latest(&ck).map_err(anyhow::Error::msg)?;
    for line in &skipped {
        eprintln!("export-adapter: {line}");
    }
    let found = found.ok_or_else(|| {
        anyhow::anyhow!("run {}: no complete checkpoint in {}", run.id, ck.display())
    })?;
    let (n_head, n_kv_head, repo) = if Path::new(&run.base_model).is_dir() {
        let c = crate::train::hf::HfConfig::read(Path::new(&run.base_model))?;
        (c.num_attention_heads, c.kv_heads(), c.name_or_path.clone().filter(|n| !n.is_empty()))
    } else {
        let mut f = std::fs::File::open(&run.base_model)
            .map_err(|e| anyhow::anyhow!("{}: {e}", run.base_model))?;
        let ct = candle_core::quantized::gguf_file::Content::read(&mut f)
            .map_err(|e| anyhow::anyhow!("{}: {e}", run.base_model))?;
        let u = |k: &str| ct.metadata.get(k).and_then(|v| v.to_u32().ok()).map(|v| v as usize);
        let n_head = u("llama.attention.head_count")
            .ok_or_else(|| anyhow::anyhow!("{}: no head count", run.base_model))?;
        (
            n_head,
            u("llama.attention.head_count_kv").unwrap_or(n_head),
            ct.metadata
                .get("general.source.huggingface.repository")
                .and_then(|v| v.to_string().ok())
                .cloned(),
        )
    };
    let modules: Vec<&str> =
        s.targets.iter().map(|t| t.hf().rsplit('.').next().unwrap_or_default()).collect();
    let info = crate::train::export::AdapterInfo {
        rank: s.rank,
        alpha: s.alpha,
        dropout: s.dropout,
        modules,
        // The default base is SmolLM2-135M-Instruct, whose GGUF does not name its repository.
        base_model: a.base_name.clone().or(repo).unwrap_or_else(|| {
            if Path::new(&run.base_model) == crate::llm::fetch::default_model() {
                "HuggingFaceTB/SmolLM2-135M-Instruct".into()
            } else {
                run.base_model.clone()
            }
        }),
        n_head,
        n_kv_head,
    };
    let n = crate::train::export::write_peft(&found.path, &info, &a.output)
        .map_err(anyhow::Error::msg)?;
    println!(
        "export-adapter: run {} (round {}, step {}): {n} tensors → {} (PEFT LoRA, base {})",
        run.id,
        run.round,
        found.state.step,
        a.output.display(),
        info.base_model
    );
    Ok(())
}
