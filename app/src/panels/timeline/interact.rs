//! What the user does in the timeline, turned into view changes and `EditCommand`s.
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

use egui::{Key, Pos2, Rect, Sense, pos2, vec2};
use previz_core::{
    ClipSource, Edge, EditCommand, Item, ItemId, Marker, MarkerColor, MarkerId, Project, TrackId,
    TrackKind,
};

use super::geometry::{SnapTargets, Viewport, Zone, hit_test};
use super::{
    Areas, EDGE_POINTS, MAX_POINTS_PER_FRAME, SNAP_POINTS, TimelineView, row_at, visible_rows,
};
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

/// A track name being edited in its header.
#[derive(Debug)]
pub(super) struct Renaming {
    track: TrackId,
    text: String,
    focused: bool,
}

/// The row of buttons above the ruler.
pub(super) fn toolbar_ui(ui: &mut egui::Ui, studio: &mut Studio, view: &mut TimelineView) {
    ui.horizontal(|ui| {
        if ui
            .add(egui::Button::selectable(view.snapping, "Snap"))
            .on_hover_text("Snap dragged edges to clip edges, markers and the playhead (N)")
            .clicked()
        {
            view.snapping = !view.snapping;
        }
        if ui
            .add(egui::Button::selectable(view.follow_playhead, "Follow"))
            .on_hover_text("Page the view along with the playhead while playing")
            .clicked()
        {
            view.follow_playhead = !view.follow_playhead;
        }
        ui.separator();
        if ui
            .button("Fit")
            .on_hover_text("Show the whole edit (\\)")
            .clicked()
        {
            fit(view);
        }
        if ui
            .button("Zoom out")
            .on_hover_text("Zoom out (-)")
            .clicked()
        {
            zoom_at_playhead(studio, view, 0.5);
        }
        if ui.button("Zoom in").on_hover_text("Zoom in (=)").clicked() {
            zoom_at_playhead(studio, view, 2.0);
        }
        ui.separator();
        if let Some(doc) = studio.doc() {
            let tl = &doc.timeline;
            let drop = tl.rate.is_ntsc_drop_candidate();
            ui.monospace(
                tl.time(studio.transport.playhead + tl.start_frame)
                    .to_timecode(drop),
            )
            .on_hover_text("Playhead");
            ui.label(format!(
                "{} clips on {} tracks",
                view.layout
                    .tracks
                    .iter()
                    .map(|t| t.clips_in(0..t.len()))
                    .sum::<usize>(),
                tl.tracks.len()
            ));
        }
    });
}

fn fit(view: &mut TimelineView) {
    let frames = (view.layout.duration as f64 * 1.02).max(48.0);
    view.show_frames(0.0, frames);
}

fn zoom_at_playhead(studio: &Studio, view: &mut TimelineView, factor: f64) {
    let Some(areas) = view.areas else {
        return;
    };
    let viewport = view.viewport_in(&areas);
    let playhead_x = viewport.frame_to_x(studio.transport.playhead as f64);
    let x = if areas.lanes.x_range().contains(playhead_x) {
        playhead_x
    } else {
        areas.lanes.center().x
    };
    let min = view.min_points_per_frame(areas.lanes.width());
    view.set_viewport(&viewport.zoomed_around(x, factor, min, MAX_POINTS_PER_FRAME));
}

/// Keyboard: M adds a marker at the playhead, N toggles snapping, Escape abandons a drag,
/// = and - zoom, \ fits the edit. (Split, delete and undo are the window's shortcuts.)
pub(super) fn keys(ui: &egui::Ui, studio: &mut Studio, view: &mut TimelineView) {
    if ui.input(|i| i.key_pressed(Key::Escape)) && view.drag.is_some() {
        cancel_drag(studio, view);
    }
    if ui.ctx().egui_wants_keyboard_input() {
        return;
    }
    let pressed = |key: Key| ui.input(|i| i.key_pressed(key) && i.modifiers.is_none());
    if pressed(Key::M) {
        let at = studio.transport.playhead;
        add_marker(studio, at);
    }
    if pressed(Key::N) {
        view.snapping = !view.snapping;
    }
    if pressed(Key::Equals) || pressed(Key::Plus) {
        zoom_at_playhead(studio, view, 2.0);
    }
    if pressed(Key::Minus) {
        zoom_at_playhead(studio, view, 0.5);
    }
    if pressed(Key::Backslash) {
        fit(view);
    }
}

/// Ctrl + wheel zooms around the pointer; the wheel (and shift + wheel) scrolls the lanes
/// sideways; over the track headers the wheel scrolls the tracks up and down.
pub(super) fn wheel(ui: &egui::Ui, view: &mut TimelineView, areas: &Areas) {
    let Some(pointer) = ui.input(|i| i.pointer.hover_pos()) else {
        return;
    };
    if !ui.rect_contains_pointer(areas.all()) {
        return;
    }
    let (zoom, scroll) = ui.input(|i| (i.zoom_delta(), i.smooth_scroll_delta()));
    let viewport = view.viewport_in(areas);
    if (zoom - 1.0).abs() > f32::EPSILON {
        let x = pointer.x.clamp(areas.lanes.left(), areas.lanes.right());
        let min = view.min_points_per_frame(areas.lanes.width());
        view.set_viewport(&viewport.zoomed_around(x, f64::from(zoom), min, MAX_POINTS_PER_FRAME));
    }
    if scroll != egui::Vec2::ZERO {
        if areas.headers.contains(pointer) || areas.vscroll.contains(pointer) {
            view.scroll_y -= scroll.y;
        } else {
            let points = scroll.x + scroll.y;
            view.scroll_frame -= (f64::from(points) / viewport.points_per_frame) as f32;
        }
        ui.ctx()
            .input_mut(|i| i.smooth_scroll_delta = egui::Vec2::ZERO);
    }
}

/// Adds a marker at `frame` (M, or double-clicking the ruler).
fn add_marker(studio: &mut Studio, frame: i64) {
    let Some(doc) = studio.doc() else {
        return;
    };
    let marker = Marker {
        id: MarkerId::new(),
        frame: frame.max(0),
        duration_frames: 0,
        name: format!("Marker {}", doc.timeline.markers.len() + 1),
        color: MarkerColor::default(),
        note: String::new(),
    };
    studio.apply(&EditCommand::AddMarker { marker });
}

/// The marker whose flag is under screen `x`, if any.
fn marker_at(doc: &Project, viewport: &Viewport, x: f32) -> Option<Marker> {
    doc.timeline
        .markers
        .iter()
        .filter_map(|m| {
            let mx = viewport.frame_to_x(m.frame as f64);
            // The flag hangs to the right of its line.
            let d = x - mx;
            (-4.0..=super::draw::FLAG_WIDTH + 2.0)
                .contains(&d)
                .then_some((d.abs(), m))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, m)| m.clone())
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

/// The ruler: press or drag to scrub, drag a marker's flag to move it, double-click to add a
/// marker, right-click a marker to rename, recolour or delete it.
pub(super) fn ruler(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    view: &mut TimelineView,
    areas: &Areas,
) {
    let id = ui.scope_id().with("timeline.ruler");
    let response = ui.interact(areas.ruler, id, Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Slider, true, "Timeline ruler"));
    let viewport = view.viewport_in(areas);
    let now = ui.input(|i| i.time);
    let (pointer, origin, primary_down) = ui.input(|i| {
        (
            i.pointer.interact_pos(),
            i.pointer.press_origin(),
            i.pointer.primary_down(),
        )
    });
    let pressed_marker =
        origin.and_then(|o| studio.doc().and_then(|doc| marker_at(doc, &viewport, o.x)));

    if response.drag_started_by(egui::PointerButton::Primary) {
        view.drag = Some(match pressed_marker.clone() {
            Some(marker) => {
                studio.begin_gesture(MARKER_LABEL);
                let grab = origin.map_or(0.0, |o| viewport.x_to_frame(o.x) - marker.frame as f64);
                Drag::Marker(MarkerDrag {
                    applied_frame: marker.frame,
                    snaps: snap_targets(studio, view, None),
                    marker,
                    grab,
                })
            }
            None => Drag::Scrub,
        });
    }
    let scrubbing = matches!(view.drag, None | Some(Drag::Scrub));
    if primary_down && response.is_pointer_button_down_on() && scrubbing {
        let frame = match &pressed_marker {
            Some(m) => m.frame,
            None => pointer.map_or(studio.transport.playhead, |p| {
                viewport.x_to_frame(p.x).round().max(0.0) as i64
            }),
        };
        if frame != studio.transport.playhead {
            studio.transport.seek(frame, now);
        }
    }
    if let (Some(Drag::Marker(_)), Some(p)) = (&view.drag, pointer)
        && response.dragged()
    {
        drag_marker(studio, view, p, &viewport);
    }
    if response.drag_stopped() {
        finish_drag(studio, view);
    }
    if response.double_clicked() {
        let at = studio.transport.playhead;
        add_marker(studio, at);
    }
    if response.secondary_clicked() {
        view.menu_marker = pointer.and_then(|p| {
            studio
                .doc()
                .and_then(|doc| marker_at(doc, &viewport, p.x))
                .map(|m| m.id)
        });
        view.marker_name = view
            .menu_marker
            .and_then(|id| studio.doc().and_then(|d| marker(d, id)))
            .map(|m| m.name)
            .unwrap_or_default();
    }
    response.context_menu(|ui| ruler_menu(ui, studio, view));
}

fn marker(doc: &Project, id: MarkerId) -> Option<Marker> {
    doc.timeline.markers.iter().find(|m| m.id == id).cloned()
}

fn ruler_menu(ui: &mut egui::Ui, studio: &mut Studio, view: &mut TimelineView) {
    let Some(m) = view
        .menu_marker
        .and_then(|id| studio.doc().and_then(|d| marker(d, id)))
    else {
        if ui.button("Add marker at playhead  (M)").clicked() {
            let at = studio.transport.playhead;
            add_marker(studio, at);
            ui.close();
        }
        if ui.button("Clear in / out").clicked() {
            studio.transport.clear_marks();
            ui.close();
        }
        return;
    };
    let edit = ui.add(
        egui::TextEdit::singleline(&mut view.marker_name)
            .hint_text("Marker name")
            .desired_width(160.0),
    );
    let commit = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
    if (commit || ui.button("Rename").clicked()) && view.marker_name != m.name {
        let renamed = Marker {
            name: view.marker_name.clone(),
            ..m.clone()
        };
        studio.apply(&EditCommand::EditMarker { marker: renamed });
        ui.close();
    }
    ui.menu_button("Colour", |ui| {
        for color in MARKER_COLORS {
            if ui
                .add(egui::Button::selectable(
                    m.color == color,
                    marker_color_name(color),
                ))
                .clicked()
            {
                let recoloured = Marker { color, ..m.clone() };
                studio.apply(&EditCommand::EditMarker { marker: recoloured });
                ui.close();
            }
        }
    });
    if ui.button("Delete marker").clicked() {
        studio.apply(&EditCommand::RemoveMarker { marker: m.id });
        view.menu_marker = None;
        ui.close();
    }
}

pub(super) const MARKER_COLORS: [MarkerColor; 11] = [
    MarkerColor::Red,
    MarkerColor::Orange,
    MarkerColor::Yellow,
    MarkerColor::Green,
    MarkerColor::Cyan,
    MarkerColor::Blue,
    MarkerColor::Purple,
    MarkerColor::Magenta,
    MarkerColor::Pink,
    MarkerColor::White,
    MarkerColor::Black,
];

fn marker_color_name(color: MarkerColor) -> &'static str {
    match color {
        MarkerColor::Red => "Red",
        MarkerColor::Orange => "Orange",
        MarkerColor::Yellow => "Yellow",
        MarkerColor::Green => "Green",
        MarkerColor::Cyan => "Cyan",
        MarkerColor::Blue => "Blue",
        MarkerColor::Purple => "Purple",
        MarkerColor::Magenta => "Magenta",
        MarkerColor::Pink => "Pink",
        MarkerColor::White => "White",
        MarkerColor::Black => "Black",
    }
}

fn drag_marker(studio: &mut Studio, view: &mut TimelineView, pointer: Pos2, viewport: &Viewport) {
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

/// The tracks: click selects (shift or ctrl adds), dragging a clip's body moves it (alt:
/// ripple), dragging an edge trims it (alt: ripple).
pub(super) fn lanes(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    view: &mut TimelineView,
    areas: &Areas,
) {
    let id = ui.scope_id().with("timeline.lanes");
    let response = ui.interact(areas.lanes, id, Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Grid, true, "Timeline tracks"));
    let viewport = view.viewport_in(areas);
    let (pointer, origin, modifiers) = ui.input(|i| {
        (
            i.pointer.interact_pos(),
            i.pointer.press_origin(),
            i.modifiers,
        )
    });

    if response.drag_started_by(egui::PointerButton::Primary)
        && let Some(origin) = origin
    {
        start_clip_drag(studio, view, areas, &viewport, origin);
    }
    if response.dragged()
        && let Some(p) = pointer
    {
        match &view.drag {
            Some(Drag::Move(_)) => drag_move(studio, view, areas, &viewport, p, modifiers.alt),
            Some(Drag::Trim(_)) => drag_trim(studio, view, &viewport, p, modifiers.alt),
            _ => {}
        }
    }
    if response.drag_stopped() {
        finish_drag(studio, view);
    }
    // A drag the panel lost sight of (hidden mid-drag) still ends when the button is up.
    if view.drag.is_some() && !ui.input(|i| i.pointer.any_down()) && !response.drag_stopped() {
        finish_drag(studio, view);
    }
    cursor_ui(ui, studio, view, areas, &viewport, response.hovered());
    if response.clicked()
        && let Some(p) = pointer
    {
        let add = modifiers.shift || modifiers.command;
        let hit = clip_at(studio, view, areas, &viewport, p).map(|(_, _, clip)| clip);
        select(studio, hit, add);
    }
}

/// The pointer says what a press would do: resize at an edge, grab on a body.
fn cursor_ui(
    ui: &egui::Ui,
    studio: &Studio,
    view: &TimelineView,
    areas: &Areas,
    viewport: &Viewport,
    hovered: bool,
) {
    let icon = match &view.drag {
        Some(Drag::Move(_)) => Some(egui::CursorIcon::Grabbing),
        Some(Drag::Trim(_)) => Some(egui::CursorIcon::ResizeHorizontal),
        Some(_) => None,
        None if hovered => ui
            .input(|i| i.pointer.hover_pos())
            .and_then(|p| clip_at(studio, view, areas, viewport, p))
            .map(|(_, zone, _)| match zone {
                Zone::Head | Zone::Tail => egui::CursorIcon::ResizeHorizontal,
                Zone::Body => egui::CursorIcon::Grab,
            }),
        None => None,
    };
    if let Some(icon) = icon {
        ui.ctx().set_cursor_icon(icon);
    }
}

/// The clip under a screen position: (track index, zone, clip id).
fn clip_at(
    studio: &Studio,
    view: &TimelineView,
    areas: &Areas,
    viewport: &Viewport,
    p: Pos2,
) -> Option<(usize, Zone, ItemId)> {
    let doc = studio.doc()?;
    let t = row_at(view, areas, p.y, doc.timeline.tracks.len())?;
    let track = doc.timeline.tracks.get(t)?;
    let layout = view.layout.tracks.get(t)?;
    let (index, zone) = hit_test(track, layout, viewport, p.x, EDGE_POINTS)?;
    Some((t, zone, track.items.get(index)?.id()))
}

fn select(studio: &mut Studio, clip: Option<ItemId>, add: bool) {
    match clip {
        Some(id) if add => toggle(&mut studio.selection.clips, id),
        Some(id) => {
            studio.selection.clips.clear();
            studio.selection.clips.insert(id);
            // A storyboard clip selects its shot in the other panels too.
            let shot = studio.doc().and_then(|doc| {
                let (t, i) = doc.timeline.find_item(id)?;
                match &doc.timeline.tracks[t].items.get(i)?.as_clip()?.source {
                    ClipSource::Shot { shot } | ClipSource::Take { shot, .. } => Some(*shot),
                    _ => None,
                }
            });
            if let Some(shot) = shot {
                studio.select_shot(shot);
            }
        }
        None if !add => studio.selection.clips.clear(),
        None => {}
    }
}

fn toggle(set: &mut std::collections::BTreeSet<ItemId>, id: ItemId) {
    if !set.remove(&id) {
        set.insert(id);
    }
}

fn start_clip_drag(
    studio: &mut Studio,
    view: &mut TimelineView,
    areas: &Areas,
    viewport: &Viewport,
    origin: Pos2,
) {
    let Some((t, zone, clip)) = clip_at(studio, view, areas, viewport, origin) else {
        return;
    };
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

fn drag_move(
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

fn drag_trim(
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

/// The scrollbars under and beside the lanes: drag the thumb, or click the trough to page.
pub(super) fn scrollbars(ui: &mut egui::Ui, view: &mut TimelineView, areas: &Areas, tracks: usize) {
    let viewport = view.viewport_in(areas);
    let (total, thumb) = hscroll_thumb(view, areas, &viewport);
    let response = ui.interact(
        areas.hscroll,
        ui.scope_id().with("timeline.hscroll"),
        Sense::click_and_drag(),
    );
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::ScrollBar, true, "Scroll the timeline")
    });
    let frames_per_point = total / f64::from(areas.hscroll.width().max(1.0));
    if let Some(p) = ui.input(|i| i.pointer.interact_pos()) {
        if response.drag_started() {
            let grab = if thumb.x_range().contains(p.x) {
                f64::from(p.x - areas.hscroll.left()) * frames_per_point
                    - f64::from(view.scroll_frame)
            } else {
                viewport.frames_shown() / 2.0
            };
            view.drag = Some(Drag::HScroll { grab });
        }
        if let Some(Drag::HScroll { grab }) = view.drag
            && response.dragged()
        {
            view.scroll_frame =
                (f64::from(p.x - areas.hscroll.left()) * frames_per_point - grab) as f32;
        }
        if response.clicked() {
            let frame = f64::from(p.x - areas.hscroll.left()) * frames_per_point;
            view.scroll_frame = (frame - viewport.frames_shown() / 2.0) as f32;
        }
    }
    if response.drag_stopped() {
        view.drag = None;
    }

    let content = tracks as f32 * view.track_height;
    let response = ui.interact(
        areas.vscroll,
        ui.scope_id().with("timeline.vscroll"),
        Sense::click_and_drag(),
    );
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::ScrollBar, true, "Scroll the tracks")
    });
    if content > areas.lanes.height()
        && let Some(p) = ui.input(|i| i.pointer.interact_pos())
    {
        let points_per_point = content / areas.vscroll.height().max(1.0);
        if response.drag_started() {
            view.drag = Some(Drag::VScroll {
                grab: (p.y - areas.vscroll.top()) * points_per_point - view.scroll_y,
            });
        }
        if let Some(Drag::VScroll { grab }) = view.drag
            && response.dragged()
        {
            view.scroll_y = (p.y - areas.vscroll.top()) * points_per_point - grab;
        }
    }
    if response.drag_stopped() {
        view.drag = None;
    }
}

/// The horizontal scrollbar's range (frames) and thumb rectangle.
pub(super) fn hscroll_thumb(
    view: &TimelineView,
    areas: &Areas,
    viewport: &Viewport,
) -> (f64, Rect) {
    let shown = viewport.frames_shown();
    let total = (view.layout.duration as f64).max(viewport.scroll_frame + shown) + shown * 0.1;
    let bar = areas.hscroll;
    let per_frame = f64::from(bar.width()) / total.max(1.0);
    let x0 = bar.left() + (viewport.scroll_frame * per_frame) as f32;
    let x1 = (x0 + (shown * per_frame) as f32)
        .max(x0 + 12.0)
        .min(bar.right());
    (
        total,
        Rect::from_min_max(pos2(x0, bar.top() + 2.0), pos2(x1, bar.bottom() - 2.0)),
    )
}

/// While playing, the view pages along so the playhead stays in sight.
pub(super) fn follow_playhead(studio: &Studio, view: &mut TimelineView, areas: &Areas) {
    if !view.follow_playhead || !studio.transport.is_playing() || view.drag.is_some() {
        return;
    }
    let viewport = view.viewport_in(areas);
    let playhead = studio.transport.playhead as f64;
    let x = viewport.frame_to_x(playhead);
    let shown = viewport.frames_shown();
    if studio.transport.speed > 0.0 && (x > areas.lanes.right() - 8.0 || x < areas.lanes.left()) {
        view.scroll_frame = (playhead - shown * 0.05) as f32;
    } else if studio.transport.speed < 0.0
        && (x < areas.lanes.left() + 8.0 || x > areas.lanes.right())
    {
        view.scroll_frame = (playhead - shown * 0.95) as f32;
    }
}

/// The track headers: name (double-click to rename), kind, mute and lock toggles.
pub(super) fn headers(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    view: &mut TimelineView,
    areas: &Areas,
) {
    let Some(doc) = studio.doc() else {
        return;
    };
    let mut header_ui = ui.new_child(egui::UiBuilder::new().max_rect(areas.headers));
    header_ui.set_clip_rect(areas.headers.intersect(ui.clip_rect()));
    let visuals = ui.visuals().clone();
    let mut commands = Vec::new();
    let mut stop_renaming = false;
    let escape = ui.input(|i| i.key_pressed(Key::Escape));
    for (i, lane) in visible_rows(view, areas, doc.timeline.tracks.len()) {
        let Some(track) = doc.timeline.tracks.get(i) else {
            continue;
        };
        let row = Rect::from_min_max(
            pos2(areas.headers.left(), lane.top()),
            pos2(areas.headers.right(), lane.bottom()),
        );
        let painter = header_ui.painter().clone();
        painter.rect_filled(row.shrink2(vec2(0.0, 1.0)), 0.0, visuals.faint_bg_color);
        painter.hline(
            row.x_range(),
            row.bottom() - 0.5,
            visuals.widgets.noninteractive.bg_stroke,
        );
        let stripe = Rect::from_min_size(row.min + vec2(0.0, 1.0), vec2(3.0, row.height() - 2.0));
        painter.rect_filled(stripe, 0.0, super::draw::track_color(track.kind));
        let buttons_left = row.right() - 52.0;
        let name_rect = Rect::from_min_max(
            row.min + vec2(8.0, 4.0),
            pos2(buttons_left - 4.0, row.top() + 22.0),
        );
        match &mut view.renaming {
            Some(r) if r.track == track.id => {
                let edit = header_ui.put(
                    name_rect,
                    egui::TextEdit::singleline(&mut r.text).hint_text("Track name"),
                );
                if !r.focused {
                    edit.request_focus();
                    r.focused = true;
                }
                if edit.lost_focus() {
                    let name = r.text.trim();
                    if !escape && !name.is_empty() && name != track.name {
                        commands.push(EditCommand::RenameTrack {
                            track: track.id,
                            name: name.to_owned(),
                        });
                    }
                    stop_renaming = true;
                }
            }
            _ => {
                let response = header_ui.interact(
                    name_rect,
                    header_ui.scope_id().with(("track.name", track.id)),
                    Sense::click(),
                );
                response.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Label, true, &track.name)
                });
                let response = response.on_hover_text("Double-click to rename");
                let galley = painter.layout_no_wrap(
                    track.name.clone(),
                    egui::FontId::proportional(13.0),
                    visuals.strong_text_color(),
                );
                header_ui
                    .painter()
                    .with_clip_rect(name_rect.intersect(header_ui.clip_rect()))
                    .galley(
                        name_rect.left_center() - vec2(0.0, galley.size().y / 2.0),
                        galley,
                        visuals.text_color(),
                    );
                if response.double_clicked() {
                    view.renaming = Some(Renaming {
                        track: track.id,
                        text: track.name.clone(),
                        focused: false,
                    });
                }
            }
        }
        let kind = match track.kind {
            TrackKind::Video => "Video",
            TrackKind::Audio => "Audio",
        };
        let mut status = kind.to_owned();
        if track.locked {
            status.push_str(" · locked");
        }
        if track.muted {
            status.push_str(" · muted");
        }
        header_ui.painter().text(
            pos2(row.left() + 8.0, row.top() + 26.0),
            egui::Align2::LEFT_TOP,
            status,
            egui::FontId::proportional(10.5),
            visuals.weak_text_color(),
        );
        let button = |x: f32| Rect::from_min_size(pos2(x, row.top() + 4.0), vec2(22.0, 18.0));
        let mute = header_ui
            .put(
                button(buttons_left),
                egui::Button::selectable(track.muted, "M"),
            )
            .on_hover_text(if track.muted { "Unmute" } else { "Mute" });
        if mute.clicked() {
            commands.push(EditCommand::SetTrackFlags {
                track: track.id,
                muted: !track.muted,
                locked: track.locked,
            });
        }
        let lock = header_ui
            .put(
                button(buttons_left + 25.0),
                egui::Button::selectable(track.locked, "L"),
            )
            .on_hover_text(if track.locked {
                "Unlock"
            } else {
                "Lock: no edits on this track"
            });
        if lock.clicked() {
            commands.push(EditCommand::SetTrackFlags {
                track: track.id,
                muted: track.muted,
                locked: !track.locked,
            });
        }
    }
    if stop_renaming {
        view.renaming = None;
    }
    if view
        .renaming
        .as_ref()
        .is_some_and(|r| track_index(studio, r.track).is_none())
    {
        view.renaming = None;
    }
    for command in commands {
        studio.apply(&command);
    }
}

fn track_index(studio: &Studio, track: TrackId) -> Option<usize> {
    studio.doc()?.timeline.track_index(track)
}
