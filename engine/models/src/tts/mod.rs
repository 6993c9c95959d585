//! Text to speech: Piper voices (VITS) on candle, phonemes from espeak-ng.
//!
//! * [`onnx`]: reads the voice's weights and convolution attributes from its `.onnx` file.
//! * [`vits`]: the VITS model on candle (CPU, or CUDA with the `cuda` feature).
//! * [`voice`]: the `.onnx.json` configuration and Piper's phoneme → id rule.
//! * [`phonemize`]: text → clauses → IPA through the `espeak-ng` program (run, never linked:
//!   espeak-ng is GPL-3), → Piper's phoneme symbols, sentence by sentence.
//! * [`Voice`]: all of it together; [`Voice::speak`] synthesises sentence by sentence and hands
//!   each sentence to a callback as soon as it is ready, so a long speech starts playing early.

mod conv_cpu;
pub mod onnx;
pub mod phonemize;
pub mod vits;
pub mod voice;

use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::device::DeviceChoice;
use previz_jobs::CancelToken;

pub use phonemize::{Clause, Phonemizer};
pub use vits::{Scales, Synthesis, Vits};
pub use voice::VoiceConfig;

/// Everything that can go wrong in text to speech, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("{file}: {detail}")]
    Io { file: String, detail: String },
    #[error("{file}: not a usable Piper voice: {detail}")]
    BadModel { file: String, detail: String },
    #[error("{file}:{line}: {detail}")]
    BadConfig {
        file: String,
        line: usize,
        detail: String,
    },
    #[error("no speaker '{speaker}' in this voice; it has {known}")]
    NoSpeaker { speaker: String, known: String },
    #[error("{0}")]
    BadInput(String),
    #[error(
        "espeak-ng is not installed, and Piper voices need its phonemes; install it (Debian: apt install espeak-ng) or use silent timing"
    )]
    EspeakMissing,
    #[error("espeak-ng failed: {0}")]
    Espeak(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Device(String),
    #[error("inference failed: {0}")]
    Candle(String),
}

impl From<candle_core::Error> for TtsError {
    fn from(e: candle_core::Error) -> Self {
        TtsError::Candle(e.to_string())
    }
}

/// How one line is to be spoken.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeakOptions {
    /// A speaker name or number of a multi-speaker voice; `None` is speaker 0.
    pub speaker: Option<String>,
    /// Multiplies the voice's own length scale: 1.25 is 25% slower.
    pub length_scale: f32,
    /// Overrides the voice's noise scales (0 makes synthesis deterministic).
    pub noise_scale: Option<f32>,
    pub noise_w: Option<f32>,
    /// Seed of the noise, so a take can be reproduced exactly.
    pub seed: u64,
    /// Silence between sentences, seconds.
    pub sentence_silence: f32,
}

impl Default for SpeakOptions {
    fn default() -> Self {
        Self {
            speaker: None,
            length_scale: 1.0,
            noise_scale: None,
            noise_w: None,
            seed: 0,
            sentence_silence: 0.2,
        }
    }
}

/// One sentence's audio.
#[derive(Clone, Debug)]
pub struct SentenceAudio {
    pub index: usize,
    pub phonemes: Vec<String>,
    pub ids: Vec<i64>,
    pub samples: Vec<f32>,
}

/// A loaded Piper voice.
#[derive(Debug)]
pub struct Voice {
    pub path: PathBuf,
    pub config: VoiceConfig,
    pub model: Vits,
    pub phonemizer: Phonemizer,
}

impl Voice {
    /// Loads `model.onnx` and `model.onnx.json` beside it onto the chosen device.
    pub fn load(onnx: &Path, device: DeviceChoice) -> Result<Self, TtsError> {
        let device = crate::device::resolve(device).map_err(|e| TtsError::Device(e.to_string()))?;
        Self::load_on(onnx, &device)
    }

    /// [`Self::load`] onto a candle device.
    pub fn load_on(onnx: &Path, device: &Device) -> Result<Self, TtsError> {
        let json = config_path(onnx);
        let config = VoiceConfig::load(&json)?;
        let weights = onnx::OnnxWeights::load(onnx)?;
        let model = Vits::load(&weights, device)?;
        if config.num_symbols > 0 && model.symbols() < config.num_symbols {
            return Err(TtsError::BadModel {
                file: onnx.display().to_string(),
                detail: format!(
                    "the model embeds {} symbols but {} says {}; the two files are from different voices",
                    model.symbols(),
                    json.display(),
                    config.num_symbols
                ),
            });
        }
        let phonemizer = Phonemizer::for_config(&config);
        Ok(Self {
            path: onnx.to_path_buf(),
            config,
            model,
            phonemizer,
        })
    }

    /// The voice's sample rate.
    #[must_use]
    pub fn sample_rate(&self) -> u32 {
        self.config.audio.sample_rate
    }

    /// The scales for `options`.
    #[must_use]
    pub fn scales(&self, options: &SpeakOptions) -> Scales {
        let i = self.config.inference;
        Scales {
            noise_scale: options.noise_scale.unwrap_or(i.noise_scale),
            length_scale: i.length_scale * options.length_scale,
            noise_w: options.noise_w.unwrap_or(i.noise_w),
        }
    }

    /// Synthesises phoneme ids directly.
    pub fn synthesize_ids(
        &self,
        ids: &[i64],
        options: &SpeakOptions,
    ) -> Result<Synthesis, TtsError> {
        let speaker = self.config.speaker_id(options.speaker.as_deref())?;
        self.model
            .synthesize(ids, speaker, self.scales(options), options.seed)
    }

    /// Speaks `text` sentence by sentence; `on_sentence` gets each one as soon as it is ready.
    /// Cancellation is checked between sentences. Returns the whole take, sentences joined by
    /// `sentence_silence`.
    pub fn speak(
        &self,
        text: &str,
        options: &SpeakOptions,
        cancel: Option<&CancelToken>,
        mut on_sentence: impl FnMut(&SentenceAudio),
    ) -> Result<Vec<f32>, TtsError> {
        let sentences = self.phonemizer.phonemize(text)?;
        let gap = (self.sample_rate() as f32 * options.sentence_silence.max(0.0)) as usize;
        let mut take = Vec::new();
        for (index, phonemes) in sentences.into_iter().enumerate() {
            if cancel.is_some_and(CancelToken::is_cancelled) {
                return Err(TtsError::Cancelled);
            }
            let (ids, _missing) = self.config.phonemes_to_ids(&phonemes);
            let mut opts = options.clone();
            opts.seed = options.seed.wrapping_add(index as u64);
            let synthesis = self.synthesize_ids(&ids, &opts)?;
            if index > 0 {
                take.extend(std::iter::repeat_n(0.0, gap));
            }
            take.extend_from_slice(&synthesis.samples);
            on_sentence(&SentenceAudio {
                index,
                phonemes,
                ids,
                samples: synthesis.samples,
            });
        }
        Ok(take)
    }
}

/// `voice.onnx` → `voice.onnx.json`.
#[must_use]
pub fn config_path(onnx: &Path) -> PathBuf {
    let mut s = onnx.as_os_str().to_os_string();
    s.push(".json");
    PathBuf::from(s)
}
