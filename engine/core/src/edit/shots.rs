//! Shot-list verbs compiled into primitive changes.

use std::collections::HashMap;

use super::{Change, EditError, Tx};
use crate::ids::{ItemId, SceneId, ShotId, TakeId};
use crate::shot::{Asset, Shot, Take};
use crate::timeline::{ClipSource, Item};

impl Tx<'_> {
    fn shot_position(&self, id: ShotId) -> Result<usize, EditError> {
        self.doc.shot_index(id).ok_or_else(|| EditError::NotFound {
            what: "shot",
            id: id.to_string(),
        })
    }

    /// Where a new shot of `scene` goes when no neighbour is named: after the scene's last shot,
    /// or after the last shot of the nearest earlier scene, keeping the list in script order.
    fn default_shot_index(&self, scene: SceneId) -> usize {
        let rank: HashMap<SceneId, usize> = self
            .doc
            .script
            .scenes
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        let Some(&mine) = rank.get(&scene) else {
            return self.doc.shots.len();
        };
        self.doc
            .shots
            .iter()
            .rposition(|s| rank.get(&s.scene).is_some_and(|&r| r <= mine))
            .map_or(0, |i| i + 1)
    }

    pub(super) fn add_shot(&mut self, shot: &Shot, after: Option<ShotId>) -> Result<(), EditError> {
        let index = match after {
            Some(neighbour) => self.shot_position(neighbour)? + 1,
            None => self.default_shot_index(shot.scene),
        };
        self.change(Change::InsertShot {
            index,
            shot: Box::new(shot.clone()),
        })
    }

    pub(super) fn remove_shot(&mut self, shot: ShotId) -> Result<(), EditError> {
        self.shot_position(shot)?;
        let showing: Vec<ItemId> = self
            .doc
            .timeline
            .clips()
            .filter(|(_, _, clip)| {
                matches!(&clip.source, ClipSource::Shot { shot: s } | ClipSource::Take { shot: s, .. } if *s == shot)
            })
            .map(|(_, _, clip)| clip.id)
            .collect();
        for clip in showing {
            self.lift_item(clip)?;
        }
        self.change(Change::RemoveShot { shot })
    }

    pub(super) fn reorder_shot(&mut self, shot: ShotId, position: usize) -> Result<(), EditError> {
        let from = self.shot_position(shot)?;
        let scene = self.doc.shots[from].scene;
        // Indices of the scene's other shots in the list as it is once `shot` is taken out.
        let others: Vec<usize> = self
            .doc
            .shots
            .iter()
            .enumerate()
            .filter(|(i, s)| *i != from && s.scene == scene)
            .map(|(i, _)| if i > from { i - 1 } else { i })
            .collect();
        let target = match (others.get(position), others.last()) {
            (Some(&before), _) => before,
            (None, Some(&last)) => last + 1,
            (None, None) => from,
        };
        if target == from {
            return Ok(());
        }
        self.change(Change::MoveShot {
            shot,
            index: target,
        })
    }

    pub(super) fn attach_take(
        &mut self,
        shot: ShotId,
        take: &Take,
        asset: Option<&Asset>,
        make_active: bool,
    ) -> Result<(), EditError> {
        let index =
            self.doc
                .shot(shot)
                .map(|s| s.takes.len())
                .ok_or_else(|| EditError::NotFound {
                    what: "shot",
                    id: shot.to_string(),
                })?;
        if let Some(asset) = asset {
            if asset.hash != take.asset {
                return Err(EditError::invalid(format!(
                    "take {} points at {} but the asset given is {}",
                    take.id, take.asset, asset.hash
                )));
            }
            if !self.doc.assets.contains_key(&asset.hash) {
                self.change(Change::InsertAsset {
                    asset: Box::new(asset.clone()),
                })?;
            }
        }
        self.change(Change::InsertTake {
            shot,
            index,
            take: Box::new(take.clone()),
        })?;
        if make_active {
            self.change(Change::SetActiveTake {
                shot,
                take: Some(take.id),
            })?;
        }
        Ok(())
    }

    pub(super) fn detach_take(&mut self, shot: ShotId, take: TakeId) -> Result<(), EditError> {
        let s = self.doc.shot(shot).ok_or_else(|| EditError::NotFound {
            what: "shot",
            id: shot.to_string(),
        })?;
        if !s.takes.iter().any(|t| t.id == take) {
            return Err(EditError::NotFound {
                what: "take",
                id: take.to_string(),
            });
        }
        // The newest remaining take takes over, as a director expects after deleting a bad one.
        let successor = s.takes.iter().rev().find(|t| t.id != take).map(|t| t.id);
        let was_active = s.active_take == Some(take);
        let pinned: Vec<(crate::ids::TrackId, Item)> = self
            .doc
            .timeline
            .tracks
            .iter()
            .flat_map(|track| {
                track.items.iter().filter_map(move |item| match item {
                    Item::Clip(c) if matches!(c.source, ClipSource::Take { take: t, .. } if t == take) => {
                        let mut unpinned = c.clone();
                        unpinned.source = ClipSource::Shot { shot };
                        Some((track.id, Item::Clip(unpinned)))
                    }
                    _ => None,
                })
            })
            .collect();
        for (track, item) in pinned {
            self.change(Change::ReplaceItem { track, item })?;
        }
        if was_active {
            self.change(Change::SetActiveTake {
                shot,
                take: successor,
            })?;
        }
        self.change(Change::RemoveTake { shot, take })
    }
}
