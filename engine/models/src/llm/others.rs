//! The architectures we run through candle-transformers' quantized models as they are:
//! Qwen2 / Qwen2.5, Qwen3 and Phi-3, plus its llama as the reference our own llama is checked
//! against and the path used on CUDA (where our CPU kernels do not apply).
//!
//! These models' KV caches only grow or reset, so prefix reuse degrades to re-feeding the
//! prompt: [`CausalLm::truncate_cache`] keeps everything or nothing.

use std::fs::File;
use std::io::BufReader;

use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, Tensor};
use candle_transformers::models::{
    quantized_llama, quantized_phi3, quantized_qwen2, quantized_qwen3,
};

use super::gguf::GgufFile;
use super::{CausalLm, LlmError};

enum Inner {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
    Phi3(quantized_phi3::ModelWeights),
}

/// A candle-transformers quantized model behind [`CausalLm`].
pub struct CandleModel {
    inner: Inner,
    device: Device,
    cache_len: usize,
    vocab_size: usize,
    context_length: usize,
}

impl std::fmt::Debug for CandleModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleModel")
            .field("device", &self.device)
            .field("cache_len", &self.cache_len)
            .field("vocab_size", &self.vocab_size)
            .finish_non_exhaustive()
    }
}

/// Architectures this module runs.
pub const ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "phi3"];

impl CandleModel {
    /// Loads `gguf` on `device` with candle-transformers' implementation of its architecture.
    pub fn load(gguf: &GgufFile, device: &Device) -> Result<Self, LlmError> {
        let arch = gguf.architecture()?.to_owned();
        let path = &gguf.path;
        let bad = |e: candle_core::Error| LlmError::BadModel {
            path: path.clone(),
            detail: format!("its {arch} weights do not load ({e})"),
        };
        let file = File::open(path).map_err(|source| LlmError::Io {
            path: path.clone(),
            source,
        })?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(bad)?;
        let inner = match arch.as_str() {
            "llama" => Inner::Llama(
                quantized_llama::ModelWeights::from_gguf(content, &mut reader, device)
                    .map_err(bad)?,
            ),
            "qwen2" => Inner::Qwen2(
                quantized_qwen2::ModelWeights::from_gguf(content, &mut reader, device)
                    .map_err(bad)?,
            ),
            "qwen3" => Inner::Qwen3(
                quantized_qwen3::ModelWeights::from_gguf(content, &mut reader, device)
                    .map_err(bad)?,
            ),
            "phi3" => Inner::Phi3(
                quantized_phi3::ModelWeights::from_gguf(false, content, &mut reader, device)
                    .map_err(bad)?,
            ),
            other => {
                return Err(LlmError::UnsupportedArchitecture {
                    path: path.clone(),
                    arch: other.to_owned(),
                    supported: "llama (SmolLM2, Llama 3.x), qwen2, qwen3, phi3",
                });
            }
        };
        let vocab_size = gguf
            .strings("tokenizer.ggml.tokens")
            .map(|t| t.len())
            .unwrap_or(0);
        Ok(Self {
            inner,
            device: device.clone(),
            cache_len: 0,
            vocab_size,
            context_length: gguf.context_length().unwrap_or(4096),
        })
    }

    fn reset(&mut self) {
        match &mut self.inner {
            Inner::Llama(m) => m.clear_kv_cache(),
            Inner::Qwen2(m) => m.clear_kv_cache(),
            Inner::Qwen3(m) => m.clear_kv_cache(),
            // Phi-3 resets its cache when fed at position 0.
            Inner::Phi3(_) => {}
        }
        self.cache_len = 0;
    }
}

impl CausalLm for CandleModel {
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, LlmError> {
        if tokens.is_empty() {
            return Err(LlmError::Backend("forward with no tokens".into()));
        }
        let needed = self.cache_len + tokens.len();
        if needed > self.context_length {
            return Err(LlmError::ContextFull {
                needed,
                limit: self.context_length,
            });
        }
        let x = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let pos = self.cache_len;
        let logits = match &mut self.inner {
            Inner::Llama(m) => m.forward(&x, pos)?,
            Inner::Qwen2(m) => m.forward(&x, pos)?,
            Inner::Qwen3(m) => m.forward(&x, pos)?,
            Inner::Phi3(m) => m.forward(&x, pos)?,
        };
        self.cache_len = needed;
        let logits = logits.flatten_all()?.to_dtype(candle_core::DType::F32)?;
        let logits: Vec<f32> = logits.to_vec1()?;
        // Some models return logits for every position fed: keep the last row.
        let vocab = if self.vocab_size == 0 {
            logits.len()
        } else {
            self.vocab_size
        };
        if logits.len() < vocab {
            return Err(LlmError::Backend(format!(
                "model returned {} logits, expected {vocab}",
                logits.len()
            )));
        }
        Ok(logits[logits.len() - vocab..].to_vec())
    }

    fn cache_len(&self) -> usize {
        self.cache_len
    }

    fn truncate_cache(&mut self, len: usize) -> usize {
        if len < self.cache_len {
            self.reset();
        }
        self.cache_len
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn context_length(&self) -> usize {
        self.context_length
    }
}
