//! The project: everything a film's previz is, in one document.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::ids::{ItemId, LineId, ProjectId, SceneId, ShotId};
use crate::script::Script;
use crate::shot::{Asset, ContentHash, LineTakes, Shot};
use crate::time::{Rate, RationalTime};
use crate::timeline::{ClipSource, Item, Timeline};

/// Project-wide settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub title: String,
    /// The edit's frame rate.
    pub frame_rate: Rate,
    /// Storyboard frame size in pixels; its ratio is the project's aspect ratio (2.39:1 at
    /// 2048×858).
    pub frame_width: u32,
    pub frame_height: u32,
    /// Length of a new shot when nothing better is known.
    pub default_shot_duration: RationalTime,
    /// The look of every storyboard frame; its text ends every image prompt.
    #[serde(default, skip_serializing_if = "Style::is_default")]
    pub style: Style,
    /// Sample rate of the project's audio (dialogue takes are resampled to it), Hz.
    #[serde(
        default = "default_audio_rate",
        skip_serializing_if = "is_default_audio_rate"
    )]
    pub audio_sample_rate: u32,
    #[serde(flatten)]
    pub extra: Extra,
}

fn default_audio_rate() -> u32 {
    48_000
}

// serde's skip_serializing_if passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_default_audio_rate(rate: &u32) -> bool {
    *rate == default_audio_rate()
}

/// A storyboard style: a named preset or the user's own words.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    #[default]
    PencilStoryboard,
    InkAndWash,
    CinematicColour,
    Noir,
    Custom(String),
}

impl Style {
    /// The named presets, in menu order.
    pub const NAMED: [Style; 4] = [
        Style::PencilStoryboard,
        Style::InkAndWash,
        Style::CinematicColour,
        Style::Noir,
    ];

    #[must_use]
    pub fn is_default(&self) -> bool {
        *self == Style::default()
    }

    /// What the menu says.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Style::PencilStoryboard => "Pencil storyboard",
            Style::InkAndWash => "Ink and wash",
            Style::CinematicColour => "Cinematic colour",
            Style::Noir => "Noir",
            Style::Custom(_) => "Custom",
        }
    }

    /// What is added to every image prompt.
    #[must_use]
    pub fn prompt_text(&self) -> &str {
        match self {
            Style::PencilStoryboard => {
                "pencil storyboard sketch, loose graphite lines, grey shading"
            }
            Style::InkAndWash => "ink and wash storyboard, bold brush lines, grey washes",
            Style::CinematicColour => {
                "cinematic colour frame, film still, natural light, 35mm film"
            }
            Style::Noir => "film noir, high-contrast black and white, hard shadows",
            Style::Custom(text) => text.trim(),
        }
    }
}

impl Settings {
    /// Sensible defaults: 24 fps, 2.39:1 scope frames, 3-second shots.
    #[must_use]
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            frame_rate: Rate::FPS_24,
            frame_width: 2048,
            frame_height: 858,
            default_shot_duration: RationalTime::new(72, Rate::FPS_24),
            style: Style::default(),
            audio_sample_rate: default_audio_rate(),
            extra: Extra::new(),
        }
    }

    /// Width over height.
    #[must_use]
    pub fn aspect_ratio(&self) -> f64 {
        f64::from(self.frame_width) / f64::from(self.frame_height.max(1))
    }
}

/// The whole document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub settings: Settings,
    #[serde(default)]
    pub script: Script,
    /// All shots, grouped by scene in script order; order within a scene is shot order.
    #[serde(default)]
    pub shots: Vec<Shot>,
    /// Media known to the project, by content hash.
    #[serde(default)]
    pub assets: BTreeMap<ContentHash, Asset>,
    /// Voice takes of the dialogue, by line.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub voices: BTreeMap<LineId, LineTakes>,
    pub timeline: Timeline,
    /// Fields written by a newer or foreign tool, kept as they were.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Project {
    /// An empty project.
    #[must_use]
    pub fn new(title: impl Into<String>) -> Self {
        let settings = Settings::new(title);
        let timeline = Timeline::new("Animatic", settings.frame_rate);
        Self {
            id: ProjectId::new(),
            settings,
            script: Script::default(),
            shots: Vec::new(),
            assets: BTreeMap::new(),
            voices: BTreeMap::new(),
            timeline,
            extra: Extra::new(),
        }
    }

    #[must_use]
    pub fn shot(&self, id: ShotId) -> Option<&Shot> {
        self.shots.iter().find(|s| s.id == id)
    }

    #[must_use]
    pub fn shot_index(&self, id: ShotId) -> Option<usize> {
        self.shots.iter().position(|s| s.id == id)
    }

    /// The shots of a scene in order.
    pub fn shots_in_scene(&self, scene: SceneId) -> impl Iterator<Item = &Shot> {
        self.shots.iter().filter(move |s| s.scene == scene)
    }

    /// Display numbers of shots: the locked label, else scene number + letter (`12`, `12A`...).
    #[must_use]
    pub fn shot_numbers(&self) -> BTreeMap<ShotId, String> {
        let scene_numbers: BTreeMap<SceneId, String> = self
            .script
            .scenes
            .iter()
            .zip(self.script.display_numbers())
            .map(|(s, n)| (s.id, n.unwrap_or_else(|| "OMIT".to_owned())))
            .collect();
        let mut per_scene: BTreeMap<SceneId, usize> = BTreeMap::new();
        self.shots
            .iter()
            .map(|shot| {
                let n = per_scene.entry(shot.scene).or_insert(0);
                *n += 1;
                let label = shot.label.clone().unwrap_or_else(|| {
                    let scene = scene_numbers.get(&shot.scene).map_or("?", String::as_str);
                    format!("{scene}.{n}")
                });
                (shot.id, label)
            })
            .collect()
    }

    /// Checks every cross-reference and invariant; an empty list means the project is sound.
    #[must_use]
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut scene_ids = HashSet::new();
        let mut line_ids: HashSet<LineId> = HashSet::new();
        for scene in &self.script.scenes {
            if !scene_ids.insert(scene.id) {
                problems.push(Problem::new(format!("scene {} appears twice", scene.id)));
            }
            for block in scene.dialogue() {
                if !line_ids.insert(block.id) {
                    problems.push(Problem::new(format!(
                        "dialogue line {} appears twice",
                        block.id
                    )));
                }
            }
        }
        let mut shot_ids = HashSet::new();
        for shot in &self.shots {
            if !shot_ids.insert(shot.id) {
                problems.push(Problem::new(format!("shot {} appears twice", shot.id)));
            }
            if !scene_ids.contains(&shot.scene) {
                problems.push(Problem::new(format!(
                    "shot {} belongs to scene {}, which the script does not have",
                    shot.id, shot.scene
                )));
            }
            for line in &shot.dialogue {
                if !line_ids.contains(line) {
                    problems.push(Problem::new(format!(
                        "shot {} covers dialogue line {}, which the script does not have",
                        shot.id, line
                    )));
                }
            }
            if shot.duration.value <= 0 {
                problems.push(Problem::new(format!("shot {} has no duration", shot.id)));
            }
            if let Some(active) = shot.active_take
                && !shot.takes.iter().any(|t| t.id == active)
            {
                problems.push(Problem::new(format!(
                    "shot {}'s active take {} is not one of its takes",
                    shot.id, active
                )));
            }
            for take in &shot.takes {
                if !self.assets.contains_key(&take.asset) {
                    problems.push(Problem::new(format!(
                        "take {} of shot {} points at asset {}, which the project does not list",
                        take.id, shot.id, take.asset
                    )));
                }
            }
        }
        let mut item_ids: HashSet<ItemId> = HashSet::new();
        let mut track_ids = HashSet::new();
        for track in &self.timeline.tracks {
            if !track_ids.insert(track.id) {
                problems.push(Problem::new(format!("track {} appears twice", track.id)));
            }
            for item in &track.items {
                if !item_ids.insert(item.id()) {
                    problems.push(Problem::new(format!(
                        "timeline item {} appears twice",
                        item.id()
                    )));
                }
                if item.duration_frames() <= 0 {
                    problems.push(Problem::new(format!(
                        "timeline item {} on track '{}' has no duration",
                        item.id(),
                        track.name
                    )));
                }
                if let Item::Clip(clip) = item {
                    let dangling = match &clip.source {
                        ClipSource::Shot { shot } => {
                            (!shot_ids.contains(shot)).then(|| format!("shot {shot}"))
                        }
                        ClipSource::Take { shot, take } => match self.shot(*shot) {
                            None => Some(format!("shot {shot}")),
                            Some(s) => (!s.takes.iter().any(|t| t.id == *take))
                                .then(|| format!("take {take}")),
                        },
                        ClipSource::Dialogue { line, take } => {
                            if line_ids.contains(line) {
                                take.filter(|t| {
                                    !self
                                        .voices
                                        .get(line)
                                        .is_some_and(|v| v.takes.iter().any(|x| x.id == *t))
                                })
                                .map(|t| format!("voice take {t}"))
                            } else {
                                Some(format!("dialogue line {line}"))
                            }
                        }
                        ClipSource::Asset { asset } => {
                            (!self.assets.contains_key(asset)).then(|| format!("asset {asset}"))
                        }
                        ClipSource::Slug { .. } => None,
                    };
                    if let Some(what) = dangling {
                        problems.push(Problem::new(format!(
                            "clip '{}' ({}) on track '{}' points at {what}, which the project does not have",
                            clip.name, clip.id, track.name
                        )));
                    }
                }
            }
        }
        for (line, voice) in &self.voices {
            for take in &voice.takes {
                if !self.assets.contains_key(&take.asset) {
                    problems.push(Problem::new(format!(
                        "voice take {} of line {line} points at asset {}, which the project does not list",
                        take.id, take.asset
                    )));
                }
            }
            if let Some(a) = voice.active
                && !voice.takes.iter().any(|t| t.id == a)
            {
                problems.push(Problem::new(format!(
                    "line {line}'s active voice take {a} is not one of its takes"
                )));
            }
        }
        problems
    }
}

/// Something wrong inside a project, in words a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub message: String,
}

impl Problem {
    fn new(message: String) -> Self {
        Self { message }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
