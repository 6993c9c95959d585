//! Stopping the queue: cancel everything, wait a grace period for the threads, and say which
//! jobs ignored the cancellation rather than hang on them.

use std::fmt;
use std::sync::Mutex;
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::queue::{Shared, cancel_everything, wait_until};
use crate::record::lock;
use crate::types::{JobId, JobKind, JobState};

/// A running job that [`JobQueue::shutdown`](crate::JobQueue::shutdown) gave up waiting for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbandonedJob {
    pub id: JobId,
    pub name: String,
    pub kind: JobKind,
}

/// What [`JobQueue::shutdown`](crate::JobQueue::shutdown) did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Queued jobs cancelled before they ran.
    pub cancelled_queued: usize,
    /// Running jobs asked to cancel.
    pub cancelled_running: usize,
    /// Threads that ended and were joined.
    pub joined_threads: usize,
    /// Jobs still running when the grace period ran out; their threads were left to finish
    /// on their own (detached).
    pub abandoned: Vec<AbandonedJob>,
    /// Threads still alive when the grace period ran out (the workers of `abandoned`, and the
    /// waker thread if the app's waker blocked).
    pub stuck_threads: usize,
    /// The grace period.
    pub grace: Duration,
}

impl ShutdownReport {
    /// Every thread ended within the grace period.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.stuck_threads == 0 && self.abandoned.is_empty()
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return write!(
                f,
                "job queue shut down; {} threads joined",
                self.joined_threads
            );
        }
        write!(
            f,
            "job queue gave up after {:?} on {} thread(s) that did not stop",
            self.grace, self.stuck_threads
        )?;
        if !self.abandoned.is_empty() {
            f.write_str("; jobs that ignored cancellation:")?;
            for (i, job) in self.abandoned.iter().enumerate() {
                let sep = if i == 0 { " " } else { ", " };
                write!(f, "{sep}{} '{}' ({})", job.id, job.name, job.kind)?;
            }
        }
        Ok(())
    }
}

pub(crate) fn shutdown(
    shared: &Shared,
    threads: &Mutex<Vec<JoinHandle<()>>>,
    grace: Duration,
) -> ShutdownReport {
    shared.state().shutting_down = true;
    let (dropped, cancelled_running) = cancel_everything(shared);
    let cancelled_queued = dropped.len();
    drop(dropped);
    shared.work.notify_all();
    shared.signal.stop();

    // Wait for every thread but this one: the last handle may be dropped by a job on a
    // worker, which cannot wait for itself (it exits once its job returns).
    let me = thread::current().id();
    let deadline = Instant::now().checked_add(grace);
    let mut state = shared.state();
    loop {
        let others_alive = state.live_threads.iter().any(|t| *t != me);
        if !others_alive || deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        state = wait_until(&shared.idle, state, deadline);
    }
    let stuck: Vec<ThreadId> = state
        .live_threads
        .iter()
        .copied()
        .filter(|t| *t != me)
        .collect();
    // A job running on this very thread (it dropped the last handle) is not abandoned: it
    // ends when this drop returns to it.
    let abandoned = state
        .records
        .values()
        .filter(|cell| {
            let live = lock(&cell.live);
            live.state == JobState::Running && live.thread != Some(me)
        })
        .map(|cell| AbandonedJob {
            id: cell.id,
            name: cell.name.clone(),
            kind: cell.kind,
        })
        .collect();
    drop(state);

    // Join the threads that have exited (or are past their last lock and about to); leave
    // the stuck ones, and this one, in the list, detached when the queue is dropped.
    let mut handles = lock(threads);
    let mut joined_threads = 0;
    let mut kept = Vec::new();
    for handle in handles.drain(..) {
        let id = handle.thread().id();
        if id == me || stuck.contains(&id) {
            kept.push(handle);
        } else if handle.join().is_ok() {
            joined_threads += 1;
        }
    }
    *handles = kept;

    ShutdownReport {
        cancelled_queued,
        cancelled_running,
        joined_threads,
        abandoned,
        stuck_threads: stuck.len(),
        grace,
    }
}
