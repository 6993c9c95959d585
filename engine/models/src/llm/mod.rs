//! Local LLM runtime.
//!
//! Data flow: a GGUF file → [`gguf`] reads its metadata (architecture, tokenizer, chat template)
//! → [`tokenizer`] builds the model's real tokenizer, [`template`] its chat template, and the
//! architecture picks a [`CausalLm`] (ours for llama, candle-transformers' for the others) →
//! [`generate`] runs prompts through it with [`sampler`] and an optional grammar constraint.

pub mod constrained;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod kernels;
pub mod llama;
pub mod others;
pub mod sampler;
pub mod template;
pub mod tokenizer;

pub use error::LlmError;

/// A decoder-only language model with a KV cache.
///
/// The cache holds positions `0..cache_len()`; [`CausalLm::forward`] appends `tokens` after them
/// and returns the logits of the last one. [`CausalLm::truncate_cache`] drops positions so that a
/// new prompt sharing a prefix with the cached one only feeds the rest (prefix reuse across
/// scenes).
pub trait CausalLm: Send {
    /// Feeds `tokens` at positions `cache_len()..cache_len() + tokens.len()` and returns the
    /// logits (one per vocabulary entry) after the last of them.
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, LlmError>;
    /// Positions currently in the KV cache.
    fn cache_len(&self) -> usize;
    /// Keeps only the first `len` cached positions. Models that cannot truncate reset to 0 and
    /// return the length they kept, which the caller must respect.
    fn truncate_cache(&mut self, len: usize) -> usize;
    /// Number of logits [`CausalLm::forward`] returns.
    fn vocab_size(&self) -> usize;
    /// Maximum positions the model supports.
    fn context_length(&self) -> usize;
}
