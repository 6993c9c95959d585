//! Autosave, save, save as, restore and close: the parts of a session that write.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use previz_core::{History, Project};

use super::{
    ASIDE_DISCARDED, Session, StepTracker, create_folder, due, initialise, set_aside, undo_create,
};
use crate::backup;
use crate::error::{Access, StorageError, describe_io};
use crate::journal;
use crate::layout::ProjectPaths;
use crate::lock::{self, LockInfo, Ownership};
use crate::report::{SaveReport, TickReport};

/// [`Session::close`] could not write the last edits to the journal. The session comes back so
/// nothing is lost: save it, save it elsewhere, or close it again.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct CloseError {
    pub session: Box<Session>,
    #[source]
    pub error: StorageError,
}

impl Session {
    /// Call regularly (every frame, or from a timer) with the current time: writes pending
    /// edits to the journal when [`SessionOptions::autosave_interval`](super::SessionOptions)
    /// has passed, and refreshes the lock's heartbeat once per
    /// [`SessionOptions::heartbeat_interval`](super::SessionOptions). If someone took the
    /// project over, the session turns read-only and says so in the report instead of
    /// fighting for the lock.
    ///
    /// On error the edits stay in memory and in the buffer; the next due tick tries again.
    pub fn tick(&mut self, now: Timestamp) -> Result<TickReport, StorageError> {
        let mut report = TickReport::default();
        if self.read_only.is_some() {
            return Ok(report);
        }
        if self.shared.is_some() {
            self.tick_shared(&mut report);
            if let Some(problem) = &self.autosave_problem {
                report.warnings.push(problem.clone());
            }
            return Ok(report);
        }
        if due(now, self.last_heartbeat, self.options.heartbeat_interval) {
            self.last_heartbeat = now;
            let lock_path = self.paths.lock();
            if let Some(ours) = &mut self.lock {
                match lock::refresh(&lock_path, ours, now) {
                    Ok(Ownership::Ours) => report.heartbeat = true,
                    Ok(Ownership::Lost(read)) => {
                        let unsaved = self.pending_edits();
                        report.lost_lock = self.lose_lock(&read);
                        report.warnings.push(format!(
                            "{} was taken over by {}; this window is now read-only ({unsaved} edit(s) not yet autosaved here): use Save As to keep them",
                            self.paths.root().display(),
                            report
                                .lost_lock
                                .as_ref()
                                .map_or_else(|| "someone".to_owned(), ToString::to_string)
                        ));
                        return Ok(report);
                    }
                    Err(e) => report.warnings.push(format!(
                        "could not refresh the lock at {}: {}; others may see it as stale",
                        lock_path.display(),
                        describe_io(&e)
                    )),
                }
            }
        }
        if self.pending_edits() > 0 && due(now, self.last_flush, self.options.autosave_interval) {
            // Even a failed attempt waits a full interval before the next, so a vanished share
            // is not hammered every frame.
            self.last_flush = now;
            report.journal_flushed = self.flush()?;
        }
        if let Some(problem) = &self.autosave_problem {
            report.warnings.push(problem.clone());
        }
        Ok(report)
    }

    /// Writes pending edits to the journal now (and fdatasyncs it). Returns how many.
    pub fn flush(&mut self) -> Result<usize, StorageError> {
        if self
            .journal
            .as_ref()
            .is_none_or(|j| j.pending_records() == 0)
        {
            return Ok(0);
        }
        self.ensure_lock_is_ours()?;
        let now = self.now();
        let journal_path = self.paths.journal();
        match &mut self.journal {
            Some(writer) => writer.flush(now).map_err(StorageError::io(
                "write the autosave journal",
                &journal_path,
                Access::Write,
            )),
            None => Ok(0),
        }
    }

    /// Saves the project: atomic write of `project.json`, a backup, pruning, and a fresh
    /// journal. See the module docs for why this order survives a crash at any point.
    pub fn save(&mut self) -> Result<SaveReport, StorageError> {
        self.ensure_writable()
            .map_err(|e| self.with_save_as_hint(e))?;
        if self.saving.is_some() {
            return Err(StorageError::SaveInProgress {
                project: self.paths.root().to_path_buf(),
            });
        }
        if self.shared.is_some() {
            return self.save_shared();
        }
        self.ensure_lock_is_ours()?;
        let now = self.now();
        let mut warnings = Vec::new();
        // 1. Everything so far into the journal, so a crash before the commit loses nothing.
        if let Err(e) = self.flush() {
            warnings.push(format!(
                "the autosave journal could not be written before saving: {e}"
            ));
        }
        // 2-3. Write and commit.
        let bytes = previz_core::format::to_json(&self.project);
        let hash = journal::content_hash(&bytes);
        let project_path = self.paths.project();
        crate::atomic::write_atomic(&project_path, &bytes).map_err(StorageError::io(
            "save the project",
            &project_path,
            Access::Write,
        ))?;
        self.base.clone_from(&hash);
        self.dirty = false;
        self.autosave_problem = None;
        // 4. Backups: failures here cost history, not work, so they are warnings.
        let (backup, pruned, backup_warnings) = backup::after_save(
            &self.paths,
            now,
            &bytes,
            hash.trim_start_matches("blake3:"),
            self.options.retention,
        );
        warnings.extend(backup_warnings);
        // 5. A fresh journal for the new base.
        if let Some(writer) = &mut self.journal
            && let Err(e) = writer.restart(&hash, now)
        {
            warnings.push(format!(
                "the project was saved, but a new autosave journal could not be started at {} ({}); it will be retried at the next autosave",
                self.paths.journal().display(),
                describe_io(&e)
            ));
        }
        self.last_flush = now;
        Ok(SaveReport {
            path: project_path,
            bytes: bytes.len(),
            hash,
            backup,
            pruned,
            warnings,
            shared: None,
        })
    }

    fn with_save_as_hint(&self, error: StorageError) -> StorageError {
        match error {
            StorageError::ReadOnly { project, reason } => StorageError::ReadOnly {
                project,
                reason: format!("{reason}; use Save As to save a copy"),
            },
            other => other,
        }
    }

    /// Saves the project into a new folder `new_dir` (which must not exist or be empty) and
    /// continues there: for when the share disappeared, or to fork a read-only project. Works
    /// from read-only sessions too. On error nothing changes: the session still edits the old
    /// folder (or nothing, if that is gone) and keeps every edit.
    pub fn save_as(&mut self, new_dir: impl AsRef<Path>) -> Result<SaveReport, StorageError> {
        let new_paths = ProjectPaths::new(new_dir.as_ref());
        if new_paths == self.paths && self.read_only.is_none() {
            return self.save();
        }
        let created = create_folder(new_paths.root())?;
        let (lock, writer, base, report) =
            match initialise(&new_paths, &self.project, &self.options) {
                Ok(parts) => parts,
                Err(e) => {
                    undo_create(new_paths.root(), created);
                    return Err(e);
                }
            };
        // The work now lives in the new folder, a project of its own: the shared one's leases
        // are given back and this workstation's journal of its unsaved edits is cleared.
        if self.shared.is_some() {
            let _ = self.close_shared(true);
            self.shared = None;
        }
        // The old folder may be gone; releasing its lock is a courtesy.
        if let Some(old) = self.lock.take() {
            let _ = lock::release(&self.paths.lock(), &old);
        }
        let now = self.now();
        self.paths = new_paths;
        self.lock = Some(lock);
        self.journal = Some(writer);
        self.base = base;
        self.dirty = false;
        self.read_only = None;
        self.autosave_problem = None;
        self.last_flush = now;
        self.last_heartbeat = now;
        Ok(report)
    }

    /// Makes a backup the project's current state: the current work is saved first (so it
    /// lands in the backups too and the restore can itself be undone by restoring again), then
    /// the backup's content is saved as `project.json`. Undo history starts afresh.
    pub fn restore_backup(&mut self, backup_file: &Path) -> Result<SaveReport, StorageError> {
        self.ensure_writable()?;
        if self.shared.is_some() {
            return Err(StorageError::ReadOnly {
                project: self.paths.root().to_path_buf(),
                reason: "it is shared by several editors, whose work a restore would overwrite; open the backup read-only and copy what you need".into(),
            });
        }
        let restored = backup::open_backup(backup_file)?;
        if self.dirty {
            self.save()?;
        }
        let previous = std::mem::replace(&mut self.project, restored);
        let previous_history = std::mem::replace(&mut self.history, History::new());
        match self.save() {
            Ok(report) => {
                self.steps = StepTracker::default();
                Ok(report)
            }
            Err(e) => {
                // Nothing was committed: put the document back as it was.
                self.project = previous;
                self.history = previous_history;
                Err(e)
            }
        }
    }

    /// Flushes pending edits to the journal and releases the lock. Does not save: unsaved
    /// edits stay in the journal and the next open recovers them. If the flush fails the
    /// session comes back inside the error, so nothing is lost.
    pub fn close(mut self) -> Result<(), CloseError> {
        if self.shared.is_some() {
            // Unsaved shared edits stay in this workstation's journal for the next open.
            return match self.close_shared(false) {
                Ok(()) => {
                    self.closed = true;
                    Ok(())
                }
                Err(error) => Err(CloseError {
                    session: Box::new(self),
                    error,
                }),
            };
        }
        if let Err(error) = self.flush() {
            return Err(CloseError {
                session: Box::new(self),
                error,
            });
        }
        self.release_lock();
        self.closed = true;
        Ok(())
    }

    /// Closes, throwing away edits since the last save. The journal holding them is kept aside
    /// (as `journal.discarded-….jsonl`, deleted after
    /// [`SessionOptions::aside_max_age`](super::SessionOptions)) in case that was a mistake.
    /// Returns where it went, if there was anything to keep.
    pub fn close_discarding_changes(mut self) -> Result<Option<PathBuf>, CloseError> {
        if self.shared.is_some() {
            return match self.close_shared(true) {
                Ok(()) => {
                    self.closed = true;
                    Ok(None)
                }
                Err(error) => Err(CloseError {
                    session: Box::new(self),
                    error,
                }),
            };
        }
        let mut kept = None;
        if self.read_only.is_none() && self.dirty {
            // Flush first so the aside copy holds every discarded edit.
            let _ = self.flush();
            match set_aside(&self.paths, ASIDE_DISCARDED, self.now()) {
                Ok(path) => kept = Some(path),
                Err(e) => {
                    let journal_path = self.paths.journal();
                    return Err(CloseError {
                        error: StorageError::io(
                            "set aside the autosave journal",
                            &journal_path,
                            Access::Write,
                        )(e),
                        session: Box::new(self),
                    });
                }
            }
            self.journal = None;
        }
        self.release_lock();
        self.closed = true;
        Ok(kept)
    }

    fn release_lock(&mut self) {
        if let Some(ours) = self.lock.take() {
            // If the share is gone the lock stays behind; the next open reports it as stale
            // (same host, dead pid) or after its heartbeat ages out.
            let _ = lock::release(&self.paths.lock(), &ours);
        }
    }

    /// Edits made since the last save (or recovered from the journal).
    #[must_use]
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Edits applied but not yet written to the journal.
    #[must_use]
    pub fn pending_edits(&self) -> usize {
        self.journal
            .as_ref()
            .map_or(0, journal::JournalWriter::pending_records)
    }

    #[must_use]
    pub fn project(&self) -> &Project {
        &self.project
    }

    #[must_use]
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Our lock, when the session holds one.
    #[must_use]
    pub fn lock_info(&self) -> Option<&LockInfo> {
        self.lock.as_ref()
    }

    #[must_use]
    pub fn read_only(&self) -> bool {
        self.read_only.is_some()
    }

    /// Why the session is read-only, when it is.
    #[must_use]
    pub fn read_only_reason(&self) -> Option<&str> {
        self.read_only.as_deref()
    }

    /// The project folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.paths.root()
    }

    #[must_use]
    pub fn paths(&self) -> &ProjectPaths {
        &self.paths
    }

    /// The project's content-addressed media store (`assets/`), sharing with the show store its
    /// `store.json` names. A show store that cannot be opened (a broken `store.json`, no S3
    /// credentials) leaves the project's own folder working: [`Session::store_problem`] says
    /// why, and `previz fsck` reports it.
    #[must_use]
    pub fn assets(&self) -> crate::AssetStore {
        self.opened_assets().0.clone()
    }

    /// Why the show store `store.json` names could not be opened, when it could not.
    #[must_use]
    pub fn store_problem(&self) -> Option<String> {
        self.opened_assets().1.clone()
    }

    fn opened_assets(&self) -> &(crate::AssetStore, Option<String>) {
        self.assets
            .get_or_init(|| match crate::AssetStore::for_project(self.paths.root()) {
                Ok(store) => (store, None),
                Err(e) => (
                    crate::AssetStore::new(self.paths.assets()),
                    Some(format!(
                        "the show store named in {} cannot be used ({e}); new media stay in the project's assets/ folder only",
                        self.paths.root().join("store.json").display()
                    )),
                ),
            })
    }
}

impl Drop for Session {
    /// A session dropped without [`Session::close`] (an early return, a panic unwinding)
    /// still writes its pending edits to the journal and releases its lock, best effort.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let _ = self.flush();
        self.release_lock();
        let _ = self.close_shared(false);
    }
}
