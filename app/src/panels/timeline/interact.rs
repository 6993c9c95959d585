//! What the user does in the timeline (keys, wheel, ruler, clicks, scrollbars), turned into
//! view changes and `EditCommand`s; drags are in `drag`, the track headers in `headers`.

use egui::{Key, Pos2, Rect, Sense, pos2};
use previz_core::{ClipSource, EditCommand, ItemId, Marker, MarkerColor, MarkerId, Project};

use super::drag::{
    Drag, cancel_drag, drag_marker, drag_move, drag_trim, finish_drag, start_clip_drag,
    start_marker_drag,
};
use super::geometry::{Viewport, Zone, hit_test};
use super::{Areas, EDGE_POINTS, MAX_POINTS_PER_FRAME, TimelineView, row_at};
use crate::studio::Studio;

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
        match pressed_marker.clone() {
            Some(marker) => {
                let grab = origin.map_or(0.0, |o| viewport.x_to_frame(o.x) - marker.frame as f64);
                start_marker_drag(studio, view, marker, grab);
            }
            None => view.drag = Some(Drag::Scrub),
        }
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
pub(super) fn clip_at(
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
