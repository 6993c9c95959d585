//! The POSIX backend: a folder on a local disk or on the PowerScale share mounted over NFS or
//! SMB.
//!
//! # Plain and versioned objects
//!
//! An object written with [`PutMode::Overwrite`] is a plain file, replaced by write-temp, fsync,
//! rename. An object ever written with [`PutMode::Create`] or [`PutMode::Replace`] (a shared
//! project's document, a scene lease) becomes *versioned*: next to `KEY` lives `KEY.gen/`, an
//! append-only run of generation files `00000000000000000001`, `…02`, … . A writer that read
//! generation N commits by `link(2)`-ing its fsynced temp file to the name N+1. `link` fails if
//! the name exists, atomically on the server, on local disks and on NFS alike, so of two
//! writers that read the same generation exactly one wins and the other gets
//! [`BackendError::Changed`]: optimistic concurrency without a lock file that a crash could
//! leave behind. The newest generation is the object; after each commit it is also published
//! as the plain file `KEY` (hard link + rename) for tools that read the file directly. A writer
//! whose stale generation number names a gap left by cleanup finds a higher generation after
//! its link, takes its link back, and gets `Changed` too. Deleting a versioned object commits a
//! tombstone generation. The 16 newest generations are kept (they double as short-term undo).
//!
//! # What NFS and SMB shares do, and what this code assumes
//!
//! * Close-to-open consistency: a file's data and attributes are revalidated when it is
//!   opened, so every read here opens the file afresh. Mount without `nocto`.
//! * Attribute and directory caching (`actimeo`, `acdirmin`): a listing may lag other clients
//!   by a few seconds, so the newest generation is found by listing and then probing the next
//!   names by lookup until one is missing. Use `lookupcache=positive` (or `none`) so a name
//!   another client just created is not hidden by a cached "not found".
//! * `.nfsXXXX` files (an open file deleted by another client) and our own `.`-prefixed temp
//!   files are never listed as objects.
//! * A share that disappears mid-write returns `EIO` (soft mounts), `ESTALE` or timeouts: the
//!   operation is retried with backoff ([`super::retry`]); nothing partial is ever renamed or
//!   linked into place. Hard mounts (`hard`, the default) block instead, which is safer still.
//! * SMB: hard links need the server's support (PowerScale SMB has it); where `link` fails with
//!   `EPERM`/`ENOTSUP` versioned writes fail with a clear error naming the mount.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::retry::{Attempt, RetryPolicy, describe_io, io_is_transient};
use super::{
    Backend, BackendError, Meta, Progress, PutMode, Result, UploadOptions, Uploaded, Version,
    check_key,
};
use crate::atomic;

const GEN_SUFFIX: &str = ".gen";
const KEEP_GENERATIONS: u64 = 16;
/// The bytes of a tombstone generation (a deleted versioned object).
const TOMBSTONE: &[u8] = b"\0previz-deleted\0";

/// One injected failure: after `after` operations named `op` succeed, the next `times` fail
/// with `errno`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub op: &'static str,
    /// How many such operations succeed before the failures start.
    pub after: u32,
    pub times: u32,
    pub errno: i32,
}

/// Failures to inject, for drills of what a failing share does (`EIO`, `ESTALE`): kernel NFS
/// mounts are not available in every test environment, so the error paths are driven here.
/// Operation names: `open`, `read`, `write`, `sync`, `rename`, `link`, `list`.
#[derive(Debug, Default)]
pub struct FaultPlan {
    faults: Mutex<Vec<Fault>>,
}

impl FaultPlan {
    #[must_use]
    pub fn new(faults: Vec<Fault>) -> Self {
        Self {
            faults: Mutex::new(faults),
        }
    }

    pub(crate) fn hit(&self, op: &str) -> io::Result<()> {
        let mut faults = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = faults.iter_mut().find(|f| f.op == op && f.times > 0) {
            if f.after > 0 {
                f.after -= 1;
                return Ok(());
            }
            f.times -= 1;
            return Err(io::Error::from_raw_os_error(f.errno));
        }
        Ok(())
    }

    /// How many injected failures are still to come.
    #[must_use]
    pub fn remaining(&self) -> u32 {
        let faults = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        faults.iter().map(|f| f.times).sum()
    }
}

/// A folder used as an object store.
#[derive(Debug, Clone)]
pub struct PosixBackend {
    root: PathBuf,
    retry: RetryPolicy,
    faults: Option<Arc<FaultPlan>>,
}

impl PosixBackend {
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            retry: RetryPolicy::default(),
            faults: None,
        }
    }

    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    #[must_use]
    pub fn with_faults(mut self, faults: Arc<FaultPlan>) -> Self {
        self.faults = Some(faults);
        self
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn fault(&self, op: &str) -> io::Result<()> {
        match &self.faults {
            Some(f) => f.hit(op),
            None => Ok(()),
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        resolve_inside(&self.root, Path::new(key)).map_err(|why| BackendError::BadKey {
            key: key.to_owned(),
            why,
        })
    }

    fn gen_dir(path: &Path) -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(GEN_SUFFIX);
        PathBuf::from(s)
    }

    /// Runs one attempt of an I/O operation, classing its error.
    fn attempt<T>(
        &self,
        key: &str,
        action: &'static str,
        op: impl FnMut() -> io::Result<T>,
    ) -> Result<T> {
        let location = self.location(key);
        let mut op = op;
        self.retry.run(&location, action, || {
            op().map_err(|e| classify(&location, action, &e))
        })
    }

    /// The newest generation of a versioned object: `None` when the object is not versioned.
    fn latest_generation(&self, gens: &Path) -> io::Result<Option<u64>> {
        self.fault("list")?;
        let entries = match fs::read_dir(gens) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut max = 0u64;
        for entry in entries {
            let entry = entry?;
            if let Some(n) = entry.file_name().to_str().and_then(parse_generation) {
                max = max.max(n);
            }
        }
        // The listing may lag (NFS directory caching): probe the next names by lookup.
        while gens.join(generation_name(max + 1)).exists() {
            max += 1;
        }
        Ok(Some(max))
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.fault("open")?;
        let mut file = File::open(path)?;
        self.fault("read")?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Writes `bytes` to a new fsynced temp file beside `near`.
    fn write_temp(&self, dir: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
        fs::create_dir_all(dir)?;
        let temp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            crate::host::random_hex(8)
        ));
        let result = (|| {
            self.fault("open")?;
            let mut file = File::create(&temp)?;
            self.fault("write")?;
            file.write_all(bytes)?;
            self.fault("sync")?;
            file.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        Ok(temp)
    }

    /// Links `temp` to generation `n`: `Ok(false)` when the name was taken.
    fn link_generation(&self, temp: &Path, gens: &Path, n: u64) -> io::Result<bool> {
        self.fault("link")?;
        let target = gens.join(generation_name(n));
        match fs::hard_link(temp, &target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // NFS: a retransmitted LINK whose first reply was lost reports EEXIST although
                // it worked; the temp file's link count tells (the open(2) man page's advice).
                Ok(link_count(temp)? >= 2 && same_file(temp, &target))
            }
            Err(e) => Err(e),
        }
    }

    /// Commits `bytes` as the generation after `expected` (`None`: the object must not exist
    /// or be deleted). `Ok(None)` when someone else committed first.
    fn commit_generation(
        &self,
        path: &Path,
        bytes: &[u8],
        expected: Expected,
    ) -> io::Result<std::result::Result<u64, Lost>> {
        let gens = Self::gen_dir(path);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&gens)?;
        let latest = self.latest_generation(&gens)?.unwrap_or(0);
        let next = match expected {
            Expected::Generation(n) => n + 1,
            Expected::Absent => {
                if latest > 0 && !self.is_tombstone(&gens, latest)? {
                    return Ok(Err(Lost::Exists));
                }
                latest + 1
            }
            Expected::Any => latest + 1,
        };
        let temp = self.write_temp(&dir, bytes)?;
        let linked = self.link_generation(&temp, &gens, next);
        let _ = fs::remove_file(&temp);
        if !linked? {
            return Ok(Err(Lost::Changed));
        }
        // A stale generation number may name a gap left by cleanup: it only counts if it is
        // the newest.
        if self.latest_generation(&gens)?.unwrap_or(0) > next {
            let _ = fs::remove_file(gens.join(generation_name(next)));
            return Ok(Err(Lost::Changed));
        }
        atomic::sync_dir(&gens)?;
        self.publish(path, &gens);
        self.clean_generations(&gens, next);
        Ok(Ok(next))
    }

    fn is_tombstone(&self, gens: &Path, n: u64) -> io::Result<bool> {
        let meta = fs::metadata(gens.join(generation_name(n)))?;
        if meta.len() != TOMBSTONE.len() as u64 {
            return Ok(false);
        }
        Ok(self.read_file(&gens.join(generation_name(n)))? == TOMBSTONE)
    }

    /// Publishes the newest generation as the plain file (best effort: the generations are the
    /// truth; the plain file is for tools reading the folder directly).
    fn publish(&self, path: &Path, gens: &Path) {
        for _ in 0..3 {
            let Ok(Some(n)) = self.latest_generation(gens) else {
                return;
            };
            let source = gens.join(generation_name(n));
            if self.is_tombstone(gens, n).unwrap_or(false) {
                let _ = fs::remove_file(path);
            } else {
                let dir = path.parent().unwrap_or(&self.root);
                let temp = dir.join(format!(".pub-{}", crate::host::random_hex(8)));
                if fs::hard_link(&source, &temp).is_err() {
                    return;
                }
                if fs::rename(&temp, path).is_err() {
                    let _ = fs::remove_file(&temp);
                    return;
                }
            }
            // A slower writer of an older generation may have published after a newer one:
            // whoever publishes checks again and republishes the newest.
            if self.latest_generation(gens).ok().flatten() == Some(n) {
                return;
            }
        }
    }

    fn clean_generations(&self, gens: &Path, newest: u64) {
        let Some(below) = newest.checked_sub(KEEP_GENERATIONS) else {
            return;
        };
        let Ok(entries) = fs::read_dir(gens) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some(n) = entry.file_name().to_str().and_then(parse_generation)
                && n <= below
            {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn put_once(&self, key: &str, path: &Path, bytes: &[u8], mode: &PutMode) -> Result<Version> {
        let location = self.location(key);
        let gens = Self::gen_dir(path);
        let versioned = gens.is_dir();
        let expected = match mode {
            PutMode::Overwrite if !versioned => {
                self.attempt(key, "write", || {
                    if let Some(dir) = path.parent() {
                        fs::create_dir_all(dir)?;
                    }
                    let temp = self.write_temp(path.parent().unwrap_or(&self.root), bytes)?;
                    self.fault("rename")?;
                    let renamed = fs::rename(&temp, path);
                    if renamed.is_err() {
                        let _ = fs::remove_file(&temp);
                    }
                    renamed?;
                    if let Some(dir) = path.parent() {
                        atomic::sync_dir(dir)?;
                    }
                    Ok(())
                })?;
                return self
                    .attempt(key, "read the version of", || plain_version(path))
                    .map(Version);
            }
            PutMode::Overwrite => Expected::Any,
            PutMode::Create => {
                if !versioned && path.is_file() {
                    return Err(BackendError::AlreadyExists { location });
                }
                Expected::Absent
            }
            PutMode::Replace(v) => match parse_version(v) {
                Some(VersionKind::Generation(n)) if versioned => Expected::Generation(n),
                Some(VersionKind::Plain(_)) if !versioned => {
                    // A plain file becomes versioned: its first generation is committed only
                    // if the file is still the one the writer read.
                    let now = self.attempt(key, "read the version of", || plain_version(path));
                    match now {
                        Ok(now) if Version(now.clone()) == *v => Expected::Generation(0),
                        Ok(_) => {
                            return Err(BackendError::Changed {
                                location,
                                expected: v.clone(),
                            });
                        }
                        Err(BackendError::NotFound { .. }) => {
                            return Err(BackendError::Changed {
                                location,
                                expected: v.clone(),
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
                _ => {
                    return Err(BackendError::Changed {
                        location,
                        expected: v.clone(),
                    });
                }
            },
        };
        loop {
            let outcome = self.attempt(key, "commit a new version of", || {
                self.commit_generation(path, bytes, expected)
            })?;
            match outcome {
                Ok(n) => return Ok(Version(format!("g{n}"))),
                Err(Lost::Exists) => return Err(BackendError::AlreadyExists { location }),
                Err(Lost::Changed) if matches!(expected, Expected::Any) => {}
                Err(Lost::Changed) if matches!(expected, Expected::Absent) => {
                    return Err(BackendError::AlreadyExists { location });
                }
                Err(Lost::Changed) => {
                    let expected = match mode {
                        PutMode::Replace(v) => v.clone(),
                        _ => Version(String::new()),
                    };
                    return Err(BackendError::Changed { location, expected });
                }
            }
        }
    }

    fn upload_once(
        &self,
        key: &str,
        path: &Path,
        source: &Path,
        options: &UploadOptions,
        progress: Progress<'_>,
        resumed: &mut u64,
    ) -> io::Result<u64> {
        let meta = fs::metadata(source)?;
        let size = meta.len();
        let id = super::upload_id(&self.location(key), source, &meta);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)?;
        fs::create_dir_all(&options.state_dir)?;
        let partial = dir.join(format!(".upload-{id}"));
        let state = options.state_dir.join(format!("{id}.posix"));
        let synced: u64 = fs::read_to_string(&state)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|n| *n <= size)
            .unwrap_or(0);
        self.fault("open")?;
        let mut output = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&partial)?;
        let start = if output.metadata()?.len() >= synced {
            synced
        } else {
            0
        };
        // Bytes after the last fsync may be torn: start again from the last resume point.
        output.set_len(start)?;
        output.seek(SeekFrom::Start(start))?;
        if start > 0 && *resumed == 0 {
            *resumed = start;
        }
        let mut input = File::open(source)?;
        input.seek(SeekFrom::Start(start))?;
        let part = options.part_size.max(1) as u64;
        let mut buffer = vec![0u8; (4 << 20).min(part as usize)];
        let mut done = start;
        let mut since_sync = 0u64;
        progress(done);
        loop {
            // Stop at each part boundary: that is where the upload can resume from.
            let want = (buffer.len() as u64).min(part - since_sync) as usize;
            let n = input.read(&mut buffer[..want])?;
            if n == 0 {
                break;
            }
            self.fault("write")?;
            output.write_all(&buffer[..n])?;
            done += n as u64;
            since_sync += n as u64;
            if since_sync >= options.part_size as u64 {
                self.fault("sync")?;
                output.sync_data()?;
                atomic::write_atomic(&state, done.to_string().as_bytes())?;
                since_sync = 0;
            }
            progress(done);
        }
        self.fault("sync")?;
        output.sync_all()?;
        drop(output);
        if done != size {
            return Err(io::Error::other(format!(
                "{} changed size while it was being uploaded ({size} bytes, then {done})",
                source.display()
            )));
        }
        self.fault("rename")?;
        if options.create_only {
            match fs::hard_link(&partial, path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            fs::remove_file(&partial)?;
        } else {
            fs::rename(&partial, path)?;
        }
        atomic::sync_dir(&dir)?;
        let _ = fs::remove_file(&state);
        Ok(done)
    }
}

#[derive(Clone, Copy, Debug)]
enum Expected {
    Generation(u64),
    Absent,
    Any,
}

#[derive(Debug)]
enum Lost {
    Exists,
    Changed,
}

enum VersionKind {
    Generation(u64),
    Plain(()),
}

fn parse_version(v: &Version) -> Option<VersionKind> {
    if let Some(n) = v.0.strip_prefix('g') {
        return n.parse().ok().map(VersionKind::Generation);
    }
    v.0.starts_with('f').then_some(VersionKind::Plain(()))
}

fn generation_name(n: u64) -> String {
    format!("{n:020}")
}

fn parse_generation(name: &str) -> Option<u64> {
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

#[cfg(unix)]
fn link_count(path: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(fs::metadata(path)?.nlink())
}

#[cfg(not(unix))]
fn link_count(_path: &Path) -> io::Result<u64> {
    Ok(1)
}

#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_a: &Path, _b: &Path) -> bool {
    false
}

/// A plain file's version: its identity and modification time, read through a fresh open
/// (close-to-open consistency makes that current on NFS).
fn plain_version(path: &Path) -> io::Result<String> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let ino = {
        use std::os::unix::fs::MetadataExt;
        meta.ino()
    };
    #[cfg(not(unix))]
    let ino = 0u64;
    Ok(format!("f{ino:x}-{mtime:x}-{:x}", meta.len()))
}

/// Turns an I/O error into a retry decision.
fn classify(location: &str, action: &'static str, e: &io::Error) -> Attempt {
    if io_is_transient(e) {
        return Attempt::Transient(describe_io(e));
    }
    if e.kind() == io::ErrorKind::NotFound {
        return Attempt::Fatal(BackendError::NotFound {
            location: location.to_owned(),
        });
    }
    let mut detail = describe_io(e);
    if matches!(e.raw_os_error(), Some(1 | 95)) && action == "commit a new version of" {
        detail.push_str(
            "; this share does not support hard links, which shared editing needs (on SMB, enable them on the server or use the NFS export)",
        );
    }
    Attempt::Fatal(BackendError::Failed {
        location: location.to_owned(),
        action,
        detail,
    })
}

/// Joins `relative` onto `root` and checks the result stays inside `root`: `relative` must not
/// be absolute or climb out with `..`, and no symlink on the way may lead outside. Parts that
/// do not exist yet are fine (a file about to be written).
pub fn resolve_inside(root: &Path, relative: &Path) -> std::result::Result<PathBuf, String> {
    for c in relative.components() {
        match c {
            Component::Normal(_) => {}
            Component::CurDir => {}
            Component::ParentDir => return Err("it climbs out with '..'".into()),
            Component::RootDir | Component::Prefix(_) => return Err("it is absolute".into()),
        }
    }
    let joined = root.join(relative);
    let Ok(real_root) = root.canonicalize() else {
        // No root yet: nothing under it can be a symlink.
        return Ok(joined);
    };
    // The deepest part that exists decides where the path really goes. Another client may
    // remove a part while we look: then look again from its parent.
    let mut existing = joined.clone();
    for _ in 0..64 {
        let Ok(meta) = fs::symlink_metadata(&existing) else {
            match existing.parent() {
                Some(p) => {
                    existing = p.to_path_buf();
                    continue;
                }
                None => return Ok(joined),
            }
        };
        match existing.canonicalize() {
            Ok(real) if real.starts_with(&real_root) => return Ok(joined),
            Ok(real) => {
                return Err(format!(
                    "a symlink on the way leads outside {} (to {})",
                    root.display(),
                    real.display()
                ));
            }
            // A dangling symlink: where it points is unknown, so it is refused.
            Err(_) if meta.file_type().is_symlink() => {
                return Err("a symlink on the way leads nowhere".into());
            }
            Err(_) => match existing.parent() {
                Some(p) => existing = p.to_path_buf(),
                None => return Ok(joined),
            },
        }
    }
    Err("the path kept changing while it was checked".into())
}

impl Backend for PosixBackend {
    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }

    fn get(&self, key: &str) -> Result<(Vec<u8>, Version)> {
        let path = self.path(key)?;
        let gens = Self::gen_dir(&path);
        let location = self.location(key);
        let found = self.attempt(key, "read", || {
            if let Some(n) = self.latest_generation(&gens)? {
                if n == 0 {
                    return Ok(None);
                }
                let bytes = match self.read_file(&gens.join(generation_name(n))) {
                    Ok(b) => b,
                    // Cleaned up under our feet by a writer far ahead: read the newest again.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(io::Error::from(io::ErrorKind::Interrupted));
                    }
                    Err(e) => return Err(e),
                };
                if bytes == TOMBSTONE {
                    return Ok(None);
                }
                return Ok(Some((bytes, Version(format!("g{n}")))));
            }
            match self.read_file(&path) {
                Ok(bytes) => {
                    let v = plain_version(&path)?;
                    Ok(Some((bytes, Version(v))))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        found.ok_or(BackendError::NotFound { location })
    }

    fn head(&self, key: &str) -> Result<Option<Meta>> {
        let path = self.path(key)?;
        let gens = Self::gen_dir(&path);
        self.attempt(key, "look up", || {
            if let Some(n) = self.latest_generation(&gens)? {
                if n == 0 || self.is_tombstone(&gens, n)? {
                    return Ok(None);
                }
                let size = fs::metadata(gens.join(generation_name(n)))?.len();
                return Ok(Some(Meta {
                    key: key.to_owned(),
                    size,
                    version: Version(format!("g{n}")),
                }));
            }
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => Ok(Some(Meta {
                    key: key.to_owned(),
                    size: m.len(),
                    version: Version(plain_version(&path)?),
                })),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn put(&self, key: &str, bytes: &[u8], mode: PutMode) -> Result<Version> {
        let path = self.path(key)?;
        self.put_once(key, &path, bytes, &mode)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        let gens = Self::gen_dir(&path);
        if gens.is_dir() {
            loop {
                let outcome = self.attempt(key, "delete", || {
                    let latest = self.latest_generation(&gens)?.unwrap_or(0);
                    if latest == 0 || self.is_tombstone(&gens, latest)? {
                        return Ok(Ok(latest));
                    }
                    self.commit_generation(&path, TOMBSTONE, Expected::Generation(latest))
                })?;
                if outcome.is_ok() {
                    return Ok(());
                }
            }
        }
        self.attempt(key, "delete", || match fs::remove_file(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<Meta>> {
        let trimmed = prefix.trim_end_matches('/');
        let start = if trimmed.is_empty() {
            self.root.clone()
        } else {
            self.path(trimmed)?
        };
        let mut out = Vec::new();
        self.attempt(prefix, "list", || {
            out.clear();
            self.fault("list")?;
            self.walk(&start, &mut out)
        })?;
        out.retain(|m| m.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn upload(
        &self,
        key: &str,
        source: &Path,
        options: &UploadOptions,
        progress: Progress<'_>,
    ) -> Result<Uploaded> {
        let path = self.path(key)?;
        let mut resumed = 0u64;
        let bytes = self.attempt(key, "upload to", || {
            self.upload_once(key, &path, source, options, progress, &mut resumed)
        })?;
        let version = self.attempt(key, "read the version of", || plain_version(&path))?;
        Ok(Uploaded {
            version: Version(version),
            bytes,
            resumed_bytes: resumed,
        })
    }

    fn download(&self, key: &str, dest: &Path, progress: Progress<'_>) -> Result<u64> {
        let path = self.path(key)?;
        let gens = Self::gen_dir(&path);
        self.attempt(key, "download", || {
            let source = match self.latest_generation(&gens)? {
                Some(n) if n > 0 => gens.join(generation_name(n)),
                _ => path.clone(),
            };
            self.fault("open")?;
            let mut input = File::open(&source)?;
            copy_to_file(&mut input, dest, progress, || self.fault("read"))
        })
    }
}

impl PosixBackend {
    fn walk(&self, dir: &Path, out: &mut Vec<Meta>) -> io::Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut plain = Vec::new();
        let mut versioned = std::collections::BTreeSet::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue; // temp files, .nfsXXXX, .upload-*
            }
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                if let Some(base) = name.strip_suffix(GEN_SUFFIX) {
                    versioned.insert(base.to_owned());
                    let gens = entry.path();
                    if let Some(n) = self.latest_generation(&gens)?
                        && n > 0
                        && !self.is_tombstone(&gens, n)?
                    {
                        let size = fs::metadata(gens.join(generation_name(n)))?.len();
                        out.push(Meta {
                            key: self.key_of(&dir.join(base)),
                            size,
                            version: Version(format!("g{n}")),
                        });
                    }
                } else {
                    self.walk(&entry.path(), out)?;
                }
            } else if file_type.is_file() {
                plain.push(entry.path());
            }
        }
        for path in plain {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if versioned.contains(name) {
                continue; // the published copy of a versioned object
            }
            let meta = fs::metadata(&path)?;
            out.push(Meta {
                key: self.key_of(&path),
                size: meta.len(),
                version: Version(plain_version(&path)?),
            });
        }
        Ok(())
    }

    fn key_of(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Streams `input` into `dest` through a temp file beside it, fsynced and renamed into place.
pub(crate) fn copy_to_file(
    input: &mut dyn Read,
    dest: &Path,
    progress: Progress<'_>,
    mut before_read: impl FnMut() -> io::Result<()>,
) -> io::Result<u64> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".download-{}", crate::host::random_hex(8)));
    let result = (|| {
        let mut output = File::create(&temp)?;
        let mut buffer = vec![0u8; 4 << 20];
        let mut done = 0u64;
        loop {
            before_read()?;
            let n = input.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            output.write_all(&buffer[..n])?;
            done += n as u64;
            progress(done);
        }
        output.sync_all()?;
        fs::rename(&temp, dest)?;
        atomic::sync_dir(dir)?;
        Ok(done)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_that_escape_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("inside")).unwrap();
        fs::create_dir_all(tmp.path().join("outside")).unwrap();
        assert!(resolve_inside(&root, Path::new("inside/new.png")).is_ok());
        assert!(resolve_inside(&root, Path::new("not/yet/there.png")).is_ok());
        assert!(resolve_inside(&root, Path::new("../outside")).is_err());
        assert!(resolve_inside(&root, Path::new("/etc/passwd")).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path().join("outside"), root.join("escape")).unwrap();
            std::os::unix::fs::symlink(root.join("inside"), root.join("fine")).unwrap();
            let err = resolve_inside(&root, Path::new("escape/x.png")).unwrap_err();
            assert!(err.contains("outside"), "{err}");
            assert!(resolve_inside(&root, Path::new("fine/x.png")).is_ok());
        }
    }
}
