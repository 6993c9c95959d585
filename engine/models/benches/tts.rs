//! Our Piper runtime (VITS on candle) against onnxruntime on the same voice, phoneme ids and
//! thread count: seconds per sentence, real-time factor (compute time / audio time), ratio.
//!
//! Run through `scripts/bench-tts.sh` (it installs onnxruntime from PyPI when missing). Noise
//! scales are 0 on both sides so both do exactly the same work. Environment:
//!
//! * `PREVIZ_TTS_VOICE`: the voice's .onnx (default: en_US-joe-medium in models/cache);
//! * `PREVIZ_TTS_THREADS`: threads for both (default 2; the script sets RAYON_NUM_THREADS too);
//! * `PREVIZ_TTS_REPEATS`: best of N rounds (default 5); rounds alternate ours and onnxruntime
//!   so load from elsewhere on the machine hits both alike.

// A benchmark's output is its table.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use previz_models::device::DeviceChoice;
use previz_models::tts::{SpeakOptions, Voice};

const SENTENCES: [&str; 3] = [
    "Nobody moves until the captain gives the signal tonight.",
    "The rain had not stopped for three days, and the old harbour town was quiet except for the gulls circling above the empty fishing boats.",
    "When the lights finally came back on, everyone in the ballroom turned toward the staircase, where the detective stood holding a torn envelope, a silver key, and the letter that nobody had expected to see again after the fire at the lighthouse twenty years ago, and she began to read it aloud slowly.",
];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // As the `previz` binary and the studio run (see `previz_models::memory`).
    previz_models::memory::keep_tensor_buffers();
    let voice_path = std::env::var_os("PREVIZ_TTS_VOICE")
        .map(PathBuf::from)
        .or_else(|| {
            previz_models::registry::model_for_tests(
                "en-us-joe-medium",
                &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/cache"),
            )
        });
    let Some(voice_path) = voice_path else {
        println!("no voice: run python3 models/fetch.py");
        return;
    };
    let threads = env_or("PREVIZ_TTS_THREADS", 2);
    let repeats = env_or("PREVIZ_TTS_REPEATS", 5).max(1);
    let voice = Voice::load(&voice_path, DeviceChoice::Cpu).expect("voice loads");
    let options = SpeakOptions {
        noise_scale: Some(0.0),
        noise_w: Some(0.0),
        ..SpeakOptions::default()
    };
    let cases: Vec<(usize, Vec<i64>)> = SENTENCES
        .iter()
        .map(|s| {
            let phonemes = voice.phonemizer.phonemize(s).expect("espeak-ng runs");
            let ids = voice.config.phonemes_to_ids(&phonemes.concat()).0;
            (s.split_whitespace().count(), ids)
        })
        .collect();

    // onnxruntime on the same ids.
    let dir = tempfile::tempdir().expect("temp dir");
    let ids_json = dir.path().join("ids.json");
    let all: Vec<&Vec<i64>> = cases.iter().map(|(_, ids)| ids).collect();
    std::fs::write(&ids_json, serde_json::to_string(&all).expect("json")).expect("write ids");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/piper_reference.py");
    // One pass of onnxruntime over every case (after its own warm-up), or why it did not run.
    let peer_pass = || -> Result<Vec<f64>, String> {
        let out = Command::new("python3")
            .arg(&script)
            .args(["bench"])
            .arg(&voice_path)
            .arg(&ids_json)
            .args([threads.to_string(), "1".to_string()])
            .output()
            .map_err(|e| format!("python3: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_string());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["seconds"].as_f64())
            .collect())
    };

    let rate = f64::from(voice.sample_rate());
    voice
        .synthesize_ids(&cases[0].1, &options)
        .expect("warm-up");
    // Rounds alternate ours and onnxruntime, so a burst of load from elsewhere on the machine
    // hits both sides alike; each side keeps its best time per case.
    let n = cases.len();
    let mut ours = vec![f64::INFINITY; n];
    let mut peer = vec![f64::INFINITY; n];
    let mut audio = vec![0.0; n];
    let mut peer_error: Option<String> = None;
    for _ in 0..repeats {
        for (i, (_, ids)) in cases.iter().enumerate() {
            let t = Instant::now();
            let s = voice.synthesize_ids(ids, &options).expect("synthesis");
            ours[i] = ours[i].min(t.elapsed().as_secs_f64());
            audio[i] = s.samples.len() as f64 / rate;
        }
        if peer_error.is_none() {
            match peer_pass() {
                Ok(times) if times.len() == n => {
                    for (p, t) in peer.iter_mut().zip(times) {
                        *p = p.min(t);
                    }
                }
                Ok(times) => peer_error = Some(format!("{} results for {n} cases", times.len())),
                Err(e) => peer_error = Some(e),
            }
        }
    }
    if let Some(e) = &peer_error {
        println!("onnxruntime did not run ({e}); only our side is shown. pip install onnxruntime");
    }
    println!(
        "voice {}, {threads} threads, best of {repeats} alternating rounds, noise scales 0",
        voice_path.display()
    );
    println!(
        "| words | ids | audio s | ours s | onnxruntime s | RTF ours | RTF onnxruntime | ours / onnxruntime |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let (mut ours_total, mut peer_total) = (0.0, 0.0);
    for (i, (words, ids)) in cases.iter().enumerate() {
        let best = ours[i];
        let audio = audio[i];
        ours_total += best;
        let (p, rtf_p, ratio) = match peer
            .get(i)
            .filter(|p| p.is_finite() && peer_error.is_none())
        {
            Some(&p) => {
                peer_total += p;
                (
                    format!("{p:.3}"),
                    format!("{:.3}", p / audio),
                    format!("{:.2}×", best / p),
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {words} | {} | {audio:.2} | {best:.3} | {p} | {:.3} | {rtf_p} | {ratio} |",
            ids.len(),
            best / audio
        );
    }
    if peer_total > 0.0 {
        println!(
            "total: ours {ours_total:.3} s, onnxruntime {peer_total:.3} s, ratio {:.2}× (target ≤ 1.0×)",
            ours_total / peer_total
        );
    }
}
