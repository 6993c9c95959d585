//! Saving without blocking the caller's thread on the disk or the network.
//!
//! [`Session::begin_save`] serializes the document (in memory, fast) and returns a
//! [`SaveJob`] that any thread can [`run`](SaveJob::run): it writes `project.json`, backs it up
//! and prunes. Meanwhile the session takes edits as usual. [`Session::finish_save`] then starts
//! the journal that follows the save, holding the edits made while it ran.
//!
//! # Crash safety
//!
//! The snapshot holds journal records up to a sequence number `B`; edits during the save get
//! later numbers and keep going into the old journal (base `H1`, the old file's hash). The job
//! first writes `save.marker` = {from `H1`, to `H2` (the new file's hash), through `B`}
//! atomically, then replaces `project.json`. A crash:
//!
//! * before the marker or before the rename: `project.json` is still `H1` and the journal
//!   applies to it in full; open ignores (and deletes) a marker whose `to` is not the file.
//! * after the rename, before [`Session::finish_save`] restarted the journal: `project.json` is
//!   `H2`, the journal names `H1`, the marker says `H1 → H2 through B`: open replays only the
//!   records after `B` (the ones the snapshot does not hold) onto `H2`. Nothing is lost and
//!   nothing is applied twice.
//! * after the journal restart: journal and file agree on `H2`; a leftover marker is stale
//!   (its `from` is not the journal's base) and deleted.

use serde::{Deserialize, Serialize};

use jiff::Timestamp;

use super::Session;
use crate::backup::{self, BackedUp, RetentionPolicy};
use crate::error::{Access, StorageError, describe_io};
use crate::journal;
use crate::layout::ProjectPaths;
use crate::report::SaveReport;
use crate::shared::{SharedSaveDone, SharedSaveJob};

/// What `save.marker` says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SaveMarker {
    pub from: String,
    pub to: String,
    pub through: u64,
}

/// The disk (or network) half of a save, to run on a worker thread.
#[derive(Debug)]
pub struct SaveJob {
    inner: Job,
}

#[derive(Debug)]
enum Job {
    Folder(FolderSave),
    /// A shared project: a conditional write that merges (see `shared_mode`).
    Shared {
        root: std::path::PathBuf,
        job: Box<SharedSaveJob>,
    },
}

#[derive(Debug)]
struct FolderSave {
    paths: ProjectPaths,
    bytes: Vec<u8>,
    marker: SaveMarker,
    now: Timestamp,
    retention: RetentionPolicy,
}

/// What [`SaveJob::run`] wrote, for [`Session::finish_save`].
#[derive(Debug)]
pub struct SaveWritten {
    inner: Written,
}

#[derive(Debug)]
enum Written {
    Folder(FolderWritten),
    Shared(Box<SharedSaveDone>),
}

#[derive(Debug)]
struct FolderWritten {
    hash: String,
    bytes: usize,
    backup: Option<BackedUp>,
    pruned: Vec<String>,
    warnings: Vec<String>,
}

impl SaveJob {
    /// Writes the project: for a folder project the marker, the file, the backup (and prunes
    /// backups); for a shared project the conditional write, merging others' saves.
    pub fn run(self) -> Result<SaveWritten, StorageError> {
        match self.inner {
            Job::Folder(job) => job.run().map(|w| SaveWritten {
                inner: Written::Folder(w),
            }),
            Job::Shared { root, job } => job
                .run()
                .map(|done| SaveWritten {
                    inner: Written::Shared(Box::new(done)),
                })
                .map_err(|e| StorageError::Shared {
                    project: root,
                    source: Box::new(e),
                }),
        }
    }
}

impl FolderSave {
    fn run(self) -> Result<FolderWritten, StorageError> {
        let marker_path = self.paths.save_marker();
        let marker = serde_json::to_vec(&self.marker).unwrap_or_default();
        crate::atomic::write_atomic(&marker_path, &marker).map_err(StorageError::io(
            "start the save",
            &marker_path,
            Access::Write,
        ))?;
        let project_path = self.paths.project();
        if let Err(e) = crate::atomic::write_atomic(&project_path, &self.bytes) {
            // The file was not replaced: the marker names a hash no file has, and open ignores
            // it; removing it now is tidiness.
            let _ = std::fs::remove_file(&marker_path);
            return Err(StorageError::io(
                "save the project",
                &project_path,
                Access::Write,
            )(e));
        }
        let hex = self.marker.to.trim_start_matches("blake3:").to_owned();
        let (backup, pruned, warnings) =
            backup::after_save(&self.paths, self.now, &self.bytes, &hex, self.retention);
        Ok(FolderWritten {
            hash: self.marker.to,
            bytes: self.bytes.len(),
            backup,
            pruned,
            warnings,
        })
    }
}

impl Session {
    /// Starts a save whose disk work runs elsewhere: serializes the document now and returns
    /// the job. Edits may continue until [`Session::finish_save`]. Only one save at a time.
    pub fn begin_save(&mut self) -> Result<SaveJob, StorageError> {
        self.ensure_writable()?;
        if self.saving.is_some() {
            return Err(StorageError::SaveInProgress {
                project: self.paths.root().to_path_buf(),
            });
        }
        if self.shared.is_some() {
            let job = self.begin_shared_save()?;
            self.saving = Some(String::new());
            return Ok(SaveJob {
                inner: Job::Shared {
                    root: self.paths.root().to_path_buf(),
                    job: Box::new(job),
                },
            });
        }
        self.ensure_lock_is_ours()?;
        let now = self.now();
        let bytes = previz_core::format::to_json(&self.project);
        let to = journal::content_hash(&bytes);
        let through = self
            .journal
            .as_mut()
            .map_or(0, journal::JournalWriter::begin_tail);
        self.saving = Some(to.clone());
        Ok(SaveJob {
            inner: Job::Folder(FolderSave {
                paths: self.paths.clone(),
                bytes,
                marker: SaveMarker {
                    from: self.base.clone(),
                    to,
                    through,
                },
                now,
                retention: self.options.retention,
            }),
        })
    }

    /// Whether a background save is in flight.
    #[must_use]
    pub fn save_in_progress(&self) -> bool {
        self.saving.is_some()
    }

    /// Completes a background save with what its job returned. On success the journal restarts
    /// on the new file, holding the edits made while the save ran; on failure nothing changes
    /// (the edits are still journaled against the old file) and the error says what to do.
    pub fn finish_save(
        &mut self,
        written: Result<SaveWritten, StorageError>,
    ) -> Result<SaveReport, StorageError> {
        let Some(expected) = self.saving.take() else {
            return Err(StorageError::SaveInProgress {
                project: self.paths.root().to_path_buf(),
            });
        };
        if let Some(shared) = self.shared.as_mut() {
            return match written {
                Ok(SaveWritten {
                    inner: Written::Shared(done),
                }) => self.finish_shared_save(Ok(*done)),
                Ok(SaveWritten {
                    inner: Written::Folder(_),
                }) => {
                    shared.abandon_save();
                    Err(StorageError::SaveInProgress {
                        project: self.paths.root().to_path_buf(),
                    })
                }
                Err(e) => {
                    shared.abandon_save();
                    Err(e)
                }
            };
        }
        let written = match written {
            Ok(SaveWritten {
                inner: Written::Folder(w),
            }) => Ok(w),
            Ok(SaveWritten {
                inner: Written::Shared(_),
            }) => {
                return Err(StorageError::SaveInProgress {
                    project: self.paths.root().to_path_buf(),
                });
            }
            Err(e) => Err(e),
        };
        let tail = self
            .journal
            .as_mut()
            .map(journal::JournalWriter::end_tail)
            .unwrap_or_default();
        let written = written?;
        debug_assert_eq!(written.hash, expected);
        let now = self.now();
        let mut warnings = written.warnings;
        self.base.clone_from(&written.hash);
        self.dirty = !tail.is_empty();
        self.autosave_problem = None;
        if let Some(writer) = &mut self.journal
            && let Err(e) = writer.restart_with(&written.hash, now, &tail)
        {
            warnings.push(format!(
                "the project was saved, but the autosave journal that follows it could not be started at {} ({}); it will be retried at the next autosave",
                self.paths.journal().display(),
                describe_io(&e)
            ));
        }
        let _ = std::fs::remove_file(self.paths.save_marker());
        self.last_flush = now;
        Ok(SaveReport {
            path: self.paths.project(),
            bytes: written.bytes,
            hash: written.hash,
            backup: written.backup,
            pruned: written.pruned,
            warnings,
            shared: None,
        })
    }

    /// Gives up on a background save whose job never came back (its worker died): the edits
    /// stay journaled against the file on disk.
    pub fn abandon_save(&mut self) {
        if let Some(shared) = self.shared.as_mut() {
            shared.abandon_save();
        }
        if self.saving.take().is_some()
            && let Some(writer) = &mut self.journal
        {
            writer.end_tail();
        }
    }
}

/// Reads `save.marker`, if there is a readable one.
pub(crate) fn read_marker(paths: &ProjectPaths) -> Option<SaveMarker> {
    let bytes = std::fs::read(paths.save_marker()).ok()?;
    serde_json::from_slice(&bytes).ok()
}
