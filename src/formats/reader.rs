//! Reads a JSON Lines file or one JSON array one record at a time, each remembering its line (and,
//! in an array, its element index), in memory bounded by the largest record.

use super::strict::parse_object;
use super::FormatError;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The largest single record accepted (a JSONL line or an array element).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// One JSON object of an input file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line where the record starts.
    pub line: usize,
    /// 0-based index of the element when the file is one JSON array.
    pub element: Option<usize>,
    pub value: Value,
}

/// Where an array stands between elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayAt {
    First,
    AfterValue,
    AfterComma,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unknown,
    Lines,
    Array(ArrayAt),
}

/// Yields the records of a JSONL stream or a JSON array stream. Accepts a UTF-8 BOM and blank
/// lines; rejects invalid UTF-8, invalid or truncated JSON, duplicate keys, non-object records and
/// records larger than [`MAX_RECORD_BYTES`], naming the line (and the element).
pub struct RecordReader<R> {
    file: PathBuf,
    src: R,
    mode: Mode,
    /// Lines fully consumed so far.
    newlines: usize,
    buf: Vec<u8>,
    element: usize,
    /// Bytes read back before the mode was known (the first line).
    pending: Vec<u8>,
}

impl<R: BufRead> RecordReader<R> {
    pub fn new(file: &Path, src: R) -> Self {
        RecordReader {
            file: file.to_owned(),
            src,
            mode: Mode::Unknown,
            newlines: 0,
            buf: Vec::new(),
            element: 0,
            pending: Vec::new(),
        }
    }

    fn err(&self, line: usize, msg: impl Into<String>) -> FormatError {
        FormatError::new(&self.file, line, None, msg)
    }

    /// The next record, `None` at the end.
    pub fn next_record(&mut self) -> Option<Result<Record, FormatError>> {
        if self.mode == Mode::Unknown {
            if let Err(e) = self.detect() {
                self.mode = Mode::Array(ArrayAt::Done);
                return Some(Err(e));
            }
        }
        let res = match self.mode {
            Mode::Lines => self.next_line(),
            _ => self.next_element(),
        };
        match res {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => None,
            Err(e) => {
                self.mode = Mode::Array(ArrayAt::Done);
                Some(Err(e))
            }
        }
    }

    /// Reads one line (up to the record limit) into `buf`, after any bytes read back; false at
    /// the end of the input.
    fn read_line(&mut self) -> Result<bool, FormatError> {
        self.buf.clear();
        self.buf.append(&mut self.pending);
        let line = self.newlines + 1;
        loop {
            let avail = self.src.fill_buf().map_err(|e| read_error(&self.file, line, e))?;
            if avail.is_empty() {
                return Ok(!self.buf.is_empty());
            }
            let (take, end) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            self.buf.extend_from_slice(&avail[..take]);
            self.src.consume(take);
            if self.buf.len() > MAX_RECORD_BYTES + 2 {
                return Err(self.err(
                    line,
                    format!("the line is over the limit of {MAX_RECORD_BYTES} bytes per record"),
                ));
            }
            if end {
                self.newlines += 1;
                return Ok(true);
            }
        }
    }

    /// Skips a UTF-8 BOM and white space: `[` starts an array, anything else is JSON Lines.
    fn detect(&mut self) -> Result<(), FormatError> {
        let mut head = [0u8; 3];
        let n = self.fill(&mut head)?;
        if head[..n] != *b"\xef\xbb\xbf" {
            self.pending = head[..n].to_vec();
        }
        self.mode = Mode::Lines;
        while let Some(b) = self.peek()? {
            if b == b'[' {
                self.byte()?;
                self.mode = Mode::Array(ArrayAt::First);
                break;
            }
            if !b.is_ascii_whitespace() {
                break;
            }
            self.byte()?;
        }
        Ok(())
    }

    /// Reads up to `out.len()` bytes; how many were read.
    fn fill(&mut self, out: &mut [u8]) -> Result<usize, FormatError> {
        let mut n = 0;
        while n < out.len() {
            match self.src.read(&mut out[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err(1, format!("cannot read: {e}"))),
            }
        }
        Ok(n)
    }

    fn peek(&mut self) -> Result<Option<u8>, FormatError> {
        if let Some(&b) = self.pending.first() {
            return Ok(Some(b));
        }
        let line = self.newlines + 1;
        let avail = self.src.fill_buf().map_err(|e| read_error(&self.file, line, e))?;
        Ok(avail.first().copied())
    }

    fn next_line(&mut self) -> Result<Option<Record>, FormatError> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            let line = if self.buf.ends_with(b"\n") { self.newlines } else { self.newlines + 1 };
            let text = utf8(&self.file, line, &self.buf)?;
            let trimmed = text.trim();
            if trimmed.is_empty() {
                continue;
            }
            let value = parse_object(&self.file, line, None, trimmed)?;
            return Ok(Some(Record { line, element: None, value }));
        }
    }

    /// The next byte of the array stream, `None` at the end of the input.
    fn byte(&mut self) -> Result<Option<u8>, FormatError> {
        let b = if !self.pending.is_empty() {
            Some(self.pending.remove(0))
        } else {
            let line = self.newlines + 1;
            let avail = self.src.fill_buf().map_err(|e| read_error(&self.file, line, e))?;
            let b = avail.first().copied();
            if b.is_some() {
                self.src.consume(1);
            }
            b
        };
        if b == Some(b'\n') {
            self.newlines += 1;
        }
        Ok(b)
    }

    /// Skips whitespace; the first other byte, or `None` at the end.
    fn non_space(&mut self) -> Result<Option<u8>, FormatError> {
        while let Some(b) = self.byte()? {
            if !b.is_ascii_whitespace() {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    fn next_element(&mut self) -> Result<Option<Record>, FormatError> {
        let Mode::Array(at) = self.mode else { return Ok(None) };
        let index = self.element;
        let b = self.non_space()?;
        let line = self.newlines + 1;
        let where_ = format!("after element {}", index.saturating_sub(1));
        let first = {
            match (at, b) {
                (ArrayAt::Done, None) => return Ok(None),
                (ArrayAt::Done, Some(_)) => {
                    return Err(self.err(line, "text after the end of the JSON array"))
                }
                (_, None) => {
                    return Err(self.err(line, "the JSON array ends early (truncated file?)"))
                }
                (ArrayAt::First | ArrayAt::AfterValue, Some(b']')) => {
                    self.mode = Mode::Array(ArrayAt::Done);
                    return self.next_element();
                }
                (ArrayAt::AfterValue, Some(b',')) => {
                    self.mode = Mode::Array(ArrayAt::AfterComma);
                    return self.next_element();
                }
                (ArrayAt::AfterValue, Some(c)) => {
                    return Err(self
                        .err(line, format!("expected `,` or `]` {where_}, found {:?}", c as char)))
                }
                (ArrayAt::AfterComma, Some(b']')) => {
                    return Err(self.err(line, format!("a trailing comma {where_}")))
                }
                (_, Some(c)) => c,
            }
        };
        let line = self.newlines + 1;
        self.buf.clear();
        self.buf.push(first);
        self.scan_value(first, line, index)?;
        self.mode = Mode::Array(ArrayAt::AfterValue);
        self.element += 1;
        let text = utf8(&self.file, line, &self.buf)?;
        let value = parse_object(&self.file, line, Some(index), text)?;
        Ok(Some(Record { line, element: Some(index), value }))
    }

    /// Copies one array element into `buf` (its first byte is there already), following strings
    /// and nesting; a scalar ends at the byte before `,`, `]` or white space.
    fn scan_value(&mut self, first: u8, line: usize, index: usize) -> Result<(), FormatError> {
        let (mut depth, mut in_str, mut esc) = (0usize, first == b'"', false);
        if first == b'{' || first == b'[' {
            depth = 1;
        }
        let scalar = depth == 0 && !in_str;
        loop {
            if self.buf.len() > MAX_RECORD_BYTES {
                return Err(FormatError::at(
                    &self.file,
                    line,
                    Some(index),
                    None,
                    format!("the element is over the limit of {MAX_RECORD_BYTES} bytes"),
                ));
            }
            if !scalar && depth == 0 && !in_str {
                return Ok(());
            }
            if scalar {
                let next = self.peek()?;
                if matches!(next, None | Some(b',' | b']'))
                    || next.is_some_and(|b| b.is_ascii_whitespace())
                {
                    return Ok(());
                }
            }
            let Some(b) = self.byte()? else {
                return Err(FormatError::at(
                    &self.file,
                    line,
                    Some(index),
                    None,
                    "the JSON ends early (truncated file?)",
                ));
            };
            self.buf.push(b);
            if in_str {
                match (esc, b) {
                    (true, _) => esc = false,
                    (false, b'\\') => esc = true,
                    (false, b'"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
}

fn read_error(file: &Path, line: usize, e: std::io::Error) -> FormatError {
    FormatError::new(file, line, None, format!("cannot read: {e}"))
}

fn utf8<'a>(file: &Path, line: usize, bytes: &'a [u8]) -> Result<&'a str, FormatError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let before = &bytes[..at];
        let line = line + before.iter().filter(|&&b| b == b'\n').count();
        let col = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        FormatError::new(
            file,
            line,
            None,
            format!("invalid UTF-8 at column {col}; the file must be UTF-8"),
        )
    })
}

/// Reads every record of a file's bytes (for tests and small inputs; imports stream).
pub fn read_records(file: &Path, bytes: &[u8]) -> Result<Vec<Record>, FormatError> {
    let mut r = RecordReader::new(file, bytes);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        out.push(rec?);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
