//! Drags on the timeline: moving and trimming clips, moving markers.
//!
//! A drag is one undo step: it opens a gesture when it starts (`Studio::begin_gesture`),
//! applies commands as the pointer moves, closes it on release and abandons it on Escape.
//!
//! * A **trim** applies relative `TrimClip` deltas from the clip's current length, clamped to
//!   what the command accepts (the room in the neighbouring gap, at least one frame left, no
//!   head before the source's start), so no step fails half-way through a drag.
//! * A **move** is `MoveClip`, which is absolute and destructive (a plain move overwrites what
//!   the clip lands on). Applied step by step it would chop every neighbour the clip passed
//!   over, so each time the target changes the gesture is rewound (`cancel_gesture`) and one
//!   `MoveClip` from the origin applied again: at every moment the document is the original
//!   plus exactly one move, which is what the undo step holds when the button is released.

use egui::Pos2;
use previz_core::{
    ClipSource, Edge, EditCommand, Item, ItemId, Marker, Project, TrackId, TrackKind,
};

use super::geometry::{SnapTargets, Viewport, Zone};
use super::interact::clip_at;
use super::{Areas, SNAP_POINTS, TimelineView, row_at};
use crate::studio::Studio;

const MOVE_LABEL: &str = "Move clip";
const TRIM_LABEL: &str = "Trim clip";
const MARKER_LABEL: &str = "Move marker";
/// Room that is not limited (a ripple trim can push the rest of the track any distance).
const UNLIMITED: i64 = 1 << 40;

/// A drag in progress.
#[derive(Debug)]
pub(super) enum Drag {
    Move(MoveDrag),
    Trim(TrimDrag),
    Marker(MarkerDrag),
    /// Dragging in the ruler moves the playhead.
    Scrub,
    /// Dragging the horizontal scrollbar's thumb: frames between the pointer and the view's
    /// first frame.
    HScroll {
        grab: f64,
    },
    /// Dragging the vertical scrollbar's thumb: points between the pointer and the scroll.
    VScroll {
        grab: f32,
    },
    /// Escape abandoned the gesture; the pointer is ignored until it is released.
    Cancelled,
}

impl Drag {
    /// Whether the drag holds an open gesture in the studio's history.
    fn has_gesture(&self) -> bool {
        matches!(self, Drag::Move(_) | Drag::Trim(_) | Drag::Marker(_))
    }
}

#[derive(Debug)]
pub(super) struct MoveDrag {
    clip: ItemId,
    kind: TrackKind,
    origin_track: TrackId,
    origin_start: i64,
    duration: i64,
    /// Frames from the clip's head to where it was grabbed.
    grab: f64,
    /// The track the clip is going to (the origin until the pointer is over another track of
    /// the same kind that is not locked).
    target_track: TrackId,
    /// The move the document shows: (track, start, ripple), or none at the origin.
    applied: Option<(TrackId, i64, bool)>,
    snaps: SnapTargets,
}

#[derive(Debug)]
pub(super) struct TrimDrag {
    clip: ItemId,
    edge: Edge,
    /// Where the dragged edge was when the drag started.
    origin_edge: i64,
    origin_duration: i64,
    /// Frames from the edge to where it was grabbed.
    grab: f64,
    /// How far the edge may move to shorten the clip (leaving one frame).
    shrink_room: i64,
    /// How far it may move to lengthen it, without and with ripple.
    grow_room: i64,
    grow_room_ripple: i64,
    /// Whether what is applied so far was applied with ripple.
    ripple: bool,
    snaps: SnapTargets,
}

#[derive(Debug)]
pub(super) struct MarkerDrag {
    marker: Marker,
    grab: f64,
    applied_frame: i64,
    snaps: SnapTargets,
}

/// What a drag can snap to: every clip edge on every track (but the dragged clip's own), the
/// playhead, the markers and the in / out points, taken when the drag starts from the document
/// as it was (see [`SnapTargets`]). `dragged` is the clip's (track, item index).
fn snap_targets(
    studio: &Studio,
    view: &TimelineView,
    dragged: Option<(usize, usize)>,
) -> SnapTargets {
    let Some(doc) = studio.doc() else {
        return SnapTargets::default();
    };
    let dragged = dragged.map(|(t, i)| {
        let items = doc.timeline.tracks.get(t).map_or(&[][..], |t| &t.items[..]);
        let is_clip =
            |k: Option<usize>| k.and_then(|k| items.get(k)).is_some_and(|it| !it.is_gap());
        (t, i, is_clip(i.checked_sub(1)), is_clip(Some(i + 1)))
    });
    let t = &studio.transport;
    let mut points = Vec::with_capacity(doc.timeline.markers.len() + 3);
    points.push(t.playhead);
    points.extend(t.in_point);
    points.extend(t.out_point.map(|o| o + 1));
    points.extend(doc.timeline.markers.iter().map(|m| m.frame));
    SnapTargets::new(&view.layout.tracks, dragged, points)
}

/// Snaps `edges` (frames) when snapping is on; returns the shift and records the snap line.
fn snap(view: &mut TimelineView, snaps: &SnapTargets, edges: &[f64], viewport: &Viewport) -> f64 {
    view.snap_line = None;
    if !view.snapping {
        return 0.0;
    }
    let reach = f64::from(SNAP_POINTS) / viewport.points_per_frame;
    match snaps.snap(edges, reach) {
        Some(s) => {
            view.snap_line = Some(s.target);
            s.shift
        }
        None => 0.0,
    }
}

/// Starts dragging a marker's flag, grabbed `grab` frames from the marker.
pub(super) fn start_marker_drag(
    studio: &mut Studio,
    view: &mut TimelineView,
    marker: Marker,
    grab: f64,
) {
    if studio.read_only() {
        view.drag = Some(Drag::Cancelled);
        return;
    }
    studio.begin_gesture(MARKER_LABEL);
    view.drag = Some(Drag::Marker(MarkerDrag {
        applied_frame: marker.frame,
        snaps: snap_targets(studio, view, None),
        marker,
        grab,
    }));
}

pub(super) fn drag_marker(
    studio: &mut Studio,
    view: &mut TimelineView,
    pointer: Pos2,
    viewport: &Viewport,
) {
    let Some(Drag::Marker(mut drag)) = view.drag.take() else {
        return;
    };
    let mut frame = viewport.x_to_frame(pointer.x) - drag.grab;
    frame += snap(view, &drag.snaps, &[frame], viewport);
    let frame = frame.round().max(0.0) as i64;
    if frame != drag.applied_frame {
        let moved = Marker {
            frame,
            ..drag.marker.clone()
        };
        if studio.apply(&EditCommand::EditMarker { marker: moved }) {
            drag.applied_frame = frame;
        }
    }
    view.drag = Some(Drag::Marker(drag));
}

pub(super) fn start_clip_drag(
    studio: &mut Studio,
    view: &mut TimelineView,
    areas: &Areas,
    viewport: &Viewport,
    origin: Pos2,
) {
    let Some((t, zone, clip)) = clip_at(studio, view, areas, viewport, origin) else {
        return;
    };
    if studio.read_only() {
        // Say it once, rather than have every pointer move refused.
        studio
            .toasts
            .info("This project is open read-only; clips cannot be moved or trimmed");
        view.drag = Some(Drag::Cancelled);
        return;
    }
    let Some(doc) = studio.doc() else {
        return;
    };
    let track = &doc.timeline.tracks[t];
    if track.locked {
        let message = format!("Track '{}' is locked; unlock it to edit it", track.name);
        studio.toasts.info(message);
        view.drag = Some(Drag::Cancelled);
        return;
    }
    let Some(layout) = view.layout.tracks.get(t) else {
        return;
    };
    let Some(index) = track.index_of(clip) else {
        return;
    };
    let Some(Item::Clip(c)) = track.items.get(index) else {
        return;
    };
    let start = layout.start(index);
    let duration = c.duration_frames;
    let pressed = viewport.x_to_frame(origin.x);
    let drag = match zone {
        Zone::Body => Drag::Move(MoveDrag {
            clip,
            kind: track.kind,
            origin_track: track.id,
            origin_start: start,
            duration,
            grab: pressed - start as f64,
            target_track: track.id,
            applied: None,
            snaps: snap_targets(studio, view, Some((t, index))),
        }),
        Zone::Head | Zone::Tail => {
            let edge = if zone == Zone::Head {
                Edge::Head
            } else {
                Edge::Tail
            };
            let time_based = is_time_based(doc, &c.source);
            let neighbour_gap = |i: Option<usize>| match i.and_then(|i| track.items.get(i)) {
                Some(Item::Gap(g)) => g.duration_frames,
                Some(Item::Clip(_)) => 0,
                // Nothing after the tail: the track just gets longer.
                None if edge == Edge::Tail => UNLIMITED,
                None => 0,
            };
            let (origin_edge, grow_room, grow_room_ripple) = match edge {
                Edge::Tail => (start + duration, neighbour_gap(Some(index + 1)), UNLIMITED),
                Edge::Head => {
                    // A sound cannot start before its source does.
                    let source = if time_based {
                        c.source_in_frames
                    } else {
                        UNLIMITED
                    };
                    let before = neighbour_gap(index.checked_sub(1));
                    (start, before.min(source), source)
                }
            };
            Drag::Trim(TrimDrag {
                clip,
                edge,
                origin_edge,
                origin_duration: duration,
                grab: pressed - origin_edge as f64,
                shrink_room: duration - 1,
                grow_room,
                grow_room_ripple,
                ripple: false,
                snaps: snap_targets(studio, view, Some((t, index))),
            })
        }
    };
    if !studio.selection.clips.contains(&clip) {
        // Grabbing an unselected clip makes it the selection.
        studio.selection.clips.clear();
        studio.selection.clips.insert(clip);
    }
    studio.begin_gesture(if matches!(drag, Drag::Move(_)) {
        MOVE_LABEL
    } else {
        TRIM_LABEL
    });
    view.drag = Some(drag);
}

/// Mirrors the document's rule: sound and footage have their own time, stills do not.
fn is_time_based(doc: &Project, source: &ClipSource) -> bool {
    match source {
        ClipSource::Dialogue { .. } => true,
        ClipSource::Asset { asset } => doc.assets.get(asset).is_some_and(|a| {
            matches!(
                a.kind,
                previz_core::AssetKind::Audio | previz_core::AssetKind::Video
            )
        }),
        ClipSource::Shot { .. } | ClipSource::Take { .. } | ClipSource::Slug { .. } => false,
    }
}

/// Rewinds the open gesture to where the drag started and opens it again.
fn rewind(studio: &mut Studio, label: &str) {
    studio.cancel_gesture();
    studio.begin_gesture(label);
}

pub(super) fn drag_move(
    studio: &mut Studio,
    view: &mut TimelineView,
    areas: &Areas,
    viewport: &Viewport,
    pointer: Pos2,
    ripple: bool,
) {
    let Some(Drag::Move(mut drag)) = view.drag.take() else {
        return;
    };
    let mut start = viewport.x_to_frame(pointer.x) - drag.grab;
    start += snap(
        view,
        &drag.snaps,
        &[start, start + drag.duration as f64],
        viewport,
    );
    let start = start.round().max(0.0) as i64;
    if let Some(doc) = studio.doc()
        && let Some(t) = row_at(view, areas, pointer.y, doc.timeline.tracks.len())
        && let Some(track) = doc.timeline.tracks.get(t)
        && track.kind == drag.kind
        && !track.locked
    {
        drag.target_track = track.id;
    }
    let at_origin = drag.target_track == drag.origin_track && start == drag.origin_start;
    let want = (!at_origin).then_some((drag.target_track, start, ripple));
    if want == drag.applied {
        view.drag = Some(Drag::Move(drag));
        return;
    }
    if drag.applied.take().is_some() {
        rewind(studio, MOVE_LABEL);
    }
    if let Some((track, frame, ripple)) = want {
        let command = EditCommand::MoveClip {
            clip: drag.clip,
            track,
            frame,
            ripple,
        };
        if !studio.apply(&command) {
            // The studio said why in a toast; do not repeat it on every pointer move.
            studio.cancel_gesture();
            view.drag = Some(Drag::Cancelled);
            view.snap_line = None;
            return;
        }
        drag.applied = want;
    }
    view.drag = Some(Drag::Move(drag));
}

pub(super) fn drag_trim(
    studio: &mut Studio,
    view: &mut TimelineView,
    viewport: &Viewport,
    pointer: Pos2,
    ripple: bool,
) {
    let Some(Drag::Trim(mut drag)) = view.drag.take() else {
        return;
    };
    let mut edge = viewport.x_to_frame(pointer.x) - drag.grab;
    edge += snap(view, &drag.snaps, &[edge], viewport);
    let wanted = edge.round() as i64 - drag.origin_edge;
    let grow = if ripple {
        drag.grow_room_ripple
    } else {
        drag.grow_room
    };
    let delta = match drag.edge {
        Edge::Tail => wanted.clamp(-drag.shrink_room, grow),
        Edge::Head => wanted.clamp(-grow, drag.shrink_room),
    };
    if view.snap_line != Some(drag.origin_edge + delta) {
        view.snap_line = None;
    }
    // What the document shows now, read from the clip itself.
    let current = studio.doc().and_then(|doc| {
        let (t, i) = doc.timeline.find_item(drag.clip)?;
        doc.timeline.tracks[t]
            .items
            .get(i)
            .map(Item::duration_frames)
    });
    let Some(current) = current else {
        cancel_drag(studio, view);
        return;
    };
    let mut applied = match drag.edge {
        Edge::Tail => current - drag.origin_duration,
        Edge::Head => drag.origin_duration - current,
    };
    if ripple != drag.ripple && applied != 0 {
        // Alt changed mid-drag: redo the whole trim the other way.
        rewind(studio, TRIM_LABEL);
        applied = 0;
    }
    drag.ripple = ripple;
    if delta != applied {
        let command = EditCommand::TrimClip {
            clip: drag.clip,
            edge: drag.edge,
            delta_frames: delta - applied,
            ripple,
        };
        if !studio.apply(&command) {
            studio.cancel_gesture();
            view.drag = Some(Drag::Cancelled);
            view.snap_line = None;
            return;
        }
    }
    view.drag = Some(Drag::Trim(drag));
}

/// Ends the drag: its gesture becomes one undo step (none if it changed nothing).
pub(super) fn finish_drag(studio: &mut Studio, view: &mut TimelineView) {
    if let Some(drag) = view.drag.take()
        && drag.has_gesture()
    {
        studio.end_gesture();
    }
    view.snap_line = None;
}

/// Escape: puts everything the drag changed back.
pub(super) fn cancel_drag(studio: &mut Studio, view: &mut TimelineView) {
    if let Some(drag) = view.drag.take() {
        if drag.has_gesture() {
            studio.cancel_gesture();
        }
        view.drag = Some(Drag::Cancelled);
    }
    view.snap_line = None;
}
