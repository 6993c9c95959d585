//! The seam between the driver and whatever plans shots: rules today, an LLM later.

use std::collections::BTreeMap;

use previz_core::{Character, DialogueBlock, Project, Rate, Scene, ScriptElement};
use previz_jobs::JobContext;

use crate::BreakdownError;
use crate::bible::{self, CharacterSketch};
use crate::plan::ScenePlan;
use crate::rules;
use crate::style::StylePreset;

/// One speech of the scene, numbered as the plan's `lines` name it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NumberedLine {
    /// 1-based.
    pub number: u32,
    pub speech: DialogueBlock,
    /// The canonical cue of the speaker (the character's name when known).
    pub speaker: String,
    pub text: String,
}

/// Everything a scene's planner needs (what an LLM prompt is built from). Serialised, it is
/// what a render farm keys a scene's breakdown by.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SceneInput {
    /// 1-based position among the project's scenes.
    pub index: usize,
    pub scene: Scene,
    pub lines: Vec<NumberedLine>,
    /// Characters who speak or are named in CAPS in the scene's action, first seen first.
    pub characters: Vec<Character>,
    /// Every character of the script (to tell a misplaced character from an object).
    pub cast: Vec<Character>,
    /// The bible's entries for the characters present, by canonical cue name.
    pub bible: BTreeMap<String, CharacterSketch>,
    /// Whether the previous scene was somewhere else (or there is none): wants an establishing shot.
    pub new_location: bool,
    /// The location's description from the bible.
    pub location_description: String,
    pub style: StylePreset,
    /// One line on what happened in the previous scene.
    pub previous_summary: String,
    pub rate: Rate,
    pub seed: u64,
}

impl SceneInput {
    /// Builds the input for the scene at `index` (0-based) of `project.script.scenes`.
    #[must_use]
    pub fn new(
        project: &Project,
        index: usize,
        bible: &BTreeMap<String, CharacterSketch>,
        style: StylePreset,
        seed: u64,
    ) -> Self {
        let scenes = &project.script.scenes;
        let scene = scenes[index].clone();
        let mut lines = Vec::new();
        for (i, d) in scene.dialogue().enumerate() {
            let speaker = d
                .character
                .and_then(|c| project.script.character(c))
                .map_or_else(|| previz_core::cue_key(&d.cue), |c| c.name.clone());
            lines.push(NumberedLine {
                number: u32::try_from(i + 1).unwrap_or(u32::MAX),
                speech: d.clone(),
                speaker,
                text: d.spoken_text(),
            });
        }
        let characters = rules::characters_present(project, &scene);
        let previous = index.checked_sub(1).map(|i| &scenes[i]);
        let new_location = previous.is_none_or(|p| {
            previz_core::cue_key(&p.heading.location)
                != previz_core::cue_key(&scene.heading.location)
                || p.heading.int_ext != scene.heading.int_ext
        });
        let location_description = scene
            .location
            .and_then(|l| project.script.locations.iter().find(|x| x.id == l))
            .map(|l| l.description.clone())
            .filter(|d| !d.trim().is_empty())
            .or_else(|| {
                scene
                    .location
                    .and_then(|l| bible::location_descriptions(project).remove(&l))
            })
            .unwrap_or_default();
        let previous_summary = previous.map(summary).unwrap_or_default();
        Self {
            index: index + 1,
            scene,
            lines,
            bible: rules::bible_for(bible, &characters),
            cast: project.script.characters.clone(),
            characters,
            new_location,
            location_description,
            style,
            previous_summary,
            rate: project.timeline.rate,
            seed,
        }
    }
}

/// The first action line of a scene, with its heading: a crude summary for the next prompt.
fn summary(scene: &Scene) -> String {
    let first = scene.elements.iter().find_map(|e| match e {
        ScriptElement::Action { text, .. } => text.text.lines().next().map(str::to_owned),
        _ => None,
    });
    match first {
        Some(action) => format!("{}: {action}", scene.heading.text),
        None => scene.heading.text.clone(),
    }
}

/// Something that plans one scene's shots. The driver validates and repairs what it returns,
/// so an engine may be wrong; it must not be slow to notice cancellation.
pub trait SceneEngine {
    /// Recorded in each shot's provenance (`rules`, `llm`).
    fn name(&self) -> String;
    /// The model id, when a model is used (recorded in provenance; part of the resume key).
    fn model(&self) -> Option<String> {
        None
    }
    /// A hash of the model's weights, when a model file is used: what a render farm keys a
    /// scene's breakdown by (the same id with other weights is another breakdown).
    fn weights_hash(&self) -> Option<String> {
        None
    }
    fn plan_scene(
        &mut self,
        input: &SceneInput,
        ctx: &JobContext,
    ) -> Result<ScenePlan, BreakdownError>;
}

/// The deterministic rule-based engine: the embedded default and every fallback.
#[derive(Clone, Copy, Debug, Default)]
pub struct RuleEngine;

impl SceneEngine for RuleEngine {
    fn name(&self) -> String {
        "rules".to_owned()
    }

    fn plan_scene(
        &mut self,
        input: &SceneInput,
        _ctx: &JobContext,
    ) -> Result<ScenePlan, BreakdownError> {
        Ok(rules::plan(input))
    }
}
