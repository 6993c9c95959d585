//! Which voice speaks, and rendering a speech with it.
//!
//! Three kinds of voice, best first: a Piper voice from the model registry (VITS on candle),
//! one of espeak-ng's own voices (`espeak:<voice>`, through the `espeak-ng` program), and,
//! with neither installed, silence timed at reading speed (150 words a minute) so the edit
//! still has the right shape.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use previz_core::script::Casting;
use previz_models::device::DeviceChoice;
use previz_models::pool::{ModelPool, PoolKey};
use previz_models::tts::{SpeakOptions, Voice, phonemize::espeak_available};

use crate::VoicesError;
use crate::audio::{read_wav, resample, set_peak};
use crate::delivery::Segment;

/// What a casting resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Piper { id: String },
    Espeak { voice: String },
    Silent,
}

impl EngineKind {
    /// How provenance names it (`piper:en-us-joe-medium`, `espeak:en-us`, `silent`).
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            EngineKind::Piper { id } => format!("piper:{id}"),
            EngineKind::Espeak { voice } => format!("espeak:{voice}"),
            EngineKind::Silent => "silent".into(),
        }
    }
}

/// A rendered speech.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub samples: Vec<f32>,
    pub rate: u32,
    pub engine: EngineKind,
    /// blake3 of the voice model, for provenance.
    pub model_hash: Option<String>,
}

#[derive(Debug)]
struct LoadedVoice {
    voice: Voice,
    hash: String,
}

/// The voices this machine has, loaded on first use.
#[derive(Debug)]
pub struct VoiceBank {
    registry: previz_models::registry::Registry,
    device: DeviceChoice,
    loaded: HashMap<String, Arc<LoadedVoice>>,
    espeak: bool,
    espeak_program: String,
}

impl VoiceBank {
    /// The voices installed under the default model directories, on `device`.
    #[must_use]
    pub fn discover(device: DeviceChoice) -> Self {
        Self::with_registry(
            previz_models::registry::Registry::discover_default(),
            device,
        )
    }

    /// The voices of `registry`.
    #[must_use]
    pub fn with_registry(
        registry: previz_models::registry::Registry,
        device: DeviceChoice,
    ) -> Self {
        let program = std::env::var("PREVIZ_ESPEAK").unwrap_or_else(|_| "espeak-ng".into());
        Self {
            registry,
            device,
            loaded: HashMap::new(),
            espeak: espeak_available(&program),
            espeak_program: program,
        }
    }

    /// Uses `program` as espeak-ng (tests point it at a missing program).
    #[must_use]
    pub fn with_espeak_program(mut self, program: &str) -> Self {
        self.espeak = espeak_available(program);
        self.espeak_program = program.to_string();
        self
    }

    pub(crate) fn registry(&self) -> &previz_models::registry::Registry {
        &self.registry
    }

    pub(crate) fn espeak_program(&self) -> &str {
        &self.espeak_program
    }

    /// Installed Piper voices, by id.
    #[must_use]
    pub fn piper_voices(&self) -> Vec<String> {
        self.registry
            .installed(previz_models::registry::ModelKind::Tts)
            .map(|e| e.id.clone())
            .collect()
    }

    /// Whether espeak-ng runs here.
    #[must_use]
    pub fn has_espeak(&self) -> bool {
        self.espeak
    }

    /// The voice new characters get: the first installed Piper voice with espeak-ng to
    /// phonemize it, else espeak-ng's own, else silence.
    #[must_use]
    pub fn default_voice(&self) -> String {
        if self.espeak {
            if let Some(id) = self.piper_voices().into_iter().next() {
                return id;
            }
            return "espeak:en-us".into();
        }
        "silent".into()
    }

    /// What a casting's voice resolves to here, or why it cannot be used.
    pub fn resolve(&self, voice: &str) -> Result<EngineKind, VoicesError> {
        if voice == "silent" {
            return Ok(EngineKind::Silent);
        }
        if let Some(v) = voice.strip_prefix("espeak:") {
            if !self.espeak {
                return Err(VoicesError::NoEspeak);
            }
            return Ok(EngineKind::Espeak { voice: v.into() });
        }
        if !self.espeak {
            return Err(VoicesError::NoEspeak);
        }
        let entry = self
            .registry
            .resolve(voice)
            .map_err(|e| VoicesError::Voice(e.to_string()))?;
        Ok(EngineKind::Piper { id: entry.id })
    }

    /// What a voice is, for keying the takes it makes: `piper:<id>:<blake3 of the model>`
    /// (loading it), `espeak-ng:<voice>` or `silent`.
    pub fn identity(&mut self, voice: &str) -> Result<String, VoicesError> {
        Ok(match self.resolve(voice)? {
            EngineKind::Piper { id } => {
                let loaded = self.piper(&id)?;
                format!("piper:{id}:{}", loaded.hash)
            }
            EngineKind::Espeak { voice } => format!("espeak-ng:{voice}"),
            EngineKind::Silent => "silent".to_owned(),
        })
    }

    fn piper(&mut self, id: &str) -> Result<Arc<LoadedVoice>, VoicesError> {
        if let Some(v) = self.loaded.get(id) {
            return Ok(v.clone());
        }
        let entry = self
            .registry
            .resolve(id)
            .map_err(|e| VoicesError::Voice(e.to_string()))?;
        let path: PathBuf = entry
            .path
            .ok_or_else(|| VoicesError::Voice(format!("voice {id} is not installed")))?;
        // Through the process's model pool: shared with other jobs and counted in the budget
        // the LLM and the diffusion model share (weights are f32, about the ONNX file's size).
        let key = PoolKey {
            kind: "voice",
            path: path.clone(),
            variant: format!("{:?}", self.device),
        };
        let device = self.device;
        let loaded = ModelPool::global()
            .get_or_load(
                key,
                || Ok(std::fs::metadata(&path).map_or(0, |m| m.len())),
                || {
                    let voice = Voice::load(&path, device).map_err(|e| e.to_string())?;
                    let hash = blake3::Hasher::new()
                        .update_mmap(&path)
                        .map(|h| h.finalize().to_hex().to_string())
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    Ok::<_, String>(LoadedVoice { voice, hash })
                },
            )
            .map_err(|e| VoicesError::Voice(e.to_string()))?;
        self.loaded.insert(id.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// Renders `segments` as `casting` at `rate` Hz; `seed` fixes the voice's noise.
    pub fn render(
        &mut self,
        casting: &Casting,
        segments: &[Segment],
        rate: u32,
        seed: u64,
    ) -> Result<Rendered, VoicesError> {
        let engine = self.resolve(&casting.voice)?;
        let mut out: Vec<f32> = Vec::new();
        let mut model_hash = None;
        let speed = casting.speed_percent.clamp(25, 400) as f32 / 100.0;
        for (i, segment) in segments.iter().enumerate() {
            match segment {
                Segment::Silence { seconds } => {
                    out.extend(std::iter::repeat_n(0.0, (seconds * rate as f32) as usize));
                }
                Segment::Say { text, delivery } => {
                    let pitch = casting.pitch_semitones as f32 + delivery.pitch;
                    let speed = speed * delivery.speed;
                    let mut samples = match &engine {
                        EngineKind::Piper { id } => {
                            let loaded = self.piper(id)?;
                            model_hash = Some(loaded.hash.clone());
                            // Pitch without changing time: speak `r` times longer, then play
                            // `r` times faster (resample as if recorded at r × the rate).
                            let r = 2f32.powf(pitch / 12.0);
                            let options = SpeakOptions {
                                speaker: casting.speaker.clone(),
                                length_scale: r / speed,
                                noise_scale: delivery.noise_scale,
                                noise_w: None,
                                seed: seed.wrapping_add(i as u64),
                                sentence_silence: 0.25,
                            };
                            let voice_rate = loaded.voice.sample_rate();
                            let samples = loaded
                                .voice
                                .speak(text, &options, None, |_| {})
                                .map_err(|e| VoicesError::Voice(e.to_string()))?;
                            let virtual_rate = (voice_rate as f32 * r).round() as u32;
                            resample(&samples, virtual_rate, rate)?
                        }
                        EngineKind::Espeak { voice } => {
                            self.espeak_render(voice, text, speed, pitch, rate)?
                        }
                        EngineKind::Silent => {
                            let words = text.split_whitespace().count() as f32;
                            let seconds = (words / 2.5 + 0.3) / speed;
                            vec![0.0; (seconds * rate as f32) as usize]
                        }
                    };
                    set_peak(&mut samples, delivery.level);
                    if !out.is_empty()
                        && !matches!(
                            segments.get(i.wrapping_sub(1)),
                            Some(Segment::Silence { .. })
                        )
                    {
                        // A breath between two parts of one speech.
                        out.extend(std::iter::repeat_n(0.0, (0.15 * rate as f32) as usize));
                    }
                    out.extend(samples);
                }
            }
        }
        Ok(Rendered {
            samples: out,
            rate,
            engine,
            model_hash,
        })
    }

    fn espeak_render(
        &self,
        voice: &str,
        text: &str,
        speed: f32,
        pitch: f32,
        rate: u32,
    ) -> Result<Vec<f32>, VoicesError> {
        let dir = tempfile_dir()?;
        let path = dir.join("line.wav");
        let wpm = (175.0 * speed).round().clamp(80.0, 450.0) as u32;
        let espeak_pitch = (50.0 + pitch * 4.0).round().clamp(0.0, 99.0) as u32;
        let out = Command::new(&self.espeak_program)
            // No -q: with it espeak-ng writes no file either.
            .args([
                "-v",
                voice,
                "-s",
                &wpm.to_string(),
                "-p",
                &espeak_pitch.to_string(),
                "-w",
            ])
            .arg(&path)
            .arg("--")
            .arg(text)
            .output()
            .map_err(|e| VoicesError::Voice(format!("{}: {e}", self.espeak_program)))?;
        if !out.status.success() {
            return Err(VoicesError::Voice(format!(
                "espeak-ng -v {voice} failed: {}; list the voices with espeak-ng --voices",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let read = std::fs::read(&path);
        let _ = std::fs::remove_dir_all(&dir);
        let bytes = read.map_err(|e| {
            VoicesError::Voice(format!(
                "espeak-ng wrote no audio to {}: {e}",
                path.display()
            ))
        })?;
        let (samples, from) = read_wav(&bytes, "espeak-ng output")?;
        resample(&samples, from, rate)
    }
}

fn tempfile_dir() -> Result<PathBuf, VoicesError> {
    let dir = std::env::temp_dir().join(format!(
        "previz-espeak-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| VoicesError::Voice(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}
