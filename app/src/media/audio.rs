//! The animatic's sound on the output device: the mixer as a rodio source that renders from any
//! start sample, and the device that plays it in step with the playhead. Where clips fall in
//! samples and the summing itself are the engine's ([`previz_render::audio::mix`]), shared with
//! the animatic export.
//!
//! # Sync strategy
//!
//! The picture runs on the UI clock (the transport computes the playhead from the time it was
//! anchored, see [`Transport`](crate::playback::Transport)); the sound runs on the sound card's
//! clock. Both run at real time, so the studio starts them together and then only watches
//! that they stay together:
//!
//! 1. **Start.** Whenever the transport is re-anchored (play, seek, a speed change, in / out
//!    changed) or the audio clips of the document change, the running mix is stopped and a new
//!    one starts at the playhead's sample: `rescale(playhead, timeline rate, device rate,
//!    Floor)`, plus the fraction of a frame the picture has moved since it was anchored at the
//!    previous UI frame (frames and samples are integers; no float time is accumulated). Every
//!    clip boundary is computed the same way, so adjacent clips tile sample-exactly.
//!    The mix is rendered one device buffer ahead (rodio asks for about 43 ms of buffer): the
//!    first sample handed over is heard that much later, so it is the one the picture will
//!    be at by then.
//! 2. **Only at 1×.** Reverse, 2× and 4× shuttle are silent; pausing stops the mix (what the
//!    device has already buffered, about 50 ms, still plays out).
//! 3. **Late clips join.** A clip whose audio is still decoding is silent when the play starts
//!    (the status bar says so); when its decode lands, it is sent to the running mix, which
//!    places it by absolute sample position, so it joins exactly in sync.
//! 4. **Drift watch.** The mix counts the samples the device has taken. Their lead over the
//!    wall clock settles to the device's buffer fill; [`DriftMonitor`] takes the maximum of
//!    that lead over half-second windows (the maximum is stable, the instantaneous value saws
//!    by a buffer period) and compares each window with the first. When the sound card's
//!    crystal has run more than one timeline frame away from the UI clock (tens of ppm: a
//!    frame every several minutes), the mix restarts where the picture is. A device that takes
//!    samples far faster than real time (ALSA's `null` plugin) is not resynced at all.

use std::num::NonZero;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub use previz_render::audio::{MixClip, Placement, mix_into, placements};

/// Frames the mix renders at a time: about 5 ms, the granularity of its sample count.
const CHUNK_FRAMES: usize = 256;

/// Shared between the studio and a running mix.
#[derive(Debug, Default)]
pub struct MixControl {
    /// Set to end the mix (it ends within one chunk).
    pub stop: AtomicBool,
    /// Sample frames handed to the device so far.
    pub consumed: AtomicU64,
}

/// The mix as a rodio source: renders chunk by chunk from a start sample, takes clips that
/// arrive while it plays, and plays silence after the last clip until stopped (so its sample
/// count keeps measuring the device's clock).
pub struct MixSource {
    clips: Vec<MixClip>,
    arrivals: mpsc::Receiver<MixClip>,
    channels: u16,
    sample_rate_hz: u32,
    /// Timeline sample of the next chunk.
    position: i64,
    /// Silence from this sample on (the transport's out point).
    end_sample: i64,
    buffer: Vec<f32>,
    cursor: usize,
    control: Arc<MixControl>,
}

impl std::fmt::Debug for MixSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixSource")
            .field("clips", &self.clips.len())
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl MixSource {
    /// A mix starting at `start_sample`; the sender adds clips while it plays.
    #[must_use]
    pub fn new(
        clips: Vec<MixClip>,
        channels: u16,
        sample_rate_hz: u32,
        start_sample: i64,
        end_sample: i64,
        control: Arc<MixControl>,
    ) -> (Self, mpsc::Sender<MixClip>) {
        let (sender, arrivals) = mpsc::channel();
        let source = Self {
            clips,
            arrivals,
            channels: channels.max(1),
            sample_rate_hz: sample_rate_hz.max(1),
            position: start_sample,
            end_sample,
            buffer: Vec::new(),
            cursor: 0,
            control,
        };
        (source, sender)
    }

    fn refill(&mut self) {
        self.clips.extend(self.arrivals.try_iter());
        let position = self.position;
        self.clips.retain(|c| c.placement.end_sample > position);
        let ch = usize::from(self.channels);
        self.buffer.clear();
        self.buffer.resize(CHUNK_FRAMES * ch, 0.0);
        let audible = usize::try_from(self.end_sample.saturating_sub(position))
            .unwrap_or(0)
            .min(CHUNK_FRAMES);
        if let Some(part) = self.buffer.get_mut(..audible * ch) {
            mix_into(&self.clips, self.channels, position, part);
            for s in part {
                *s = s.clamp(-1.0, 1.0);
            }
        }
        self.position = position.saturating_add(CHUNK_FRAMES as i64);
        self.cursor = 0;
        self.control
            .consumed
            .fetch_add(CHUNK_FRAMES as u64, Ordering::Relaxed);
    }
}

impl Iterator for MixSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.cursor >= self.buffer.len() {
            if self.control.stop.load(Ordering::Relaxed) {
                return None;
            }
            self.refill();
        }
        let sample = self.buffer.get(self.cursor).copied();
        self.cursor += 1;
        sample
    }
}

impl rodio::Source for MixSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        NonZero::new(self.channels).unwrap_or(NonZero::<u16>::MIN)
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        NonZero::new(self.sample_rate_hz).unwrap_or(NonZero::<u32>::MIN)
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

/// What a [`DriftMonitor`] makes of an observation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SyncCheck {
    /// Too early to say: the device is still filling its buffer.
    Settling,
    InSync,
    /// The device has run away from the wall clock by this many samples (positive: ahead).
    Drifted {
        by_samples: f64,
    },
    /// The device takes samples far faster than real time (a file or null device): drift
    /// means nothing there.
    NotRealTime,
}

/// Watches the lead of the samples a device has taken over the wall clock (see the module's
/// sync strategy).
#[derive(Clone, Debug)]
pub struct DriftMonitor {
    sample_rate_hz: f64,
    tolerance_samples: f64,
    baseline: Option<f64>,
    window_end: Option<f64>,
    window_max: f64,
    real_time: bool,
}

/// Seconds after a start before the lead means anything (the device fills its buffer).
const SETTLE_S: f64 = 0.25;
/// Length of the windows whose maximum lead is compared.
const WINDOW_S: f64 = 0.5;

impl DriftMonitor {
    /// A monitor for a mix at `sample_rate_hz` that tolerates `tolerance_samples` of drift.
    #[must_use]
    pub fn new(sample_rate_hz: u32, tolerance_samples: f64) -> Self {
        Self {
            sample_rate_hz: f64::from(sample_rate_hz),
            tolerance_samples,
            baseline: None,
            window_end: None,
            window_max: f64::MIN,
            real_time: true,
        }
    }

    /// One observation: `consumed` sample frames taken `elapsed_s` seconds after the start.
    pub fn observe(&mut self, elapsed_s: f64, consumed: u64) -> SyncCheck {
        if !self.real_time {
            return SyncCheck::NotRealTime;
        }
        #[allow(clippy::cast_precision_loss)] // sample counts of a session fit f64 exactly
        let consumed = consumed as f64;
        let rate = self.sample_rate_hz;
        // Twice real time plus half a second of buffer: no real device does that.
        if consumed > 2.0 * elapsed_s * rate + 0.5 * rate {
            self.real_time = false;
            return SyncCheck::NotRealTime;
        }
        if elapsed_s < SETTLE_S {
            return SyncCheck::Settling;
        }
        let lead = consumed - elapsed_s * rate;
        self.window_max = self.window_max.max(lead);
        let window_end = *self.window_end.get_or_insert(elapsed_s + WINDOW_S);
        if elapsed_s < window_end {
            return if self.baseline.is_some() {
                SyncCheck::InSync
            } else {
                SyncCheck::Settling
            };
        }
        let max = std::mem::replace(&mut self.window_max, f64::MIN);
        self.window_end = Some(elapsed_s + WINDOW_S);
        let Some(baseline) = self.baseline else {
            self.baseline = Some(max);
            return SyncCheck::InSync;
        };
        let drift = max - baseline;
        if drift.abs() > self.tolerance_samples {
            SyncCheck::Drifted { by_samples: drift }
        } else {
            SyncCheck::InSync
        }
    }
}

/// The opened output device.
pub struct Device {
    sink: rodio::MixerDeviceSink,
    pub sample_rate_hz: u32,
    pub channels: u16,
    /// Frames the device buffers between the mix and the speaker (the requested buffer size;
    /// 0 when the driver chose).
    pub latency_frames: u32,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("channels", &self.channels)
            .field("latency_frames", &self.latency_frames)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Opens the default output device. The error is one line for the status bar.
    pub fn open_default() -> Result<Self, String> {
        let host = rodio::cpal::default_host().id().name().to_owned();
        // rodio asserts on device configurations it considers impossible; a strange driver
        // must not take the studio down.
        let opened = std::panic::catch_unwind(rodio::DeviceSinkBuilder::open_default_sink);
        let error = match opened {
            Ok(Ok(mut sink)) => {
                sink.log_on_drop(false);
                let config = *sink.config();
                let latency_frames = match config.buffer_size() {
                    rodio::cpal::BufferSize::Fixed(frames) => *frames,
                    rodio::cpal::BufferSize::Default => 0,
                };
                return Ok(Self {
                    sink,
                    sample_rate_hz: config.sample_rate().get(),
                    channels: config.channel_count().get(),
                    latency_frames,
                });
            }
            Ok(Err(e)) => error_chain(&e),
            Err(_) => "the audio driver failed while opening the device".to_owned(),
        };
        Err(format!(
            "No audio device ({host}: {error}): playback is silent"
        ))
    }

    /// Starts playing a source on the device.
    pub fn play(&self, source: MixSource) {
        self.sink.mixer().add(source);
    }

    /// Plays a mono clip (a voice preview) over whatever else plays; it ends when `stop` is
    /// set. The mixer converts its rate and channels to the device's.
    pub fn play_clip(&self, samples: Vec<f32>, sample_rate_hz: u32, stop: Arc<AtomicBool>) {
        self.sink.mixer().add(PreviewSource {
            samples,
            cursor: 0,
            sample_rate_hz: sample_rate_hz.max(1),
            stop,
        });
    }

    /// "48 kHz stereo" and the like.
    #[must_use]
    pub fn describe(&self) -> String {
        let layout = match self.channels {
            1 => "mono".to_owned(),
            2 => "stereo".to_owned(),
            n => format!("{n} channels"),
        };
        let khz = f64::from(self.sample_rate_hz) / 1000.0;
        format!("{khz} kHz {layout}")
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// A mono clip played once, stoppable from outside.
struct PreviewSource {
    samples: Vec<f32>,
    cursor: usize,
    sample_rate_hz: u32,
    stop: Arc<AtomicBool>,
}

impl Iterator for PreviewSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let sample = self.samples.get(self.cursor).copied();
        self.cursor += 1;
        sample
    }
}

impl rodio::Source for PreviewSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        NonZero::<u16>::MIN
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        NonZero::new(self.sample_rate_hz).unwrap_or(NonZero::<u32>::MIN)
    }

    fn total_duration(&self) -> Option<Duration> {
        Some(Duration::from_secs_f64(
            self.samples.len() as f64 / f64::from(self.sample_rate_hz),
        ))
    }
}

#[cfg(test)]
mod tests {
    use previz_core::ContentHash;
    use previz_render::audio::Pcm;

    use super::*;

    #[test]
    fn a_real_time_device_stays_in_sync_and_a_drifting_one_is_caught() {
        // A device taking 2048-frame periods at 48 kHz, observed at 60 Hz.
        let run = |ppm: f64| {
            let mut monitor = DriftMonitor::new(48_000, 2_000.0);
            let mut results = Vec::new();
            for frame in 0..(60 * 20) {
                let t = f64::from(frame) / 60.0;
                let device_t = t * (1.0 + ppm * 1e-6);
                // Two periods buffered ahead, refilled period by period.
                let periods = (device_t * 48_000.0 / 2048.0).floor() + 2.0;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let consumed = (periods * 2048.0) as u64;
                results.push((t, monitor.observe(t, consumed)));
            }
            results
        };
        let steady = run(0.0);
        assert!(
            steady
                .iter()
                .all(|(_, r)| matches!(r, SyncCheck::Settling | SyncCheck::InSync)),
            "{:?}",
            steady
                .iter()
                .find(|(_, r)| !matches!(r, SyncCheck::Settling | SyncCheck::InSync))
        );
        // 1 % fast: 2,000 samples of drift after about 4.2 s.
        let fast = run(10_000.0);
        let caught = fast
            .iter()
            .find(|(_, r)| matches!(r, SyncCheck::Drifted { .. }))
            .map(|(t, _)| *t);
        assert!(
            caught.is_some_and(|t| (4.0..6.0).contains(&t)),
            "{caught:?}"
        );
    }

    #[test]
    fn a_device_faster_than_real_time_is_not_resynced() {
        let mut monitor = DriftMonitor::new(48_000, 2_000.0);
        assert_eq!(monitor.observe(0.3, 48_000 * 60), SyncCheck::NotRealTime);
        assert_eq!(monitor.observe(0.4, 0), SyncCheck::NotRealTime);
    }

    #[test]
    fn the_source_counts_what_it_hands_out_and_stops() {
        let pcm = Arc::new(Pcm {
            sample_rate_hz: 8_000,
            channels: 1,
            samples: vec![0.5; 10],
        });
        let clip = MixClip {
            placement: Placement {
                asset: ContentHash([0; 32]),
                start_sample: 300,
                end_sample: 310,
                source_in_sample: 0,
            },
            pcm,
        };
        let control = Arc::new(MixControl::default());
        let (mut source, sender) = MixSource::new(Vec::new(), 1, 8_000, 0, 1_000, control.clone());
        sender.send(clip).unwrap();
        let samples: Vec<f32> = source.by_ref().take(512).collect();
        assert_eq!(control.consumed.load(Ordering::Relaxed), 512);
        assert!(samples[..300].iter().all(|s| *s == 0.0));
        assert!(samples[300..310].iter().all(|s| *s == 0.5));
        assert!(samples[310..].iter().all(|s| *s == 0.0));
        control.stop.store(true, Ordering::Relaxed);
        assert_eq!(source.next(), None);
    }
}
