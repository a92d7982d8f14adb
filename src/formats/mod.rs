//! Import and export in the formats the field uses: Alpaca, ShareGPT, OpenAI chat, TRL
//! prompt/completion, seed tasks, eval sets, and DPO / TRL preference pairs. Imports stream.

mod card;
mod export;
mod export_write;
mod import;
mod ingest;
mod input;
mod reader;
mod strict;

pub use card::{card, CardFile, Curation, Tally};
pub use export::{ExportFormat, Lost};
pub use export_write::{
    export, export_store, split_paths, Container, ExportOptions, ExportSummary, Split,
};
pub use import::{parse_file, parse_records, Format, ImportAs, Item, Notes, Parsed, RecordParser};
pub use ingest::{import_stream, ImportError, ImportOptions, ImportOutcome, CHUNK_ROWS};
pub use input::open_input;
pub use reader::{read_records, Record, RecordReader, MAX_RECORD_BYTES};

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with an input file, naming the file, the line and (when known) the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is the whole file.
    pub line: usize,
    /// 0-based element index when the file is one JSON array.
    pub element: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl FormatError {
    pub fn new(
        file: &Path,
        line: usize,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::at(file, line, None, field, message)
    }

    /// An error in element `element` of a JSON array.
    pub fn at(
        file: &Path,
        line: usize,
        element: Option<usize>,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        FormatError { file: file.to_owned(), line, element, field, message: message.into() }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(i) = self.element {
            write!(f, ": element {i}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FormatError {}

/// The JSON type of a value, for error messages.
fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
