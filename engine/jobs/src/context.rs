//! What a running job sees: [`JobContext`] to report progress and logs and to notice
//! cancellation, and [`CancelToken`] to pass cancellation into code that knows nothing of jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::record::{JobCell, bounded, lock, log_lines};
use crate::types::{JobError, JobId, JobKind, JobSpec};
use crate::wake::Signal;

/// A shared "please stop" flag: cheap to clone (one `Arc`), cheap to check (one atomic load).
///
/// Every job has one ([`JobContext::cancel_token`]); model code takes a `&CancelToken` and
/// checks it between tokens, denoising steps or chunks. The CLI can also make its own
/// ([`CancelToken::new`]) and cancel it from its Ctrl-C handler.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks whoever holds a clone of this token to stop. Cannot be undone.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// `Err(JobError::Cancelled)` once cancelled, for `token.check()?` between steps.
    pub fn check(&self) -> Result<(), JobError> {
        if self.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Handed to a job's closure: report progress, log, and stop when asked.
///
/// Every method is cheap enough to call once per token or per denoising step: progress takes
/// only this job's own lock for a field store, and waking the UI is an atomic flag that the
/// queue's waker thread turns into at most ~60 calls a second. `JobContext` is `Sync`, so
/// threads a job spawns in a [`std::thread::scope`] can report through it too.
#[derive(Debug)]
pub struct JobContext {
    cell: Arc<JobCell>,
    signal: Option<Arc<Signal>>,
}

impl JobContext {
    pub(crate) fn new(cell: Arc<JobCell>, signal: Arc<Signal>) -> Self {
        Self {
            cell,
            signal: Some(signal),
        }
    }

    /// A context for running a job's code outside any queue: on the caller's thread in the
    /// CLI, or in a model's unit test. Progress and logs go nowhere; `token` cancels it.
    #[must_use]
    pub fn detached(kind: JobKind, name: impl Into<String>, token: CancelToken) -> Self {
        let cell = JobCell::new(
            JobId::new(0),
            JobSpec::new(kind, name),
            token,
            Instant::now(),
        );
        Self {
            cell: Arc::new(cell),
            signal: None,
        }
    }

    #[must_use]
    pub fn id(&self) -> JobId {
        self.cell.id
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.cell.name
    }

    #[must_use]
    pub fn kind(&self) -> JobKind {
        self.cell.kind
    }

    /// Reports how far the job is (clamped to 0..=1; a NaN fraction leaves the last one in
    /// place) and what it is doing now.
    pub fn progress(&self, fraction: f32, message: impl Into<String>) {
        let message = bounded(message.into());
        let old_message = {
            let mut live = lock(&self.cell.live);
            if !fraction.is_nan() {
                live.progress = fraction.clamp(0.0, 1.0);
            }
            std::mem::replace(&mut live.message, message)
        };
        drop(old_message); // freed outside the lock
        self.notify();
    }

    /// Like [`progress`](Self::progress) but keeps the message: for per-token updates that
    /// should not allocate.
    pub fn progress_fraction(&self, fraction: f32) {
        if fraction.is_nan() {
            return;
        }
        lock(&self.cell.live).progress = fraction.clamp(0.0, 1.0);
        self.notify();
    }

    /// Shows the picture the job is making (8-bit RGB, row-major); a buffer that does not
    /// match `width × height × 3` is ignored. Cheap: the bytes are moved, not copied, and a
    /// snapshot shares them.
    pub fn preview(&self, width: u32, height: u32, rgb: Vec<u8>) {
        let expected = u64::from(width) * u64::from(height) * 3;
        if expected == 0 || rgb.len() as u64 != expected {
            return;
        }
        let rgb: Arc<[u8]> = rgb.into();
        let old = {
            let mut live = lock(&self.cell.live);
            let serial = live.preview.as_ref().map_or(1, |p| p.serial + 1);
            live.preview.replace(crate::types::JobPreview {
                width,
                height,
                rgb,
                serial,
            })
        };
        drop(old); // freed outside the lock
        self.notify();
    }

    /// Appends to the job's log (a message with newlines is several lines). The queue keeps
    /// the last 500 lines of each job, each cut at 4 KiB.
    pub fn log(&self, line: impl Into<String>) {
        let lines = log_lines(line.into());
        lock(&self.cell.live).push_log(lines);
        self.notify();
    }

    /// Whether cancellation was asked for. Check between steps and return
    /// `Err(JobError::Cancelled)` (or use [`check`](Self::check)).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cell.token.is_cancelled()
    }

    /// `Err(JobError::Cancelled)` once cancelled: `ctx.check()?` between steps.
    pub fn check(&self) -> Result<(), JobError> {
        self.cell.token.check()
    }

    /// This job's token, to pass into code that should stop when the job is cancelled.
    #[must_use]
    pub fn cancel_token(&self) -> CancelToken {
        self.cell.token.clone()
    }

    fn notify(&self) {
        if let Some(signal) = &self.signal {
            signal.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_shared_by_its_clones() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert!(!clone.is_cancelled());
        assert_eq!(clone.check(), Ok(()));
        token.cancel();
        assert!(clone.is_cancelled());
        assert_eq!(clone.check(), Err(JobError::Cancelled));
    }

    #[test]
    fn a_detached_context_runs_job_code_without_a_queue() {
        let token = CancelToken::new();
        let ctx = JobContext::detached(JobKind::Export, "export", token.clone());
        ctx.progress(f32::NAN, "nan is ignored");
        ctx.progress(7.0, "clamped");
        ctx.progress_fraction(-1.0);
        ctx.log("one\ntwo");
        assert_eq!(ctx.name(), "export");
        assert_eq!(ctx.kind(), JobKind::Export);
        assert!(ctx.check().is_ok());
        token.cancel();
        assert!(ctx.is_cancelled());
        assert_eq!(ctx.check(), Err(JobError::Cancelled));
        let live = lock(&ctx.cell.live);
        assert!((live.progress - 0.0).abs() < f32::EPSILON);
        assert_eq!(live.message, "clamped");
        assert_eq!(live.log.len(), 2);
    }

    #[test]
    fn previews_replace_each_other_and_bad_buffers_are_ignored() {
        let ctx = JobContext::detached(JobKind::Frames, "frames", CancelToken::new());
        ctx.preview(2, 1, vec![1, 2, 3, 4, 5, 6]);
        ctx.preview(2, 2, vec![0; 5]);
        let first = ctx
            .cell
            .snapshot(std::time::Instant::now())
            .preview
            .unwrap();
        assert_eq!((first.width, first.height, first.serial), (2, 1, 1));
        assert_eq!(&first.rgb[..], &[1, 2, 3, 4, 5, 6]);
        ctx.preview(1, 1, vec![9, 9, 9]);
        let second = ctx
            .cell
            .snapshot(std::time::Instant::now())
            .preview
            .unwrap();
        assert_eq!((second.width, second.serial), (1, 2));
    }

    #[test]
    fn progress_clamps_and_ignores_nan() {
        let ctx = JobContext::detached(JobKind::Other, "p", CancelToken::new());
        ctx.progress(0.4, "a");
        ctx.progress(f32::NAN, "b");
        assert!((lock(&ctx.cell.live).progress - 0.4).abs() < f32::EPSILON);
        ctx.progress(f32::INFINITY, "c");
        assert!((lock(&ctx.cell.live).progress - 1.0).abs() < f32::EPSILON);
        ctx.progress(f32::NEG_INFINITY, "d");
        assert!(lock(&ctx.cell.live).progress.abs() < f32::EPSILON);
    }
}
