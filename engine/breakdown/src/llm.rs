//! The LLM engine: a local chat model under a grammar, one scene at a time.
//!
//! Per scene: the few-shot prompt ([`crate::prompt`]) → generation constrained by the plan
//! schema fitted to the scene ([`crate::plan::json_schema_for`]: `lines` can only name speeches
//! that exist) → the JSON read into a [`ShotPlan`]. The shared prompt prefix (system prompt and
//! examples) stays in the model's KV cache from scene to scene. Validation against the scene and
//! repair happen in the driver, as for any engine.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use previz_grammar::Vocab;
use previz_jobs::JobContext;
use previz_models::llm::LlmError;
use previz_models::llm::constrained::{JsonConstraint, compile_schema, grammar_vocab};
use previz_models::llm::generate::{GenerateRequest, Generation, Llm, LoadOptions, StopReason};
use previz_models::llm::gguf::GgufFile;
use previz_models::llm::sampler::Sampling;
use previz_models::pool::{ModelPool, PoolKey, Reservation};

use previz_core::ScriptElement;

use crate::BreakdownError;
use crate::engine::{SceneEngine, SceneInput};
use crate::plan::{ScenePlan, json_schema_for};
use crate::prompt::{PromptScene, messages};

/// Token budget per scene. A complete plan of 12 shots takes well under it; a plan still open
/// here is cut off and the scene falls back to the rules.
const MAX_TOKENS: usize = 1800;

/// Positions the breakdown's KV cache is counted for: a scene's prompt (the style, the cast,
/// the scene's text; a few thousand tokens at most) and its plan ([`MAX_TOKENS`]), or the
/// model's whole context if that is shorter. The cache keeps the shared prompt prefix between
/// scenes, so it never holds more than one scene's worth.
const KV_POSITIONS: u64 = 8192;

/// The KV cache's size for [`KV_POSITIONS`] (or the model's context length), from the GGUF
/// header; 0 when the header does not say (the weights are still counted).
fn kv_cache_bytes(path: &Path) -> Result<u64, LlmError> {
    let gguf = GgufFile::open(path)?;
    let positions = gguf
        .context_length()
        .map_or(KV_POSITIONS, |c| KV_POSITIONS.min(c as u64));
    Ok(gguf.kv_bytes_per_position().unwrap_or(0) * positions)
}

/// Breaks scenes down with a local chat model.
pub struct LlmEngine {
    llm: Llm,
    /// Its weights and KV cache counted in the process's model budget while it lives (the LLM mutates its
    /// KV cache, so it is owned by the job, not shared through the pool).
    _memory: Option<Reservation<'static>>,
    vocab: Arc<Vocab>,
    model_id: String,
    sampling: Sampling,
    /// The last generation, for logs and tests.
    pub last: Option<Generation>,
    /// blake3 of the GGUF file, when loaded from one.
    weights: Option<String>,
}

impl std::fmt::Debug for LlmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmEngine")
            .field("model", &self.model_id)
            .finish_non_exhaustive()
    }
}

impl LlmEngine {
    /// Loads the model at `path` (registry id `model_id`) to break down with `seed`.
    pub fn load(
        model_id: &str,
        path: &Path,
        options: &LoadOptions,
        seed: u64,
    ) -> Result<Self, LlmError> {
        let bytes = std::fs::metadata(path)
            .map_err(|e| LlmError::Io {
                path: path.to_path_buf(),
                source: e,
            })?
            .len()
            + kv_cache_bytes(path)?;
        let key = PoolKey {
            kind: "llm",
            path: path.to_path_buf(),
            variant: format!("{options:?}"),
        };
        let memory = ModelPool::global()
            .reserve::<LlmError>(key, bytes)
            .map_err(|e| LlmError::Memory(e.to_string()))?;
        let llm = Llm::load(path, options)?;
        let mut engine = Self::new(llm, model_id, seed);
        engine._memory = Some(memory);
        engine.weights = blake3::Hasher::new()
            .update_mmap(path)
            .ok()
            .map(|h| h.finalize().to_hex().to_string());
        Ok(engine)
    }

    /// Wraps a loaded model (not counted in the model budget; [`LlmEngine::load`] counts it).
    #[must_use]
    pub fn new(llm: Llm, model_id: &str, seed: u64) -> Self {
        let vocab = grammar_vocab(llm.tokenizer());
        Self {
            llm,
            _memory: None,
            vocab,
            model_id: model_id.to_owned(),
            // Warm enough to vary with the seed, cool enough to stay on task; a mild repeat
            // penalty (the forced JSON structure is not sampled, so it is not penalised).
            sampling: Sampling {
                temperature: 0.6,
                top_p: 0.9,
                repeat_penalty: 1.05,
                repeat_last_n: 64,
                seed,
            },
            last: None,
            weights: None,
        }
    }

    #[must_use]
    pub fn llm(&self) -> &Llm {
        &self.llm
    }

    fn fail(&self, scene: &SceneInput, message: impl Into<String>) -> BreakdownError {
        BreakdownError::Engine {
            engine: format!("llm {}", self.model_id),
            scene: scene.index,
            message: message.into(),
        }
    }

    /// The model's raw answer for a scene (with the scene's seed): the JSON text, valid against
    /// the scene's schema by construction when `stop` is `Complete`.
    pub fn generate_plan_text(
        &mut self,
        scene: &SceneInput,
        ctx: &JobContext,
    ) -> Result<Generation, BreakdownError> {
        self.sampling.seed = scene.seed;
        let prompt_scene = to_prompt(scene);
        let prompt = self
            .llm
            .render_chat(&messages(&prompt_scene))
            .map_err(|e| self.fail(scene, e.to_string()))?;
        let grammar = compile_schema(&json_schema_for(scene.lines.len()))
            .map_err(|e| self.fail(scene, format!("the plan schema does not compile: {e}")))?;
        let mut constraint = JsonConstraint::new(grammar, self.vocab.clone());
        let request = GenerateRequest {
            prompt,
            max_tokens: MAX_TOKENS,
            sampling: self.sampling.clone(),
        };
        let label = format!("scene {}", scene.index);
        let mut last_report = Instant::now();
        let mut tail = String::new();
        let generation = self
            .llm
            .generate(
                &request,
                Some(&mut constraint),
                &|| ctx.is_cancelled(),
                &mut |text| {
                    tail.push_str(text);
                    if last_report.elapsed().as_millis() >= 200 {
                        let shown: String = tail
                            .chars()
                            .rev()
                            .take(60)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .collect();
                        ctx.progress(f32::NAN, format!("{label}: …{shown}"));
                        last_report = Instant::now();
                    }
                },
            )
            .map_err(|e| match e {
                LlmError::Cancelled => BreakdownError::Cancelled,
                other => BreakdownError::Engine {
                    engine: format!("llm {}", self.model_id),
                    scene: scene.index,
                    message: other.to_string(),
                },
            })?;
        ctx.log(format!(
            "{label}: {} prompt tokens ({} from cache), {} generated ({} forced) in {:.1} s",
            generation.prompt_tokens,
            generation.reused_tokens,
            generation.tokens.len(),
            generation.forced_tokens,
            generation.prompt_seconds + generation.generate_seconds
        ));
        Ok(generation)
    }
}

impl SceneEngine for LlmEngine {
    fn name(&self) -> String {
        "llm".to_owned()
    }

    fn model(&self) -> Option<String> {
        Some(self.model_id.clone())
    }

    fn weights_hash(&self) -> Option<String> {
        self.weights.clone()
    }

    fn plan_scene(
        &mut self,
        scene: &SceneInput,
        ctx: &JobContext,
    ) -> Result<ScenePlan, BreakdownError> {
        let generation = self.generate_plan_text(scene, ctx)?;
        let text = generation.text.clone();
        let complete = generation.stop == StopReason::Complete;
        self.last = Some(generation);
        if !complete {
            return Err(self.fail(
                scene,
                format!("the answer was cut off at {MAX_TOKENS} tokens: {text}"),
            ));
        }
        serde_json::from_str(&text).map_err(|e| {
            self.fail(
                scene,
                format!("the answer does not read as a plan ({e}): {text}"),
            )
        })
    }
}

/// The scene as the prompt shows it.
#[must_use]
pub fn to_prompt(scene: &SceneInput) -> PromptScene {
    PromptScene {
        heading: scene.scene.heading.text.clone(),
        characters: scene.characters.iter().map(|c| c.name.clone()).collect(),
        action: scene
            .scene
            .elements
            .iter()
            .filter_map(|e| match e {
                ScriptElement::Action { text, .. } if !text.text.trim().is_empty() => {
                    Some(text.text.clone())
                }
                _ => None,
            })
            .collect(),
        lines: scene
            .lines
            .iter()
            .map(|l| (l.speaker.clone(), l.text.clone()))
            .collect(),
    }
}
