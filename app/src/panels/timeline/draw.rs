//! Painting the timeline: lanes and clips (thumbnails, waveforms, clean placeholders), the
//! timecode ruler with in / out and markers, the playhead, the snap line and the scrollbars.
//!
//! Only what is in view is visited: rows by the vertical scroll, items by binary search of the
//! cached prefix sums, and a run of items narrower than [`DENSE_POINTS`] is one rectangle.

use egui::{Color32, FontId, Painter, Rect, Stroke, StrokeKind, pos2, vec2};
use previz_core::{Clip, ClipSource, ContentHash, Item, MarkerColor, Project, Track, TrackKind};
use previz_jobs::JobQueue;
use previz_storage::AssetStore;

use super::geometry::{TrackLayout, Viewport, ruler_step, ticks};
use super::layout::{Layout, MediaMemo};
use super::{Areas, DENSE_POINTS, TimelineView, interact, visible_rows};
use crate::media::{Media, Peaks};
use crate::studio::{Selection, Studio};

/// Width of a marker's flag on the ruler.
pub(super) const FLAG_WIDTH: f32 = 9.0;
/// The top of the ruler where markers' flags and names go.
const MARKER_BAND: f32 = 12.0;
/// Height of the strip with a clip's name.
const NAME_HEIGHT: f32 = 14.0;
const PLAYHEAD: Color32 = Color32::from_rgb(232, 64, 64);
const SNAP: Color32 = Color32::from_rgb(250, 210, 70);

/// The colour that says picture or sound (header stripes, dense runs).
pub(super) fn track_color(kind: TrackKind) -> Color32 {
    match kind {
        TrackKind::Video => Color32::from_rgb(66, 98, 150),
        TrackKind::Audio => Color32::from_rgb(54, 122, 88),
    }
}

fn clip_color(source: &ClipSource, kind: TrackKind) -> Color32 {
    match source {
        ClipSource::Shot { .. } | ClipSource::Take { .. } => Color32::from_rgb(66, 98, 150),
        ClipSource::Slug { .. } => Color32::from_rgb(100, 88, 128),
        ClipSource::Dialogue { .. } => Color32::from_rgb(54, 122, 88),
        ClipSource::Asset { .. } => match kind {
            TrackKind::Video => Color32::from_rgb(74, 104, 160),
            TrackKind::Audio => Color32::from_rgb(44, 112, 124),
        },
    }
}

pub(super) fn marker_color(color: MarkerColor) -> Color32 {
    match color {
        MarkerColor::Red => Color32::from_rgb(226, 72, 72),
        MarkerColor::Orange => Color32::from_rgb(236, 140, 52),
        MarkerColor::Yellow => Color32::from_rgb(232, 208, 64),
        MarkerColor::Green => Color32::from_rgb(84, 190, 96),
        MarkerColor::Cyan => Color32::from_rgb(72, 200, 214),
        MarkerColor::Blue => Color32::from_rgb(80, 128, 232),
        MarkerColor::Purple => Color32::from_rgb(150, 100, 220),
        MarkerColor::Magenta => Color32::from_rgb(214, 80, 200),
        MarkerColor::Pink => Color32::from_rgb(240, 150, 190),
        MarkerColor::White => Color32::from_rgb(236, 236, 236),
        MarkerColor::Black => Color32::from_rgb(30, 30, 30),
    }
}

/// What every clip of a frame is drawn with.
struct Scene<'a> {
    ctx: &'a egui::Context,
    doc: &'a Project,
    memo: &'a mut MediaMemo,
    viewport: Viewport,
    lanes: Rect,
    selection: &'a Selection,
    media: &'a mut Media,
    jobs: &'a JobQueue,
    store: &'a AssetStore,
    visuals: &'a egui::Visuals,
    /// Width over height of the project's frames, for placeholders.
    aspect: f32,
}

/// Paints the whole panel but the track headers (which are widgets).
pub(super) fn timeline(ui: &egui::Ui, studio: &mut Studio, view: &mut TimelineView, areas: &Areas) {
    let Studio {
        project,
        media,
        jobs,
        selection,
        transport,
        ..
    } = studio;
    let Some(open) = project.as_ref() else {
        return;
    };
    let doc = open.session.project();
    let store = open.session.assets();
    let viewport = view.viewport_in(areas);
    let visuals = ui.visuals();
    let painter = ui.painter_at(areas.all());
    painter.rect_filled(areas.all(), 0.0, visuals.extreme_bg_color);
    painter.rect_filled(areas.corner, 0.0, visuals.faint_bg_color);

    let lane_painter = ui.painter_at(areas.lanes);
    let rows = visible_rows(view, areas, doc.timeline.tracks.len());
    let Layout {
        tracks: layouts,
        media: memo,
        duration,
        ..
    } = &mut view.layout;
    let duration = *duration;
    let mut scene = Scene {
        ctx: ui.ctx(),
        doc,
        memo,
        viewport,
        lanes: areas.lanes,
        selection,
        media,
        jobs,
        store: &store,
        visuals,
        aspect: doc.settings.aspect_ratio().clamp(0.2, 5.0) as f32,
    };
    let mut visible = 0;
    for (i, row) in rows {
        let (Some(track), Some(layout)) = (doc.timeline.tracks.get(i), layouts.get(i)) else {
            continue;
        };
        let bg = if i % 2 == 0 {
            visuals.extreme_bg_color
        } else {
            visuals.faint_bg_color.gamma_multiply(0.6)
        };
        lane_painter.rect_filled(row.shrink2(vec2(0.0, 0.5)), 0.0, bg);
        visible += track_ui(&lane_painter, &mut scene, track, layout, row);
    }
    view.visible_clips = visible;

    in_out_ui(
        &painter,
        &lane_painter,
        transport,
        &viewport,
        areas,
        duration,
        visuals,
    );
    ruler_ui(&painter, doc, &viewport, areas, visuals);
    markers_ui(&painter, &lane_painter, doc, &viewport, areas);
    if let (Some(frame), true) = (view.snap_line, view.is_dragging()) {
        let x = viewport.frame_to_x(frame as f64);
        painter.vline(
            x,
            areas.ruler.top()..=areas.lanes.bottom(),
            Stroke::new(1.0, SNAP),
        );
    }
    playhead_ui(&painter, transport.playhead, &viewport, areas);
    scrollbars_ui(
        &painter,
        view,
        &viewport,
        areas,
        doc.timeline.tracks.len(),
        visuals,
    );
}

/// One track's items in view; returns how many clips are in the visible range.
fn track_ui(
    painter: &Painter,
    scene: &mut Scene<'_>,
    track: &Track,
    layout: &TrackLayout,
    row: Rect,
) -> usize {
    if !layout.matches(track) {
        return 0;
    }
    let viewport = scene.viewport;
    let (first, end) = viewport.visible_frames();
    let range = layout.overlapping(first as f64, end as f64);
    let visible = layout.clips_in(range.clone());
    let body = row.shrink2(vec2(0.0, 2.0));
    let dense_color = track_color(track.kind).gamma_multiply(0.85);
    let mut dense: Option<(f32, f32)> = None;
    let flush = |dense: &mut Option<(f32, f32)>| {
        if let Some((x0, x1)) = dense.take() {
            let r = Rect::from_x_y_ranges(x0..=x1.max(x0 + 1.0), body.y_range());
            painter.rect_filled(r, 1.0, dense_color);
        }
    };
    let mut i = range.start;
    while i < range.end {
        let (start, stop) = (layout.start(i), layout.start(i + 1));
        let x0 = viewport.frame_to_x(start as f64);
        let x1 = viewport.frame_to_x(stop as f64);
        if x1 - x0 < DENSE_POINTS {
            // Everything starting within the next point and a half is one bar of cuts: jump
            // over it by binary search rather than visit each item.
            let until = viewport.x_to_frame(x0 + DENSE_POINTS);
            let next = layout
                .first_starting_from(until)
                .saturating_sub(1)
                .max(i + 1)
                .min(range.end);
            let x_end = viewport.frame_to_x(layout.start(next) as f64);
            dense = Some(match dense {
                Some((a, b)) if x0 <= b + 0.5 => (a, x_end.max(b)),
                Some(_) => {
                    flush(&mut dense);
                    (x0, x_end)
                }
                None => (x0, x_end),
            });
            i = next;
            continue;
        }
        flush(&mut dense);
        if let Some(Item::Clip(clip)) = track.items.get(i) {
            clip_ui(painter, scene, track, clip, body, x0, x1);
        }
        i += 1;
    }
    flush(&mut dense);
    visible
}

fn clip_ui(
    painter: &Painter,
    scene: &mut Scene<'_>,
    track: &Track,
    clip: &Clip,
    body: Rect,
    x0: f32,
    x1: f32,
) {
    let lanes = scene.lanes;
    // Off-screen ends are cut a little outside the lanes so huge coordinates never reach the
    // tessellator.
    let rect = Rect::from_x_y_ranges(
        x0.max(lanes.left() - 4.0)..=x1.min(lanes.right() + 4.0),
        body.y_range(),
    );
    let selected = scene.selection.clips.contains(&clip.id);
    let mut fill = clip_color(&clip.source, track.kind);
    if track.muted || track.locked {
        fill = fill.gamma_multiply(0.55);
    }
    if selected {
        fill = fill.lerp_to_gamma(Color32::WHITE, 0.2);
    }
    painter.rect_filled(rect, 3.0, fill);
    painter.rect_stroke(
        rect,
        3.0,
        Stroke::new(1.0, fill.lerp_to_gamma(Color32::BLACK, 0.45)),
        StrokeKind::Inside,
    );
    let width = x1 - x0;
    let inner = rect.intersect(lanes).shrink(2.0);
    let content = Rect::from_min_max(
        pos2(rect.left() + 3.0, rect.top() + NAME_HEIGHT + 1.0),
        pos2(rect.right() - 3.0, rect.bottom() - 3.0),
    );
    if width >= 10.0 && content.height() >= 6.0 && inner.is_positive() {
        let clipped = painter.with_clip_rect(inner);
        if let Some(hash) = scene.memo.picture(scene.doc, &clip.source) {
            if width >= 20.0 {
                picture_ui(&clipped, scene, hash, content);
            }
        } else if matches!(
            clip.source,
            ClipSource::Shot { .. } | ClipSource::Take { .. }
        ) {
            if width >= 20.0 {
                placeholder_ui(&clipped, scene, content);
            }
        } else if let Some(hash) = scene.memo.sound(scene.doc, &clip.source) {
            match scene.media.peaks(scene.store, hash, scene.jobs) {
                Some(peaks) => waveform_ui(&clipped, scene, clip, x0, content, &peaks),
                None => flat_line(&clipped, content, fill),
            }
        } else if track.kind == TrackKind::Audio {
            flat_line(&clipped, content, fill);
        }
    }
    if width >= 24.0 && inner.is_positive() {
        let text = scene.visuals.strong_text_color();
        let galley = painter.layout_no_wrap(clip.name.clone(), FontId::proportional(11.0), text);
        let x = rect.left().max(lanes.left()) + 4.0;
        painter
            .with_clip_rect(inner)
            .galley(pos2(x, rect.top() + 1.5), galley, text);
    }
    if selected {
        painter.rect_stroke(
            rect,
            3.0,
            Stroke::new(2.0, scene.visuals.selection.stroke.color),
            StrokeKind::Inside,
        );
    }
}

/// The take's picture at the clip's head, or a placeholder until it is decoded.
fn picture_ui(painter: &Painter, scene: &mut Scene<'_>, hash: ContentHash, content: Rect) {
    match scene
        .media
        .thumbnail(scene.ctx, scene.store, hash, scene.jobs)
    {
        Some(texture) => {
            let aspect = texture.aspect_ratio().clamp(0.2, 5.0);
            let rect = Rect::from_min_size(
                content.min,
                vec2(content.height() * aspect, content.height()),
            );
            painter.image(
                texture.id(),
                rect,
                Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        None => placeholder_ui(painter, scene, content),
    }
}

/// A frame-shaped box with a cross: this shot has no picture (yet).
fn placeholder_ui(painter: &Painter, scene: &Scene<'_>, content: Rect) {
    let rect = Rect::from_min_size(
        content.min,
        vec2(content.height() * scene.aspect, content.height()),
    );
    let stroke = Stroke::new(1.0, Color32::from_white_alpha(40));
    painter.rect_filled(rect, 1.0, Color32::from_black_alpha(60));
    painter.line_segment([rect.left_top(), rect.right_bottom()], stroke);
    painter.line_segment([rect.right_top(), rect.left_bottom()], stroke);
}

/// A sound whose waveform is not known: a centre line.
fn flat_line(painter: &Painter, content: Rect, fill: Color32) {
    painter.hline(
        content.x_range(),
        content.center().y,
        Stroke::new(1.0, fill.lerp_to_gamma(Color32::WHITE, 0.4)),
    );
}

/// The peaks of the part of the source the clip plays, one bar every two points of the
/// visible width.
fn waveform_ui(
    painter: &Painter,
    scene: &Scene<'_>,
    clip: &Clip,
    clip_x: f32,
    content: Rect,
    peaks: &Peaks,
) {
    const STEP: f32 = 2.0;
    if peaks.values.is_empty() || peaks.bucket == 0 || peaks.sample_rate_hz == 0 {
        return;
    }
    let fps = scene.doc.timeline.rate.as_f64().max(1.0);
    let samples_per_frame = f64::from(peaks.sample_rate_hz) / fps;
    let buckets_per_frame = samples_per_frame / f64::from(peaks.bucket);
    let ppf = scene.viewport.points_per_frame;
    let from = content.left().max(scene.lanes.left());
    let to = content.right().min(scene.lanes.right());
    let (mid, half) = (content.center().y, content.height() / 2.0);
    let color = Color32::from_white_alpha(150);
    let mut mesh = egui::Mesh::default();
    let mut x = from;
    while x < to {
        // Source frames under this column.
        let a = f64::from(x - clip_x) / ppf + clip.source_in_frames as f64;
        let b = a + f64::from(STEP) / ppf;
        let first = (a * buckets_per_frame).floor().max(0.0) as usize;
        let last = ((b * buckets_per_frame).ceil() as usize).max(first + 1);
        if first >= peaks.values.len() {
            break;
        }
        let last = last.min(peaks.values.len());
        // Sample at most 32 buckets per column: zoomed far out this is a sketch anyway.
        let stride = ((last - first) / 32).max(1);
        let (lo, hi) = peaks.values[first..last]
            .iter()
            .step_by(stride)
            .fold((0.0f32, 0.0f32), |(lo, hi), (mn, mx)| {
                (lo.min(*mn), hi.max(*mx))
            });
        let top = mid - hi.clamp(-1.0, 1.0) * half;
        let bottom = (mid - lo.clamp(-1.0, 1.0) * half).max(top + 1.0);
        mesh.add_colored_rect(
            Rect::from_x_y_ranges(x..=x + STEP - 0.5, top..=bottom),
            color,
        );
        x += STEP;
    }
    painter.add(mesh);
}

/// The in / out range: highlighted on the ruler, the rest of the lanes dimmed.
fn in_out_ui(
    painter: &Painter,
    lane_painter: &Painter,
    transport: &crate::playback::Transport,
    viewport: &Viewport,
    areas: &Areas,
    duration: i64,
    visuals: &egui::Visuals,
) {
    if transport.in_point.is_none() && transport.out_point.is_none() {
        return;
    }
    let (start, stop) = transport.range(duration);
    let x0 = viewport
        .frame_to_x(start as f64)
        .max(areas.lanes.left() - 1.0);
    let x1 = viewport
        .frame_to_x(stop as f64)
        .min(areas.lanes.right() + 1.0);
    let shade = Color32::from_black_alpha(90);
    let lanes = areas.lanes;
    if x0 > lanes.left() {
        lane_painter.rect_filled(
            Rect::from_x_y_ranges(lanes.left()..=x0.min(lanes.right()), lanes.y_range()),
            0.0,
            shade,
        );
    }
    if x1 < lanes.right() {
        lane_painter.rect_filled(
            Rect::from_x_y_ranges(x1.max(lanes.left())..=lanes.right(), lanes.y_range()),
            0.0,
            shade,
        );
    }
    if x1 > x0 {
        painter.rect_filled(
            Rect::from_x_y_ranges(x0..=x1, areas.ruler.y_range()),
            0.0,
            visuals.selection.bg_fill.gamma_multiply(0.45),
        );
    }
}

/// Timecode ticks: labelled every major step, short ticks between.
fn ruler_ui(
    painter: &Painter,
    doc: &Project,
    viewport: &Viewport,
    areas: &Areas,
    visuals: &egui::Visuals,
) {
    let ruler = areas.ruler;
    painter.rect_filled(ruler, 0.0, visuals.faint_bg_color.gamma_multiply(1.5));
    painter.hline(
        ruler.x_range(),
        ruler.bottom() - 0.5,
        visuals.widgets.noninteractive.bg_stroke,
    );
    let tl = &doc.timeline;
    let fps = i64::from(tl.rate.timecode_base().max(1));
    let step = ruler_step(fps, viewport.points_per_frame, 96.0, 7.0);
    let (first, end) = viewport.visible_frames();
    let drop = tl.rate.is_ntsc_drop_candidate();
    let stroke = visuals.widgets.noninteractive.fg_stroke;
    let weak = Stroke::new(1.0, visuals.weak_text_color());
    let ruler_painter = painter.with_clip_rect(ruler);
    for frame in ticks(step.minor, first, end) {
        let x = viewport.frame_to_x(frame as f64);
        if frame % step.major == 0 {
            // Labels sit under the markers' band, ticks along the bottom.
            ruler_painter.vline(x, ruler.top() + MARKER_BAND..=ruler.bottom(), stroke);
            ruler_painter.text(
                pos2(x + 3.0, ruler.top() + MARKER_BAND),
                egui::Align2::LEFT_TOP,
                tl.time(frame + tl.start_frame).to_timecode(drop),
                FontId::monospace(10.0),
                visuals.text_color(),
            );
        } else {
            ruler_painter.vline(x, ruler.bottom() - 5.0..=ruler.bottom(), weak);
        }
    }
}

/// Markers: a coloured flag and name on the ruler, a faint line down the lanes.
fn markers_ui(
    painter: &Painter,
    lane_painter: &Painter,
    doc: &Project,
    viewport: &Viewport,
    areas: &Areas,
) {
    let ruler = areas.ruler;
    let ruler_painter = painter.with_clip_rect(ruler);
    for marker in &doc.timeline.markers {
        let x = viewport.frame_to_x(marker.frame as f64);
        if x < ruler.left() - 200.0 || x > ruler.right() + FLAG_WIDTH {
            continue;
        }
        let color = marker_color(marker.color);
        lane_painter.vline(
            x,
            areas.lanes.y_range(),
            Stroke::new(1.0, color.gamma_multiply(0.4)),
        );
        ruler_painter.vline(x, ruler.y_range(), Stroke::new(1.5, color));
        let flag = Rect::from_min_size(pos2(x, ruler.top() + 1.0), vec2(FLAG_WIDTH, 8.0));
        ruler_painter.rect_filled(flag, 1.0, color);
        ruler_painter.text(
            pos2(flag.right() + 3.0, ruler.top()),
            egui::Align2::LEFT_TOP,
            &marker.name,
            FontId::proportional(10.0),
            color,
        );
    }
}

fn playhead_ui(painter: &Painter, playhead: i64, viewport: &Viewport, areas: &Areas) {
    let x = viewport.frame_to_x(playhead as f64);
    if x < areas.lanes.left() - 6.0 || x > areas.lanes.right() + 6.0 {
        return;
    }
    let stroke = Stroke::new(1.5, PLAYHEAD);
    painter
        .with_clip_rect(areas.lanes.union(areas.ruler))
        .vline(x, areas.ruler.top()..=areas.lanes.bottom(), stroke);
    let top = areas.ruler.bottom() - 12.0;
    let head = vec![
        pos2(x - 5.0, top),
        pos2(x + 5.0, top),
        pos2(x + 5.0, top + 6.0),
        pos2(x, top + 11.0),
        pos2(x - 5.0, top + 6.0),
    ];
    painter
        .with_clip_rect(areas.ruler.expand2(vec2(0.0, 1.0)))
        .add(egui::Shape::convex_polygon(head, PLAYHEAD, Stroke::NONE));
}

fn scrollbars_ui(
    painter: &Painter,
    view: &TimelineView,
    viewport: &Viewport,
    areas: &Areas,
    tracks: usize,
    visuals: &egui::Visuals,
) {
    let trough = visuals.faint_bg_color;
    let thumb_color = visuals.widgets.inactive.bg_fill;
    painter.rect_filled(areas.hscroll, 0.0, trough);
    let (_, thumb) = interact::hscroll_thumb(view, areas, viewport);
    painter.rect_filled(thumb, 3.0, thumb_color);
    painter.rect_filled(areas.vscroll, 0.0, trough);
    let content = tracks as f32 * view.track_height;
    let bar = areas.vscroll;
    if content > bar.height() {
        let scale = bar.height() / content;
        let y0 = bar.top() + view.scroll_y * scale;
        let y1 = (y0 + bar.height() * scale).max(y0 + 12.0).min(bar.bottom());
        painter.rect_filled(
            Rect::from_min_max(pos2(bar.left() + 2.0, y0), pos2(bar.right() - 2.0, y1)),
            3.0,
            thumb_color,
        );
    }
}
