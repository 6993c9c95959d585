//! The timeline panel: ruler, tracks, clips, playhead.

use previz_core::{Item, TrackKind};

use crate::studio::Studio;

/// View state of the timeline (zoom, scroll).
#[derive(Debug)]
pub struct TimelineView {
    /// Screen points per frame.
    pub points_per_frame: f32,
    /// First visible frame (fractional while scrolling).
    pub scroll_frame: f32,
    pub track_height: f32,
}

impl Default for TimelineView {
    fn default() -> Self {
        Self {
            points_per_frame: 2.0,
            scroll_frame: 0.0,
            track_height: 44.0,
        }
    }
}

const HEADER_WIDTH: f32 = 140.0;
const RULER_HEIGHT: f32 = 22.0;

/// Draws the panel.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio, view: &mut TimelineView) {
    let Some(doc) = studio.doc() else {
        return;
    };
    let now = ui.input(|i| i.time);
    let rect = ui.available_rect_before_wrap();
    let response = ui.allocate_rect(rect, egui::Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    painter.rect_filled(rect, 0.0, visuals.extreme_bg_color);
    let lane_left = rect.left() + HEADER_WIDTH;
    let frame_x = |frame: f32| lane_left + (frame - view.scroll_frame) * view.points_per_frame;
    let x_frame = |x: f32| (x - lane_left) / view.points_per_frame + view.scroll_frame;
    let visible = (
        x_frame(lane_left).floor() as i64,
        x_frame(rect.right()).ceil() as i64,
    );

    // Ruler.
    let ruler = egui::Rect::from_min_max(
        egui::pos2(lane_left, rect.top()),
        egui::pos2(rect.right(), rect.top() + RULER_HEIGHT),
    );
    painter.rect_filled(ruler, 0.0, visuals.faint_bg_color);
    let fps = doc.timeline.rate.timecode_base().max(1) as i64;
    let seconds_step = [1, 2, 5, 10, 30, 60, 120, 300, 600]
        .into_iter()
        .find(|s| (*s * fps) as f32 * view.points_per_frame >= 80.0)
        .unwrap_or(600);
    let step = seconds_step * fps;
    let mut tick = (visible.0.max(0) / step) * step;
    while tick <= visible.1 {
        let x = frame_x(tick as f32);
        painter.line_segment(
            [egui::pos2(x, ruler.top()), egui::pos2(x, ruler.bottom())],
            visuals.widgets.noninteractive.fg_stroke,
        );
        let tc = doc
            .timeline
            .time(tick + doc.timeline.start_frame)
            .to_timecode(doc.timeline.rate.is_ntsc_drop_candidate());
        painter.text(
            egui::pos2(x + 3.0, ruler.top() + 2.0),
            egui::Align2::LEFT_TOP,
            tc,
            egui::FontId::monospace(10.0),
            visuals.text_color(),
        );
        tick += step;
    }

    // Tracks and clips (only the ones in view are drawn).
    let mut clicked_clip = None;
    let pointer = response.interact_pointer_pos();
    for (i, track) in doc.timeline.tracks.iter().enumerate() {
        let top = rect.top() + RULER_HEIGHT + i as f32 * view.track_height;
        let lane = egui::Rect::from_min_max(
            egui::pos2(rect.left(), top),
            egui::pos2(rect.right(), top + view.track_height - 2.0),
        );
        painter.rect_filled(
            egui::Rect::from_min_max(lane.min, egui::pos2(lane_left, lane.bottom())),
            0.0,
            visuals.faint_bg_color,
        );
        painter.text(
            lane.min + egui::vec2(6.0, 4.0),
            egui::Align2::LEFT_TOP,
            &track.name,
            egui::FontId::proportional(12.0),
            visuals.text_color(),
        );
        for (start, item) in track.items_with_start() {
            let end = start + item.duration_frames();
            if end < visible.0 || start > visible.1 {
                continue;
            }
            let Item::Clip(clip) = item else {
                continue;
            };
            let clip_rect = egui::Rect::from_min_max(
                egui::pos2(frame_x(start as f32).max(lane_left), lane.top() + 2.0),
                egui::pos2(frame_x(end as f32), lane.bottom() - 2.0),
            );
            let selected = studio.selection.clips.contains(&clip.id);
            let fill = match track.kind {
                TrackKind::Video => egui::Color32::from_rgb(70, 96, 140),
                TrackKind::Audio => egui::Color32::from_rgb(64, 120, 88),
            };
            painter.rect_filled(clip_rect, 3.0, fill);
            if selected {
                painter.rect_stroke(
                    clip_rect,
                    3.0,
                    egui::Stroke::new(2.0, egui::Color32::WHITE),
                    egui::StrokeKind::Inside,
                );
            }
            painter.text(
                clip_rect.left_top() + egui::vec2(4.0, 3.0),
                egui::Align2::LEFT_TOP,
                &clip.name,
                egui::FontId::proportional(11.0),
                egui::Color32::WHITE,
            );
            if response.clicked() && pointer.is_some_and(|p| clip_rect.contains(p)) {
                clicked_clip = Some(clip.id);
            }
        }
    }

    // Playhead.
    let x = frame_x(studio.transport.playhead as f32);
    painter.line_segment(
        [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
        egui::Stroke::new(1.5, egui::Color32::from_rgb(230, 60, 60)),
    );

    if let Some(pos) = pointer
        && (response.clicked() || response.dragged())
        && ruler.contains(pos)
    {
        studio
            .transport
            .seek(x_frame(pos.x).round().max(0.0) as i64, now);
    }
    if response.clicked() {
        match clicked_clip {
            Some(id) => {
                let add = ui.input(|i| i.modifiers.shift || i.modifiers.command);
                if !add {
                    studio.selection.clips.clear();
                }
                studio.selection.clips.insert(id);
            }
            None if pointer.is_some_and(|p| !ruler.contains(p)) => studio.selection.clips.clear(),
            None => {}
        }
    }
}
