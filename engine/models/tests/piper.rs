//! The Piper voice on candle against Piper's own pipeline (issue #5).
//!
//! Needs the real voice (models/fetch.py), espeak-ng, and python3 with onnxruntime for the
//! parity test (scripts/test.sh installs all three); without them the tests say why they skip,
//! unless PREVIZ_REQUIRE_MODELS is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Device;
use previz_models::device::DeviceChoice;
use previz_models::tts::{SpeakOptions, Voice};

fn voice() -> Option<Voice> {
    let path = common::joe()?;
    Some(Voice::load(&path, DeviceChoice::Cpu).expect("the joe voice loads"))
}

fn fixture() -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/piper_phonemes.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

#[test]
fn phoneme_ids_equal_pipers_own() {
    let Some(voice) = voice() else { return };
    if !voice.phonemizer.available() {
        assert!(
            std::env::var_os("PREVIZ_REQUIRE_MODELS").is_none(),
            "espeak-ng is required: apt install espeak-ng"
        );
        eprintln!("skipped: no espeak-ng");
        return;
    }
    for case in fixture()["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let sentences = voice.phonemizer.phonemize(text).unwrap();
        let want = case["sentences"].as_array().unwrap();
        assert_eq!(sentences.len(), want.len(), "{text}: sentence count");
        for (got, want) in sentences.iter().zip(want) {
            assert_eq!(got.concat(), want["phonemes"].as_str().unwrap(), "{text}");
            let ids: Vec<i64> = want["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(voice.config.phonemes_to_ids(got).0, ids, "{text}");
        }
    }
}

#[test]
fn a_six_word_sentence_is_seconds_of_audible_speech() {
    let Some(voice) = voice() else { return };
    if !voice.phonemizer.available() {
        return;
    }
    let mut sentences = 0;
    let audio = voice
        .speak(
            "We leave at midnight, no exceptions.",
            &SpeakOptions::default(),
            None,
            |_| {
                sentences += 1;
            },
        )
        .unwrap();
    let seconds = audio.len() as f32 / voice.sample_rate() as f32;
    assert_eq!(voice.sample_rate(), 22_050);
    assert_eq!(sentences, 1);
    assert!((1.5..=4.0).contains(&seconds), "{seconds} s");
    let level = rms(&audio);
    assert!(level > 0.02, "RMS {level}");
    // Same seed, same take.
    let again = voice
        .speak(
            "We leave at midnight, no exceptions.",
            &SpeakOptions::default(),
            None,
            |_| {},
        )
        .unwrap();
    assert_eq!(audio, again);
}

fn reference(voice: &Path, ids: &[i64]) -> Option<Vec<f32>> {
    reference_as(voice, ids, 0)
}

/// onnxruntime's waveform for `ids` as speaker `sid`, noise scales 0.
fn reference_as(voice: &Path, ids: &[i64], sid: i64) -> Option<Vec<f32>> {
    let dir = tempfile::tempdir().unwrap();
    let ids_path = dir.path().join("ids.json");
    std::fs::write(&ids_path, serde_json::to_string(ids).unwrap()).unwrap();
    let out = dir.path().join("ref.f32");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/piper_reference.py");
    let status = Command::new("python3")
        .arg(script)
        .arg("synth")
        .arg(voice)
        .arg(&ids_path)
        .arg(&out)
        .arg("1")
        .arg(sid.to_string())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        assert!(
            std::env::var_os("PREVIZ_REQUIRE_MODELS").is_none(),
            "onnxruntime is required for the parity test: pip install onnxruntime"
        );
        eprintln!("skipped: python3 with onnxruntime not available");
        return None;
    }
    let bytes = std::fs::read(out).unwrap();
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[test]
fn waveforms_agree_with_onnxruntime_at_zero_noise() {
    let Some(path) = common::joe() else { return };
    let voice = Voice::load(&path, DeviceChoice::Cpu).unwrap();
    let options = SpeakOptions {
        noise_scale: Some(0.0),
        noise_w: Some(0.0),
        ..SpeakOptions::default()
    };
    for case in fixture()["cases"].as_array().unwrap().iter().take(4) {
        let ids: Vec<i64> = case["sentences"][0]["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let Some(want) = reference(&path, &ids) else {
            return;
        };
        let got = voice.synthesize_ids(&ids, &options).unwrap().samples;
        assert_eq!(got.len(), want.len(), "{}: same length", case["text"]);
        let max_diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let dot: f64 = got.iter().zip(&want).map(|(a, b)| f64::from(a * b)).sum();
        let na: f64 = got.iter().map(|a| f64::from(a * a)).sum::<f64>().sqrt();
        let nb: f64 = want.iter().map(|b| f64::from(b * b)).sum::<f64>().sqrt();
        let corr = dot / (na * nb);
        eprintln!(
            "{}: {} samples, max |diff| {max_diff:.2e}, correlation {corr:.6}",
            case["text"],
            got.len()
        );
        assert!(max_diff < 5e-4, "max diff {max_diff}");
        assert!(corr > 0.99999, "correlation {corr}");
    }
}

#[test]
fn the_portable_path_the_cuda_build_runs_matches_the_cpu_kernels() {
    let Some(path) = common::joe() else { return };
    portable_matches_fast(&path, &[0]);
    // The multi-speaker conditioning too.
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/multispeaker/tiny-multispeaker.onnx");
    portable_matches_fast(&tiny, &[0, 2]);
}

fn portable_matches_fast(path: &Path, speakers: &[i64]) {
    let weights = previz_models::tts::onnx::OnnxWeights::load(path).unwrap();
    let fast = previz_models::tts::Vits::load(&weights, &Device::Cpu).unwrap();
    let portable = previz_models::tts::Vits::load_with(
        &weights,
        &previz_models::tts::vits::Ctx {
            device: Device::Cpu,
            fast: false,
        },
    )
    .unwrap();
    let scales = previz_models::tts::Scales {
        noise_scale: 0.667,
        length_scale: 1.0,
        noise_w: 0.8,
    };
    // Two lengths: one shorter than the attention window (the other branch of the band).
    let case = &fixture()["cases"][3]["sentences"][0]["ids"];
    let long: Vec<i64> = case
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    for (ids, &speaker) in [long, vec![1, 0, 25, 0, 2]]
        .iter()
        .flat_map(|ids| speakers.iter().map(move |s| (ids, s)))
    {
        let a = fast.synthesize(ids, speaker, scales, 42).unwrap();
        let b = portable.synthesize(ids, speaker, scales, 42).unwrap();
        assert_eq!(a.durations, b.durations);
        assert_eq!(a.samples.len(), b.samples.len());
        let max_diff = a
            .samples
            .iter()
            .zip(&b.samples)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(max_diff < 5e-4, "{} ids: max diff {max_diff}", ids.len());
    }
}

/// A multi-speaker voice made by Piper's own training code and exported by its own exporter
/// (tiny random weights, 3 speakers; `scripts/make_multispeaker_voice.py`): the speaker
/// embedding, the duration predictor's, the flows' and the decoder's conditioning all load
/// through the same code as joe, every speaker matches onnxruntime, and speakers differ.
#[test]
fn every_speaker_of_a_multi_speaker_voice_matches_onnxruntime() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/multispeaker/tiny-multispeaker.onnx");
    let voice = Voice::load(&path, DeviceChoice::Cpu).unwrap();
    assert_eq!(voice.config.num_speakers, 3);
    // A real sentence's ids (the tiny voice shares joe's phoneme map).
    let ids: Vec<i64> = fixture()["cases"][0]["sentences"][0]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let mut outputs = Vec::new();
    for (name, sid) in [("ada", 0), ("ben", 1), ("cy", 2)] {
        for speaker in [name.to_string(), sid.to_string()] {
            let options = SpeakOptions {
                noise_scale: Some(0.0),
                noise_w: Some(0.0),
                speaker: Some(speaker.clone()),
                ..SpeakOptions::default()
            };
            let got = voice.synthesize_ids(&ids, &options).unwrap().samples;
            let Some(want) = reference_as(&path, &ids, sid) else {
                return;
            };
            assert_eq!(got.len(), want.len(), "speaker {speaker}: same length");
            let max_diff = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            eprintln!(
                "speaker {speaker}: {} samples, max |diff| {max_diff:.2e}",
                got.len()
            );
            assert!(max_diff < 5e-4, "speaker {speaker}: max diff {max_diff}");
            outputs.push(got);
        }
    }
    assert_eq!(
        outputs[0], outputs[1],
        "a speaker by name or by number is the same"
    );
    assert_ne!(outputs[0], outputs[2], "speakers sound different");
    assert_ne!(outputs[2], outputs[4], "speakers sound different");
    let options = SpeakOptions {
        speaker: Some("dan".into()),
        ..SpeakOptions::default()
    };
    let err = voice
        .synthesize_ids(&ids, &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ada") && err.contains("cy"), "{err}");
}
