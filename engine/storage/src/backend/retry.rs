//! Retries with exponential backoff for shares that stop answering for a moment: an NFS server
//! failing over (`ESTALE`, `EIO` on a soft mount, `ETIMEDOUT`), an SMB reconnect, an S3 node
//! restarting (refused connections, 5xx). Only failures classed as transient are retried; a
//! full disk or a permission problem fails at once.

use std::io;
use std::time::{Duration, Instant};

use super::BackendError;

/// How long and how often to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait; each next one doubles, up to `max_wait`.
    pub first_wait: Duration,
    pub max_wait: Duration,
    /// Give up once this much time has passed since the first try.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    /// 100 ms doubling to 5 s, for up to two minutes: long enough for an NFS or S3 failover.
    /// `PREVIZ_SHARE_RETRY_SECS` changes the two minutes (pipelines that prefer to fail fast).
    fn default() -> Self {
        let budget = std::env::var("PREVIZ_SHARE_RETRY_SECS")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(Duration::from_secs(120), Duration::from_secs_f64);
        Self {
            first_wait: Duration::from_millis(100),
            max_wait: Duration::from_secs(5),
            budget,
        }
    }
}

impl RetryPolicy {
    /// No retries at all (tests of the error path).
    #[must_use]
    pub fn none() -> Self {
        Self {
            first_wait: Duration::ZERO,
            max_wait: Duration::ZERO,
            budget: Duration::ZERO,
        }
    }

    /// Runs `op` until it succeeds, fails for good, or the budget is spent. `op` returns
    /// `Err(Attempt::Transient(detail))` for failures worth retrying.
    pub fn run<T>(
        &self,
        location: &str,
        action: &'static str,
        mut op: impl FnMut() -> Result<T, Attempt>,
    ) -> Result<T, BackendError> {
        let start = Instant::now();
        let mut wait = self.first_wait;
        let mut tries = 0u32;
        loop {
            tries += 1;
            match op() {
                Ok(v) => return Ok(v),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Transient(detail)) => {
                    let waited = start.elapsed();
                    if waited + wait > self.budget {
                        return Err(BackendError::Unavailable {
                            location: location.to_owned(),
                            action,
                            detail,
                            tries,
                            waited,
                        });
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(self.max_wait).max(Duration::from_millis(1));
                }
            }
        }
    }
}

/// The outcome of one failed try.
#[derive(Debug)]
pub enum Attempt {
    Transient(String),
    Fatal(BackendError),
}

impl From<BackendError> for Attempt {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Unavailable { detail, .. } => Attempt::Transient(detail),
            other => Attempt::Fatal(other),
        }
    }
}

/// Whether an I/O error is one a share gives while it is away (worth retrying).
#[must_use]
pub fn io_is_transient(e: &io::Error) -> bool {
    if matches!(
        e.kind(),
        io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::NotConnected
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::StaleNetworkFileHandle
    ) {
        return true;
    }
    // EIO: what a soft NFS mount or a dropped SMB session returns mid-write.
    matches!(e.raw_os_error(), Some(5 | 112 | 121))
}

/// Describes an I/O error with its errno name where it helps (`ESTALE`, `EIO`).
#[must_use]
pub fn describe_io(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(5) => "EIO",
        Some(116) => "ESTALE",
        Some(110) => "ETIMEDOUT",
        Some(28) => "ENOSPC",
        Some(13) => "EACCES",
        Some(30) => "EROFS",
        Some(122) => "EDQUOT",
        _ => return e.to_string(),
    };
    format!("{e} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_transient_then_gives_a_clear_error() {
        let policy = RetryPolicy {
            first_wait: Duration::from_millis(1),
            max_wait: Duration::from_millis(4),
            budget: Duration::from_millis(60),
        };
        let mut n = 0;
        let v = policy
            .run("/share/x", "read", || {
                n += 1;
                if n < 3 {
                    Err(Attempt::Transient("ESTALE".into()))
                } else {
                    Ok(n)
                }
            })
            .unwrap();
        assert_eq!(v, 3);
        let err = policy
            .run::<()>("/share/x", "write", || {
                Err(Attempt::Transient("EIO".into()))
            })
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/share/x") && text.contains("EIO") && text.contains("tries"));
        let mut fatal = 0;
        let _ = policy.run::<()>("/share/x", "write", || {
            fatal += 1;
            Err(Attempt::Fatal(BackendError::Config("no".into())))
        });
        assert_eq!(fatal, 1);
        assert!(io_is_transient(&io::Error::from_raw_os_error(116)));
        assert!(io_is_transient(&io::Error::from_raw_os_error(5)));
        assert!(!io_is_transient(&io::Error::from_raw_os_error(28)));
        assert!(describe_io(&io::Error::from_raw_os_error(116)).contains("ESTALE"));
    }
}
