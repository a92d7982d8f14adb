//! `cargo bench`: the workbench benchmarks (the same code as `distillery bench all`).

fn main() {
    let rows = std::env::var("DISTILLERY_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    if let Err(e) = distillery::cli::bench::run("all", rows, None, false, &Default::default()) {
        eprintln!("bench failed: {e:#}");
        std::process::exit(1);
    }
}
