//! What a run reports as it goes: progress bars for people, one JSON object per line for farm
//! managers (`previz batch --progress json`).

use serde::Serialize;

/// How one unit ended in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    /// Made here and published.
    Done,
    /// Already published (an earlier run, another worker).
    Cached,
    /// Another live worker is making it.
    Held,
    /// Failed here; its claim is released so a rerun or another worker retries it.
    Failed,
}

/// One line of `--progress json`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run begins.
    Start {
        project: String,
        mode: String,
        shard: String,
        steps: String,
        worker: String,
        /// Scenes this shard owns (1-based), after dealing by cost.
        scenes: Vec<usize>,
    },
    /// More units are known (the total grows as breakdowns make shots).
    Planned { units: usize, total: usize },
    /// A unit starts here (after its claim).
    Begin {
        kind: String,
        key: String,
        label: String,
    },
    /// Progress inside the current unit (diffusion steps, export stages).
    Progress {
        label: String,
        fraction: f32,
        message: String,
    },
    /// A unit ended.
    Unit {
        kind: String,
        key: String,
        label: String,
        status: UnitStatus,
        seconds: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Units ended so far, of those planned so far.
        finished: usize,
        total: usize,
    },
    /// The gather landed edits in the project.
    Applied { what: String, edits: usize },
    /// Something the operator should know that does not stop the run.
    Warning { message: String },
    /// A file the gather wrote.
    Output { path: String, bytes: u64 },
    /// The run ended; `exit` is the process's exit status.
    Summary {
        #[serde(flatten)]
        summary: crate::Summary,
        seconds: f64,
        exit: u8,
    },
}

/// Where events go. Called from the worker thread only.
pub trait EventSink {
    fn event(&mut self, event: &Event);
}

impl<F: FnMut(&Event)> EventSink for F {
    fn event(&mut self, event: &Event) {
        self(event);
    }
}
