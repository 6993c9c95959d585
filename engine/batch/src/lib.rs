//! The whole pipeline without a display, as deterministic work units.
//!
//! `previz batch` (and every task of a render farm) runs [`run`]: from a project it plans the
//! work of the chosen [`Step`]s as *units*: a scene's breakdown, a shot's frames, a line's
//! voice, the animatic, each export. Each unit is keyed by a blake3 hash of everything that
//! decides its result (the model's weights hash, the prompt, the seed, the sampling, the
//! upstream inputs), so:
//!
//! * a finished unit is *published* on the share ([`previz_storage::WorkArea`]:
//!   `NAME.previz/batch/units/<kind>/<key>.json`, media in the project's content-addressed
//!   store), atomically; a rerun, or a worker killed and started again, finds it and skips it;
//! * a unit being made is *claimed* first (`batch/claims/<key>.claim`), so two workers never
//!   make the same unit at once; a dead worker's claim goes stale and is taken back;
//! * a worker is one [`Shard`] of N: scenes are dealt to shards by estimated cost (longest
//!   first, to the least loaded), each scene's units (breakdown, then its shots' frames, then
//!   its lines' voices) stay on one worker, so nobody waits on anybody; a worker done with its
//!   share goes on with other shards' unclaimed units;
//! * the *gather* ([`Mode::Gather`]) holds the project's lock, plans again from the project as
//!   it is, applies every published unit in the order the interactive commands would
//!   (breakdowns, the rough cut, frames, voices and their re-timing), makes any unit still
//!   missing itself, saves, and writes the animatic and the exports (units too).
//!
//! A single process ([`Mode::All`]) is one shard of one followed by the gather: the same units,
//! the same keys, the same results as a farm, which the tests check unit for unit.

mod events;
pub mod farm;
mod keys;
mod run;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use events::{Event, EventSink, UnitStatus};
pub use keys::{UnitKey, UnitRecord, key_of};
pub use run::{BatchEngines, deal, run, select_shots};

use previz_breakdown::SceneSelection;
use previz_render::export::ExportFormat;

/// One stage of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Breakdown,
    Frames,
    Voices,
    Animatic,
    Exports,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Breakdown,
        Step::Frames,
        Step::Voices,
        Step::Animatic,
        Step::Exports,
    ];

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Step::Breakdown => "breakdown",
            Step::Frames => "frames",
            Step::Voices => "voices",
            Step::Animatic => "animatic",
            Step::Exports => "exports",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The steps of a run, parsed from `breakdown,frames,voices,animatic,exports`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steps(Vec<Step>);

impl Steps {
    #[must_use]
    pub fn all() -> Self {
        Self(Step::ALL.to_vec())
    }

    #[must_use]
    pub fn has(&self, step: Step) -> bool {
        self.0.contains(&step)
    }

    #[must_use]
    pub fn list(&self) -> &[Step] {
        &self.0
    }
}

impl Default for Steps {
    fn default() -> Self {
        Self::all()
    }
}

impl FromStr for Steps {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let step = match word.to_ascii_lowercase().as_str() {
                "all" => {
                    steps.extend(Step::ALL);
                    continue;
                }
                "breakdown" | "shots" => Step::Breakdown,
                "frames" | "storyboard" => Step::Frames,
                "voices" | "dialogue" => Step::Voices,
                "animatic" | "mp4" => Step::Animatic,
                "exports" | "export" => Step::Exports,
                other => {
                    return Err(format!(
                        "--steps: '{other}' is not a step; use breakdown, frames, voices, animatic, exports (or all)"
                    ));
                }
            };
            steps.push(step);
        }
        if steps.is_empty() {
            return Err(
                "--steps: name at least one step (breakdown,frames,voices,animatic,exports)".into(),
            );
        }
        steps.sort();
        steps.dedup();
        Ok(Self(steps))
    }
}

impl fmt::Display for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// Which part of the work a worker does: shard `index` (0-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole work (one shard of one).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: usize, count: usize) -> Result<Self, String> {
        if count == 0 {
            return Err("a farm has at least one shard".into());
        }
        if index >= count {
            return Err(format!(
                "shard {index} of {count}: shards are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }

    /// The shard a scheduler gave this task, from its environment: Slurm's
    /// `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`) of `SLURM_ARRAY_TASK_COUNT`, or
    /// Kubernetes' `JOB_COMPLETION_INDEX` of `PREVIZ_SHARDS` (or `shards`). `Ok(None)` when
    /// neither is set.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        shards: Option<usize>,
    ) -> Result<Option<Self>, String> {
        let num = |name: &str| -> Result<Option<usize>, String> {
            match get(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .map(Some)
                    .map_err(|_| format!("{name}={v} is not a task number")),
            }
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let Some(count) = shards.or(num("SLURM_ARRAY_TASK_COUNT")?) else {
                return Err(
                    "SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT; pass --shards N"
                        .into(),
                );
            };
            let index = id.checked_sub(min).ok_or_else(|| {
                format!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}")
            })?;
            return Self::new(index, count).map(Some);
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let Some(count) = shards.or(num("PREVIZ_SHARDS")?) else {
                return Err("JOB_COMPLETION_INDEX is set but not PREVIZ_SHARDS; set it to the Job's completions or pass --shards N"
                            .into());
            };
            return Self::new(index, count).map(Some);
        }
        Ok(None)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard '{text}': expected INDEX/COUNT, e.g. 0/4"))?;
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("--shard '{text}': expected INDEX/COUNT, e.g. 0/4"))
        };
        Self::new(parse(i)?, parse(n)?).map_err(|e| format!("--shard '{text}': {e}"))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What this process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Make this shard's units (and then others' unclaimed ones); the project is only read.
    Work,
    /// Hold the project, apply every unit (making any still missing), write the animatic and
    /// the exports.
    Gather,
    /// Both, in one process: what `previz batch PROJECT` does.
    All,
}

/// How a run goes.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    pub steps: Steps,
    pub scenes: SceneSelection,
    /// Shots by label or 1-based position (`3,5A,7-9`), for frames; `None`: all.
    pub shots: Option<String>,
    /// Seed of the breakdown, the frames and the voices.
    pub seed: u64,
    /// New takes per shot.
    pub takes: usize,
    pub shard: Shard,
    pub mode: Mode,
    /// After its own shard, go on with other shards' units nobody has claimed.
    pub steal: bool,
    /// With [`Mode::Gather`]: wait for units other workers hold rather than fail.
    pub wait: bool,
    /// A claim from another host counts as dead after this long without a heartbeat.
    pub stale_after: Duration,
    /// What the exports step writes, into `out_dir`.
    pub exports: Vec<ExportFormat>,
    pub out_dir: PathBuf,
    /// Take the project's lock over from a session that is gone.
    pub take_over: bool,
    /// Who this worker is, for claims and records (`shard 1/4 on node07`).
    pub worker: String,
}

impl BatchOptions {
    /// Everything, in one process, exports into `out_dir`.
    #[must_use]
    pub fn new(out_dir: PathBuf) -> Self {
        Self {
            steps: Steps::all(),
            scenes: SceneSelection::All,
            shots: None,
            seed: 0,
            takes: 1,
            shard: Shard::WHOLE,
            mode: Mode::All,
            steal: true,
            wait: true,
            stale_after: Duration::from_secs(600),
            exports: default_exports(),
            out_dir,
            take_over: false,
            worker: format!("pid {}", std::process::id()),
        }
    }
}

/// The exports a batch writes by default: every editorial format, the shot list and the PDF
/// storyboard (the animatic is its own step).
#[must_use]
pub fn default_exports() -> Vec<ExportFormat> {
    vec![
        ExportFormat::Otio,
        ExportFormat::Edl,
        ExportFormat::Xmeml,
        ExportFormat::Fcpxml,
        ExportFormat::Csv,
        ExportFormat::Pdf,
    ]
}

/// Why a batch stopped; [`BatchError::exit_status`] is what a scheduler sees.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The project could not be opened or saved.
    #[error("{0}")]
    Storage(#[from] previz_storage::StorageError),
    /// The share's work area failed.
    #[error("{action} {}: {source}; check the share is mounted and writable, then run again (finished units are kept)", path.display())]
    Share {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A published unit that does not parse (damaged on the share).
    #[error("{}: {message}", path.display())]
    Record { path: PathBuf, message: String },
    /// An edit from a unit did not apply.
    #[error("applying {what} to the project: {message}")]
    Apply { what: String, message: String },
    /// A request that makes no sense (bad selection...).
    #[error("{0}")]
    Invalid(String),
}

impl BatchError {
    /// 2 for bad input, 1 for everything else (see `previz batch --help` for the list).
    #[must_use]
    pub fn exit_status(&self) -> u8 {
        match self {
            BatchError::Invalid(_) | BatchError::Record { .. } => 2,
            BatchError::Storage(previz_storage::StorageError::Format { .. }) => 2,
            _ => 1,
        }
    }
}

/// What a run did, counted by unit.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Units this process made.
    pub done: usize,
    /// Units found published (by an earlier run or another worker).
    pub cached: usize,
    /// Units the gather found held by another live worker and did not wait for.
    pub held: usize,
    /// Units a worker left to the live workers that held them (made elsewhere).
    pub elsewhere: usize,
    /// Units that failed (each reported as it failed); run again to retry them.
    pub failed: usize,
    /// Scenes, shots and lines already up to date in the project (no unit needed).
    pub up_to_date: usize,
    /// Edits applied to the project by the gather.
    pub applied: usize,
    pub cancelled: bool,
    /// Files the gather wrote (the animatic, the exports).
    pub outputs: Vec<PathBuf>,
}

impl Summary {
    /// The exit status a scheduler acts on: 0 everything done, 1 some unit failed (retry),
    /// 75 (`EX_TEMPFAIL`) units are still held by other workers (run the gather later),
    /// 130 cancelled (SIGINT / SIGTERM; finished units are kept).
    #[must_use]
    pub fn exit_status(&self) -> u8 {
        if self.cancelled {
            130
        } else if self.failed > 0 {
            1
        } else if self.held > 0 {
            75
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_in_pipeline_order() {
        let s: Steps = "exports, frames,breakdown".parse().unwrap();
        assert_eq!(s.list(), [Step::Breakdown, Step::Frames, Step::Exports]);
        assert_eq!(s.to_string(), "breakdown,frames,exports");
        assert_eq!("all".parse::<Steps>().unwrap(), Steps::all());
        assert!(
            "frames,sound"
                .parse::<Steps>()
                .unwrap_err()
                .contains("'sound'")
        );
        assert!("".parse::<Steps>().is_err());
    }

    #[test]
    fn shards_from_flags_and_schedulers() {
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert!("4/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        // Slurm arrays may start at 1.
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            Shard::from_env(slurm, None).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "0"), ("PREVIZ_SHARDS", "2")]);
        assert_eq!(
            Shard::from_env(k8s, None).unwrap(),
            Some(Shard { index: 0, count: 2 })
        );
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")]), None).is_err());
        assert_eq!(
            Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "1")]), Some(3)).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "abc")]), None).is_err());
        assert_eq!(Shard::from_env(env(&[]), None).unwrap(), None);
    }

    #[test]
    fn exit_statuses_for_schedulers() {
        let mut s = Summary::default();
        assert_eq!(s.exit_status(), 0);
        s.held = 1;
        assert_eq!(s.exit_status(), 75);
        s.failed = 1;
        assert_eq!(s.exit_status(), 1);
        s.cancelled = true;
        assert_eq!(s.exit_status(), 130);
    }
}
