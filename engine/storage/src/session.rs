//! An open project: the document, its undo history, its lock and its autosave journal.
//!
//! # Crash safety of [`Session::save`]
//!
//! On disk the pair (`project.json`, `journal.jsonl`) always describes the work: the journal
//! names the hash of the `project.json` bytes it applies to, and open replays it only when the
//! hash matches. Save goes:
//!
//! 1. flush buffered journal records (fdatasync);
//! 2. serialize, write `.project.json.tmp-…`, fsync it;
//! 3. rename it over `project.json`, fsync the folder: **the commit point**;
//! 4. hard-link the new file into `backups/`, prune old backups;
//! 5. write a header-only journal naming the new hash (temp, fsync, rename, fsync folder).
//!
//! A crash (or power cut) at each point:
//!
//! * before 3: the old `project.json` is intact and the journal's base is its hash, so open
//!   replays the journal, which step 1 made complete: nothing is lost. A leftover temp file is
//!   swept by the next open.
//! * between 3 and 5: the new `project.json` holds every edit; the journal still names the old
//!   hash, so open sees it is stale and moves it aside (never replays it twice). Nothing lost.
//! * during 4: at worst a backup is missing or an old one survives; the project is not touched.
//! * after 5: the new project and an empty journal.
//!
//! Edits after a save go to the new journal and become durable at the next autosave
//! ([`Session::tick`], every [`SessionOptions::autosave_interval`] with pending edits), so a
//! crash loses at most the edits of the last few seconds. If step 5 fails, the session keeps
//! the records and re-creates the journal at the next autosave.
//!
//! A save that fails leaves the document, the history and the dirty flag as they were; the
//! error says what to do, and [`Session::save_as`] can always put the work elsewhere.
//!
//! # Closing
//!
//! [`Session::close`] flushes the journal and releases the lock but does **not** save and does
//! not delete the journal: closing without saving keeps the edits for the next open to recover
//! (that is the point of the journal). To throw unsaved edits away, use
//! [`Session::close_discarding_changes`], which keeps the journal aside for a while anyway.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use previz_core::{Change, EditCommand, History, Project};

use crate::atomic;
use crate::backup::{self, RetentionPolicy};
use crate::error::{Access, StorageError};
use crate::journal::{self, JournalWriter, RecordKind};
use crate::layout::ProjectPaths;
use crate::lock::{self, Acquire, LockInfo, LockRead, Ownership};
use crate::report::SaveReport;

pub mod background;
mod open;
pub mod saving;
mod shared_mode;

/// How to open a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Take the lock; fail with [`StorageError::Locked`] if someone holds it.
    ReadWrite,
    /// No lock, no writes of any kind; edits are refused.
    ReadOnly,
    /// Replace whatever lock exists with ours (after the user confirmed the holder is gone).
    TakeOver,
}

/// Knobs of a session; the defaults suit the studio.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// How often pending edits are written to the journal by [`Session::tick`].
    pub autosave_interval: Duration,
    /// How often [`Session::tick`] refreshes the lock's heartbeat.
    pub heartbeat_interval: Duration,
    /// A lock from another host whose heartbeat is older than this looks stale.
    pub stale_after: Duration,
    /// Temp files older than this are removed on open whoever wrote them.
    pub temp_max_age: Duration,
    /// Stale and discarded journals kept aside are deleted after this long.
    pub aside_max_age: Duration,
    pub retention: RetentionPolicy,
    /// Written into the lock file, e.g. `Previz 0.1.0`.
    pub app: String,
    /// The time source for record timestamps, backups and locks (tests inject their own).
    pub clock: fn() -> Timestamp,
    /// For projects several editors share: lease time, the workstation journal, merges.
    pub shared: crate::shared::SharedOptions,
    /// How often a shared session rereads everyone's scene leases (in [`Session::tick`]).
    pub lease_refresh: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            autosave_interval: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(60),
            stale_after: Duration::from_secs(10 * 60),
            temp_max_age: Duration::from_secs(5 * 60),
            aside_max_age: Duration::from_secs(14 * 86_400),
            retention: RetentionPolicy::default(),
            app: concat!("Previz ", env!("CARGO_PKG_VERSION")).to_owned(),
            clock: Timestamp::now,
            shared: crate::shared::SharedOptions::default(),
            lease_refresh: Duration::from_secs(5),
        }
    }
}

/// Mirrors how [`History`] groups edits into undo steps, so journal records can say whether
/// they continue the previous step. Only fidelity of undo after a crash depends on it; the
/// recovered document is exact either way.
#[derive(Debug, Default)]
struct StepTracker {
    group_depth: usize,
    group_label: String,
    group_has_record: bool,
    coalesce_key: Option<String>,
}

impl StepTracker {
    /// Called for an apply that changed something; returns whether it merges into the
    /// previous step.
    fn on_apply(&mut self, key: Option<&str>) -> bool {
        if self.group_depth > 0 {
            return std::mem::replace(&mut self.group_has_record, true);
        }
        let merge = key.is_some() && self.coalesce_key.as_deref() == key;
        self.coalesce_key = key.map(str::to_owned);
        merge
    }

    fn begin_group(&mut self, label: String) {
        if self.group_depth == 0 {
            self.group_label = label;
            self.group_has_record = false;
        }
        self.group_depth += 1;
    }

    fn end_group(&mut self) {
        if self.group_depth == 0 {
            return;
        }
        self.group_depth -= 1;
        if self.group_depth == 0 && self.group_has_record {
            self.coalesce_key = None;
            self.group_has_record = false;
        }
    }
}

/// An open project. See the module docs for what save, close and the journal guarantee.
#[derive(Debug)]
pub struct Session {
    paths: ProjectPaths,
    project: Project,
    history: History,
    options: SessionOptions,
    /// Why edits are refused, when they are.
    read_only: Option<String>,
    lock: Option<LockInfo>,
    journal: Option<JournalWriter>,
    /// `blake3:<hex>` of `project.json` as last read or written.
    base: String,
    dirty: bool,
    last_flush: Timestamp,
    last_heartbeat: Timestamp,
    steps: StepTracker,
    autosave_problem: Option<String>,
    closed: bool,
    /// A background save in flight: the hash it commits (see [`background`]).
    saving: Option<String>,
    /// The asset store, with the show store `store.json` names, opened once (panels ask for it
    /// every frame; an S3 show store holds a client and its runtime).
    assets: std::sync::OnceLock<(crate::AssetStore, Option<String>)>,
    /// Set when several editors share the project (see [`shared_mode`]): edits are journalled
    /// on this workstation, saves are conditional writes that merge, scenes are leased. No
    /// folder lock and no journal in the project folder then.
    shared: Option<crate::shared::SharedProject>,
}

/// Releases a freshly taken lock if opening fails after taking it.
struct LockGuard {
    path: PathBuf,
    info: Option<LockInfo>,
}

impl LockGuard {
    fn disarm(mut self) -> Option<LockInfo> {
        self.info.take()
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(info) = &self.info {
            let _ = lock::release(&self.path, info);
        }
    }
}

fn due(now: Timestamp, last: Timestamp, interval: Duration) -> bool {
    match Duration::try_from(now.duration_since(last)) {
        Ok(elapsed) => elapsed >= interval,
        // The clock went backwards (NTP step, VM resume): act now rather than wait it out.
        Err(_) => true,
    }
}

const ASIDE_PREFIX: &str = "journal.";
const ASIDE_STALE: &str = "stale";
const ASIDE_DISCARDED: &str = "discarded";

/// Moves the journal aside as `journal.<why>-<time>-<random>.jsonl`.
fn set_aside(paths: &ProjectPaths, why: &str, now: Timestamp) -> io::Result<PathBuf> {
    let name = format!(
        "{ASIDE_PREFIX}{why}-{}-{}.jsonl",
        now.strftime("%Y%m%dT%H%M%SZ"),
        crate::host::random_hex(8)
    );
    let target = paths.root().join(name);
    fs::rename(paths.journal(), &target)?;
    atomic::sync_dir(paths.root())?;
    Ok(target)
}

fn locked_error(paths: &ProjectPaths, read: &LockRead, options: &SessionOptions) -> StorageError {
    StorageError::Locked {
        project: paths.root().to_path_buf(),
        holder: read.holder().cloned().map(Box::new),
        staleness: read.staleness((options.clock)(), options.stale_after),
    }
}

/// Takes the lock of a folder that has none yet (create, save as).
fn acquire_new(
    paths: &ProjectPaths,
    options: &SessionOptions,
    now: Timestamp,
) -> Result<LockGuard, StorageError> {
    let lock_path = paths.lock();
    let info = LockInfo::for_this_process(&options.app, now);
    match lock::try_acquire(&lock_path, &info).map_err(StorageError::io(
        "lock the project",
        &lock_path,
        Access::Write,
    ))? {
        Acquire::Acquired => Ok(LockGuard {
            path: lock_path,
            info: Some(info),
        }),
        Acquire::Held(read) => Err(locked_error(paths, &read, options)),
    }
}

/// Everything a new project folder needs, written for `project`: lock, project.json, first
/// backup, empty journal. Returns (lock, journal, base hash, save report).
fn initialise(
    paths: &ProjectPaths,
    project: &Project,
    options: &SessionOptions,
) -> Result<(LockInfo, JournalWriter, String, SaveReport), StorageError> {
    let now = (options.clock)();
    for dir in [paths.backups(), paths.assets()] {
        fs::create_dir_all(&dir).map_err(StorageError::io(
            "create the project folder",
            &dir,
            Access::Write,
        ))?;
    }
    let guard = acquire_new(paths, options, now)?;
    let bytes = previz_core::format::to_json(project);
    let base = journal::content_hash(&bytes);
    let project_path = paths.project();
    atomic::write_atomic(&project_path, &bytes).map_err(StorageError::io(
        "save the project",
        &project_path,
        Access::Write,
    ))?;
    let mut warnings = Vec::new();
    let hex = base.trim_start_matches("blake3:");
    let backup = match backup::back_up(paths, now, &bytes, hex) {
        Ok(b) => Some(b),
        Err(e) => {
            warnings.push(format!(
                "the project was saved, but no backup was made in {}: {}",
                paths.backups().display(),
                crate::error::describe_io(&e)
            ));
            None
        }
    };
    let journal_path = paths.journal();
    let writer = JournalWriter::create(&journal_path, &base, now, &[]).map_err(
        StorageError::io("start the autosave journal", &journal_path, Access::Write),
    )?;
    // Make the project folder's own name durable in its parent.
    let _ = atomic::sync_dir(atomic::parent_dir(paths.root()));
    let info = guard
        .disarm()
        .unwrap_or_else(|| LockInfo::for_this_process(&options.app, now));
    let report = SaveReport {
        path: project_path,
        bytes: bytes.len(),
        hash: base.clone(),
        backup,
        pruned: Vec::new(),
        warnings,
        shared: None,
    };
    Ok((info, writer, base, report))
}

/// Refuses to create a project where something already is.
fn ensure_free(dir: &Path) -> Result<bool, StorageError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                Err(StorageError::AlreadyExists {
                    path: dir.to_path_buf(),
                })
            } else {
                Ok(false)
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(StorageError::AlreadyExists {
            path: dir.to_path_buf(),
        }),
        Err(e) => Err(StorageError::io("look at the folder", dir, Access::Read)(e)),
    }
}

/// Creates `dir` for a new project; on a later failure [`undo_create`] removes it again.
fn create_folder(dir: &Path) -> Result<bool, StorageError> {
    let created = ensure_free(dir)?;
    fs::create_dir_all(dir).map_err(StorageError::io(
        "create the project folder",
        dir,
        Access::Write,
    ))?;
    Ok(created)
}

/// Removes a folder this call created, after a failure, so retrying is possible. Only ever
/// called on a folder that did not exist before, so it holds nothing of the user's.
fn undo_create(dir: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(dir);
    }
}

impl Session {
    /// Creates a new project folder at `dir` holding `project`, and opens it for writing.
    /// Refuses a folder that exists and is not empty.
    pub fn create(dir: impl AsRef<Path>, project: Project) -> Result<Session, StorageError> {
        Self::create_with(dir, project, SessionOptions::default())
    }

    /// [`Session::create`] with explicit options.
    pub fn create_with(
        dir: impl AsRef<Path>,
        project: Project,
        options: SessionOptions,
    ) -> Result<Session, StorageError> {
        let paths = ProjectPaths::new(dir.as_ref());
        let created = create_folder(paths.root())?;
        match initialise(&paths, &project, &options) {
            Ok((lock, journal, base, _)) => Ok(Self::assemble(
                paths,
                project,
                History::new(),
                options,
                Some(lock),
                Some(journal),
                base,
                false,
            )),
            Err(e) => {
                undo_create(paths.root(), created);
                Err(e)
            }
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "a private constructor, called twice"
    )]
    fn assemble(
        paths: ProjectPaths,
        project: Project,
        history: History,
        options: SessionOptions,
        lock: Option<LockInfo>,
        journal: Option<JournalWriter>,
        base: String,
        dirty: bool,
    ) -> Session {
        let now = (options.clock)();
        let read_only = lock.is_none().then(|| "it was opened read-only".to_owned());
        Session {
            paths,
            project,
            history,
            options,
            read_only,
            lock,
            journal,
            base,
            dirty,
            last_flush: now,
            last_heartbeat: now,
            steps: StepTracker::default(),
            autosave_problem: None,
            closed: false,
            saving: None,
            assets: std::sync::OnceLock::new(),
            shared: None,
        }
    }

    fn now(&self) -> Timestamp {
        (self.options.clock)()
    }

    fn ensure_writable(&self) -> Result<(), StorageError> {
        match &self.read_only {
            Some(reason) => Err(StorageError::ReadOnly {
                project: self.paths.root().to_path_buf(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Someone took the project over: stop writing anything into its folder.
    fn lose_lock(&mut self, read: &LockRead) -> Option<LockInfo> {
        let holder = read.holder().cloned();
        self.read_only = Some(match &holder {
            Some(h) => format!("{h} took it over"),
            None => "its lock file was replaced by one that cannot be read".to_owned(),
        });
        self.lock = None;
        self.journal = None;
        holder
    }

    /// Checks the lock is still ours before writing into the folder.
    fn ensure_lock_is_ours(&mut self) -> Result<(), StorageError> {
        if self.shared.is_some() {
            return Ok(());
        }
        let Some(ours) = &self.lock else {
            return self.ensure_writable();
        };
        let lock_path = self.paths.lock();
        match lock::verify(&lock_path, ours).map_err(StorageError::io(
            "read the project lock",
            &lock_path,
            Access::Read,
        ))? {
            Ownership::Ours => Ok(()),
            // Deleted by hand, or the whole folder is gone: take it again if we can. If we
            // cannot, stop here: writes through an open handle into a deleted folder would
            // "succeed" into a file nobody will ever read.
            Ownership::Lost(LockRead::Missing) => match lock::try_acquire(&lock_path, ours) {
                Ok(Acquire::Acquired) => Ok(()),
                Ok(Acquire::Held(read)) => Err(self.lost(&read)),
                Err(e) => Err(StorageError::io(
                    "write into the project folder",
                    self.paths.root(),
                    Access::Write,
                )(e)),
            },
            Ownership::Lost(read) => Err(self.lost(&read)),
        }
    }

    /// Turns read-only after losing the lock and builds the error that says so.
    fn lost(&mut self, read: &LockRead) -> StorageError {
        {
            {
                let holder = self.lose_lock(read);
                match holder {
                    Some(holder) => StorageError::LockLost {
                        project: self.paths.root().to_path_buf(),
                        holder: Box::new(holder),
                    },
                    None => StorageError::ReadOnly {
                        project: self.paths.root().to_path_buf(),
                        reason: self.read_only.clone().unwrap_or_default(),
                    },
                }
            }
        }
    }

    fn journal_push(&mut self, kind: RecordKind, label: String, merge: bool, changes: Vec<Change>) {
        self.dirty = true;
        if let Some(shared) = &mut self.shared {
            // Applies are accepted (lease-checked) before they count; undo, redo and cancel
            // only take back or repeat this editor's own edits and are not refused.
            if kind != RecordKind::Apply
                && let Err(e) = shared.accept(&self.project, &changes, false)
            {
                self.autosave_problem = Some(format!(
                    "an edit could not be journalled on this workstation ({e}); save to keep your work"
                ));
            }
            return;
        }
        let at = self.now();
        if let Some(writer) = &mut self.journal
            && let Err(e) = writer.push(kind, label, at, merge, changes)
        {
            self.autosave_problem = Some(format!(
                "an edit could not be written to the autosave journal ({e}); save to keep your work"
            ));
        }
    }

    /// Applies a command as one undo step.
    pub fn apply(&mut self, command: &EditCommand) -> Result<Vec<Change>, StorageError> {
        self.apply_step(command, None)
    }

    /// Applies a command that merges into the previous step when that one had the same key and
    /// was not sealed (every keystroke of one field, every move of one drag).
    pub fn apply_coalescing(
        &mut self,
        command: &EditCommand,
        key: &str,
    ) -> Result<Vec<Change>, StorageError> {
        self.apply_step(command, Some(key))
    }

    fn apply_step(
        &mut self,
        command: &EditCommand,
        key: Option<&str>,
    ) -> Result<Vec<Change>, StorageError> {
        self.ensure_writable()?;
        let applied = self.project.apply(command)?;
        if let Some(shared) = &mut self.shared
            && let Err(e) = shared.accept(&self.project, &applied.redo, true)
        {
            // Refused (someone else's scene) or not journalled: take it back.
            let _ = self.project.apply_changes(&applied.undo);
            return Err(StorageError::Shared {
                project: self.paths.root().to_path_buf(),
                source: Box::new(e),
            });
        }
        let changes = applied.redo.clone();
        self.history.record_step(applied, key);
        if !changes.is_empty() {
            let merge = self.steps.on_apply(key);
            self.journal_push(RecordKind::Apply, command.label(), merge, changes.clone());
        }
        Ok(changes)
    }

    /// Ends the current gesture: the next coalescing edit starts a new step.
    pub fn seal(&mut self) {
        self.history.seal();
        self.steps.coalesce_key = None;
    }

    /// Starts a group: edits until the matching [`Session::end_group`] are one undo step.
    pub fn begin_group(&mut self, label: impl Into<String>) {
        let label = label.into();
        self.history.begin_group(label.clone());
        self.steps.begin_group(label);
    }

    pub fn end_group(&mut self) {
        self.history.end_group();
        self.steps.end_group();
    }

    /// Abandons the open group, undoing what it did.
    pub fn cancel_group(&mut self) -> Result<Vec<Change>, StorageError> {
        self.ensure_writable()?;
        let label = std::mem::take(&mut self.steps.group_label);
        let changes = self.history.cancel_group(&mut self.project)?;
        self.steps.group_depth = 0;
        self.steps.group_has_record = false;
        if !changes.is_empty() {
            self.journal_push(RecordKind::Cancel, label, false, changes.clone());
        }
        Ok(changes)
    }

    /// Undoes the last step; returns the changes applied (none if there was nothing to undo).
    pub fn undo(&mut self) -> Result<Vec<Change>, StorageError> {
        self.undo_or_redo(RecordKind::Undo)
    }

    /// Redoes the last undone step; returns the changes applied.
    pub fn redo(&mut self) -> Result<Vec<Change>, StorageError> {
        self.undo_or_redo(RecordKind::Redo)
    }

    fn undo_or_redo(&mut self, kind: RecordKind) -> Result<Vec<Change>, StorageError> {
        self.ensure_writable()?;
        let label = if kind == RecordKind::Undo {
            if self.steps.group_depth > 0 && self.steps.group_has_record {
                self.steps.group_label.clone()
            } else {
                self.history.undo_label().unwrap_or_default().to_owned()
            }
        } else {
            self.history.redo_label().unwrap_or_default().to_owned()
        };
        let changes = if kind == RecordKind::Undo {
            self.history.undo(&mut self.project)?
        } else {
            self.history.redo(&mut self.project)?
        };
        self.steps = StepTracker::default();
        if !changes.is_empty() {
            self.journal_push(kind, label, false, changes.clone());
        }
        Ok(changes)
    }
}
