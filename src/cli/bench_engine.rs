//! What the local engine's benchmarks share: their options, the llama.cpp reference run in the
//! same run (llama-cpp-python, the same GGUF, token ids and thread count), busy processes beside
//! both engines, and the machine's memory read bandwidth.

use crate::llm::engine::Isa;
use crate::llm::local::LoadOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const REFERENCE: &str = include_str!("../../benches/llamacpp_reference.py");

/// Options of the engine benchmarks (teacher, throughput, eval, judge, share).
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// The local engine's kernels: auto, avx512, avx2, neon or scalar.
    #[arg(long, default_value = "auto")]
    pub isa: String,
    /// Threads for both engines [default: the CPU count].
    #[arg(long)]
    pub threads: Option<usize>,
    /// `teacher`: busy-looping processes to run beside each engine in turn, after the quiet run.
    #[arg(long, default_value_t = 0)]
    pub busy: usize,
    /// The python that has llama-cpp-python, built for the instruction set compared.
    #[arg(long, env = "DISTILLERY_LLAMACPP_PYTHON", default_value = "python3")]
    pub python: PathBuf,
}

impl Default for EngineArgs {
    fn default() -> Self {
        EngineArgs { isa: "auto".into(), threads: None, busy: 0, python: "python3".into() }
    }
}

impl EngineArgs {
    /// The instruction set asked for (None: auto).
    pub fn isa(&self) -> anyhow::Result<Option<Isa>> {
        Isa::parse(&self.isa).map_err(anyhow::Error::msg)
    }

    pub fn load_options(&self) -> anyhow::Result<LoadOptions> {
        Ok(LoadOptions { isa: self.isa()?, threads: self.threads, ..LoadOptions::default() })
    }

    pub fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// What llama.cpp measured.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    pub prompt_s: f64,
    pub decode_s: f64,
    pub total_s: f64,
    /// The instruction set its build uses: avx512, avx2, or what it lacks.
    pub isa: String,
}

/// The instruction set a llama.cpp build uses, from its system info.
fn build_isa(info: &str) -> String {
    let on = |f: &str| info.contains(&format!("{f} = 1"));
    if on("AVX512") {
        "avx512".into()
    } else if on("AVX2") {
        "avx2".into()
    } else if on("NEON") {
        "neon".into()
    } else {
        "no SIMD".into()
    }
}

impl Reference {
    /// Whether the reference ran the same instruction set as ours; else what to say.
    pub fn mismatch(&self, ours: Isa) -> Option<String> {
        (self.isa != ours.name()).then(|| {
            format!(
                "llama.cpp's build uses {}, ours {ours}: not a same-instruction-set ratio (build llama-cpp-python with the CMAKE_ARGS in benches/llamacpp_reference.py and pass --python)",
                self.isa
            )
        })
    }
}

/// Runs the reference script in `mode` (`teacher` or `sequential`), or says why it could not.
pub fn llama_cpp(
    a: &EngineArgs,
    mode: &str,
    model: &std::path::Path,
    steps: usize,
    prompts: &[Vec<u32>],
) -> Result<Reference, String> {
    let probe = Command::new(&a.python).args(["-c", "import llama_cpp, numpy"]).output();
    match probe {
        Err(e) => return Err(format!("{} not found ({e})", a.python.display())),
        Ok(o) if !o.status.success() => {
            return Err(format!(
                "{} has no llama-cpp-python (python3 -m pip install llama-cpp-python; it builds llama.cpp, about 8 minutes)",
                a.python.display()
            ))
        }
        Ok(_) => {}
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = dir.path().join("llamacpp_reference.py");
    std::fs::write(&script, REFERENCE).map_err(|e| e.to_string())?;
    let job = serde_json::json!({"mode": mode, "model": model, "threads": a.thread_count(), "steps": steps, "prompts": prompts});
    let mut child = Command::new(&a.python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(job.to_string().as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "the reference failed: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("unreadable reference output: {e}"))?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(Reference {
        prompt_s: f("prompt_s"),
        decode_s: f("decode_s"),
        total_s: f("total_s"),
        isa: build_isa(v["system_info"].as_str().unwrap_or("")),
    })
}

/// Busy-looping processes, killed when dropped.
pub struct Busy(Vec<Child>);

impl Busy {
    pub fn start(n: usize) -> anyhow::Result<Busy> {
        let exe = std::env::current_exe()?;
        let mut kids = Vec::with_capacity(n);
        for _ in 0..n {
            kids.push(
                Command::new(&exe)
                    .args(["debug", "busy-loop"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?,
            );
        }
        // Let them reach their loop before anything is timed.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(Busy(kids))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for k in &mut self.0 {
            let _ = k.kill();
            let _ = k.wait();
        }
    }
}

/// The machine's memory read bandwidth with `threads` threads, in GB/s: the best of 3 sums
/// over 512 MB.
pub fn read_bandwidth(threads: usize) -> f64 {
    let n: usize = 64 << 20;
    let data: Vec<u64> = (0..n as u64).collect();
    let per = n.div_ceil(threads.max(1));
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let total: u64 = std::thread::scope(|s| {
            let parts: Vec<_> = data
                .chunks(per)
                .map(|c| s.spawn(move || c.iter().fold(0u64, |a, &b| a.wrapping_add(b))))
                .collect();
            parts.into_iter().map(|h| h.join().unwrap_or(0)).fold(0, u64::wrapping_add)
        });
        std::hint::black_box(total);
        best = best.min(t.elapsed().as_secs_f64());
    }
    (n * 8) as f64 / best / 1e9
}

/// [`read_bandwidth`] in a process of its own; None when it could not run.
pub fn bandwidth(threads: usize) -> Option<f64> {
    let out = Command::new(std::env::current_exe().ok()?)
        .args(["debug", "bandwidth", &threads.to_string()])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The median of some figures.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident memory of this process, in MB (Linux; None elsewhere).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}
