//! Errors of the case library.
//!
//! A bad record must tell a person which file, which line, which field, what was expected and
//! what was found, and what to do about it. [`RecordError`] carries exactly that.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A record that could not be read as a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The file (or `builtin`, or another origin label).
    pub origin: Arc<str>,
    /// 1-based line where the record starts (for a syntax error: where the error is).
    pub line: u64,
    /// Dotted path of the offending field; empty for a syntax error in the record itself.
    pub field: String,
    /// What a valid record has there.
    pub expected: &'static str,
    /// What this record has there.
    pub found: String,
    /// What to do about it.
    pub hint: &'static str,
}

impl RecordError {
    /// `origin:line: field: expected …, found …` on one line, without the hint.
    pub fn headline(&self) -> String {
        let field = if self.field.is_empty() { String::new() } else { format!("{}: ", self.field) };
        format!("{}:{}: {}expected {}, found {}", self.origin, self.line, field, self.expected, self.found)
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.headline())?;
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for RecordError {}

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}\n  hint: check that the path exists and is readable", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading failed part-way (a reader that is not a file).
    #[error("{origin}: cannot read: {source}")]
    Read {
        /// What was being read.
        origin: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error(
        "{origin}:{line}: expected UTF-8 text, found invalid bytes\n  hint: case files are UTF-8 JSON Lines or YAML"
    )]
    NotText {
        /// The file.
        origin: String,
        /// First line with invalid bytes.
        line: u64,
    },
    /// The file holds no record.
    #[error(
        "{origin}: expected at least one case record, found none\n  hint: a case file is JSON Lines (one object per line) or YAML documents separated by ---"
    )]
    Empty {
        /// The file.
        origin: String,
    },
    /// A record is invalid and invalid records are not being skipped.
    #[error("{0}")]
    Record(RecordError),
}
