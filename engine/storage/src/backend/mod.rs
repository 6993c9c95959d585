//! Where a show's shared data lives, behind one trait: a POSIX folder (the PowerScale share
//! mounted over NFS or SMB, or a local disk) or S3 (PowerScale S3, ECS, ObjectScale, AWS, any
//! S3 that honours conditional writes).
//!
//! A [`Backend`] stores whole objects under `/`-separated keys relative to its root. Three write
//! modes cover what many editors on one share need:
//!
//! * [`PutMode::Overwrite`]: replace whatever is there (atomically: readers see the old object
//!   or the new one, never a mix);
//! * [`PutMode::Create`]: only if nothing is there (S3 `If-None-Match: *`; POSIX `link(2)`);
//! * [`PutMode::Replace`]: only if the object is still at the [`Version`] the writer read
//!   (S3 `If-Match: <etag>`; on POSIX an append-only run of generation files, see [`posix`]).
//!
//! Every operation retries transient failures (a share that stops answering: `EIO`, `ESTALE`,
//! timeouts, refused connections, S3 5xx) with exponential backoff ([`retry`]), then fails with
//! an error that names the location, what was being done and what to try. Nothing is ever
//! visible under a final key until it is complete: POSIX writes go to a temp file that is
//! fsynced and renamed or linked into place; S3 puts are atomic and multipart uploads only
//! appear when completed.

pub mod aws_config;
pub mod posix;
pub mod retry;
pub mod s3;
pub mod test_server;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use posix::{Fault, FaultPlan, PosixBackend};
pub use retry::RetryPolicy;
pub use s3::{S3Backend, S3Location};

/// An opaque version of an object (an S3 ETag, or a generation on POSIX), compared by
/// [`PutMode::Replace`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Version(pub String);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a listing or a head request tells about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The key, relative to the backend's root.
    pub key: String,
    pub size: u64,
    pub version: Version,
}

/// How a put treats an object already at the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutMode {
    Overwrite,
    Create,
    Replace(Version),
}

/// How a large upload went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    pub version: Version,
    pub bytes: u64,
    /// Bytes a previous, interrupted upload of the same file had already sent.
    pub resumed_bytes: u64,
}

/// Options of [`Backend::upload`].
#[derive(Clone, Debug)]
pub struct UploadOptions {
    /// Where the state of interrupted uploads is kept so a later upload of the same file to
    /// the same key resumes (a local folder; the workstation's cache by default).
    pub state_dir: std::path::PathBuf,
    /// Part size for multipart uploads (S3 needs at least 5 MiB for all parts but the last).
    pub part_size: usize,
    /// Only create the object if nothing is at the key (content-addressed stores).
    pub create_only: bool,
}

impl UploadOptions {
    /// Uploads that resume from `state_dir`, in 16 MiB parts.
    #[must_use]
    pub fn new(state_dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            part_size: 16 << 20,
            create_only: false,
        }
    }
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{location} does not exist")]
    NotFound { location: String },
    #[error("{location} already exists")]
    AlreadyExists { location: String },
    #[error(
        "{location} was changed by someone else since it was read (expected version {expected})"
    )]
    Changed { location: String, expected: Version },
    #[error(
        "the share at {location} did not answer while trying to {action}: {detail} ({tries} tries over {waited:.1?}); check that the share is mounted and reachable (README, 'Shared storage'), then try again. Nothing partial was left under the final name"
    )]
    Unavailable {
        location: String,
        action: &'static str,
        detail: String,
        tries: u32,
        waited: Duration,
    },
    #[error("could not {action} {location}: {detail}")]
    Failed {
        location: String,
        action: &'static str,
        detail: String,
    },
    #[error(
        "'{key}' is not a safe storage path: {why}. Paths in a project are relative, use '/' between folders, and stay inside the project or store root"
    )]
    BadKey { key: String, why: String },
    #[error("{0}")]
    Config(String),
    #[error("the transfer to {location} was cancelled")]
    Cancelled { location: String },
}

impl BackendError {
    /// Whether trying again later may succeed (the share or the server did not answer).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, BackendError::Unavailable { .. })
    }
}

pub type Result<T> = std::result::Result<T, BackendError>;

/// Progress of a long transfer: bytes done so far.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// One place objects live. Implementations are blocking and thread-safe.
pub trait Backend: Send + Sync + fmt::Debug {
    /// The place a key names, as a person reads it (`/mnt/show/x`, `s3://bucket/prefix/x`).
    fn location(&self, key: &str) -> String;

    /// The whole object and its version.
    fn get(&self, key: &str) -> Result<(Vec<u8>, Version)>;

    /// The object's size and version, or `None` when there is none.
    fn head(&self, key: &str) -> Result<Option<Meta>>;

    /// Stores a whole object atomically; returns its new version.
    fn put(&self, key: &str, bytes: &[u8], mode: PutMode) -> Result<Version>;

    /// Removes an object (no error when it is already gone).
    fn delete(&self, key: &str) -> Result<()>;

    /// Every object whose key starts with `prefix` (a folder prefix ending in `/`, or empty),
    /// sorted by key. Temp files, in-flight generations and `.nfsXXXX` files are not listed.
    fn list(&self, prefix: &str) -> Result<Vec<Meta>>;

    /// Streams a local file to `key`: in parts that resume after an interruption (a killed
    /// process, a server that went away), and only visible under `key` once complete.
    fn upload(
        &self,
        key: &str,
        source: &Path,
        options: &UploadOptions,
        progress: Progress<'_>,
    ) -> Result<Uploaded>;

    /// Streams `key` into a local file (temp file, fsync, rename); returns its size.
    fn download(&self, key: &str, dest: &Path, progress: Progress<'_>) -> Result<u64>;
}

/// Opens the backend a location names: `s3://bucket/prefix` (credentials and endpoint from the
/// standard AWS environment variables and files, see [`aws_config`]), `file:///path` or a
/// plain path.
pub fn open(location: &str) -> Result<Arc<dyn Backend>> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let s3 = S3Location::parse(rest)?;
        return Ok(Arc::new(S3Backend::from_aws_config(s3)?));
    }
    let path = location.strip_prefix("file://").unwrap_or(location);
    Ok(Arc::new(PosixBackend::new(path)))
}

/// Checks a key (or any path stored in a project) is relative and stays inside its root:
/// no absolute paths, no `..`, no empty or `.` components, no backslashes or drive letters, no
/// NUL. Symlinks are checked where files are opened ([`posix::resolve_inside`]).
pub fn check_key(key: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(BackendError::BadKey {
            key: key.to_owned(),
            why: why.to_owned(),
        })
    };
    if key.is_empty() {
        return bad("it is empty");
    }
    if key.starts_with('/') {
        return bad("it is absolute");
    }
    if key.contains('\\') {
        return bad("it contains a backslash");
    }
    if key.contains('\0') {
        return bad("it contains a NUL byte");
    }
    if key.len() > 1024 {
        return bad("it is longer than 1024 bytes");
    }
    let first = key.split('/').next().unwrap_or_default();
    if first.len() == 2 && first.ends_with(':') {
        return bad("it starts with a drive letter");
    }
    for part in key.split('/') {
        match part {
            "" => return bad("it has an empty folder name ('//' or a trailing '/')"),
            "." => return bad("it has a '.' component"),
            ".." => return bad("it climbs out with '..'"),
            _ => {}
        }
    }
    Ok(())
}

/// Names an upload's resume state: the destination, the source file and its size and time (a
/// changed file starts over).
pub(crate) fn upload_id(location: &str, source: &Path, meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut h = blake3::Hasher::new();
    h.update(location.as_bytes());
    h.update(b"\0");
    h.update(source.as_os_str().as_encoded_bytes());
    h.update(format!("\0{}\0{mtime}", meta.len()).as_bytes());
    h.finalize().to_hex()[..32].to_owned()
}

/// Joins a prefix and a key with one `/`.
#[must_use]
pub fn join_key(prefix: &str, key: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_stay_inside() {
        for good in [
            "project.json",
            "a/b/c.png",
            "objects/ab/cd/abcd",
            "..x/y",
            "x../y",
        ] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/",
            "./a",
            "C:/x",
            "a\\b",
            "a\0b",
        ] {
            let err = check_key(bad).unwrap_err();
            assert!(matches!(err, BackendError::BadKey { .. }), "{bad}: {err}");
        }
        assert_eq!(join_key("show/", "x"), "show/x");
        assert_eq!(join_key("", "x"), "x");
    }
}
