//! Training a student: one round's LoRA run on the accepted set, from the settings to the
//! finished checkpoints, recorded in the store. `distillery train` and headless rounds run it.

use crate::store::{RunStatus, TrainingRun};
use crate::train::data::{examples, round_data, Formatter};
use crate::train::model::{LoraConfig, TrainModel};
use crate::train::run::{train, StepReport};
use crate::train::settings::Settings;
use crate::workspace::Workspace;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    /// A line on what is happening (the guard's figures, the data).
    Note(String),
    /// A resumed run, before its first step: the step it goes on from (None: no good
    /// checkpoint, so from the start) and the damaged checkpoints it passed over.
    Resumed {
        from: Option<usize>,
        skipped: Vec<String>,
    },
    Step(StepReport),
}

/// A finished (or cancelled) run.
#[derive(Debug, Clone)]
pub struct Trained {
    pub run_id: i64,
    pub status: RunStatus,
    pub steps: usize,
    pub dir: PathBuf,
    /// Accepted (or edited) samples and real seed examples trained on.
    pub synthetic: usize,
    pub real: usize,
}

/// Trains with `settings` on `base` (a new run, or `resumed`), checkpointing into the run's
/// folder; the run's `cancel` file or `cancel` stops it after the step in progress.
pub fn train_run(
    ws: &Workspace,
    settings: &Settings,
    base: &Path,
    resumed: Option<TrainingRun>,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(TrainEvent),
) -> anyhow::Result<Trained> {
    let mut store = ws.store()?;
    let resume = resumed.is_some();
    // The data and the memory are checked before a run is recorded (or marked running again).
    let data = round_data(&store, settings.task.as_deref(), settings.seed_share)?;
    let ex = examples(&Formatter::from_path(base)?, &data, settings.max_len)
        .map_err(anyhow::Error::msg)?;
    fits(base)?;
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
        let embedder =
            crate::judge::embed::Embedder::from_cache(&mut |m| on(TrainEvent::Note(m.to_string())));
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
        on(TrainEvent::Note(
            m.iter()
                .map(|(k, v, _)| format!("{} {v:.3}", k.trim_start_matches("guard.")))
                .collect::<Vec<_>>()
                .join(" · "),
        ));
    }
    let lora = LoraConfig {
        rank: settings.rank,
        alpha: settings.alpha,
        dropout: settings.dropout,
        targets: settings.targets.clone(),
        seed: settings.options.seed,
    };
    let mut model = TrainModel::from_path(base, &lora, candle_core::DType::F32)?;
    on(TrainEvent::Note(format!(
        "run {} (round {}), {} examples ({} accepted, {} real seed examples), LoRA r={} on {:?}, {} threads",
        run.id,
        run.round,
        ex.len(),
        data.synthetic,
        data.real,
        lora.rank,
        lora.targets,
        rayon::current_num_threads()
    )));
    let progress_path = dir.join(crate::train::PROGRESS);
    if resume {
        // Said first, before any step: where the run goes on from, and what was damaged.
        let (found, skipped) = crate::train::checkpoint::latest(&dir.join("checkpoints"))
            .map_err(anyhow::Error::msg)?;
        let from = found.map(|l| l.state.step);
        // The steps after that checkpoint are done again: the progress file keeps each once.
        keep_steps_up_to(&progress_path, from.unwrap_or(0))?;
        on(TrainEvent::Resumed { from, skipped });
    }
    let mut progress =
        std::fs::OpenOptions::new().create(true).append(true).open(&progress_path)?;
    let stop = AtomicBool::new(false);
    let mut step = |r: &StepReport| {
        use std::io::Write;
        let line = serde_json::to_string(r).expect("a report serialises");
        let _ = writeln!(progress, "{line}");
        if cancel_file.exists() || cancel.load(std::sync::atomic::Ordering::SeqCst) {
            on(TrainEvent::Note(format!("cancel asked for; stopping after step {}", r.step)));
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        on(TrainEvent::Step(r.clone()));
    };
    let result = train(
        &mut model,
        &ex,
        &settings.options,
        &dir.join("checkpoints"),
        resume,
        &stop,
        &mut step,
    );
    match result {
        Ok(done) => {
            let status = if done.cancelled { RunStatus::Cancelled } else { RunStatus::Done };
            store.finish_run(run.id, status, Some(&dir.display().to_string()))?;
            Ok(Trained {
                run_id: run.id,
                status,
                steps: done.steps,
                dir,
                synthetic: data.synthetic,
                real: data.real,
            })
        }
        Err(e) => {
            store.finish_run(run.id, RunStatus::Failed, None)?;
            anyhow::bail!("run {}: {e}", run.id)
        }
    }
}

/// Rewrites a progress file (atomically) without the steps after `last`.
fn keep_steps_up_to(path: &Path, last: usize) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let kept: String = text
        .lines()
        .filter(|l| serde_json::from_str::<StepReport>(l).is_ok_and(|r| r.step <= last))
        .map(|l| format!("{l}\n"))
        .collect();
    if kept != text {
        crate::fsio::write_atomic(path, |w| w.write_all(kept.as_bytes()))?;
    }
    Ok(())
}

/// Whether the base model, dequantized to f32 for training, fits in the memory there is.
fn fits(base: &Path) -> anyhow::Result<()> {
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
