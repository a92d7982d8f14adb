//! The student: LoRA fine-tuning on the accepted set.
//!
//! In so far: [`model`], a differentiable llama forward of our own (candle's fast ops drop
//! gradients silently, see `../shared/MODEL-NOTES.md`) with LoRA adapters on any of the seven
//! projections, and [`loss`], cross-entropy on the response tokens only. Both are checked on a
//! tiny model: against the inference engine's logits, against finite differences, and for a
//! gradient reaching every trainable tensor.

pub mod checkpoint;
pub mod data;
pub mod export;
pub mod frozen;
pub mod loss;
pub mod model;
pub mod optim;
pub mod run;
