//! The queue itself: pending jobs by priority, the records the job panel shows, the outbox of
//! finished results; the worker threads live in `worker`, stopping them in `shutdown`.
//!
//! Locks: `Shared::state` (the queue) and each job's `JobCell::live` (its progress). When both
//! are held, `state` is taken first. A worker takes `state` only to pick a job and to hand in
//! its result; progress and logs take only the job's own lock. No user code (job closures,
//! their captured values, the waker) ever runs or is dropped under either lock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::context::{CancelToken, JobContext};
use crate::record::{JobCell, lock};
use crate::shutdown::{ShutdownReport, shutdown};
use crate::types::{
    Finished, JobError, JobId, JobOutput, JobSnapshot, JobSpec, JobState, Priority,
};
use crate::wake::{Signal, Waker};
use crate::worker::{ExitGuard, Lane, worker_loop};

type Work = Box<dyn FnOnce(&JobContext) -> Result<JobOutput, JobError> + Send>;

/// More threads than this per kind is a misconfiguration (a config file saying `workers =
/// 1e9`), not a wish; the queue caps it rather than exhausting the system.
const MAX_WORKERS: usize = 256;
/// Waking the UI less often than this would make progress look frozen.
const MAX_WAKE_INTERVAL: Duration = Duration::from_secs(1);

/// How to build a [`JobQueue`].
#[derive(Clone)]
pub struct QueueConfig {
    /// General workers, which take any job, highest priority first. Default: one less than the
    /// machine's cores (the UI thread needs one), at least 1. 0 is taken as 1, and more than
    /// 256 as 256.
    pub workers: usize,
    /// Extra workers that take only [`Priority::Interactive`] jobs, so a thumbnail never waits
    /// for a running minute-long diffusion job to end. Default 1; at most 256.
    pub interactive_workers: usize,
    /// Called when anything a job panel shows changes (see [`Waker`]).
    pub wake: Option<Waker>,
    /// The least time between two waker calls. Default 16 ms (~60 Hz); at most 1 s.
    pub wake_interval: Duration,
    /// How long dropping the queue waits for running jobs to notice cancellation before it
    /// gives up on them. Default 5 s.
    pub shutdown_grace: Duration,
    /// Finished jobs kept for [`JobQueue::snapshot`] (the oldest go first); default 200.
    pub keep_finished: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        let cores = thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            workers: cores.saturating_sub(1).max(1),
            interactive_workers: 1,
            wake: None,
            wake_interval: Duration::from_millis(16),
            shutdown_grace: Duration::from_secs(5),
            keep_finished: 200,
        }
    }
}

impl fmt::Debug for QueueConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueConfig")
            .field("workers", &self.workers)
            .field("interactive_workers", &self.interactive_workers)
            .field("wake", &self.wake.as_ref().map(|_| "<waker>"))
            .field("wake_interval", &self.wake_interval)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("keep_finished", &self.keep_finished)
            .finish()
    }
}

/// Counts for a status line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub queued: usize,
    pub running: usize,
    /// Finished results not yet taken by [`JobQueue::drain_finished`].
    pub undrained: usize,
}

pub(crate) struct Pending {
    pub(crate) cell: Arc<JobCell>,
    pub(crate) work: Work,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) next_id: u64,
    /// Pending jobs, one FIFO per priority (index = `Priority::rank`).
    pub(crate) queues: [VecDeque<Pending>; 3],
    /// Every job the panel shows, in submission order: the queued, the running, and the last
    /// `keep_finished` finished.
    pub(crate) records: BTreeMap<JobId, Arc<JobCell>>,
    /// Finished jobs in the order they finished, for trimming `records`.
    pub(crate) finished_order: VecDeque<JobId>,
    /// Dedup keys of queued and running jobs not asked to cancel.
    pub(crate) keys: HashMap<String, JobId>,
    pub(crate) outbox: Vec<Finished>,
    pub(crate) running: usize,
    /// Threads (workers and the waker thread) that have not exited yet.
    pub(crate) live_threads: Vec<ThreadId>,
    pub(crate) worker_threads: Vec<ThreadId>,
    pub(crate) shutting_down: bool,
    /// Set when no general worker could be started: submissions fail at once.
    pub(crate) broken: Option<String>,
}

impl State {
    pub(crate) fn queued(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.running == 0 && self.queues.iter().all(VecDeque::is_empty)
    }

    pub(crate) fn pop(&mut self, lane: Lane) -> Option<Pending> {
        match lane {
            Lane::Any => self.queues.iter_mut().find_map(VecDeque::pop_front),
            Lane::InteractiveOnly => self.queues[Priority::Interactive.rank()].pop_front(),
        }
    }

    fn take_queued(&mut self, id: JobId) -> Option<Pending> {
        self.queues.iter_mut().find_map(|queue| {
            let at = queue.iter().position(|p| p.cell.id == id)?;
            queue.remove(at)
        })
    }

    pub(crate) fn forget_key(&mut self, cell: &JobCell) {
        if let Some(key) = &cell.key
            && self.keys.get(key) == Some(&cell.id)
        {
            self.keys.remove(key);
        }
    }

    /// Hands in a finished job: its key is free again, its result goes to the outbox, and the
    /// oldest finished records beyond `keep` leave the panel.
    pub(crate) fn retire(&mut self, cell: &JobCell, finished: Finished, keep: usize) {
        self.forget_key(cell);
        self.outbox.push(finished);
        self.finished_order.push_back(cell.id);
        while self.finished_order.len() > keep {
            if let Some(old) = self.finished_order.pop_front() {
                self.records.remove(&old);
            }
        }
    }

    /// Marks a job that never ran as finished with `error` and hands it in.
    fn end_unrun(&mut self, cell: &JobCell, error: JobError, keep: usize) {
        let now = Instant::now();
        let finished = {
            let mut live = lock(&cell.live);
            live.state = JobState::of_result(&Err(error.clone()));
            live.finished_at = Some(now);
            Finished {
                id: cell.id,
                name: cell.name.clone(),
                kind: cell.kind,
                result: Err(error),
                elapsed: Duration::ZERO,
                log: Vec::new(),
                log_dropped: 0,
            }
        };
        self.retire(cell, finished, keep);
    }

    /// Cancels a queued job; returns its closure for the caller to drop outside the lock.
    fn cancel_queued(&mut self, id: JobId, keep: usize) -> Option<Pending> {
        let pending = self.take_queued(id)?;
        pending.cell.token.cancel();
        self.end_unrun(&pending.cell, JobError::Cancelled, keep);
        Some(pending)
    }
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Workers wait here for jobs.
    pub(crate) work: Condvar,
    /// `wait_idle` and `shutdown` wait here; notified when a job ends or a thread exits.
    pub(crate) idle: Condvar,
    pub(crate) signal: Arc<Signal>,
    pub(crate) keep_finished: usize,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn wait_until<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> MutexGuard<'a, T> {
    match deadline {
        None => wait(condvar, guard),
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            condvar
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        }
    }
}

/// The job queue: worker threads, priorities, progress, cancellation, results.
///
/// Cloning gives another handle to the same queue. When the last handle is dropped the queue
/// shuts down ([`JobQueue::shutdown`] with the configured grace period), and if a job ignored
/// cancellation past it, says so on stderr (the one place a `Drop` can report).
#[derive(Clone, Debug)]
pub struct JobQueue {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    grace: Duration,
    /// Whether `shutdown` ran (Drop then only joins what is left, without waiting again).
    shut_down: Mutex<bool>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state();
        f.debug_struct("JobQueue")
            .field("queued", &state.queued())
            .field("running", &state.running)
            .field("threads", &state.live_threads.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let already = *lock(&self.shut_down);
        let grace = if already { Duration::ZERO } else { self.grace };
        let report = shutdown(&self.shared, &self.threads, grace);
        *lock(&self.shut_down) = true;
        if !already && !report.is_clean() {
            // A library should not print, but Drop has no other way to say it, and a job
            // that outlives its queue is worth a line on stderr.
            eprintln!("previz-jobs: {report}");
        }
    }
}

impl JobQueue {
    /// Starts the worker threads ("previz-job-0", …, "previz-job-i0" for the interactive
    /// lane) and the waker thread ("previz-job-wake"). Never fails: if the system refuses
    /// every worker thread, the queue still exists and fails each job at submission.
    #[must_use]
    pub fn new(config: QueueConfig) -> Self {
        let interval = config.wake_interval.min(MAX_WAKE_INTERVAL);
        let signal = Arc::new(Signal::new(config.wake, interval));
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            idle: Condvar::new(),
            signal: Arc::clone(&signal),
            keep_finished: config.keep_finished,
        });
        let mut threads = Vec::new();
        {
            // Held while spawning so that each thread is registered before it can exit.
            let mut state = shared.state();
            let lanes = (0..config.workers.clamp(1, MAX_WORKERS))
                .map(|i| (format!("previz-job-{i}"), Lane::Any))
                .chain(
                    (0..config.interactive_workers.min(MAX_WORKERS))
                        .map(|i| (format!("previz-job-i{i}"), Lane::InteractiveOnly)),
                );
            let mut spawn_error = None;
            for (name, lane) in lanes {
                let worker_shared = Arc::clone(&shared);
                match thread::Builder::new()
                    .name(name)
                    .spawn(move || worker_loop(&worker_shared, lane))
                {
                    Ok(handle) => {
                        state.live_threads.push(handle.thread().id());
                        if lane == Lane::Any {
                            state.worker_threads.push(handle.thread().id());
                        }
                        threads.push(handle);
                    }
                    Err(error) => spawn_error = Some(error.to_string()),
                }
            }
            if state.worker_threads.is_empty() {
                state.broken = Some(format!(
                    "the job queue could not start a worker thread: {}",
                    spawn_error.unwrap_or_default()
                ));
            }
            let waker_shared = Arc::clone(&shared);
            if let Ok(handle) =
                thread::Builder::new()
                    .name("previz-job-wake".into())
                    .spawn(move || {
                        let _exit = ExitGuard(&waker_shared);
                        waker_shared.signal.run();
                    })
            {
                state.live_threads.push(handle.thread().id());
                threads.push(handle);
                signal.set_threaded();
            }
        }
        Self {
            inner: Arc::new(Inner {
                shared,
                threads: Mutex::new(threads),
                grace: config.shutdown_grace,
                shut_down: Mutex::new(false),
            }),
        }
    }

    /// Replaces the waker (the studio sets it once its egui context exists).
    pub fn set_waker(&self, wake: Waker) {
        self.inner.shared.signal.set_waker(Some(wake));
    }

    /// Queues a job and returns its id at once. With a [`JobSpec::key`] that a queued or
    /// running job already has, returns that job's id instead (raising its priority if this
    /// request's is higher) and drops `work` unrun. After shutdown, the job ends `Cancelled`
    /// at once; it still appears once in [`drain_finished`](Self::drain_finished).
    pub fn submit<F>(&self, spec: JobSpec, work: F) -> JobId
    where
        F: FnOnce(&JobContext) -> Result<JobOutput, JobError> + Send + 'static,
    {
        let work: Work = Box::new(work);
        let shared = &self.inner.shared;
        let mut unused: Option<Work> = None;
        let id = {
            let mut state = shared.state();
            let existing = spec
                .key
                .as_ref()
                .and_then(|key| state.keys.get(key).copied());
            if let Some(existing) = existing {
                raise_priority(&mut state, existing, spec.priority);
                unused = Some(work);
                existing
            } else {
                state.next_id += 1;
                let id = JobId::new(state.next_id);
                let priority = spec.priority;
                let cell = Arc::new(JobCell::new(id, spec, CancelToken::new(), Instant::now()));
                state.records.insert(id, Arc::clone(&cell));
                if state.shutting_down {
                    state.end_unrun(&cell, JobError::Cancelled, shared.keep_finished);
                    unused = Some(work);
                } else if let Some(reason) = state.broken.clone() {
                    state.end_unrun(&cell, JobError::failed(reason), shared.keep_finished);
                    unused = Some(work);
                } else {
                    if let Some(key) = &cell.key {
                        state.keys.insert(key.clone(), id);
                    }
                    state.queues[priority.rank()].push_back(Pending { cell, work });
                }
                id
            }
        };
        shared.signal.notify();
        shared.work.notify_all();
        drop(unused);
        id
    }

    /// Cancels a job: a queued one ends `Cancelled` at once without running; a running one is
    /// asked to stop (its [`JobContext::is_cancelled`] turns true) and ends when it next
    /// checks (a job that completes its work without checking again still succeeds, and its
    /// result is delivered). Returns false if the job is unknown or already finished.
    pub fn cancel(&self, id: JobId) -> bool {
        let shared = &self.inner.shared;
        let dropped;
        {
            let mut state = shared.state();
            let Some(cell) = state.records.get(&id).cloned() else {
                return false;
            };
            let job_state = lock(&cell.live).state.clone();
            match job_state {
                JobState::Queued => {
                    dropped = state.cancel_queued(id, shared.keep_finished);
                }
                JobState::Running => {
                    cell.token.cancel();
                    state.forget_key(&cell);
                    dropped = None;
                }
                JobState::Succeeded | JobState::Failed { .. } | JobState::Cancelled => {
                    return false;
                }
            }
        }
        shared.signal.notify();
        shared.idle.notify_all();
        drop(dropped);
        true
    }

    /// Cancels every queued and running job.
    pub fn cancel_all(&self) {
        let (dropped, _) = cancel_everything(&self.inner.shared);
        drop(dropped);
    }

    /// Every job the panel shows, in submission order: queued, running, and the most recent
    /// finished ones. Takes the queue's lock only to copy the list of records, then each job's
    /// own lock for a field copy; never waits for a job's work.
    #[must_use]
    pub fn snapshot(&self) -> Vec<JobSnapshot> {
        let cells: Vec<Arc<JobCell>> = self
            .inner
            .shared
            .state()
            .records
            .values()
            .cloned()
            .collect();
        let now = Instant::now();
        cells.iter().map(|cell| cell.snapshot(now)).collect()
    }

    /// One job's row, if the queue still shows it.
    #[must_use]
    pub fn job(&self, id: JobId) -> Option<JobSnapshot> {
        let cell = self.inner.shared.state().records.get(&id).cloned()?;
        Some(cell.snapshot(Instant::now()))
    }

    /// A job's whole kept log (the panel's detail view), if the queue still shows it.
    #[must_use]
    pub fn job_log(&self, id: JobId) -> Option<Vec<String>> {
        let cell = self.inner.shared.state().records.get(&id).cloned()?;
        let log = lock(&cell.live).log.iter().cloned().collect();
        Some(log)
    }

    /// The results of jobs finished since the last call, in the order they finished. Each
    /// finished job is returned exactly once. The studio calls this once per frame and
    /// applies each result's [`Finished::take_edit`] as one undo step.
    ///
    /// Results wait here until drained, however many there are: a queue whose results nobody
    /// drains keeps them all.
    #[must_use]
    pub fn drain_finished(&self) -> Vec<Finished> {
        std::mem::take(&mut self.inner.shared.state().outbox)
    }

    /// Removes finished jobs from [`snapshot`](Self::snapshot) (the panel's "Clear" button).
    /// Their undrained results stay in [`drain_finished`](Self::drain_finished).
    pub fn clear_finished(&self) {
        let mut state = self.inner.shared.state();
        state
            .records
            .retain(|_, cell| !lock(&cell.live).state.is_finished());
        state.finished_order.clear();
    }

    #[must_use]
    pub fn stats(&self) -> QueueStats {
        let state = self.inner.shared.state();
        QueueStats {
            queued: state.queued(),
            running: state.running,
            undrained: state.outbox.len(),
        }
    }

    /// Waits until no job is queued or running, or `timeout` passes; true if idle. Results
    /// are then ready in [`drain_finished`](Self::drain_finished), and a waker call for them
    /// is on its way. Called from inside one of this queue's jobs it returns false at once
    /// (that job is running, so the queue cannot become idle while it waits).
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let shared = &self.inner.shared;
        let me = thread::current().id();
        let deadline = Instant::now().checked_add(timeout);
        let mut state = shared.state();
        loop {
            if state.is_idle() {
                return true;
            }
            if state.worker_threads.contains(&me) {
                return false;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return false;
            }
            state = wait_until(&shared.idle, state, deadline);
        }
    }

    /// Cancels every job, stops the workers and joins them, waiting at most `grace` for
    /// running jobs to notice the cancellation. A job still running after that is abandoned:
    /// its thread is detached and finishes on its own, and the report names it. Jobs
    /// submitted afterwards end `Cancelled` at once. Calling it again waits again for what
    /// is left.
    pub fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let report = shutdown(&self.inner.shared, &self.inner.threads, grace);
        *lock(&self.inner.shut_down) = true;
        report
    }
}

/// Moves a queued job to a higher priority's queue (dedup of a more urgent request).
fn raise_priority(state: &mut State, id: JobId, priority: Priority) {
    let Some(cell) = state.records.get(&id).cloned() else {
        return;
    };
    let current = lock(&cell.live).priority;
    if !priority.is_higher_than(current) {
        return;
    }
    if let Some(pending) = state.take_queued(id) {
        lock(&cell.live).priority = priority;
        state.queues[priority.rank()].push_back(pending);
    }
}

/// Cancels all queued jobs (returned, to be dropped outside the lock) and asks running ones to
/// stop; returns how many were running.
pub(crate) fn cancel_everything(shared: &Shared) -> (Vec<Pending>, usize) {
    let mut dropped = Vec::new();
    let mut running = 0;
    {
        let mut state = shared.state();
        let queued: Vec<JobId> = state
            .queues
            .iter()
            .flat_map(|queue| queue.iter().map(|p| p.cell.id))
            .collect();
        for id in queued {
            dropped.extend(state.cancel_queued(id, shared.keep_finished));
        }
        let cells: Vec<Arc<JobCell>> = state.records.values().cloned().collect();
        for cell in cells {
            if lock(&cell.live).state == JobState::Running {
                cell.token.cancel();
                state.forget_key(&cell);
                running += 1;
            }
        }
    }
    shared.signal.notify();
    shared.idle.notify_all();
    (dropped, running)
}
