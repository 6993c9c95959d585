//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test file uses a different subset

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use previz_jobs::{JobId, JobQueue, JobSnapshot, QueueConfig};

/// How long a test waits for something that should happen almost at once before it fails
/// instead of hanging. Never a timing assertion: only a bound on a hang.
pub const HANG: Duration = Duration::from_secs(30);

/// A queue with `workers` general workers, no interactive lane, and a long shutdown grace.
pub fn queue(workers: usize) -> JobQueue {
    JobQueue::new(QueueConfig {
        workers,
        interactive_workers: 0,
        shutdown_grace: HANG,
        ..QueueConfig::default()
    })
}

/// A gate a job waits at until the test opens it (or drops the opener).
pub fn gate() -> (Sender<()>, Receiver<()>) {
    channel()
}

/// Waits for a message, failing the test after [`HANG`].
pub fn recv<T>(rx: &Receiver<T>) -> T {
    match rx.recv_timeout(HANG) {
        Ok(value) => value,
        Err(RecvTimeoutError::Timeout) => panic!("nothing arrived within {HANG:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("the sender went away"),
    }
}

pub fn find(queue: &JobQueue, id: JobId) -> JobSnapshot {
    queue
        .job(id)
        .unwrap_or_else(|| panic!("job {id} is not in the snapshot"))
}

/// Polls the queue's snapshot until `ready` holds for job `id` (for state the job cannot
/// announce itself, like an ETA that needs time to pass).
pub fn poll_until(
    queue: &JobQueue,
    id: JobId,
    ready: impl Fn(&JobSnapshot) -> bool,
) -> JobSnapshot {
    let deadline = Instant::now() + HANG;
    loop {
        let snapshot = find(queue, id);
        if ready(&snapshot) {
            return snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never got there: {snapshot:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
