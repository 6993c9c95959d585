//! The driver: scene by scene, any engine, validated, repaired, landed as edit commands.
//!
//! Each scene becomes one `EditCommand::Batch` (one undo step), applied as soon as it is made,
//! so an interruption loses at most the scene in flight. Every shot a breakdown makes carries
//! its provenance in `extra.breakdown`: the engine, model and file hash, seed, a hash of the
//! scene's text and a fingerprint of the shot's own fields.
//!
//! **What a breakdown may replace**: shots it made itself whose fields still match their
//! fingerprint (nobody edited them) and that have no takes, and the rough cut's placeholder
//! master shots without takes. A scene with any other shot (drawn by hand, edited, or with a
//! frame) is left alone, and reported; `force` then replaces only the replaceable shots and
//! keeps the rest. **Resume**: a scene whose shots all come from the same engine settings and
//! the same scene text is up to date and skipped, so running again after a kill carries on
//! where it stopped.

use previz_core::{EditCommand, Project, Rate, RationalTime, Shot};
use previz_jobs::JobContext;
use serde_json::{Value, json};

use crate::bible::{character_prompt, style_text};
use crate::plan::ShotPlan;
use crate::scene::SceneInput;
use crate::validate::repair;
use crate::{BreakdownError, rules};

/// Who made a plan; plans with the same key for the same scene text are interchangeable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineKey {
    /// `rules` or `llm`.
    pub engine: String,
    pub model: Option<String>,
    /// blake3 of the model file.
    pub model_hash: Option<String>,
    pub seed: Option<u64>,
}

impl EngineKey {
    fn to_json(&self) -> Value {
        json!({"engine": self.engine, "model": self.model, "model_hash": self.model_hash, "seed": self.seed})
    }
}

/// A breakdown engine: turns one scene into a plan.
pub trait SceneEngine {
    fn key(&self) -> EngineKey;
    /// Plans `scene`. A failure other than cancellation makes the driver use the rules for the
    /// scene.
    fn plan_scene(
        &mut self,
        scene: &SceneInput,
        ctx: &JobContext,
    ) -> Result<ShotPlan, BreakdownError>;
}

/// The embedded default: [`rules::plan_scene`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RuleEngine;

impl SceneEngine for RuleEngine {
    fn key(&self) -> EngineKey {
        EngineKey {
            engine: "rules".into(),
            model: None,
            model_hash: None,
            seed: None,
        }
    }

    fn plan_scene(
        &mut self,
        scene: &SceneInput,
        _ctx: &JobContext,
    ) -> Result<ShotPlan, BreakdownError> {
        Ok(rules::plan_scene(scene))
    }
}

/// What happened to a scene.
#[derive(Clone, Debug, PartialEq)]
pub enum SceneStatus {
    Planned {
        shots: usize,
        /// Repairs made to the engine's plan (one line each).
        fixes: Vec<String>,
        /// The rules' plan replaced the engine's (failure, or nothing usable).
        fell_back: bool,
        /// Why the engine failed, when it did.
        engine_error: Option<String>,
        /// Shots kept because they were made or edited by hand (with `force`).
        kept: usize,
    },
    Skipped(String),
}

/// One scene's result: what happened and the command that lands it.
#[derive(Clone, Debug)]
pub struct SceneOutcome {
    pub index: usize,
    pub number: String,
    pub heading: String,
    pub status: SceneStatus,
    pub command: Option<EditCommand>,
}

/// Seconds to whole frames, rounded up so no line is cut short (at least one frame).
fn seconds_to_frames(seconds: f64, rate: Rate) -> i64 {
    let exact = (seconds.clamp(0.0, 3600.0) * rate.as_f64()).ceil();
    #[allow(clippy::cast_possible_truncation)] // clamped to an hour of frames
    let frames = exact as i64;
    frames.max(1)
}

fn hash_hex(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..16].to_owned()
}

/// A fingerprint of what a person can edit in a shot.
fn fingerprint(shot: &Shot) -> String {
    let v = json!([
        shot.size,
        shot.angle,
        shot.movement,
        shot.lens_mm,
        shot.subject,
        shot.action,
        shot.dialogue,
        shot.duration,
        shot.prompt
    ]);
    hash_hex(&v.to_string())
}

/// Whether a breakdown may remove `shot`.
#[must_use]
pub fn replaceable(shot: &Shot) -> bool {
    if !shot.takes.is_empty() {
        return false;
    }
    if let Some(b) = shot.extra.get("breakdown") {
        return b.get("fingerprint").and_then(Value::as_str) == Some(fingerprint(shot).as_str());
    }
    shot.notes == "Master shot from the rough cut"
}

/// The final image prompt: the plan's prompt, who is in it per the bible, the style.
fn final_prompt(scene: &SceneInput, subject: &str, prompt: &str, style: &str) -> String {
    let mut parts = vec![prompt.trim().trim_end_matches(',').to_owned()];
    for c in &scene.characters {
        if crate::scene::mentions(subject, &c.name)
            && let Some(p) = character_prompt(c)
        {
            parts.push(p);
        }
    }
    parts.push(style.to_owned());
    parts.retain(|p| !p.is_empty());
    parts.join(", ")
}

/// Breaks down scene `index` of `project` (nothing is applied; the outcome holds the command).
pub fn breakdown_scene(
    project: &Project,
    index: usize,
    engine: &mut dyn SceneEngine,
    force: bool,
    ctx: &JobContext,
) -> Result<SceneOutcome, BreakdownError> {
    let Some(scene_input) = SceneInput::new(project, index) else {
        return Err(BreakdownError::NoScene { index });
    };
    let scene = &project.script.scenes[index];
    let mut outcome = SceneOutcome {
        index,
        number: scene_input.number.clone(),
        heading: scene_input.heading.clone(),
        status: SceneStatus::Skipped(String::new()),
        command: None,
    };
    if scene.omitted {
        outcome.status = SceneStatus::Skipped("omitted from the current draft".into());
        return Ok(outcome);
    }
    let key = engine.key();
    let scene_hash = hash_hex(&scene_input.content_key());
    let existing: Vec<&Shot> = project.shots_in_scene(scene.id).collect();
    let up_to_date = !existing.is_empty()
        && existing.iter().all(|s| {
            replaceable(s)
                && s.extra.get("breakdown").is_some_and(|b| {
                    b.get("scene_hash").and_then(Value::as_str) == Some(scene_hash.as_str())
                        && b.get("key") == Some(&key.to_json())
                })
        });
    if up_to_date && !force {
        outcome.status = SceneStatus::Skipped("up to date (same scene text, same engine)".into());
        return Ok(outcome);
    }
    let kept = existing.iter().filter(|s| !replaceable(s)).count();
    if kept > 0 && !force {
        outcome.status = SceneStatus::Skipped(format!(
            "{kept} shot(s) made or edited by hand or with frames; left alone (force replaces only generated shots)"
        ));
        return Ok(outcome);
    }

    ctx.check().map_err(|_| BreakdownError::Cancelled)?;
    let (plan, engine_error) = match engine.plan_scene(&scene_input, ctx) {
        Ok(plan) => (plan, None),
        Err(BreakdownError::Cancelled) => return Err(BreakdownError::Cancelled),
        Err(e) => (rules::plan_scene(&scene_input), Some(e.to_string())),
    };
    let (plan, report) = repair(plan, &scene_input);
    let style = style_text(&project.settings.style);
    let rate = project.timeline.rate;
    let mut commands: Vec<EditCommand> = existing
        .iter()
        .filter(|s| replaceable(s))
        .map(|s| EditCommand::RemoveShot { shot: s.id })
        .collect();
    for planned in &plan.shots {
        let duration = RationalTime::new(seconds_to_frames(planned.duration_s, rate), rate);
        let mut shot = Shot::new(scene.id, duration);
        shot.size = Some(planned.size);
        shot.angle = Some(planned.angle);
        shot.movement = Some(planned.movement);
        shot.lens_mm = Some(f32::from(
            u16::try_from(planned.lens_mm).unwrap_or(u16::MAX),
        ));
        shot.subject.clone_from(&planned.subject);
        shot.action.clone_from(&planned.action);
        shot.dialogue = planned
            .lines
            .iter()
            .filter_map(|&l| scene_input.lines.get((l as usize).wrapping_sub(1)))
            .map(|l| l.id)
            .collect();
        shot.prompt = final_prompt(&scene_input, &planned.subject, &planned.prompt, &style);
        let provenance = json!({
            "key": key.to_json(),
            "scene_hash": scene_hash,
            "repaired": !report.fixes.is_empty(),
            "fell_back": report.fell_back || engine_error.is_some(),
            "fingerprint": fingerprint(&shot),
        });
        shot.extra.insert("breakdown".into(), provenance);
        commands.push(EditCommand::AddShot {
            shot: Box::new(shot),
            after: None,
        });
    }
    outcome.status = SceneStatus::Planned {
        shots: plan.shots.len(),
        fixes: report.fixes,
        fell_back: report.fell_back || engine_error.is_some(),
        engine_error,
        kept,
    };
    outcome.command = Some(EditCommand::Batch {
        label: format!("Break down scene {}", outcome.number),
        commands,
    });
    Ok(outcome)
}

/// After the scenes: the bible filled from the script (only empty fields) and the timeline
/// rebuilt from the shots (storyboard and dialogue tracks), as one command.
#[must_use]
pub fn finish(project: &Project) -> EditCommand {
    let mut commands = Vec::new();
    if let Some(characters) = crate::bible::derive_characters(project) {
        let mut script = project.script.clone();
        script.characters = characters;
        commands.push(EditCommand::ReplaceScript {
            script: Box::new(script),
        });
    }
    commands.push(previz_core::roughcut::rough_cut(project));
    EditCommand::Batch {
        label: "Breakdown: bible and timeline".into(),
        commands,
    }
}

/// Scenes to break down: 1-based inclusive positions in the script, or all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SceneRange {
    pub first: Option<usize>,
    pub last: Option<usize>,
}

impl SceneRange {
    /// Parses `5`, `1-5`, `3-`, `-4`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let err = || format!("'{text}' is not a scene range; expected N, N-M, N- or -M (1-based)");
        let num = |s: &str| -> Result<Option<usize>, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .map(Some)
                .ok_or_else(err)
        };
        let (a, b) = match text.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(text)?.ok_or_else(err)?;
                (Some(n), Some(n))
            }
        };
        if let (Some(a), Some(b)) = (a, b)
            && a > b
        {
            return Err(err());
        }
        Ok(Self { first: a, last: b })
    }

    /// 0-based indices of the scenes of a script with `count` scenes.
    #[must_use]
    pub fn indices(&self, count: usize) -> std::ops::Range<usize> {
        let start = self.first.map_or(0, |f| f - 1).min(count);
        let end = self.last.map_or(count, |l| l.min(count)).max(start);
        start..end
    }
}
