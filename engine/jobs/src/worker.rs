//! The worker threads' loop: take the most urgent job this worker may run, run it with its
//! panics caught, hand in the result.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crate::context::JobContext;
use crate::queue::{Pending, Shared, wait};
use crate::record::lock;
use crate::types::{Finished, JobError, JobState};

/// Which jobs a worker takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    Any,
    InteractiveOnly,
}

/// Removes its thread from the live list when the thread's loop ends, however it ends.
pub(crate) struct ExitGuard<'a>(pub(crate) &'a Shared);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        let me = thread::current().id();
        self.0.state().live_threads.retain(|t| *t != me);
        self.0.idle.notify_all();
    }
}

pub(crate) fn worker_loop(shared: &Shared, lane: Lane) {
    let _exit = ExitGuard(shared);
    while let Some(pending) = next_job(shared, lane) {
        run_job(shared, pending);
    }
}

/// Waits for a job this worker may take; `None` once the queue shuts down.
fn next_job(shared: &Shared, lane: Lane) -> Option<Pending> {
    let mut state = shared.state();
    loop {
        if state.shutting_down {
            return None;
        }
        if let Some(pending) = state.pop(lane) {
            state.running += 1;
            let mut live = lock(&pending.cell.live);
            live.state = JobState::Running;
            live.started_at = Some(Instant::now());
            live.thread = Some(thread::current().id());
            drop(live);
            return Some(pending);
        }
        state = wait(&shared.work, state);
    }
}

fn run_job(shared: &Shared, pending: Pending) {
    shared.signal.notify();
    let Pending { cell, work } = pending;
    let ctx = JobContext::new(Arc::clone(&cell), Arc::clone(&shared.signal));
    // `work` and everything it captured are consumed and dropped inside the guarded call.
    let result = match catch_unwind(AssertUnwindSafe(|| work(&ctx))) {
        Ok(result) => result,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            // Even a panic payload's Drop is the job's code.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            Err(JobError::failed(format!("the job crashed: {message}")))
        }
    };
    drop(ctx);

    let now = Instant::now();
    let finished = {
        let mut live = lock(&cell.live);
        live.state = JobState::of_result(&result);
        live.finished_at = Some(now);
        if result.is_ok() {
            live.progress = 1.0;
        }
        Finished {
            id: cell.id,
            name: cell.name.clone(),
            kind: cell.kind,
            result,
            elapsed: live.elapsed(now),
            log: live.log.iter().cloned().collect(),
            log_dropped: live.log_dropped,
        }
    };
    let mut state = shared.state();
    state.running = state.running.saturating_sub(1);
    state.retire(&cell, finished, shared.keep_finished);
    // Raised before the lock is released, so that once `wait_idle` sees this job gone, a
    // waker call for it is already due.
    shared.signal.notify();
    drop(state);
    shared.idle.notify_all();
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic without a message".to_owned()
    }
}
