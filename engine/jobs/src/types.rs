//! The values that cross the queue: what a job is ([`JobSpec`]), what it returns
//! ([`JobOutput`], [`JobError`]), and what the app sees of it ([`JobSnapshot`], [`Finished`]).

use std::any::Any;
use std::fmt;
use std::time::{Duration, Instant};

use previz_core::EditCommand;

/// A job's number, unique within one [`JobQueue`](crate::JobQueue) and increasing in submission
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(u64);

impl JobId {
    pub(crate) const fn new(number: u64) -> Self {
        Self(number)
    }

    /// The number itself (for logs and `--json` output).
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a job does, for the job panel's icon and grouping and for the CLI's progress lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Screenplay import (Fountain, FDX).
    Import,
    /// Scene and shot breakdown by the local LLM.
    Breakdown,
    /// Storyboard frames by diffusion.
    Frames,
    /// Dialogue by TTS.
    Voices,
    /// Animatic, EDL, OTIO, PDF and other exports.
    Export,
    /// Decoding a thumbnail for the UI.
    Thumbnail,
    /// Audio waveform peaks for the timeline.
    Waveform,
    /// Anything else (hashing, plugins).
    Other,
}

impl JobKind {
    /// Every kind, in the order the job panel lists them.
    pub const ALL: [JobKind; 8] = [
        JobKind::Import,
        JobKind::Breakdown,
        JobKind::Frames,
        JobKind::Voices,
        JobKind::Export,
        JobKind::Thumbnail,
        JobKind::Waveform,
        JobKind::Other,
    ];

    /// The name the UI and the CLI show.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            JobKind::Import => "Import",
            JobKind::Breakdown => "Breakdown",
            JobKind::Frames => "Frames",
            JobKind::Voices => "Voices",
            JobKind::Export => "Export",
            JobKind::Thumbnail => "Thumbnail",
            JobKind::Waveform => "Waveform",
            JobKind::Other => "Other",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Which queued job a free worker takes first: the highest priority, then the oldest.
///
/// `Interactive` is for work a person is looking at and waiting for (a thumbnail scrolling into
/// view); `Normal` for work they asked for (a breakdown, an export); `Background` for work
/// nobody waits for (prefetching thumbnails, waveform peaks of unopened media).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Priority {
    Interactive,
    #[default]
    Normal,
    Background,
}

impl Priority {
    /// Every priority, highest first.
    pub const ALL: [Priority; 3] = [
        Priority::Interactive,
        Priority::Normal,
        Priority::Background,
    ];

    /// 0 for the highest priority; the index of its queue.
    pub(crate) const fn rank(self) -> usize {
        match self {
            Priority::Interactive => 0,
            Priority::Normal => 1,
            Priority::Background => 2,
        }
    }

    /// Whether `self` is taken before `other`.
    #[must_use]
    pub const fn is_higher_than(self, other: Priority) -> bool {
        self.rank() < other.rank()
    }

    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Priority::Interactive => "interactive",
            Priority::Normal => "normal",
            Priority::Background => "background",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What to run, as the job panel and the undo menu will name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// Shown in the job panel, and the label of the undo step its commands become.
    pub name: String,
    pub kind: JobKind,
    pub priority: Priority,
    /// Deduplication key. While a job with the same key is queued or running (and not asked to
    /// cancel), submitting another returns that job's id instead of queueing a second one; the
    /// queued job is moved up if the new request has a higher priority. Use it for requests the
    /// UI repeats every frame, such as `"thumb:<asset hash>@128"`.
    pub key: Option<String>,
}

impl JobSpec {
    /// A job of normal priority with no dedup key.
    #[must_use]
    pub fn new(kind: JobKind, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            priority: Priority::Normal,
            key: None,
        }
    }

    #[must_use]
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

/// What a job that succeeded hands back.
#[derive(Default)]
pub struct JobOutput {
    /// One line for the job panel and the CLI ("12 shots from 3 scenes").
    pub summary: String,
    /// Edits to the document. The app applies them as one undo step labelled with the job's
    /// name ([`Finished::take_edit`] builds it); a job never touches the document itself.
    pub commands: Vec<EditCommand>,
    /// Anything else the caller expects back (decoded pixels, waveform peaks), taken with
    /// [`JobOutput::take_data`].
    pub data: Option<Box<dyn Any + Send>>,
}

impl JobOutput {
    #[must_use]
    pub fn new(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn with_commands(mut self, commands: Vec<EditCommand>) -> Self {
        self.commands = commands;
        self
    }

    #[must_use]
    pub fn with_data<T: Any + Send>(mut self, data: T) -> Self {
        self.data = Some(Box::new(data));
        self
    }

    /// Takes the data out if it is a `T`; leaves it in place (and returns `None`) if it is not.
    pub fn take_data<T: Any>(&mut self) -> Option<T> {
        match self.data.take()?.downcast::<T>() {
            Ok(data) => Some(*data),
            Err(other) => {
                self.data = Some(other);
                None
            }
        }
    }
}

impl fmt::Debug for JobOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobOutput")
            .field("summary", &self.summary)
            .field("commands", &self.commands)
            .field("data", &self.data.as_ref().map(|_| "<opaque>"))
            .finish()
    }
}

/// Why a job produced no output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Someone asked it to stop (the job returned this, usually through
    /// [`JobContext::check`](crate::JobContext::check)), or it was cancelled before it ran.
    #[error("cancelled")]
    Cancelled,
    /// It could not do its work. `message` is one line for a toast or stderr; `detail` is
    /// what a bug report needs (the error's causes, a model's stderr).
    #[error("{message}")]
    Failed {
        message: String,
        detail: Option<String>,
    },
}

impl JobError {
    #[must_use]
    pub fn failed(message: impl Into<String>) -> Self {
        JobError::Failed {
            message: message.into(),
            detail: None,
        }
    }

    /// Adds (or replaces) the detail of a `Failed` error; `Cancelled` stays as it is.
    #[must_use]
    pub fn with_detail(self, detail: impl Into<String>) -> Self {
        match self {
            JobError::Failed { message, .. } => JobError::Failed {
                message,
                detail: Some(detail.into()),
            },
            JobError::Cancelled => JobError::Cancelled,
        }
    }

    /// A `Failed` error from any error: its message, and its chain of causes as the detail.
    /// Use as `.map_err(|e| JobError::from_error(&e))?`.
    #[must_use]
    pub fn from_error<E: std::error::Error + ?Sized>(error: &E) -> Self {
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push(format!("caused by: {cause}"));
            source = cause.source();
        }
        JobError::Failed {
            message: error.to_string(),
            detail: (!causes.is_empty()).then(|| causes.join("\n")),
        }
    }

    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JobError::Cancelled)
    }
}

/// Where a job is in its life. `Queued` → `Running` → one of the three finished states; a
/// queued job can also go straight to `Cancelled`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed {
        message: String,
        detail: Option<String>,
    },
    Cancelled,
}

impl JobState {
    /// Whether the job is over (succeeded, failed or cancelled).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed { .. } | JobState::Cancelled
        )
    }

    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed { .. } => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn of_result(result: &Result<JobOutput, JobError>) -> Self {
        match result {
            Ok(_) => JobState::Succeeded,
            Err(JobError::Cancelled) => JobState::Cancelled,
            Err(JobError::Failed { message, detail }) => JobState::Failed {
                message: message.clone(),
                detail: detail.clone(),
            },
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobState::Failed { message, .. } => write!(f, "failed: {message}"),
            other => f.write_str(other.label()),
        }
    }
}

/// The picture a job is making, as it stands (a denoising step's estimate): 8-bit RGB,
/// row-major. `serial` grows with every new preview, so a viewer re-uploads only on change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobPreview {
    pub width: u32,
    pub height: u32,
    pub rgb: std::sync::Arc<[u8]>,
    pub serial: u64,
}

/// One row of the job panel, copied out of the queue by
/// [`JobQueue::snapshot`](crate::JobQueue::snapshot).
#[derive(Clone, Debug, PartialEq)]
pub struct JobSnapshot {
    pub id: JobId,
    pub name: String,
    pub kind: JobKind,
    pub priority: Priority,
    pub state: JobState,
    /// 0 to 1; 1 once the job succeeded.
    pub progress: f32,
    /// The message of the last progress report.
    pub message: String,
    /// Time left, extrapolated from the progress rate; `None` until the job has run at least
    /// half a second and passed 2 %, and once it is finished.
    pub eta: Option<Duration>,
    /// Running time: zero while queued, frozen once finished.
    pub elapsed: Duration,
    /// The last few log lines (all of them: [`JobQueue::job_log`](crate::JobQueue::job_log)).
    pub log_tail: Vec<String>,
    /// Log lines dropped because the job logged more than the queue keeps.
    pub log_dropped: usize,
    /// Cancellation was asked for; a running job ends when it next checks.
    pub cancel_requested: bool,
    pub queued_at: Instant,
    pub started_at: Option<Instant>,
    pub finished_at: Option<Instant>,
    /// The latest preview the job reported, if it draws pictures.
    pub preview: Option<JobPreview>,
}

impl JobSnapshot {
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

/// A finished job's result, returned once by
/// [`JobQueue::drain_finished`](crate::JobQueue::drain_finished).
#[derive(Debug)]
pub struct Finished {
    pub id: JobId,
    pub name: String,
    pub kind: JobKind,
    pub result: Result<JobOutput, JobError>,
    /// Running time (zero for a job cancelled before it ran).
    pub elapsed: Duration,
    /// The log lines the queue kept (the last 500).
    pub log: Vec<String>,
    /// How many earlier lines were dropped to keep it at that.
    pub log_dropped: usize,
}

impl Finished {
    /// The job's commands as the one undoable edit the app applies: a batch labelled with the
    /// job's name (so the undo menu says "Undo Breakdown of scene 3"), or `None` when the job
    /// failed, was cancelled or has no commands. Takes the commands out of the result.
    pub fn take_edit(&mut self) -> Option<EditCommand> {
        let output = self.result.as_mut().ok()?;
        if output.commands.is_empty() {
            return None;
        }
        Some(EditCommand::Batch {
            label: self.name.clone(),
            commands: std::mem::take(&mut output.commands),
        })
    }

    #[must_use]
    pub fn succeeded(&self) -> bool {
        self.result.is_ok()
    }
}
