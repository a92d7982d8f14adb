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
    let cli = distillery::cli::Cli::parse();
    match distillery::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
