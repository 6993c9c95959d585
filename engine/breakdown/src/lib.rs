//! Script breakdown (issue #4): every scene into a shot plan, by rules (the embedded default)
//! or by a local LLM under a grammar, validated against the scene, repaired per shot, and landed
//! as one undoable command per scene; character bibles and the style preset go into every image
//! prompt.
//!
//! Data flow: [`scene::SceneInput`] (a scene prepared for an engine) → a [`run::SceneEngine`]
//! ([`run::RuleEngine`] or [`llm::LlmEngine`]) → [`plan::ShotPlan`] → [`validate::repair`] →
//! [`run::breakdown_scene`]'s `EditCommand::Batch` → after the scenes, [`run::finish`] (bible
//! and timeline).

pub mod bible;
pub mod llm;
pub mod plan;
pub mod prompt;
pub mod rules;
pub mod run;
pub mod scene;
pub mod validate;

pub use run::{
    EngineKey, RuleEngine, SceneEngine, SceneOutcome, SceneRange, SceneStatus, breakdown_scene,
    finish,
};

/// Why a breakdown stopped or an engine failed.
#[derive(Debug, thiserror::Error)]
pub enum BreakdownError {
    #[error("cancelled")]
    Cancelled,
    #[error("there is no scene {}", index + 1)]
    NoScene { index: usize },
    #[error("model: {0}")]
    Model(#[from] previz_models::llm::LlmError),
    #[error("the model's plan does not read as a shot list ({detail}): {text}")]
    BadPlan { detail: String, text: String },
}
