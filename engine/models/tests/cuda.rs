//! The CUDA path (built only with `--features cuda`; CI has no GPU and this machine no nvcc):
//! a Piper voice on the GPU speaks the same waveform as on the CPU. The tiny multi-speaker
//! fixture exercises every part of the architecture (encoder, duration predictor, flows,
//! decoder, speaker conditioning) and is small enough to travel to a GPU machine.
//!
//! Run: `CUDA_COMPUTE_CAP=90 cargo test -p previz-models --features cuda --test cuda`
//! (`scripts/cuda-check.sh` builds it here with nvcc from PyPI and runs it on a GPU machine).
#![cfg(feature = "cuda")]

use std::path::PathBuf;

use previz_models::device::DeviceChoice;
use previz_models::tts::{SpeakOptions, Voice};

/// The fixture, from the source tree this was built in or, on a GPU machine that received a
/// copy of the tree, relative to the crate folder it runs in.
fn tiny() -> PathBuf {
    let rel = "tests/fixtures/multispeaker/tiny-multispeaker.onnx";
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    if built.is_file() {
        built
    } else {
        PathBuf::from(rel)
    }
}

#[test]
fn a_voice_on_the_gpu_speaks_what_it_speaks_on_the_cpu() {
    let gpu = Voice::load(&tiny(), DeviceChoice::Cuda(0)).expect("the voice loads on CUDA 0");
    let cpu = Voice::load(&tiny(), DeviceChoice::Cpu).unwrap();
    let ids: Vec<i64> = vec![
        1, 0, 41, 0, 74, 0, 31, 0, 3, 0, 14, 0, 18, 0, 3, 0, 26, 0, 120, 0, 59, 0, 3, 0, 2,
    ];
    for speaker in ["ada", "cy"] {
        let options = SpeakOptions {
            noise_scale: Some(0.0),
            noise_w: Some(0.0),
            speaker: Some(speaker.into()),
            ..SpeakOptions::default()
        };
        let t = std::time::Instant::now();
        let a = gpu.synthesize_ids(&ids, &options).unwrap().samples;
        let gpu_s = t.elapsed().as_secs_f64();
        let b = cpu.synthesize_ids(&ids, &options).unwrap().samples;
        assert_eq!(a.len(), b.len(), "speaker {speaker}: same length");
        let max_diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        eprintln!(
            "speaker {speaker}: {} samples, max |gpu - cpu| {max_diff:.2e}, gpu {gpu_s:.3} s",
            a.len()
        );
        assert!(max_diff < 1e-3, "speaker {speaker}: {max_diff}");
    }
}
