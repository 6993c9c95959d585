//! Where things live inside a `NAME.previz/` folder.

use std::path::{Path, PathBuf};

/// The document.
pub const PROJECT_FILE: &str = "project.json";
/// Edits made since the last save.
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// Who has the project open for writing.
pub const LOCK_FILE: &str = "project.lock";
/// Rolling backups of earlier saves.
pub const BACKUP_DIR: &str = "backups";
/// Content-addressed media.
pub const ASSET_DIR: &str = "assets";
/// Written while a background save is committing (see `session::background`).
pub const SAVE_MARKER: &str = "save.marker";

/// The paths of one project folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectPaths {
    root: PathBuf,
}

impl ProjectPaths {
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    #[must_use]
    pub fn project(&self) -> PathBuf {
        self.root.join(PROJECT_FILE)
    }

    #[must_use]
    pub fn journal(&self) -> PathBuf {
        self.root.join(JOURNAL_FILE)
    }

    #[must_use]
    pub fn lock(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    #[must_use]
    pub fn backups(&self) -> PathBuf {
        self.root.join(BACKUP_DIR)
    }

    #[must_use]
    pub fn assets(&self) -> PathBuf {
        self.root.join(ASSET_DIR)
    }

    #[must_use]
    pub fn save_marker(&self) -> PathBuf {
        self.root.join(SAVE_MARKER)
    }
}
