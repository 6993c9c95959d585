//! What can go wrong loading or running a language model, with what the user should do.

use std::path::PathBuf;

/// An LLM failure. Every variant names the file or the step and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{path}: cannot read the model file: {source}. Check the path and permissions.")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not a usable GGUF model: {detail}. Re-fetch it (models/fetch.py) or pick another file."
    )]
    BadModel { path: PathBuf, detail: String },
    #[error("{path}: architecture '{arch}' is not supported; supported: {supported}.")]
    UnsupportedArchitecture {
        path: PathBuf,
        arch: String,
        supported: &'static str,
    },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model memory: {0}")]
    Memory(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error(
        "the prompt needs {needed} positions but the model's context holds {limit}; shorten the scene or raise the context"
    )]
    ContextFull { needed: usize, limit: usize },
    #[error("constrained decoding: {0}")]
    Constraint(String),
    #[error("cancelled")]
    Cancelled,
    #[error("inference failed: {0}")]
    Backend(String),
}

impl From<candle_core::Error> for LlmError {
    fn from(e: candle_core::Error) -> Self {
        LlmError::Backend(e.to_string())
    }
}
