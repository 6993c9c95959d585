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
//! * [`audio`]: where clips fall in samples, the mixer, the device, the sync strategy;
//! * `sync`: [`Media::sync_audio`], which drives the device from the transport.

pub mod audio;
mod cache;
pub mod decode;
mod sync;
pub mod thumbnails;
pub mod waveform;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use previz_core::ContentHash;
use previz_jobs::{
    Finished, JobContext, JobError, JobId, JobKind, JobOutput, JobQueue, JobSpec, Priority,
};
use previz_storage::AssetStore;

use cache::Lru;
use decode::Pcm;
use sync::AudioState;
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
