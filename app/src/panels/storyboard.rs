//! The storyboard grid: a card per shot with its active take (or a placeholder until a frame
//! is generated), shot number and caption, and a strip of takes to pick the active one.

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

/// Draws the panel.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio) {
    let Some(doc) = studio.doc() else {
        return;
    };
    let numbers = doc.shot_numbers();
    let aspect = doc.settings.aspect_ratio().max(0.1) as f32;
    let scene = studio.selection.scene;
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
                    let selected = studio.selection.shots.contains(&shot.id);
                    let frame = egui::Frame::group(ui.style()).stroke(if selected {
                        ui.visuals().selection.stroke
                    } else {
                        ui.visuals().widgets.noninteractive.bg_stroke
                    });
                    frame.show(ui, |ui| {
                        ui.set_width(CARD_WIDTH);
                        ui.vertical(|ui| {
                            let size = egui::vec2(CARD_WIDTH, CARD_WIDTH / aspect);
                            let label = if shot.active().is_some() {
                                format!("{number} ✔")
                            } else {
                                number.clone()
                            };
                            if placeholder(ui, size, &label)
                                .on_hover_text(&shot.prompt)
                                .clicked()
                            {
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
