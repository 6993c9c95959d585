//! Primitive changes: the smallest edits, each with an exact inverse.
//!
//! Every [`EditCommand`](super::EditCommand) compiles into a list of changes. Undo, redo and the
//! autosave journal store changes, never commands, so replaying them is deterministic even where
//! a command minted new ids (a split's second half, a gap left by a lift).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::EditError;
use crate::ids::{
    CharacterId, ItemId, LineId, LocationId, MarkerId, SceneId, ShotId, TakeId, TrackId,
};
use crate::project::{Project, Settings};
use crate::script::{CharacterField, Script};
use crate::shot::{Asset, ContentHash, Shot, ShotField, Take};
use crate::timeline::{ClipSource, Item, Marker, Track};

/// One primitive edit of the document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    InsertItem {
        track: TrackId,
        index: usize,
        item: Item,
    },
    RemoveItem {
        track: TrackId,
        item: ItemId,
    },
    /// Replaces the item with the same id.
    ReplaceItem {
        track: TrackId,
        item: Item,
    },
    InsertTrack {
        index: usize,
        track: Track,
    },
    RemoveTrack {
        track: TrackId,
    },
    SetTrackProps {
        track: TrackId,
        name: String,
        muted: bool,
        locked: bool,
    },
    InsertMarker {
        marker: Marker,
    },
    RemoveMarker {
        marker: MarkerId,
    },
    ReplaceMarker {
        marker: Marker,
    },
    InsertShot {
        index: usize,
        shot: Box<Shot>,
    },
    RemoveShot {
        shot: ShotId,
    },
    /// Takes the shot out and puts it back at `index` of the shortened list.
    MoveShot {
        shot: ShotId,
        index: usize,
    },
    SetShotField {
        shot: ShotId,
        #[serde(flatten)]
        field: ShotField,
    },
    InsertTake {
        shot: ShotId,
        index: usize,
        take: Box<Take>,
    },
    RemoveTake {
        shot: ShotId,
        take: TakeId,
    },
    SetActiveTake {
        shot: ShotId,
        take: Option<TakeId>,
    },
    InsertLineTake {
        line: LineId,
        index: usize,
        take: Box<Take>,
    },
    RemoveLineTake {
        line: LineId,
        take: TakeId,
    },
    SetLineActiveTake {
        line: LineId,
        take: Option<TakeId>,
    },
    InsertAsset {
        asset: Box<Asset>,
    },
    RemoveAsset {
        hash: ContentHash,
    },
    ReplaceScript {
        script: Box<Script>,
    },
    SetSettings {
        settings: Box<Settings>,
    },
    SetCharacterField {
        character: CharacterId,
        #[serde(flatten)]
        field: CharacterField,
    },
    SetLocationDescription {
        location: LocationId,
        description: String,
    },
    SetTimelineProps {
        name: String,
        start_frame: i64,
    },
}

fn not_found(what: &'static str, id: impl std::fmt::Display) -> EditError {
    EditError::NotFound {
        what,
        id: id.to_string(),
    }
}

impl Project {
    /// Applies one primitive change and returns its inverse. On error nothing changed.
    pub fn apply_change(&mut self, change: Change) -> Result<Change, EditError> {
        match change {
            Change::InsertItem { track, index, item } => {
                if item.duration_frames() <= 0 {
                    return Err(EditError::invalid(format!(
                        "a timeline item must last at least one frame, not {}",
                        item.duration_frames()
                    )));
                }
                if self.timeline.find_item(item.id()).is_some() {
                    return Err(EditError::invalid(format!(
                        "the timeline already has an item {}",
                        item.id()
                    )));
                }
                let t = self.track_mut(track)?;
                if index > t.items.len() {
                    return Err(EditError::invalid(format!(
                        "track '{}' has {} items; cannot insert at {index}",
                        t.name,
                        t.items.len()
                    )));
                }
                let id = item.id();
                t.items.insert(index, item);
                Ok(Change::RemoveItem { track, item: id })
            }
            Change::RemoveItem { track, item } => {
                let t = self.track_mut(track)?;
                let index = t
                    .index_of(item)
                    .ok_or_else(|| not_found("timeline item", item))?;
                let removed = t.items.remove(index);
                Ok(Change::InsertItem {
                    track,
                    index,
                    item: removed,
                })
            }
            Change::ReplaceItem { track, item } => {
                if item.duration_frames() <= 0 {
                    return Err(EditError::invalid(format!(
                        "a timeline item must last at least one frame, not {}",
                        item.duration_frames()
                    )));
                }
                let t = self.track_mut(track)?;
                let index = t
                    .index_of(item.id())
                    .ok_or_else(|| not_found("timeline item", item.id()))?;
                let old = std::mem::replace(&mut t.items[index], item);
                Ok(Change::ReplaceItem { track, item: old })
            }
            Change::InsertTrack { index, track } => {
                if index > self.timeline.tracks.len() {
                    return Err(EditError::invalid(format!(
                        "the timeline has {} tracks; cannot insert at {index}",
                        self.timeline.tracks.len()
                    )));
                }
                if self.timeline.track(track.id).is_some() {
                    return Err(EditError::invalid(format!(
                        "the timeline already has track {}",
                        track.id
                    )));
                }
                for item in &track.items {
                    if self.timeline.find_item(item.id()).is_some() {
                        return Err(EditError::invalid(format!(
                            "the timeline already has an item {}",
                            item.id()
                        )));
                    }
                }
                let id = track.id;
                self.timeline.tracks.insert(index, track);
                Ok(Change::RemoveTrack { track: id })
            }
            Change::RemoveTrack { track } => {
                let index = self
                    .timeline
                    .track_index(track)
                    .ok_or_else(|| not_found("track", track))?;
                let removed = self.timeline.tracks.remove(index);
                Ok(Change::InsertTrack {
                    index,
                    track: removed,
                })
            }
            Change::SetTrackProps {
                track,
                name,
                muted,
                locked,
            } => {
                let t = self.track_mut(track)?;
                let old = Change::SetTrackProps {
                    track,
                    name: std::mem::replace(&mut t.name, name),
                    muted: std::mem::replace(&mut t.muted, muted),
                    locked: std::mem::replace(&mut t.locked, locked),
                };
                Ok(old)
            }
            Change::InsertMarker { marker } => {
                if self.timeline.markers.iter().any(|m| m.id == marker.id) {
                    return Err(EditError::invalid(format!(
                        "the timeline already has marker {}",
                        marker.id
                    )));
                }
                let id = marker.id;
                // Markers stay sorted by frame so exports and the ruler can walk them in order.
                let at = self
                    .timeline
                    .markers
                    .partition_point(|m| m.frame <= marker.frame);
                self.timeline.markers.insert(at, marker);
                Ok(Change::RemoveMarker { marker: id })
            }
            Change::RemoveMarker { marker } => {
                let index = self
                    .timeline
                    .markers
                    .iter()
                    .position(|m| m.id == marker)
                    .ok_or_else(|| not_found("marker", marker))?;
                Ok(Change::InsertMarker {
                    marker: self.timeline.markers.remove(index),
                })
            }
            Change::ReplaceMarker { marker } => {
                let index = self
                    .timeline
                    .markers
                    .iter()
                    .position(|m| m.id == marker.id)
                    .ok_or_else(|| not_found("marker", marker.id))?;
                let old = self.timeline.markers.remove(index);
                let at = self
                    .timeline
                    .markers
                    .partition_point(|m| m.frame <= marker.frame);
                self.timeline.markers.insert(at, marker);
                Ok(Change::ReplaceMarker { marker: old })
            }
            Change::InsertShot { index, shot } => {
                if index > self.shots.len() {
                    return Err(EditError::invalid(format!(
                        "the project has {} shots; cannot insert at {index}",
                        self.shots.len()
                    )));
                }
                if self.shot(shot.id).is_some() {
                    return Err(EditError::invalid(format!(
                        "the project already has shot {}",
                        shot.id
                    )));
                }
                self.check_shot(&shot)?;
                let id = shot.id;
                self.shots.insert(index, *shot);
                Ok(Change::RemoveShot { shot: id })
            }
            Change::RemoveShot { shot } => {
                let index = self
                    .shot_index(shot)
                    .ok_or_else(|| not_found("shot", shot))?;
                if let Some((track, clip)) = self.clip_using(|s| match s {
                    ClipSource::Shot { shot: s } | ClipSource::Take { shot: s, .. } => *s == shot,
                    _ => false,
                }) {
                    return Err(EditError::InUse {
                        what: format!("shot {shot}"),
                        user: format!("clip '{clip}' on track '{track}'"),
                    });
                }
                let removed = self.shots.remove(index);
                Ok(Change::InsertShot {
                    index,
                    shot: Box::new(removed),
                })
            }
            Change::MoveShot { shot, index } => {
                let from = self
                    .shot_index(shot)
                    .ok_or_else(|| not_found("shot", shot))?;
                if index >= self.shots.len() {
                    return Err(EditError::invalid(format!(
                        "the project has {} shots; cannot move one to {index}",
                        self.shots.len()
                    )));
                }
                let moving = self.shots.remove(from);
                self.shots.insert(index, moving);
                Ok(Change::MoveShot { shot, index: from })
            }
            Change::SetShotField { shot, field } => {
                self.check_field(&field)?;
                let s = self.shot_mut(shot)?;
                let old = s.set_field(field);
                Ok(Change::SetShotField { shot, field: old })
            }
            Change::InsertTake { shot, index, take } => {
                if !self.assets.contains_key(&take.asset) {
                    return Err(EditError::invalid(format!(
                        "take {} points at asset {}, which the project does not list; register the asset first",
                        take.id, take.asset
                    )));
                }
                if self
                    .shots
                    .iter()
                    .any(|s| s.takes.iter().any(|t| t.id == take.id))
                {
                    return Err(EditError::invalid(format!(
                        "the project already has take {}",
                        take.id
                    )));
                }
                let s = self.shot_mut(shot)?;
                if index > s.takes.len() {
                    return Err(EditError::invalid(format!(
                        "shot {shot} has {} takes; cannot insert at {index}",
                        s.takes.len()
                    )));
                }
                let id = take.id;
                s.takes.insert(index, *take);
                Ok(Change::RemoveTake { shot, take: id })
            }
            Change::RemoveTake { shot, take } => {
                if let Some((track, clip)) =
                    self.clip_using(|s| matches!(s, ClipSource::Take { take: t, .. } if *t == take))
                {
                    return Err(EditError::InUse {
                        what: format!("take {take}"),
                        user: format!("clip '{clip}' on track '{track}'"),
                    });
                }
                let s = self.shot_mut(shot)?;
                if s.active_take == Some(take) {
                    return Err(EditError::InUse {
                        what: format!("take {take}"),
                        user: format!("shot {shot} as its active take"),
                    });
                }
                let index = s
                    .takes
                    .iter()
                    .position(|t| t.id == take)
                    .ok_or_else(|| not_found("take", take))?;
                let removed = s.takes.remove(index);
                Ok(Change::InsertTake {
                    shot,
                    index,
                    take: Box::new(removed),
                })
            }
            Change::SetActiveTake { shot, take } => {
                let s = self.shot_mut(shot)?;
                if let Some(t) = take
                    && !s.takes.iter().any(|x| x.id == t)
                {
                    return Err(not_found("take", t));
                }
                let old = std::mem::replace(&mut s.active_take, take);
                Ok(Change::SetActiveTake { shot, take: old })
            }
            Change::InsertLineTake { line, index, take } => {
                if !self.assets.contains_key(&take.asset) {
                    return Err(EditError::invalid(format!(
                        "voice take {} points at asset {}, which the project does not list; register the asset first",
                        take.id, take.asset
                    )));
                }
                if self.script.dialogue(line).is_none() {
                    return Err(not_found("dialogue line", line));
                }
                if self
                    .voices
                    .values()
                    .any(|v| v.takes.iter().any(|t| t.id == take.id))
                {
                    return Err(EditError::invalid(format!(
                        "the project already has voice take {}",
                        take.id
                    )));
                }
                let v = self.voices.entry(line).or_default();
                if index > v.takes.len() {
                    return Err(EditError::invalid(format!(
                        "line {line} has {} voice takes; cannot insert at {index}",
                        v.takes.len()
                    )));
                }
                let id = take.id;
                v.takes.insert(index, *take);
                Ok(Change::RemoveLineTake { line, take: id })
            }
            Change::RemoveLineTake { line, take } => {
                if let Some((track, clip)) = self.clip_using(
                    |s| matches!(s, ClipSource::Dialogue { take: Some(t), .. } if *t == take),
                ) {
                    return Err(EditError::InUse {
                        what: format!("voice take {take}"),
                        user: format!("clip '{clip}' on track '{track}'"),
                    });
                }
                let v = self
                    .voices
                    .get_mut(&line)
                    .ok_or_else(|| not_found("voice take", take))?;
                if v.active == Some(take) {
                    return Err(EditError::InUse {
                        what: format!("voice take {take}"),
                        user: format!("line {line} as its active take"),
                    });
                }
                let index = v
                    .takes
                    .iter()
                    .position(|t| t.id == take)
                    .ok_or_else(|| not_found("voice take", take))?;
                let removed = v.takes.remove(index);
                if v.takes.is_empty() && v.active.is_none() {
                    self.voices.remove(&line);
                }
                Ok(Change::InsertLineTake {
                    line,
                    index,
                    take: Box::new(removed),
                })
            }
            Change::SetLineActiveTake { line, take } => {
                let old = match take {
                    Some(t) => {
                        let v = self
                            .voices
                            .get_mut(&line)
                            .filter(|v| v.takes.iter().any(|x| x.id == t))
                            .ok_or_else(|| not_found("voice take", t))?;
                        v.active.replace(t)
                    }
                    None => match self.voices.get_mut(&line) {
                        Some(v) => {
                            let old = v.active.take();
                            if v.takes.is_empty() {
                                self.voices.remove(&line);
                            }
                            old
                        }
                        None => None,
                    },
                };
                Ok(Change::SetLineActiveTake { line, take: old })
            }
            Change::InsertAsset { asset } => {
                if self.assets.contains_key(&asset.hash) {
                    return Err(EditError::invalid(format!(
                        "asset {} is already registered",
                        asset.hash
                    )));
                }
                let hash = asset.hash;
                self.assets.insert(hash, *asset);
                Ok(Change::RemoveAsset { hash })
            }
            Change::RemoveAsset { hash } => {
                if let Some(shot) = self
                    .shots
                    .iter()
                    .find(|s| s.takes.iter().any(|t| t.asset == hash))
                {
                    return Err(EditError::InUse {
                        what: format!("asset {hash}"),
                        user: format!("a take of shot {}", shot.id),
                    });
                }
                if let Some(line) = self
                    .voices
                    .iter()
                    .find(|(_, v)| v.takes.iter().any(|t| t.asset == hash))
                    .map(|(l, _)| *l)
                {
                    return Err(EditError::InUse {
                        what: format!("asset {hash}"),
                        user: format!("a voice take of line {line}"),
                    });
                }
                if let Some((track, clip)) =
                    self.clip_using(|s| matches!(s, ClipSource::Asset { asset } if *asset == hash))
                {
                    return Err(EditError::InUse {
                        what: format!("asset {hash}"),
                        user: format!("clip '{clip}' on track '{track}'"),
                    });
                }
                let removed = self
                    .assets
                    .remove(&hash)
                    .ok_or_else(|| not_found("asset", hash))?;
                Ok(Change::InsertAsset {
                    asset: Box::new(removed),
                })
            }
            Change::ReplaceScript { script } => {
                self.check_script(&script)?;
                let old = std::mem::replace(&mut self.script, *script);
                Ok(Change::ReplaceScript {
                    script: Box::new(old),
                })
            }
            Change::SetSettings { settings } => {
                if settings.frame_rate != self.timeline.rate {
                    return Err(EditError::invalid(format!(
                        "changing the frame rate ({} to {}) would re-time the whole edit; conform the timeline instead",
                        self.timeline.rate, settings.frame_rate
                    )));
                }
                if settings.frame_width == 0 || settings.frame_height == 0 {
                    return Err(EditError::invalid(
                        "the frame size must be at least 1×1 pixels",
                    ));
                }
                let old = std::mem::replace(&mut self.settings, *settings);
                Ok(Change::SetSettings {
                    settings: Box::new(old),
                })
            }
            Change::SetCharacterField { character, field } => {
                let c = self
                    .script
                    .characters
                    .iter_mut()
                    .find(|c| c.id == character)
                    .ok_or_else(|| not_found("character", character))?;
                let old = c.set_field(field);
                Ok(Change::SetCharacterField {
                    character,
                    field: old,
                })
            }
            Change::SetLocationDescription {
                location,
                description,
            } => {
                let l = self
                    .script
                    .locations
                    .iter_mut()
                    .find(|l| l.id == location)
                    .ok_or_else(|| not_found("location", location))?;
                let old = std::mem::replace(&mut l.description, description);
                Ok(Change::SetLocationDescription {
                    location,
                    description: old,
                })
            }
            Change::SetTimelineProps { name, start_frame } => {
                let old = Change::SetTimelineProps {
                    name: std::mem::replace(&mut self.timeline.name, name),
                    start_frame: std::mem::replace(&mut self.timeline.start_frame, start_frame),
                };
                Ok(old)
            }
        }
    }

    /// Applies changes in order; on error undoes the ones already applied and returns the error.
    /// On success returns the inverses in the order that undoes them.
    pub fn apply_changes(&mut self, changes: &[Change]) -> Result<Vec<Change>, EditError> {
        let mut inverses = Vec::with_capacity(changes.len());
        for change in changes {
            match self.apply_change(change.clone()) {
                Ok(inverse) => inverses.push(inverse),
                Err(e) => {
                    self.rollback(inverses);
                    return Err(e);
                }
            }
        }
        inverses.reverse();
        Ok(inverses)
    }

    /// Applies inverses newest first. Inverses of applied changes always apply.
    pub(crate) fn rollback(&mut self, inverses: Vec<Change>) {
        for inverse in inverses.into_iter().rev() {
            let _ = self.apply_change(inverse);
        }
    }

    pub(crate) fn track_mut(&mut self, id: TrackId) -> Result<&mut Track, EditError> {
        self.timeline
            .tracks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| not_found("track", id))
    }

    pub(crate) fn shot_mut(&mut self, id: ShotId) -> Result<&mut Shot, EditError> {
        self.shots
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| not_found("shot", id))
    }

    /// The first clip whose source matches, as (track name, clip name).
    fn clip_using(&self, matches: impl Fn(&ClipSource) -> bool) -> Option<(String, String)> {
        self.timeline.tracks.iter().find_map(|track| {
            track.items.iter().find_map(|item| match item {
                Item::Clip(c) if matches(&c.source) => Some((track.name.clone(), c.name.clone())),
                _ => None,
            })
        })
    }

    fn check_shot(&self, shot: &Shot) -> Result<(), EditError> {
        if shot
            .active_take
            .is_some_and(|a| !shot.takes.iter().any(|t| t.id == a))
        {
            return Err(EditError::invalid(format!(
                "shot {}'s active take is not one of its takes",
                shot.id
            )));
        }
        for take in &shot.takes {
            if !self.assets.contains_key(&take.asset) {
                return Err(EditError::invalid(format!(
                    "take {} points at asset {}, which the project does not list",
                    take.id, take.asset
                )));
            }
        }
        for field in [
            ShotField::Scene(shot.scene),
            ShotField::Duration(shot.duration),
            ShotField::LensMm(shot.lens_mm),
            ShotField::Dialogue(shot.dialogue.clone()),
        ] {
            self.check_field(&field)?;
        }
        Ok(())
    }

    fn check_field(&self, field: &ShotField) -> Result<(), EditError> {
        match field {
            ShotField::Scene(scene) if self.script.scene(*scene).is_none() => {
                Err(not_found("scene", scene))
            }
            ShotField::Duration(d) if d.value <= 0 => Err(EditError::invalid(format!(
                "a shot must last at least one frame, not {}",
                d.value
            ))),
            ShotField::LensMm(Some(mm)) if !(mm.is_finite() && *mm > 0.0 && *mm < 10_000.0) => {
                Err(EditError::invalid(format!(
                    "a lens focal length must be between 0 and 10000 mm, not {mm}"
                )))
            }
            ShotField::Dialogue(lines) => {
                for line in lines {
                    if self.script.dialogue(*line).is_none() {
                        return Err(not_found("dialogue line", line));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A new script must still hold every scene and speech the shots and clips point at.
    fn check_script(&self, script: &Script) -> Result<(), EditError> {
        let scenes: HashSet<SceneId> = script.scenes.iter().map(|s| s.id).collect();
        let lines: HashSet<LineId> = script
            .scenes
            .iter()
            .flat_map(|s| s.dialogue().map(|d| d.id))
            .collect();
        for shot in &self.shots {
            if !scenes.contains(&shot.scene) {
                return Err(EditError::InUse {
                    what: format!("scene {}", shot.scene),
                    user: format!("shot {}", shot.id),
                });
            }
            if let Some(line) = shot.dialogue.iter().find(|l| !lines.contains(l)) {
                return Err(EditError::InUse {
                    what: format!("dialogue line {line}"),
                    user: format!("shot {}", shot.id),
                });
            }
        }
        for track in &self.timeline.tracks {
            for item in &track.items {
                if let Item::Clip(c) = item
                    && let ClipSource::Dialogue { line, .. } = &c.source
                    && !lines.contains(line)
                {
                    return Err(EditError::InUse {
                        what: format!("dialogue line {line}"),
                        user: format!("clip '{}' on track '{}'", c.name, track.name),
                    });
                }
            }
        }
        Ok(())
    }
}
