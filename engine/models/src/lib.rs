//! Model runtimes on candle, behind small traits so no candle type leaks into the app.
//!
//! * [`llm`]: quantized GGUF chat models (llama family on our own fast CPU path; Qwen2/Qwen3/Phi-3
//!   through candle-transformers), the GGUF's own tokenizer and chat template, sampling,
//!   constrained generation with streaming, cancellation and KV-cache prefix reuse.
//! * [`device`]: CPU / CUDA selection and the VRAM budget.
//! * [`diffusion`]: Stable Diffusion (diffusers folders), LoRA, seeded samplers, previews.
//! * [`tts`]: Piper voices (VITS) ported to candle, phonemes from the espeak-ng program.
//! * [`memory`]: the allocator kept from unmapping tensor-sized buffers (binaries call it).
//! * [`registry`]: model manifests (`models/*.toml`) and the GGUF files a user drops in.

pub mod device;
pub mod diffusion;
pub mod llm;
pub mod memory;
pub mod pool;
pub mod registry;
pub mod tts;
pub mod verify;
