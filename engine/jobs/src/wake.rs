//! Waking the UI: workers raise a flag; one thread ("previz-job-wake") turns the flag into calls
//! of the app's [`Waker`], at most once per interval and always once after the last change.
//!
//! Why a thread rather than calling the waker from the worker that reported progress: a
//! per-caller rate limit can swallow the last update of a burst (the UI would show 40 % for the
//! minute a job then spends without reporting), and the app's waker (egui's `request_repaint`)
//! takes locks of its own, which a worker in the middle of inference should not wait for. Here
//! a worker pays one atomic swap per report; the waker runs on a thread of its own with no
//! queue lock held, so it may even call back into the queue.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::record::lock;

/// What the queue calls to tell the app something changed (egui: `ctx.request_repaint()`; the
/// CLI: nudge its progress bar). Called from the queue's own thread, at most about 60 times a
/// second however busy the workers are, and once after the last change of a burst; never with
/// a lock of the queue held. It should return quickly.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

pub(crate) struct Signal {
    /// Something changed since the waker last ran.
    dirty: AtomicBool,
    stop: Mutex<bool>,
    changed: Condvar,
    waker: Mutex<Option<Waker>>,
    /// The least time between two waker calls.
    interval: Duration,
    /// Whether the waker thread runs; if it could not be started, `notify` calls the waker
    /// itself (uncoalesced) rather than never.
    threaded: AtomicBool,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("dirty", &self.dirty)
            .field("interval", &self.interval)
            .field("has_waker", &lock(&self.waker).is_some())
            .finish_non_exhaustive()
    }
}

impl Signal {
    pub(crate) fn new(waker: Option<Waker>, interval: Duration) -> Self {
        Self {
            dirty: AtomicBool::new(false),
            stop: Mutex::new(false),
            changed: Condvar::new(),
            waker: Mutex::new(waker),
            interval,
            threaded: AtomicBool::new(false),
        }
    }

    pub(crate) fn set_waker(&self, waker: Option<Waker>) {
        let old = std::mem::replace(&mut *lock(&self.waker), waker);
        drop(old); // outside the lock: dropping a closure may run arbitrary code
    }

    pub(crate) fn set_threaded(&self) {
        self.threaded.store(true, Ordering::Release);
    }

    /// Something the UI shows changed. One atomic swap when a wake is already pending.
    pub(crate) fn notify(&self) {
        if self.dirty.swap(true, Ordering::AcqRel) {
            return; // the waker thread will see it
        }
        if self.threaded.load(Ordering::Acquire) {
            // Taking the lock orders this with the waker thread's check of `dirty`, so the
            // notification cannot fall between its check and its wait.
            let _guard = lock(&self.stop);
            self.changed.notify_one();
        } else {
            self.dirty.store(false, Ordering::Release);
            self.call_waker();
        }
    }

    pub(crate) fn stop(&self) {
        *lock(&self.stop) = true;
        self.changed.notify_all();
    }

    fn call_waker(&self) {
        let waker = lock(&self.waker).clone();
        if let Some(waker) = waker {
            // A panicking waker is the app's bug; the default hook has reported it, and the
            // queue keeps waking it.
            let _ = catch_unwind(AssertUnwindSafe(|| waker()));
        }
    }

    /// The waker thread's loop; returns when [`stop`](Self::stop) is called.
    pub(crate) fn run(&self) {
        loop {
            {
                let mut stopped = lock(&self.stop);
                while !*stopped && !self.dirty.load(Ordering::Acquire) {
                    stopped = self
                        .changed
                        .wait(stopped)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if *stopped {
                    return;
                }
            }
            self.dirty.store(false, Ordering::Release);
            self.call_waker();
            // Rate limit: changes during this pause set `dirty` and are delivered by one call
            // after it. Waiting on the condvar (not sleeping) lets `stop` end the pause.
            let stopped = lock(&self.stop);
            let (stopped, _) = self
                .changed
                .wait_timeout_while(stopped, self.interval, |stopped| !*stopped)
                .unwrap_or_else(PoisonError::into_inner);
            if *stopped {
                return;
            }
        }
    }
}
