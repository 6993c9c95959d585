//! A Piper voice's `.onnx.json`: sample rate, espeak voice, default scales, the phoneme id map
//! and the speakers.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::TtsError;

/// The voice's configuration as Piper writes it (unknown fields ignored).
#[derive(Clone, Debug, Deserialize)]
pub struct VoiceConfig {
    pub audio: AudioConfig,
    #[serde(default)]
    pub espeak: Option<EspeakConfig>,
    #[serde(default)]
    pub inference: InferenceConfig,
    /// `espeak` (the default) or `text` (phonemes are the text's codepoints).
    #[serde(default = "default_phoneme_type")]
    pub phoneme_type: String,
    pub phoneme_id_map: BTreeMap<String, Vec<i64>>,
    #[serde(default)]
    pub num_symbols: usize,
    #[serde(default = "one")]
    pub num_speakers: usize,
    #[serde(default)]
    pub speaker_id_map: BTreeMap<String, i64>,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub language: Option<LanguageConfig>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AudioConfig {
    pub sample_rate: u32,
    #[serde(default)]
    pub quality: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct EspeakConfig {
    pub voice: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LanguageConfig {
    #[serde(default)]
    pub code: Option<String>,
}

/// The voice's own default scales.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct InferenceConfig {
    #[serde(default = "default_noise_scale")]
    pub noise_scale: f32,
    #[serde(default = "default_length_scale")]
    pub length_scale: f32,
    #[serde(default = "default_noise_w")]
    pub noise_w: f32,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            noise_scale: default_noise_scale(),
            length_scale: default_length_scale(),
            noise_w: default_noise_w(),
        }
    }
}

fn default_phoneme_type() -> String {
    "espeak".into()
}
fn one() -> usize {
    1
}
fn default_noise_scale() -> f32 {
    0.667
}
fn default_length_scale() -> f32 {
    1.0
}
fn default_noise_w() -> f32 {
    0.8
}

/// Beginning, end and padding symbols of Piper's id map.
pub const BOS: &str = "^";
pub const EOS: &str = "$";
pub const PAD: &str = "_";

impl VoiceConfig {
    /// Reads `path`, naming it (and the line) on error.
    pub fn load(path: &Path) -> Result<Self, TtsError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TtsError::Io {
            file: file.clone(),
            detail: format!("{e}; a Piper voice needs its .onnx.json beside the .onnx"),
        })?;
        Self::parse(&file, &text)
    }

    /// Parses the JSON text of a voice configuration.
    pub fn parse(file: &str, text: &str) -> Result<Self, TtsError> {
        let config: VoiceConfig = serde_json::from_str(text).map_err(|e| TtsError::BadConfig {
            file: file.to_string(),
            line: e.line(),
            detail: format!("{e}; expected a Piper voice configuration (.onnx.json)"),
        })?;
        for symbol in [BOS, EOS, PAD] {
            if !config.phoneme_id_map.contains_key(symbol) {
                return Err(TtsError::BadConfig {
                    file: file.to_string(),
                    line: 0,
                    detail: format!(
                        "phoneme_id_map has no '{symbol}'; Piper voices always map ^ $ _"
                    ),
                });
            }
        }
        if config.audio.sample_rate == 0 {
            return Err(TtsError::BadConfig {
                file: file.to_string(),
                line: 0,
                detail: "audio.sample_rate is 0".into(),
            });
        }
        Ok(config)
    }

    /// The espeak-ng voice to phonemize with (`en-us`).
    #[must_use]
    pub fn espeak_voice(&self) -> &str {
        self.espeak.as_ref().map_or("en-us", |e| e.voice.as_str())
    }

    /// Phonemes (one Unicode scalar each, as Piper splits them) to ids: `^ _ p _ p _ … $`.
    /// Phonemes missing from the map are skipped, as Piper does; they are returned too.
    #[must_use]
    pub fn phonemes_to_ids(&self, phonemes: &[String]) -> (Vec<i64>, Vec<String>) {
        let map = &self.phoneme_id_map;
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 3);
        let mut missing = Vec::new();
        ids.extend(&map[BOS]);
        ids.extend(&map[PAD]);
        for p in phonemes {
            match map.get(p) {
                Some(id) => {
                    ids.extend(id);
                    ids.extend(&map[PAD]);
                }
                None => missing.push(p.clone()),
            }
        }
        ids.extend(&map[EOS]);
        (ids, missing)
    }

    /// The speaker id for a name or a number; `None` picks speaker 0.
    pub fn speaker_id(&self, speaker: Option<&str>) -> Result<i64, TtsError> {
        let Some(s) = speaker.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(0);
        };
        if let Some(&id) = self.speaker_id_map.get(s) {
            return Ok(id);
        }
        match s.parse::<i64>() {
            Ok(id) if id >= 0 && (id as usize) < self.num_speakers.max(1) => Ok(id),
            _ => Err(TtsError::NoSpeaker {
                speaker: s.to_string(),
                known: if self.speaker_id_map.is_empty() {
                    format!("0..{}", self.num_speakers.max(1) - 1)
                } else {
                    self.speaker_id_map
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{
        "audio": {"sample_rate": 22050},
        "espeak": {"voice": "en-us"},
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [14], "b": [15]},
        "num_speakers": 3,
        "speaker_id_map": {"alice": 0, "bob": 2}
    }"#;

    #[test]
    fn ids_are_bos_pad_interleaved_eos_and_unknown_phonemes_are_reported() {
        let c = VoiceConfig::parse("v.json", SMALL).unwrap();
        let p: Vec<String> = ["a", " ", "b", "ʒ"].iter().map(|s| (*s).into()).collect();
        let (ids, missing) = c.phonemes_to_ids(&p);
        assert_eq!(ids, vec![1, 0, 14, 0, 3, 0, 15, 0, 2]);
        assert_eq!(missing, vec!["ʒ".to_string()]);
        assert_eq!(c.inference, InferenceConfig::default());
    }

    #[test]
    fn speakers_by_name_or_number() {
        let c = VoiceConfig::parse("v.json", SMALL).unwrap();
        assert_eq!(c.speaker_id(Some("bob")).unwrap(), 2);
        assert_eq!(c.speaker_id(Some("1")).unwrap(), 1);
        assert_eq!(c.speaker_id(None).unwrap(), 0);
        let e = c.speaker_id(Some("carol")).unwrap_err().to_string();
        assert!(e.contains("alice, bob"), "{e}");
    }

    #[test]
    fn bad_json_names_file_and_line() {
        let e = VoiceConfig::parse("v.json", "{\n\"audio\": 3\n}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("v.json:2"), "{e}");
        let e = VoiceConfig::parse(
            "v.json",
            r#"{"audio":{"sample_rate":1},"phoneme_id_map":{}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'^'"), "{e}");
    }
}
