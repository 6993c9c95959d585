//! Many editors on one project: per-scene leases and optimistic concurrency over any
//! [`Backend`] (a folder on the share, or S3).
//!
//! ```text
//! <prefix>/project.json              the document; every save is a conditional write
//! <prefix>/leases/<scene-id>.json    who is working on a scene, until when
//! <prefix>/conflicts/<time>-<user>-<token>.json   edits that could not be merged, kept
//! ```
//!
//! # Saving without losing anyone's work
//!
//! A [`SharedProject`] remembers the version of `project.json` it read (`base`) and the
//! primitive changes made since (`pending`). Saving writes the document only if the stored one
//! is still at `base` ([`PutMode::Replace`]: `If-Match` on S3, a generation link on POSIX). If
//! someone saved in between, the write is refused; the session reads their document, replays
//! its pending changes onto it with [`previz_core::merge::rebase`] (edits that do not overlap
//! merge; overlapping ones become [`Conflict`]s), and tries again. Conflicts are returned to
//! the caller (the studio shows them) and written under `conflicts/` with both values, so an
//! edit is either in the document or reported, never lost silently.
//!
//! # Leases
//!
//! An editor who is going to work on a scene takes its lease: a small object naming the holder
//! (user, host, pid, session token), created only if absent ([`PutMode::Create`]). The holder
//! renews it (a conditional write on the version it holds) well before it expires; another
//! editor can take over a lease that has expired, or whose holder's process is gone on the same
//! host, with a conditional write on the stale version, so two takers cannot both win. While
//! someone else holds a scene's lease, edits to that scene's shots are refused with a message
//! naming them. Work outside scenes (the timeline, markers) takes no lease and relies on the
//! merge alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use previz_core::merge::{Conflict, rebase};
use previz_core::{Applied, Change, EditCommand, EditError, Project, SceneId, format};

use crate::backend::{Backend, BackendError, PutMode, Version, join_key};
use crate::host;
use crate::lock::LockInfo;
use crate::shared_journal::{SharedJournal, project_tag};

/// The document's key under the project prefix.
pub const DOCUMENT_KEY: &str = "project.json";

/// A scene lease as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub scene: SceneId,
    pub holder: LockInfo,
    pub expires: Timestamp,
}

impl Lease {
    /// Whether another editor may take it over now.
    #[must_use]
    pub fn is_stale(&self, now: Timestamp) -> bool {
        if now > self.expires {
            return true;
        }
        self.holder.host == host::host_name() && host::pid_alive(self.holder.pid) == Some(false)
    }
}

/// Why shared editing failed.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("{location} does not hold a readable project: {detail}")]
    Format { location: String, detail: String },
    #[error(
        "scene {scene} is being worked on by {holder} until {expires}; the edit was not made: ask them, or wait for their lease to end"
    )]
    Leased {
        scene: SceneId,
        holder: Box<LockInfo>,
        expires: Timestamp,
    },
    #[error("the edit was refused: {0}")]
    Edit(#[from] EditError),
    #[error(
        "{location} kept changing while saving ({attempts} merges in a row); the edits are still here: save again"
    )]
    Busy { location: String, attempts: u32 },
    #[error(
        "it has unsaved edits; save (or discard) them before sharing the project, then try again"
    )]
    Unsaved,
    #[error("a save of {location} is already running; wait for it to finish")]
    SaveInProgress { location: String },
    #[error(
        "could not journal the edit on this workstation ({0}); it was not made: check the disk holding ~/.cache/previz (PREVIZ_CACHE_DIR)"
    )]
    Journal(String),
}

/// A conflict record as written under `conflicts/`: who, when, and the edits not merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictRecord {
    pub schema: String,
    pub editor: LockInfo,
    pub at: Timestamp,
    pub conflicts: Vec<Conflict>,
}

/// Who is working where, and what did not merge: what `previz shared` shows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SharedStatus {
    /// Every lease on record, with whether it is stale.
    pub leases: Vec<(Lease, bool)>,
    /// Every conflict record, oldest first, by key.
    pub conflicts: Vec<(String, ConflictRecord)>,
    /// Records that did not read (damaged or foreign), by key, with why.
    pub unreadable: Vec<(String, String)>,
}

/// Reads the leases and conflict records of the shared project under `prefix`.
pub fn status(backend: &dyn Backend, prefix: &str) -> Result<SharedStatus, SharedError> {
    let now = Timestamp::now();
    let mut out = SharedStatus::default();
    for meta in backend.list(&join_key(prefix, "leases/"))? {
        let bytes = match backend.get(&meta.key) {
            Ok((b, _)) => b,
            Err(BackendError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        match serde_json::from_slice::<Lease>(&bytes) {
            Ok(lease) => {
                let stale = lease.is_stale(now);
                out.leases.push((lease, stale));
            }
            Err(e) => out.unreadable.push((meta.key, e.to_string())),
        }
    }
    for meta in backend.list(&join_key(prefix, "conflicts/"))? {
        let bytes = match backend.get(&meta.key) {
            Ok((b, _)) => b,
            Err(BackendError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        match serde_json::from_slice::<ConflictRecord>(&bytes) {
            Ok(record) => out.conflicts.push((meta.key, record)),
            Err(e) => out.unreadable.push((meta.key, e.to_string())),
        }
    }
    Ok(out)
}

/// Marks conflict records as dealt with: each record named (a key `status` returned) moves
/// from `conflicts/` to `conflicts-resolved/`, where it is kept for the record. Returns how
/// many moved; a record already moved by someone else is not an error.
pub fn resolve_conflicts(
    backend: &dyn Backend,
    prefix: &str,
    keys: &[String],
) -> Result<usize, SharedError> {
    let from = join_key(prefix, "conflicts/");
    let mut moved = 0;
    for key in keys {
        let Some(name) = key.strip_prefix(&from).filter(|n| !n.contains('/')) else {
            return Err(SharedError::Format {
                location: backend.location(key),
                detail: format!("not a conflict record (they are under {from})"),
            });
        };
        let bytes = match backend.get(key) {
            Ok((bytes, _)) => bytes,
            Err(BackendError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let to = join_key(prefix, &format!("conflicts-resolved/{name}"));
        backend.put(&to, &bytes, PutMode::Overwrite)?;
        match backend.delete(key) {
            Ok(()) | Err(BackendError::NotFound { .. }) => moved += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(moved)
}

/// What taking a lease did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired,
    /// Taken over from a holder whose lease had expired or whose process is gone.
    TookOver {
        from: Box<LockInfo>,
    },
    /// Held by someone else, live.
    Held {
        by: Box<Lease>,
    },
}

/// What a save did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Saved {
    /// The stored document's new version (a generation on POSIX, an ETag on S3).
    pub version: Option<Version>,
    /// How many times someone else had saved first and their edits were merged in.
    pub merges: u32,
    /// Edits that could not be merged (also written under `conflicts/`).
    pub conflicts: Vec<Conflict>,
    /// Where they were written.
    pub conflict_record: Option<String>,
}

/// Options of a shared session.
#[derive(Clone, Debug)]
pub struct SharedOptions {
    /// How long a lease lasts without renewal.
    pub lease_ttl: Duration,
    /// The program written into leases.
    pub app: String,
    /// Give up a save after this many merges in a row (someone saving constantly).
    pub max_merges: u32,
    /// Where unsaved edits are journalled on this workstation (`None`: not journalled).
    /// Default: `$PREVIZ_CACHE_DIR/../shared-journal`, i.e. `~/.cache/previz/shared-journal`.
    pub journal_dir: Option<std::path::PathBuf>,
}

impl Default for SharedOptions {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(120),
            app: format!("Previz {}", env!("CARGO_PKG_VERSION")),
            max_merges: 50,
            journal_dir: Some(default_journal_dir()),
        }
    }
}

fn default_journal_dir() -> std::path::PathBuf {
    crate::store::ReadCache::default_for_user()
        .dir()
        .parent()
        .map_or_else(std::env::temp_dir, std::path::Path::to_path_buf)
        .join("shared-journal")
}

#[derive(Clone, Debug)]
struct HeldLease {
    version: Version,
    lease: Lease,
}

/// One editor's view of a shared project.
#[derive(Debug)]
pub struct SharedProject {
    backend: Arc<dyn Backend>,
    prefix: String,
    options: SharedOptions,
    me: LockInfo,
    base: Project,
    base_version: Version,
    doc: Project,
    pending: Vec<Change>,
    held: BTreeMap<SceneId, HeldLease>,
    /// Others' leases as last seen.
    others: BTreeMap<SceneId, Lease>,
    journal: Option<SharedJournal>,
    /// What was recovered from a crashed session's journal on open.
    recovered: Option<Recovered>,
    /// A background save in flight: the document it writes and how many pending edits it holds.
    saving: Option<(Project, usize)>,
    /// Scenes edited here whose lease is not held yet ([`SharedProject::maintain`] takes them).
    wanted: std::collections::BTreeSet<SceneId>,
    /// When leases were last renewed and others' leases last read.
    last_renew: Timestamp,
    last_refresh: Timestamp,
}

/// Unsaved edits of a crashed session of this workstation, found on open and merged in.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// Edits now pending again (save to keep them).
    pub edits: usize,
    /// Edits that no longer merge with the document as it is now.
    pub conflicts: Vec<Conflict>,
    /// The journals read (renamed `*.recovered`, kept).
    pub journals: Vec<std::path::PathBuf>,
}

impl SharedProject {
    /// Stores a new project under `prefix` (fails if one is there).
    pub fn create(
        backend: Arc<dyn Backend>,
        prefix: &str,
        project: &Project,
        options: SharedOptions,
    ) -> Result<Self, SharedError> {
        let key = join_key(prefix, DOCUMENT_KEY);
        backend.put(&key, &format::to_json(project), PutMode::Create)?;
        Self::open(backend, prefix, options)
    }

    /// Opens the project stored under `prefix`.
    pub fn open(
        backend: Arc<dyn Backend>,
        prefix: &str,
        options: SharedOptions,
    ) -> Result<Self, SharedError> {
        let me = LockInfo::for_this_process(&options.app, Timestamp::now());
        let (doc, version) = read_document(backend.as_ref(), prefix)?;
        let tag = project_tag(&backend.location(&join_key(prefix, DOCUMENT_KEY)));
        let journal = options
            .journal_dir
            .as_deref()
            .map(|dir| SharedJournal::new(dir, &tag, &me.token));
        let orphans = options
            .journal_dir
            .as_deref()
            .map(|dir| SharedJournal::orphans(dir, &tag))
            .unwrap_or_default();
        let mut this = Self {
            backend,
            prefix: prefix.to_owned(),
            options,
            me,
            base: doc.clone(),
            base_version: version,
            doc,
            pending: Vec::new(),
            held: BTreeMap::new(),
            others: BTreeMap::new(),
            journal,
            recovered: None,
            saving: None,
            wanted: std::collections::BTreeSet::new(),
            last_renew: Timestamp::now(),
            last_refresh: Timestamp::now(),
        };
        if !orphans.is_empty() {
            let mut recovered = Recovered {
                edits: 0,
                conflicts: Vec::new(),
                journals: Vec::new(),
            };
            for orphan in orphans {
                let rebased = rebase(&orphan.base, &orphan.changes, &this.doc);
                this.doc = rebased.merged;
                recovered.edits += rebased.applied.len();
                this.pending.extend(rebased.applied);
                recovered.conflicts.extend(rebased.conflicts);
                recovered.journals.push(orphan.journal);
            }
            this.journal_restart()?;
            this.recovered = Some(recovered);
        }
        this.refresh_leases()?;
        Ok(this)
    }

    /// Unsaved edits of a crashed session recovered when this one opened.
    #[must_use]
    pub fn recovered(&self) -> Option<&Recovered> {
        self.recovered.as_ref()
    }

    /// Rewrites the local journal for the current base and pending edits.
    fn journal_restart(&mut self) -> Result<(), SharedError> {
        if let Some(j) = self.journal.as_mut() {
            j.restart(&self.base, &self.base_version.0, &self.pending)
                .map_err(|e| SharedError::Journal(e.to_string()))?;
        }
        Ok(())
    }

    /// The document as this editor sees it (base + pending edits).
    #[must_use]
    pub fn doc(&self) -> &Project {
        &self.doc
    }

    /// This editor's identity, as written in its leases.
    #[must_use]
    pub fn editor(&self) -> &LockInfo {
        &self.me
    }

    /// Edits made since the last save or reload.
    #[must_use]
    pub fn pending(&self) -> &[Change] {
        &self.pending
    }

    /// The version of the stored document this editor last read or wrote.
    #[must_use]
    pub fn version(&self) -> &Version {
        &self.base_version
    }

    fn key(&self, key: &str) -> String {
        join_key(&self.prefix, key)
    }

    fn lease_key(&self, scene: SceneId) -> String {
        self.key(&format!("leases/{scene}.json"))
    }

    /// Applies an edit. Edits of a scene someone else holds the lease of are refused.
    pub fn apply(&mut self, command: &EditCommand) -> Result<Applied, SharedError> {
        let mut scratch = self.doc.clone();
        let applied = scratch.apply(command)?;
        self.check_leases(&scratch, &applied.redo)?;
        self.admit(&applied.redo, Some(scratch))?;
        Ok(applied)
    }

    /// Takes an edit the caller applied to its own copy of the document (a [`Session`]
    /// applies through its undo history): refused, when `check` is set, if it touches a scene
    /// another live editor leases; otherwise journalled and made pending. `after` is the
    /// caller's document with the edit, `redo` the changes it made. On error nothing here
    /// changed and the caller takes the edit back.
    ///
    /// [`Session`]: crate::Session
    pub fn accept(
        &mut self,
        after: &Project,
        redo: &[Change],
        check: bool,
    ) -> Result<(), SharedError> {
        if redo.is_empty() {
            return Ok(());
        }
        if check {
            self.check_leases(after, redo)?;
        }
        self.admit(redo, None)
    }

    fn check_leases(&self, after: &Project, redo: &[Change]) -> Result<(), SharedError> {
        if self.others.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        for scene in scenes_touched(&self.doc, after, redo) {
            if self.held.contains_key(&scene) {
                continue;
            }
            if let Some(lease) = self.others.get(&scene)
                && !lease.is_stale(now)
                && !lease.holder.same_session(&self.me)
            {
                return Err(SharedError::Leased {
                    scene,
                    holder: Box::new(lease.holder.clone()),
                    expires: lease.expires,
                });
            }
        }
        Ok(())
    }

    /// Journals `redo` (before it counts: a crash after this loses nothing), then applies it
    /// here (`after`, when the caller already has the result) and makes it pending.
    fn admit(&mut self, redo: &[Change], after: Option<Project>) -> Result<(), SharedError> {
        if let Some(j) = self.journal.as_mut() {
            let written = if j.is_started() {
                j.append(redo)
            } else {
                let mut all = self.pending.clone();
                all.extend(redo.iter().cloned());
                j.restart(&self.base, &self.base_version.0, &all)
            };
            written.map_err(|e| SharedError::Journal(e.to_string()))?;
        }
        let mut touched = Vec::new();
        scenes_in(&self.doc, redo, &mut touched);
        match after {
            Some(after) => self.doc = after,
            None => {
                if let Err(e) = self.doc.apply_changes(redo) {
                    // The copies disagree (a bug, not the user's doing): make the journal
                    // match what is pending again and refuse the edit.
                    let _ = self.journal_restart();
                    return Err(e.into());
                }
            }
        }
        scenes_in(&self.doc, redo, &mut touched);
        for scene in touched {
            if !self.held.contains_key(&scene) {
                self.wanted.insert(scene);
            }
        }
        self.pending.extend(redo.iter().cloned());
        Ok(())
    }

    /// Rereads everyone's leases (the studio does this every few seconds).
    pub fn refresh_leases(&mut self) -> Result<(), SharedError> {
        let prefix = self.key("leases/");
        let mut others = BTreeMap::new();
        for meta in self.backend.list(&prefix)? {
            let (bytes, _) = match self.backend.get(&meta.key) {
                Ok(found) => found,
                Err(BackendError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            // A damaged lease is ignored rather than blocking the scene forever.
            if let Ok(lease) = serde_json::from_slice::<Lease>(&bytes)
                && !lease.holder.same_session(&self.me)
            {
                others.insert(lease.scene, lease);
            }
        }
        self.others = others;
        Ok(())
    }

    /// Others' live leases.
    #[must_use]
    pub fn leases_of_others(&self) -> Vec<&Lease> {
        let now = Timestamp::now();
        self.others.values().filter(|l| !l.is_stale(now)).collect()
    }

    /// The lease this editor holds on a scene.
    #[must_use]
    pub fn held_lease(&self, scene: SceneId) -> Option<&Lease> {
        self.held.get(&scene).map(|h| &h.lease)
    }

    /// Scenes this editor holds.
    #[must_use]
    pub fn held_scenes(&self) -> Vec<SceneId> {
        self.held.keys().copied().collect()
    }

    fn new_lease(&self, scene: SceneId, now: Timestamp) -> Lease {
        let mut holder = self.me.clone();
        holder.heartbeat = now;
        Lease {
            scene,
            holder,
            expires: now
                + jiff::SignedDuration::try_from(self.options.lease_ttl).unwrap_or_default(),
        }
    }

    /// Takes a scene's lease.
    pub fn acquire(&mut self, scene: SceneId) -> Result<LeaseOutcome, SharedError> {
        let key = self.lease_key(scene);
        let now = Timestamp::now();
        let lease = self.new_lease(scene, now);
        let bytes = lease_bytes(&lease);
        match self.backend.put(&key, &bytes, PutMode::Create) {
            Ok(version) => {
                self.held.insert(scene, HeldLease { version, lease });
                self.others.remove(&scene);
                return Ok(LeaseOutcome::Acquired);
            }
            Err(BackendError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let (current, version) = match self.backend.get(&key) {
            Ok(found) => found,
            // Released meanwhile: try once more from the start.
            Err(BackendError::NotFound { .. }) => {
                return match self.backend.put(&key, &bytes, PutMode::Create) {
                    Ok(version) => {
                        self.held.insert(scene, HeldLease { version, lease });
                        Ok(LeaseOutcome::Acquired)
                    }
                    Err(BackendError::AlreadyExists { .. }) => self.acquire_held(scene),
                    Err(e) => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let existing: Option<Lease> = serde_json::from_slice(&current).ok();
        if let Some(existing) = &existing {
            if existing.holder.same_session(&self.me) {
                self.held.insert(
                    scene,
                    HeldLease {
                        version,
                        lease: existing.clone(),
                    },
                );
                return Ok(LeaseOutcome::Acquired);
            }
            if !existing.is_stale(now) {
                self.others.insert(scene, existing.clone());
                return Ok(LeaseOutcome::Held {
                    by: Box::new(existing.clone()),
                });
            }
        }
        // Stale (or unreadable): take it over, conditionally on the version judged stale.
        match self.backend.put(&key, &bytes, PutMode::Replace(version)) {
            Ok(version) => {
                self.held.insert(scene, HeldLease { version, lease });
                self.others.remove(&scene);
                Ok(match existing {
                    Some(old) => LeaseOutcome::TookOver {
                        from: Box::new(old.holder),
                    },
                    None => LeaseOutcome::Acquired,
                })
            }
            Err(BackendError::Changed { .. } | BackendError::AlreadyExists { .. }) => {
                self.acquire_held(scene)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Someone else won a race for the lease: report who.
    fn acquire_held(&mut self, scene: SceneId) -> Result<LeaseOutcome, SharedError> {
        let (bytes, _) = self.backend.get(&self.lease_key(scene))?;
        let lease: Lease = serde_json::from_slice(&bytes).map_err(|e| SharedError::Format {
            location: self.backend.location(&self.lease_key(scene)),
            detail: e.to_string(),
        })?;
        self.others.insert(scene, lease.clone());
        Ok(LeaseOutcome::Held {
            by: Box::new(lease),
        })
    }

    /// Renews every lease held (call well within the lease time: the studio does it every
    /// 30 s). Returns the scenes whose lease was lost (taken over after it expired).
    pub fn renew(&mut self) -> Result<Vec<SceneId>, SharedError> {
        let now = Timestamp::now();
        let mut lost = Vec::new();
        let scenes: Vec<SceneId> = self.held.keys().copied().collect();
        for scene in scenes {
            let Some(held) = self.held.get(&scene).cloned() else {
                continue;
            };
            let lease = self.new_lease(scene, now);
            match self.backend.put(
                &self.lease_key(scene),
                &lease_bytes(&lease),
                PutMode::Replace(held.version),
            ) {
                Ok(version) => {
                    self.held.insert(scene, HeldLease { version, lease });
                }
                Err(BackendError::Changed { .. } | BackendError::NotFound { .. }) => {
                    self.held.remove(&scene);
                    lost.push(scene);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(lost)
    }

    /// Gives a scene's lease back.
    pub fn release(&mut self, scene: SceneId) -> Result<(), SharedError> {
        let Some(held) = self.held.remove(&scene) else {
            return Ok(());
        };
        let key = self.lease_key(scene);
        // Only delete it if it is still ours (a takeover after expiry leaves it alone).
        match self.backend.get(&key) {
            Ok((_, version)) if version == held.version => self.backend.delete(&key)?,
            Ok(_) | Err(BackendError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Releases every lease held.
    pub fn release_all(&mut self) -> Result<(), SharedError> {
        for scene in self.held_scenes() {
            self.release(scene)?;
        }
        Ok(())
    }

    /// Reads others' saves and merges the pending edits onto them without writing; returns the
    /// conflicts (the edits concerned are no longer pending).
    pub fn reload(&mut self) -> Result<Vec<Conflict>, SharedError> {
        if self.saving.is_some() {
            return Ok(Vec::new());
        }
        let (theirs, version) = read_document(self.backend.as_ref(), &self.prefix)?;
        if version == self.base_version {
            return Ok(Vec::new());
        }
        let conflicts = self.merge_onto(theirs, version);
        if !conflicts.is_empty() {
            self.record_conflicts(&conflicts)?;
        }
        self.refresh_leases()?;
        Ok(conflicts)
    }

    fn merge_onto(&mut self, theirs: Project, version: Version) -> Vec<Conflict> {
        let rebased = rebase(&self.base, &self.pending, &theirs);
        self.base = theirs;
        self.base_version = version;
        self.doc = rebased.merged;
        self.pending = rebased.applied;
        // The pending edits are now relative to the new base; a journal failure here is
        // reported at the next edit (its append finds the journal not started).
        if self.journal_restart().is_err()
            && let Some(j) = self.journal.as_mut()
        {
            let _ = j.clear();
        }
        rebased.conflicts
    }

    /// Saves: a conditional write; when someone saved first, merge and try again.
    pub fn save(&mut self) -> Result<Saved, SharedError> {
        let job = self.begin_save()?;
        let done = job.run();
        self.finish_save(done)
    }

    /// Starts a save whose network or disk half ([`SharedSaveJob::run`]) runs on another
    /// thread; edits may continue meanwhile. Complete it with [`SharedProject::finish_save`].
    pub fn begin_save(&mut self) -> Result<SharedSaveJob, SharedError> {
        if self.saving.is_some() {
            return Err(SharedError::SaveInProgress {
                location: self.backend.location(&self.key(DOCUMENT_KEY)),
            });
        }
        self.saving = Some((self.doc.clone(), self.pending.len()));
        Ok(SharedSaveJob {
            backend: Arc::clone(&self.backend),
            prefix: self.prefix.clone(),
            me: self.me.clone(),
            max_merges: self.options.max_merges,
            base: self.base.clone(),
            base_version: self.base_version.clone(),
            pending: self.pending.clone(),
            doc: self.doc.clone(),
        })
    }

    /// Whether a background save is in flight.
    #[must_use]
    pub fn save_in_progress(&self) -> bool {
        self.saving.is_some()
    }

    /// Completes a save with what its job returned. Edits made while it ran are replayed onto
    /// the document as stored (they merge like anyone else's); on failure nothing changes and
    /// every edit is still pending.
    pub fn finish_save(
        &mut self,
        done: Result<SharedSaveDone, SharedError>,
    ) -> Result<Saved, SharedError> {
        let Some((snapshot, held)) = self.saving.take() else {
            return Err(SharedError::SaveInProgress {
                location: self.backend.location(&self.key(DOCUMENT_KEY)),
            });
        };
        let mut done = done?;
        let tail = self.pending.split_off(held.min(self.pending.len()));
        self.base_version = done.version;
        if tail.is_empty() {
            self.doc = done.stored.clone();
            self.pending.clear();
        } else {
            let rebased = rebase(&snapshot, &tail, &done.stored);
            self.doc = rebased.merged;
            self.pending = rebased.applied;
            if !rebased.conflicts.is_empty() {
                done.saved.conflict_record = Some(self.record_conflicts(&rebased.conflicts)?);
                done.saved.conflicts.extend(rebased.conflicts);
            }
        }
        self.base = done.stored;
        if self.pending.is_empty() {
            if let Some(j) = self.journal.as_mut() {
                j.clear().map_err(|e| SharedError::Journal(e.to_string()))?;
            }
        } else {
            self.journal_restart()?;
        }
        Ok(done.saved)
    }

    /// Gives up on a background save whose job never came back: every edit stays pending.
    pub fn abandon_save(&mut self) {
        self.saving = None;
    }

    /// Drops the unsaved edits (the document goes back to the last one read or saved) and
    /// clears their journal on this workstation.
    pub fn discard(&mut self) -> Result<(), SharedError> {
        self.doc = self.base.clone();
        self.pending.clear();
        if let Some(j) = self.journal.as_mut() {
            j.clear().map_err(|e| SharedError::Journal(e.to_string()))?;
        }
        Ok(())
    }

    /// Keeps the leases alive: takes the leases of scenes edited here since the last call,
    /// renews the ones held every third of the lease time, and rereads everyone's leases
    /// every `refresh`. Cheap when nothing is due: call it from a timer or every frame.
    pub fn maintain(&mut self, refresh: Duration) -> Result<Maintained, SharedError> {
        let now = Timestamp::now();
        let mut out = Maintained::default();
        let renew_every = self.options.lease_ttl / 3;
        if elapsed(self.last_renew, now) >= renew_every && !self.held.is_empty() {
            self.last_renew = now;
            out.lost = self.renew()?;
        }
        let wanted = std::mem::take(&mut self.wanted);
        for scene in wanted {
            if self.held.contains_key(&scene) {
                continue;
            }
            match self.acquire(scene)? {
                LeaseOutcome::Acquired => out.acquired.push(scene),
                LeaseOutcome::TookOver { from } => {
                    out.acquired.push(scene);
                    out.took_over.push((scene, *from));
                }
                LeaseOutcome::Held { by } => out.held_by_others.push(*by),
            }
        }
        if elapsed(self.last_refresh, now) >= refresh {
            self.last_refresh = now;
            self.refresh_leases()?;
            out.refreshed = true;
        }
        Ok(out)
    }

    /// Keeps conflicts where the team can see them; returns where.
    fn record_conflicts(&self, conflicts: &[Conflict]) -> Result<String, SharedError> {
        record_conflicts(self.backend.as_ref(), &self.prefix, &self.me, conflicts)
    }
}

/// What [`SharedProject::maintain`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Maintained {
    /// Scenes whose lease was taken.
    pub acquired: Vec<SceneId>,
    /// Of those, the ones taken over from an editor whose lease had run out, and who.
    pub took_over: Vec<(SceneId, LockInfo)>,
    /// Leases of edited scenes that someone else holds (their edits merge at save).
    pub held_by_others: Vec<Lease>,
    /// Leases held here that someone took over after they expired.
    pub lost: Vec<SceneId>,
    /// Whether everyone's leases were reread.
    pub refreshed: bool,
}

fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(since)).unwrap_or(Duration::MAX)
}

/// The network half of a save, to run on a worker thread (see [`SharedProject::begin_save`]).
#[derive(Debug)]
pub struct SharedSaveJob {
    backend: Arc<dyn Backend>,
    prefix: String,
    me: LockInfo,
    max_merges: u32,
    base: Project,
    base_version: Version,
    pending: Vec<Change>,
    doc: Project,
}

/// What a [`SharedSaveJob`] did, for [`SharedProject::finish_save`].
#[derive(Debug)]
pub struct SharedSaveDone {
    /// The document as stored now, and its version.
    stored: Project,
    version: Version,
    saved: Saved,
}

impl SharedSaveJob {
    /// Writes the document if nobody saved since it was read; otherwise reads theirs, merges
    /// the pending edits onto it and tries again (at most `max_merges` times).
    pub fn run(mut self) -> Result<SharedSaveDone, SharedError> {
        let key = join_key(&self.prefix, DOCUMENT_KEY);
        let mut saved = Saved::default();
        loop {
            if self.pending.is_empty() {
                // Nothing to write, or everything pending merged away or conflicted: the
                // stored document stands.
                saved.version = Some(self.base_version.clone());
                break;
            }
            let bytes = format::to_json(&self.doc);
            match self
                .backend
                .put(&key, &bytes, PutMode::Replace(self.base_version.clone()))
            {
                Ok(version) => {
                    self.base = std::mem::replace(&mut self.doc, Project::new(""));
                    self.base_version = version.clone();
                    self.pending.clear();
                    saved.version = Some(version);
                    break;
                }
                Err(BackendError::Changed { .. }) => {
                    saved.merges += 1;
                    if saved.merges > self.max_merges {
                        return Err(SharedError::Busy {
                            location: self.backend.location(&key),
                            attempts: saved.merges,
                        });
                    }
                    let (theirs, version) = read_document(self.backend.as_ref(), &self.prefix)?;
                    let rebased = rebase(&self.base, &self.pending, &theirs);
                    self.base = theirs;
                    self.base_version = version;
                    self.doc = rebased.merged;
                    self.pending = rebased.applied;
                    saved.conflicts.extend(rebased.conflicts);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !saved.conflicts.is_empty() {
            saved.conflict_record = Some(record_conflicts(
                self.backend.as_ref(),
                &self.prefix,
                &self.me,
                &saved.conflicts,
            )?);
        }
        Ok(SharedSaveDone {
            stored: self.base,
            version: self.base_version,
            saved,
        })
    }
}

/// Keeps conflicts where the team can see them (`conflicts/` under `prefix`); returns where.
fn record_conflicts(
    backend: &dyn Backend,
    prefix: &str,
    me: &LockInfo,
    conflicts: &[Conflict],
) -> Result<String, SharedError> {
    let now = Timestamp::now();
    let key = join_key(
        prefix,
        &format!(
            "conflicts/{}-{}-{}.json",
            now.strftime("%Y%m%dT%H%M%S%.3fZ"),
            safe_name(&me.user),
            host::random_hex(6)
        ),
    );
    let record = ConflictRecord {
        schema: "previz.conflicts/1".into(),
        editor: me.clone(),
        at: now,
        conflicts: conflicts.to_vec(),
    };
    let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
    backend.put(&key, &bytes, PutMode::Create)?;
    Ok(backend.location(&key))
}

fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(32)
        .collect()
}

fn lease_bytes(lease: &Lease) -> Vec<u8> {
    serde_json::to_vec_pretty(lease).unwrap_or_default()
}

fn read_document(backend: &dyn Backend, prefix: &str) -> Result<(Project, Version), SharedError> {
    let key = join_key(prefix, DOCUMENT_KEY);
    let (bytes, version) = backend.get(&key)?;
    let doc = format::from_json(&bytes).map_err(|e| SharedError::Format {
        location: backend.location(&key),
        detail: e.to_string(),
    })?;
    Ok((doc, version))
}

/// The scenes whose shots a change list touches, in the document before and after.
fn scenes_touched(before: &Project, after: &Project, changes: &[Change]) -> Vec<SceneId> {
    let mut scenes = Vec::new();
    scenes_in(before, changes, &mut scenes);
    scenes_in(after, changes, &mut scenes);
    scenes
}

/// Adds the scenes `doc` places the shots `changes` touch in (and those of inserted shots).
fn scenes_in(doc: &Project, changes: &[Change], scenes: &mut Vec<SceneId>) {
    let mut add = |scene: SceneId| {
        if !scenes.contains(&scene) {
            scenes.push(scene);
        }
    };
    for change in changes {
        let shot = match change {
            Change::InsertShot { shot, .. } => {
                add(shot.scene);
                Some(shot.id)
            }
            Change::RemoveShot { shot }
            | Change::MoveShot { shot, .. }
            | Change::SetShotField { shot, .. }
            | Change::InsertTake { shot, .. }
            | Change::RemoveTake { shot, .. }
            | Change::SetActiveTake { shot, .. } => Some(*shot),
            _ => None,
        };
        if let Some(shot) = shot
            && let Some(s) = doc.shot(shot)
        {
            add(s.scene);
        }
    }
}
