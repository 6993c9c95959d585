//! Sample-rate conversion, levels and WAV files for takes.

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

use crate::VoicesError;

/// Resamples mono `samples` from `from` Hz to `to` Hz (rubato's FFT resampler; the whole
/// clip in one call, its delay trimmed).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, VoicesError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let bad = |e: String| VoicesError::Audio(format!("resampling {from} Hz to {to} Hz: {e}"));
    let mut resampler = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| bad(e.to_string()))?;
    let input = vec![samples.to_vec()];
    let adapter =
        SequentialSliceOfVecs::new(&input, 1, samples.len()).map_err(|e| bad(e.to_string()))?;
    let out = resampler
        .process_all(&adapter, samples.len(), None)
        .map_err(|e| bad(e.to_string()))?;
    Ok(out.take_data())
}

/// Scales `samples` so their peak is `level` of full scale (silence stays silent).
pub fn set_peak(samples: &mut [f32], level: f32) {
    let peak = samples.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak > 1e-6 {
        let g = level / peak;
        samples.iter_mut().for_each(|v| *v *= g);
    }
}

/// A mono 24-bit PCM WAV file of `samples` at `rate` Hz (what editors' tools expect).
pub fn wav_bytes(samples: &[f32], rate: u32) -> Result<Vec<u8>, VoicesError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec)
            .map_err(|e| VoicesError::Audio(e.to_string()))?;
        for &s in samples {
            #[allow(clippy::cast_possible_truncation)] // clamped to the 24-bit range
            let v = (s.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32;
            w.write_sample(v)
                .map_err(|e| VoicesError::Audio(e.to_string()))?;
        }
        w.finalize()
            .map_err(|e| VoicesError::Audio(e.to_string()))?;
    }
    Ok(cursor.into_inner())
}

/// Reads a WAV file's first channel as floats, with its sample rate.
pub fn read_wav(bytes: &[u8], name: &str) -> Result<(Vec<f32>, u32), VoicesError> {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes))
        .map_err(|e| VoicesError::Audio(format!("{name}: not a WAV file: {e}")))?;
    let spec = r.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .step_by(channels)
            .collect::<Result<_, _>>()
            .map_err(|e| VoicesError::Audio(format!("{name}: {e}")))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1i64 << (spec.bits_per_sample.max(1) - 1)) as f32;
            r.samples::<i32>()
                .step_by(channels)
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| VoicesError::Audio(format!("{name}: {e}")))?
        }
    };
    Ok((samples, spec.sample_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_survives_resampling_and_a_wav_round_trip() {
        let from = 22_050;
        let tone: Vec<f32> = (0..from)
            .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / from as f32).sin() * 0.5)
            .collect();
        let out = resample(&tone, from, 48_000).unwrap();
        assert!((out.len() as i64 - 48_000).abs() < 50, "{}", out.len());
        // Zero crossings of the middle half: 440 Hz still.
        let mid = &out[12_000..36_000];
        let crossings = mid.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        assert!((crossings as i64 - 220).abs() <= 2, "{crossings}");
        let bytes = wav_bytes(&out, 48_000).unwrap();
        let (back, rate) = read_wav(&bytes, "t.wav").unwrap();
        assert_eq!(rate, 48_000);
        assert_eq!(back.len(), out.len());
        assert!(back.iter().zip(&out).all(|(a, b)| (a - b).abs() < 1e-6));
    }
}
