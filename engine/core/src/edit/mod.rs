//! Every edit is a command.
//!
//! The studio, the CLI and plugins all change a project by building an [`EditCommand`] and
//! calling [`Project::apply`]. A command compiles into primitive [`Change`]s, each applied with
//! its exact inverse recorded; the result, [`Applied`], is what [`History`](crate::History)
//! keeps for undo and redo and what the autosave journal writes. A command that fails part-way
//! leaves the project as it was.

mod change;
mod shots;
mod timeline_ops;
mod voices;

pub use change::Change;
use serde::{Deserialize, Serialize};

use crate::ids::{CharacterId, ItemId, LineId, LocationId, MarkerId, ShotId, TakeId, TrackId};
use crate::project::{Project, Settings, Style};
use crate::script::{CharacterField, Script};
use crate::shot::{Asset, Shot, ShotField, Take};
use crate::timeline::{Clip, Marker, Track};

/// Why an edit was refused. The project is unchanged when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("{what} is still used by {user}")]
    InUse { what: String, user: String },
    #[error("track '{track}' is locked; unlock it to edit it")]
    TrackLocked { track: String },
    #[error("{0}")]
    Invalid(String),
}

impl EditError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        EditError::Invalid(message.into())
    }
}

/// Which end of a clip a trim moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    Head,
    Tail,
}

/// An edit a person, a plugin or a finished job asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EditCommand {
    /// Inserts a clip at a frame, pushing everything after it later (an insert edit).
    InsertClip {
        track: TrackId,
        frame: i64,
        clip: Clip,
    },
    /// Puts a clip at a frame over whatever was there (an overwrite edit).
    OverwriteClip {
        track: TrackId,
        frame: i64,
        clip: Clip,
    },
    /// Moves a clip to a frame of a track. Without ripple the clip leaves a gap and overwrites
    /// its destination; with ripple its old place closes up and it is inserted at `frame`, which
    /// is counted after the clip was taken out.
    MoveClip {
        clip: ItemId,
        track: TrackId,
        frame: i64,
        #[serde(default)]
        ripple: bool,
    },
    /// Moves one edge of a clip by `delta_frames` (positive = later). Without ripple the
    /// neighbouring gap absorbs the change; with ripple everything after the clip moves.
    TrimClip {
        clip: ItemId,
        edge: Edge,
        delta_frames: i64,
        #[serde(default)]
        ripple: bool,
    },
    /// Cuts a clip in two at a timeline frame.
    SplitClip {
        clip: ItemId,
        frame: i64,
    },
    /// Sets a clip's length (moves its tail).
    SetClipDuration {
        clip: ItemId,
        duration_frames: i64,
        #[serde(default)]
        ripple: bool,
    },
    /// Shifts which part of the source a clip shows, keeping its place and length.
    SlipClip {
        clip: ItemId,
        delta_frames: i64,
    },
    RenameClip {
        clip: ItemId,
        name: String,
    },
    /// Removes a clip and leaves a gap.
    LiftItem {
        item: ItemId,
    },
    /// Removes a clip or gap and closes up the track.
    RippleDelete {
        item: ItemId,
    },
    AddTrack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<usize>,
        track: Track,
    },
    RemoveTrack {
        track: TrackId,
    },
    RenameTrack {
        track: TrackId,
        name: String,
    },
    SetTrackFlags {
        track: TrackId,
        muted: bool,
        locked: bool,
    },
    AddMarker {
        marker: Marker,
    },
    EditMarker {
        marker: Marker,
    },
    RemoveMarker {
        marker: MarkerId,
    },
    /// Adds a shot after `after`, or at the end of its scene's shots.
    AddShot {
        shot: Box<Shot>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<ShotId>,
    },
    /// Removes a shot; clips showing it are lifted.
    RemoveShot {
        shot: ShotId,
    },
    /// Moves a shot to `position` among its scene's shots (0 = first).
    ReorderShot {
        shot: ShotId,
        position: usize,
    },
    EditShot {
        shot: ShotId,
        #[serde(flatten)]
        field: ShotField,
    },
    /// Adds a take to a shot (registering its asset if new), optionally making it active.
    AttachTake {
        shot: ShotId,
        take: Box<Take>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asset: Option<Box<Asset>>,
        #[serde(default)]
        make_active: bool,
    },
    /// Removes a take; clips pinned to it follow the shot's active take instead.
    DetachTake {
        shot: ShotId,
        take: TakeId,
    },
    SetActiveTake {
        shot: ShotId,
        take: Option<TakeId>,
    },
    RegisterAsset {
        asset: Box<Asset>,
    },
    /// Adds a voice take to a line (registering its asset if new), optionally making it the
    /// one the animatic plays.
    AttachLineTake {
        line: LineId,
        take: Box<Take>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asset: Option<Box<Asset>>,
        #[serde(default)]
        make_active: bool,
    },
    SetLineTake {
        line: LineId,
        take: Option<TakeId>,
    },
    /// Gives a line's clip a new length and moves the edit after it by the difference
    /// (the picture across it stretches; see the voices module).
    RetimeLine {
        line: LineId,
        duration_frames: i64,
    },
    /// Replaces the script wholesale (revision re-flow builds a batch around this).
    ReplaceScript {
        script: Box<Script>,
    },
    EditSettings {
        settings: Box<Settings>,
    },
    /// Edits one bible field of a character.
    EditCharacter {
        character: CharacterId,
        #[serde(flatten)]
        field: CharacterField,
    },
    /// Sets a location's description (the location bible).
    EditLocation {
        location: LocationId,
        description: String,
    },
    /// Sets the storyboard style of every image prompt.
    SetStyle {
        style: Style,
    },
    RenameTimeline {
        name: String,
    },
    /// Several commands as one undo step; all or nothing.
    Batch {
        label: String,
        commands: Vec<EditCommand>,
    },
}

impl EditCommand {
    /// What the undo menu says.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            EditCommand::InsertClip { .. } => "Insert clip".into(),
            EditCommand::OverwriteClip { .. } => "Overwrite clip".into(),
            EditCommand::MoveClip { .. } => "Move clip".into(),
            EditCommand::TrimClip { .. } => "Trim clip".into(),
            EditCommand::SplitClip { .. } => "Split clip".into(),
            EditCommand::SetClipDuration { .. } => "Set clip duration".into(),
            EditCommand::SlipClip { .. } => "Slip clip".into(),
            EditCommand::RenameClip { .. } => "Rename clip".into(),
            EditCommand::LiftItem { .. } => "Lift".into(),
            EditCommand::RippleDelete { .. } => "Ripple delete".into(),
            EditCommand::AddTrack { .. } => "Add track".into(),
            EditCommand::RemoveTrack { .. } => "Remove track".into(),
            EditCommand::RenameTrack { .. } => "Rename track".into(),
            EditCommand::SetTrackFlags { .. } => "Track flags".into(),
            EditCommand::AddMarker { .. } => "Add marker".into(),
            EditCommand::EditMarker { .. } => "Edit marker".into(),
            EditCommand::RemoveMarker { .. } => "Remove marker".into(),
            EditCommand::AddShot { .. } => "Add shot".into(),
            EditCommand::RemoveShot { .. } => "Remove shot".into(),
            EditCommand::ReorderShot { .. } => "Reorder shot".into(),
            EditCommand::EditShot { field, .. } => format!("Edit shot {}", field.kind().name()),
            EditCommand::AttachTake { .. } => "Attach take".into(),
            EditCommand::AttachLineTake { .. } => "Attach voice take".into(),
            EditCommand::SetLineTake { .. } => "Choose voice take".into(),
            EditCommand::RetimeLine { .. } => "Re-time line".into(),
            EditCommand::DetachTake { .. } => "Detach take".into(),
            EditCommand::SetActiveTake { .. } => "Set active take".into(),
            EditCommand::RegisterAsset { .. } => "Register asset".into(),
            EditCommand::ReplaceScript { .. } => "Replace script".into(),
            EditCommand::EditSettings { .. } => "Project settings".into(),
            EditCommand::EditCharacter { field, .. } => format!("Edit character {}", field.name()),
            EditCommand::EditLocation { .. } => "Edit location description".into(),
            EditCommand::SetStyle { .. } => "Storyboard style".into(),
            EditCommand::RenameTimeline { .. } => "Rename timeline".into(),
            EditCommand::Batch { label, .. } => label.clone(),
        }
    }
}

/// What applying a command did: the primitive changes that redo it and the ones that undo it
/// (in the order to apply them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub label: String,
    pub redo: Vec<Change>,
    pub undo: Vec<Change>,
}

/// Applies primitive changes while recording their inverses, so a compound edit can be rolled
/// back if a later step fails.
pub(crate) struct Tx<'a> {
    pub(crate) doc: &'a mut Project,
    redo: Vec<Change>,
    undo: Vec<Change>,
}

impl<'a> Tx<'a> {
    fn new(doc: &'a mut Project) -> Self {
        Self {
            doc,
            redo: Vec::new(),
            undo: Vec::new(),
        }
    }

    pub(crate) fn change(&mut self, change: Change) -> Result<(), EditError> {
        let inverse = self.doc.apply_change(change.clone())?;
        self.redo.push(change);
        self.undo.push(inverse);
        Ok(())
    }

    fn rollback(self) {
        self.doc.rollback(self.undo);
    }

    fn finish(self, label: String) -> Applied {
        let mut undo = self.undo;
        undo.reverse();
        Applied {
            label,
            redo: self.redo,
            undo,
        }
    }
}

impl Project {
    /// Applies a command. On success returns the changes that redo and undo it; on error the
    /// project is unchanged.
    pub fn apply(&mut self, command: &EditCommand) -> Result<Applied, EditError> {
        let mut tx = Tx::new(self);
        match tx.command(command) {
            Ok(()) => Ok(tx.finish(command.label())),
            Err(e) => {
                tx.rollback();
                Err(e)
            }
        }
    }
}

impl Tx<'_> {
    fn command(&mut self, command: &EditCommand) -> Result<(), EditError> {
        match command {
            EditCommand::InsertClip { track, frame, clip } => {
                self.insert_clip(*track, *frame, clip.clone())
            }
            EditCommand::OverwriteClip { track, frame, clip } => {
                self.overwrite_clip(*track, *frame, clip.clone())
            }
            EditCommand::MoveClip {
                clip,
                track,
                frame,
                ripple,
            } => self.move_clip(*clip, *track, *frame, *ripple),
            EditCommand::TrimClip {
                clip,
                edge,
                delta_frames,
                ripple,
            } => self.trim_clip(*clip, *edge, *delta_frames, *ripple),
            EditCommand::SplitClip { clip, frame } => self.split_clip(*clip, *frame),
            EditCommand::SetClipDuration {
                clip,
                duration_frames,
                ripple,
            } => self.set_clip_duration(*clip, *duration_frames, *ripple),
            EditCommand::SlipClip { clip, delta_frames } => self.slip_clip(*clip, *delta_frames),
            EditCommand::RenameClip { clip, name } => self.rename_clip(*clip, name),
            EditCommand::LiftItem { item } => self.lift_item(*item),
            EditCommand::RippleDelete { item } => self.ripple_delete(*item),
            EditCommand::AddTrack { index, track } => {
                let index = index.unwrap_or(self.doc.timeline.tracks.len());
                self.change(Change::InsertTrack {
                    index,
                    track: track.clone(),
                })
            }
            EditCommand::RemoveTrack { track } => {
                self.change(Change::RemoveTrack { track: *track })
            }
            EditCommand::RenameTrack { track, name } => {
                let t = self.doc.track_mut(*track)?;
                let (muted, locked) = (t.muted, t.locked);
                self.change(Change::SetTrackProps {
                    track: *track,
                    name: name.clone(),
                    muted,
                    locked,
                })
            }
            EditCommand::SetTrackFlags {
                track,
                muted,
                locked,
            } => {
                let name = self.doc.track_mut(*track)?.name.clone();
                self.change(Change::SetTrackProps {
                    track: *track,
                    name,
                    muted: *muted,
                    locked: *locked,
                })
            }
            EditCommand::AddMarker { marker } => self.change(Change::InsertMarker {
                marker: marker.clone(),
            }),
            EditCommand::EditMarker { marker } => self.change(Change::ReplaceMarker {
                marker: marker.clone(),
            }),
            EditCommand::RemoveMarker { marker } => {
                self.change(Change::RemoveMarker { marker: *marker })
            }
            EditCommand::AddShot { shot, after } => self.add_shot(shot, *after),
            EditCommand::RemoveShot { shot } => self.remove_shot(*shot),
            EditCommand::ReorderShot { shot, position } => self.reorder_shot(*shot, *position),
            EditCommand::EditShot { shot, field } => self.change(Change::SetShotField {
                shot: *shot,
                field: field.clone(),
            }),
            EditCommand::AttachTake {
                shot,
                take,
                asset,
                make_active,
            } => self.attach_take(*shot, take, asset.as_deref(), *make_active),
            EditCommand::DetachTake { shot, take } => self.detach_take(*shot, *take),
            EditCommand::SetActiveTake { shot, take } => self.change(Change::SetActiveTake {
                shot: *shot,
                take: *take,
            }),
            EditCommand::RegisterAsset { asset } => self.change(Change::InsertAsset {
                asset: asset.clone(),
            }),
            EditCommand::AttachLineTake {
                line,
                take,
                asset,
                make_active,
            } => self.attach_line_take(*line, take, asset.as_deref(), *make_active),
            EditCommand::SetLineTake { line, take } => self.set_line_take(*line, *take),
            EditCommand::RetimeLine {
                line,
                duration_frames,
            } => self.retime_line(*line, *duration_frames),
            EditCommand::ReplaceScript { script } => self.change(Change::ReplaceScript {
                script: script.clone(),
            }),
            EditCommand::EditSettings { settings } => self.change(Change::SetSettings {
                settings: settings.clone(),
            }),
            EditCommand::EditCharacter { character, field } => {
                self.change(Change::SetCharacterField {
                    character: *character,
                    field: field.clone(),
                })
            }
            EditCommand::EditLocation {
                location,
                description,
            } => self.change(Change::SetLocationDescription {
                location: *location,
                description: description.clone(),
            }),
            EditCommand::SetStyle { style } => {
                let mut settings = self.doc.settings.clone();
                settings.style = style.clone();
                self.change(Change::SetSettings {
                    settings: Box::new(settings),
                })
            }
            EditCommand::RenameTimeline { name } => {
                let start_frame = self.doc.timeline.start_frame;
                self.change(Change::SetTimelineProps {
                    name: name.clone(),
                    start_frame,
                })
            }
            EditCommand::Batch { commands, .. } => {
                for command in commands {
                    self.command(command)?;
                }
                Ok(())
            }
        }
    }
}
