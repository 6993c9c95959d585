//! Script breakdown (issue #4): each scene into a shot list, by the deterministic rules or by a
//! local LLM, validated against the scene and landed as one undoable `EditCommand` per scene.
//!
//! * [`plan`]: the shot-plan document an engine produces for one scene, and its JSON schema.
//! * [`engine`]: the [`SceneEngine`] trait and [`RuleEngine`], the embedded default.
//! * [`llm`] + [`prompt`]: the LLM engine: few-shot prompts, generation under the plan's
//!   grammar, the KV cache shared across scenes.
//! * [`rules`]: the rule-based breakdown (establishing shots, dialogue coverage, inserts).
//! * [`validate`]: checks against the scene and repair, per shot.
//! * [`bible`]: the character bible derived from the script; [`style`]: core's style presets.
//! * [`run`]: the driver, scene by scene with progress, cancellation and resume.

pub mod bible;
pub mod engine;
pub mod llm;
pub mod plan;
pub mod prompt;
pub mod rules;
pub mod run;
pub mod style;
pub mod validate;

pub use engine::{RuleEngine, SceneEngine, SceneInput};
pub use plan::{PlannedShot, ScenePlan, json_schema};
pub use run::{
    BreakdownOptions, RunSummary, SceneOutcome, SceneSelection, SceneState, SceneStatus,
    run_breakdown, scene_state,
};
pub use style::StylePreset;

/// Why a breakdown stopped or a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum BreakdownError {
    #[error("the breakdown was cancelled; finished scenes are kept, run it again to go on")]
    Cancelled,
    #[error("{engine} could not plan scene {scene}: {message}")]
    Engine {
        engine: String,
        scene: usize,
        message: String,
    },
    #[error("model '{model}' is not installed; run python3 models/fetch.py or use --model rules")]
    ModelNotInstalled { model: String },
    #[error("'{text}' is not a scene range: {reason} (write 3, 2-5 or 4-)")]
    BadSelection { text: String, reason: String },
}
