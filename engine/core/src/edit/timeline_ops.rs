//! Timeline verbs (insert, overwrite, move, trim, split, lift, ripple delete) compiled into
//! primitive item changes.
//!
//! After each verb the touched tracks are normalised (adjacent gaps merged, trailing gaps
//! dropped), with the normalising steps recorded as changes too, so undo is exact.

use super::{Change, Edge, EditError, Tx};
use crate::ids::{ItemId, TrackId};
use crate::shot::AssetKind;
use crate::timeline::{Clip, ClipSource, Gap, Item, Track, TrackKind};

/// Where a clip is: its track, index and start frame, and a copy of it.
struct Located {
    track: TrackId,
    index: usize,
    start: i64,
    clip: Clip,
}

impl Tx<'_> {
    fn track(&self, id: TrackId) -> Result<&Track, EditError> {
        self.doc
            .timeline
            .track(id)
            .ok_or_else(|| EditError::NotFound {
                what: "track",
                id: id.to_string(),
            })
    }

    fn editable_track(&self, id: TrackId) -> Result<&Track, EditError> {
        let track = self.track(id)?;
        if track.locked {
            return Err(EditError::TrackLocked {
                track: track.name.clone(),
            });
        }
        Ok(track)
    }

    fn locate_item(&self, id: ItemId) -> Result<(TrackId, usize), EditError> {
        let (t, i) = self
            .doc
            .timeline
            .find_item(id)
            .ok_or_else(|| EditError::NotFound {
                what: "timeline item",
                id: id.to_string(),
            })?;
        Ok((self.doc.timeline.tracks[t].id, i))
    }

    fn locate_clip(&self, id: ItemId) -> Result<Located, EditError> {
        let (track, index) = self.locate_item(id)?;
        let t = self.editable_track(track)?;
        match &t.items[index] {
            Item::Clip(clip) => Ok(Located {
                track,
                index,
                start: t.start_of(index),
                clip: clip.clone(),
            }),
            Item::Gap(_) => Err(EditError::invalid(format!(
                "item {id} is a gap, not a clip"
            ))),
        }
    }

    /// The clip's source must exist and suit the track (pictures on video, sound on audio).
    fn check_clip(&self, track: TrackId, clip: &Clip) -> Result<(), EditError> {
        let t = self.editable_track(track)?;
        if clip.duration_frames <= 0 {
            return Err(EditError::invalid(format!(
                "a clip must last at least one frame, not {}",
                clip.duration_frames
            )));
        }
        if clip.source_in_frames < 0 {
            return Err(EditError::invalid("a clip cannot start before its source"));
        }
        let missing = |what: &'static str, id: String| EditError::NotFound { what, id };
        let media_kind = match &clip.source {
            ClipSource::Shot { shot } => {
                self.doc
                    .shot(*shot)
                    .ok_or_else(|| missing("shot", shot.to_string()))?;
                TrackKind::Video
            }
            ClipSource::Take { shot, take } => {
                let s = self
                    .doc
                    .shot(*shot)
                    .ok_or_else(|| missing("shot", shot.to_string()))?;
                if !s.takes.iter().any(|t| t.id == *take) {
                    return Err(missing("take", take.to_string()));
                }
                TrackKind::Video
            }
            ClipSource::Slug { .. } => TrackKind::Video,
            ClipSource::Dialogue { line, .. } => {
                self.doc
                    .script
                    .dialogue(*line)
                    .ok_or_else(|| missing("dialogue line", line.to_string()))?;
                TrackKind::Audio
            }
            ClipSource::Asset { asset } => {
                let a = self
                    .doc
                    .assets
                    .get(asset)
                    .ok_or_else(|| missing("asset", asset.to_string()))?;
                match a.kind {
                    AssetKind::Audio => TrackKind::Audio,
                    AssetKind::Image | AssetKind::Video => TrackKind::Video,
                    AssetKind::Other => {
                        return Err(EditError::invalid(format!(
                            "asset {asset} is neither picture nor sound"
                        )));
                    }
                }
            }
        };
        if media_kind != t.kind {
            return Err(EditError::invalid(format!(
                "clip '{}' is {} but track '{}' is a {} track",
                clip.name,
                if media_kind == TrackKind::Video {
                    "picture"
                } else {
                    "sound"
                },
                t.name,
                if t.kind == TrackKind::Video {
                    "video"
                } else {
                    "audio"
                },
            )));
        }
        Ok(())
    }

    /// Makes sure an item boundary falls at `frame` (splitting the item across it, or padding
    /// the track with a gap) and returns the index of the item that starts there.
    fn split_at(&mut self, track: TrackId, frame: i64) -> Result<usize, EditError> {
        if frame < 0 {
            return Err(EditError::invalid(format!(
                "frame {frame} is before the start of the timeline"
            )));
        }
        let t = self.track(track)?;
        let end = t.duration_frames();
        let len = t.items.len();
        if frame >= end {
            if frame > end {
                self.change(Change::InsertItem {
                    track,
                    index: len,
                    item: Item::Gap(Gap::new(frame - end)),
                })?;
                return Ok(len + 1);
            }
            return Ok(len);
        }
        let Some((index, start, item)) = t.item_at(frame) else {
            return Ok(len);
        };
        if start == frame {
            return Ok(index);
        }
        let offset = frame - start;
        let (first, second) = match item.clone() {
            Item::Clip(clip) => {
                let mut second = clip.clone();
                second.id = ItemId::new();
                second.duration_frames = clip.duration_frames - offset;
                if self.is_time_based(&clip.source) {
                    second.source_in_frames = clip.source_in_frames + offset;
                }
                let mut first = clip;
                first.duration_frames = offset;
                (Item::Clip(first), Item::Clip(second))
            }
            Item::Gap(gap) => (
                Item::Gap(Gap {
                    id: gap.id,
                    duration_frames: offset,
                }),
                Item::Gap(Gap::new(gap.duration_frames - offset)),
            ),
        };
        self.change(Change::ReplaceItem { track, item: first })?;
        self.change(Change::InsertItem {
            track,
            index: index + 1,
            item: second,
        })?;
        Ok(index + 1)
    }

    /// Merges adjacent gaps and drops trailing ones.
    fn normalize(&mut self, track: TrackId) -> Result<(), EditError> {
        let mut index = 0;
        loop {
            let t = self.track(track)?;
            let Some(pair) = t.items.get(index..index + 2) else {
                break;
            };
            if let [Item::Gap(a), Item::Gap(b)] = pair {
                let merged = Gap {
                    id: a.id,
                    duration_frames: a.duration_frames + b.duration_frames,
                };
                let b_id = b.id;
                self.change(Change::ReplaceItem {
                    track,
                    item: Item::Gap(merged),
                })?;
                self.change(Change::RemoveItem { track, item: b_id })?;
            } else {
                index += 1;
            }
        }
        while let Some(Item::Gap(g)) = self.track(track)?.items.last() {
            let id = g.id;
            self.change(Change::RemoveItem { track, item: id })?;
        }
        Ok(())
    }

    pub(super) fn insert_clip(
        &mut self,
        track: TrackId,
        frame: i64,
        clip: Clip,
    ) -> Result<(), EditError> {
        self.check_clip(track, &clip)?;
        let index = self.split_at(track, frame)?;
        self.change(Change::InsertItem {
            track,
            index,
            item: Item::Clip(clip),
        })?;
        self.normalize(track)
    }

    pub(super) fn overwrite_clip(
        &mut self,
        track: TrackId,
        frame: i64,
        clip: Clip,
    ) -> Result<(), EditError> {
        self.check_clip(track, &clip)?;
        let index = self.clear_range(track, frame, frame + clip.duration_frames)?;
        self.change(Change::InsertItem {
            track,
            index,
            item: Item::Clip(clip),
        })?;
        self.normalize(track)
    }

    /// Empties `[from, to)` of a track and returns the index where it was.
    fn clear_range(&mut self, track: TrackId, from: i64, to: i64) -> Result<usize, EditError> {
        let first = self.split_at(track, from)?;
        let last = self.split_at(track, to)?;
        let doomed: Vec<ItemId> = self.track(track)?.items[first..last]
            .iter()
            .map(Item::id)
            .collect();
        for item in doomed {
            self.change(Change::RemoveItem { track, item })?;
        }
        Ok(first)
    }

    pub(super) fn move_clip(
        &mut self,
        clip: ItemId,
        to: TrackId,
        frame: i64,
        ripple: bool,
    ) -> Result<(), EditError> {
        let at = self.locate_clip(clip)?;
        self.check_clip(to, &at.clip)?;
        self.change(Change::RemoveItem {
            track: at.track,
            item: clip,
        })?;
        if ripple {
            self.normalize(at.track)?;
            self.insert_clip(to, frame, at.clip)
        } else {
            self.change(Change::InsertItem {
                track: at.track,
                index: at.index,
                item: Item::Gap(Gap::new(at.clip.duration_frames)),
            })?;
            self.normalize(at.track)?;
            self.overwrite_clip(to, frame, at.clip)
        }
    }

    pub(super) fn trim_clip(
        &mut self,
        clip: ItemId,
        edge: Edge,
        delta: i64,
        ripple: bool,
    ) -> Result<(), EditError> {
        let at = self.locate_clip(clip)?;
        if delta == 0 {
            return Ok(());
        }
        let mut trimmed = at.clip.clone();
        match edge {
            Edge::Tail => trimmed.duration_frames += delta,
            Edge::Head => {
                trimmed.duration_frames -= delta;
                if self.is_time_based(&trimmed.source) {
                    trimmed.source_in_frames += delta;
                    if trimmed.source_in_frames < 0 {
                        return Err(EditError::invalid(format!(
                            "clip '{}' already starts {} frames into its source; it cannot start {} frames earlier",
                            trimmed.name, at.clip.source_in_frames, -delta
                        )));
                    }
                }
            }
        }
        if trimmed.duration_frames < 1 {
            return Err(EditError::invalid(format!(
                "clip '{}' lasts {} frames; trimming {} would leave nothing",
                trimmed.name,
                at.clip.duration_frames,
                delta.abs()
            )));
        }
        let track = at.track;
        // Room the trim takes from (or gives to) the neighbour, when not rippling.
        let (neighbour_index, grows_clip) = match edge {
            Edge::Tail => (at.index + 1, delta > 0),
            Edge::Head => (at.index.wrapping_sub(1), delta < 0),
        };
        self.change(Change::ReplaceItem {
            track,
            item: Item::Clip(trimmed),
        })?;
        if ripple {
            return self.normalize(track);
        }
        let amount = delta.abs();
        if grows_clip {
            let neighbour = self.track(track)?.items.get(neighbour_index).cloned();
            match neighbour {
                None if edge == Edge::Tail => {}
                Some(Item::Gap(gap)) if gap.duration_frames >= amount => {
                    if gap.duration_frames == amount {
                        self.change(Change::RemoveItem {
                            track,
                            item: gap.id,
                        })?;
                    } else {
                        self.change(Change::ReplaceItem {
                            track,
                            item: Item::Gap(Gap {
                                id: gap.id,
                                duration_frames: gap.duration_frames - amount,
                            }),
                        })?;
                    }
                }
                other => {
                    let room = match other {
                        Some(Item::Gap(g)) => g.duration_frames,
                        _ => 0,
                    };
                    return Err(EditError::invalid(format!(
                        "clip '{}' has {room} free frames at its {}; trim with ripple, or move the neighbouring clip first",
                        at.clip.name,
                        if edge == Edge::Tail { "tail" } else { "head" },
                    )));
                }
            }
        } else {
            let index = if edge == Edge::Tail {
                at.index + 1
            } else {
                at.index
            };
            self.change(Change::InsertItem {
                track,
                index,
                item: Item::Gap(Gap::new(amount)),
            })?;
        }
        self.normalize(track)
    }

    pub(super) fn split_clip(&mut self, clip: ItemId, frame: i64) -> Result<(), EditError> {
        let at = self.locate_clip(clip)?;
        let end = at.start + at.clip.duration_frames;
        if frame <= at.start || frame >= end {
            return Err(EditError::invalid(format!(
                "frame {frame} is not inside clip '{}' (frames {} to {})",
                at.clip.name,
                at.start,
                end - 1
            )));
        }
        self.split_at(at.track, frame).map(|_| ())
    }

    pub(super) fn set_clip_duration(
        &mut self,
        clip: ItemId,
        duration: i64,
        ripple: bool,
    ) -> Result<(), EditError> {
        let at = self.locate_clip(clip)?;
        self.trim_clip(clip, Edge::Tail, duration - at.clip.duration_frames, ripple)
    }

    pub(super) fn slip_clip(&mut self, clip: ItemId, delta: i64) -> Result<(), EditError> {
        let at = self.locate_clip(clip)?;
        if !self.is_time_based(&at.clip.source) {
            return Err(EditError::invalid(format!(
                "clip '{}' shows a still; there is nothing to slip",
                at.clip.name
            )));
        }
        let mut slipped = at.clip;
        slipped.source_in_frames += delta;
        if slipped.source_in_frames < 0 {
            return Err(EditError::invalid("a clip cannot start before its source"));
        }
        self.change(Change::ReplaceItem {
            track: at.track,
            item: Item::Clip(slipped),
        })
    }

    pub(super) fn rename_clip(&mut self, clip: ItemId, name: &str) -> Result<(), EditError> {
        let at = self.locate_clip(clip)?;
        let mut renamed = at.clip;
        name.clone_into(&mut renamed.name);
        self.change(Change::ReplaceItem {
            track: at.track,
            item: Item::Clip(renamed),
        })
    }

    pub(crate) fn lift_item(&mut self, item: ItemId) -> Result<(), EditError> {
        let at = self.locate_clip(item)?;
        self.change(Change::RemoveItem {
            track: at.track,
            item,
        })?;
        self.change(Change::InsertItem {
            track: at.track,
            index: at.index,
            item: Item::Gap(Gap::new(at.clip.duration_frames)),
        })?;
        self.normalize(at.track)
    }

    /// Whether a source has its own time (sound, footage) rather than being a still.
    fn is_time_based(&self, source: &ClipSource) -> bool {
        match source {
            ClipSource::Dialogue { .. } => true,
            ClipSource::Asset { asset } => self
                .doc
                .assets
                .get(asset)
                .is_some_and(|a| matches!(a.kind, AssetKind::Audio | AssetKind::Video)),
            ClipSource::Shot { .. } | ClipSource::Take { .. } | ClipSource::Slug { .. } => false,
        }
    }

    pub(super) fn ripple_delete(&mut self, item: ItemId) -> Result<(), EditError> {
        let (track, _) = self.locate_item(item)?;
        self.editable_track(track)?;
        self.change(Change::RemoveItem { track, item })?;
        self.normalize(track)
    }
}
