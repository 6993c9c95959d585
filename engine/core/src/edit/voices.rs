//! Voice verbs: attaching a line's voice takes, and re-timing the edit around a line whose
//! spoken length changed.

use super::{Change, EditError, Tx};
use crate::ids::{LineId, TakeId};
use crate::shot::{Asset, ShotField, Take};
use crate::time::RationalTime;
use crate::timeline::{ClipSource, Gap, Item, TrackKind};

impl Tx<'_> {
    pub(super) fn attach_line_take(
        &mut self,
        line: LineId,
        take: &Take,
        asset: Option<&Asset>,
        make_active: bool,
    ) -> Result<(), EditError> {
        if let Some(asset) = asset {
            if asset.hash != take.asset {
                return Err(EditError::invalid(format!(
                    "voice take {} points at {} but the asset given is {}",
                    take.id, take.asset, asset.hash
                )));
            }
            if !self.doc.assets.contains_key(&asset.hash) {
                self.change(Change::InsertAsset {
                    asset: Box::new(asset.clone()),
                })?;
            }
        }
        let index = self.doc.voices.get(&line).map_or(0, |v| v.takes.len());
        self.change(Change::InsertLineTake {
            line,
            index,
            take: Box::new(take.clone()),
        })?;
        if make_active {
            self.change(Change::SetLineActiveTake {
                line,
                take: Some(take.id),
            })?;
        }
        Ok(())
    }

    pub(super) fn set_line_take(
        &mut self,
        line: LineId,
        take: Option<TakeId>,
    ) -> Result<(), EditError> {
        self.change(Change::SetLineActiveTake { line, take })
    }

    /// Gives the line's clip `frames` and moves everything after it by the difference: the
    /// line's own track ripples; on every other unlocked track the picture (or gap) playing
    /// across the line's end stretches or shrinks, and whatever starts after it moves. Shots
    /// whose picture clip changed length get the new duration in the shot list too.
    pub(super) fn retime_line(&mut self, line: LineId, frames: i64) -> Result<(), EditError> {
        if frames <= 0 {
            return Err(EditError::invalid(format!(
                "a line cannot last {frames} frames"
            )));
        }
        let found = self.doc.timeline.tracks.iter().enumerate().find_map(|(t, track)| {
            track.items_with_start().find_map(|(start, item)| match item {
                Item::Clip(c) if matches!(c.source, ClipSource::Dialogue { line: l, .. } if l == line) => {
                    Some((t, start, c.clone()))
                }
                _ => None,
            })
        });
        let Some((line_track, start, clip)) = found else {
            // Not on the timeline: nothing to re-time.
            return Ok(());
        };
        let delta = frames - clip.duration_frames;
        if delta == 0 {
            return Ok(());
        }
        if self.doc.timeline.tracks[line_track].locked {
            return Err(EditError::TrackLocked {
                track: self.doc.timeline.tracks[line_track].name.clone(),
            });
        }
        let end = start + clip.duration_frames;
        let track_id = self.doc.timeline.tracks[line_track].id;
        let mut resized = clip;
        resized.duration_frames = frames;
        self.change(Change::ReplaceItem {
            track: track_id,
            item: Item::Clip(resized),
        })?;
        let rate = self.doc.timeline.rate;
        let others: Vec<usize> = (0..self.doc.timeline.tracks.len())
            .filter(|&t| t != line_track && !self.doc.timeline.tracks[t].locked)
            .collect();
        for t in others {
            let track = &self.doc.timeline.tracks[t];
            let track_id = track.id;
            let picture = track.kind == TrackKind::Video;
            // The item playing across the line's end, or the first one after it.
            let mut target: Option<(usize, i64, Item)> = None;
            for (index, (s, item)) in track.items_with_start().enumerate() {
                let e = s + item.duration_frames();
                // On a picture track the shot that ends exactly where the line ends holds
                // the extra time (no black between shots).
                let holds = if picture { e >= end } else { e > end };
                if holds || s >= end {
                    target = Some((index, s, item.clone()));
                    break;
                }
            }
            let Some((index, s, item)) = target else {
                continue;
            };
            let spans = s < end && (s + item.duration_frames() > end || picture);
            let stretchable = match &item {
                Item::Gap(_) => true,
                Item::Clip(c) => {
                    spans
                        && (picture
                            || matches!(
                                c.source,
                                ClipSource::Shot { .. }
                                    | ClipSource::Take { .. }
                                    | ClipSource::Slug { .. }
                            ))
                }
            };
            if stretchable {
                let new_len = item.duration_frames() + delta;
                if new_len >= 1 {
                    let shot = match &item {
                        Item::Clip(c) => match c.source {
                            ClipSource::Shot { shot } | ClipSource::Take { shot, .. } => Some(shot),
                            _ => None,
                        },
                        Item::Gap(_) => None,
                    };
                    let mut changed = item.clone();
                    match &mut changed {
                        Item::Clip(c) => c.duration_frames = new_len,
                        Item::Gap(g) => g.duration_frames = new_len,
                    }
                    self.change(Change::ReplaceItem {
                        track: track_id,
                        item: changed,
                    })?;
                    if let Some(shot) = shot
                        && self.doc.shot(shot).is_some()
                    {
                        self.change(Change::SetShotField {
                            shot,
                            field: ShotField::Duration(RationalTime::new(new_len, rate)),
                        })?;
                    }
                } else if let Item::Gap(g) = &item {
                    // A gap shorter than the cut closes completely.
                    self.change(Change::RemoveItem {
                        track: track_id,
                        item: g.id,
                    })?;
                }
                continue;
            }
            // A clip that must keep its length (another speaker's line): the time goes in
            // (or comes out of) the place right after it, or right before the first item after
            // the line's end.
            let at = if spans { index + 1 } else { index };
            if delta > 0 {
                self.change(Change::InsertItem {
                    track: track_id,
                    index: at,
                    item: Item::Gap(Gap::new(delta)),
                })?;
            } else if let Some(Item::Gap(g)) = self.doc.timeline.tracks[t].items.get(at).cloned() {
                let new_len = g.duration_frames + delta;
                if new_len >= 1 {
                    self.change(Change::ReplaceItem {
                        track: track_id,
                        item: Item::Gap(Gap {
                            id: g.id,
                            duration_frames: new_len,
                        }),
                    })?;
                } else {
                    self.change(Change::RemoveItem {
                        track: track_id,
                        item: g.id,
                    })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::edit::EditCommand;
    use crate::ids::LineId;
    use crate::project::Project;
    use crate::timeline::ClipSource;

    fn cut() -> Project {
        let mut project = crate::synth::project(24, 0);
        project.shots.clear();
        let cut = crate::roughcut::rough_cut(&project);
        project.apply(&cut).unwrap();
        project
    }

    /// (track, start, duration) of every clip, keyed by what it shows.
    fn layout(p: &Project) -> Vec<(usize, i64, i64, String)> {
        p.timeline
            .clips()
            .map(|(t, s, c)| (t, s, c.duration_frames, format!("{:?}", c.source)))
            .collect()
    }

    fn line_clip(p: &Project, line: LineId) -> (usize, i64, i64) {
        p.timeline
            .clips()
            .find(|(_, _, c)| matches!(c.source, ClipSource::Dialogue { line: l, .. } if l == line))
            .map(|(t, s, c)| (t, s, c.duration_frames))
            .unwrap()
    }

    #[test]
    fn a_longer_line_pushes_the_rest_of_the_edit_and_stretches_its_shot() {
        for delta in [30i64, -20] {
            let mut p = cut();
            let before = p.clone();
            // The second line of the first scene.
            let line = p.script.scenes[0].dialogue().nth(1).unwrap().id;
            let (track, start, old) = line_clip(&p, line);
            let end = start + old;
            let shot_before = p
                .timeline
                .clips()
                .find(|(t, s, c)| *t == 0 && *s < end && s + c.duration_frames >= end)
                .map(|(_, _, c)| (c.duration_frames, c.source.clone()))
                .unwrap();
            let applied = p
                .apply(&EditCommand::RetimeLine {
                    line,
                    duration_frames: old + delta,
                })
                .unwrap();
            assert!(p.validate().is_empty(), "{:?}", p.validate());
            assert_eq!(line_clip(&p, line), (track, start, old + delta));
            // Everything that started after the line's end moved by delta; everything before
            // stayed; the shot across the end stretched by delta.
            let after = layout(&p);
            for (b, a) in layout(&before).iter().zip(&after) {
                if b.1 >= end {
                    assert_eq!(a.1, b.1 + delta, "{b:?} -> {a:?}");
                } else if b.1 + b.2 <= start {
                    assert_eq!(a, b);
                }
            }
            let (len, source) = shot_before;
            let stretched = p
                .timeline
                .clips()
                .find(|(_, _, c)| c.source == source)
                .unwrap()
                .2
                .duration_frames;
            assert_eq!(stretched, len + delta);
            if let ClipSource::Shot { shot } = source {
                assert_eq!(p.shot(shot).unwrap().duration.value, len + delta);
            }
            assert_eq!(
                p.timeline.tracks[0].duration_frames(),
                before.timeline.tracks[0].duration_frames() + delta
            );
            p.apply_changes(&applied.undo).unwrap();
            assert_eq!(p, before, "one undo restores the edit");
        }
    }

    #[test]
    fn voice_takes_attach_activate_and_refuse_to_dangle() {
        let mut p = cut();
        let line = p.script.scenes[0].dialogue().next().unwrap().id;
        let hash = crate::shot::ContentHash([7; 32]);
        let asset = crate::shot::Asset {
            hash,
            kind: crate::shot::AssetKind::Audio,
            media: crate::shot::MediaInfo::default(),
            extra: crate::Extra::new(),
        };
        let take = crate::shot::Take {
            id: crate::ids::TakeId::new(),
            asset: hash,
            provenance: crate::shot::Provenance::default(),
            created: jiff::Timestamp::UNIX_EPOCH,
            note: String::new(),
            extra: crate::Extra::new(),
        };
        let before = p.clone();
        let applied = p
            .apply(&EditCommand::AttachLineTake {
                line,
                take: Box::new(take.clone()),
                asset: Some(Box::new(asset)),
                make_active: true,
            })
            .unwrap();
        assert_eq!(p.voices[&line].active().unwrap().id, take.id);
        assert!(p.validate().is_empty());
        // The asset cannot go while the take uses it.
        assert!(
            p.apply(&EditCommand::Batch {
                label: "x".into(),
                commands: vec![]
            })
            .is_ok()
        );
        let e = p
            .apply_change(crate::edit::Change::RemoveAsset { hash })
            .unwrap_err();
        assert!(e.to_string().contains("voice take"), "{e}");
        p.apply_changes(&applied.undo).unwrap();
        assert_eq!(p.voices, before.voices);
    }
}
