//! The timeline: a stack of tracks, each a sequence of clips and gaps, in integer frames at the
//! timeline's rate (OpenTimelineIO's Stack → Track → Clip | Gap, with rational time).
//!
//! Items have no start time of their own: an item starts where the previous one ends, so a
//! ripple is a change of one duration and the track can never overlap itself.

use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::ids::{ItemId, LineId, MarkerId, ShotId, TakeId, TimelineId, TrackId};
use crate::shot::ContentHash;
use crate::time::{Rate, RationalTime};

/// The animatic's edit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub id: TimelineId,
    pub name: String,
    /// Frames per second of every duration on this timeline.
    pub rate: Rate,
    /// Timecode of frame 0, in frames (01:00:00:00 at 24 fps is 86400).
    #[serde(default)]
    pub start_frame: i64,
    /// Tracks bottom to top: index 0 is V1 / the lowest layer.
    #[serde(default)]
    pub tracks: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<Marker>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Timeline {
    /// An empty timeline with one video and one audio track.
    #[must_use]
    pub fn new(name: impl Into<String>, rate: Rate) -> Self {
        Self {
            id: TimelineId::new(),
            name: name.into(),
            rate,
            start_frame: 0,
            tracks: vec![
                Track::new("V1", TrackKind::Video),
                Track::new("A1", TrackKind::Audio),
            ],
            markers: Vec::new(),
            extra: Extra::new(),
        }
    }

    #[must_use]
    pub fn track(&self, id: TrackId) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    #[must_use]
    pub fn track_index(&self, id: TrackId) -> Option<usize> {
        self.tracks.iter().position(|t| t.id == id)
    }

    /// The track holding an item, and the item's index on it.
    #[must_use]
    pub fn find_item(&self, id: ItemId) -> Option<(usize, usize)> {
        self.tracks
            .iter()
            .enumerate()
            .find_map(|(t, track)| track.index_of(id).map(|i| (t, i)))
    }

    /// Length of the longest track, in frames.
    #[must_use]
    pub fn duration_frames(&self) -> i64 {
        self.tracks
            .iter()
            .map(Track::duration_frames)
            .max()
            .unwrap_or(0)
    }

    /// A frame of this timeline as a rational time.
    #[must_use]
    pub fn time(&self, frame: i64) -> RationalTime {
        RationalTime::new(frame, self.rate)
    }

    /// Every clip with its track index and start frame, in track order.
    pub fn clips(&self) -> impl Iterator<Item = (usize, i64, &Clip)> {
        self.tracks.iter().enumerate().flat_map(|(t, track)| {
            track
                .items_with_start()
                .filter_map(move |(start, item)| match item {
                    Item::Clip(c) => Some((t, start, c)),
                    Item::Gap(_) => None,
                })
        })
    }
}

/// Picture or sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Video,
    Audio,
}

/// A sequence of clips and gaps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub id: TrackId,
    pub name: String,
    pub kind: TrackKind,
    #[serde(default)]
    pub items: Vec<Item>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub muted: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Track {
    #[must_use]
    pub fn new(name: impl Into<String>, kind: TrackKind) -> Self {
        Self {
            id: TrackId::new(),
            name: name.into(),
            kind,
            items: Vec::new(),
            muted: false,
            locked: false,
            extra: Extra::new(),
        }
    }

    #[must_use]
    pub fn duration_frames(&self) -> i64 {
        self.items.iter().map(Item::duration_frames).sum()
    }

    #[must_use]
    pub fn index_of(&self, id: ItemId) -> Option<usize> {
        self.items.iter().position(|i| i.id() == id)
    }

    /// Start frame of the item at `index` (the track's end for `index == len`).
    #[must_use]
    pub fn start_of(&self, index: usize) -> i64 {
        self.items[..index.min(self.items.len())]
            .iter()
            .map(Item::duration_frames)
            .sum()
    }

    /// Items with their start frames.
    pub fn items_with_start(&self) -> impl Iterator<Item = (i64, &Item)> {
        self.items.iter().scan(0i64, |start, item| {
            let here = *start;
            *start += item.duration_frames();
            Some((here, item))
        })
    }

    /// The item covering `frame` (start <= frame < end), its index and start.
    #[must_use]
    pub fn item_at(&self, frame: i64) -> Option<(usize, i64, &Item)> {
        let mut start = 0;
        for (index, item) in self.items.iter().enumerate() {
            let end = start + item.duration_frames();
            if frame >= start && frame < end {
                return Some((index, start, item));
            }
            start = end;
        }
        None
    }
}

/// A clip or a gap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    Clip(Clip),
    Gap(Gap),
}

impl Item {
    #[must_use]
    pub fn id(&self) -> ItemId {
        match self {
            Item::Clip(c) => c.id,
            Item::Gap(g) => g.id,
        }
    }

    #[must_use]
    pub fn duration_frames(&self) -> i64 {
        match self {
            Item::Clip(c) => c.duration_frames,
            Item::Gap(g) => g.duration_frames,
        }
    }

    #[must_use]
    pub fn as_clip(&self) -> Option<&Clip> {
        match self {
            Item::Clip(c) => Some(c),
            Item::Gap(_) => None,
        }
    }

    #[must_use]
    pub fn is_gap(&self) -> bool {
        matches!(self, Item::Gap(_))
    }
}

/// What a clip shows or plays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClipSource {
    /// A shot's active take, whichever it is now (the storyboard edit).
    Shot { shot: ShotId },
    /// One take, pinned.
    Take { shot: ShotId, take: TakeId },
    /// A speech's voice (its active take when `take` is none).
    Dialogue {
        line: LineId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        take: Option<TakeId>,
    },
    /// Any media in the store (music, sound effects, reference footage).
    Asset { asset: ContentHash },
    /// A slug: titles, black, a placeholder.
    Slug {
        #[serde(default)]
        text: String,
    },
}

/// A piece of media placed on a track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    pub id: ItemId,
    #[serde(default)]
    pub name: String,
    pub source: ClipSource,
    /// Where in the source the clip starts, in timeline frames (0 for stills).
    #[serde(default)]
    pub source_in_frames: i64,
    pub duration_frames: i64,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Clip {
    #[must_use]
    pub fn new(name: impl Into<String>, source: ClipSource, duration_frames: i64) -> Self {
        Self {
            id: ItemId::new(),
            name: name.into(),
            source,
            source_in_frames: 0,
            duration_frames,
            extra: Extra::new(),
        }
    }
}

/// Empty time on a track.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub id: ItemId,
    pub duration_frames: i64,
}

impl Gap {
    #[must_use]
    pub fn new(duration_frames: i64) -> Self {
        Self {
            id: ItemId::new(),
            duration_frames,
        }
    }
}

/// Marker colours editors' tools agree on (Avid, Resolve and Premiere share these names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerColor {
    #[default]
    Red,
    Orange,
    Yellow,
    Green,
    Cyan,
    Blue,
    Purple,
    Magenta,
    Pink,
    White,
    Black,
}

/// A named point or range on the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub id: MarkerId,
    pub frame: i64,
    #[serde(default)]
    pub duration_frames: i64,
    pub name: String,
    #[serde(default)]
    pub color: MarkerColor,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_derived_from_durations() {
        let mut track = Track::new("V1", TrackKind::Video);
        track.items = vec![
            Item::Clip(Clip::new("a", ClipSource::Slug { text: "A".into() }, 24)),
            Item::Gap(Gap::new(12)),
            Item::Clip(Clip::new("b", ClipSource::Slug { text: "B".into() }, 48)),
        ];
        assert_eq!(track.duration_frames(), 84);
        assert_eq!(track.start_of(2), 36);
        let (index, start, item) = track.item_at(40).unwrap();
        assert_eq!((index, start), (2, 36));
        assert!(item.as_clip().is_some());
        assert!(track.item_at(84).is_none());
        assert!(track.item_at(-1).is_none());
        let starts: Vec<i64> = track.items_with_start().map(|(s, _)| s).collect();
        assert_eq!(starts, vec![0, 24, 36]);
    }
}
