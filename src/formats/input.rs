//! Opens what an import reads: a regular file, or `-` for standard input. Anything else (a FIFO,
//! a directory, a device, a socket) is refused at once, by name, before it is opened, so that an
//! import never waits on a pipe with no writer.

use super::FormatError;
use std::io::BufRead;
use std::path::Path;

/// The buffer between the file and the record reader.
const BUFFER_BYTES: usize = 1 << 20;

/// A buffered reader over `path`, or over standard input when `path` is `-`.
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead + Send>, FormatError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufReader::with_capacity(BUFFER_BYTES, std::io::stdin())));
    }
    let refuse = |msg: String| FormatError::new(path, 0, None, msg);
    let meta = std::fs::metadata(path).map_err(|e| refuse(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(refuse(format!(
            "is {}, not a regular file; pass a file, or `-` to read standard input",
            kind(&meta)
        )));
    }
    let f = std::fs::File::open(path).map_err(|e| refuse(format!("cannot read: {e}")))?;
    Ok(Box::new(std::io::BufReader::with_capacity(BUFFER_BYTES, f)))
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    "not a regular file"
}
