//! The viewer: the frame under the playhead, framing guides and a shot-info overlay.

use previz_core::{ClipSource, Item, TrackKind};

use crate::studio::Studio;

/// Which guides are drawn.
#[derive(Debug)]
pub struct ViewerView {
    pub guide_239: bool,
    pub guide_185: bool,
    pub guide_169: bool,
    pub guide_43: bool,
    pub thirds: bool,
    pub safe_areas: bool,
    pub info: bool,
}

impl Default for ViewerView {
    fn default() -> Self {
        Self {
            guide_239: false,
            guide_185: false,
            guide_169: false,
            guide_43: false,
            thirds: true,
            safe_areas: false,
            info: true,
        }
    }
}

/// The largest rect of `aspect` centred in `outer`.
#[must_use]
pub fn fit(outer: egui::Rect, aspect: f32) -> egui::Rect {
    let w = outer.width().min(outer.height() * aspect);
    let h = w / aspect;
    egui::Rect::from_center_size(outer.center(), egui::vec2(w, h))
}

/// Draws the panel.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio, view: &mut ViewerView) {
    ui.horizontal(|ui| {
        ui.toggle_value(&mut view.guide_239, "2.39");
        ui.toggle_value(&mut view.guide_185, "1.85");
        ui.toggle_value(&mut view.guide_169, "16:9");
        ui.toggle_value(&mut view.guide_43, "4:3");
        ui.toggle_value(&mut view.thirds, "Thirds");
        ui.toggle_value(&mut view.safe_areas, "Safe");
        ui.toggle_value(&mut view.info, "Info");
    });
    let Some(doc) = studio.doc() else {
        return;
    };
    let playhead = studio.transport.playhead;
    // The top-most video clip under the playhead.
    let under = doc
        .timeline
        .tracks
        .iter()
        .rev()
        .filter(|t| t.kind == TrackKind::Video && !t.muted)
        .find_map(|t| t.item_at(playhead))
        .and_then(|(_, start, item)| match item {
            Item::Clip(c) => Some((start, c)),
            Item::Gap(_) => None,
        });
    let aspect = doc.settings.aspect_ratio().max(0.1) as f32;
    let available = ui.available_rect_before_wrap();
    let (_, _) = ui.allocate_exact_size(available.size(), egui::Sense::hover());
    let painter = ui.painter_at(available);
    painter.rect_filled(available, 0.0, egui::Color32::from_gray(12));
    let frame = fit(available.shrink(8.0), aspect);
    painter.rect_filled(frame, 0.0, egui::Color32::from_gray(34));
    let guide = egui::Stroke::new(1.0, egui::Color32::from_rgba_unmultiplied(255, 210, 0, 160));
    let (title, detail) = match under {
        Some((start, clip)) => {
            let shot = match &clip.source {
                ClipSource::Shot { shot } | ClipSource::Take { shot, .. } => doc.shot(*shot),
                _ => None,
            };
            let numbers = doc.shot_numbers();
            let title = shot
                .and_then(|s| numbers.get(&s.id).cloned())
                .unwrap_or_else(|| clip.name.clone());
            let detail = shot.map_or_else(String::new, |s| {
                format!(
                    "{} {} {}{}\n{}\nframe {} of {}",
                    s.size
                        .map_or(String::new(), |v| v.to_string().replace('_', " ")),
                    s.angle
                        .map_or(String::new(), |v| v.to_string().replace('_', " ")),
                    s.movement
                        .map_or(String::new(), |v| v.to_string().replace('_', " ")),
                    s.lens_mm.map_or(String::new(), |mm| format!(" {mm:.0} mm")),
                    s.subject,
                    playhead - start + 1,
                    clip.duration_frames
                )
            });
            (title, detail)
        }
        None => ("—".to_owned(), "No picture at the playhead".to_owned()),
    };
    painter.text(
        frame.center(),
        egui::Align2::CENTER_CENTER,
        &title,
        egui::FontId::proportional(32.0),
        egui::Color32::from_gray(200),
    );
    for (on, ratio) in [
        (view.guide_239, 2.39),
        (view.guide_185, 1.85),
        (view.guide_169, 16.0 / 9.0),
        (view.guide_43, 4.0 / 3.0),
    ] {
        if on {
            painter.rect_stroke(fit(frame, ratio), 0.0, guide, egui::StrokeKind::Inside);
        }
    }
    if view.thirds {
        let thin = egui::Stroke::new(1.0, egui::Color32::from_white_alpha(60));
        for k in 1..3 {
            #[allow(clippy::cast_precision_loss)]
            let f = k as f32 / 3.0;
            let x = frame.left() + frame.width() * f;
            let y = frame.top() + frame.height() * f;
            painter.line_segment(
                [egui::pos2(x, frame.top()), egui::pos2(x, frame.bottom())],
                thin,
            );
            painter.line_segment(
                [egui::pos2(frame.left(), y), egui::pos2(frame.right(), y)],
                thin,
            );
        }
    }
    if view.safe_areas {
        // Action safe 93 %, title safe 90 % (SMPTE ST 2046-1 for HD).
        let safe = egui::Stroke::new(1.0, egui::Color32::from_rgba_unmultiplied(0, 200, 255, 140));
        painter.rect_stroke(
            egui::Rect::from_center_size(frame.center(), frame.size() * 0.93),
            0.0,
            safe,
            egui::StrokeKind::Inside,
        );
        painter.rect_stroke(
            egui::Rect::from_center_size(frame.center(), frame.size() * 0.90),
            0.0,
            safe,
            egui::StrokeKind::Inside,
        );
    }
    if view.info && !detail.is_empty() {
        painter.text(
            frame.left_bottom() + egui::vec2(8.0, -8.0),
            egui::Align2::LEFT_BOTTOM,
            detail,
            egui::FontId::monospace(12.0),
            egui::Color32::from_gray(230),
        );
    }
}
