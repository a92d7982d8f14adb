//! Workbench benchmarks (filled below).
pub fn run(_which: &str, _rows: usize) -> anyhow::Result<()> { anyhow::bail!("not yet") }
