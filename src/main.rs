//! The `distillery` binary: parse the command line, then run the TUI or a command.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = distillery::cli::Cli::parse();
    match distillery::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
