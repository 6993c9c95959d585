//! What the timeline derives from the document once per revision instead of once per frame:
//! each track's prefix sums, and which asset each shot's and take's clips show.

use std::collections::HashMap;

use previz_core::{AssetKind, ClipSource, ContentHash, Project, ShotId, TakeId};

use super::geometry::TrackLayout;

/// The per-revision cache. [`Layout::refresh`] rebuilds it when `Studio::revision` moves (or, as
/// a safety net, when a track no longer matches its prefix sums); otherwise a frame costs
/// nothing here.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    revision: Option<u64>,
    pub tracks: Vec<TrackLayout>,
    /// The longest track's end.
    pub duration: i64,
    /// Which asset clips show, looked up as clips come into view.
    pub media: MediaMemo,
    /// How many times the cache was rebuilt (for tests and the benchmark).
    pub rebuilds: u64,
}

impl Layout {
    /// Brings the cache up to date with `doc` at `revision`.
    pub fn refresh(&mut self, doc: &Project, revision: u64) {
        let stale = self.revision != Some(revision)
            || self.tracks.len() != doc.timeline.tracks.len()
            || self
                .tracks
                .iter()
                .zip(&doc.timeline.tracks)
                .any(|(layout, track)| !layout.matches(track));
        if !stale {
            return;
        }
        self.revision = Some(revision);
        self.rebuilds += 1;
        self.tracks.clear();
        self.tracks
            .extend(doc.timeline.tracks.iter().map(TrackLayout::new));
        self.duration = self.tracks.iter().map(TrackLayout::end).max().unwrap_or(0);
        self.media.shots.clear();
        self.media.takes.clear();
    }
}

/// The asset a shot's active take or a pinned take points at, memoised for the clips that
/// have been on screen since the last revision. (Building maps of every shot and take at each
/// revision would make a drag on a 10,000-shot edit pay for all of them on every step.)
#[derive(Debug, Default)]
pub(crate) struct MediaMemo {
    shots: HashMap<ShotId, Option<ContentHash>>,
    takes: HashMap<TakeId, Option<ContentHash>>,
}

impl MediaMemo {
    fn shot(&mut self, doc: &Project, shot: ShotId) -> Option<ContentHash> {
        *self
            .shots
            .entry(shot)
            .or_insert_with(|| doc.shot(shot).and_then(|s| s.active()).map(|t| t.asset))
    }

    fn take(&mut self, doc: &Project, take: TakeId) -> Option<ContentHash> {
        *self.takes.entry(take).or_insert_with(|| {
            doc.shots
                .iter()
                .flat_map(|s| &s.takes)
                .find(|t| t.id == take)
                .map(|t| t.asset)
        })
    }

    /// The picture a clip shows, when it has one (a shot's active take or a pinned take).
    pub fn picture(&mut self, doc: &Project, source: &ClipSource) -> Option<ContentHash> {
        let hash = match source {
            ClipSource::Shot { shot } => self.shot(doc, *shot),
            ClipSource::Take { take, .. } => self.take(doc, *take),
            ClipSource::Asset { asset } => Some(*asset),
            ClipSource::Dialogue { .. } | ClipSource::Slug { .. } => None,
        }?;
        doc.assets
            .get(&hash)
            .is_some_and(|a| a.kind == AssetKind::Image)
            .then_some(hash)
    }

    /// The sound a clip plays, when its asset exists (a voice take or an audio asset).
    pub fn sound(&mut self, doc: &Project, source: &ClipSource) -> Option<ContentHash> {
        let hash = match source {
            ClipSource::Dialogue {
                take: Some(take), ..
            } => self.take(doc, *take),
            ClipSource::Asset { asset } => Some(*asset),
            _ => None,
        }?;
        doc.assets
            .get(&hash)
            .is_some_and(|a| a.kind == AssetKind::Audio)
            .then_some(hash)
    }
}
