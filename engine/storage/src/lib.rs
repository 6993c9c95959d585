//! Project storage that never loses work: atomic saves, rolling backups, an autosave journal
//! and a lock file, for projects on local disks and on shared NAS volumes (NFS, SMB).
//!
//! The CLI and the studio hold a [`Session`] for each open project. Edits go through it (it
//! forwards them to [`previz_core::History`]) so it can journal them; the caller drives
//! autosave by calling [`Session::tick`] with the current time. No threads.
//!
//! # The project folder
//!
//! ```text
//! NAME.previz/
//!   project.json      the document (previz_core::format), replaced atomically on save
//!   journal.jsonl     autosave journal: edits since the last save, replayed on open
//!   project.lock      who has the project open for writing
//!   backups/          project-YYYYMMDDTHHMMSSZ-<hash8>.json, one per save, thinned out
//!   assets/           content-addressed media (blake3, two-level fan-out)
//!   save.marker       only while a background save commits (see session::background)
//!   journal.stale-*.jsonl, journal.failed-*.jsonl, …   journals set aside (see below)
//! ```
//!
//! # Why no work is lost
//!
//! * `project.json` is only ever replaced by writing a temp file in the same folder, fsyncing
//!   it, renaming it over the old one and fsyncing the folder ([`atomic`]). A reader or a crash
//!   sees the old file or the new one, never a mix.
//! * Between saves, every edit is a record in `journal.jsonl` holding the primitive changes
//!   that redo it, with a checksum per line ([`journal`]). Records are written and fdatasynced
//!   at each autosave (every 5 s with pending edits), so a crash loses at most that much.
//! * The journal names the blake3 hash of the `project.json` bytes it applies to. Open replays
//!   it only onto exactly those bytes; a journal for an older file (a save completed after it)
//!   is moved aside, never replayed twice, and a journal that will not replay is kept aside and
//!   reported, never deleted.
//! * Save commits with the rename, then starts a fresh journal; every crash point in between
//!   leaves a consistent pair (the argument is in [`session`]'s docs, and
//!   `tests/crash.rs` kills a writer at random hundreds of times to check it).
//! * Each save is also hard-linked into `backups/` ([`backup`]); a damaged `project.json`
//!   produces an error that points there.
//! * [`Session::begin_save`] / [`SaveJob::run`] / [`Session::finish_save`] do the same on a
//!   worker thread while editing goes on; a `save.marker` tells open which journal records the
//!   new file already holds if the process dies between the rename and the journal restart.
//! * An I/O error never costs the in-memory document: the session stays usable, and
//!   [`Session::save_as`] saves elsewhere when the share is gone.
//!
//! # The lock protocol
//!
//! Opening for writing creates `project.lock` exclusively ([`lock`]): its JSON content (host,
//! user, pid, app, started, heartbeat and a random session token) is written to a temp file
//! and hard-linked into place, so the lock never exists half-written; `link(2)` fails if the
//! name exists, which makes creation exclusive on local disks and NFS alike (where links are
//! unsupported, as on many SMB shares, it falls back to `O_EXCL` create, which NFSv3+ and SMB
//! servers honour). If the lock exists, opening fails with [`StorageError::Locked`] naming the
//! holder and whether it looks stale. The user can open read-only, or take over explicitly
//! ([`OpenMode::TakeOver`]), which renames a new lock over the old one, records the previous
//! holder in it, and starts a fresh journal file so a previous holder that is alive after all
//! writes into a file nobody reads rather than into ours.
//!
//! Staleness: on the same host, a lock is stale when its pid is not running (`/proc/<pid>`
//! on Linux; pids are meaningless across hosts). For other hosts (or where pids cannot be
//! checked) it is stale when its heartbeat is older than 10 minutes; [`Session::tick`]
//! refreshes the heartbeat once a minute. Before each journal write and each save the session
//! checks the lock still carries its token; if someone took over, it turns read-only and
//! reports it rather than fighting, and its edits can still be saved elsewhere.
//!
//! Limits, stated plainly: this is advisory locking between Previz processes, not a mandatory
//! lock. Heartbeat staleness depends on the hosts' clocks roughly agreeing (NTP); a host that is
//! suspended for longer than the threshold looks stale while it sleeps. Two people taking over
//! at the same instant both rename; the loser finds out within a heartbeat or at its next
//! autosave, whichever comes first, and turns read-only. NFS clients cache attributes and
//! directory entries for a few seconds, so those checks can lag by that much. On SMB, hard
//! links and directory fsync are often unavailable; backups are then copied and the directory
//! fsync is skipped (the server commits renames itself).

pub mod assets;
pub mod atomic;
pub mod backend;
pub mod backup;
mod error;
pub mod fsck;
pub mod host;
pub mod journal;
pub mod layout;
pub mod lock;
mod replay;
mod report;
pub mod session;
pub mod settings;
pub mod shared;
mod shared_journal;
pub mod store;
pub mod work;

pub use assets::{AssetError, AssetStore, Staged, hash_bytes};
pub use backup::{BackedUp, BackupEntry, RetentionPolicy, list_backups, open_backup};
pub use error::{Access, StorageError};
pub use fsck::{FsckReport, fsck};
pub use journal::{JournalRecord, RecordKind, TornTail};
pub use layout::ProjectPaths;
pub use lock::{LockInfo, Staleness};
pub use replay::ReplayFailure;
pub use report::{AsideReason, OpenReport, Recovered, SaveReport, SetAside, TickReport};
pub use session::background::{SaveJob, SaveWritten};
pub use session::saving::CloseError;
pub use session::{OpenMode, Session, SessionOptions};
pub use shared::{
    ConflictRecord, Lease, LeaseOutcome, Saved, SharedError, SharedOptions, SharedProject,
    SharedStatus,
};
pub use store::{ReadCache, ShowStore, StoreConfig, StoreError};
pub use work::{Claim, ClaimAttempt, WorkArea};
