//! A [`Session`] on a project several editors share.
//!
//! A project folder whose `project.json` is versioned (`project.json.gen/`, see
//! [`crate::shared`]) is shared: opening it for writing gives a session backed by a
//! [`SharedProject`] on the folder instead of the single-writer lock and journal. Everything
//! the studio and the CLI do with a session works the same; what differs:
//!
//! * **Edits** go through the undo history as usual, and are also checked against the scene
//!   leases others hold (an edit of a scene someone else is working on is refused, naming them)
//!   and journalled on this workstation (`~/.cache/previz/shared-journal`), not in the shared
//!   folder, before they count. A session that dies with unsaved edits gets them back on the
//!   next open on this workstation.
//! * **Leases**: the scenes edited are leased by [`Session::tick`] (which also renews them and
//!   rereads everyone's leases every [`SessionOptions::lease_refresh`]); closing releases them.
//! * **Saving** is a conditional write; when someone saved first their document is read and
//!   this editor's unsaved edits are replayed onto it, so edits that do not overlap merge and
//!   the ones that do are reported in [`SaveReport::shared`] (and kept under `conflicts/`).
//!   After a merge the session's document is the merged one. No backups are written: the
//!   folder keeps the last generations of `project.json` itself.
//!
//! [`SessionOptions::lease_refresh`]: super::SessionOptions::lease_refresh

use std::sync::Arc;

use previz_core::Project;

use super::{Session, SessionOptions};
use crate::backend::posix::PosixBackend;
use crate::error::StorageError;
use crate::layout::ProjectPaths;
use crate::report::{OpenReport, SaveReport, TickReport};
use crate::shared::{DOCUMENT_KEY, SharedError, SharedProject, SharedSaveDone};

/// The folder that makes a project shared: `project.json`'s generations.
pub(crate) const SHARED_MARKER: &str = "project.json.gen";

impl Session {
    pub(super) fn open_shared(
        paths: ProjectPaths,
        options: SessionOptions,
    ) -> Result<(Session, OpenReport), StorageError> {
        let backend = Arc::new(PosixBackend::new(paths.root()));
        let mut shared_options = options.shared.clone();
        shared_options.app.clone_from(&options.app);
        let shared =
            SharedProject::open(backend, "", shared_options).map_err(|e| StorageError::Shared {
                project: paths.root().to_path_buf(),
                source: Box::new(e),
            })?;
        let mut report = OpenReport::default();
        if let Some(recovered) = shared.recovered() {
            report.warnings.push(format!(
                "recovered {} unsaved edit(s) of a session on this workstation that ended without saving; save to keep them",
                recovered.edits
            ));
            for conflict in &recovered.conflicts {
                report.warnings.push(format!(
                    "a recovered edit of {} no longer merges ({}); it was not applied",
                    conflict.region, conflict.reason
                ));
            }
        }
        let project = shared.doc().clone();
        let dirty = !shared.pending().is_empty();
        let mut session = Self::assemble(
            paths,
            project,
            previz_core::History::new(),
            options,
            None,
            None,
            String::new(),
            dirty,
        );
        session.read_only = None;
        session.shared = Some(shared);
        Ok((session, report))
    }

    /// Whether several editors share this project (see the [module docs](self)).
    #[must_use]
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// The shared side of the session: leases held and seen, this editor's identity.
    #[must_use]
    pub fn shared(&self) -> Option<&SharedProject> {
        self.shared.as_ref()
    }

    fn shared_error(&self, e: SharedError) -> StorageError {
        StorageError::Shared {
            project: self.paths.root().to_path_buf(),
            source: Box::new(e),
        }
    }

    pub(super) fn tick_shared(&mut self, report: &mut TickReport) {
        let refresh = self.options.lease_refresh;
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        match shared.maintain(refresh) {
            Ok(done) => {
                for scene in &done.lost {
                    report.warnings.push(format!(
                        "your lease on scene {scene} ran out and someone took it over; your edits there will merge at save, or be shown as conflicts"
                    ));
                }
                report.leases = Some(done);
            }
            Err(e) => report.warnings.push(format!(
                "could not update the scene leases of {}: {e}",
                self.paths.root().display()
            )),
        }
    }

    pub(super) fn save_shared(&mut self) -> Result<SaveReport, StorageError> {
        let job = self.begin_shared_save()?;
        let done = job.run();
        self.finish_shared_save(done)
    }

    pub(super) fn begin_shared_save(
        &mut self,
    ) -> Result<crate::shared::SharedSaveJob, StorageError> {
        let result = match self.shared.as_mut() {
            Some(shared) => shared.begin_save(),
            None => {
                return Err(StorageError::ReadOnly {
                    project: self.paths.root().to_path_buf(),
                    reason: "it is not shared".into(),
                });
            }
        };
        result.map_err(|e| self.shared_error(e))
    }

    pub(super) fn finish_shared_save(
        &mut self,
        done: Result<SharedSaveDone, SharedError>,
    ) -> Result<SaveReport, StorageError> {
        let Some(shared) = self.shared.as_mut() else {
            return Err(StorageError::SaveInProgress {
                project: self.paths.root().to_path_buf(),
            });
        };
        let pending_before = shared.pending().len();
        let saved = match shared.finish_save(done) {
            Ok(saved) => saved,
            Err(e) => return Err(self.shared_error(e)),
        };
        // Others' work merged in (or edits of ours dropped as conflicts): the document shown
        // becomes the merged one. Without either, it is already what was written.
        if saved.merges > 0
            || !saved.conflicts.is_empty()
            || pending_before != shared.pending().len()
        {
            self.project = shared.doc().clone();
        }
        self.dirty = !shared.pending().is_empty();
        self.autosave_problem = None;
        let bytes = previz_core::format::to_json(&self.project);
        Ok(SaveReport {
            path: self.paths.root().join(DOCUMENT_KEY),
            bytes: bytes.len(),
            hash: crate::journal::content_hash(&bytes),
            backup: None,
            pruned: Vec::new(),
            warnings: Vec::new(),
            shared: Some(saved),
        })
    }

    /// Releases the scene leases (closing); the workstation journal of unsaved edits stays for
    /// the next open to recover.
    pub(super) fn close_shared(&mut self, discard: bool) -> Result<(), StorageError> {
        let Some(shared) = self.shared.as_mut() else {
            return Ok(());
        };
        let discarded = if discard { shared.discard() } else { Ok(()) };
        let released = shared.release_all();
        discarded.and(released).map_err(|e| self.shared_error(e))
    }

    /// Turns a project folder into a shared one: its `project.json` becomes versioned, so
    /// every later save is a conditional write. The project must be saved and not open
    /// elsewhere (the single-writer lock is taken for the change and released after).
    pub fn share(dir: impl AsRef<std::path::Path>) -> Result<(), StorageError> {
        let (session, _) = Session::open(dir.as_ref(), super::OpenMode::ReadWrite)?;
        if session.is_shared() {
            return Ok(());
        }
        if session.is_dirty() {
            let root = session.paths.root().to_path_buf();
            let _ = session.close();
            return Err(StorageError::Shared {
                project: root,
                source: Box::new(SharedError::Unsaved),
            });
        }
        let backend = PosixBackend::new(session.paths.root());
        let result = share_document(&backend, &session.project);
        let root = session.paths.root().to_path_buf();
        let _ = session.close();
        result.map_err(|e| StorageError::Shared {
            project: root,
            source: Box::new(e),
        })
    }
}

/// Rewrites `project.json` as the first generation of a versioned object.
fn share_document(backend: &PosixBackend, project: &Project) -> Result<(), SharedError> {
    use crate::backend::{Backend, PutMode};
    let (_, version) = backend.get(DOCUMENT_KEY)?;
    backend.put(
        DOCUMENT_KEY,
        &previz_core::format::to_json(project),
        PutMode::Replace(version),
    )?;
    Ok(())
}
