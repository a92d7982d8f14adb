//! Crash-safe file writes: temp file in the same folder, fsync, rename, fsync the folder.

use std::io::Write;
use std::path::Path;

/// Writes a file so that a crash leaves either the old file or the complete new one, never a
/// half-written one. `fill` writes the content into a buffered writer.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new().prefix(".distillery-").suffix(".tmp").tempfile_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes several files together: each to its own temp file, all fsynced, then renamed one after
/// another, so a failure while writing leaves none of them changed. `fill` gets one writer per path.
pub fn write_atomic_many(
    paths: &[&Path],
    fill: impl FnOnce(&mut [&mut dyn Write]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir_of = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let tmps = paths
        .iter()
        .map(|p| {
            tempfile::Builder::new().prefix(".distillery-").suffix(".tmp").tempfile_in(dir_of(p))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    {
        let mut bufs: Vec<std::io::BufWriter<&std::fs::File>> =
            tmps.iter().map(|t| std::io::BufWriter::new(t.as_file())).collect();
        let mut ws: Vec<&mut dyn Write> = bufs.iter_mut().map(|b| b as &mut dyn Write).collect();
        fill(&mut ws)?;
        for b in &mut bufs {
            b.flush()?;
        }
    }
    for t in &tmps {
        t.as_file().sync_all()?;
    }
    for (t, p) in tmps.into_iter().zip(paths) {
        t.persist(p).map_err(|e| e.error)?;
        if let Ok(d) = std::fs::File::open(dir_of(p)) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        write_atomic(&p, |w| w.write_all(b"old")).unwrap();
        let r = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "the temp file is removed");
    }
}
