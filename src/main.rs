//! The `distillery` binary: parse the command line, then run the TUI or a command.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // candle asks for its thread count before many ops; unless RAYON_NUM_THREADS is set, each ask
    // reads /proc/cpuinfo (about 5% of a decoding step). Fix the count once, before any thread
    // starts, at the value candle would pick.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", candle_core::utils::get_num_threads().to_string());
    }
    // candle's element-wise ops run on a pool of its own whose threads spin 25,000 times after
    // each op before they sleep; between ops they take the core from rayon's threads doing the
    // matrix products. 2,000 spins: a training step of `bench train` 2.30 → 1.97 s (2 threads),
    // the teacher's decoding unchanged and its prompt reading faster (`bench teacher`).
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "2000");
    }
    one_malloc_arena();
    let cli = distillery::cli::Cli::parse();
    match distillery::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors quote files, config strings and server replies: cleaned for the terminal.
            eprintln!("error: {}", distillery::text::clean(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// The model's steps run on rayon's threads, and glibc gives each thread its own malloc arena,
/// each keeping its freed tensors: about 70 MB more resident memory for the same speed
/// (`distillery bench teacher`: 294 MB against 227 MB). One arena is enough here.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_ARENA_MAX: std::ffi::c_int = -8;
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: mallopt only sets a tuning parameter; no thread has started yet.
            unsafe { mallopt(M_ARENA_MAX, 1) };
        }
    }
}
