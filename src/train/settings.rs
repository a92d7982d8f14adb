//! A training run's settings, stored with the run as JSON: what `train --resume`,
//! `export-adapter` and evaluation's merge read back.

use super::model::Target;
use super::run::TrainOptions;
use serde::{Deserialize, Serialize};

/// A run's settings, stored with it (what `--resume` and `export-adapter` read back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub task: Option<String>,
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f32,
    pub targets: Vec<Target>,
    pub max_len: usize,
    pub seed_share: f64,
    pub options: TrainOptions,
}
