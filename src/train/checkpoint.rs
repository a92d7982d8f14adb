//! Checkpoints: the adapters, the optimizer's moments and the run's state, written atomically.
//!
//! Each is a folder `step-NNNNNNNN` under the run's `checkpoints/`: it is written as a temporary
//! folder, every file fsynced, a `COMPLETE` marker last (the SHA-256 of each file), then renamed
//! into place and the parent fsynced. Loading takes the newest checkpoint whose marker and files
//! agree; a damaged newer one is named and skipped, never trusted.

use super::model::TrainModel;
use super::optim::AdamW;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a run needs besides tensors to go on exactly where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Optimizer steps done.
    pub step: usize,
    /// The dropout generator's state.
    pub rng: u64,
    /// (step, loss) so far.
    pub losses: Vec<(usize, f64)>,
    /// The training settings' fingerprint: a checkpoint of other settings is not resumed.
    pub fingerprint: String,
}

const FILES: [&str; 3] = ["adapter.safetensors", "optimizer.safetensors", "state.json"];
const MARKER: &str = "COMPLETE";
/// Checkpoints kept (the newest ones).
const KEEP: usize = 3;

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

fn sha(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

fn sync(path: &Path) -> Result<(), String> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(io(path))
}

/// Writes a checkpoint of `model`, `opt` and `state` into `dir` (the run's `checkpoints/`).
pub fn save(
    dir: &Path,
    model: &TrainModel,
    opt: &AdamW,
    state: &RunState,
) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = format!("step-{:08}", state.step);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let adapters: HashMap<String, Tensor> =
        model.trainable().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
    let mut moments: HashMap<String, Tensor> = HashMap::new();
    for (i, (m, v)) in opt.m.iter().zip(&opt.v).enumerate() {
        moments.insert(format!("m.{i}"), m.clone());
        moments.insert(format!("v.{i}"), v.clone());
    }
    moments
        .insert("t".into(), Tensor::new(&[opt.t as f64], &Device::Cpu).map_err(|e| e.to_string())?);
    let p = tmp.join(FILES[0]);
    candle_core::safetensors::save(&adapters, &p).map_err(|e| format!("{}: {e}", p.display()))?;
    let p = tmp.join(FILES[1]);
    candle_core::safetensors::save(&moments, &p).map_err(|e| format!("{}: {e}", p.display()))?;
    let p = tmp.join(FILES[2]);
    std::fs::write(&p, serde_json::to_vec_pretty(state).expect("state serialises"))
        .map_err(io(&p))?;
    let mut marker = String::new();
    for f in FILES {
        let p = tmp.join(f);
        sync(&p)?;
        marker.push_str(&format!("{}  {f}\n", sha(&p)?));
    }
    let p = tmp.join(MARKER);
    let mut file = std::fs::File::create(&p).map_err(io(&p))?;
    file.write_all(marker.as_bytes()).and_then(|_| file.sync_all()).map_err(io(&p))?;
    sync(&tmp)?;
    let dest = dir.join(&name);
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
    sync(dir)?;
    // The oldest beyond KEEP go.
    let mut all = list(dir)?;
    while all.len() > KEEP {
        let old = all.remove(0);
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(dest)
}

/// Checkpoint folders in `dir`, oldest first.
fn list(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("step-"))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// A checkpoint read back and checked.
pub struct Loaded {
    pub path: PathBuf,
    pub state: RunState,
    adapters: HashMap<String, Tensor>,
    moments: HashMap<String, Tensor>,
}

fn read(path: &Path) -> Result<Loaded, String> {
    let marker = std::fs::read_to_string(path.join(MARKER))
        .map_err(|_| "no COMPLETE marker (the write did not finish)".to_string())?;
    for line in marker.lines() {
        let (want, file) =
            line.split_once("  ").ok_or_else(|| format!("a malformed marker line {line:?}"))?;
        let got = sha(&path.join(file))?;
        if got != want {
            return Err(format!("{file} does not match its checksum"));
        }
    }
    let state: RunState =
        serde_json::from_slice(&std::fs::read(path.join(FILES[2])).map_err(io(path))?)
            .map_err(|e| format!("state.json: {e}"))?;
    let load = |f: &str| {
        candle_core::safetensors::load(path.join(f), &Device::Cpu).map_err(|e| format!("{f}: {e}"))
    };
    Ok(Loaded { path: path.to_owned(), state, adapters: load(FILES[0])?, moments: load(FILES[1])? })
}

/// The newest good checkpoint in `dir` (None when there is none), and a line for each newer one
/// that was damaged and skipped.
pub fn latest(dir: &Path) -> Result<(Option<Loaded>, Vec<String>), String> {
    let mut skipped = Vec::new();
    for p in list(dir)?.into_iter().rev() {
        match read(&p) {
            Ok(l) => return Ok((Some(l), skipped)),
            Err(why) => skipped.push(format!(
                "checkpoint {} is damaged ({why}); falling back to an earlier one",
                p.display()
            )),
        }
    }
    Ok((None, skipped))
}

impl Loaded {
    /// The adapters by their PEFT names (GGUF row order, as trained).
    pub fn adapters(&self) -> &HashMap<String, Tensor> {
        &self.adapters
    }

    /// Puts the adapters and the optimizer's moments back.
    pub fn restore(&self, model: &mut TrainModel, opt: &mut AdamW) -> Result<(), String> {
        for (name, var) in model.trainable() {
            let t = self.adapters.get(&name).ok_or_else(|| {
                format!("{}: no tensor {name} (a different adapter layout)", self.path.display())
            })?;
            var.set(&t.to_dtype(var.as_tensor().dtype()).map_err(|e| e.to_string())?)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        for i in 0..opt.m.len() {
            let get = |k: String| {
                self.moments
                    .get(&k)
                    .cloned()
                    .ok_or_else(|| format!("{}: no optimizer tensor {k}", self.path.display()))
            };
            opt.m[i] = get(format!("m.{i}"))?;
            opt.v[i] = get(format!("v.{i}"))?;
        }
        let t = self
            .moments
            .get("t")
            .ok_or("no optimizer step count")?
            .to_vec1::<f64>()
            .map_err(|e| e.to_string())?;
        opt.t = t.first().copied().unwrap_or(0.0) as u64;
        model.rng = crate::llm::sampling::Rng::new(self.state.rng);
        Ok(())
    }
}
