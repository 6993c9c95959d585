//! Reading a screenplay file of either format, with errors that name the file and position.

use std::path::Path;

use previz_screenplay::{Diagnostic, ParseError, Screenplay};

use crate::output::CliError;

/// The two formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptFormat {
    Fountain,
    Fdx,
}

impl ScriptFormat {
    pub fn name(self) -> &'static str {
        match self {
            ScriptFormat::Fountain => "fountain",
            ScriptFormat::Fdx => "fdx",
        }
    }
}

/// A screenplay read from disk.
#[derive(Debug)]
pub struct ScriptFile {
    pub screenplay: Screenplay,
    pub warnings: Vec<Diagnostic>,
    pub format: ScriptFormat,
    /// blake3 of the file's bytes, hex.
    pub content_hash: String,
    pub file_name: String,
}

/// Picks the format from the extension, else from the first bytes.
fn detect(path: &Path, bytes: &[u8]) -> ScriptFormat {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("fdx") => ScriptFormat::Fdx,
        Some("fountain" | "spmd" | "txt") => ScriptFormat::Fountain,
        _ => {
            let start = bytes
                .strip_prefix(b"\xEF\xBB\xBF")
                .unwrap_or(bytes)
                .iter()
                .skip_while(|b| b.is_ascii_whitespace())
                .take(16)
                .copied()
                .collect::<Vec<u8>>();
            if start.starts_with(b"<?xml") || start.starts_with(b"<FinalDraft") {
                ScriptFormat::Fdx
            } else {
                ScriptFormat::Fountain
            }
        }
    }
}

/// Turns a parse error into the CLI's one-line form: `file:line:column: what; expected; hint`.
pub fn parse_error(path: &Path, e: &ParseError) -> CliError {
    let mut message = e.message.clone();
    if let Some(expected) = &e.expected {
        message.push_str("; expected ");
        message.push_str(expected);
    }
    if !e.hint.is_empty() {
        message.push_str("; ");
        message.push_str(&e.hint);
    }
    CliError::bad_input(message).at(path, Some(e.line), Some(e.column))
}

/// Reads and parses a screenplay.
pub fn load(path: &Path) -> Result<ScriptFile, CliError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file; check the path",
            std::io::ErrorKind::PermissionDenied => {
                "permission denied; check the file's permissions"
            }
            std::io::ErrorKind::IsADirectory => "this is a folder; give a .fountain or .fdx file",
            _ => "the file could not be read",
        };
        let error = if e.kind() == std::io::ErrorKind::NotFound
            || e.kind() == std::io::ErrorKind::IsADirectory
        {
            CliError::bad_input(format!("{hint} ({e})"))
        } else {
            CliError::failure(format!("{hint} ({e})"))
        };
        error.at(path, None, None)
    })?;
    let format = detect(path, &bytes);
    let parsed = match format {
        ScriptFormat::Fdx => previz_screenplay::parse_fdx(&bytes),
        ScriptFormat::Fountain => previz_screenplay::parse_fountain_bytes(&bytes),
    }
    .map_err(|e| parse_error(path, &e))?;
    Ok(ScriptFile {
        screenplay: parsed.screenplay,
        warnings: parsed.warnings,
        format,
        content_hash: blake3::hash(&bytes).to_hex().to_string(),
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    })
}
