//! The student: LoRA fine-tuning on the accepted set, and what surrounds it.
//!
//! [`model`] is a differentiable llama forward of our own (candle's fast ops drop gradients
//! silently, see `../shared/MODEL-NOTES.md`) with LoRA adapters on any of the seven projections,
//! built on fused ops with hand-written gradients ([`fused`], [`attention`], [`frozen`], sharing
//! [`kernels`]);
//! [`loss`] is cross-entropy on the response tokens only; [`run`] the loop (AdamW, warmup and
//! cosine decay, accumulation) with atomic [`checkpoint`]s and exact resume; [`data`] a round's
//! examples in the chat template; [`export`] the PEFT adapter; [`merge`] the merged GGUF;
//! [`guard`] the collapse guard's figures. The forward and its gradients are checked on a tiny
//! model: against the inference engine's logits, against finite differences, and for a gradient
//! reaching every trainable tensor.

pub mod attention;
pub mod checkpoint;
pub mod data;
pub mod eval;
pub mod evaluate;
pub mod export;
pub mod frozen;
pub mod fused;
pub mod guard;
pub mod hf;
pub mod kernels;
pub mod loss;
pub mod merge;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod run;
pub mod settings;
pub mod target;

use std::path::{Path, PathBuf};

/// A run's folder in a workspace: `runs/<id>/` with `checkpoints/`, the progress file and the
/// cancel request.
pub fn run_dir(workspace: &Path, id: i64) -> PathBuf {
    workspace.join("runs").join(id.to_string())
}

/// One JSON step report per line, appended by the trainer (what the workbench reads, even after
/// it was closed and reopened).
pub const PROGRESS: &str = "progress.jsonl";
/// Created by the workbench to ask the trainer to stop after its step (with a checkpoint).
pub const CANCEL: &str = "cancel";
/// The trainer's own output, in `runs/` (the workbench starts it with stdout and stderr here).
pub const LOG: &str = "train.log";
/// `distillery eval`'s output when the workbench starts it, in `runs/`.
pub const EVAL_LOG: &str = "eval.log";

/// The `gemm` kernels training's matrix products run on here: AVX-512 where the build has them
/// (the `avx512-gemm` feature, on by default) and the CPU too, else AVX2 + FMA, else scalar.
pub fn gemm_kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if cfg!(feature = "avx512-gemm") && is_x86_feature_detected!("avx512f") {
            return "avx512";
        }
        if is_x86_feature_detected!("fma") {
            return "avx2";
        }
    }
    #[cfg(target_arch = "aarch64")]
    return "neon";
    #[allow(unreachable_code)]
    "scalar"
}
