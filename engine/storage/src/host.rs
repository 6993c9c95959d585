//! Facts about this machine and process: host name, user, whether a pid is alive, fresh
//! random names.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// This machine's name as other machines on the share will see it in lock files.
#[must_use]
pub fn host_name() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    if name.is_empty() {
        "unknown-host".to_owned()
    } else {
        name
    }
}

/// The host name reduced to characters that are safe in a file name (`[A-Za-z0-9_]`); used in
/// temp-file names so a stale temp can be traced to the machine that wrote it.
#[must_use]
pub fn host_tag(host: &str) -> String {
    let tag: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    if tag.is_empty() {
        "unknown".to_owned()
    } else {
        tag
    }
}

/// The login name of whoever runs this process, from the environment.
#[must_use]
pub fn user_name() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether process `pid` is running on this machine: `Some(false)` only when we are sure it is
/// not (its `/proc` entry is gone or it is a zombie), `None` when this platform cannot tell.
///
/// Only `/proc` is consulted: the workspace forbids `unsafe`, so `kill(pid, 0)` is out of reach,
/// and on Linux `/proc` says the same without a syscall wrapper. A zombie (killed but not yet
/// reaped by its parent) counts as dead: it will never touch the project again.
#[must_use]
pub fn pid_alive(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") {
        let stat = std::path::Path::new("/proc")
            .join(pid.to_string())
            .join("stat");
        match std::fs::read_to_string(stat) {
            Ok(text) => {
                // Format: `pid (comm) S ...`; comm may contain spaces and parentheses.
                let state = text
                    .rfind(')')
                    .and_then(|i| text.get(i + 1..))
                    .and_then(|rest| rest.trim_start().chars().next());
                Some(!matches!(state, Some('Z' | 'X')))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
            // /proc unreadable (hidepid, sandbox): say nothing rather than guess.
            Err(_) => None,
        }
    } else {
        None
    }
}

/// `len` lower-case hex digits that differ between calls and processes (not cryptographic:
/// temp-file names and lock tokens only need to be unlikely to collide).
#[must_use]
pub fn random_hex(len: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut input = Vec::with_capacity(40);
    input.extend_from_slice(&hasher.finish().to_le_bytes());
    input.extend_from_slice(&std::process::id().to_le_bytes());
    input.extend_from_slice(&jiff::Timestamp::now().as_nanosecond().to_le_bytes());
    let hex = blake3::hash(&input).to_hex();
    hex.as_str().chars().take(len.min(64)).collect()
}

/// Free (for this user) and total bytes of the file system holding `path`.
pub fn disk_space(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    #[cfg(target_os = "linux")]
    {
        let s = rustix::fs::statvfs(path)?;
        Ok((
            s.f_bavail.saturating_mul(s.f_frsize),
            s.f_blocks.saturating_mul(s.f_frsize),
        ))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// A mounted file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: std::path::PathBuf,
    /// `nfs4`, `cifs`, `smb3`, `ext4`, …
    pub fs_type: String,
    /// What is mounted (`server:/export`, `//server/share`, a device).
    pub source: String,
}

impl Mount {
    /// Whether it is a network file system (NFS, SMB/CIFS, and the usual FUSE ones).
    #[must_use]
    pub fn is_network(&self) -> bool {
        matches!(
            self.fs_type.as_str(),
            "nfs" | "nfs4" | "cifs" | "smb3" | "smbfs" | "ceph" | "glusterfs" | "lustre" | "gpfs"
        ) || self.fs_type.starts_with("fuse.s3")
            || self.fs_type == "fuse.sshfs"
    }
}

/// The mount holding `path` (the longest mount point above it), from `/proc/self/mountinfo`.
#[must_use]
pub fn mount_of(path: &std::path::Path) -> Option<Mount> {
    let path = path.canonicalize().ok()?;
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_mountinfo(&text)
        .into_iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len())
}

/// The mounts `/proc/self/mountinfo` lists (lines that do not parse are skipped).
#[must_use]
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    // "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
    let unescape = |s: &str| {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('\\') {
            out.push_str(&rest[..i]);
            let code = rest.get(i + 1..i + 4);
            match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
                Some(b) => {
                    out.push(char::from(b));
                    rest = &rest[i + 4..];
                }
                None => {
                    out.push('\\');
                    rest = &rest[i + 1..];
                }
            }
        }
        out.push_str(rest);
        out
    };
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fs_type = right.next()?.to_owned();
            let source = right.next().unwrap_or("").to_owned();
            Some(Mount {
                mount_point: std::path::PathBuf::from(unescape(mount_point)),
                fs_type,
                source: unescape(&source),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_pid_is_alive_and_a_huge_one_is_not() {
        if cfg!(target_os = "linux") {
            assert_eq!(pid_alive(std::process::id()), Some(true));
            assert_eq!(pid_alive(u32::MAX - 7), Some(false));
        }
    }

    #[test]
    fn random_names_differ_and_host_tags_are_file_safe() {
        assert_ne!(random_hex(16), random_hex(16));
        assert_eq!(random_hex(8).len(), 8);
        assert_eq!(host_tag("studio-3.local"), "studio_3_local");
        assert_eq!(host_tag(""), "unknown");
    }

    #[test]
    fn mountinfo_lines_parse_with_escapes() {
        let text = "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw\n\
                    40 36 0:52 / /mnt/show\\040share rw,relatime shared:2 - nfs4 isilon:/ifs/show rw,vers=4.1\n\
                    garbage\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 2);
        assert_eq!(
            mounts[1].mount_point,
            std::path::Path::new("/mnt/show share")
        );
        assert_eq!(mounts[1].fs_type, "nfs4");
        assert_eq!(mounts[1].source, "isilon:/ifs/show");
        assert!(mounts[1].is_network() && !mounts[0].is_network());
        assert!(mount_of(std::path::Path::new("/")).is_some());
    }

    proptest::proptest! {
        #[test]
        fn any_mountinfo_text_parses_without_panicking(text in "(\\PC{0,40}( - )?\\\\?[0-7]{0,3}\n?){0,6}") {
            let _ = parse_mountinfo(&text);
        }
    }
}
