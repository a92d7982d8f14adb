//! Logging for every command: `tracing` into `distillery.log` (the workspace's when there is
//! one, else the data directory's), and, for commands (not the workbench, which owns the
//! terminal), warnings on stderr: `-q` keeps only errors, `-v` adds what is being done, `-vv`
//! the details. `DISTILLERY_LOG` overrides the file's filter (`info` by default).

use std::path::{Path, PathBuf};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The log target of lines meant for the file alone (the error `main` prints itself).
pub const FILE_ONLY: &str = "distillery::file_only";

/// Where this command logs: `DIR/distillery.log` when DIR is a workspace, else the data
/// directory's.
pub fn log_file(workspace: &Path) -> Option<PathBuf> {
    if workspace.join(crate::workspace::CONFIG_FILE).exists() {
        return Some(workspace.join(crate::workspace::LOG_FILE));
    }
    let dir = directories::ProjectDirs::from("", "", "distillery")?.data_dir().to_path_buf();
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join(crate::workspace::LOG_FILE))
}

/// The stderr filter for a verbosity: -q error, default warn, -v info, -vv debug.
pub fn stderr_level(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    }
}

/// Sets up logging once; `stderr` is false while the workbench owns the terminal.
pub fn init(workspace: &Path, verbose: u8, quiet: bool, stderr: bool) {
    let file = log_file(workspace)
        .and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok());
    let file_layer = file.map(|f| {
        let filter =
            EnvFilter::try_from_env("DISTILLERY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .with_filter(filter)
    });
    let err_layer = stderr.then(|| {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::IsTerminal::is_terminal(&std::io::stderr());
        tracing_subscriber::fmt::layer()
            .with_ansi(color)
            .without_time()
            .with_target(false)
            .with_writer(std::io::stderr)
            .with_filter(EnvFilter::new(format!(
                "{},{FILE_ONLY}=off",
                stderr_level(verbose, quiet)
            )))
    });
    let _ = tracing_subscriber::registry().with(file_layer).with(err_layer).try_init();
}

/// Makes writing to a closed pipe end the process quietly (as `head` expects), instead of a
/// panic in `println!`. Only for commands: the workbench keeps Rust's default.
pub fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    {
        extern "C" {
            fn signal(signum: std::ffi::c_int, handler: usize) -> usize;
        }
        const SIGPIPE: std::ffi::c_int = 13;
        const SIG_DFL: usize = 0;
        // SAFETY: restores the default disposition of one signal before any thread starts.
        unsafe { signal(SIGPIPE, SIG_DFL) };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn verbosity_maps_to_levels() {
        use super::stderr_level;
        assert_eq!(stderr_level(0, true), "error");
        assert_eq!(stderr_level(3, true), "error");
        assert_eq!(stderr_level(0, false), "warn");
        assert_eq!(stderr_level(1, false), "info");
        assert_eq!(stderr_level(2, false), "debug");
    }
}
