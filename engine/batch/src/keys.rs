//! Unit keys (content hashes of a unit's inputs) and the records workers publish.

use std::path::PathBuf;

use previz_core::ContentHash;
use previz_core::edit::EditCommand;
use serde::{Deserialize, Serialize};

/// What a unit record says it is; bump the version when a unit's meaning changes, so records
/// from before are made again rather than misread.
pub const RECORD_FORMAT: &str = "previz-unit/1";

/// A unit's identity: its kind and the hash of its inputs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnitKey {
    pub kind: String,
    /// 64 hex digits (blake3).
    pub hash: String,
}

/// The key of a unit of `kind` whose result is decided by `inputs` (canonical JSON: the same
/// inputs give the same key on every machine).
#[must_use]
pub fn key_of(kind: &str, inputs: &serde_json::Value) -> UnitKey {
    let mut hasher = blake3::Hasher::new();
    hasher.update(RECORD_FORMAT.as_bytes());
    hasher.update(b"\0");
    hasher.update(kind.as_bytes());
    hasher.update(b"\0");
    hasher.update(&serde_json::to_vec(inputs).unwrap_or_default());
    UnitKey {
        kind: kind.to_owned(),
        hash: hasher.finalize().to_hex().to_string(),
    }
}

/// A file a unit wrote (the animatic, an export), relative to the run's output folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub path: PathBuf,
    pub bytes: u64,
}

/// A finished unit, as published on the share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitRecord {
    pub format: String,
    pub key: UnitKey,
    /// For people: `scene 3`, `shot 3.2`, `line 3:4 MARA`, `export otio`.
    pub label: String,
    /// The edits that land the unit in the project (new shots, takes).
    #[serde(default)]
    pub commands: Vec<EditCommand>,
    /// Media it stored in the project's asset store (checked before a record is trusted).
    #[serde(default)]
    pub assets: Vec<ContentHash>,
    #[serde(default)]
    pub outputs: Vec<OutputFile>,
    /// Who made it, where, when, in how long.
    pub worker: String,
    pub host: String,
    pub finished: jiff::Timestamp,
    pub seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_input_and_nothing_else() {
        let a = key_of("frames", &serde_json::json!({"prompt": "a", "seed": 1}));
        let b = key_of("frames", &serde_json::json!({"seed": 1, "prompt": "a"}));
        assert_eq!(a, b, "field order does not matter");
        assert_ne!(
            a,
            key_of("frames", &serde_json::json!({"prompt": "a", "seed": 2}))
        );
        assert_ne!(
            a,
            key_of("voice", &serde_json::json!({"prompt": "a", "seed": 1}))
        );
        assert_eq!(a.hash.len(), 64);
    }
}
