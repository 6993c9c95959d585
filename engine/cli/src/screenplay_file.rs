//! Reading a screenplay file of either format, with errors that name the file and position.

use std::path::Path;

use previz_screenplay::{Diagnostic, Format, ParseError, Screenplay};

use crate::output::CliError;

/// A screenplay read from disk.
#[derive(Debug)]
pub struct ScriptFile {
    pub screenplay: Screenplay,
    pub warnings: Vec<Diagnostic>,
    pub format: Format,
    /// blake3 of the file's bytes, hex.
    pub content_hash: String,
    pub file_name: String,
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
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let format = Format::detect(name.as_deref(), &bytes);
    let parsed = format.parse(&bytes).map_err(|e| parse_error(path, &e))?;
    Ok(ScriptFile {
        screenplay: parsed.screenplay,
        warnings: parsed.warnings,
        format,
        content_hash: blake3::hash(&bytes).to_hex().to_string(),
        file_name: name.unwrap_or_default(),
    })
}
