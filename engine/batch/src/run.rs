//! The run: plan units from the project, find, claim, make and publish them, and (in the
//! gather) land them in the project and write the animatic and the exports.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use previz_breakdown::{
    BreakdownOptions, SceneEngine, SceneInput, SceneSelection, SceneState, bible,
    run::timeline_command, run_breakdown, scene_state,
};
use previz_core::edit::EditCommand;
use previz_core::ids::{LineId, ShotId};
use previz_core::project::Project;
use previz_core::{ContentHash, format};
use previz_frames::{FrameEngine, FramesOptions, frame_inputs, frame_up_to_date, run_frames};
use previz_jobs::{CancelToken, JobContext, JobKind};
use previz_render::animatic::BurnIns;
use previz_render::export::{ExportFormat, ExportRequest, export};
use previz_storage::{AssetStore, Claim, ClaimAttempt, OpenMode, Session, WorkArea, host};
use previz_voices::{
    VoiceBank, VoicesOptions, casting_commands, line_inputs, line_up_to_date, retime_command,
    run_voices,
};
use serde_json::json;

use crate::events::{Event, EventSink, UnitStatus};
use crate::keys::{OutputFile, RECORD_FORMAT, UnitKey, UnitRecord, key_of};
use crate::{BatchError, BatchOptions, Mode, Step, Summary};

/// The engines a run draws on: whatever is installed, or the embedded defaults (the rules
/// breakdown, the storyboard sketch, espeak-ng or silence).
pub struct BatchEngines {
    pub breakdown: Box<dyn SceneEngine>,
    pub frames: FrameEngine,
    pub voices: VoiceBank,
    /// The voice characters without one are cast with (default: the bank's).
    pub default_voice: Option<String>,
}

impl std::fmt::Debug for BatchEngines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchEngines")
            .field("breakdown", &self.breakdown.name())
            .field("frames", &self.frames)
            .field("voices", &self.voices)
            .finish()
    }
}

/// The project a run reads and edits: a snapshot (a worker changes nothing on disk) or the
/// open session (the gather, holding the lock).
enum Target {
    Snapshot(Box<Project>),
    Session(Box<Session>),
}

impl Target {
    fn project(&self) -> &Project {
        match self {
            Target::Snapshot(p) => p,
            Target::Session(s) => s.project(),
        }
    }

    fn apply(&mut self, command: &EditCommand, what: &str) -> Result<usize, BatchError> {
        let edits = match command {
            EditCommand::Batch { commands, .. } => commands.len(),
            _ => 1,
        };
        let failed = |message: String| BatchError::Apply {
            what: what.to_owned(),
            message,
        };
        match self {
            Target::Snapshot(p) => {
                p.apply(command).map_err(|e| failed(e.to_string()))?;
            }
            Target::Session(s) => {
                s.apply(command).map_err(|e| failed(e.to_string()))?;
            }
        }
        Ok(edits)
    }

    fn save(&mut self) -> Result<(), BatchError> {
        if let Target::Session(s) = self
            && s.is_dirty()
        {
            s.save()?;
        }
        Ok(())
    }
}

/// Keeps the claim of the unit being made alive: its heartbeat is refreshed from a thread
/// every `interval` while the model works.
struct Heartbeat {
    slot: Arc<Mutex<Option<Claim>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    fn start(interval: Duration) -> Self {
        let slot: Arc<Mutex<Option<Claim>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (slot.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("previz-claim-heartbeat".into())
            .spawn(move || {
                let mut last = Instant::now();
                while !st.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    if last.elapsed() < interval {
                        continue;
                    }
                    last = Instant::now();
                    let mut guard = s.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(claim) = guard.as_mut() {
                        // A lost claim is noticed when the unit is published (the record is
                        // the same whoever writes it, so nothing is corrupted either way).
                        let _ = claim.refresh(Timestamp::now());
                    }
                }
            })
            .ok();
        Self { slot, stop, thread }
    }

    fn hold(&self, claim: Claim) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(claim);
    }

    fn take(&self) -> Option<Claim> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(claim) = self.take() {
            let _ = claim.release();
        }
    }
}

/// What making a unit produced.
#[derive(Default)]
struct Parts {
    commands: Vec<EditCommand>,
    assets: Vec<ContentHash>,
    outputs: Vec<OutputFile>,
}

enum UnitError {
    Cancelled,
    Failed(String),
}

/// How looking for a unit ended.
enum Obtained {
    Ready(Box<UnitRecord>),
    /// Another live worker makes it.
    Elsewhere,
    Failed,
    Cancelled,
}

type Compute<'c> =
    dyn FnMut(&JobContext, &mut dyn FnMut(f32, &str)) -> Result<Parts, UnitError> + 'c;

struct Runner<'s> {
    area: WorkArea,
    store: AssetStore,
    options: &'s BatchOptions,
    sink: &'s mut dyn EventSink,
    cancel: CancelToken,
    summary: Summary,
    finished: usize,
    total: usize,
    heartbeat: Heartbeat,
    host: String,
}

impl Runner<'_> {
    fn planned(&mut self, units: usize) {
        self.total += units;
        self.sink.event(&Event::Planned {
            units,
            total: self.total,
        });
    }

    fn ended(
        &mut self,
        key: &UnitKey,
        label: &str,
        status: UnitStatus,
        seconds: f64,
        message: Option<String>,
    ) {
        self.finished += 1;
        match status {
            UnitStatus::Done => self.summary.done += 1,
            UnitStatus::Cached => self.summary.cached += 1,
            UnitStatus::Held => {
                if self.options.mode == Mode::Work {
                    self.summary.elsewhere += 1;
                } else {
                    self.summary.held += 1;
                }
            }
            UnitStatus::Failed => self.summary.failed += 1,
        }
        self.sink.event(&Event::Unit {
            kind: key.kind.clone(),
            key: key.hash.clone(),
            label: label.to_owned(),
            status,
            seconds,
            message,
            finished: self.finished,
            total: self.total.max(self.finished),
        });
    }

    fn share_error(&self, action: &'static str, source: std::io::Error) -> BatchError {
        BatchError::Share {
            action,
            path: self.area.root().to_path_buf(),
            source,
        }
    }

    /// The published record of `key`, if it is there and still checks out (its media and
    /// files exist); a record that does not is forgotten so the unit is made again.
    fn cached(&mut self, key: &UnitKey) -> Result<Option<UnitRecord>, BatchError> {
        let bytes = self
            .area
            .published(&key.kind, &key.hash)
            .map_err(|e| self.share_error("reading a finished unit in", e))?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let record: Option<UnitRecord> = serde_json::from_slice(&bytes).ok();
        let valid = record.as_ref().is_some_and(|r| {
            r.format == RECORD_FORMAT
                && &r.key == key
                && r.assets.iter().all(|h| self.store.contains(h))
                && r.outputs.iter().all(|o| {
                    std::fs::metadata(self.options.out_dir.join(&o.path))
                        .is_ok_and(|m| m.len() == o.bytes)
                })
        });
        if valid {
            return Ok(record);
        }
        self.sink.event(&Event::Progress {
            label: format!("{} {}", key.kind, &key.hash[..12]),
            fraction: 0.0,
            message: "its published record no longer checks out (damaged, or its media are gone): making it again".into(),
        });
        self.area
            .unpublish(&key.kind, &key.hash)
            .map_err(|e| self.share_error("removing a stale unit from", e))?;
        Ok(None)
    }

    /// Finds the unit published, or claims and makes it, or learns another worker has it
    /// (with `wait`, waits for that worker, taking the claim back if it dies).
    fn obtain(
        &mut self,
        key: &UnitKey,
        label: &str,
        wait: bool,
        compute: &mut Compute<'_>,
    ) -> Result<Obtained, BatchError> {
        let mut waited = false;
        loop {
            if let Some(record) = self.cached(key)? {
                self.ended(key, label, UnitStatus::Cached, 0.0, None);
                return Ok(Obtained::Ready(Box::new(record)));
            }
            if self.cancel.is_cancelled() {
                return Ok(Obtained::Cancelled);
            }
            let attempt = self
                .area
                .claim(
                    &key.hash,
                    &self.options.worker,
                    Timestamp::now(),
                    self.options.stale_after,
                )
                .map_err(|e| self.share_error("claiming a unit in", e))?;
            match attempt {
                ClaimAttempt::Claimed(claim) => {
                    if let Some(record) = self.cached(key)? {
                        let _ = claim.release();
                        self.ended(key, label, UnitStatus::Cached, 0.0, None);
                        return Ok(Obtained::Ready(Box::new(record)));
                    }
                    return self.make(key, label, claim, compute);
                }
                ClaimAttempt::Held { holder, staleness } => {
                    let who = holder
                        .holder()
                        .map_or_else(|| "another worker".to_owned(), ToString::to_string);
                    if !wait {
                        self.ended(
                            key,
                            label,
                            UnitStatus::Held,
                            0.0,
                            Some(format!("{who} is making it ({staleness})")),
                        );
                        return Ok(Obtained::Elsewhere);
                    }
                    if !waited {
                        waited = true;
                        self.sink.event(&Event::Progress {
                            label: label.to_owned(),
                            fraction: 0.0,
                            message: format!("waiting for {who}, who is making it"),
                        });
                    }
                    for _ in 0..20 {
                        if self.cancel.is_cancelled() {
                            return Ok(Obtained::Cancelled);
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }

    fn make(
        &mut self,
        key: &UnitKey,
        label: &str,
        claim: Claim,
        compute: &mut Compute<'_>,
    ) -> Result<Obtained, BatchError> {
        let started = Instant::now();
        self.heartbeat.hold(claim);
        self.sink.event(&Event::Begin {
            kind: key.kind.clone(),
            key: key.hash.clone(),
            label: label.to_owned(),
        });
        let ctx = JobContext::detached(JobKind::Other, label, self.cancel.clone());
        let result = {
            let sink = &mut *self.sink;
            let mut progress = |fraction: f32, message: &str| {
                sink.event(&Event::Progress {
                    label: label.to_owned(),
                    fraction,
                    message: message.to_owned(),
                });
            };
            compute(&ctx, &mut progress)
        };
        let claim = self.heartbeat.take();
        let seconds = started.elapsed().as_secs_f64();
        let outcome = match result {
            Ok(parts) => {
                let record = UnitRecord {
                    format: RECORD_FORMAT.to_owned(),
                    key: key.clone(),
                    label: label.to_owned(),
                    commands: parts.commands,
                    assets: parts.assets,
                    outputs: parts.outputs,
                    worker: self.options.worker.clone(),
                    host: self.host.clone(),
                    finished: Timestamp::now(),
                    seconds,
                };
                let bytes = serde_json::to_vec_pretty(&record).map_err(|e| BatchError::Record {
                    path: self.area.root().to_path_buf(),
                    message: e.to_string(),
                })?;
                if let Err(e) = self.area.publish(&key.kind, &key.hash, &bytes) {
                    if let Some(c) = claim {
                        let _ = c.release();
                    }
                    return Err(self.share_error("publishing a unit in", e));
                }
                self.ended(key, label, UnitStatus::Done, seconds, None);
                Obtained::Ready(Box::new(record))
            }
            Err(UnitError::Cancelled) => Obtained::Cancelled,
            Err(UnitError::Failed(message)) => {
                self.ended(key, label, UnitStatus::Failed, seconds, Some(message));
                Obtained::Failed
            }
        };
        if let Some(c) = claim {
            let _ = c.release();
        }
        Ok(outcome)
    }
}

/// What a scene's stage left for the next.
#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    /// The scene's shots are being made by another worker: its frames wait for them.
    Blocked,
    Stop,
}

/// A stable shot id from a breakdown unit's key: the same scene broken down on any machine
/// gives the same shots, so the frames keyed by them match too.
fn derived_shot_id(key: &UnitKey, index: usize) -> ShotId {
    let hash = blake3::hash(format!("{}:{index}", key.hash).as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash.as_bytes()[..16]);
    // RFC 9562 version 8 (custom) with the variant bits set: still a valid UUID.
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    ShotId::from_u128(u128::from_be_bytes(b))
}

fn scene_label(project: &Project, index: usize) -> String {
    let heading = project
        .script
        .scenes
        .get(index)
        .map_or("", |s| s.heading.text.as_str());
    format!("scene {} {heading}", index + 1)
}

fn breakdown_scene(
    r: &mut Runner<'_>,
    target: &mut Target,
    snapshot: &Project,
    engine: &mut dyn SceneEngine,
    index: usize,
    wait: bool,
) -> Result<Flow, BatchError> {
    let seed = r.options.seed;
    let (name, model) = (engine.name(), engine.model());
    if scene_state(target.project(), index, &name, model.as_deref(), seed) != SceneState::ToDo {
        r.summary.up_to_date += 1;
        return Ok(Flow::Go);
    }
    // Keyed by the scene's input as the project was when the run began (what
    // `previz breakdown` plans every scene from), not by what other scenes became since.
    let input = SceneInput::new(
        snapshot,
        index,
        &bible::derive(snapshot),
        snapshot.settings.style.clone(),
        seed,
    );
    let key = key_of(
        "breakdown",
        &json!({"engine": name, "model": model, "weights": engine.weights_hash(), "input": input}),
    );
    let label = scene_label(snapshot, index);
    r.planned(1);
    let obtained = r.obtain(&key, &label, wait, &mut |ctx, _progress| {
        let mut outcome = None;
        let options = BreakdownOptions {
            scenes: SceneSelection::Range {
                first: index + 1,
                last: Some(index + 1),
            },
            seed,
            force: true,
        };
        let summary = run_breakdown(snapshot, engine, &options, ctx, |o| outcome = Some(o));
        if summary.cancelled {
            return Err(UnitError::Cancelled);
        }
        let Some(EditCommand::Batch { commands, .. }) = outcome.and_then(|o| o.command) else {
            return Err(UnitError::Failed(
                "the scene holds hand-made shots now; it is left alone".into(),
            ));
        };
        let mut shots = Vec::new();
        for command in commands {
            if let EditCommand::AddShot { mut shot, after } = command {
                shot.id = derived_shot_id(&key, shots.len());
                shots.push(EditCommand::AddShot { shot, after });
            }
        }
        Ok(Parts {
            commands: shots,
            ..Parts::default()
        })
    })?;
    match obtained {
        Obtained::Ready(record) => {
            let scene = target.project().script.scenes[index].id;
            let mut commands: Vec<EditCommand> = target
                .project()
                .shots_in_scene(scene)
                .map(|s| EditCommand::RemoveShot { shot: s.id })
                .collect();
            commands.extend(record.commands.iter().cloned());
            let what = format!("the breakdown of {label}");
            let edits = target.apply(
                &EditCommand::Batch {
                    label: format!("Break down scene {} (batch)", index + 1),
                    commands,
                },
                &what,
            )?;
            r.summary.applied += edits;
            Ok(Flow::Go)
        }
        Obtained::Elsewhere | Obtained::Failed => Ok(Flow::Blocked),
        Obtained::Cancelled => Ok(Flow::Stop),
    }
}

/// Shots by label or 1-based position: `3,5A,7-9`.
pub fn select_shots(project: &Project, spec: &str) -> Result<Vec<ShotId>, String> {
    let mut out = Vec::new();
    let n = project.shots.len();
    let numbers = project.shot_numbers();
    for token in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if let Some(s) = project.shots.iter().find(|s| {
            s.label
                .as_deref()
                .or_else(|| numbers.get(&s.id).map(String::as_str))
                .is_some_and(|l| l.eq_ignore_ascii_case(token))
        }) {
            out.push(s.id);
            continue;
        }
        let (a, b) = token.split_once('-').unwrap_or((token, token));
        let parse = |x: &str, default: usize| -> Option<usize> {
            if x.trim().is_empty() {
                Some(default)
            } else {
                x.trim().parse().ok()
            }
        };
        match (parse(a, 1), parse(b, n)) {
            (Some(first), Some(last)) if first >= 1 && first <= last && last <= n => {
                out.extend(project.shots[first - 1..last].iter().map(|s| s.id));
            }
            _ => {
                return Err(format!(
                    "--shots: '{token}' is neither a shot label nor a position within 1-{n}; use labels (5A) or positions (3, 7-9)"
                ));
            }
        }
    }
    out.dedup();
    Ok(out)
}

fn frames_options(r: &Runner<'_>, project_dir: &Path) -> FramesOptions {
    FramesOptions {
        shots: None,
        takes: r.options.takes.max(1),
        seed: r.options.seed,
        force: true,
        from_active: None,
        project_dir: Some(project_dir.to_path_buf()),
    }
}

fn frames_scene(
    r: &mut Runner<'_>,
    target: &mut Target,
    engine: &FrameEngine,
    project_dir: &Path,
    index: usize,
    wait: bool,
) -> Result<Flow, BatchError> {
    let Some(scene) = target.project().script.scenes.get(index).map(|s| s.id) else {
        return Ok(Flow::Go);
    };
    let chosen = match &r.options.shots {
        Some(spec) => Some(select_shots(target.project(), spec).map_err(BatchError::Invalid)?),
        None => None,
    };
    let shots: Vec<ShotId> = target
        .project()
        .shots_in_scene(scene)
        .filter(|s| chosen.as_ref().is_none_or(|c| c.contains(&s.id)))
        .map(|s| s.id)
        .collect();
    let options = frames_options(r, project_dir);
    let store = r.store.clone();
    let failed = |e: previz_frames::FramesError| BatchError::Invalid(e.to_string());
    for id in shots {
        if r.cancel.is_cancelled() {
            return Ok(Flow::Stop);
        }
        if frame_up_to_date(target.project(), engine, id, &options, &store).map_err(failed)? {
            r.summary.up_to_date += 1;
            continue;
        }
        let Some(inputs) =
            frame_inputs(target.project(), engine, id, &options, &store).map_err(failed)?
        else {
            continue;
        };
        let key = key_of("frames", &inputs);
        let number = target
            .project()
            .shot_numbers()
            .get(&id)
            .cloned()
            .unwrap_or_default();
        let label = format!("shot {number}");
        r.planned(1);
        let project = target.project();
        let obtained = r.obtain(&key, &label, wait, &mut |ctx, progress| {
            let one = FramesOptions {
                shots: Some(vec![id]),
                ..options.clone()
            };
            let (command, summary) = run_frames(
                project,
                engine,
                &store,
                &one,
                ctx,
                |_| {},
                |s, _| {
                    #[allow(clippy::cast_precision_loss)]
                    let f = s.step as f32 / s.steps.max(1) as f32;
                    progress(
                        f,
                        &format!("take {} step {}/{}", s.take + 1, s.step, s.steps),
                    );
                },
            )
            .map_err(|e| UnitError::Failed(e.to_string()))?;
            if summary.cancelled {
                return Err(UnitError::Cancelled);
            }
            Ok(takes_of(command, |c| match c {
                EditCommand::AttachTake { take, .. } => Some(take.asset),
                _ => None,
            }))
        })?;
        let batch = format!("Draw frames for {label} (batch)");
        if land(
            r,
            target,
            obtained,
            batch,
            &format!("the frames of {label}"),
        )? == Flow::Stop
        {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Go)
}

/// A unit's edits from what a run made: the commands `take` keeps (it names each one's
/// medium), flattened out of the run's batch.
fn takes_of(
    command: Option<EditCommand>,
    take: impl Fn(&EditCommand) -> Option<ContentHash>,
) -> Parts {
    let commands: Vec<EditCommand> = match command {
        Some(EditCommand::Batch { commands, .. }) => commands,
        Some(other) => vec![other],
        None => Vec::new(),
    }
    .into_iter()
    .filter(|c| take(c).is_some())
    .collect();
    let assets = commands.iter().filter_map(&take).collect();
    Parts {
        commands,
        assets,
        ..Parts::default()
    }
}

/// Lands an obtained unit's edits in the project as one batch named `batch`.
fn land(
    r: &mut Runner<'_>,
    target: &mut Target,
    obtained: Obtained,
    batch: String,
    what: &str,
) -> Result<Flow, BatchError> {
    match obtained {
        Obtained::Ready(record) => {
            let edits = target.apply(
                &EditCommand::Batch {
                    label: batch,
                    commands: record.commands,
                },
                what,
            )?;
            r.summary.applied += edits;
            Ok(Flow::Go)
        }
        Obtained::Cancelled => Ok(Flow::Stop),
        Obtained::Elsewhere | Obtained::Failed => Ok(Flow::Go),
    }
}

fn voices_options(r: &Runner<'_>, default_voice: &str) -> VoicesOptions {
    VoicesOptions {
        scenes: None,
        force: true,
        seed: r.options.seed,
        default_voice: Some(default_voice.to_owned()),
        lines: None,
    }
}

fn voices_scene(
    r: &mut Runner<'_>,
    target: &mut Target,
    bank: &mut VoiceBank,
    default_voice: &str,
    index: usize,
    wait: bool,
) -> Result<Flow, BatchError> {
    let Some(scene) = target.project().script.scenes.get(index) else {
        return Ok(Flow::Go);
    };
    let lines: Vec<(LineId, String)> = scene.dialogue().map(|d| (d.id, d.cue.clone())).collect();
    let options = voices_options(r, default_voice);
    let store = r.store.clone();
    for (n, (line, cue)) in lines.into_iter().enumerate() {
        if r.cancel.is_cancelled() {
            return Ok(Flow::Stop);
        }
        if line_up_to_date(target.project(), line, default_voice) {
            r.summary.up_to_date += 1;
            continue;
        }
        let inputs = line_inputs(target.project(), bank, line, &options)
            .map_err(|e| BatchError::Invalid(e.to_string()))?;
        let Some(inputs) = inputs else {
            continue;
        };
        let key = key_of("voice", &inputs);
        let label = format!("line {}:{} {cue}", index + 1, n + 1);
        r.planned(1);
        let project = target.project();
        let obtained = r.obtain(&key, &label, wait, &mut |ctx, _progress| {
            let one = VoicesOptions {
                scenes: Some(vec![index]),
                lines: Some(vec![line]),
                ..options.clone()
            };
            let (command, summary) = run_voices(project, bank, &store, &one, ctx, |_| {})
                .map_err(|e| UnitError::Failed(e.to_string()))?;
            if summary.cancelled {
                return Err(UnitError::Cancelled);
            }
            // The take only: the gather re-times the clip on the timeline it has then.
            Ok(takes_of(command, |c| match c {
                EditCommand::AttachLineTake { take, .. } => Some(take.asset),
                _ => None,
            }))
        })?;
        let batch = format!("Voice {label} (batch)");
        if land(r, target, obtained, batch, &format!("the voice of {label}"))? == Flow::Stop {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Go)
}

/// Deals scenes to `count` shards by estimated cost (longest first, each to the least loaded
/// shard, ties to the lower number): every worker computes the same deal from the same
/// project. Each shard's scenes come back in script order.
#[must_use]
pub fn deal(project: &Project, scenes: &[usize], count: usize, takes: usize) -> Vec<Vec<usize>> {
    let count = count.max(1);
    let mut costs: Vec<(usize, usize)> = scenes
        .iter()
        .map(|&i| {
            let scene = &project.script.scenes[i];
            let lines = scene.dialogue().count();
            let shots = project.shots_in_scene(scene.id).count().max(1 + lines / 2);
            // A frame costs about what four voiced lines do on the embedded defaults.
            (i, 1 + shots * takes.max(1) * 4 + lines)
        })
        .collect();
    costs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut loads = vec![0usize; count];
    let mut dealt = vec![Vec::new(); count];
    for (scene, cost) in costs {
        let (shard, _) = loads
            .iter()
            .enumerate()
            .min_by_key(|(i, l)| (**l, *i))
            .unwrap_or((0, &0));
        loads[shard] += cost;
        dealt[shard].push(scene);
    }
    for d in &mut dealt {
        d.sort_unstable();
    }
    dealt
}

/// The output file of an export of the project in `dir` to `out_dir`.
fn output_name(dir: &Path, format: ExportFormat) -> PathBuf {
    let stem = dir
        .file_stem()
        .map_or_else(|| "previz".to_owned(), |s| s.to_string_lossy().into_owned());
    match format.extension() {
        Some(ext) => PathBuf::from(format!("{stem}.{ext}")),
        None => PathBuf::from(format!("{stem}_frames")),
    }
}

fn export_unit(
    r: &mut Runner<'_>,
    target: &Target,
    dir: &Path,
    format: ExportFormat,
) -> Result<Flow, BatchError> {
    let project = target.project();
    let document = blake3::hash(&format::to_json(project)).to_hex().to_string();
    let name = output_name(dir, format);
    let key = key_of(
        "export",
        &json!({"format": format.name(), "project": document, "output": name, "burn_ins": format == ExportFormat::Mp4}),
    );
    let label = name.display().to_string();
    r.planned(1);
    let out_dir = r.options.out_dir.clone();
    let store = r.store.clone();
    let cancel = r.cancel.clone();
    let obtained = r.obtain(&key, &label, true, &mut |_ctx, progress| {
        let mut request = ExportRequest::new(format, out_dir.join(&name));
        if format == ExportFormat::Mp4 {
            request.burn_ins = BurnIns::all();
        }
        let summary = export(
            project,
            &store,
            &request,
            &mut |f, what| progress(f, what),
            &cancel,
        )
        .map_err(|e| {
            if e.is_cancelled() {
                UnitError::Cancelled
            } else {
                UnitError::Failed(e.to_string())
            }
        })?;
        Ok(Parts {
            outputs: vec![OutputFile {
                path: name.clone(),
                bytes: summary.bytes,
            }],
            ..Parts::default()
        })
    })?;
    match obtained {
        Obtained::Ready(record) => {
            for o in &record.outputs {
                let path = r.options.out_dir.join(&o.path);
                r.sink.event(&Event::Output {
                    path: path.display().to_string(),
                    bytes: o.bytes,
                });
                r.summary.outputs.push(path);
            }
            Ok(Flow::Go)
        }
        Obtained::Cancelled => Ok(Flow::Stop),
        Obtained::Elsewhere | Obtained::Failed => Ok(Flow::Go),
    }
}

/// Runs the batch on the project in `dir` (see the crate docs). Events go to `sink`; `cancel`
/// stops it between units and inside models (finished units are kept, claims released).
pub fn run(
    dir: &Path,
    engines: &mut BatchEngines,
    options: &BatchOptions,
    sink: &mut dyn EventSink,
    cancel: &CancelToken,
) -> Result<Summary, BatchError> {
    let started = Instant::now();
    let gather = options.mode != Mode::Work;
    let mut target = if gather {
        let mode = if options.take_over {
            OpenMode::TakeOver
        } else {
            OpenMode::ReadWrite
        };
        match Session::open(dir, mode) {
            Ok((session, _)) => Target::Session(Box::new(session)),
            // A batch killed on this host (or silent elsewhere for the lock's threshold) left
            // its lock: a rerun, or the scheduler's retry, carries on in its place.
            Err(previz_storage::StorageError::Locked { staleness, .. }) if staleness.stale => {
                sink.event(&Event::Progress {
                    label: "project".into(),
                    fraction: 0.0,
                    message: format!("taking the project's lock over: {staleness}"),
                });
                Target::Session(Box::new(Session::open(dir, OpenMode::TakeOver)?.0))
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        let (session, _) = Session::open(dir, OpenMode::ReadOnly)?;
        let project = session.project().clone();
        let _ = session.close();
        Target::Snapshot(Box::new(project))
    };
    let snapshot = target.project().clone();
    // A show store that cannot be opened leaves the project's own folder working; the takes
    // made then are in the project only (`previz store` shares them later), and that is said.
    let (store, store_problem) = match AssetStore::for_project(dir) {
        Ok(store) => (store, None),
        Err(e) => (
            AssetStore::new(dir.join(previz_storage::layout::ASSET_DIR)),
            Some(format!(
                "the show store named in store.json cannot be used ({e}); new media stay in this project's assets/ only: fix store.json or the credentials, then run `previz store` to share them"
            )),
        ),
    };
    let mut r = Runner {
        area: WorkArea::of_project(dir),
        store,
        options,
        sink,
        cancel: cancel.clone(),
        summary: Summary::default(),
        finished: 0,
        total: 0,
        heartbeat: Heartbeat::start(Duration::from_secs(30)),
        host: host::host_name(),
    };
    let scenes: Vec<usize> = (0..snapshot.script.scenes.len())
        .filter(|&i| options.scenes.contains(i + 1) && !snapshot.script.scenes[i].omitted)
        .collect();
    let dealt = deal(&snapshot, &scenes, options.shard.count, options.takes);
    let own = dealt.get(options.shard.index).cloned().unwrap_or_default();
    r.sink.event(&Event::Start {
        project: dir.display().to_string(),
        mode: format!("{:?}", options.mode).to_lowercase(),
        shard: options.shard.to_string(),
        steps: options.steps.to_string(),
        worker: options.worker.clone(),
        scenes: own.iter().map(|i| i + 1).collect(),
    });
    if let Some(message) = store_problem {
        r.sink.event(&Event::Warning { message });
    }
    let steps = &options.steps;
    let default_voice = engines
        .default_voice
        .clone()
        .unwrap_or_else(|| engines.voices.default_voice());
    let result = if gather {
        gather_all(
            &mut r,
            &mut target,
            &snapshot,
            engines,
            dir,
            &scenes,
            &default_voice,
        )
    } else {
        // Own scenes first, then (stealing) the others', shard after shard.
        let mut order = own.clone();
        if options.steal {
            for k in 1..dealt.len() {
                let i = (options.shard.index + k) % dealt.len();
                order.extend(dealt[i].iter().copied());
            }
        }
        work(
            &mut r,
            &mut target,
            &snapshot,
            engines,
            dir,
            &order,
            &default_voice,
        )
    };
    if let Err(e) = result {
        if let Target::Session(s) = target {
            let _ = s.close();
        }
        return Err(e);
    }
    if r.cancel.is_cancelled() {
        r.summary.cancelled = true;
    }
    let _ = steps;
    if let Target::Session(mut s) = target {
        if s.is_dirty() {
            s.save()?;
        }
        let _ = s.close();
    }
    let summary = r.summary.clone();
    r.sink.event(&Event::Summary {
        summary: summary.clone(),
        seconds: started.elapsed().as_secs_f64(),
        exit: summary.exit_status(),
    });
    Ok(summary)
}

/// A worker: scene by scene (breakdown, frames, voices), on a snapshot.
fn work(
    r: &mut Runner<'_>,
    target: &mut Target,
    snapshot: &Project,
    engines: &mut BatchEngines,
    dir: &Path,
    order: &[usize],
    default_voice: &str,
) -> Result<(), BatchError> {
    let steps = r.options.steps.clone();
    if steps.has(Step::Voices) {
        for c in casting_commands(target.project(), default_voice) {
            target.apply(&c, "the casting")?;
        }
    }
    for &index in order {
        if r.cancel.is_cancelled() {
            break;
        }
        let mut flow = Flow::Go;
        if steps.has(Step::Breakdown) {
            flow = breakdown_scene(
                r,
                target,
                snapshot,
                engines.breakdown.as_mut(),
                index,
                false,
            )?;
        }
        if flow == Flow::Stop {
            break;
        }
        if steps.has(Step::Frames)
            && flow == Flow::Go
            && frames_scene(r, target, &engines.frames, dir, index, false)? == Flow::Stop
        {
            break;
        }
        if steps.has(Step::Voices)
            && voices_scene(r, target, &mut engines.voices, default_voice, index, false)?
                == Flow::Stop
        {
            break;
        }
    }
    Ok(())
}

/// The gather: stage by stage over every selected scene, in the order the interactive
/// commands land them, saving as it goes; then the animatic and the exports.
fn gather_all(
    r: &mut Runner<'_>,
    target: &mut Target,
    snapshot: &Project,
    engines: &mut BatchEngines,
    dir: &Path,
    scenes: &[usize],
    default_voice: &str,
) -> Result<(), BatchError> {
    let steps = r.options.steps.clone();
    let wait = r.options.wait;
    if steps.has(Step::Breakdown) {
        let before = r.summary.applied;
        for &index in scenes {
            if breakdown_scene(r, target, snapshot, engines.breakdown.as_mut(), index, wait)?
                == Flow::Stop
            {
                return Ok(());
            }
        }
        if r.summary.applied > before {
            let timeline = timeline_command(target.project());
            let edits = target.apply(&timeline, "the rough cut")?;
            r.summary.applied += edits;
            r.sink.event(&Event::Applied {
                what: "breakdown and rough cut".into(),
                edits: r.summary.applied - before,
            });
        }
        target.save()?;
    }
    if steps.has(Step::Frames) {
        let before = r.summary.applied;
        // Saved every half minute, not per scene: a feature's project is megabytes. A gather
        // killed in between loses nothing: the units stay published and a rerun lands them.
        let mut saved = Instant::now();
        for &index in scenes {
            if frames_scene(r, target, &engines.frames, dir, index, wait)? == Flow::Stop {
                target.save()?;
                return Ok(());
            }
            if saved.elapsed() > Duration::from_secs(30) {
                target.save()?;
                saved = Instant::now();
            }
        }
        target.save()?;
        r.sink.event(&Event::Applied {
            what: "frames".into(),
            edits: r.summary.applied - before,
        });
    }
    if steps.has(Step::Voices) {
        let before = r.summary.applied;
        for c in casting_commands(target.project(), default_voice) {
            r.summary.applied += target.apply(&c, "the casting")?;
        }
        for &index in scenes {
            if voices_scene(r, target, &mut engines.voices, default_voice, index, wait)?
                == Flow::Stop
            {
                target.save()?;
                return Ok(());
            }
        }
        // Each clip takes its line's length, on the timeline as it is now.
        let lines: Vec<LineId> = scenes
            .iter()
            .flat_map(|&i| {
                target.project().script.scenes[i]
                    .dialogue()
                    .map(|d| d.id)
                    .collect::<Vec<_>>()
            })
            .collect();
        for line in lines {
            if let Some(c) = retime_command(target.project(), line) {
                r.summary.applied += target.apply(&c, "re-timing a line")?;
            }
        }
        target.save()?;
        r.sink.event(&Event::Applied {
            what: "voices".into(),
            edits: r.summary.applied - before,
        });
    }
    if r.cancel.is_cancelled() || r.summary.failed > 0 || r.summary.held > 0 {
        // The animatic and the exports wait for a complete project.
        return Ok(());
    }
    let mut formats = Vec::new();
    if steps.has(Step::Animatic) {
        formats.push(ExportFormat::Mp4);
    }
    if steps.has(Step::Exports) {
        formats.extend(
            r.options
                .exports
                .iter()
                .copied()
                .filter(|f| *f != ExportFormat::Mp4),
        );
    }
    if !formats.is_empty() {
        std::fs::create_dir_all(&r.options.out_dir).map_err(|e| BatchError::Share {
            action: "creating the output folder",
            path: r.options.out_dir.clone(),
            source: e,
        })?;
    }
    for format in formats {
        if export_unit(r, target, dir, format)? == Flow::Stop {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_valid_and_distinct() {
        let key = key_of("breakdown", &json!({"x": 1}));
        let a = derived_shot_id(&key, 0);
        assert_eq!(a, derived_shot_id(&key, 0));
        assert_ne!(a, derived_shot_id(&key, 1));
        assert_eq!(a.0.get_version_num(), 8);
    }
}
