//! Running prompts: the [`Llm`] facade over a model, its tokenizer and its chat template.
//!
//! One generation: render → tokenize → reuse the longest cached prefix (the system prompt and
//! few-shot examples shared by every scene are fed once per session, not once per scene) → feed
//! the rest in one batched forward → then token by token: ask the constraint which tokens may
//! come next, sample among them, stream the text, check for cancellation. When the constraint
//! allows exactly one continuation (a fixed key such as `","angle":"`), those bytes are fed as
//! one batch instead of one forward per token.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::gguf::GgufFile;
use super::llama::Llama;
use super::others::CandleModel;
use super::sampler::{Sampler, Sampling};
use super::template::{ChatMessage, ChatTemplate};
use super::tokenizer::{LlmTokenizer, sanitize};
use super::{CausalLm, LlmError};
use crate::device::{self, DeviceChoice};

/// Limits what a model may say next (a grammar over its vocabulary).
pub trait TokenConstraint {
    /// The ids allowed now, into `out` (cleared first). Empty only when complete and the
    /// caller should stop.
    fn allowed(&mut self, out: &mut Vec<u32>);
    /// Advances past `id`; an error leaves the constraint unchanged.
    fn accept(&mut self, id: u32) -> Result<(), String>;
    /// Whether a whole document has been produced.
    fn is_complete(&self) -> bool;
    /// Bytes that are the only possible continuation now (may be empty).
    fn forced_bytes(&self) -> Vec<u8> {
        Vec::new()
    }
}

/// How to load a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    pub device: DeviceChoice,
    /// CPU threads for inference (0: all cores).
    pub threads: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Cpu,
            threads: 0,
        }
    }
}

impl LoadOptions {
    /// The thread count to use: the one asked for, or every core.
    #[must_use]
    pub fn resolved_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        }
    }
}

/// What a loaded model is, for provenance and the UI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: String,
    pub architecture: String,
    pub path: PathBuf,
    /// blake3 of the file, hex: provenance says exactly which weights spoke.
    pub file_hash: String,
    pub context_length: usize,
    /// Which runtime runs it (`previz-llama-cpu`, `candle-transformers`).
    pub runtime: &'static str,
    pub device: String,
}

/// One request.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateRequest {
    /// The rendered prompt (see [`Llm::render_chat`]).
    pub prompt: String,
    pub max_tokens: usize,
    pub sampling: Sampling,
}

/// Why generation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The model ended its turn.
    EndOfTurn,
    /// The constraint's document is complete.
    Complete,
    MaxTokens,
}

/// The answer, with the figures the job log and the benchmark print.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<u32>,
    pub prompt_tokens: usize,
    /// Prompt tokens served from the KV cache of the previous request.
    pub reused_tokens: usize,
    /// Generated tokens fed in batches because the constraint forced them.
    pub forced_tokens: usize,
    pub prompt_seconds: f64,
    pub generate_seconds: f64,
    pub stop: StopReason,
}

/// A loaded chat model.
pub struct Llm {
    model: Box<dyn CausalLm>,
    tokenizer: LlmTokenizer,
    template: ChatTemplate,
    info: ModelInfo,
    /// The token ids whose keys and values the model's cache holds, in order.
    cached: Vec<u32>,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Llm {
    /// Loads a GGUF chat model: header, tokenizer, template, then the weights for its
    /// architecture on the chosen device.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Self, LlmError> {
        let gguf = GgufFile::open(path)?;
        let architecture = gguf.architecture()?.to_owned();
        let tokenizer = LlmTokenizer::for_model(&gguf)?;
        let template = ChatTemplate::from_gguf(&gguf)?;
        let device =
            device::resolve(options.device).map_err(|e| LlmError::Backend(e.to_string()))?;
        // Llama-family models on the CPU run on our own runtime (SIMD kernels, batched prompts,
        // prefix reuse); everything else, and everything on CUDA, on candle-transformers.
        let (model, runtime): (Box<dyn CausalLm>, &'static str) =
            if architecture == "llama" && device.is_cpu() {
                (
                    Box::new(Llama::from_gguf(path, options.resolved_threads())?),
                    "previz-llama-cpu",
                )
            } else {
                (
                    Box::new(CandleModel::load(&gguf, &device)?),
                    "candle-transformers",
                )
            };
        if model.vocab_size() != tokenizer.vocab_size() {
            return Err(LlmError::BadModel {
                path: path.to_owned(),
                detail: format!(
                    "the model has {} outputs but its tokenizer {} tokens",
                    model.vocab_size(),
                    tokenizer.vocab_size()
                ),
            });
        }
        let file_hash = hash_file(path)?;
        let info = ModelInfo {
            name: gguf.display_name(),
            architecture,
            path: path.to_owned(),
            file_hash,
            context_length: model.context_length(),
            runtime,
            device: format!("{device:?}"),
        };
        Ok(Self::from_parts(model, tokenizer, template, info))
    }

    /// Assembles an `Llm` from parts (tests with tiny models, other runtimes).
    #[must_use]
    pub fn from_parts(
        model: Box<dyn CausalLm>,
        tokenizer: LlmTokenizer,
        template: ChatTemplate,
        info: ModelInfo,
    ) -> Self {
        Self {
            model,
            tokenizer,
            template,
            info,
            cached: Vec::new(),
        }
    }

    #[must_use]
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    #[must_use]
    pub fn tokenizer(&self) -> &LlmTokenizer {
        &self.tokenizer
    }

    /// Renders a conversation with the model's template, ending with the assistant's turn
    /// opening. Message contents are sanitized so text cannot forge chat markers.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let specials = self.tokenizer.special_strings();
        let clean: Vec<ChatMessage> = messages
            .iter()
            .map(|m| ChatMessage {
                role: m.role,
                content: sanitize(&m.content, &specials),
            })
            .collect();
        self.template.render(&clean, true)
    }

    /// Generates an answer to `request`, under `constraint` if given, streaming text to
    /// `on_text`; `cancelled` is polled before every forward pass.
    pub fn generate(
        &mut self,
        request: &GenerateRequest,
        mut constraint: Option<&mut dyn TokenConstraint>,
        cancelled: &dyn Fn() -> bool,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LlmError> {
        let prompt_ids = self.tokenizer.encode(&request.prompt)?;
        if prompt_ids.is_empty() {
            return Err(LlmError::Tokenizer("the prompt is empty".into()));
        }
        let needed = prompt_ids.len() + request.max_tokens;
        if needed > self.model.context_length() {
            return Err(LlmError::ContextFull {
                needed,
                limit: self.model.context_length(),
            });
        }
        // Reuse the cached prefix; at least one token must be fed to get logits.
        let common = self
            .cached
            .iter()
            .zip(&prompt_ids)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt_ids.len() - 1);
        let kept = self.model.truncate_cache(common).min(common);
        self.cached.truncate(kept);
        if cancelled() {
            return Err(LlmError::Cancelled);
        }
        let started = Instant::now();
        let mut logits = self.feed(&prompt_ids[kept..])?;
        let prompt_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut sampler = Sampler::new(request.sampling.clone());
        let mut generated: Vec<u32> = Vec::new();
        let mut forced_tokens = 0usize;
        let mut pending: Vec<u8> = Vec::new();
        let mut text = String::new();
        let mut allowed: Vec<u32> = Vec::new();
        let mut stop = StopReason::MaxTokens;
        while generated.len() < request.max_tokens {
            if let Some(c) = constraint.as_deref_mut() {
                if c.is_complete() {
                    stop = StopReason::Complete;
                    break;
                }
                // Fast-forward through text only one continuation of which is possible.
                let forced = c.forced_bytes();
                if forced.len() > 1
                    && let Ok(s) = std::str::from_utf8(&forced)
                {
                    let ids = self.tokenizer.encode_continuation(s)?;
                    let mut accepted = Vec::new();
                    for &id in &ids {
                        if generated.len() + accepted.len() >= request.max_tokens
                            || c.accept(id).is_err()
                        {
                            break;
                        }
                        accepted.push(id);
                    }
                    if !accepted.is_empty() {
                        if cancelled() {
                            return Err(LlmError::Cancelled);
                        }
                        self.emit(&accepted, &mut pending, &mut text, on_text);
                        generated.extend_from_slice(&accepted);
                        forced_tokens += accepted.len();
                        if c.is_complete() {
                            stop = StopReason::Complete;
                            break;
                        }
                        logits = self.feed(&accepted)?;
                        continue;
                    }
                }
                c.allowed(&mut allowed);
                if allowed.is_empty() {
                    return Err(LlmError::Constraint(
                        "no token is allowed but the document is not complete".into(),
                    ));
                }
            }
            let candidates = constraint.as_ref().map(|_| allowed.as_slice());
            let id = sampler
                .sample(&logits, candidates, &generated)
                .ok_or_else(|| LlmError::Constraint("nothing to sample from".into()))?;
            if let Some(c) = constraint.as_deref_mut() {
                c.accept(id).map_err(LlmError::Constraint)?;
            } else if self.tokenizer.is_stop(id) {
                stop = StopReason::EndOfTurn;
                break;
            }
            if self.tokenizer.is_stop(id) {
                stop = StopReason::EndOfTurn;
                break;
            }
            generated.push(id);
            self.emit(&[id], &mut pending, &mut text, on_text);
            if constraint.as_ref().is_some_and(|c| c.is_complete()) {
                stop = StopReason::Complete;
                break;
            }
            if generated.len() >= request.max_tokens {
                break;
            }
            if cancelled() {
                return Err(LlmError::Cancelled);
            }
            logits = self.feed(&[id])?;
        }
        if !pending.is_empty() {
            let tail = String::from_utf8_lossy(&pending).into_owned();
            on_text(&tail);
            text.push_str(&tail);
        }
        Ok(Generation {
            text,
            tokens: generated,
            prompt_tokens: prompt_ids.len(),
            reused_tokens: kept,
            forced_tokens,
            prompt_seconds,
            generate_seconds: started.elapsed().as_secs_f64(),
            stop,
        })
    }

    /// Feeds tokens after the cache, keeping `cached` in step with the model's cache.
    fn feed(&mut self, ids: &[u32]) -> Result<Vec<f32>, LlmError> {
        let logits = self.model.forward(ids);
        match logits {
            Ok(l) => {
                self.cached.extend_from_slice(ids);
                Ok(l)
            }
            Err(e) => {
                // The cache may hold part of the batch: start clean next time.
                self.model.truncate_cache(0);
                self.cached.clear();
                Err(e)
            }
        }
    }

    /// Streams the text of `ids`, holding back an incomplete UTF-8 sequence.
    fn emit(
        &self,
        ids: &[u32],
        pending: &mut Vec<u8>,
        text: &mut String,
        on_text: &mut dyn FnMut(&str),
    ) {
        for &id in ids {
            if let Some(bytes) = self.tokenizer.token_bytes().get(id as usize) {
                pending.extend_from_slice(bytes);
            }
        }
        let valid = match std::str::from_utf8(pending) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // Invalid bytes (unconstrained output): pass them on replaced.
            Err(_) => {
                let s = String::from_utf8_lossy(pending).into_owned();
                on_text(&s);
                text.push_str(&s);
                pending.clear();
                return;
            }
        };
        if valid > 0 {
            let s = std::str::from_utf8(&pending[..valid])
                .unwrap_or_default()
                .to_owned();
            on_text(&s);
            text.push_str(&s);
            pending.drain(..valid);
        }
    }
}

/// blake3 of a file, hex.
fn hash_file(path: &Path) -> Result<String, LlmError> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap(path).map_err(|source| LlmError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(hasher.finalize().to_hex().to_string())
}
