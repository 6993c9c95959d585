//! The audio output's bookkeeping: opening the device on first use, starting, stopping and
//! resyncing the mix as the transport moves (the strategy is described in [`super::audio`]),
//! and the status line.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use previz_core::time::{Rounding, rescale};
use previz_core::{ContentHash, Project, Rate};
use previz_storage::AssetStore;

use super::audio::{
    self, Device, DriftMonitor, MixClip, MixControl, MixSource, Placement, SyncCheck,
};
use super::{Media, PcmKey, Request};
use crate::playback::Transport;

/// Audio from the playhead this far ahead is decoded before anyone presses play.
const PREFETCH_HORIZON_S: i64 = 120;
/// At most one drift resync this often (a device whose clock is really off would otherwise
/// stutter).
const MIN_RESYNC_INTERVAL: Duration = Duration::from_secs(2);

/// The output device, once the studio first needed it.
#[derive(Debug, Default)]
pub(super) enum DeviceState {
    #[default]
    Unopened,
    Open(Device),
    Failed(String),
}

/// A mix on the device.
pub(super) struct Playing {
    control: Arc<MixControl>,
    sender: mpsc::Sender<MixClip>,
    started: Instant,
    /// The picture's sample when the mix started (the mix itself renders one device buffer
    /// ahead of it).
    start_sample: i64,
    /// The clips this mix was built from (a change restarts it).
    placements: Vec<Placement>,
    /// Clips not decoded when it started; they join when their audio lands.
    waiting: Vec<Placement>,
    monitor: DriftMonitor,
    real_time: bool,
}

impl Drop for Playing {
    fn drop(&mut self) {
        self.control
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[derive(Default)]
pub(super) struct AudioState {
    device: DeviceState,
    playing: Option<Playing>,
    /// The transport as the last sync saw it, to tell a re-anchor (play, seek, speed) from
    /// the playhead moving on.
    last_transport: Option<Transport>,
    last_sync: Option<Instant>,
    last_resync: Option<Instant>,
    /// Ends the voice preview playing, if one is.
    preview: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Media {
    /// One line for the status bar about the audio device.
    #[must_use]
    pub fn audio_status(&self) -> &str {
        &self.audio_status
    }

    /// The output format, once a device is open.
    #[must_use]
    pub fn audio_format(&self) -> Option<(u32, u16)> {
        match &self.audio.device {
            DeviceState::Open(d) => Some((d.sample_rate_hz, d.channels)),
            _ => None,
        }
    }

    /// Whether a mix is playing on the device now.
    #[must_use]
    pub fn is_sounding(&self) -> bool {
        self.audio.playing.is_some()
    }

    /// Once per frame: keeps the audio output in step with the transport (see
    /// [`audio`] for the strategy). Opens the device the first time the document has audio
    /// clips to play (and decodes them ahead of the playhead from then on); never blocks on
    /// decoding.
    pub fn sync_audio(&mut self, transport: &Transport, doc: &Project, store: &AssetStore) {
        let now = Instant::now();
        let since_last_sync = self.audio.last_sync.map(|t| now.duration_since(t));
        self.audio.last_sync = Some(now);
        let change = self
            .audio
            .last_transport
            .as_ref()
            .map_or(TransportChange::Reanchored, |last| {
                TransportChange::between(last, transport)
            });
        self.audio.last_transport = Some(transport.clone());
        let wants_sound = transport.is_playing() && transport.speed == 1.0;

        if matches!(self.audio.device, DeviceState::Unopened) {
            // Nothing to hear yet: leave the device (and the status bar) alone.
            if audio::placements(doc, 48_000).is_empty() {
                return;
            }
            self.audio.device = match Device::open_default() {
                Ok(device) => DeviceState::Open(device),
                Err(reason) => DeviceState::Failed(reason),
            };
        }
        let (rate_hz, channels) = match &self.audio.device {
            DeviceState::Open(d) => (d.sample_rate_hz, d.channels),
            DeviceState::Failed(reason) => {
                self.audio_status.clone_from(reason);
                self.audio.playing = None;
                return;
            }
            DeviceState::Unopened => return,
        };
        let Ok(output_rate) = Rate::new(rate_hz, 1) else {
            return;
        };
        let timeline_rate = doc.timeline.rate;
        let to_samples = |frames: i64| rescale(frames, timeline_rate, output_rate, Rounding::Floor);
        let placements = audio::placements(doc, rate_hz);
        let playhead_sample = to_samples(transport.playhead);
        let horizon = playhead_sample.saturating_add(PREFETCH_HORIZON_S * i64::from(rate_hz));
        let key = |asset| PcmKey {
            asset,
            sample_rate_hz: rate_hz,
            channels,
        };
        for p in &placements {
            if p.end_sample > playhead_sample
                && p.start_sample < horizon
                && !self.pcm.contains(&key(p.asset))
                && let Some(jobs) = self.jobs.clone()
            {
                self.request(Request::Pcm(key(p.asset)), store, &jobs);
            }
        }

        if !wants_sound {
            self.audio.playing = None;
            self.audio_status = self.describe_audio(&placements, transport);
            return;
        }
        let samples_per_frame = f64::from(rate_hz) / timeline_rate.as_f64();
        let restart_at = match &mut self.audio.playing {
            _ if change == TransportChange::Reanchored => {
                // The transport was anchored at the previous UI frame: the picture has moved
                // on by that frame's length since (less than a frame at any usual rate).
                let moved = since_last_sync
                    .filter(|d| *d < Duration::from_millis(250))
                    .map_or(0.0, |d| (d.as_secs_f64() * timeline_rate.as_f64()).fract());
                #[allow(clippy::cast_possible_truncation)] // under one frame of samples
                let sub = (moved * samples_per_frame) as i64;
                Some(playhead_sample + sub)
            }
            None => Some(playhead_sample),
            // New clips, or a new out point to stop at: same picture clock, new mix.
            Some(playing)
                if playing.placements != placements || change == TransportChange::Marks =>
            {
                Some(picture_sample(
                    playing,
                    now,
                    rate_hz,
                    playhead_sample,
                    samples_per_frame,
                ))
            }
            Some(playing) => {
                let elapsed = now.duration_since(playing.started).as_secs_f64();
                let consumed = playing
                    .control
                    .consumed
                    .load(std::sync::atomic::Ordering::Relaxed);
                match playing.monitor.observe(elapsed, consumed) {
                    SyncCheck::Drifted { .. }
                        if self
                            .audio
                            .last_resync
                            .is_none_or(|t| now.duration_since(t) >= MIN_RESYNC_INTERVAL) =>
                    {
                        self.audio.last_resync = Some(now);
                        Some(picture_sample(
                            playing,
                            now,
                            rate_hz,
                            playhead_sample,
                            samples_per_frame,
                        ))
                    }
                    SyncCheck::NotRealTime => {
                        playing.real_time = false;
                        None
                    }
                    _ => None,
                }
            }
        };
        if let Some(start_sample) = restart_at {
            self.start_mix(transport, doc, placements.clone(), start_sample);
        } else {
            self.join_waiting();
        }
        self.audio_status = self.describe_audio(&placements, transport);
    }

    /// Stops the sound now (the studio closing its project: no more `sync_audio` calls).
    /// Plays a voice preview (mono `samples` at `rate_hz`), opening the device if the studio
    /// has not yet. Returns the device it plays on, or why it cannot play (a line for the
    /// panel).
    pub fn play_preview(&mut self, samples: Vec<f32>, rate_hz: u32) -> Result<String, String> {
        self.stop_preview();
        if matches!(self.audio.device, DeviceState::Unopened) {
            self.audio.device = match Device::open_default() {
                Ok(device) => DeviceState::Open(device),
                Err(reason) => DeviceState::Failed(reason),
            };
        }
        match &self.audio.device {
            DeviceState::Open(device) => {
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                device.play_clip(samples, rate_hz, stop.clone());
                self.audio.preview = Some(stop);
                Ok(device.describe())
            }
            DeviceState::Failed(reason) => Err(reason.clone()),
            DeviceState::Unopened => Err("the audio device did not open".to_owned()),
        }
    }

    /// Stops the voice preview, if one is playing.
    pub fn stop_preview(&mut self) {
        if let Some(stop) = self.audio.preview.take() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn stop_audio(&mut self) {
        self.audio.playing = None;
        self.audio.last_transport = None;
    }

    /// Stops any mix and starts one for the picture at `start_sample`, with the clips decoded
    /// so far.
    fn start_mix(
        &mut self,
        transport: &Transport,
        doc: &Project,
        placements: Vec<Placement>,
        start_sample: i64,
    ) {
        self.audio.playing = None;
        let DeviceState::Open(device) = &self.audio.device else {
            return;
        };
        let (rate_hz, channels) = (device.sample_rate_hz, device.channels);
        let Ok(output_rate) = Rate::new(rate_hz, 1) else {
            return;
        };
        let (_, stop) = transport.range(doc.timeline.duration_frames());
        let end_sample = rescale(stop, doc.timeline.rate, output_rate, Rounding::Floor);
        let mut clips = Vec::new();
        let mut waiting = Vec::new();
        for p in &placements {
            if p.end_sample <= start_sample {
                continue;
            }
            let key = PcmKey {
                asset: p.asset,
                sample_rate_hz: rate_hz,
                channels,
            };
            match self.pcm.get(&key) {
                Some(pcm) => clips.push(MixClip {
                    placement: p.clone(),
                    pcm: Arc::clone(pcm),
                }),
                None => waiting.push(p.clone()),
            }
        }
        let control = Arc::new(MixControl::default());
        // What the device takes now is heard one buffer later: render for then.
        let heard_from = start_sample.saturating_add(i64::from(device.latency_frames));
        let (source, sender) = MixSource::new(
            clips,
            channels,
            rate_hz,
            heard_from,
            end_sample,
            Arc::clone(&control),
        );
        device.play(source);
        // Tolerate one frame of drift (at least 10 ms at very high frame rates).
        let tolerance =
            (f64::from(rate_hz) / doc.timeline.rate.as_f64()).max(f64::from(rate_hz) / 100.0);
        self.audio.playing = Some(Playing {
            control,
            sender,
            started: Instant::now(),
            start_sample,
            placements,
            waiting,
            monitor: DriftMonitor::new(rate_hz, tolerance),
            real_time: true,
        });
    }

    /// Sends clips whose audio has landed since the mix started to the mix.
    fn join_waiting(&mut self) {
        let Some((rate_hz, channels)) = self.audio_format() else {
            return;
        };
        let Some(playing) = &mut self.audio.playing else {
            return;
        };
        let pcm = &mut self.pcm;
        playing.waiting.retain(|p| {
            let key = PcmKey {
                asset: p.asset,
                sample_rate_hz: rate_hz,
                channels,
            };
            let Some(audio) = pcm.get(&key) else {
                return true;
            };
            // A closed channel means the mix has ended; nothing to join then.
            let _ = playing.sender.send(MixClip {
                placement: p.clone(),
                pcm: Arc::clone(audio),
            });
            false
        });
    }

    /// The status line: the device, and what of the timeline's sound is missing.
    fn describe_audio(&self, placements: &[Placement], transport: &Transport) -> String {
        let DeviceState::Open(device) = &self.audio.device else {
            return self.audio_status.clone();
        };
        let mut line = format!("Audio: {}", device.describe());
        if transport.is_playing() && transport.speed != 1.0 {
            line.push_str(&format!(" · silent at {}×", transport.speed));
        }
        let failed: Vec<&ContentHash> = placements
            .iter()
            .map(|p| &p.asset)
            .filter(|a| self.failures.contains(a))
            .collect();
        if let Some(playing) = &self.audio.playing {
            let decoding = playing
                .waiting
                .iter()
                .filter(|p| !self.failures.contains(&p.asset))
                .count();
            if decoding > 0 {
                line.push_str(&format!(
                    " · {decoding} clip{} still decoding: silent until ready",
                    if decoding == 1 { "" } else { "s" }
                ));
            }
            if !playing.real_time {
                line.push_str(" · the device is not real-time: no drift correction");
            }
        }
        if let Some(first) = failed.first() {
            line.push_str(&format!(
                " · {} clip{} cannot play: {}",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                self.failure(first).unwrap_or("")
            ));
        }
        line
    }
}

/// How the transport changed since the last sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TransportChange {
    /// The playhead moved on (or nothing changed).
    Same,
    /// In or out point set or cleared.
    Marks,
    /// Played, paused, sought, or changed speed: the transport took a new anchor.
    Reanchored,
}

impl TransportChange {
    /// The transport's anchor is private; two transports that are equal once their playheads
    /// and marks are made equal have the same anchor and speed.
    fn between(last: &Transport, now: &Transport) -> Self {
        let mut probe = now.clone();
        probe.playhead = last.playhead;
        if probe == *last {
            return Self::Same;
        }
        probe.in_point = last.in_point;
        probe.out_point = last.out_point;
        if probe == *last {
            Self::Marks
        } else {
            Self::Reanchored
        }
    }
}

/// Where the picture is, by the running mix's own clock: its start plus the wall time since,
/// unless the transport says otherwise by more than a frame (then the playhead wins).
fn picture_sample(
    playing: &Playing,
    now: Instant,
    rate_hz: u32,
    playhead_sample: i64,
    samples_per_frame: f64,
) -> i64 {
    let elapsed = now.duration_since(playing.started).as_secs_f64();
    #[allow(clippy::cast_possible_truncation)] // a session's worth of samples
    let by_clock = playing.start_sample + (elapsed * f64::from(rate_hz)) as i64;
    #[allow(clippy::cast_precision_loss)]
    let off = (by_clock - playhead_sample) as f64;
    if off < -0.5 * samples_per_frame || off > 1.5 * samples_per_frame {
        playhead_sample
    } else {
        by_clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transport_is_reanchored_by_play_seek_speed_and_stop_not_by_moving_on() {
        let rate = Rate::FPS_24;
        let mut t = Transport::default();
        let step = |last: &mut Transport, now: &Transport| {
            let change = TransportChange::between(last, now);
            *last = now.clone();
            change
        };
        let mut last = t.clone();
        t.toggle(1.0, 100);
        assert_eq!(step(&mut last, &t), TransportChange::Reanchored);
        t.advance(1.5, rate, 100);
        assert_eq!(t.playhead, 12);
        assert_eq!(step(&mut last, &t), TransportChange::Same);
        t.mark_out();
        assert_eq!(step(&mut last, &t), TransportChange::Marks);
        t.seek(40, 2.0);
        assert_eq!(step(&mut last, &t), TransportChange::Reanchored);
        t.shuttle_forward(2.5);
        assert_eq!(step(&mut last, &t), TransportChange::Reanchored);
        t.stop();
        assert_eq!(step(&mut last, &t), TransportChange::Reanchored);
        t.seek(10, 3.0);
        assert_eq!(
            step(&mut last, &t),
            TransportChange::Same,
            "scrubbing while paused"
        );
    }
}
