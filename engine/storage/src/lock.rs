//! The lock file: who has a project open for writing.
//!
//! `project.lock` holds [`LockInfo`] as JSON: host, user, pid, app, when the session started
//! and its latest heartbeat, plus a random token that tells two sessions apart even when a pid
//! is reused. See the crate docs for the protocol and its limits on network shares.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{atomic, host};

/// The holder of a project lock, as written in `project.lock`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub host: String,
    pub user: String,
    pub pid: u32,
    /// The program and version holding the lock, e.g. `Previz 0.1.0`.
    pub app: String,
    pub started: Timestamp,
    /// Refreshed about once a minute while the session is open.
    pub heartbeat: Timestamp,
    /// Random, per session: a lock is ours only if the token matches.
    #[serde(default)]
    pub token: String,
    /// Whom this session took the project over from, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Box<LockInfo>>,
}

impl LockInfo {
    /// A lock for a new session of this process.
    #[must_use]
    pub fn for_this_process(app: &str, now: Timestamp) -> Self {
        Self {
            host: host::host_name(),
            user: host::user_name(),
            pid: std::process::id(),
            app: app.to_owned(),
            started: now,
            heartbeat: now,
            token: host::random_hex(16),
            previous: None,
        }
    }

    /// Whether `other` is the same session as this one.
    #[must_use]
    pub fn same_session(&self, other: &LockInfo) -> bool {
        self.token == other.token && self.host == other.host && self.pid == other.pid
    }
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {} (pid {}, {}) since {}",
            self.user,
            self.host,
            self.pid,
            self.app,
            self.started.strftime("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// Whether a lock's holder still looks alive, and why we think so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staleness {
    /// True when the holder is gone (or has not been heard of for too long).
    pub stale: bool,
    /// The evidence, in words.
    pub reason: String,
}

impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.stale {
            write!(f, "the lock looks stale ({})", self.reason)
        } else {
            write!(f, "the lock looks live ({})", self.reason)
        }
    }
}

/// A duration as people say it.
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// Judges a lock: on this host, by whether its pid is running; elsewhere (or where pids
/// cannot be checked), by the age of its heartbeat.
#[must_use]
pub fn staleness(info: &LockInfo, now: Timestamp, stale_after: Duration) -> Staleness {
    if info.host == host::host_name() {
        match host::pid_alive(info.pid) {
            Some(false) => {
                return Staleness {
                    stale: true,
                    reason: format!("process {} is no longer running on this machine", info.pid),
                };
            }
            Some(true) => {
                let whose = if info.pid == std::process::id() {
                    "this very program (another window?)"
                } else {
                    "a process that is still running on this machine"
                };
                return Staleness {
                    stale: false,
                    reason: format!("pid {} is {whose}", info.pid),
                };
            }
            None => {}
        }
    }
    let age: Duration = now
        .duration_since(info.heartbeat)
        .try_into()
        .unwrap_or(Duration::ZERO);
    Staleness {
        stale: age > stale_after,
        reason: format!(
            "its last heartbeat was {} ago; a lock counts as stale after {}",
            human_duration(age),
            human_duration(stale_after)
        ),
    }
}

/// What `project.lock` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockRead {
    Missing,
    Held(LockInfo),
    /// The file exists but is not a lock we understand (written by a crashed fallback writer,
    /// or damaged).
    Unreadable {
        detail: String,
        modified: Option<Timestamp>,
    },
}

impl LockRead {
    /// Staleness of whatever holds the lock. An unreadable lock is judged by its file's age.
    #[must_use]
    pub fn staleness(&self, now: Timestamp, stale_after: Duration) -> Staleness {
        match self {
            LockRead::Missing => Staleness {
                stale: true,
                reason: "the lock file is gone".to_owned(),
            },
            LockRead::Held(info) => staleness(info, now, stale_after),
            LockRead::Unreadable { detail, modified } => {
                let age: Duration = modified
                    .map(|m| now.duration_since(m))
                    .and_then(|d| d.try_into().ok())
                    .unwrap_or(Duration::MAX);
                Staleness {
                    stale: age > stale_after,
                    reason: format!("the lock file cannot be read: {detail}"),
                }
            }
        }
    }

    #[must_use]
    pub fn holder(&self) -> Option<&LockInfo> {
        match self {
            LockRead::Held(info) => Some(info),
            _ => None,
        }
    }
}

/// Reads `project.lock`.
pub fn read_lock(path: &Path) -> io::Result<LockRead> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LockRead::Missing),
        Err(e) => return Err(e),
    };
    Ok(match serde_json::from_slice(&bytes) {
        Ok(info) => LockRead::Held(info),
        Err(e) => LockRead::Unreadable {
            detail: e.to_string(),
            modified: fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| Timestamp::try_from(t).ok()),
        },
    })
}

fn encode(info: &LockInfo) -> io::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Outcome of trying to take a free lock.
#[derive(Debug)]
pub(crate) enum Acquire {
    Acquired,
    Held(LockRead),
}

#[cfg(unix)]
fn link_count(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| m.nlink())
}

#[cfg(not(unix))]
fn link_count(_path: &Path) -> Option<u64> {
    None
}

/// Creates `project.lock` naming `info` if no lock exists.
///
/// The content is written to a temp file first and hard-linked into place: `link(2)` fails if
/// the name exists, so creation is exclusive like `O_EXCL`, and the lock never exists empty
/// (a crash between an `O_EXCL` create and its write would leave an unreadable lock). On NFS a
/// lost reply to a successful `link` can come back as "exists"; the temp's link count of 2
/// tells that case apart. Where hard links are unsupported (SMB), it falls back to
/// `create_new` (`O_EXCL`), which NFSv3+ and SMB servers honour.
pub(crate) fn try_acquire(path: &Path, info: &LockInfo) -> io::Result<Acquire> {
    let bytes = encode(info)?;
    for _ in 0..3 {
        let (temp, mut file) = atomic::create_temp(path)?;
        let written = file.write_all(&bytes).and_then(|()| file.sync_data());
        drop(file);
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        let linked = fs::hard_link(&temp, path);
        let nlink = link_count(&temp);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                atomic::sync_dir(atomic::parent_dir(path))?;
                return Ok(Acquire::Acquired);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if nlink == Some(2) {
                    return Ok(Acquire::Acquired);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
            Err(_) => match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
                        let _ = fs::remove_file(path);
                        return Err(e);
                    }
                    return Ok(Acquire::Acquired);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            },
        }
        match read_lock(path)? {
            // Released between our attempt and our look: try again.
            LockRead::Missing => {}
            held => return Ok(Acquire::Held(held)),
        }
    }
    Ok(Acquire::Held(read_lock(path)?))
}

/// Replaces whatever lock exists with ours, atomically (temp file + rename).
pub(crate) fn take_over(path: &Path, info: &LockInfo) -> io::Result<()> {
    atomic::write_atomic(path, &encode(info)?)
}

/// Whether the lock is still ours.
#[derive(Debug)]
pub(crate) enum Ownership {
    Ours,
    Lost(LockRead),
}

/// Checks that `project.lock` still names our session.
pub(crate) fn verify(path: &Path, ours: &LockInfo) -> io::Result<Ownership> {
    Ok(match read_lock(path)? {
        LockRead::Held(info) if info.same_session(ours) => Ownership::Ours,
        other => Ownership::Lost(other),
    })
}

/// Rewrites our lock with a fresh heartbeat, unless someone else holds it now. A missing lock
/// (deleted by hand) is re-created if nobody else got there first.
pub(crate) fn refresh(path: &Path, ours: &mut LockInfo, now: Timestamp) -> io::Result<Ownership> {
    match read_lock(path)? {
        LockRead::Held(info) if info.same_session(ours) => {
            let mut updated = ours.clone();
            updated.heartbeat = now;
            atomic::write_atomic(path, &encode(&updated)?)?;
            *ours = updated;
            Ok(Ownership::Ours)
        }
        LockRead::Missing => {
            let mut updated = ours.clone();
            updated.heartbeat = now;
            match try_acquire(path, &updated)? {
                Acquire::Acquired => {
                    *ours = updated;
                    Ok(Ownership::Ours)
                }
                Acquire::Held(other) => Ok(Ownership::Lost(other)),
            }
        }
        other => Ok(Ownership::Lost(other)),
    }
}

/// Removes the lock if it is still ours. Returns whether it was removed.
///
/// There is a window between reading the lock and removing it in which another session could
/// take over; it is a few microseconds wide and a take-over is a deliberate human act, so it is
/// accepted rather than made atomic with a rename dance that NFS does not make atomic either.
pub(crate) fn release(path: &Path, ours: &LockInfo) -> io::Result<bool> {
    match verify(path, ours)? {
        Ownership::Ours => {
            fs::remove_file(path)?;
            Ok(true)
        }
        Ownership::Lost(_) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::now()
    }

    #[test]
    fn acquire_is_exclusive_and_release_only_removes_our_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("project.lock");
        let a = LockInfo::for_this_process("Previz test", now());
        let b = LockInfo::for_this_process("Previz test", now());
        assert!(matches!(try_acquire(&path, &a).unwrap(), Acquire::Acquired));
        match try_acquire(&path, &b).unwrap() {
            Acquire::Held(LockRead::Held(holder)) => assert!(holder.same_session(&a)),
            other => panic!("{other:?}"),
        }
        assert!(!release(&path, &b).unwrap());
        assert!(path.exists());
        assert!(release(&path, &a).unwrap());
        assert!(!path.exists());
        // No temp files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn refresh_notices_a_take_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("project.lock");
        let mut a = LockInfo::for_this_process("Previz test", now());
        try_acquire(&path, &a).unwrap();
        let later = now()
            .checked_add(jiff::SignedDuration::from_secs(61))
            .unwrap();
        assert!(matches!(
            refresh(&path, &mut a, later).unwrap(),
            Ownership::Ours
        ));
        assert_eq!(a.heartbeat, later);
        let mut b = LockInfo::for_this_process("Previz test", now());
        b.previous = Some(Box::new(a.clone()));
        take_over(&path, &b).unwrap();
        match refresh(&path, &mut a, later).unwrap() {
            Ownership::Lost(LockRead::Held(holder)) => assert!(holder.same_session(&b)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn staleness_by_pid_here_and_by_heartbeat_elsewhere() {
        let t = now();
        let ten_min = Duration::from_secs(600);
        let mut info = LockInfo::for_this_process("Previz test", t);
        if cfg!(target_os = "linux") {
            assert!(!staleness(&info, t, ten_min).stale);
            info.pid = u32::MAX - 7;
            let s = staleness(&info, t, ten_min);
            assert!(s.stale, "{s}");
            assert!(s.to_string().contains("no longer running"), "{s}");
        }
        info.host = "another-machine".to_owned();
        info.heartbeat = t;
        assert!(!staleness(&info, t, ten_min).stale);
        let later = t.checked_add(jiff::SignedDuration::from_mins(11)).unwrap();
        let s = staleness(&info, later, ten_min);
        assert!(s.stale, "{s}");
        assert!(s.to_string().contains("11 min"), "{s}");
    }

    #[test]
    fn garbage_in_the_lock_file_is_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("project.lock");
        fs::write(&path, b"\0\0garbage").unwrap();
        let read = read_lock(&path).unwrap();
        assert!(matches!(read, LockRead::Unreadable { .. }));
        assert!(!read.staleness(now(), Duration::from_secs(600)).stale);
        let a = LockInfo::for_this_process("Previz test", now());
        assert!(matches!(try_acquire(&path, &a).unwrap(), Acquire::Held(_)));
    }
}
