//! Rolling backups: every save leaves a copy in `backups/`, thinned out over time.
//!
//! After each save the new `project.json` is hard-linked into `backups/` as
//! `project-YYYYMMDDTHHMMSSZ-<first 8 hex of its blake3>.json`. A hard link costs no space and
//! no I/O, and is safe because Previz never changes a saved file in place: the next save
//! renames a new file over `project.json`, leaving the backup's inode alone. Where links are not
//! supported (SMB shares without Unix extensions, some FUSE file systems) the bytes are copied.
//! A save whose content equals the newest backup adds none.
//!
//! Retention, as in Kdenlive and DaVinci Resolve: the last [`RetentionPolicy::keep_last`]
//! saves, plus the newest backup of each hour for the last [`RetentionPolicy::hourly_hours`]
//! hours, plus the newest of each day for the last [`RetentionPolicy::daily_days`] days.
//! [`plan_prune`] decides this as a pure function of names and times; files whose names it does
//! not recognise are never deleted.
//!
//! Restoring is opening a backup as a project ([`open_backup`]), or making it the project's
//! current state with [`Session::restore_backup`](crate::Session::restore_backup).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use previz_core::Project;

use crate::atomic;
use crate::error::{Access, StorageError};
use crate::layout::{BACKUP_DIR, ProjectPaths};

const NAME_PREFIX: &str = "project-";
const NAME_SUFFIX: &str = ".json";
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// How many backups to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// The newest saves kept whatever their age.
    pub keep_last: usize,
    /// For this many hours back (the current hour included), the newest backup of each hour.
    pub hourly_hours: u32,
    /// For this many days back (UTC days, today included), the newest backup of each day.
    pub daily_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            keep_last: 20,
            hourly_hours: 48,
            daily_days: 30,
        }
    }
}

/// The file name of a backup saved at `saved_at` whose content hashes to `hash_hex`.
#[must_use]
pub fn backup_name(saved_at: Timestamp, hash_hex: &str) -> String {
    let short: String = hash_hex.chars().take(8).collect();
    format!(
        "{NAME_PREFIX}{}-{short}{NAME_SUFFIX}",
        saved_at.strftime(TIME_FORMAT)
    )
}

/// The save time and short hash in a backup's file name, if it is one of ours.
#[must_use]
pub fn parse_backup_name(name: &str) -> Option<(Timestamp, String)> {
    let middle = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    let (time, hash) = middle.split_once('-')?;
    if hash.len() != 8 || !hash.chars().all(|c| c.is_ascii_hexdigit()) || time.len() != 16 {
        return None;
    }
    let saved_at = DateTime::strptime(TIME_FORMAT, time)
        .ok()?
        .to_zoned(TimeZone::UTC)
        .ok()?
        .timestamp();
    Some((saved_at, hash.to_owned()))
}

/// Which backups to delete under `policy` at `now`, given every backup's (save time, name).
/// Pure: the same input always gives the same answer, and it never names the newest backup
/// nor anything not in the input.
#[must_use]
pub fn plan_prune(
    backups: &[(Timestamp, String)],
    now: Timestamp,
    policy: RetentionPolicy,
) -> Vec<String> {
    let mut newest_first: Vec<&(Timestamp, String)> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.cmp(a));
    newest_first.dedup_by(|a, b| a.1 == b.1);
    let now_hour = now.as_second().div_euclid(3600);
    let now_day = now.as_second().div_euclid(86_400);
    let mut hours_seen = HashSet::new();
    let mut days_seen = HashSet::new();
    let mut delete = Vec::new();
    for (rank, (saved_at, name)) in newest_first.into_iter().enumerate() {
        let hour = saved_at.as_second().div_euclid(3600);
        let day = saved_at.as_second().div_euclid(86_400);
        // `insert` first so the newest of each bucket claims it even when kept for another
        // reason.
        let newest_of_hour = hours_seen.insert(hour);
        let newest_of_day = days_seen.insert(day);
        let keep = rank < policy.keep_last.max(1)
            || (newest_of_hour && hour > now_hour - i64::from(policy.hourly_hours))
            || (newest_of_day && day > now_day - i64::from(policy.daily_days));
        if !keep {
            delete.push(name.clone());
        }
    }
    delete
}

/// One backup of a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupEntry {
    pub path: PathBuf,
    pub name: String,
    pub saved_at: Timestamp,
    /// First 8 hex digits of the blake3 of the file's bytes.
    pub hash8: String,
    pub size_bytes: u64,
}

/// The backups of the project in `project_dir`, newest first.
pub fn list_backups(project_dir: &Path) -> Result<Vec<BackupEntry>, StorageError> {
    let dir = project_dir.join(BACKUP_DIR);
    let entries =
        fs::read_dir(&dir).map_err(StorageError::io("list the backups", &dir, Access::Read))?;
    let mut backups: Vec<BackupEntry> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let (saved_at, hash8) = parse_backup_name(&name)?;
            let size_bytes = entry.metadata().map_or(0, |m| m.len());
            Some(BackupEntry {
                path: entry.path(),
                name,
                saved_at,
                hash8,
                size_bytes,
            })
        })
        .collect();
    backups.sort_by(|a, b| (b.saved_at, &b.name).cmp(&(a.saved_at, &a.name)));
    Ok(backups)
}

/// Reads a backup (or any project file) as a project.
pub fn open_backup(path: &Path) -> Result<Project, StorageError> {
    let bytes = fs::read(path).map_err(StorageError::io("read the backup", path, Access::Read))?;
    previz_core::format::from_json(&bytes).map_err(|source| StorageError::Format {
        path: path.to_path_buf(),
        backups: atomic::parent_dir(path).to_path_buf(),
        source,
    })
}

/// How a save was backed up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackedUp {
    /// Hard-linked to the saved file.
    Linked(String),
    /// Copied (hard links unsupported here).
    Copied(String),
    /// The newest backup already has this content.
    Unchanged(String),
}

impl BackedUp {
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            BackedUp::Linked(n) | BackedUp::Copied(n) | BackedUp::Unchanged(n) => n,
        }
    }
}

fn backup_times(dir: &Path) -> io::Result<Vec<(Timestamp, String)>> {
    Ok(fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            parse_backup_name(&name).map(|(t, _)| (t, name))
        })
        .collect())
}

/// Backs up the just-saved `project.json` (whose content is `bytes`, hashing to `hash_hex`).
pub(crate) fn back_up(
    paths: &ProjectPaths,
    saved_at: Timestamp,
    bytes: &[u8],
    hash_hex: &str,
) -> io::Result<BackedUp> {
    let dir = paths.backups();
    fs::create_dir_all(&dir)?;
    let newest = backup_times(&dir)?.into_iter().max();
    let mut saved_at = saved_at;
    if let Some((newest_at, newest)) = newest {
        if parse_backup_name(&newest).is_some_and(|(_, h)| hash_hex.starts_with(&h)) {
            return Ok(BackedUp::Unchanged(newest));
        }
        // Names have one-second resolution and must sort in save order (retention keeps the
        // newest): a second save within the same second is named one second later. Only a
        // small lead is followed, so one backup stamped far in the future by a wrong clock
        // does not drag every later name along.
        if let Ok(next) = newest_at.checked_add(jiff::SignedDuration::from_secs(1))
            && next > saved_at
            && next.duration_since(saved_at) < jiff::SignedDuration::from_mins(5)
        {
            saved_at = next;
        }
    }
    let name = backup_name(saved_at, hash_hex);
    let target = dir.join(&name);
    match fs::hard_link(paths.project(), &target) {
        Ok(()) => Ok(BackedUp::Linked(name)),
        // Same content saved within the same second: already backed up.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(BackedUp::Unchanged(name)),
        Err(_) => {
            atomic::write_atomic(&target, bytes)?;
            Ok(BackedUp::Copied(name))
        }
    }
}

/// After a save: backs the new file up and prunes old backups. Failures here cost history, not
/// work, so they come back as warnings. Returns (the backup, the names pruned, warnings).
pub(crate) fn after_save(
    paths: &ProjectPaths,
    now: Timestamp,
    bytes: &[u8],
    hash_hex: &str,
    policy: RetentionPolicy,
) -> (Option<BackedUp>, Vec<String>, Vec<String>) {
    let mut warnings = Vec::new();
    let backup = match back_up(paths, now, bytes, hash_hex) {
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
    let pruned = match prune(paths, now, policy) {
        Ok((deleted, failed)) => {
            warnings.extend(failed);
            deleted
        }
        Err(e) => {
            warnings.push(format!(
                "old backups in {} could not be pruned: {}",
                paths.backups().display(),
                crate::error::describe_io(&e)
            ));
            Vec::new()
        }
    };
    (backup, pruned, warnings)
}

/// Deletes the backups `policy` does not keep. Returns the names deleted and a message for
/// each one that could not be.
pub(crate) fn prune(
    paths: &ProjectPaths,
    now: Timestamp,
    policy: RetentionPolicy,
) -> io::Result<(Vec<String>, Vec<String>)> {
    let dir = paths.backups();
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for name in plan_prune(&backup_times(&dir)?, now, policy) {
        let path = dir.join(&name);
        match fs::remove_file(&path) {
            Ok(()) => deleted.push(name),
            Err(e) => failed.push(format!(
                "could not delete old backup {}: {}",
                path.display(),
                crate::error::describe_io(&e)
            )),
        }
    }
    Ok((deleted, failed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use proptest::prelude::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn set(times: &[i64]) -> Vec<(Timestamp, String)> {
        times
            .iter()
            .enumerate()
            .map(|(i, &t)| (at(t), backup_name(at(t), &format!("{i:08x}"))))
            .collect()
    }

    #[test]
    fn names_round_trip() {
        let t = at(1_767_225_600 + 3_723);
        let name = backup_name(t, "0123abcdef");
        assert_eq!(name, "project-20260101T010203Z-0123abcd.json");
        assert_eq!(parse_backup_name(&name), Some((t, "0123abcd".to_owned())));
        for bad in [
            "project.json",
            "project-20260101T010203Z-0123abc.json",
            "project-2026010XT010203Z-0123abcd.json",
            "project-20261301T010203Z-0123abcd.json",
            "project-20260101T010203Z-0123abcd.json.tmp",
        ] {
            assert_eq!(parse_backup_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn keeps_last_n_then_hourly_then_daily() {
        let now = at(100 * 86_400 + 12 * 3600);
        let policy = RetentionPolicy {
            keep_last: 2,
            hourly_hours: 3,
            daily_days: 2,
        };
        // Four saves this hour, two an hour ago, two two days ago, one long ago.
        let hour = 3600;
        let times = [
            now.as_second() - 10,
            now.as_second() - 20,
            now.as_second() - 30,
            now.as_second() - 40,
            now.as_second() - hour - 10,
            now.as_second() - hour - 20,
            now.as_second() - 86_400 - 10,
            now.as_second() - 86_400 - 20,
            now.as_second() - 40 * 86_400,
        ];
        let backups = set(&times);
        let mut deleted = plan_prune(&backups, now, policy);
        deleted.sort();
        let mut expected: Vec<String> = [2, 3, 5, 7, 8]
            .iter()
            .map(|&i| backups[i].1.clone())
            .collect();
        expected.sort();
        assert_eq!(deleted, expected);
    }

    #[test]
    fn the_newest_survives_even_a_policy_of_zero() {
        let backups = set(&[10, 20, 30]);
        let policy = RetentionPolicy {
            keep_last: 0,
            hourly_hours: 0,
            daily_days: 0,
        };
        let deleted = plan_prune(&backups, at(1_000_000), policy);
        assert_eq!(deleted.len(), 2);
        assert!(!deleted.contains(&backups[2].1));
    }

    /// What the policy says, written the slow way.
    fn kept_by_definition(
        backups: &[(Timestamp, String)],
        now: Timestamp,
        policy: RetentionPolicy,
    ) -> HashSet<String> {
        let newer = |a: &(Timestamp, String), b: &(Timestamp, String)| (a.0, &a.1) > (b.0, &b.1);
        let bucket = |t: Timestamp, len: i64| t.as_second().div_euclid(len);
        backups
            .iter()
            .filter(|b| {
                let rank = backups.iter().filter(|o| newer(o, b)).count();
                let newest_in = |len: i64, count: u32| {
                    bucket(b.0, len) > bucket(now, len) - i64::from(count)
                        && !backups
                            .iter()
                            .any(|o| newer(o, b) && bucket(o.0, len) == bucket(b.0, len))
                };
                rank < policy.keep_last.max(1)
                    || newest_in(3600, policy.hourly_hours)
                    || newest_in(86_400, policy.daily_days)
            })
            .map(|b| b.1.clone())
            .collect()
    }

    proptest! {
        #[test]
        fn pruning_keeps_exactly_what_the_policy_says(
            ages in proptest::collection::vec(-3_600i64..90 * 86_400, 0..120),
            keep_last in 0usize..25,
            hourly_hours in 0u32..60,
            daily_days in 0u32..40,
        ) {
            let now = at(1_800_000_000);
            let times: Vec<i64> = ages.iter().map(|a| now.as_second() - a).collect();
            let backups = set(&times);
            let policy = RetentionPolicy { keep_last, hourly_hours, daily_days };
            let deleted = plan_prune(&backups, now, policy);
            let deleted_set: HashSet<String> = deleted.iter().cloned().collect();
            prop_assert_eq!(deleted_set.len(), deleted.len(), "no name twice");
            let names: HashSet<String> = backups.iter().map(|b| b.1.clone()).collect();
            prop_assert!(deleted_set.is_subset(&names));
            if let Some(newest) = backups.iter().max() {
                prop_assert!(!deleted_set.contains(&newest.1));
            }
            let kept: HashSet<String> = names.difference(&deleted_set).cloned().collect();
            prop_assert_eq!(&kept, &kept_by_definition(&backups, now, policy));
            // Pruning what is left deletes nothing more.
            let rest: Vec<_> = backups.iter().filter(|b| kept.contains(&b.1)).cloned().collect();
            prop_assert!(plan_prune(&rest, now, policy).is_empty());
        }
    }

    #[test]
    fn back_up_links_dedupes_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        let now = Timestamp::now();
        let mut names = Vec::new();
        for i in 0..5u8 {
            let bytes = vec![b'a' + i; 10];
            fs::write(paths.project(), &bytes).unwrap();
            let hash = blake3::hash(&bytes).to_hex().to_string();
            let t = now
                .checked_add(SignedDuration::from_secs(i64::from(i)))
                .unwrap();
            let outcome = back_up(&paths, t, &bytes, &hash).unwrap();
            assert!(matches!(outcome, BackedUp::Linked(_)), "{outcome:?}");
            names.push(outcome.name().to_owned());
            // Saving the same bytes again adds nothing.
            let again = back_up(&paths, t, &bytes, &hash).unwrap();
            assert!(matches!(again, BackedUp::Unchanged(_)), "{again:?}");
        }
        let listed = list_backups(dir.path()).unwrap();
        assert_eq!(listed.len(), 5);
        assert_eq!(listed[0].name, names[4]);
        assert_eq!(fs::read(&listed[0].path).unwrap(), vec![b'e'; 10]);
        let policy = RetentionPolicy {
            keep_last: 2,
            hourly_hours: 0,
            daily_days: 0,
        };
        let (deleted, failed) = prune(&paths, now, policy).unwrap();
        assert_eq!(deleted.len(), 3);
        assert!(failed.is_empty());
        assert_eq!(list_backups(dir.path()).unwrap().len(), 2);
    }
}
