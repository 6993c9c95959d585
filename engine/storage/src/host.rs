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
}
