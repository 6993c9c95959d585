//! The driver: scene by scene, with progress, cancellation, validation, repair and resume.
//!
//! **Provenance.** Every shot a breakdown makes carries, in its unknown-field map under
//! `"breakdown"`, the engine, model, seed, a hash of its scene's text and a fingerprint of the
//! shot's own fields as made.
//!
//! **What may be replaced.** A scene's existing shots are replaced only when every one of them
//! was made by a breakdown and is unchanged since (its fingerprint still matches, and it has no
//! takes). A scene holding any shot made or edited by hand, or with storyboard frames, is left
//! alone and reported as [`SceneStatus::Kept`], even with `force`: a breakdown never destroys a
//! user's work. Remove those shots to break the scene down again.
//!
//! **Resume.** A scene whose shots all carry provenance with the current scene-text hash, engine,
//! model and seed is skipped ([`SceneStatus::Skipped`]) unless `force`. Each scene lands as its
//! own batch, so after an interruption a re-run continues with the first scene not yet done.

use std::fmt;
use std::str::FromStr;

use previz_core::{EditCommand, Project, RationalTime, Scene, SceneId, Shot};
use previz_jobs::JobContext;
use serde::{Deserialize, Serialize};

use crate::BreakdownError;
use crate::bible;
use crate::engine::{SceneEngine, SceneInput};
use crate::plan::ScenePlan;
use crate::rules;
use crate::validate::{self, Issue, RepairReport};

/// Which scenes to break down (1-based, inclusive; omitted scenes are never touched).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SceneSelection {
    #[default]
    All,
    Range {
        first: usize,
        last: Option<usize>,
    },
}

impl SceneSelection {
    #[must_use]
    pub fn contains(self, number: usize) -> bool {
        match self {
            SceneSelection::All => true,
            SceneSelection::Range { first, last } => {
                number >= first && last.is_none_or(|l| number <= l)
            }
        }
    }
}

impl FromStr for SceneSelection {
    type Err = BreakdownError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| BreakdownError::BadSelection {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let t = text.trim();
        if t.eq_ignore_ascii_case("all") {
            return Ok(SceneSelection::All);
        }
        let num = |s: &str| -> Result<usize, BreakdownError> {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| bad("scene numbers start at 1"))
        };
        let (first, last) = match t.split_once('-') {
            Some((a, "")) => (num(a)?, None),
            Some((a, b)) => (num(a)?, Some(num(b)?)),
            None => (num(t)?, Some(num(t)?)),
        };
        if last.is_some_and(|l| l < first) {
            return Err(bad("the range ends before it starts"));
        }
        Ok(SceneSelection::Range { first, last })
    }
}

/// How to run a breakdown.
#[derive(Clone, Debug, Default)]
pub struct BreakdownOptions {
    pub scenes: SceneSelection,
    pub seed: u64,
    /// Redo scenes whose breakdown is current (hand-made work is still never replaced).
    pub force: bool,
}

/// The provenance a breakdown writes on its shots (`extra["breakdown"]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub engine: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub seed: u64,
    pub scene_hash: String,
    pub fingerprint: String,
}

impl Provenance {
    pub const KEY: &'static str = "breakdown";

    /// The provenance of a shot, if a breakdown made it.
    #[must_use]
    pub fn of(shot: &Shot) -> Option<Self> {
        serde_json::from_value(shot.extra.get(Self::KEY)?.clone()).ok()
    }
}

/// 64-bit FNV-1a: small, stable across platforms and releases (unlike `std`'s hasher).
fn fnv(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A hash of the scene's text (heading and body), so a revised scene is broken down again.
#[must_use]
pub fn scene_hash(scene: &Scene) -> String {
    let text = serde_json::to_string(&(&scene.heading.text, &scene.elements)).unwrap_or_default();
    fnv(text.as_bytes())
}

/// A fingerprint of what a user can edit in a shot: it changes when anyone edits the shot.
#[must_use]
pub fn fingerprint(shot: &Shot) -> String {
    let fields = (
        &shot.label,
        shot.size,
        shot.angle,
        shot.movement,
        shot.lens_mm,
        &shot.subject,
        &shot.action,
        &shot.dialogue,
        shot.duration,
        &shot.prompt,
        &shot.negative_prompt,
        &shot.notes,
        shot.scene,
    );
    fnv(serde_json::to_string(&fields)
        .unwrap_or_default()
        .as_bytes())
}

/// Whether a breakdown may replace a shot: one a breakdown made and nobody touched since, or
/// the rough cut's placeholder master shot of a scene at `location` exactly as the rough cut
/// made it (what the studio's import makes before any breakdown); in both cases without takes.
#[must_use]
pub fn is_untouched_breakdown(shot: &Shot, location: &str) -> bool {
    shot.takes.is_empty()
        && (Provenance::of(shot).is_some_and(|p| p.fingerprint == fingerprint(shot))
            || is_pristine_master(shot, location))
}

fn is_pristine_master(shot: &Shot, location: &str) -> bool {
    shot.notes == ROUGH_CUT_MASTER
        && shot.extra.is_empty()
        && shot.label.is_none()
        && shot.size == Some(previz_core::ShotSize::Wide)
        && shot.angle == Some(previz_core::CameraAngle::EyeLevel)
        && shot.movement.is_none()
        && shot.lens_mm.is_none()
        && shot.prompt.is_empty()
        && shot.negative_prompt.is_empty()
        && shot.subject == location
}

/// The note core's rough cut writes on its placeholder master shots.
const ROUGH_CUT_MASTER: &str = "Master shot from the rough cut";

/// What happened to one scene.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SceneStatus {
    /// The engine's plan validated as it was.
    Planned,
    /// Some shots were repaired in place (none fell back).
    Repaired,
    /// Some shots, or the whole scene, fell back to the rules.
    FellBack,
    /// Already broken down with these settings (resume).
    Skipped,
    /// Holds shots made or edited by hand; left alone.
    Kept,
}

impl fmt::Display for SceneStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SceneStatus::Planned => "planned",
            SceneStatus::Repaired => "repaired",
            SceneStatus::FellBack => "fell back to rules",
            SceneStatus::Skipped => "skipped (up to date)",
            SceneStatus::Kept => "kept (has hand-made shots)",
        })
    }
}

/// One scene's result; `command` is the batch to apply (one undo step), if any.
#[derive(Clone, Debug)]
pub struct SceneOutcome {
    /// 1-based scene number among the script's scenes.
    pub number: usize,
    pub scene: SceneId,
    pub heading: String,
    pub status: SceneStatus,
    pub issues: Vec<Issue>,
    pub repairs: RepairReport,
    pub shots: usize,
    pub command: Option<EditCommand>,
}

/// Totals of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub scenes: usize,
    pub planned: usize,
    pub repaired: usize,
    pub fell_back: usize,
    pub skipped: usize,
    pub kept: usize,
    pub shots: usize,
    pub cancelled: bool,
}

/// Where a scene stands before a breakdown with some engine, model and seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SceneState {
    /// Holds shots made or edited by hand, or with frames: a breakdown leaves it alone.
    Kept,
    /// Already broken down from this text with this engine, model and seed.
    Current,
    /// Without shots, or with breakdown shots from another text or engine: to (re)do.
    ToDo,
}

/// The state of the scene at `index` (0-based) for a breakdown by `engine` / `model` / `seed`:
/// what [`run_breakdown`] decides before planning, for callers (a render farm) that plan the
/// work themselves.
#[must_use]
pub fn scene_state(
    project: &Project,
    index: usize,
    engine: &str,
    model: Option<&str>,
    seed: u64,
) -> SceneState {
    let Some(scene) = project.script.scenes.get(index) else {
        return SceneState::Kept;
    };
    let existing: Vec<&Shot> = project.shots_in_scene(scene.id).collect();
    if !existing
        .iter()
        .all(|s| is_untouched_breakdown(s, &scene.heading.location))
    {
        return SceneState::Kept;
    }
    let hash = scene_hash(scene);
    let current = !existing.is_empty()
        && existing.iter().all(|s| {
            Provenance::of(s).is_some_and(|p| {
                p.scene_hash == hash
                    && p.engine == engine
                    && p.model.as_deref() == model
                    && p.seed == seed
            })
        });
    if current {
        SceneState::Current
    } else {
        SceneState::ToDo
    }
}

/// Breaks the selected scenes down one by one, calling `on_scene` with each scene's outcome as
/// soon as it is known (apply its `command` there, so finished scenes survive an interruption).
/// Stops between scenes when `ctx` is cancelled (`cancelled` in the summary). Engine errors fall
/// back to the rules for that scene; only cancellation inside the engine stops the run.
pub fn run_breakdown(
    project: &Project,
    engine: &mut dyn SceneEngine,
    options: &BreakdownOptions,
    ctx: &JobContext,
    mut on_scene: impl FnMut(SceneOutcome),
) -> RunSummary {
    let style = project.settings.style.clone();
    let bible = bible::derive(project);
    let selected: Vec<usize> = (0..project.script.scenes.len())
        .filter(|&i| options.scenes.contains(i + 1) && !project.script.scenes[i].omitted)
        .collect();
    let mut summary = RunSummary {
        scenes: selected.len(),
        ..RunSummary::default()
    };
    let (engine_name, model) = (engine.name(), engine.model());
    for (done, &index) in selected.iter().enumerate() {
        if ctx.is_cancelled() {
            summary.cancelled = true;
            break;
        }
        let scene = &project.script.scenes[index];
        #[allow(clippy::cast_precision_loss)]
        let fraction = done as f32 / selected.len() as f32;
        ctx.progress(
            fraction,
            format!(
                "scene {}/{}: {}",
                index + 1,
                project.script.scenes.len(),
                scene.heading.text
            ),
        );
        let existing: Vec<&Shot> = project.shots_in_scene(scene.id).collect();
        let mut outcome = SceneOutcome {
            number: index + 1,
            scene: scene.id,
            heading: scene.heading.text.clone(),
            status: SceneStatus::Skipped,
            issues: Vec::new(),
            repairs: RepairReport::default(),
            shots: 0,
            command: None,
        };
        match scene_state(project, index, &engine_name, model.as_deref(), options.seed) {
            SceneState::Kept => {
                outcome.status = SceneStatus::Kept;
                summary.kept += 1;
                on_scene(outcome);
                continue;
            }
            SceneState::Current if !options.force => {
                summary.skipped += 1;
                on_scene(outcome);
                continue;
            }
            _ => {}
        }
        let hash = scene_hash(scene);
        let input = SceneInput::new(project, index, &bible, style.clone(), options.seed);
        let (plan, issues, repairs) = match engine.plan_scene(&input, ctx) {
            Ok(plan) => {
                let issues = validate::validate(&plan, &input);
                if issues.is_empty() {
                    (plan, issues, RepairReport::default())
                } else {
                    let (fixed, report) = validate::repair(&plan, &input);
                    (fixed, issues, report)
                }
            }
            Err(BreakdownError::Cancelled) => {
                summary.cancelled = true;
                break;
            }
            Err(e) => {
                ctx.log(format!(
                    "{e}; using the rule-based breakdown for this scene"
                ));
                let plan = rules::plan(&input);
                let report = RepairReport {
                    shots: Vec::new(),
                    whole_scene: Some(e.to_string()),
                };
                (plan, Vec::new(), report)
            }
        };
        outcome.status = if repairs.fell_back() {
            SceneStatus::FellBack
        } else if repairs.changed() {
            SceneStatus::Repaired
        } else {
            SceneStatus::Planned
        };
        match outcome.status {
            SceneStatus::FellBack => summary.fell_back += 1,
            SceneStatus::Repaired => summary.repaired += 1,
            _ => summary.planned += 1,
        }
        let provenance = |_: usize| Provenance {
            engine: engine_name.clone(),
            model: model.clone(),
            seed: options.seed,
            scene_hash: hash.clone(),
            fingerprint: String::new(),
        };
        let mut commands: Vec<EditCommand> = existing
            .iter()
            .map(|s| EditCommand::RemoveShot { shot: s.id })
            .collect();
        let shots = to_shots(project, &input, &plan, &provenance);
        outcome.shots = shots.len();
        summary.shots += shots.len();
        commands.extend(shots.into_iter().map(|shot| EditCommand::AddShot {
            shot: Box::new(shot),
            after: None,
        }));
        outcome.command = Some(EditCommand::Batch {
            label: format!("Break down scene {}", index + 1),
            commands,
        });
        outcome.issues = issues;
        outcome.repairs = repairs;
        on_scene(outcome);
    }
    if !summary.cancelled {
        ctx.progress(1.0, format!("{} scenes broken down", summary.scenes));
    }
    summary
}

/// The plan as core shots at the project's rate, with their dialogue as line ids.
fn to_shots(
    project: &Project,
    input: &SceneInput,
    plan: &ScenePlan,
    provenance: &dyn Fn(usize) -> Provenance,
) -> Vec<Shot> {
    let rate = project.timeline.rate;
    plan.shots
        .iter()
        .enumerate()
        .map(|(i, p)| {
            #[allow(clippy::cast_possible_truncation)] // at most 60 s of frames
            let frames = (p.duration_s * rate.as_f64()).round().max(1.0) as i64;
            let mut shot = Shot::new(input.scene.id, RationalTime::new(frames, rate));
            shot.size = Some(p.size);
            shot.angle = Some(p.angle);
            shot.movement = Some(p.movement);
            #[allow(clippy::cast_precision_loss)]
            let lens = p.lens_mm as f32;
            shot.lens_mm = Some(lens);
            shot.subject.clone_from(&p.subject);
            shot.action.clone_from(&p.action);
            shot.dialogue = p
                .lines
                .iter()
                .filter_map(|&n| input.lines.get(usize::try_from(n).ok()?.checked_sub(1)?))
                .map(|l| l.speech.id)
                .collect();
            shot.prompt.clone_from(&p.prompt);
            let mut prov = provenance(i);
            prov.fingerprint = fingerprint(&shot);
            shot.extra.insert(
                Provenance::KEY.to_owned(),
                serde_json::to_value(&prov).unwrap_or_default(),
            );
            shot
        })
        .collect()
}

/// The command that rebuilds the timeline from the shot list (core's rough cut), adding no
/// shots: scenes still without shots are left without.
#[must_use]
pub fn timeline_command(project: &Project) -> EditCommand {
    let mut view = project.clone();
    let with_shots: std::collections::HashSet<SceneId> =
        project.shots.iter().map(|s| s.scene).collect();
    for scene in &mut view.script.scenes {
        if !with_shots.contains(&scene.id) {
            scene.omitted = true;
        }
    }
    match previz_core::roughcut::rough_cut(&view) {
        EditCommand::Batch { commands, .. } => EditCommand::Batch {
            label: "Timeline from breakdown".to_owned(),
            commands,
        },
        other => other,
    }
}
