//! Waveform peaks: the min/max envelope of an audio asset that the timeline draws.

use super::decode::Pcm;

/// Buckets per second of audio: 5 ms each, finer than a timeline pixel at any zoom a person
/// edits dialogue at, coarse enough that an hour of audio is 720,000 pairs (5.8 MB).
pub const PEAKS_PER_SECOND: u32 = 200;

/// Peak envelope of an audio asset: min and max per bucket of samples, mono.
#[derive(Debug, Clone, PartialEq)]
pub struct Peaks {
    pub sample_rate_hz: u32,
    /// Samples per bucket.
    pub bucket: u32,
    /// (min, max) in -1..=1 per bucket.
    pub values: Vec<(f32, f32)>,
}

impl Peaks {
    /// The bucket size [`compute_peaks`] uses at a sample rate: `rate / 200`, at least 1.
    #[must_use]
    pub fn bucket_for(sample_rate_hz: u32) -> u32 {
        (sample_rate_hz / PEAKS_PER_SECOND).max(1)
    }

    /// The envelope of the samples `from..to` (sample frames at `sample_rate_hz`), merging the
    /// buckets they touch; `None` when the range holds no bucket. The timeline calls this once
    /// per pixel column, whatever the zoom.
    #[must_use]
    pub fn envelope(&self, from: u64, to: u64) -> Option<(f32, f32)> {
        let bucket = u64::from(self.bucket.max(1));
        let first = usize::try_from(from / bucket).ok()?;
        let last = usize::try_from(to.div_ceil(bucket)).unwrap_or(usize::MAX);
        let slice = self.values.get(first..last.min(self.values.len()))?;
        if slice.is_empty() {
            return None;
        }
        Some(slice.iter().fold((f32::MAX, f32::MIN), |(lo, hi), (a, b)| {
            (lo.min(*a), hi.max(*b))
        }))
    }
}

/// The envelope of decoded audio: for each bucket of `bucket` frames, the smallest and largest
/// sample of any channel (so opposite-phase stereo does not cancel out), clamped to -1..=1.
/// The last bucket may be shorter; an empty input gives no buckets.
#[must_use]
pub fn compute_peaks(pcm: &Pcm, bucket: u32) -> Peaks {
    let bucket = bucket.max(1);
    let channels = usize::from(pcm.channels.max(1));
    let per_bucket = usize::try_from(bucket)
        .unwrap_or(usize::MAX)
        .saturating_mul(channels);
    let values = pcm
        .samples
        .chunks(per_bucket)
        .map(|chunk| {
            chunk
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)))
        })
        .map(|(lo, hi)| (lo.clamp(-1.0, 1.0), hi.clamp(-1.0, 1.0)))
        .collect();
    Peaks {
        sample_rate_hz: pcm.sample_rate_hz,
        bucket,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_take_every_channel_and_a_short_tail() {
        let pcm = Pcm {
            sample_rate_hz: 400,
            channels: 2,
            samples: vec![0.1, -0.2, 0.3, 0.0, 2.0, -0.5],
        };
        let peaks = compute_peaks(&pcm, Peaks::bucket_for(400));
        assert_eq!(peaks.bucket, 2);
        assert_eq!(peaks.values, vec![(-0.2, 0.3), (-0.5, 1.0)]);
        assert_eq!(peaks.envelope(0, 1), Some((-0.2, 0.3)));
        assert_eq!(peaks.envelope(1, 3), Some((-0.5, 1.0)));
        assert_eq!(peaks.envelope(4, 8), None);
    }
}
