//! What the CLI prints: results on stdout (text for people, JSON for machines), one error line
//! on stderr.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Whether an error is the user's input or the world's fault; decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A file that cannot be read as what it claims to be, an invalid project: exit 2.
    BadInput,
    /// I/O, locks, anything else: exit 1.
    Failure,
    /// Work other processes still hold (a farm's gather run too early): exit 75, EX_TEMPFAIL.
    TryLater,
    /// Stopped by SIGINT / SIGTERM: exit 130; finished work is kept.
    Cancelled,
}

impl ErrorKind {
    #[must_use]
    pub fn exit_status(self) -> u8 {
        match self {
            ErrorKind::BadInput => 2,
            ErrorKind::Failure => 1,
            ErrorKind::TryLater => 75,
            ErrorKind::Cancelled => 130,
        }
    }
}

/// An error as the CLI reports it: a message a person can act on, and where.
#[derive(Debug, Clone, Serialize)]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip)]
    broken_pipe: bool,
}

impl CliError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadInput, message)
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failure, message)
    }

    /// An error of a given kind (the exit status follows from it).
    pub fn of_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::new(kind, message)
    }

    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            file: None,
            line: None,
            column: None,
            broken_pipe: false,
        }
    }

    /// Names the file and position the message is about.
    #[must_use]
    pub fn at(mut self, file: &Path, line: Option<usize>, column: Option<usize>) -> Self {
        self.file = Some(file.to_path_buf());
        self.line = line;
        self.column = column;
        self
    }

    /// Whether stdout was closed under us (`previz import x --json | head`): not an error.
    #[must_use]
    pub fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        let mut error = CliError::failure(format!("writing the output failed: {e}"));
        error.broken_pipe = e.kind() == io::ErrorKind::BrokenPipe;
        error
    }
}

/// Prints an error once: `previz: error: file:line:column: message` or a JSON object.
pub fn print_error(error: &CliError, json: bool) {
    let mut stderr = io::stderr().lock();
    if json {
        let _ = writeln!(stderr, "{}", serde_json::json!({ "error": error }));
        return;
    }
    let place = match (&error.file, error.line, error.column) {
        (Some(file), Some(line), Some(column)) => format!("{}:{line}:{column}: ", file.display()),
        (Some(file), Some(line), None) => format!("{}:{line}: ", file.display()),
        (Some(file), None, _) => format!("{}: ", file.display()),
        (None, _, _) => String::new(),
    };
    let _ = writeln!(stderr, "previz: error: {place}{}", error.message);
}

/// Writes a JSON value on stdout.
pub fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).map_err(|e| {
        if e.io_error_kind() == Some(io::ErrorKind::BrokenPipe) {
            CliError::from(io::Error::from(io::ErrorKind::BrokenPipe))
        } else {
            CliError::failure(format!("writing JSON failed: {e}"))
        }
    })?;
    writeln!(stdout)?;
    Ok(())
}

/// Writes text on stdout.
pub fn print_text(text: &str) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(())
}

/// Writes warnings on stderr, one per line, prefixed with the file.
pub fn print_warnings(file: &Path, warnings: &[String]) {
    let mut stderr = io::stderr().lock();
    for warning in warnings {
        let _ = writeln!(stderr, "{}:{warning}", file.display());
    }
}
