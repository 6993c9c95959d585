//! Merging one editor's edits into a document someone else saved meanwhile (many editors on one
//! project).
//!
//! An editor opened the document at `base` and made `pending` primitive changes; meanwhile
//! another editor saved `theirs`. [`rebase`] replays the pending changes onto `theirs` where they
//! do not overlap, and reports the rest as [`Conflict`]s: nothing is dropped silently.
//!
//! Overlap is decided per [`Region`]: the part of the document a change touches (one field of
//! a shot, a shot's takes, a track's items, one marker, a character, …). For each region the
//! pending changes touch, compare its value in `base` (B), in `theirs` (T) and in `mine` (M,
//! base + pending):
//!
//! * T = B: nobody else touched it; the pending changes apply.
//! * M = T: both made the same change; nothing to apply.
//! * M = B: the pending changes cancel out (an edit and its undo); theirs stands.
//! * otherwise both changed it differently: a conflict. The pending changes on that region are
//!   not applied; the conflict carries both values so the editor can choose.
//!
//! A track's items are one region (a ripple edit shifts everything after it, so two edits of one
//! track never merge blindly), while different fields of one shot merge. Insert and move
//! positions in the shot list are rebased onto the shot they followed, so a shot inserted in
//! scene 12 lands in scene 12 even when someone added shots to scene 3 meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::edit::{Change, EditError};
use crate::ids::{CharacterId, LineId, LocationId, MarkerId, ShotId, TrackId};
use crate::project::Project;
use crate::shot::ShotFieldKind;

/// A part of the document that changes are compared on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "region", rename_all = "snake_case")]
pub enum Region {
    /// A shot as a whole (inserting or removing it).
    Shot {
        shot: ShotId,
    },
    /// One field of a shot.
    ShotField {
        shot: ShotId,
        field: String,
    },
    /// A shot's place in the shot list (which shot it follows).
    ShotPlace {
        shot: ShotId,
    },
    /// A shot's takes and its active take.
    ShotTakes {
        shot: ShotId,
    },
    /// A dialogue line's voice takes.
    LineTakes {
        line: LineId,
    },
    /// A track as a whole (adding or removing it).
    Track {
        track: TrackId,
    },
    /// A track's items.
    TrackItems {
        track: TrackId,
    },
    /// A track's name, mute and lock.
    TrackProps {
        track: TrackId,
    },
    Marker {
        marker: MarkerId,
    },
    Asset {
        hash: String,
    },
    Character {
        character: CharacterId,
    },
    Location {
        location: LocationId,
    },
    Script,
    Settings,
    TimelineProps,
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::Shot { shot } => write!(f, "shot {shot}"),
            Region::ShotField { shot, field } => write!(f, "the {field} of shot {shot}"),
            Region::ShotPlace { shot } => write!(f, "the place of shot {shot} in the shot list"),
            Region::ShotTakes { shot } => write!(f, "the takes of shot {shot}"),
            Region::LineTakes { line } => write!(f, "the voice takes of line {line}"),
            Region::Track { track } => write!(f, "track {track}"),
            Region::TrackItems { track } => write!(f, "the clips on track {track}"),
            Region::TrackProps { track } => write!(f, "the name, mute and lock of track {track}"),
            Region::Marker { marker } => write!(f, "marker {marker}"),
            Region::Asset { hash } => write!(f, "asset {}", &hash[..hash.len().min(12)]),
            Region::Character { character } => write!(f, "character {character}"),
            Region::Location { location } => write!(f, "location {location}"),
            Region::Script => f.write_str("the script"),
            Region::Settings => f.write_str("the project settings"),
            Region::TimelineProps => f.write_str("the timeline's name and start"),
        }
    }
}

/// Edits of one region that could not be merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub region: Region,
    /// Why: both changed it (`mine` and `theirs` differ), or a change no longer applies.
    pub reason: String,
    /// The region's value with the pending edits (what this editor wanted).
    pub mine: Value,
    /// The region's value as the other editor saved it (what the document now holds).
    pub theirs: Value,
    /// The pending changes not applied.
    pub changes: Vec<Change>,
}

/// What [`rebase`] produced.
#[derive(Clone, Debug)]
pub struct Rebased {
    /// `theirs` with every pending change that did not conflict.
    pub merged: Project,
    /// The pending changes applied to `merged`, as applied (positions rebased).
    pub applied: Vec<Change>,
    pub conflicts: Vec<Conflict>,
}

/// The regions a change touches.
#[must_use]
pub fn regions_of(change: &Change) -> Vec<Region> {
    match change {
        Change::InsertItem { track, .. }
        | Change::RemoveItem { track, .. }
        | Change::ReplaceItem { track, .. } => vec![Region::TrackItems { track: *track }],
        Change::InsertTrack { track, .. } => vec![Region::Track { track: track.id }],
        Change::RemoveTrack { track } => vec![Region::Track { track: *track }],
        Change::SetTrackProps { track, .. } => vec![Region::TrackProps { track: *track }],
        Change::InsertMarker { marker } | Change::ReplaceMarker { marker } => {
            vec![Region::Marker { marker: marker.id }]
        }
        Change::RemoveMarker { marker } => vec![Region::Marker { marker: *marker }],
        Change::InsertShot { shot, .. } => vec![Region::Shot { shot: shot.id }],
        Change::RemoveShot { shot } => vec![Region::Shot { shot: *shot }],
        Change::MoveShot { shot, .. } => vec![Region::ShotPlace { shot: *shot }],
        Change::SetShotField { shot, field } => vec![Region::ShotField {
            shot: *shot,
            field: field_name(field.kind()),
        }],
        Change::InsertTake { shot, .. }
        | Change::RemoveTake { shot, .. }
        | Change::SetActiveTake { shot, .. } => vec![Region::ShotTakes { shot: *shot }],
        Change::InsertLineTake { line, .. }
        | Change::RemoveLineTake { line, .. }
        | Change::SetLineActiveTake { line, .. } => vec![Region::LineTakes { line: *line }],
        Change::InsertAsset { asset } => vec![Region::Asset {
            hash: asset.hash.to_hex(),
        }],
        Change::RemoveAsset { hash } => vec![Region::Asset {
            hash: hash.to_hex(),
        }],
        Change::ReplaceScript { .. } => vec![Region::Script],
        Change::SetSettings { .. } => vec![Region::Settings],
        Change::SetCharacterField { character, .. } => vec![Region::Character {
            character: *character,
        }],
        Change::SetLocationDescription { location, .. } => vec![Region::Location {
            location: *location,
        }],
        Change::SetTimelineProps { .. } => vec![Region::TimelineProps],
    }
}

fn field_name(kind: ShotFieldKind) -> String {
    format!("{kind:?}").to_ascii_lowercase()
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A region's value in a document (`null` where it does not exist).
#[must_use]
pub fn region_value(doc: &Project, region: &Region) -> Value {
    match region {
        Region::Shot { shot } => doc.shot(*shot).map_or(Value::Null, json),
        Region::ShotField { shot, field } => doc.shot(*shot).map_or(Value::Null, |s| {
            SHOT_FIELDS
                .iter()
                .find(|k| field_name(**k) == *field)
                .map_or(Value::Null, |k| {
                    // `{"field": "notes", "value": …}`: the value is what people compare.
                    match json(&s.field(*k)) {
                        Value::Object(mut map) => map.remove("value").unwrap_or(Value::Null),
                        other => other,
                    }
                })
        }),
        Region::ShotPlace { shot } => {
            let Some(i) = doc.shots.iter().position(|s| s.id == *shot) else {
                return Value::Null;
            };
            let before = i.checked_sub(1).map(|p| doc.shots[p].id);
            serde_json::json!({ "after": before, "scene": doc.shots[i].scene })
        }
        Region::ShotTakes { shot } => doc.shot(*shot).map_or(
            Value::Null,
            |s| serde_json::json!({ "takes": json(&s.takes), "active": json(&s.active_take) }),
        ),
        Region::LineTakes { line } => doc.voices.get(line).map_or(Value::Null, json),
        Region::Track { track } => doc.timeline.track(*track).map_or(Value::Null, json),
        Region::TrackItems { track } => doc
            .timeline
            .track(*track)
            .map_or(Value::Null, |t| json(&t.items)),
        Region::TrackProps { track } => doc.timeline.track(*track).map_or(
            Value::Null,
            |t| serde_json::json!({ "name": t.name, "muted": t.muted, "locked": t.locked }),
        ),
        Region::Marker { marker } => doc
            .timeline
            .markers
            .iter()
            .find(|m| m.id == *marker)
            .map_or(Value::Null, json),
        Region::Asset { hash } => doc
            .assets
            .iter()
            .find(|(h, _)| h.to_hex() == *hash)
            .map_or(Value::Null, |(_, a)| json(a)),
        Region::Character { character } => {
            doc.script.character(*character).map_or(Value::Null, json)
        }
        Region::Location { location } => doc
            .script
            .locations
            .iter()
            .find(|l| l.id == *location)
            .map_or(Value::Null, json),
        Region::Script => json(&doc.script),
        Region::Settings => json(&doc.settings),
        Region::TimelineProps => serde_json::json!({
            "name": doc.timeline.name,
            "start_frame": doc.timeline.start_frame,
        }),
    }
}

const SHOT_FIELDS: [ShotFieldKind; 13] = [
    ShotFieldKind::Label,
    ShotFieldKind::Size,
    ShotFieldKind::Angle,
    ShotFieldKind::Movement,
    ShotFieldKind::LensMm,
    ShotFieldKind::Subject,
    ShotFieldKind::Action,
    ShotFieldKind::Dialogue,
    ShotFieldKind::Duration,
    ShotFieldKind::Prompt,
    ShotFieldKind::NegativePrompt,
    ShotFieldKind::Notes,
    ShotFieldKind::Scene,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Nobody else touched it: apply.
    Apply,
    /// Nothing to apply (same change on both sides, or the pending changes cancel out).
    Skip,
    Conflict,
}

/// Where a shot-list position pointed, by neighbour, so it survives others' inserts.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    after: Option<ShotId>,
    before: Option<ShotId>,
}

/// Replays `pending` (made on `base`) onto `theirs`; see the module docs.
#[must_use]
pub fn rebase(base: &Project, pending: &[Change], theirs: &Project) -> Rebased {
    // Replay on base to get `mine` and the shot-list anchors of positional changes.
    let mut mine = base.clone();
    let mut anchors: Vec<Option<Anchor>> = Vec::with_capacity(pending.len());
    let mut broken: BTreeSet<usize> = BTreeSet::new();
    for (i, change) in pending.iter().enumerate() {
        anchors.push(anchor_of(&mine, change));
        if mine.apply_change(change.clone()).is_err() {
            broken.insert(i);
        }
    }

    let mut status: BTreeMap<Region, Status> = BTreeMap::new();
    let mut conflicts: BTreeMap<Region, Conflict> = BTreeMap::new();
    for change in pending {
        for region in regions_of(change) {
            if status.contains_key(&region) {
                continue;
            }
            let b = region_value(base, &region);
            let t = region_value(theirs, &region);
            let m = region_value(&mine, &region);
            let s = if t == b {
                Status::Apply
            } else if m == t || m == b {
                Status::Skip
            } else {
                conflicts.insert(
                    region.clone(),
                    Conflict {
                        region: region.clone(),
                        reason: "both editors changed it".into(),
                        mine: m,
                        theirs: t,
                        changes: Vec::new(),
                    },
                );
                Status::Conflict
            };
            status.insert(region, s);
        }
    }

    let mut merged = theirs.clone();
    let mut applied = Vec::new();
    for (i, change) in pending.iter().enumerate() {
        let regions = regions_of(change);
        let worst = regions
            .iter()
            .map(|r| status.get(r).copied().unwrap_or(Status::Apply))
            .fold(Status::Apply, |acc, s| match (acc, s) {
                (Status::Conflict, _) | (_, Status::Conflict) => Status::Conflict,
                (Status::Skip, _) | (_, Status::Skip) => Status::Skip,
                _ => Status::Apply,
            });
        let failure = if broken.contains(&i) {
            Some("it did not apply to the document it was made on".to_owned())
        } else {
            None
        };
        match (worst, failure) {
            (Status::Skip, None) => {}
            (Status::Apply, None) => {
                let positioned = reposition(&merged, change, anchors[i]);
                match merged.apply_change(positioned.clone()) {
                    Ok(_) => applied.push(positioned),
                    Err(e) => {
                        // It no longer fits the other editor's document: its regions become
                        // conflicts so later changes to them are held back too.
                        record_failure(
                            &mut conflicts,
                            &mut status,
                            &regions,
                            change,
                            &e,
                            &mine,
                            theirs,
                        );
                    }
                }
            }
            (_, failure) => {
                if let Some(reason) = failure {
                    let e = EditError::invalid(reason);
                    record_failure(
                        &mut conflicts,
                        &mut status,
                        &regions,
                        change,
                        &e,
                        &mine,
                        theirs,
                    );
                } else if let Some(first) = regions
                    .iter()
                    .find(|r| status.get(*r) == Some(&Status::Conflict))
                    && let Some(c) = conflicts.get_mut(first)
                {
                    c.changes.push(change.clone());
                }
            }
        }
    }
    Rebased {
        merged,
        applied,
        conflicts: conflicts.into_values().collect(),
    }
}

#[allow(clippy::too_many_arguments)]
fn record_failure(
    conflicts: &mut BTreeMap<Region, Conflict>,
    status: &mut BTreeMap<Region, Status>,
    regions: &[Region],
    change: &Change,
    error: &EditError,
    mine: &Project,
    theirs: &Project,
) {
    let Some(first) = regions.first() else {
        return;
    };
    for r in regions {
        status.insert(r.clone(), Status::Conflict);
    }
    conflicts
        .entry(first.clone())
        .or_insert_with(|| Conflict {
            region: first.clone(),
            reason: format!("the edit no longer applies: {error}"),
            mine: region_value(mine, first),
            theirs: region_value(theirs, first),
            changes: Vec::new(),
        })
        .changes
        .push(change.clone());
}

fn neighbours(ids: &[ShotId], index: usize) -> Anchor {
    Anchor {
        after: index.checked_sub(1).and_then(|p| ids.get(p)).copied(),
        before: ids.get(index).copied(),
    }
}

/// The neighbours a positional change puts its shot between, in the document it was made on.
fn anchor_of(doc: &Project, change: &Change) -> Option<Anchor> {
    match change {
        Change::InsertShot { index, .. } => {
            let ids: Vec<ShotId> = doc.shots.iter().map(|s| s.id).collect();
            Some(neighbours(&ids, *index))
        }
        Change::MoveShot { shot, index } => {
            let ids: Vec<ShotId> = doc
                .shots
                .iter()
                .map(|s| s.id)
                .filter(|id| id != shot)
                .collect();
            Some(neighbours(&ids, *index))
        }
        _ => None,
    }
}

/// The same change with its shot-list position found again by its neighbours in `doc`.
fn reposition(doc: &Project, change: &Change, anchor: Option<Anchor>) -> Change {
    let Some(anchor) = anchor else {
        return change.clone();
    };
    let place = |ids: &[ShotId], fallback: usize| -> usize {
        if let Some(after) = anchor.after
            && let Some(p) = ids.iter().position(|id| *id == after)
        {
            return p + 1;
        }
        if let Some(before) = anchor.before
            && let Some(p) = ids.iter().position(|id| *id == before)
        {
            return p;
        }
        if anchor.after.is_none() {
            return 0;
        }
        fallback.min(ids.len())
    };
    match change {
        Change::InsertShot { index, shot } => {
            let ids: Vec<ShotId> = doc.shots.iter().map(|s| s.id).collect();
            Change::InsertShot {
                index: place(&ids, *index),
                shot: shot.clone(),
            }
        }
        Change::MoveShot { shot, index } => {
            let ids: Vec<ShotId> = doc
                .shots
                .iter()
                .map(|s| s.id)
                .filter(|id| id != shot)
                .collect();
            Change::MoveShot {
                shot: *shot,
                index: place(&ids, *index),
            }
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::EditCommand;
    use crate::script::{Scene, SceneHeading};
    use crate::shot::{Shot, ShotField};
    use crate::time::RationalTime;

    fn project() -> Project {
        let mut p = Project::new("Merge");
        for heading in ["INT. A - DAY", "EXT. B - NIGHT"] {
            p.script
                .scenes
                .push(Scene::new(SceneHeading::parse(heading, false)));
        }
        let rate = p.settings.frame_rate;
        for i in 0..2 {
            let scene = p.script.scenes[i].id;
            for _ in 0..2 {
                p.shots.push(Shot::new(scene, RationalTime::new(24, rate)));
            }
        }
        p
    }

    fn edit(doc: &mut Project, command: &EditCommand) -> Vec<Change> {
        doc.apply(command).unwrap().redo
    }

    fn field(shot: ShotId, f: ShotField) -> EditCommand {
        EditCommand::EditShot { shot, field: f }
    }

    #[test]
    fn edits_that_do_not_overlap_merge_and_overlaps_are_reported() {
        let base = project();
        let s = |i: usize| base.shots[i].id;

        // Theirs: notes of shot 0, subject of shot 1, a new shot at the start of scene 1.
        let mut theirs = base.clone();
        edit(&mut theirs, &field(s(0), ShotField::Notes("theirs".into())));
        edit(&mut theirs, &field(s(1), ShotField::Subject("Mara".into())));
        let mut early = Shot::new(
            base.script.scenes[0].id,
            RationalTime::new(24, base.settings.frame_rate),
        );
        early.prompt = "theirs".into();
        theirs.shots.insert(0, early);

        // Mine: subject of shot 0 (other field: merges), notes of shot 1 twice, subject of
        // shot 1 (same region as theirs, different value: conflict), a shot after shot 2 (in
        // scene 2) that must still follow shot 2.
        let mut mine = base.clone();
        let mut pending = Vec::new();
        pending.extend(edit(
            &mut mine,
            &field(s(0), ShotField::Subject("Jon".into())),
        ));
        pending.extend(edit(&mut mine, &field(s(1), ShotField::Notes("a".into()))));
        pending.extend(edit(&mut mine, &field(s(1), ShotField::Notes("b".into()))));
        pending.extend(edit(
            &mut mine,
            &field(s(1), ShotField::Subject("Ana".into())),
        ));
        let mut late = Shot::new(
            base.script.scenes[1].id,
            RationalTime::new(24, base.settings.frame_rate),
        );
        late.prompt = "mine".into();
        let late_id = late.id;
        pending.extend(edit(
            &mut mine,
            &EditCommand::AddShot {
                shot: Box::new(late),
                after: Some(s(2)),
            },
        ));

        let r = rebase(&base, &pending, &theirs);
        let m = &r.merged;
        assert_eq!(m.shot(s(0)).unwrap().notes, "theirs");
        assert_eq!(m.shot(s(0)).unwrap().subject, "Jon");
        assert_eq!(m.shot(s(1)).unwrap().notes, "b");
        assert_eq!(
            m.shot(s(1)).unwrap().subject,
            "Mara",
            "theirs stands on conflict"
        );
        let pos = |id| m.shots.iter().position(|x| x.id == id).unwrap();
        assert_eq!(pos(late_id), pos(s(2)) + 1, "rebased onto its neighbour");
        assert_eq!(m.shots.len(), 6);
        assert_eq!(r.conflicts.len(), 1, "{:?}", r.conflicts);
        let c = &r.conflicts[0];
        assert_eq!(
            c.region,
            Region::ShotField {
                shot: s(1),
                field: "subject".into()
            }
        );
        assert_eq!(c.mine, Value::String("Ana".into()));
        assert_eq!(c.theirs, Value::String("Mara".into()));
        assert_eq!(c.changes.len(), 1);
        assert!(m.validate().is_empty(), "{:?}", m.validate());
    }

    #[test]
    fn an_edit_and_its_undo_leave_theirs_alone_and_removals_of_changed_shots_conflict() {
        let base = project();
        let s0 = base.shots[0].id;
        let mut theirs = base.clone();
        edit(&mut theirs, &field(s0, ShotField::Notes("theirs".into())));
        let mut mine = base.clone();
        let mut pending = edit(&mut mine, &field(s0, ShotField::Notes("x".into())));
        pending.extend(edit(&mut mine, &field(s0, ShotField::Notes(String::new()))));
        let r = rebase(&base, &pending, &theirs);
        assert_eq!(r.merged.shot(s0).unwrap().notes, "theirs");
        assert!(r.conflicts.is_empty());

        let mut mine = base.clone();
        let pending = edit(&mut mine, &EditCommand::RemoveShot { shot: s0 });
        let r = rebase(&base, &pending, &theirs);
        assert!(
            r.merged.shot(s0).is_some(),
            "a shot someone edited is not removed"
        );
        assert_eq!(r.conflicts.len(), 1);
    }
}
