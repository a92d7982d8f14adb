//! The engine's thread: it owns the model, its cache and its threads, takes requests from any
//! number of [`Handle`]s, and batches whatever is in flight (see `sched`). It ends when the
//! last handle is dropped.

use super::forward::Timing;
use super::isa::Isa;
use super::kv::KvType;
use super::model::Config;
use super::sched::{Reply, Request, Scheduler};
use crate::llm::LlmError;
use std::sync::{mpsc, Arc};

/// What the engine runs on, for logs and benchmarks.
#[derive(Debug, Clone)]
pub struct Info {
    pub isa: Isa,
    /// Whether the instruction set was chosen by `auto`.
    pub auto: bool,
    pub threads: usize,
    pub max_rows: usize,
    pub kv: KvType,
    pub kv_limit_mb: usize,
    /// The matrices' formats (`"Q4_1 ×210, Q8_0 ×1"`).
    pub formats: String,
    pub requantized: usize,
    /// Bytes of weights one decoding step reads.
    pub bytes_per_token: usize,
    pub cfg: Config,
}

impl Info {
    /// One line naming the kernels: `avx512 (AVX-512 VNNI (vpdpbusd), auto), 2 threads, Q4_1 ×210`.
    pub fn describe(&self) -> String {
        let how = if self.auto { "auto" } else { "forced" };
        format!(
            "{} ({}, {how}), {}, {}",
            self.isa,
            self.isa.describe(),
            threads(self.threads),
            self.formats
        )
    }

    /// The same, short (the workbench's jobs line): `avx512 kernels, 2 threads`.
    pub fn short(&self) -> String {
        format!(
            "{} kernels{}, {}",
            self.isa,
            if self.auto { "" } else { " (forced)" },
            threads(self.threads)
        )
    }
}

fn threads(n: usize) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}

enum Msg {
    Generate(Request, mpsc::Sender<Reply>),
    Measure {
        ids: Vec<u32>,
        k: usize,
        steps: usize,
        reply: mpsc::Sender<Result<Measured, LlmError>>,
    },
    Threads(usize),
}

/// What [`Handle::measure`] found.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub prompt_s: f64,
    pub decode_s: f64,
    /// Where the decoding steps' time went (the rest: sampling, norms, quantization, embedding).
    pub decode: Timing,
}

/// A way to send requests to the engine thread; clones share the engine.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Msg>,
    pub info: Arc<Info>,
}

/// Starts the engine thread.
pub fn spawn(mut sched: Scheduler, info: Info) -> Result<Handle, LlmError> {
    let (tx, rx) = mpsc::channel::<Msg>();
    std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || loop {
            if sched.idle() {
                match rx.recv() {
                    Ok(m) => handle(&mut sched, m),
                    Err(_) => return,
                }
            }
            while let Ok(m) = rx.try_recv() {
                handle(&mut sched, m);
            }
            sched.step();
        })
        .map_err(|e| LlmError::Run(format!("cannot start the engine thread: {e}")))?;
    Ok(Handle { tx, info: Arc::new(info) })
}

fn handle(s: &mut Scheduler, m: Msg) {
    match m {
        Msg::Generate(req, reply) => s.submit(req, reply),
        Msg::Measure { ids, k, steps, reply } => {
            let _ = reply.send(s.engine.measure(&ids, k, steps).map_err(LlmError::Run));
        }
        Msg::Threads(n) => s.engine.pool.set_active(n),
    }
}

impl Handle {
    /// Runs a request and waits for its answers.
    pub fn generate(&self, req: Request) -> Reply {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(Msg::Generate(req, tx))
            .map_err(|_| LlmError::Run("the engine thread has stopped".into()))?;
        rx.recv().map_err(|_| LlmError::Run("the engine thread stopped before answering".into()))?
    }

    /// Engine timing for benchmarks: `ids` computed from an empty cache, then `steps` greedy
    /// steps of `k` rows, never stopping early.
    pub fn measure(&self, ids: &[u32], k: usize, steps: usize) -> Result<Measured, LlmError> {
        let (tx, rx) = mpsc::channel();
        let msg = Msg::Measure { ids: ids.to_vec(), k, steps, reply: tx };
        self.tx.send(msg).map_err(|_| LlmError::Run("the engine thread has stopped".into()))?;
        rx.recv().map_err(|_| LlmError::Run("the engine thread stopped before answering".into()))?
    }

    /// Threads taking part from now on (1 to the count loaded with).
    pub fn set_threads(&self, n: usize) {
        let _ = self.tx.send(Msg::Threads(n));
    }
}
