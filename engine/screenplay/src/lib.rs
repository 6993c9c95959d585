//! Screenplay formats for Previz Studio.
//!
//! This crate owns reading and writing screenplays and nothing else: Fountain in
//! ([`parse_fountain`], [`parse_fountain_bytes`]), Final Draft FDX in ([`parse_fdx`]), Fountain
//! out ([`write_fountain`]). Everything lands in one small AST, [`Screenplay`], whose serde form
//! is a public JSON contract (documented in the crate's README.md). The parsers and the writer
//! know nothing of the project document; [`convert`] maps the AST to and from
//! `previz-core`'s script.
//!
//! Parsing never panics. Input that cannot be read is a [`ParseError`] with a line, column,
//! what was expected and what to do; oddities that can be read are [`Diagnostic`] warnings.

mod decode;
mod error;
mod fdx;
mod fountain;
mod json;
mod normalize;
mod writer;

pub mod convert;

pub use error::{Diagnostic, ParseError, ParseErrorKind};
pub use fdx::parse_fdx;
pub use fountain::{parse_fountain, parse_fountain_bytes};
pub use json::model::{DualSide, Element, ElementKind, Screenplay, Span, TextRun, TitleEntry};
pub use normalize::normalize;
pub use writer::write_fountain;

/// The screenplay formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Fountain,
    Fdx,
}

impl Format {
    /// `fountain` or `fdx`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::Fountain => "fountain",
            Format::Fdx => "fdx",
        }
    }

    /// The format of a file, from its name's extension, else from its first bytes (an XML
    /// declaration or a `<FinalDraft>` root means FDX; anything else is read as Fountain, whose
    /// files are plain text with any extension).
    #[must_use]
    pub fn detect(file_name: Option<&str>, bytes: &[u8]) -> Format {
        let ext = file_name
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("fdx") => Format::Fdx,
            Some("fountain" | "spmd" | "txt") => Format::Fountain,
            _ => {
                let start = bytes
                    .strip_prefix(b"\xEF\xBB\xBF")
                    .unwrap_or(bytes)
                    .trim_ascii_start();
                if start.starts_with(b"<?xml") || start.starts_with(b"<FinalDraft") {
                    Format::Fdx
                } else {
                    Format::Fountain
                }
            }
        }
    }

    /// Parses bytes of this format.
    pub fn parse(self, bytes: &[u8]) -> Result<Parsed, ParseError> {
        match self {
            Format::Fountain => parse_fountain_bytes(bytes),
            Format::Fdx => parse_fdx(bytes),
        }
    }
}

/// A parsed screenplay and the warnings met on the way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub screenplay: Screenplay,
    pub warnings: Vec<Diagnostic>,
}
