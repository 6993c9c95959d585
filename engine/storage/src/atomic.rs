//! Atomic file replacement: readers see the old file or the new one, never a mix, whatever
//! moment the writer dies at.
//!
//! [`write_atomic`] writes a temp file next to the target (same directory, so the rename is
//! within one file system), writes everything, fsyncs it, renames it over the target and fsyncs
//! the directory so the rename itself survives a power cut. Temp files are named
//! `.<target>.tmp-<host>-<pid>-<random>`; a writer that crashed leaves one behind, and
//! [`clean_stale_temps`] removes those whose writer is certainly gone (same host, pid dead) or
//! that are older than a few minutes (a live writer finishes in well under a second).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

use crate::host;

/// Marker between a target's name and the writer's identity in temp-file names.
const TEMP_MARKER: &str = ".tmp-";

/// The directory a path lives in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates a fresh temp file beside `target`, never reusing an existing name.
pub(crate) fn create_temp(target: &Path) -> io::Result<(PathBuf, File)> {
    let dir = parent_dir(target);
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let host = host::host_tag(&host::host_name());
    let pid = std::process::id();
    let mut attempts = 0;
    loop {
        let temp = dir.join(format!(
            ".{name}{TEMP_MARKER}{host}-{pid}-{}",
            host::random_hex(8)
        ));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Replaces `target` with `bytes` atomically and durably. On error the target is untouched and
/// the temp file is removed.
///
/// A share that stops answering for a moment (`EIO`, `ESTALE`, timeouts) is retried with
/// backoff ([`crate::backend::RetryPolicy`], two minutes by default); only then is the error
/// returned, saying how long it was tried. Each try starts from a fresh temp file, so a torn
/// write is never renamed into place.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(target, bytes, &crate::backend::RetryPolicy::default(), None)
}

/// [`write_atomic`] with an explicit retry policy and injected failures (drills and tests).
pub fn write_atomic_with(
    target: &Path,
    bytes: &[u8],
    policy: &crate::backend::RetryPolicy,
    faults: Option<&crate::backend::FaultPlan>,
) -> io::Result<()> {
    let start = std::time::Instant::now();
    let mut wait = policy.first_wait;
    let mut tries = 0u32;
    loop {
        tries += 1;
        match write_atomic_once(target, bytes, faults) {
            Ok(()) => return Ok(()),
            Err(e) if crate::backend::retry::io_is_transient(&e) => {
                let waited = start.elapsed();
                if waited + wait > policy.budget {
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "{} ({tries} tries over {:.1} s: the share did not answer; the previous version is intact)",
                            crate::backend::retry::describe_io(&e),
                            waited.as_secs_f64()
                        ),
                    ));
                }
                std::thread::sleep(wait);
                wait = (wait * 2)
                    .min(policy.max_wait)
                    .max(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

fn write_atomic_once(
    target: &Path,
    bytes: &[u8],
    faults: Option<&crate::backend::FaultPlan>,
) -> io::Result<()> {
    let fault = |op: &str| faults.map_or(Ok(()), |f| f.hit(op));
    let (temp, mut file) = create_temp(target)?;
    let written = fault("write")
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| fault("sync"))
        .and_then(|()| file.sync_data())
        .and_then(|()| {
            drop(file);
            fault("rename")?;
            fs::rename(&temp, target)
        });
    if let Err(e) = written {
        // Best effort: the temp may be half-written; the next open sweeps it if this fails.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(parent_dir(target))
}

/// Makes renames and new names in `dir` durable.
///
/// Some file systems cannot fsync a directory (SMB/CIFS and some FUSE mounts refuse with
/// EINVAL or EPERM); they commit metadata on their own schedule and there is nothing better to
/// do, so those refusals are not errors. A real I/O error is.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput
                    | io::ErrorKind::Unsupported
                    | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Makes everything written to the filesystem holding `path` durable (Linux `syncfs(2)`: what
/// `sync` does, for one filesystem), for callers that stored many files and sync once.
/// `Ok(false)` where that is not available: sync each folder instead.
pub fn sync_filesystem(path: &Path) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        let file = File::open(path)?;
        rustix::fs::syncfs(&file)?;
        Ok(true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        Ok(false)
    }
}

/// Windows cannot open a directory as a file without `FILE_FLAG_BACKUP_SEMANTICS` (which needs
/// `unsafe` here) and NTFS journals renames itself (`MoveFileEx` with `REPLACE_EXISTING`, which
/// is what `fs::rename` uses), so there is no directory fsync to do.
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// A temp file's writer, parsed from its name: (target name, host tag, pid).
fn parse_temp_name(name: &str) -> Option<(&str, &str, u32)> {
    let rest = name.strip_prefix('.')?;
    let marker = rest.rfind(TEMP_MARKER)?;
    let target = &rest[..marker];
    let writer = &rest[marker + TEMP_MARKER.len()..];
    let mut parts = writer.rsplitn(3, '-');
    let random = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    let host = parts.next()?;
    if random.is_empty() || !random.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some((target, host, pid))
}

/// Removes temp files that crashed writers left in `dir`: those written on this host by a pid
/// that is no longer running, and any older than `max_age`. Returns what was removed. Errors
/// reading the directory or removing a file are ignored: a leftover temp wastes space, nothing
/// more, and the next open tries again.
pub fn clean_stale_temps(dir: &Path, now: Timestamp, max_age: Duration) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let our_host = host::host_tag(&host::host_name());
    let our_pid = std::process::id();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((_, host, pid)) = name.to_str().and_then(parse_temp_name) else {
            continue;
        };
        let dead_here = host == our_host && pid != our_pid && host::pid_alive(pid) == Some(false);
        let too_old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| Timestamp::try_from(t).ok())
            .is_some_and(|modified| {
                now.duration_since(modified)
                    .try_into()
                    .is_ok_and(|age: Duration| age > max_age)
            });
        if (dead_here || too_old) && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_that_drops_out_mid_write_is_retried_and_never_torn() {
        use crate::backend::{Fault, FaultPlan, RetryPolicy};
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("project.json");
        fs::write(&target, b"old").unwrap();
        let policy = RetryPolicy {
            first_wait: Duration::from_millis(1),
            max_wait: Duration::from_millis(4),
            budget: Duration::from_millis(300),
        };
        let faults = FaultPlan::new(vec![
            Fault {
                op: "write",
                after: 0,
                times: 1,
                errno: 5,
            },
            Fault {
                op: "sync",
                after: 0,
                times: 1,
                errno: 116,
            },
            Fault {
                op: "rename",
                after: 0,
                times: 1,
                errno: 116,
            },
        ]);
        write_atomic_with(&target, b"new", &policy, Some(&faults)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(faults.remaining(), 0);
        let gone = FaultPlan::new(vec![Fault {
            op: "sync",
            after: 0,
            times: 10_000,
            errno: 5,
        }]);
        let err = write_atomic_with(&target, b"newer", &policy, Some(&gone)).unwrap_err();
        assert!(
            err.to_string().contains("EIO") && err.to_string().contains("tries"),
            "{err}"
        );
        assert_eq!(
            fs::read(&target).unwrap(),
            b"new",
            "the previous version is intact"
        );
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
        // Permanent errors are not retried.
        let full = FaultPlan::new(vec![Fault {
            op: "write",
            after: 0,
            times: 1,
            errno: 28,
        }]);
        let err = write_atomic_with(&target, b"x", &policy, Some(&full)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28));
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("project.json");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn write_into_a_missing_folder_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("gone").join("project.json");
        let err = write_atomic(&target, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn temp_names_parse_back() {
        let name = ".project.json.tmp-studio_3-4242-0a1b2c3d";
        assert_eq!(
            parse_temp_name(name),
            Some(("project.json", "studio_3", 4242))
        );
        assert_eq!(parse_temp_name("project.json"), None);
        assert_eq!(parse_temp_name(".x.tmp-host-notapid-00"), None);
        assert_eq!(parse_temp_name(".x.tmp-"), None);
    }

    #[cfg(unix)]
    #[test]
    fn stale_temps_of_dead_writers_and_old_ones_go_fresh_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let host = host::host_tag(&host::host_name());
        let dead = dir
            .path()
            .join(format!(".project.json.tmp-{host}-{}-00aa", u32::MAX - 7));
        let live = dir.path().join(format!(
            ".project.json.tmp-{host}-{}-00bb",
            std::os::unix::process::parent_id()
        ));
        let other_host = dir.path().join(".project.json.tmp-elsewhere-12-00cc");
        let unrelated = dir.path().join("notes.txt");
        for p in [&dead, &live, &other_host, &unrelated] {
            fs::write(p, b"x").unwrap();
        }
        let now = Timestamp::now();
        let removed = clean_stale_temps(dir.path(), now, Duration::from_secs(300));
        if cfg!(target_os = "linux") {
            assert_eq!(removed, vec![dead.clone()]);
        }
        assert!(live.exists() && other_host.exists() && unrelated.exists());
        // An hour later every temp is stale, whoever wrote it; other files are never touched.
        let later = now
            .checked_add(jiff::SignedDuration::from_hours(1))
            .unwrap();
        let mut removed = clean_stale_temps(dir.path(), later, Duration::from_secs(300));
        removed.sort();
        let mut expected = vec![live, other_host];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(unrelated.exists());
    }
}
