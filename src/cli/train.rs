//! `distillery train`: LoRA fine-tuning of the student on the accepted set, as its own process
//! (its thread count is `RAYON_NUM_THREADS`; the workbench will start it with 1, so the teacher
//! keeps its own). Checkpoints go to `<workspace>/runs/<id>/checkpoints`; `--resume ID`
//! continues a run from its last good checkpoint with the settings it was started with.

use crate::store::RunStatus;
use crate::train::data::{examples, round_data, Formatter};
use crate::train::model::{LoraConfig, Target, TrainModel};
use crate::train::run::{train, StepReport, TrainOptions};
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
    let mut store = ws.store()?;
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
    // The data and the memory are checked before a run is recorded (or marked running again).
    let data = round_data(&store, settings.task.as_deref(), settings.seed_share)?;
    let ex = examples(&Formatter::from_path(&base)?, &data, settings.max_len)
        .map_err(anyhow::Error::msg)?;
    fits(&base)?;
    let is_new = resumed.is_none();
    let run = match resumed {
        Some(run) => {
            store.resume_run(run.id, std::process::id())?;
            run
        }
        None => store.start_run(
            &base.display().to_string(),
            &serde_json::to_string(&settings)?,
            std::process::id(),
        )?,
    };
    let dir = crate::train::run_dir(&ws.dir, run.id);
    std::fs::create_dir_all(&dir)?;
    let cancel_file = dir.join(crate::train::CANCEL);
    let _ = std::fs::remove_file(&cancel_file);
    if is_new {
        // The collapse guard's figures on this round's data.
        let texts: Vec<&crate::sample::SampleText> = data.texts.iter().map(|(_, t)| t).collect();
        let embedder = crate::judge::embed::Embedder::from_cache(&mut |m| eprintln!("train: {m}"));
        let g = crate::train::guard::measure(
            &texts,
            data.synthetic,
            embedder.as_ref(),
            ws.config.judge.near_duplicate.cosine,
        );
        let n = texts.len() as i64;
        let m: Vec<(String, f64, i64)> =
            g.metrics().into_iter().map(|(k, v)| (k.to_owned(), v, n)).collect();
        store.record_metrics(Some(run.id), None, &m)?;
        eprintln!(
            "train: {}",
            m.iter()
                .map(|(k, v, _)| format!("{} {v:.3}", k.trim_start_matches("guard.")))
                .collect::<Vec<_>>()
                .join(" · ")
        );
    }
    let lora = LoraConfig {
        rank: settings.rank,
        alpha: settings.alpha,
        dropout: settings.dropout,
        targets: settings.targets.clone(),
        seed: settings.options.seed,
    };
    let mut model = TrainModel::from_path(&base, &lora, candle_core::DType::F32)?;
    eprintln!(
        "train: run {} (round {}), {} examples ({} accepted, {} real seed examples), LoRA r={} on {:?}, {} threads",
        run.id,
        run.round,
        ex.len(),
        data.synthetic,
        data.real,
        lora.rank,
        lora.targets,
        rayon::current_num_threads()
    );
    let json = a.json;
    let mut progress = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(crate::train::PROGRESS))?;
    let cancel = AtomicBool::new(false);
    let mut on = |r: &StepReport| {
        use std::io::Write;
        let line = serde_json::to_string(r).expect("a report serialises");
        let _ = writeln!(progress, "{line}");
        if cancel_file.exists() {
            eprintln!("train: cancel asked for; stopping after step {}", r.step);
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if json {
            println!("{line}");
        } else {
            eprintln!(
                "step {}/{} · loss {:.4} · lr {:.2e} · {:.0} tokens/s · ETA {:.0} s",
                r.step, r.total, r.loss, r.lr, r.tokens_per_s, r.eta_s
            );
        }
    };
    let result = train(
        &mut model,
        &ex,
        &settings.options,
        &dir.join("checkpoints"),
        a.resume.is_some(),
        &cancel,
        &mut on,
    );
    match result {
        Ok(done) => {
            for s in &done.skipped {
                eprintln!("train: {s}");
            }
            if let Some(from) = done.resumed_from {
                eprintln!("train: resumed from step {from}");
            }
            let status = if done.cancelled { RunStatus::Cancelled } else { RunStatus::Done };
            store.finish_run(run.id, status, Some(&dir.display().to_string()))?;
            println!(
                "train: run {} {} after {} steps; checkpoints in {}",
                run.id,
                status,
                done.steps,
                dir.join("checkpoints").display()
            );
            Ok(())
        }
        Err(e) => {
            store.finish_run(run.id, RunStatus::Failed, None)?;
            anyhow::bail!("run {}: {e}", run.id)
        }
    }
}

/// Whether the base model, dequantized to f32 for training, fits in the memory there is.
fn fits(base: &std::path::Path) -> anyhow::Result<()> {
    let params: usize = if base.is_dir() {
        let files = crate::train::hf::hf_weight_files(base)?;
        let st = unsafe { candle_core::safetensors::MmapedSafetensors::multi(&files) }
            .map_err(|e| anyhow::anyhow!("{}: {e}", base.display()))?;
        st.tensors().iter().map(|(_, v)| v.shape().iter().product::<usize>()).sum()
    } else {
        let mut f = std::fs::File::open(base)?;
        let ct = candle_core::quantized::gguf_file::Content::read(&mut f)
            .map_err(|e| anyhow::anyhow!("{}: not a GGUF file: {e}", base.display()))?;
        ct.tensor_infos.values().map(|t| t.shape.elem_count()).sum()
    };
    // f32 weights, plus about as much again for activations, gradients and the optimizer.
    let need = params as f64 * 4.0 * 2.5;
    let avail = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb * 1024.0);
    if let Some(avail) = avail.filter(|a| need > *a) {
        anyhow::bail!("{}: {} M parameters need about {:.1} GB to train in f32, and {:.1} GB is available; pick a smaller base model", base.display(), params / 1_000_000, need / 1e9, avail / 1e9);
    }
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
