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

/// A parsed screenplay and the warnings met on the way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub screenplay: Screenplay,
    pub warnings: Vec<Diagnostic>,
}
