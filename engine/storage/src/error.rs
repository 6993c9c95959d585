//! What can go wrong, in words a person can act on: every message names the file and says what
//! to do next.

use std::io;
use std::path::{Path, PathBuf};

use previz_core::EditError;
use previz_core::format::FormatError;

use crate::lock::{LockInfo, Staleness};

/// Whether an I/O error happened while reading or while writing; the advice differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Errors of project storage. The in-memory document is never lost when one is returned: a
/// [`Session`](crate::Session) stays usable and [`Session::save_as`](crate::Session::save_as)
/// can always put the work somewhere else.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("could not {action} at {}: {}; {}", path.display(), describe_io(source), remedy(source.kind(), *access))]
    Io {
        action: &'static str,
        path: PathBuf,
        access: Access,
        #[source]
        source: io::Error,
    },
    #[error("could not read {}{}: {source}. Earlier saves are kept in {}: open one of them to get the work back", path.display(), position(source), backups.display())]
    Format {
        path: PathBuf,
        backups: PathBuf,
        #[source]
        source: FormatError,
    },
    #[error("{} is open for writing by {}; {}: open it read-only, or take it over if you are sure nobody is working in it", project.display(), holder_text(holder.as_deref()), staleness)]
    Locked {
        project: PathBuf,
        holder: Option<Box<LockInfo>>,
        staleness: Staleness,
    },
    #[error("{} was taken over by {holder}, who now edits it; this window is read-only: use Save As to keep any edits made here since then", project.display())]
    LockLost {
        project: PathBuf,
        holder: Box<LockInfo>,
    },
    #[error("{} is open read-only ({reason}); the edit was not made: reopen the project for writing, or use Save As to work on a copy", project.display())]
    ReadOnly { project: PathBuf, reason: String },
    #[error("{} already exists; choose another name, or open the existing project", path.display())]
    AlreadyExists { path: PathBuf },
    #[error("{} is not a Previz project ({detail}); if it was one, its earlier saves may still be in {}", path.display(), path.join(crate::layout::BACKUP_DIR).display())]
    NotAProject { path: PathBuf, detail: String },
    #[error("the edit was refused: {0}")]
    Edit(#[from] EditError),
    #[error("a save of {} is already running; wait for it to finish", project.display())]
    SaveInProgress { project: PathBuf },
    /// Editing a project several editors share (leases, merging saves).
    #[error("{}: {source}", project.display())]
    Shared {
        project: PathBuf,
        #[source]
        source: Box<crate::shared::SharedError>,
    },
}

impl StorageError {
    pub(crate) fn io(
        action: &'static str,
        path: &Path,
        access: Access,
    ) -> impl FnOnce(io::Error) -> StorageError {
        let path = path.to_path_buf();
        move |source| StorageError::Io {
            action,
            path,
            access,
            source,
        }
    }

    /// The underlying I/O error kind, when this is an I/O error.
    #[must_use]
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            StorageError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

fn holder_text(holder: Option<&LockInfo>) -> String {
    holder.map_or_else(
        || "someone (the lock file cannot be read)".to_owned(),
        ToString::to_string,
    )
}

fn position(e: &FormatError) -> String {
    e.position()
        .map(|(line, column)| format!(":{line}:{column}"))
        .unwrap_or_default()
}

/// The cause in plain words, without the `(os error N)` noise for the common cases.
pub(crate) fn describe_io(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "no such file or folder".to_owned(),
        K::PermissionDenied => "permission denied".to_owned(),
        K::StorageFull => "the disk is full".to_owned(),
        K::QuotaExceeded => "the disk quota is exceeded".to_owned(),
        K::ReadOnlyFilesystem => "the file system is read-only".to_owned(),
        K::StaleNetworkFileHandle => "the network share dropped the file (stale handle)".to_owned(),
        K::NotADirectory => "a part of the path is not a folder".to_owned(),
        _ => e.to_string(),
    }
}

/// What to do about an I/O error.
pub(crate) fn remedy(kind: io::ErrorKind, access: Access) -> &'static str {
    use io::ErrorKind as K;
    match (kind, access) {
        (K::PermissionDenied, Access::Write) => {
            "check the share is mounted read-write and that you may write to the folder, or open the project read-only"
        }
        (K::PermissionDenied, Access::Read) => "check that you may read this folder",
        (K::NotFound | K::StaleNetworkFileHandle | K::NotADirectory, Access::Write) => {
            "the folder is gone (was the share disconnected?): reconnect it and try again, or use Save As to put the project somewhere else; nothing open in Previz is lost"
        }
        (K::NotFound | K::StaleNetworkFileHandle | K::NotADirectory, Access::Read) => {
            "check the path, and that the share is mounted"
        }
        (K::StorageFull | K::QuotaExceeded, _) => {
            "free some space and try again, or use Save As to save somewhere else; nothing open in Previz is lost"
        }
        (K::ReadOnlyFilesystem, _) => {
            "remount it read-write, or open the project read-only, or use Save As to save somewhere else"
        }
        (_, Access::Write) => {
            "check that the disk or share is reachable and try again, or use Save As to save somewhere else; nothing open in Previz is lost"
        }
        (_, Access::Read) => "check that the disk or share is reachable and try again",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_name_the_path_the_cause_and_a_remedy() {
        let err = StorageError::io(
            "save the project",
            Path::new("/share/film.previz/project.json"),
            Access::Write,
        )(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(
            err.to_string(),
            "could not save the project at /share/film.previz/project.json: permission denied; check the share is mounted read-write and that you may write to the folder, or open the project read-only"
        );
    }
}
