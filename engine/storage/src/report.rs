//! What opening, saving and ticking did, for the UI to show and the CLI to print.

use std::path::PathBuf;

use jiff::Timestamp;

use crate::backup::BackedUp;
use crate::journal::TornTail;
use crate::lock::{LockInfo, Staleness};
use crate::replay::ReplayFailure;

/// Edits recovered from the autosave journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// Journal records replayed (one per apply, undo or redo).
    pub edits: usize,
    /// When the first and the last recovered edit were made.
    pub first_at: Timestamp,
    pub last_at: Timestamp,
}

/// Why a journal was moved aside instead of replayed or continued.
#[derive(Clone, Debug, PartialEq)]
pub enum AsideReason {
    /// It applies to an older `project.json`: the save after it completed, so its edits are
    /// already in the project. Deleted after a while.
    Stale,
    /// A record would not apply; the records before it were recovered. Kept.
    ReplayFailed(ReplayFailure),
    /// Complete lines in it are damaged; the records before them were recovered. Kept.
    Damaged(TornTail),
    /// Its header cannot be read. Kept.
    Unreadable(String),
}

/// A journal moved aside (or, in a read-only session, one that would have been).
#[derive(Clone, Debug, PartialEq)]
pub struct SetAside {
    /// Where it now is; `None` in a read-only session, which moves nothing.
    pub path: Option<PathBuf>,
    pub reason: AsideReason,
}

/// What [`Session::open`](crate::Session::open) found and did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenReport {
    pub recovered: Option<Recovered>,
    pub set_aside: Vec<SetAside>,
    /// The lock this session replaced, with how stale it looked, when opened with
    /// [`OpenMode::TakeOver`](crate::OpenMode::TakeOver) over an existing lock.
    pub took_over_from: Option<(LockInfo, Staleness)>,
    /// Temp files of crashed writers that were removed.
    pub removed_temp_files: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

impl OpenReport {
    /// One sentence per thing the user should know, most important first.
    #[must_use]
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = &self.recovered {
            out.push(format!(
                "recovered {} unsaved edit(s) made between {} and {}; save to keep them",
                r.edits,
                r.first_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                r.last_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
        for aside in &self.set_aside {
            let place = aside.path.as_ref().map_or_else(
                || "it was left in place (read-only)".to_owned(),
                |p| format!("it was kept as {}", p.display()),
            );
            out.push(match &aside.reason {
                AsideReason::Stale => format!(
                    "an autosave journal from before the last save was found; its edits are already saved, {place}"
                ),
                AsideReason::ReplayFailed(f) => format!(
                    "autosaved edit {} ('{}') could not be re-applied ({}); the edits before it were recovered, {place}",
                    f.seq, f.label, f.error
                ),
                AsideReason::Damaged(tail) => format!("{tail}; {place}"),
                AsideReason::Unreadable(why) => {
                    format!("the autosave journal cannot be read ({why}); {place}")
                }
            });
        }
        if let Some((holder, staleness)) = &self.took_over_from {
            out.push(format!("took the project over from {holder}; {staleness}"));
        }
        out.extend(self.warnings.iter().cloned());
        out
    }
}

/// What [`Session::save`](crate::Session::save) did.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveReport {
    pub path: PathBuf,
    pub bytes: usize,
    /// `blake3:<hex>` of the bytes written.
    pub hash: String,
    pub backup: Option<BackedUp>,
    /// Backups deleted by the retention policy.
    pub pruned: Vec<String>,
    /// Things that went wrong after the project itself was safely written.
    pub warnings: Vec<String>,
    /// For a shared project: others' saves merged in, and edits that could not be merged
    /// (kept under `conflicts/` and shown to the editor).
    pub shared: Option<crate::shared::Saved>,
}

/// What [`Session::tick`](crate::Session::tick) did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Journal records written and synced by this tick.
    pub journal_flushed: usize,
    /// Whether the lock's heartbeat was refreshed.
    pub heartbeat: bool,
    /// Set when someone else took the project over: the session is now read-only.
    pub lost_lock: Option<LockInfo>,
    pub warnings: Vec<String>,
    /// For a shared project: the scene leases taken, lost, or found held by others.
    pub leases: Option<crate::shared::Maintained>,
}
