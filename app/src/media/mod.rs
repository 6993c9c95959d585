//! Pictures and sound for the panels: take thumbnails as textures, audio waveform peaks, and
//! the audio output that plays the animatic's sound in sync with the playhead.
//!
//! Decoding runs in jobs (interactive priority); a request that is not ready returns `None`
//! and the panel draws a placeholder, so no frame ever waits.

use std::sync::Arc;

use previz_core::{ContentHash, Project};
use previz_jobs::{Finished, JobQueue};
use previz_storage::AssetStore;

use crate::playback::Transport;

/// Peak envelope of an audio asset: min and max per bucket of samples, mono.
#[derive(Debug, Clone, PartialEq)]
pub struct Peaks {
    pub sample_rate_hz: u32,
    /// Samples per bucket.
    pub bucket: u32,
    /// (min, max) in -1..=1 per bucket.
    pub values: Vec<(f32, f32)>,
}

/// The media caches and the audio output.
#[derive(Default)]
pub struct Media {
    audio_status: String,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("audio_status", &self.audio_status)
            .finish_non_exhaustive()
    }
}

impl Media {
    /// A texture of an image asset, when decoded; asks for it otherwise.
    pub fn thumbnail(
        &mut self,
        _ctx: &egui::Context,
        _store: &AssetStore,
        _hash: ContentHash,
        _jobs: &JobQueue,
    ) -> Option<egui::TextureHandle> {
        None
    }

    /// The waveform of an audio asset, when computed; asks for it otherwise.
    pub fn peaks(
        &mut self,
        _store: &AssetStore,
        _hash: ContentHash,
        _jobs: &JobQueue,
    ) -> Option<Arc<Peaks>> {
        None
    }

    /// Once per frame: keeps the audio output in step with the transport.
    pub fn sync_audio(&mut self, _transport: &Transport, _doc: &Project, _store: &AssetStore) {}

    /// Takes a finished job's result if it is one of ours.
    pub fn deliver(&mut self, _finished: &mut Finished) -> bool {
        false
    }

    /// One line for the status bar about the audio device.
    #[must_use]
    pub fn audio_status(&self) -> &str {
        &self.audio_status
    }
}
