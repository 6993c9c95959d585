//! The job queue every long task of Previz runs on.
//!
//! Screenplay import, the LLM breakdown, diffusion frames, TTS voices, exports, hashing,
//! thumbnail decoding and waveform peaks all run as jobs on a [`JobQueue`], so the studio's UI
//! never blocks and the headless CLI shows the same progress. This crate owns the queue:
//! worker threads, priorities, progress and logs, cancellation, ETAs, catching a job's panic,
//! and handing results back. It knows nothing of models, files or egui; it depends on
//! `previz-core` only for [`EditCommand`](previz_core::EditCommand), which a finished job may
//! return so that its result lands in the document as one undoable step.
//!
//! # A job
//!
//! A job is a closure run once on a worker thread. It reports through its [`JobContext`] and
//! checks for cancellation between steps (tokens, denoising steps, chunks):
//!
//! ```
//! use std::time::Duration;
//! use previz_jobs::{JobKind, JobOutput, JobQueue, JobSpec, Priority, QueueConfig};
//!
//! let queue = JobQueue::new(QueueConfig::default());
//! let id = queue.submit(JobSpec::new(JobKind::Frames, "Frames for scene 3"), |ctx| {
//!     let steps = 20;
//!     for step in 0..steps {
//!         ctx.check()?; // Err(JobError::Cancelled) once someone cancels
//!         // ... one denoising step ...
//!         ctx.progress((step + 1) as f32 / steps as f32, format!("step {}/{steps}", step + 1));
//!     }
//!     Ok(JobOutput::new("4 frames").with_data(vec![0_u8; 16]))
//! });
//! assert!(queue.wait_idle(Duration::from_secs(10)));
//! let mut finished = queue.drain_finished();
//! assert_eq!(finished[0].id, id);
//! let output = finished[0].result.as_mut().expect("the job succeeded");
//! assert_eq!(output.take_data::<Vec<u8>>().map(|pixels| pixels.len()), Some(16));
//! ```
//!
//! # How the studio uses it
//!
//! The app owns one queue and gives it a waker that asks egui to repaint
//! (`queue.set_waker(Arc::new(move || egui_ctx.request_repaint()))`). Once per frame it calls
//! [`JobQueue::drain_finished`] and, for each result, applies [`Finished::take_edit`] (the
//! job's commands as one batch labelled with the job's name, so "Undo Breakdown of scene 3"
//! undoes the whole breakdown) and shows failures as toasts; the job panel draws
//! [`JobQueue::snapshot`] (state, progress, message, ETA, log tail) with a cancel button per
//! row ([`JobQueue::cancel`]). Neither call waits for a worker.
//!
//! # How the CLI uses it
//!
//! The CLI submits its jobs, then loops on [`JobQueue::wait_idle`] with a short timeout,
//! redrawing progress bars from [`JobQueue::snapshot`] between waits, and prints the drained
//! results. Its Ctrl-C handler calls [`JobQueue::cancel_all`]. Code that should also run
//! without a queue takes a `&JobContext`; [`JobContext::detached`] makes one.
//!
//! # Threading model
//!
//! * `workers` general threads ("previz-job-0", …) take the highest-priority queued job, FIFO
//!   within a priority, so an interactive job never waits behind queued background ones. The
//!   `interactive_workers` lane threads ("previz-job-i0") take only [`Priority::Interactive`]
//!   jobs, so a thumbnail does not wait for a long running job to end either.
//! * One lock guards the queue (pending jobs, the panel's records, finished results), and each
//!   job has a small lock of its own for progress, message and log. Workers take the queue
//!   lock only to pick a job and to hand in a result; reporting progress takes only the job's
//!   own lock. `snapshot` copies the list of records, then each job's fields: a UI frame never
//!   waits for a job's work, only (at worst) for another thread's few-field update.
//! * A job that panics is caught and reported as [`JobState::Failed`] with the panic message;
//!   its worker takes the next job.
//! * Cancellation is cooperative: [`CancelToken`] is an `Arc<AtomicBool>` the job checks. A
//!   queued job is dropped at once; a running one ends at its next check.
//! * Workers never call the app. They raise a flag; the waker thread ("previz-job-wake") calls
//!   the app's [`Waker`] at most once per `wake_interval` (60 Hz) and always once after the
//!   last change, with no lock held.
//! * Dropping the last handle (or [`JobQueue::shutdown`]) cancels everything and joins the
//!   threads, giving up after a grace period on a job that ignores cancellation (its thread is
//!   detached; the report, or stderr on drop, names the job).
//!
//! A job may hold a clone of the queue (to submit follow-up work); the waker must not (that
//! would be a reference cycle, and the queue would never shut down).

mod context;
mod queue;
mod record;
mod shutdown;
mod types;
mod wake;
mod worker;

pub use context::{CancelToken, JobContext};
pub use queue::{JobQueue, QueueConfig, QueueStats};
pub use shutdown::{AbandonedJob, ShutdownReport};
pub use types::{
    Finished, JobError, JobId, JobKind, JobOutput, JobPreview, JobSnapshot, JobSpec, JobState,
    Priority,
};
pub use wake::Waker;

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_across_threads<T: Send + Sync>() {}
    fn sent_across_threads<T: Send>() {}

    #[test]
    fn handles_cross_threads() {
        shared_across_threads::<JobQueue>();
        shared_across_threads::<JobContext>();
        shared_across_threads::<CancelToken>();
        shared_across_threads::<JobSnapshot>();
        sent_across_threads::<Finished>();
        sent_across_threads::<JobOutput>();
    }
}
