//! Opening a project: lock, sweep, read, and recover from the journal.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use previz_core::{History, Project};

use super::{
    ASIDE_DISCARDED, ASIDE_PREFIX, ASIDE_STALE, LockGuard, OpenMode, Session, SessionOptions,
    acquire_new, due, locked_error, set_aside,
};
use crate::atomic;
use crate::error::{Access, StorageError};
use crate::journal::{self, JournalRecord, JournalWriter};
use crate::layout::ProjectPaths;
use crate::lock::{self, LockInfo, LockRead, Ownership};
use crate::replay;
use crate::report::{AsideReason, OpenReport, Recovered, SetAside};

/// How to continue the journal after open.
enum JournalPlan {
    /// Keep appending to the file as it is (its first `len` bytes are good).
    Append { len: u64 },
    /// Write a fresh file holding the records carried over.
    Rewrite,
}

/// Deletes stale and discarded journals older than `max_age`. Failed, damaged and unreadable
/// ones are kept: they may hold work nobody has looked at yet.
fn prune_asides(root: &Path, now: Timestamp, max_age: Duration) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(ASIDE_PREFIX)) else {
            continue;
        };
        let Some(time) = [ASIDE_STALE, ASIDE_DISCARDED]
            .iter()
            .find_map(|why| rest.strip_prefix(why)?.strip_prefix('-'))
            .and_then(|t| t.get(..16))
        else {
            continue;
        };
        let saved = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", time)
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp());
        if saved.is_some_and(|t| due(now, t, max_age) && t <= now) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

impl Session {
    /// Opens the project in `dir`, recovering unsaved edits from its journal.
    pub fn open(
        dir: impl AsRef<Path>,
        mode: OpenMode,
    ) -> Result<(Session, OpenReport), StorageError> {
        Self::open_with(dir, mode, SessionOptions::default())
    }

    /// [`Session::open`] with explicit options.
    pub fn open_with(
        dir: impl AsRef<Path>,
        mode: OpenMode,
        options: SessionOptions,
    ) -> Result<(Session, OpenReport), StorageError> {
        let paths = ProjectPaths::new(dir.as_ref());
        let now = (options.clock)();
        let mut report = OpenReport::default();
        let project_path = paths.project();
        match fs::metadata(&project_path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(StorageError::NotAProject {
                    path: paths.root().to_path_buf(),
                    detail: "its project.json is not a file".to_owned(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && paths.root().is_dir() => {
                return Err(StorageError::NotAProject {
                    path: paths.root().to_path_buf(),
                    detail: "it has no project.json".to_owned(),
                });
            }
            Err(e) => {
                return Err(StorageError::io(
                    "open the project",
                    &project_path,
                    Access::Read,
                )(e));
            }
        }

        // A project many editors share (its document is versioned, see `crate::shared`) is
        // saved only through conditional writes that merge: a shared session, no folder lock.
        if mode != OpenMode::ReadOnly
            && paths
                .root()
                .join(super::shared_mode::SHARED_MARKER)
                .is_dir()
        {
            return Self::open_shared(paths, options);
        }

        // Lock before reading, so no writer of ours is between steps of a save meanwhile.
        let writable = mode != OpenMode::ReadOnly;
        let guard = match mode {
            OpenMode::ReadOnly => None,
            OpenMode::ReadWrite => Some(acquire_new(&paths, &options, now)?),
            OpenMode::TakeOver => Some(Self::take_over(&paths, &options, now, &mut report)?),
        };
        if writable {
            report.removed_temp_files =
                atomic::clean_stale_temps(paths.root(), now, options.temp_max_age);
            report.removed_temp_files.extend(atomic::clean_stale_temps(
                &paths.backups(),
                now,
                options.temp_max_age,
            ));
            prune_asides(paths.root(), now, options.aside_max_age);
        }

        let bytes = fs::read(&project_path).map_err(StorageError::io(
            "read the project",
            &project_path,
            Access::Read,
        ))?;
        let base = journal::content_hash(&bytes);
        let mut project =
            previz_core::format::from_json(&bytes).map_err(|source| StorageError::Format {
                path: project_path.clone(),
                backups: paths.backups(),
                source,
            })?;
        drop(bytes);

        let mut history = History::new();
        let (plan, carried) = Self::recover(
            &paths,
            mode,
            &base,
            now,
            &mut project,
            &mut history,
            &mut report,
        )?;
        let journal = if writable {
            let journal_path = paths.journal();
            let err = StorageError::io("start the autosave journal", &journal_path, Access::Write);
            Some(match plan {
                JournalPlan::Append { len } => {
                    JournalWriter::append_to(&journal_path, &base, len, carried.len() as u64)
                        .map_err(err)?
                }
                JournalPlan::Rewrite => {
                    JournalWriter::create(&journal_path, &base, now, &carried).map_err(err)?
                }
            })
        } else {
            None
        };
        if writable {
            // Used or stale, the marker has served once the journal names the right file.
            let _ = fs::remove_file(paths.save_marker());
        }
        let lock = guard.and_then(LockGuard::disarm);
        let dirty = !carried.is_empty();
        let session = Self::assemble(paths, project, history, options, lock, journal, base, dirty);
        Ok((session, report))
    }

    fn take_over(
        paths: &ProjectPaths,
        options: &SessionOptions,
        now: Timestamp,
        report: &mut OpenReport,
    ) -> Result<LockGuard, StorageError> {
        let lock_path = paths.lock();
        let read = lock::read_lock(&lock_path).map_err(StorageError::io(
            "read the project lock",
            &lock_path,
            Access::Read,
        ))?;
        let mut info = LockInfo::for_this_process(&options.app, now);
        if let LockRead::Held(previous) = &read {
            report.took_over_from =
                Some((previous.clone(), read.staleness(now, options.stale_after)));
            let mut previous = previous.clone();
            previous.previous = None;
            info.previous = Some(Box::new(previous));
        }
        lock::take_over(&lock_path, &info).map_err(StorageError::io(
            "take over the project lock",
            &lock_path,
            Access::Write,
        ))?;
        // Someone taking over at the same instant wins the rename race: say so now.
        match lock::verify(&lock_path, &info).map_err(StorageError::io(
            "read the project lock",
            &lock_path,
            Access::Read,
        ))? {
            Ownership::Ours => Ok(LockGuard {
                path: lock_path,
                info: Some(info),
            }),
            Ownership::Lost(read) => Err(locked_error(paths, &read, options)),
        }
    }

    /// Reads the journal, replays it if it belongs to this `project.json`, moves it aside if
    /// not (or if it is damaged), and says how to continue it.
    fn recover(
        paths: &ProjectPaths,
        mode: OpenMode,
        base: &str,
        now: Timestamp,
        project: &mut Project,
        history: &mut History,
        report: &mut OpenReport,
    ) -> Result<(JournalPlan, Vec<JournalRecord>), StorageError> {
        let writable = mode != OpenMode::ReadOnly;
        let journal_path = paths.journal();
        let aside = |why: &str, reason: AsideReason, report: &mut OpenReport| {
            let path = if writable {
                Some(set_aside(paths, why, now).map_err(StorageError::io(
                    "set aside the autosave journal",
                    &journal_path,
                    Access::Write,
                ))?)
            } else {
                None
            };
            report.set_aside.push(SetAside { path, reason });
            Ok::<(), StorageError>(())
        };
        let bytes = match fs::read(&journal_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((JournalPlan::Rewrite, Vec::new()));
            }
            // Never start a new journal over one we could not read: it may hold work. A
            // read-only session writes nothing, so it can go on and say so.
            Err(e) if !writable => {
                report.warnings.push(format!(
                    "the autosave journal at {} could not be read ({}); unsaved edits in it are not shown",
                    journal_path.display(),
                    crate::error::describe_io(&e)
                ));
                return Ok((JournalPlan::Rewrite, Vec::new()));
            }
            Err(e) => {
                return Err(StorageError::io(
                    "read the autosave journal",
                    &journal_path,
                    Access::Read,
                )(e));
            }
        };
        let read = match journal::read_journal(&bytes) {
            Ok(read) => read,
            Err(e) => {
                aside("unreadable", AsideReason::Unreadable(e.to_string()), report)?;
                return Ok((JournalPlan::Rewrite, Vec::new()));
            }
        };
        // A background save that committed before its journal restart left a marker: the
        // journal still names the old file, and only its records after the snapshot are new.
        let marker = super::background::read_marker(paths);
        let after_save = marker
            .as_ref()
            .filter(|m| m.to == base && m.from == read.header.base)
            .map(|m| m.through);
        if read.header.base != base && after_save.is_none() {
            aside(ASIDE_STALE, AsideReason::Stale, report)?;
            return Ok((JournalPlan::Rewrite, Vec::new()));
        }
        let good_len = read.good_len as u64;
        let records = match after_save {
            Some(through) => read
                .records
                .into_iter()
                .filter(|r| r.seq > through)
                .collect(),
            None => read.records,
        };
        let replayed = replay::replay(project, history, records);
        if let (Some(first), Some(last)) = (replayed.applied.first(), replayed.applied.last()) {
            report.recovered = Some(Recovered {
                edits: replayed.applied.len(),
                first_at: first.at,
                last_at: last.at,
            });
        }
        let plan = if let Some(failure) = replayed.failure {
            aside("failed", AsideReason::ReplayFailed(failure), report)?;
            JournalPlan::Rewrite
        } else if let Some(tail) = read.tail {
            if tail.lines_ignored > 0 {
                aside("damaged", AsideReason::Damaged(tail), report)?;
            } else {
                // Only an unfinished append was cut off; it was never durable, so no file
                // needs keeping.
                report.warnings.push(tail.to_string());
            }
            JournalPlan::Rewrite
        } else if after_save.is_some() {
            // The journal must name the new file from now on.
            JournalPlan::Rewrite
        } else if mode == OpenMode::TakeOver {
            // A fresh file (new inode): a previous holder that is still alive after all keeps
            // appending to the old one, which nobody reads, instead of into ours.
            JournalPlan::Rewrite
        } else {
            JournalPlan::Append { len: good_len }
        };
        Ok((plan, replayed.applied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_stale_and_discarded_journals_are_pruned_kept_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let names = [
            "journal.stale-20200101T000000Z-aaaaaaaa.jsonl",
            "journal.discarded-20200101T000000Z-bbbbbbbb.jsonl",
            "journal.failed-20200101T000000Z-cccccccc.jsonl",
            "journal.damaged-20200101T000000Z-dddddddd.jsonl",
            "journal.stale-20270115T080000Z-eeeeeeee.jsonl",
            "journal.stale-garbage.jsonl",
            "journal.jsonl",
        ];
        for name in names {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        prune_asides(dir.path(), now, Duration::from_secs(14 * 86_400));
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected: Vec<String> = names[2..].iter().map(|n| (*n).to_owned()).collect();
        expected.sort();
        assert_eq!(left, expected);
    }
}
