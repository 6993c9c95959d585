//! The viewer: the frame under the playhead, framing guides and a shot-info overlay.

use previz_core::{AssetKind, Clip, ClipSource, ContentHash, Item, Project, TrackKind};

use crate::studio::Studio;

/// The image a video clip shows: its shot's active take, its pinned take, or an image asset.
#[must_use]
pub fn clip_image(doc: &Project, clip: &Clip) -> Option<ContentHash> {
    match &clip.source {
        ClipSource::Shot { shot } => doc.shot(*shot)?.active().map(|t| t.asset),
        ClipSource::Take { shot, take } => doc
            .shot(*shot)?
            .takes
            .iter()
            .find(|t| t.id == *take)
            .map(|t| t.asset),
        ClipSource::Asset { asset } => doc
            .assets
            .get(asset)
            .is_some_and(|a| a.kind == AssetKind::Image)
            .then_some(*asset),
        ClipSource::Dialogue { .. } | ClipSource::Slug { .. } => None,
    }
}

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
    let Studio {
        project,
        media,
        jobs,
        transport,
        ..
    } = studio;
    let Some(session) = project.as_ref().map(|p| &p.session) else {
        return;
    };
    let doc = session.project();
    let store = session.assets();
    let playhead = transport.playhead;
    // The top-most video clip under the playhead, and the one after it on its track.
    let under = doc
        .timeline
        .tracks
        .iter()
        .rev()
        .filter(|t| t.kind == TrackKind::Video && !t.muted)
        .find_map(|t| t.item_at(playhead).map(|found| (t, found)))
        .and_then(|(track, (_, start, item))| match item {
            Item::Clip(c) => Some((track, start, c)),
            Item::Gap(_) => None,
        });
    let picture = under.and_then(|(_, _, clip)| {
        let hash = clip_image(doc, clip)?;
        // The thumbnail (often decoded already for the storyboard) stands in until the full
        // frame is ready.
        media
            .frame(ui.ctx(), &store, hash, jobs)
            .or_else(|| media.thumbnail(ui.ctx(), &store, hash, jobs))
    });
    if transport.is_playing()
        && let Some((track, start, clip)) = under
        && let Some((_, _, Item::Clip(next))) = track.item_at(start + clip.duration_frames)
        && let Some(hash) = clip_image(doc, next)
    {
        // Decode the next shot's frame before the playhead gets there.
        let _ = media.frame(ui.ctx(), &store, hash, jobs);
    }
    let under = under.map(|(_, start, clip)| (start, clip));
    let aspect = doc.settings.aspect_ratio().max(0.1) as f32;
    let available = ui.available_rect_before_wrap();
    let (_, _) = ui.allocate_exact_size(available.size(), egui::Sense::hover());
    let painter = ui.painter_at(available);
    painter.rect_filled(available, 0.0, egui::Color32::from_gray(12));
    let frame = fit(available.shrink(8.0), aspect);
    painter.rect_filled(frame, 0.0, egui::Color32::from_gray(34));
    if let Some(texture) = &picture {
        let [w, h] = texture.size();
        #[allow(clippy::cast_precision_loss)] // texture sides are at most a few thousand
        let image_aspect = w.max(1) as f32 / h.max(1) as f32;
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        painter.image(
            texture.id(),
            fit(frame, image_aspect),
            uv,
            egui::Color32::WHITE,
        );
    }
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
    if picture.is_none() {
        painter.text(
            frame.center(),
            egui::Align2::CENTER_CENTER,
            &title,
            egui::FontId::proportional(32.0),
            egui::Color32::from_gray(200),
        );
    }
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
