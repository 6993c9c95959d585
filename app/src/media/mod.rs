//! Pictures and sound for the panels: take thumbnails as textures, audio waveform peaks, and
//! the audio output that plays the animatic's sound in sync with the playhead.
//!
//! Decoding runs in jobs (interactive priority); a request that is not ready returns `None`
//! and the panel draws a placeholder, so no frame ever waits. A decode that failed is
//! remembered (not retried every frame) and [`Media::failure`] says why, for a tooltip; the job
//! panel lists the failed job with the same message.
//!
//! * [`thumbnails`]: images to textures, bounded caches;
//! * [`waveform`]: min/max peaks of audio;
//! * [`decode`]: WAV to samples, channel and rate conversion;
//! * [`audio`]: where clips fall in samples, the mixer, the device, the sync strategy.

pub mod audio;
mod cache;
pub mod decode;
pub mod thumbnails;
pub mod waveform;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use previz_core::time::{Rounding, rescale};
use previz_core::{ContentHash, Project, Rate};
use previz_jobs::{
    Finished, JobContext, JobError, JobId, JobKind, JobOutput, JobQueue, JobSpec, Priority,
};
use previz_storage::AssetStore;

use crate::playback::Transport;
use audio::{Device, DriftMonitor, MixClip, MixControl, MixSource, Placement, SyncCheck};
use cache::Lru;
use decode::Pcm;
use thumbnails::{FRAME_MAX_SIDE, THUMBNAIL_MAX_SIDE, TextureCache};
pub use waveform::Peaks;

/// Thumbnails kept as textures: 512 cards, at most 256 MiB of texture memory.
const THUMBNAIL_CACHE: (usize, usize) = (512, 256 << 20);
/// Full frames for the viewer: the few around the playhead.
const FRAME_CACHE: (usize, usize) = (16, 512 << 20);
/// Waveforms: small (8 bytes per 5 ms), many.
const PEAKS_CACHE: (usize, usize) = (1024, 128 << 20);
/// Decoded audio at the device's format: about 46 minutes of 48 kHz stereo.
const PCM_CACHE: (usize, usize) = (512, 1 << 30);
/// Decode failures remembered (so a broken file is not decoded again every frame).
const FAILURES_KEPT: usize = 4096;
/// Audio from the playhead this far ahead is decoded before anyone presses play.
const PREFETCH_HORIZON_S: i64 = 120;
/// At most one drift resync this often (a device whose clock is really off would otherwise
/// stutter).
const MIN_RESYNC_INTERVAL: Duration = Duration::from_secs(2);

/// What a job decodes, keyed so the same thing is never asked twice at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Request {
    Thumbnail(ContentHash),
    Frame(ContentHash, u32),
    Peaks(ContentHash),
    Pcm(PcmKey),
}

/// Decoded audio converted for one device format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PcmKey {
    asset: ContentHash,
    sample_rate_hz: u32,
    channels: u16,
}

impl Request {
    fn asset(&self) -> ContentHash {
        match self {
            Request::Thumbnail(h) | Request::Frame(h, _) | Request::Peaks(h) => *h,
            Request::Pcm(key) => key.asset,
        }
    }
}

fn short(hash: &ContentHash) -> String {
    hash.to_hex()[..12].to_owned()
}

/// The output device, once the studio first needed it.
#[derive(Debug, Default)]
enum DeviceState {
    #[default]
    Unopened,
    Open(Device),
    Failed(String),
}

/// A mix on the device.
struct Playing {
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
struct AudioState {
    device: DeviceState,
    playing: Option<Playing>,
    /// The transport as the last sync saw it, to tell a re-anchor (play, seek, speed) from
    /// the playhead moving on.
    last_transport: Option<Transport>,
    last_sync: Option<Instant>,
    last_resync: Option<Instant>,
}

/// The media caches and the audio output.
pub struct Media {
    /// Where decode jobs go (given at construction, or taken from the first call that
    /// passes one).
    jobs: Option<JobQueue>,
    thumbnails: TextureCache,
    frames: TextureCache,
    peaks: Lru<ContentHash, Arc<Peaks>>,
    pcm: Lru<PcmKey, Arc<Pcm>>,
    failures: Lru<ContentHash, String>,
    in_flight: HashMap<JobId, Request>,
    requested: HashSet<Request>,
    audio: AudioState,
    audio_status: String,
}

impl Default for Media {
    fn default() -> Self {
        Self {
            jobs: None,
            thumbnails: TextureCache::new("thumbnail", THUMBNAIL_CACHE.0, THUMBNAIL_CACHE.1),
            frames: TextureCache::new("frame", FRAME_CACHE.0, FRAME_CACHE.1),
            peaks: Lru::new(PEAKS_CACHE.0, PEAKS_CACHE.1),
            pcm: Lru::new(PCM_CACHE.0, PCM_CACHE.1),
            failures: Lru::new(FAILURES_KEPT, usize::MAX),
            in_flight: HashMap::new(),
            requested: HashSet::new(),
            audio: AudioState::default(),
            audio_status: String::new(),
        }
    }
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("thumbnails", &self.thumbnails)
            .field("frames", &self.frames)
            .field("in_flight", &self.in_flight.len())
            .field("audio_status", &self.audio_status)
            .finish_non_exhaustive()
    }
}

impl Media {
    /// Media whose audio decoding runs on `jobs` (the studio's queue).
    #[must_use]
    pub fn with_jobs(jobs: JobQueue) -> Self {
        Self {
            jobs: Some(jobs),
            ..Self::default()
        }
    }

    fn remember_jobs(&mut self, jobs: &JobQueue) {
        if self.jobs.is_none() {
            self.jobs = Some(jobs.clone());
        }
    }

    /// A texture of an image asset, when decoded; asks for it otherwise.
    pub fn thumbnail(
        &mut self,
        ctx: &egui::Context,
        store: &AssetStore,
        hash: ContentHash,
        jobs: &JobQueue,
    ) -> Option<egui::TextureHandle> {
        self.remember_jobs(jobs);
        if let Some(texture) = self.thumbnails.texture(ctx, &hash) {
            return Some(texture);
        }
        self.request(Request::Thumbnail(hash), store, jobs);
        None
    }

    /// The image asset at full resolution (bounded by the GPU's largest texture and 8192
    /// pixels), for the viewer, when decoded; asks for it otherwise. A few are kept.
    pub fn frame(
        &mut self,
        ctx: &egui::Context,
        store: &AssetStore,
        hash: ContentHash,
        jobs: &JobQueue,
    ) -> Option<egui::TextureHandle> {
        self.remember_jobs(jobs);
        if let Some(texture) = self.frames.texture(ctx, &hash) {
            return Some(texture);
        }
        let side = ctx.input(|i| i.max_texture_side);
        let side = u32::try_from(side)
            .unwrap_or(FRAME_MAX_SIDE)
            .min(FRAME_MAX_SIDE);
        self.request(Request::Frame(hash, side), store, jobs);
        None
    }

    /// The waveform of an audio asset, when computed; asks for it otherwise.
    pub fn peaks(
        &mut self,
        store: &AssetStore,
        hash: ContentHash,
        jobs: &JobQueue,
    ) -> Option<Arc<Peaks>> {
        self.remember_jobs(jobs);
        if let Some(peaks) = self.peaks.get(&hash) {
            return Some(Arc::clone(peaks));
        }
        self.request(Request::Peaks(hash), store, jobs);
        None
    }

    /// Why an asset could not be decoded (image or audio), if it could not.
    #[must_use]
    pub fn failure(&self, hash: &ContentHash) -> Option<&str> {
        self.failures.peek(hash).map(String::as_str)
    }

    /// Forgets decode failures so the next request tries again (after the asset folder was
    /// restored, say).
    pub fn forget_failures(&mut self) {
        self.failures.clear();
    }

    /// Whether a decode of this asset is queued or running.
    #[must_use]
    pub fn is_pending(&self, hash: &ContentHash) -> bool {
        self.requested.iter().any(|r| r.asset() == *hash)
    }

    /// Submits the job for a request unless it is in flight or failed before.
    fn request(&mut self, request: Request, store: &AssetStore, jobs: &JobQueue) {
        let asset = request.asset();
        if self.requested.contains(&request) || self.failures.contains(&asset) {
            return;
        }
        let store = store.clone();
        let key = match request {
            Request::Thumbnail(_) => format!("thumb:{}", asset.to_hex()),
            Request::Frame(_, side) => format!("frame:{}@{side}", asset.to_hex()),
            Request::Peaks(_) => format!("peaks:{}", asset.to_hex()),
            Request::Pcm(k) => {
                format!("pcm:{}@{}x{}", asset.to_hex(), k.sample_rate_hz, k.channels)
            }
        };
        let (kind, name) = match request {
            Request::Thumbnail(_) => (JobKind::Thumbnail, format!("Thumbnail {}", short(&asset))),
            Request::Frame(..) => (JobKind::Thumbnail, format!("Frame {}", short(&asset))),
            Request::Peaks(_) => (JobKind::Waveform, format!("Waveform {}", short(&asset))),
            Request::Pcm(_) => (JobKind::Waveform, format!("Audio {}", short(&asset))),
        };
        let spec = JobSpec::new(kind, name)
            .with_priority(Priority::Interactive)
            .with_key(key);
        let id = match request {
            Request::Thumbnail(hash) => jobs.submit(spec, move |ctx| {
                image_job(ctx, &store, hash, THUMBNAIL_MAX_SIDE)
            }),
            Request::Frame(hash, side) => {
                jobs.submit(spec, move |ctx| image_job(ctx, &store, hash, side))
            }
            Request::Peaks(hash) => jobs.submit(spec, move |ctx| peaks_job(ctx, &store, hash)),
            Request::Pcm(key) => jobs.submit(spec, move |ctx| pcm_job(ctx, &store, key)),
        };
        self.in_flight.insert(id, request);
        self.requested.insert(request);
    }

    /// Takes a finished job's result if it is one of ours.
    pub fn deliver(&mut self, finished: &mut Finished) -> bool {
        let Some(request) = self.in_flight.remove(&finished.id) else {
            return false;
        };
        self.requested.remove(&request);
        let asset = request.asset();
        match &mut finished.result {
            Ok(output) => {
                let delivered = match request {
                    Request::Thumbnail(hash) => output
                        .take_data::<egui::ColorImage>()
                        .map(|image| self.thumbnails.insert(hash, image)),
                    Request::Frame(hash, _) => output
                        .take_data::<egui::ColorImage>()
                        .map(|image| self.frames.insert(hash, image)),
                    Request::Peaks(hash) => output.take_data::<Peaks>().map(|peaks| {
                        let cost = peaks.values.len() * 8;
                        self.peaks.insert(hash, Arc::new(peaks), cost);
                    }),
                    Request::Pcm(key) => output.take_data::<Pcm>().map(|pcm| {
                        let cost = pcm.byte_size();
                        self.pcm.insert(key, Arc::new(pcm), cost);
                    }),
                };
                if delivered.is_none() {
                    self.failures
                        .insert(asset, "the decoder returned nothing".to_owned(), 0);
                }
            }
            // Cancelled (the studio closing, someone in the job panel): ask again next time.
            Err(JobError::Cancelled) => {}
            Err(JobError::Failed { message, .. }) => {
                self.failures.insert(asset, message.clone(), 0);
            }
        }
        true
    }

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
        let mut failed: Vec<&ContentHash> = placements
            .iter()
            .map(|p| &p.asset)
            .filter(|a| self.failures.contains(a))
            .collect();
        failed.dedup();
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

fn image_job(
    ctx: &JobContext,
    store: &AssetStore,
    hash: ContentHash,
    max_side: u32,
) -> Result<JobOutput, JobError> {
    ctx.progress(0.0, "reading");
    let bytes = store.read(&hash).map_err(|e| JobError::from_error(&e))?;
    ctx.check()?;
    ctx.progress(0.3, "decoding");
    let image = thumbnails::decode_image(&bytes, max_side)
        .map_err(|e| JobError::failed(format!("image {}: {e}", short(&hash))))?;
    ctx.progress(1.0, "decoded");
    Ok(JobOutput::new(format!("{}×{}", image.width(), image.height())).with_data(image))
}

fn read_audio(ctx: &JobContext, store: &AssetStore, hash: ContentHash) -> Result<Pcm, JobError> {
    ctx.progress(0.0, "reading");
    let bytes = store.read(&hash).map_err(|e| JobError::from_error(&e))?;
    ctx.check()?;
    ctx.progress(0.2, "decoding");
    decode::decode_wav(&bytes).map_err(|e| JobError::failed(format!("audio {}: {e}", short(&hash))))
}

fn peaks_job(
    ctx: &JobContext,
    store: &AssetStore,
    hash: ContentHash,
) -> Result<JobOutput, JobError> {
    let pcm = read_audio(ctx, store, hash)?;
    ctx.check()?;
    let peaks = waveform::compute_peaks(&pcm, Peaks::bucket_for(pcm.sample_rate_hz));
    Ok(JobOutput::new(format!("{} buckets", peaks.values.len())).with_data(peaks))
}

fn pcm_job(ctx: &JobContext, store: &AssetStore, key: PcmKey) -> Result<JobOutput, JobError> {
    let pcm = read_audio(ctx, store, key.asset)?;
    ctx.check()?;
    ctx.progress(0.5, "converting");
    let pcm = decode::remix(&pcm, key.channels);
    if decode::resampled_len(&pcm, key.sample_rate_hz) > decode::MAX_SAMPLES as u64 {
        return Err(JobError::failed(format!(
            "audio {}: too long to play at {} Hz",
            short(&key.asset),
            key.sample_rate_hz
        )));
    }
    let pcm = decode::resample(&pcm, key.sample_rate_hz, || ctx.check())?;
    let summary = format!(
        "{:.1} s at {} Hz",
        pcm.frames() as f64 / f64::from(pcm.sample_rate_hz.max(1)),
        pcm.sample_rate_hz
    );
    Ok(JobOutput::new(summary).with_data(pcm))
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
