//! Conform: a cut edited in editorial (read from OTIO, EDL or FCPXML into a [`Cut`]) applied
//! back to the project as ordinary edit commands — removals, reorders, trims, renames and the
//! gaps between clips — as one undoable batch, with a report of what changed and what could
//! not be applied.
//!
//! Clips are found again by the id our exports carry (OTIO metadata, FCPXML `md`, an EDL
//! comment) and otherwise by name on the matching track. Tracks are matched by id, then by
//! name, then by position among tracks of the same kind. Clips editorial added (media the
//! project does not know) and tracks the project does not have are reported, not invented.
//!
//! The commands are built against a scratch copy of the project, one at a time, so each one's
//! frame numbers are those of the timeline as the previous ones left it; the batch then applies
//! to the real project exactly as it did to the copy.

use std::collections::{HashMap, HashSet};

use previz_core::edit::{Edge, EditCommand, EditError};
use previz_core::ids::{ItemId, TrackId};
use previz_core::project::Project;
use previz_core::timeline::{ClipSource, Item};
use serde::Serialize;

use super::cut::Cut;

/// What conform did, for people.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConformReport {
    /// Clips taken out of the edit.
    pub removed: Vec<String>,
    /// Clips now in another place in the order.
    pub moved: Vec<String>,
    /// Clips whose length or source in-point changed.
    pub trimmed: Vec<String>,
    pub renamed: Vec<String>,
    /// Clips now starting later after a gap opened or closed before them.
    pub shifted: usize,
    /// What the cut has that the project cannot take (new media, unknown tracks, duplicates).
    pub not_applied: Vec<String>,
    /// Project tracks the cut does not have (left as they were).
    pub untouched_tracks: Vec<String>,
    /// Clips found in the cut, matched to the project.
    pub matched: usize,
}

impl ConformReport {
    #[must_use]
    pub fn is_unchanged(&self) -> bool {
        self.removed.is_empty()
            && self.moved.is_empty()
            && self.trimmed.is_empty()
            && self.renamed.is_empty()
            && self.shifted == 0
    }
}

/// Why a cut could not be conformed.
#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    #[error(
        "the cut runs at {cut} fps but the project's timeline at {project} fps; re-export the cut at {project} fps"
    )]
    RateMismatch { cut: String, project: String },
    #[error("applying the cut failed at '{step}': {error}; the project was not changed")]
    Edit { step: String, error: EditError },
}

/// One clip's place in the conformed edit.
struct Target {
    item: ItemId,
    start: i64,
    source_in: i64,
    duration: i64,
    name: String,
}

fn describe(project: &Project, item: ItemId) -> String {
    project
        .timeline
        .find_item(item)
        .and_then(|(t, i)| project.timeline.tracks[t].items[i].as_clip())
        .map_or_else(|| item.to_string(), |c| format!("'{}'", c.name))
}

/// The command that makes the project's timeline match `cut` (one undo step), and the report.
pub fn conform(project: &Project, cut: &Cut) -> Result<(EditCommand, ConformReport), ConformError> {
    let mut report = ConformReport::default();
    if cut.rate != project.timeline.rate {
        return Err(ConformError::RateMismatch {
            cut: cut.rate.to_string(),
            project: project.timeline.rate.to_string(),
        });
    }
    let timeline = &project.timeline;

    // Tracks: by id, then the project track holding most of its clips (by id), then name,
    // then position among tracks of the kind. Locked tracks are not conformed.
    let home_of = |item: ItemId| timeline.find_item(item).map(|(t, _)| timeline.tracks[t].id);
    let mut track_of: Vec<Option<TrackId>> = Vec::with_capacity(cut.tracks.len());
    let mut used_tracks: HashSet<TrackId> = HashSet::new();
    for (index, track) in cut.tracks.iter().enumerate() {
        let usable = |id: &TrackId| {
            !used_tracks.contains(id) && timeline.track(*id).is_some_and(|t| t.kind == track.kind)
        };
        let by_id = track.id.filter(|id| usable(id));
        let by_clips = || {
            let mut votes: HashMap<TrackId, usize> = HashMap::new();
            for (_, clip) in track.clips() {
                if let Some(home) = clip.origin.item.and_then(home_of) {
                    *votes.entry(home).or_default() += 1;
                }
            }
            votes
                .into_iter()
                .filter(|(id, _)| usable(id))
                .max_by_key(|(id, n)| (*n, std::cmp::Reverse(timeline.track_index(*id))))
                .map(|(id, _)| id)
        };
        let by_name = || {
            timeline
                .tracks
                .iter()
                .find(|t| t.name == track.name && usable(&t.id))
                .map(|t| t.id)
        };
        let by_position = || {
            let nth = cut.tracks[..index]
                .iter()
                .filter(|t| t.kind == track.kind)
                .count();
            timeline
                .tracks
                .iter()
                .filter(|t| t.kind == track.kind)
                .nth(nth)
                .map(|t| t.id)
                .filter(|id| usable(id))
        };
        let mut found = by_id
            .or_else(by_clips)
            .or_else(by_name)
            .or_else(by_position);
        if let Some(id) = found {
            used_tracks.insert(id);
            if let Some(t) = timeline.track(id).filter(|t| t.locked) {
                report.not_applied.push(format!(
                    "track '{}' is locked; unlock it to conform it ({} clips left as they were)",
                    t.name,
                    track.clips().count()
                ));
                found = None;
            }
        } else {
            report.not_applied.push(format!(
                "track '{}' ({} clips) is not in the project",
                track.name,
                track.clips().count()
            ));
        }
        track_of.push(found);
    }
    for track in &timeline.tracks {
        if !used_tracks.contains(&track.id) {
            report.untouched_tracks.push(track.name.clone());
        }
    }

    // Clips: by id anywhere on the timeline (same kind of track), else (no id) by a name that
    // is unique on the matched track. Clips on cut tracks that are not conformed keep their
    // place: they count as used so nothing removes them.
    let mut used_items: HashSet<ItemId> = HashSet::new();
    let mut targets: Vec<(TrackId, Vec<Target>)> = Vec::new();
    for (track, target_track) in cut.tracks.iter().zip(&track_of) {
        if target_track.is_none() {
            used_items.extend(track.clips().filter_map(|(_, c)| c.origin.item));
        }
    }
    let mut complete: HashMap<TrackId, bool> = HashMap::new();
    // Each project clip's take as our media file names carry it (`take-1a2b3c4d`).
    let takes: HashMap<ItemId, String> = Cut::from_project(project, &mut |_| None)
        .tracks
        .iter()
        .flat_map(|t| t.clips().map(|(_, c)| c.origin.clone()))
        .filter_map(|o| Some((o.item?, o.take?.short())))
        .collect();
    for (track, target_track) in cut.tracks.iter().zip(&track_of) {
        let Some(target_track) = *target_track else {
            continue;
        };
        let ours = timeline.track(target_track);
        let mut list = Vec::new();
        for (start, clip) in track.clips() {
            let by_id = clip.origin.item.filter(|id| {
                !used_items.contains(id)
                    && timeline.find_item(*id).is_some_and(|(t, i)| {
                        let home = &timeline.tracks[t];
                        home.items[i].as_clip().is_some() && home.kind == track.kind && !home.locked
                    })
            });
            // Without our id: the take named in the media's file name (our exports name files
            // `NAME_take-1a2b3c4d.ext`), else the clip's name when it is unique on the track,
            // or unique among same-named clips starting at the same frame or lasting as long.
            let by_take = || {
                if clip.origin.item.is_some() {
                    return None;
                }
                let file = clip
                    .media
                    .as_ref()?
                    .path
                    .file_stem()?
                    .to_string_lossy()
                    .into_owned();
                let t = ours?;
                let mut found = t.items.iter().filter_map(Item::as_clip).filter(|c| {
                    !used_items.contains(&c.id)
                        && takes
                            .get(&c.id)
                            .is_some_and(|short| file.ends_with(short.as_str()))
                });
                let first = found.next()?;
                found.next().is_none().then_some(first.id)
            };
            let by_name = || {
                if clip.origin.item.is_some() || clip.name.is_empty() {
                    return None;
                }
                let t = ours?;
                let named: Vec<(i64, &previz_core::Clip)> = t
                    .items_with_start()
                    .filter_map(|(at, item)| item.as_clip().map(|c| (at, c)))
                    .filter(|(_, c)| c.name == clip.name && !used_items.contains(&c.id))
                    .collect();
                let unique = |list: Vec<&(i64, &previz_core::Clip)>| match list.as_slice() {
                    [one] => Some(one.1.id),
                    _ => None,
                };
                unique(named.iter().collect())
                    .or_else(|| unique(named.iter().filter(|(at, _)| *at == start).collect()))
                    .or_else(|| {
                        unique(
                            named
                                .iter()
                                .filter(|(_, c)| {
                                    c.duration_frames == clip.duration
                                        && c.source_in_frames == clip.source_in
                                })
                                .collect(),
                        )
                    })
            };
            let Some(item) = by_id.or_else(by_take).or_else(by_name) else {
                complete.insert(target_track, false);
                let what = clip
                    .media
                    .as_ref()
                    .map(|m| format!(" ({})", m.path.display()))
                    .unwrap_or_default();
                report.not_applied.push(format!(
                    "clip '{}'{what} on track '{}' is not in the project{}",
                    clip.name,
                    track.name,
                    if clip.origin.item.is_some_and(|i| used_items.contains(&i)) {
                        " again (a split or duplicated clip; split it in the studio)"
                    } else {
                        "; import its media and cut it in from the studio"
                    }
                ));
                continue;
            };
            used_items.insert(item);
            report.matched += 1;
            list.push(Target {
                item,
                start,
                source_in: clip.source_in,
                duration: clip.duration,
                name: clip.name.clone(),
            });
        }
        targets.push((target_track, list));
    }
    // A track with clips that could not be matched is left as it was: a reader that lost our
    // ids must not delete or shuffle shots.
    targets.retain(|(track_id, list)| {
        if complete.get(track_id) != Some(&false) {
            return true;
        }
        if let Some(track) = timeline.track(*track_id) {
            report.not_applied.push(format!(
                "track '{}' was left as it was: some of the cut's clips on it could not be matched",
                track.name
            ));
            used_items.extend(track.items.iter().filter_map(Item::as_clip).map(|c| c.id));
        }
        used_items.extend(list.iter().map(|t| t.item));
        false
    });

    // Tracks already laid out as the cut has them are left alone (their gaps keep their ids).
    targets.retain(|(track_id, list)| {
        let Some(track) = timeline.track(*track_id) else {
            return false;
        };
        let current: Vec<(ItemId, i64, i64, i64, &str)> = track
            .items_with_start()
            .filter_map(|(start, item)| {
                item.as_clip().map(|c| {
                    (
                        c.id,
                        start,
                        c.duration_frames,
                        c.source_in_frames,
                        c.name.as_str(),
                    )
                })
            })
            .collect();
        let wanted: Vec<(ItemId, i64, i64, i64, &str)> = list
            .iter()
            .map(|t| {
                let source_in = current
                    .iter()
                    .find(|c| c.0 == t.item)
                    .filter(|_| !is_time_based_item(project, t.item))
                    .map_or(t.source_in, |c| c.3);
                let name = if t.name.is_empty() {
                    current.iter().find(|c| c.0 == t.item).map_or("", |c| c.4)
                } else {
                    t.name.as_str()
                };
                (t.item, t.start, t.duration, source_in, name)
            })
            .collect();
        current != wanted
    });

    let mut scratch = project.clone();
    let mut commands = Vec::new();
    let mut run = |scratch: &mut Project, command: EditCommand| -> Result<(), ConformError> {
        scratch
            .apply(&command)
            .map_err(|error| ConformError::Edit {
                step: command.label(),
                error,
            })?;
        commands.push(command);
        Ok(())
    };

    // 1. Removals: clips on conformed tracks the cut no longer has.
    for (track_id, _) in &targets {
        let Some(track) = timeline.track(*track_id) else {
            continue;
        };
        for item in &track.items {
            if let Item::Clip(c) = item
                && !used_items.contains(&c.id)
            {
                report
                    .removed
                    .push(format!("'{}' from track '{}'", c.name, track.name));
                run(&mut scratch, EditCommand::RippleDelete { item: c.id })?;
            }
        }
    }
    // 2. Close every gap so the order can be set by position.
    for (track_id, _) in &targets {
        loop {
            let gap = scratch
                .timeline
                .track(*track_id)
                .and_then(|t| t.items.iter().find(|i| i.is_gap()).map(Item::id));
            let Some(gap) = gap else { break };
            run(&mut scratch, EditCommand::RippleDelete { item: gap })?;
        }
    }
    // 3. Clips that moved to another track go to the end of their new track first.
    for (track_id, list) in &targets {
        for target in list {
            let Some((t, _)) = scratch.timeline.find_item(target.item) else {
                continue;
            };
            if scratch.timeline.tracks[t].id != *track_id {
                let end = scratch
                    .timeline
                    .track(*track_id)
                    .map_or(0, previz_core::Track::duration_frames);
                report.moved.push(format!(
                    "{} to another track",
                    describe(project, target.item)
                ));
                // Its old track closes up when it is being conformed too; otherwise the clip
                // leaves a gap so nothing else there moves.
                let old = scratch.timeline.tracks[t].id;
                let ripple = targets.iter().any(|(id, _)| *id == old);
                run(
                    &mut scratch,
                    EditCommand::MoveClip {
                        clip: target.item,
                        track: *track_id,
                        frame: end,
                        ripple,
                    },
                )?;
            }
        }
    }
    // 4. Trims and renames, while the track is contiguous.
    for (_, list) in &targets {
        for target in list {
            let clip = scratch
                .timeline
                .find_item(target.item)
                .and_then(|(t, i)| scratch.timeline.tracks[t].items[i].as_clip().cloned());
            let Some(clip) = clip else { continue };
            let time_based = is_time_based(&scratch, &clip.source);
            let mut trimmed = false;
            if time_based && clip.source_in_frames != target.source_in {
                run(
                    &mut scratch,
                    EditCommand::SlipClip {
                        clip: target.item,
                        delta_frames: target.source_in - clip.source_in_frames,
                    },
                )?;
                trimmed = true;
            }
            if clip.duration_frames != target.duration {
                run(
                    &mut scratch,
                    EditCommand::TrimClip {
                        clip: target.item,
                        edge: Edge::Tail,
                        delta_frames: target.duration - clip.duration_frames,
                        ripple: true,
                    },
                )?;
                trimmed = true;
            }
            if trimmed {
                report.trimmed.push(format!(
                    "'{}': {} → {} frames{}",
                    clip.name,
                    clip.duration_frames,
                    target.duration,
                    if time_based && clip.source_in_frames != target.source_in {
                        format!(
                            ", source in {} → {}",
                            clip.source_in_frames, target.source_in
                        )
                    } else {
                        String::new()
                    }
                ));
            }
            if !target.name.is_empty() && clip.name != target.name {
                report
                    .renamed
                    .push(format!("'{}' → '{}'", clip.name, target.name));
                run(
                    &mut scratch,
                    EditCommand::RenameClip {
                        clip: target.item,
                        name: target.name.clone(),
                    },
                )?;
            }
        }
    }
    // 5. Order: place each clip after the ones before it in the cut (ripple moves).
    for (track_id, list) in &targets {
        let mut frame = 0;
        for (index, target) in list.iter().enumerate() {
            let at = scratch
                .timeline
                .track(*track_id)
                .and_then(|t| t.index_of(target.item));
            if at != Some(index) {
                report.moved.push(format!(
                    "{} to position {}",
                    describe(project, target.item),
                    index + 1
                ));
                run(
                    &mut scratch,
                    EditCommand::MoveClip {
                        clip: target.item,
                        track: *track_id,
                        frame,
                        ripple: true,
                    },
                )?;
            }
            frame += target.duration;
        }
    }
    // 6. Gaps: from the last clip back, move each clip later to its start in the cut.
    for (track_id, list) in &targets {
        for target in list.iter().rev() {
            let current = scratch
                .timeline
                .track(*track_id)
                .and_then(|t| t.index_of(target.item).map(|i| t.start_of(i)));
            if let Some(current) = current
                && current != target.start
            {
                report.shifted += 1;
                run(
                    &mut scratch,
                    EditCommand::MoveClip {
                        clip: target.item,
                        track: *track_id,
                        frame: target.start,
                        ripple: false,
                    },
                )?;
            }
        }
    }
    // Dedupe "moved" entries (a clip can be both re-tracked and re-ordered).
    let mut seen = HashMap::new();
    report
        .moved
        .retain(|m| seen.insert(m.clone(), ()).is_none());
    let command = EditCommand::Batch {
        label: format!("Conform to '{}'", cut.name),
        commands,
    };
    Ok((command, report))
}

fn is_time_based_item(project: &Project, item: ItemId) -> bool {
    project
        .timeline
        .find_item(item)
        .and_then(|(t, i)| project.timeline.tracks[t].items[i].as_clip())
        .is_some_and(|c| is_time_based(project, &c.source))
}

fn is_time_based(project: &Project, source: &ClipSource) -> bool {
    match source {
        ClipSource::Dialogue { .. } => true,
        ClipSource::Asset { asset } => project.assets.get(asset).is_some_and(|a| {
            matches!(
                a.kind,
                previz_core::shot::AssetKind::Audio | previz_core::shot::AssetKind::Video
            )
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interchange::CutItem;
    use crate::interchange::otio;
    use previz_core::timeline::TrackKind;

    fn storyboard(project: &Project) -> Vec<(ItemId, i64, i64)> {
        let track = project
            .timeline
            .tracks
            .iter()
            .find(|t| t.kind == TrackKind::Video)
            .unwrap();
        track
            .items_with_start()
            .filter_map(|(s, i)| i.as_clip().map(|c| (c.id, s, c.duration_frames)))
            .collect()
    }

    fn cut_of(project: &Project) -> Cut {
        Cut::from_project(project, &mut |_| None)
    }

    #[test]
    fn an_unchanged_cut_changes_nothing() {
        let project = previz_core::synth::project(12, 12);
        let (command, report) = conform(&project, &cut_of(&project)).unwrap();
        assert!(report.is_unchanged(), "{report:?}");
        let mut after = project.clone();
        after.apply(&command).unwrap();
        assert_eq!(after.timeline, project.timeline);
    }

    #[test]
    fn reorder_trim_delete_and_gap_are_applied() {
        let project = previz_core::synth::project(12, 12);
        let before = storyboard(&project);
        let mut cut = cut_of(&project);
        let v = cut
            .tracks
            .iter()
            .position(|t| t.kind == TrackKind::Video)
            .unwrap();
        let items = &mut cut.tracks[v].items;
        // Keep only clips, then: swap the first two, trim the third, drop the fourth, and
        // open a 10-frame gap before the last.
        items.retain(|i| matches!(i, CutItem::Clip(_)));
        items.swap(0, 1);
        if let CutItem::Clip(c) = &mut items[2] {
            c.duration -= 5;
        }
        items.remove(3);
        let last = items.len() - 1;
        items.insert(last, CutItem::Gap(10));
        // Through the file format, as editorial would hand it back.
        let cut = otio::read(&otio::write(&cut), "edited.otio").unwrap();
        let (command, report) = conform(&project, &cut).unwrap();
        assert_eq!(report.removed.len(), 1, "{report:?}");
        assert_eq!(report.trimmed.len(), 1, "{report:?}");
        assert!(!report.moved.is_empty(), "{report:?}");
        let mut after = project.clone();
        after.apply(&command).unwrap();
        let got = storyboard(&after);
        let expected_cut = &cut.tracks[v];
        let want: Vec<(i64, i64)> = expected_cut.clips().map(|(s, c)| (s, c.duration)).collect();
        assert_eq!(
            got.iter().map(|(_, s, d)| (*s, *d)).collect::<Vec<_>>(),
            want
        );
        assert_eq!(got[0].0, before[1].0);
        assert_eq!(got[1].0, before[0].0);
        assert!(!got.iter().any(|(id, _, _)| *id == before[3].0));
        // One undo step takes it all back.
        let mut history = previz_core::History::new();
        let mut doc = project.clone();
        history.apply(&mut doc, &command).unwrap();
        history.undo(&mut doc).unwrap();
        assert_eq!(doc.timeline, project.timeline);
    }

    #[test]
    fn unknown_clips_and_a_rate_change_are_reported() {
        let project = previz_core::synth::project(3, 3);
        let mut cut = cut_of(&project);
        let v = cut
            .tracks
            .iter()
            .position(|t| t.kind == TrackKind::Video)
            .unwrap();
        if let CutItem::Clip(c) = &mut cut.tracks[v].items[0] {
            c.origin.item = None;
            c.name = "VFX_PLATE_0010".into();
        }
        // A clip that cannot be matched leaves its track as it was (nothing is deleted on a
        // guess), and says so.
        let (command, report) = conform(&project, &cut).unwrap();
        assert_eq!(report.not_applied.len(), 2, "{report:?}");
        assert!(report.removed.is_empty(), "{report:?}");
        let mut after = project.clone();
        after.apply(&command).unwrap();
        assert_eq!(after.timeline, project.timeline);
        cut.rate = previz_core::Rate::FPS_25;
        assert!(matches!(
            conform(&project, &cut),
            Err(ConformError::RateMismatch { .. })
        ));
    }
}
