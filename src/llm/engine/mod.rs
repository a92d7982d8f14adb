//! The local inference engine: a llama forward pass in plain Rust on our own quantized kernels,
//! with continuous batching across requests.
//!
//! - [`isa`]: the instruction sets the kernels are written for (AVX-512 VNNI, AVX2, NEON, scalar)
//!   and the choice made at load.
//! - [`matrix`], [`quant`], [`kernels`]: the weights in one tiled layout (the file's Q4_1/Q8_0
//!   blocks as they are), 8-bit activations, and the tile kernels of each instruction set.
//! - [`pool`]: the threads, which never spin while they wait.
//! - [`kv`]: the KV cache in blocks of 16 positions, shared between sequences with a common
//!   start (the k answers of a prompt, prompts that begin alike).
//! - [`forward`], [`attention`], [`ops`], [`vmath`]: one pass over a batch of positions from any
//!   number of sequences.
//! - [`sched`], [`server`]: the engine thread and its queue; requests from any number of threads
//!   decode together, joining and leaving between steps.

pub mod attention;
pub mod direct;
pub mod forward;
pub mod isa;
pub mod kernels;
pub mod kv;
pub mod matrix;
pub mod model;
pub mod ops;
pub mod pool;
pub mod quant;
pub mod sched;
pub mod server;
pub mod vmath;

pub use isa::Isa;
pub use model::Config;
