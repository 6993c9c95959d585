//! The storyboard grid: a card per shot with its active take (or a placeholder until a frame
//! is generated or decoded), shot number and caption, and a strip of takes to pick the active
//! one.

use previz_core::{EditCommand, ShotId, TakeId};

use crate::studio::Studio;

const CARD_WIDTH: f32 = 220.0;

/// Draws a placeholder frame: the aspect-correct box with the shot number, until a take exists.
pub fn placeholder(ui: &mut egui::Ui, size: egui::Vec2, label: &str) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click());
    let visuals = ui.visuals();
    ui.painter()
        .rect_filled(rect, 2.0, visuals.extreme_bg_color);
    ui.painter().rect_stroke(
        rect,
        2.0,
        visuals.widgets.noninteractive.bg_stroke,
        egui::StrokeKind::Inside,
    );
    ui.painter().line_segment(
        [rect.left_top(), rect.right_bottom()],
        visuals.widgets.noninteractive.bg_stroke,
    );
    ui.painter().line_segment(
        [rect.right_top(), rect.left_bottom()],
        visuals.widgets.noninteractive.bg_stroke,
    );
    ui.painter().text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        label,
        egui::FontId::proportional(18.0),
        visuals.strong_text_color(),
    );
    response
}

/// Draws an image letterboxed in a box of `size` (the project's aspect), with `label` in a
/// corner badge.
pub fn image_card(
    ui: &mut egui::Ui,
    size: egui::Vec2,
    texture: &egui::TextureHandle,
    label: &str,
) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, egui::Color32::BLACK);
    let [w, h] = texture.size();
    #[allow(clippy::cast_precision_loss)] // texture sides are at most a few thousand
    let aspect = w.max(1) as f32 / h.max(1) as f32;
    let picture = super::viewer::fit(rect, aspect);
    let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    painter.image(texture.id(), picture, uv, egui::Color32::WHITE);
    let font = egui::FontId::proportional(13.0);
    let galley = painter.layout_no_wrap(label.to_owned(), font, egui::Color32::WHITE);
    let badge = egui::Rect::from_min_size(rect.left_top(), galley.size() + egui::vec2(8.0, 4.0));
    painter.rect_filled(badge, 2.0, egui::Color32::from_black_alpha(160));
    painter.galley(
        badge.min + egui::vec2(4.0, 2.0),
        galley,
        egui::Color32::WHITE,
    );
    response
}

/// Draws the panel.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio) {
    let Studio {
        project,
        media,
        jobs,
        selection,
        ..
    } = studio;
    let Some(session) = project.as_ref().map(|p| &p.session) else {
        return;
    };
    let doc = session.project();
    let store = session.assets();
    let numbers = doc.shot_numbers();
    let aspect = doc.settings.aspect_ratio().max(0.1) as f32;
    let scene = selection.scene;
    let mut select: Option<ShotId> = None;
    let mut activate: Option<(ShotId, TakeId)> = None;
    if doc.shots.is_empty() {
        ui.label("No shots yet: run Edit › Rough cut from script, or add shots in the shot list.");
        return;
    }
    egui::ScrollArea::vertical()
        .id_salt("storyboard")
        .show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                for shot in doc
                    .shots
                    .iter()
                    .filter(|s| scene.is_none_or(|sc| s.scene == sc))
                {
                    let number = numbers.get(&shot.id).cloned().unwrap_or_default();
                    let selected = selection.shots.contains(&shot.id);
                    let frame = egui::Frame::group(ui.style()).stroke(if selected {
                        ui.visuals().selection.stroke
                    } else {
                        ui.visuals().widgets.noninteractive.bg_stroke
                    });
                    frame.show(ui, |ui| {
                        ui.set_width(CARD_WIDTH);
                        ui.vertical(|ui| {
                            let size = egui::vec2(CARD_WIDTH, CARD_WIDTH / aspect);
                            let take = shot.active();
                            let texture =
                                take.and_then(|t| media.thumbnail(ui.ctx(), &store, t.asset, jobs));
                            let failure = take.and_then(|t| media.failure(&t.asset));
                            // Plain text: the default fonts have no check mark or warning
                            // sign (and egui refuses to draw a missing glyph in tests).
                            let card = match (&texture, failure) {
                                (Some(texture), _) => image_card(ui, size, texture, &number),
                                (None, Some(error)) => {
                                    placeholder(ui, size, &format!("{number}: image unreadable"))
                                        .on_hover_text(format!(
                                            "The take's image could not be shown: {error}"
                                        ))
                                }
                                (None, None) if take.is_some() => {
                                    placeholder(ui, size, &format!("{number}: loading"))
                                }
                                (None, None) => placeholder(ui, size, &number),
                            };
                            if card.on_hover_text(&shot.prompt).clicked() {
                                select = Some(shot.id);
                            }
                            ui.label(egui::RichText::new(&number).strong());
                            let caption = if shot.action.is_empty() {
                                &shot.subject
                            } else {
                                &shot.action
                            };
                            ui.label(egui::RichText::new(caption).small());
                            if !shot.takes.is_empty() {
                                ui.horizontal(|ui| {
                                    for (i, take) in shot.takes.iter().enumerate() {
                                        let active = shot.active_take == Some(take.id);
                                        if ui
                                            .selectable_label(active, format!("T{}", i + 1))
                                            .on_hover_text(format!(
                                                "{} · seed {} · {}",
                                                take.provenance.generator,
                                                take.provenance
                                                    .seed
                                                    .map_or("—".to_owned(), |s| s.to_string()),
                                                take.created
                                            ))
                                            .clicked()
                                        {
                                            activate = Some((shot.id, take.id));
                                        }
                                    }
                                });
                            }
                        });
                    });
                }
            });
        });
    if let Some(shot) = select {
        studio.select_shot(shot);
    }
    if let Some((shot, take)) = activate {
        studio.apply(&EditCommand::SetActiveTake {
            shot,
            take: Some(take),
        });
    }
}
