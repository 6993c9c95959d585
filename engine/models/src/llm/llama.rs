//! Llama-family models (SmolLM2, Llama 3.x) from GGUF on our own fast CPU path. (In progress.)
