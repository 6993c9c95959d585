//! The edit as every interchange format sees it: tracks of clips and gaps in whole frames at one
//! rate, each clip with its media (a file) and where it came from in the project.
//!
//! Exporters read a [`Cut`] built from the project ([`Cut::from_project`]); importers produce
//! one from an editorial file, and conform compares it with the project.

use std::collections::BTreeMap;
use std::path::PathBuf;

use previz_core::ids::{ItemId, LineId, ShotId, TakeId, TrackId};
use previz_core::project::Project;
use previz_core::shot::{AssetKind, ContentHash, Provenance};
use previz_core::time::{Rate, Rounding, rescale};
use previz_core::timeline::{ClipSource, Item, MarkerColor, TrackKind};

/// An edit: tracks bottom to top, durations in frames at `rate`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cut {
    pub name: String,
    pub rate: Rate,
    /// Timecode of frame 0, in frames.
    pub start_frame: i64,
    /// Picture size of the sequence, when known.
    pub width: u32,
    pub height: u32,
    /// Sample rate of the sequence's audio, Hz.
    pub audio_rate: u32,
    pub tracks: Vec<CutTrack>,
    pub markers: Vec<CutMarker>,
    /// The project's id and title, written into formats that carry metadata.
    pub project: Option<(String, String)>,
}

/// One track of the edit.
#[derive(Clone, Debug, PartialEq)]
pub struct CutTrack {
    pub name: String,
    pub kind: TrackKind,
    pub enabled: bool,
    pub items: Vec<CutItem>,
    /// The project track this came from (read back from metadata when the format keeps it).
    pub id: Option<TrackId>,
}

impl CutTrack {
    /// Items with their record (timeline) start frames.
    pub fn items_with_start(&self) -> impl Iterator<Item = (i64, &CutItem)> {
        self.items.iter().scan(0i64, |start, item| {
            let here = *start;
            *start += item.duration();
            Some((here, item))
        })
    }

    #[must_use]
    pub fn duration(&self) -> i64 {
        self.items.iter().map(CutItem::duration).sum()
    }

    /// Clips with their record start frames.
    pub fn clips(&self) -> impl Iterator<Item = (i64, &CutClip)> {
        self.items_with_start()
            .filter_map(|(start, item)| match item {
                CutItem::Clip(c) => Some((start, c)),
                CutItem::Gap(_) => None,
            })
    }
}

/// A clip or empty time.
#[derive(Clone, Debug, PartialEq)]
// Clips far outnumber gaps in an edit; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum CutItem {
    Clip(CutClip),
    /// Frames of nothing.
    Gap(i64),
}

impl CutItem {
    #[must_use]
    pub fn duration(&self) -> i64 {
        match self {
            CutItem::Clip(c) => c.duration,
            CutItem::Gap(d) => *d,
        }
    }
}

/// A piece of media placed on a track.
#[derive(Clone, Debug, PartialEq)]
pub struct CutClip {
    pub name: String,
    /// First frame used of the source (0 for stills).
    pub source_in: i64,
    pub duration: i64,
    pub media: Option<Media>,
    pub origin: Origin,
}

/// What a clip plays.
#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    /// Where the file is: an absolute path written as a `file://` URL by exporters.
    pub path: PathBuf,
    pub kind: MediaKind,
    /// Length of the source in frames at the cut's rate (none for stills).
    pub available: Option<i64>,
}

/// The kind of a clip's media.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Still,
    Audio,
    Video,
}

/// Where a clip came from in the project: what conform uses to find it again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Origin {
    pub item: Option<ItemId>,
    pub shot: Option<ShotId>,
    pub take: Option<TakeId>,
    pub line: Option<LineId>,
    pub asset: Option<ContentHash>,
    /// Display numbers: scene `12`, shot `12.3` or a locked label.
    pub scene_number: Option<String>,
    pub shot_number: Option<String>,
    /// A slug's text.
    pub slug: Option<String>,
    /// How the take was made.
    pub provenance: Option<Provenance>,
}

/// A named point or range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutMarker {
    pub frame: i64,
    pub duration: i64,
    pub name: String,
    pub color: MarkerColor,
    pub note: String,
}

/// What a resolver is asked for: one asset to be given a file.
#[derive(Clone, Debug)]
pub struct MediaRequest<'a> {
    pub hash: ContentHash,
    pub kind: AssetKind,
    /// `image/png`, `audio/wav`... (empty when unknown).
    pub mime: &'a str,
    /// A readable file name stem for it (`12.3_take-1a2b3c`).
    pub name_hint: String,
}

impl Cut {
    /// The project's timeline as a cut. `resolve` gives each asset a file (see
    /// [`MediaFolder`](super::MediaFolder)); clips whose media it cannot give keep no media.
    pub fn from_project(
        project: &Project,
        resolve: &mut dyn FnMut(&MediaRequest<'_>) -> Option<PathBuf>,
    ) -> Self {
        let timeline = &project.timeline;
        let rate = timeline.rate;
        let shot_numbers = project.shot_numbers();
        let scene_numbers: BTreeMap<_, _> = project
            .script
            .scenes
            .iter()
            .zip(project.script.display_numbers())
            .map(|(s, n)| (s.id, n))
            .collect();
        let mut tracks = Vec::with_capacity(timeline.tracks.len());
        for track in &timeline.tracks {
            let items = track
                .items
                .iter()
                .map(|item| match item {
                    Item::Gap(g) => CutItem::Gap(g.duration_frames),
                    Item::Clip(clip) => {
                        let mut origin = Origin {
                            item: Some(clip.id),
                            ..Origin::default()
                        };
                        let mut asset = None;
                        match &clip.source {
                            ClipSource::Shot { shot } | ClipSource::Take { shot, .. } => {
                                origin.shot = Some(*shot);
                                if let Some(s) = project.shot(*shot) {
                                    origin.shot_number = shot_numbers.get(shot).cloned();
                                    origin.scene_number =
                                        scene_numbers.get(&s.scene).cloned().flatten();
                                    let take = match &clip.source {
                                        ClipSource::Take { take, .. } => {
                                            s.takes.iter().find(|t| t.id == *take)
                                        }
                                        _ => s.active(),
                                    };
                                    if let Some(t) = take {
                                        origin.take = Some(t.id);
                                        origin.provenance = Some(t.provenance.clone());
                                        asset = Some(t.asset);
                                    }
                                }
                            }
                            ClipSource::Dialogue { line, take } => {
                                origin.line = Some(*line);
                                if let Some(takes) = project.voices.get(line) {
                                    let t = match take {
                                        Some(id) => takes.takes.iter().find(|t| t.id == *id),
                                        None => takes.active(),
                                    };
                                    if let Some(t) = t {
                                        origin.take = Some(t.id);
                                        origin.provenance = Some(t.provenance.clone());
                                        asset = Some(t.asset);
                                    }
                                }
                                if let Some((scene, _)) = project.script.dialogue(*line) {
                                    origin.scene_number =
                                        scene_numbers.get(&scene.id).cloned().flatten();
                                }
                            }
                            ClipSource::Asset { asset: hash } => asset = Some(*hash),
                            ClipSource::Slug { text } => origin.slug = Some(text.clone()),
                        }
                        let name = if clip.name.trim().is_empty() {
                            origin
                                .shot_number
                                .clone()
                                .or_else(|| origin.slug.clone())
                                .unwrap_or_else(|| "clip".to_owned())
                        } else {
                            clip.name.clone()
                        };
                        origin.asset = asset;
                        let media = asset.and_then(|hash| {
                            let known = project.assets.get(&hash);
                            let kind = known.map_or(
                                match track.kind {
                                    TrackKind::Video => AssetKind::Image,
                                    TrackKind::Audio => AssetKind::Audio,
                                },
                                |a| a.kind,
                            );
                            let take_part = origin
                                .take
                                .map(|t| format!("_{}", t.short()))
                                .unwrap_or_default();
                            let request = MediaRequest {
                                hash,
                                kind,
                                mime: known.map_or("", |a| a.media.mime.as_str()),
                                name_hint: format!("{name}{take_part}"),
                            };
                            let path = resolve(&request)?;
                            let media_kind = match kind {
                                AssetKind::Audio => MediaKind::Audio,
                                AssetKind::Video => MediaKind::Video,
                                AssetKind::Image | AssetKind::Other => MediaKind::Still,
                            };
                            let available = known
                                .and_then(|a| a.media.duration)
                                .filter(|_| media_kind != MediaKind::Still)
                                .map(|d| rescale(d.value, d.rate, rate, Rounding::Ceil));
                            Some(Media {
                                path,
                                kind: media_kind,
                                available,
                            })
                        });
                        CutItem::Clip(CutClip {
                            name,
                            source_in: clip.source_in_frames,
                            duration: clip.duration_frames,
                            media,
                            origin,
                        })
                    }
                })
                .collect();
            tracks.push(CutTrack {
                name: track.name.clone(),
                kind: track.kind,
                enabled: !track.muted,
                items,
                id: Some(track.id),
            });
        }
        let markers = timeline
            .markers
            .iter()
            .map(|m| CutMarker {
                frame: m.frame,
                duration: m.duration_frames,
                name: m.name.clone(),
                color: m.color,
                note: m.note.clone(),
            })
            .collect();
        Cut {
            name: timeline.name.clone(),
            rate,
            start_frame: timeline.start_frame,
            width: project.settings.frame_width,
            height: project.settings.frame_height,
            audio_rate: project.settings.audio_sample_rate,
            tracks,
            markers,
            project: Some((project.id.to_string(), project.settings.title.clone())),
        }
    }

    /// Frames of the longest track.
    #[must_use]
    pub fn duration(&self) -> i64 {
        self.tracks
            .iter()
            .map(CutTrack::duration)
            .max()
            .unwrap_or(0)
    }
}
