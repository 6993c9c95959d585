//! A work area on the share for many workers at once (a render farm's batch): finished units
//! are *published* there, and a unit being made is *claimed* there first, so two workers never
//! make the same unit at the same time and a rerun finds finished work.
//!
//! ```text
//! NAME.previz/batch/
//!   units/<kind>/<k0k1>/<key>.json  one finished unit (written temp, fsync, rename: never half)
//!   claims/<key>.claim          who is making a unit now (a LockInfo, created exclusively)
//!   claims/<key>.claim.stale-*  claims taken back from workers that died (kept as evidence)
//! ```
//!
//! Keys are content hashes of a unit's inputs (hex), so a unit published once is valid for as
//! long as its inputs are. Claims use the project lock's protocol (see the crate docs): created
//! with `link(2)` (or `O_EXCL` where links are unsupported), a heartbeat refreshed by
//! [`Claim::refresh`], stale when its process is gone (same host) or its heartbeat is older than
//! the threshold (other hosts). A stale claim is taken back by renaming it aside: of two workers
//! that both find it stale, only one rename succeeds. The same limits as the lock apply (clock
//! agreement across hosts, NFS attribute caching of a few seconds).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

use crate::atomic;
use crate::host;
use crate::lock::{self, Acquire, LockInfo, LockRead, Staleness};

/// The work area of one batch: `NAME.previz/batch/` (or any folder on the share).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkArea {
    root: PathBuf,
}

/// A unit this worker holds the claim on; release it when the unit is published (or failed).
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    info: LockInfo,
}

/// What trying to claim a unit found.
#[derive(Debug)]
pub enum ClaimAttempt {
    /// Ours now.
    Claimed(Claim),
    /// Another worker holds it and looks alive.
    Held {
        holder: LockRead,
        staleness: Staleness,
    },
}

fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn bad_key(key: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("'{key}' is not a unit key (letters, digits, - and _ only)"),
    )
}

impl WorkArea {
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The work area inside a project folder.
    #[must_use]
    pub fn of_project(project_dir: &Path) -> Self {
        Self::new(project_dir.join("batch"))
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the unit `kind`/`key` is published (whether or not it is).
    pub fn unit_path(&self, kind: &str, key: &str) -> io::Result<PathBuf> {
        if !is_key(kind) {
            return Err(bad_key(kind));
        }
        if !is_key(key) {
            return Err(bad_key(key));
        }
        // Fanned out by the key's first two characters: a feature's pass is tens of
        // thousands of units, and NAS directories stay quick at a few hundred entries.
        let fan = key.get(..2).unwrap_or(key);
        Ok(self
            .root
            .join("units")
            .join(kind)
            .join(fan)
            .join(format!("{key}.json")))
    }

    /// The published bytes of a unit, if it is finished.
    pub fn published(&self, kind: &str, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.unit_path(kind, key)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Publishes a finished unit atomically: readers see the whole record or none.
    pub fn publish(&self, kind: &str, key: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.unit_path(kind, key)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        atomic::write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// Forgets a published unit (a record that no longer checks out: its media are gone).
    pub fn unpublish(&self, kind: &str, key: &str) -> io::Result<()> {
        match fs::remove_file(self.unit_path(kind, key)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every published key of `kind`.
    pub fn published_keys(&self, kind: &str) -> io::Result<Vec<String>> {
        let dir = self.root.join("units").join(kind);
        let fans = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut keys = Vec::new();
        for fan in fans.flatten() {
            if !fan.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            for e in fs::read_dir(fan.path())?.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(k) = name.strip_suffix(".json")
                    && is_key(k)
                {
                    keys.push(k.to_owned());
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn claim_path(&self, key: &str) -> io::Result<PathBuf> {
        if !is_key(key) {
            return Err(bad_key(key));
        }
        Ok(self.root.join("claims").join(format!("{key}.claim")))
    }

    /// Claims unit `key` for `worker` (a name for people: `shard 2/8 on node17`). A claim held
    /// by a worker that looks dead (see the module docs) is taken back.
    pub fn claim(
        &self,
        key: &str,
        worker: &str,
        now: Timestamp,
        stale_after: Duration,
    ) -> io::Result<ClaimAttempt> {
        let path = self.claim_path(key)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let info = LockInfo::for_this_process(worker, now);
        for _ in 0..3 {
            match lock::try_acquire(&path, &info)? {
                Acquire::Acquired => {
                    return Ok(ClaimAttempt::Claimed(Claim {
                        path,
                        info: info.clone(),
                    }));
                }
                Acquire::Held(holder) => {
                    let staleness = holder.staleness(now, stale_after);
                    if !staleness.stale {
                        return Ok(ClaimAttempt::Held { holder, staleness });
                    }
                    // Set the dead worker's claim aside; whoever's rename wins claims next.
                    let aside = path.with_extension(format!("claim.stale-{}", host::random_hex(8)));
                    match fs::rename(&path, &aside) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        let holder = lock::read_lock(&path)?;
        let staleness = holder.staleness(now, stale_after);
        Ok(ClaimAttempt::Held { holder, staleness })
    }

    /// Every claim now on the share: the unit's key and what its file says (a farm's
    /// status: who makes what, since when, and whether they still look alive).
    pub fn claims(&self) -> io::Result<Vec<(String, LockRead)>> {
        let dir = self.root.join("claims");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_suffix(".claim")
                && is_key(key)
            {
                out.push((key.to_owned(), lock::read_lock(&e.path())?));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Who holds the claim on `key` now, if anyone.
    pub fn claim_holder(&self, key: &str) -> io::Result<LockRead> {
        lock::read_lock(&self.claim_path(key)?)
    }
}

impl Claim {
    /// Refreshes the heartbeat (about once a minute while the unit runs). `false` when the
    /// claim is no longer ours: it was judged stale and taken back by another worker.
    pub fn refresh(&mut self, now: Timestamp) -> io::Result<bool> {
        Ok(matches!(
            lock::refresh(&self.path, &mut self.info, now)?,
            lock::Ownership::Ours
        ))
    }

    /// Lets the unit go (after publishing it, or after it failed so another may try).
    pub fn release(self) -> io::Result<bool> {
        lock::release(&self.path, &self.info)
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_then_read_back_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let area = WorkArea::new(dir.path());
        assert!(area.published("frame", "abc").unwrap().is_none());
        area.publish("frame", "abc", b"{}").unwrap();
        assert_eq!(area.published("frame", "abc").unwrap().unwrap(), b"{}");
        area.publish("frame", "abd", b"{}").unwrap();
        assert_eq!(area.published_keys("frame").unwrap(), ["abc", "abd"]);
        area.unpublish("frame", "abc").unwrap();
        assert_eq!(area.published_keys("frame").unwrap(), ["abd"]);
        assert!(area.publish("frame", "../x", b"").is_err());
        assert!(area.publish("a/b", "x", b"").is_err());
    }

    #[test]
    fn a_live_claim_excludes_others_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let area = WorkArea::new(dir.path());
        let now = Timestamp::now();
        let ClaimAttempt::Claimed(claim) = area
            .claim("k1", "w1", now, Duration::from_secs(600))
            .unwrap()
        else {
            panic!("first claim must succeed");
        };
        // This process is alive: a second worker (here the same pid) sees it held.
        match area
            .claim("k1", "w2", now, Duration::from_secs(600))
            .unwrap()
        {
            ClaimAttempt::Held { staleness, .. } => assert!(!staleness.stale),
            ClaimAttempt::Claimed(_) => panic!("a held claim was claimed twice"),
        }
        assert_eq!(area.claims().unwrap().len(), 1);
        assert!(claim.release().unwrap());
        assert!(area.claims().unwrap().is_empty());
        assert!(matches!(
            area.claim("k1", "w2", now, Duration::from_secs(600))
                .unwrap(),
            ClaimAttempt::Claimed(_)
        ));
    }

    #[test]
    fn a_dead_workers_claim_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let area = WorkArea::new(dir.path());
        let now = Timestamp::now();
        // A claim by a process on another host whose heartbeat stopped an hour ago.
        let mut dead = LockInfo::for_this_process("w0", now);
        dead.host = "node-gone".into();
        dead.heartbeat = now - jiff::SignedDuration::from_secs(3600);
        let path = area.claim_path("k2").unwrap();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, serde_json::to_vec(&dead).unwrap()).unwrap();
        let ClaimAttempt::Claimed(mut claim) = area
            .claim("k2", "w1", now, Duration::from_secs(600))
            .unwrap()
        else {
            panic!("a stale claim must be taken back");
        };
        assert!(claim.refresh(now).unwrap());
        let aside = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".stale-"))
            .count();
        assert_eq!(aside, 1, "the dead worker's claim is kept aside");
        // A recent heartbeat from another host is respected.
        let mut live = dead.clone();
        live.heartbeat = now;
        fs::write(
            area.claim_path("k3").unwrap(),
            serde_json::to_vec(&live).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            area.claim("k3", "w1", now, Duration::from_secs(600))
                .unwrap(),
            ClaimAttempt::Held { .. }
        ));
    }
}
