//! Reads a JSON array or JSON Lines file into records that remember their line.

use super::FormatError;
use serde_json::value::RawValue;
use serde_json::Value;
use std::path::Path;

/// The largest single record accepted (a JSONL line or an array element).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// One JSON object of an input file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line where the record starts.
    pub line: usize,
    pub value: Value,
}

/// Splits a file's bytes into records. Accepts a UTF-8 BOM, blank lines, JSON Lines, or one JSON
/// array; rejects invalid UTF-8, invalid or truncated JSON, non-object records and records larger
/// than [`MAX_RECORD_BYTES`], naming the line.
pub fn read_records(file: &Path, bytes: &[u8]) -> Result<Vec<Record>, FormatError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let col = at - bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        FormatError::new(
            file,
            line,
            None,
            format!("invalid UTF-8 at column {col} (byte {at}); the file must be UTF-8"),
        )
    })?;
    let start = text.len() - text.trim_start().len();
    if text[start..].starts_with('[') {
        read_array(file, text)
    } else {
        read_lines(file, text)
    }
}

fn read_lines(file: &Path, text: &str) -> Result<Vec<Record>, FormatError> {
    let mut items = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i + 1;
        if line.len() > MAX_RECORD_BYTES {
            return Err(FormatError::new(
                file,
                line_no,
                None,
                format!(
                    "the line is {} bytes, over the limit of {} bytes per record",
                    line.len(),
                    MAX_RECORD_BYTES
                ),
            ));
        }
        let trimmed = line.trim();
        if !trimmed.is_empty() {
            items.push((line_no, trimmed));
        }
    }
    parse_all(file, &items)
}

fn read_array(file: &Path, text: &str) -> Result<Vec<Record>, FormatError> {
    let raws: Vec<&RawValue> =
        serde_json::from_str(text).map_err(|e| json_error(file, e.line(), &e))?;
    let base = text.as_ptr() as usize;
    let (mut line, mut scanned) = (1, 0);
    let mut items = Vec::with_capacity(raws.len());
    for raw in raws {
        let offset = raw.get().as_ptr() as usize - base;
        line += text.as_bytes()[scanned..offset].iter().filter(|&&b| b == b'\n').count();
        scanned = offset;
        if raw.get().len() > MAX_RECORD_BYTES {
            return Err(FormatError::new(
                file,
                line,
                None,
                format!(
                    "the record is {} bytes, over the limit of {} bytes",
                    raw.get().len(),
                    MAX_RECORD_BYTES
                ),
            ));
        }
        items.push((line, raw.get()));
    }
    parse_all(file, &items)
}

/// Parses each (line, JSON text) into a record, on every core for large files. The error
/// reported is always the one of the earliest bad line.
fn parse_all(file: &Path, items: &[(usize, &str)]) -> Result<Vec<Record>, FormatError> {
    let work = |part: &[(usize, &str)]| -> Result<Vec<Record>, FormatError> {
        part.iter()
            .map(|&(line, s)| {
                let value: Value =
                    serde_json::from_str(s).map_err(|e| json_error(file, line, &e))?;
                object(file, line, value)
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if items.len() < 5_000 || threads == 1 {
        return work(items);
    }
    let parts: Vec<Result<Vec<Record>, FormatError>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| s.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(FormatError::new(file, 0, None, "a parser thread panicked"))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

fn object(file: &Path, line: usize, value: Value) -> Result<Record, FormatError> {
    if !value.is_object() {
        return Err(FormatError::new(
            file,
            line,
            None,
            format!("expected a JSON object, found {}", super::type_name(&value)),
        ));
    }
    Ok(Record { line, value })
}

fn json_error(file: &Path, line: usize, e: &serde_json::Error) -> FormatError {
    let msg = if e.is_eof() {
        format!("the JSON ends early (truncated file?): {e}")
    } else {
        format!("invalid JSON: {e}")
    };
    FormatError::new(file, line, None, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &[u8]) -> Result<Vec<Record>, FormatError> {
        read_records(Path::new("f.jsonl"), s)
    }

    #[test]
    fn jsonl_with_bom_and_blank_lines() {
        let r = read(b"\xef\xbb\xbf{\"a\":1}\n\n  \n{\"a\":2}\n").unwrap();
        assert_eq!(r.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 4]);
    }

    #[test]
    fn array_records_know_their_line() {
        let r = read(b"[\n {\"a\":1},\n\n {\"a\":2}\n]").unwrap();
        assert_eq!(r.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 4]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = read(b"{\"a\":1}\n{\"a\":").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("truncated"), "{e}");
        let e = read(b"{\"a\":1}\n\xff\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("UTF-8"));
        let e = read(b"{\"a\":1}\n[1]\n").unwrap_err();
        assert!(e.message.contains("expected a JSON object"), "{e}");
    }
}
