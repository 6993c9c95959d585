//! The Previz project document.
//!
//! Owns the data model every other crate shares: stable ids, rational time, the script (scenes,
//! dialogue, characters, locations), shots and their takes, content-addressed assets, the
//! timeline, the edit commands that change all of these, and undo history. It does no I/O,
//! spawns no thread and knows nothing of models or UI; storage, jobs, models, render, the CLI
//! and the studio build on it.

pub mod edit;
pub mod format;
pub mod history;
pub mod ids;
pub mod merge;
pub mod project;
pub mod revision;
pub mod roughcut;
pub mod script;
pub mod shot;
pub mod synth;
pub mod time;
pub mod timeline;

pub use edit::{Applied, Change, Edge, EditCommand, EditError};
pub use history::History;
pub use ids::*;
pub use project::{Problem, Project, Settings, Style};
pub use script::*;
pub use shot::*;
pub use time::{Rate, RationalTime, Rounding};
pub use timeline::*;

/// Fields of a JSON object this version does not know, kept verbatim so files written by newer
/// or foreign tools survive a round trip through this one.
pub type Extra = serde_json::Map<String, serde_json::Value>;
