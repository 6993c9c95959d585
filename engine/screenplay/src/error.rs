//! Errors (the input cannot be read at all) and diagnostics (it can, but something looks wrong).
//!
//! Both carry a 1-based line and column so that callers can print `file:line:column: ...`, the
//! form editors and terminals turn into links.

use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of problem stopped parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The bytes are not valid UTF-8 (and carry no UTF-16 byte-order mark).
    InvalidUtf8,
    /// The file starts with a UTF-16 byte-order mark but the rest is not valid UTF-16.
    InvalidUtf16,
    /// A `/*` boneyard is never closed.
    UnterminatedBoneyard,
    /// The FDX file is not well-formed XML.
    MalformedXml,
    /// The XML is well-formed but is not a Final Draft document.
    NotFinalDraft,
}

/// A reason the input could not be parsed, with where and what to do about it.
///
/// Displays as `[path:]line:column: message; expected X; hint`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(self))]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// The file, when the caller supplied it with [`ParseError::with_path`].
    pub path: Option<PathBuf>,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem, counted in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What the parser expected to find there, when that is meaningful.
    pub expected: Option<String>,
    /// What the user can do about it.
    pub hint: String,
}

impl ParseError {
    pub(crate) fn new(
        kind: ParseErrorKind,
        line: usize,
        column: usize,
        message: impl Into<String>,
        expected: Option<&str>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            path: None,
            line,
            column,
            message: message.into(),
            expected: expected.map(str::to_owned),
            hint: hint.into(),
        }
    }

    /// Names the file the input came from, so the message reads `file:line:column: ...`.
    #[must_use]
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(path.as_ref().to_path_buf());
        self
    }
}

fn render(error: &ParseError) -> String {
    let mut out = String::new();
    if let Some(path) = &error.path {
        out.push_str(&format!("{}:", path.display()));
    }
    out.push_str(&format!(
        "{}:{}: {}",
        error.line, error.column, error.message
    ));
    if let Some(expected) = &error.expected {
        out.push_str(&format!("; expected {expected}"));
    }
    if !error.hint.is_empty() {
        out.push_str("; ");
        out.push_str(&error.hint);
    }
    out
}

/// Something odd that did not stop parsing (an unclosed note, a stray dual-dialogue caret, an
/// unknown FDX paragraph type). The input was still read; the message says how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: warning: {}",
            self.line, self.column, self.message
        )
    }
}
