//! The shot list: the selected scene's shots in a table with editable fields, add, remove,
//! drag to reorder, and each shot's frame status.

use egui_extras::{Column, TableBuilder};
use previz_core::{
    CameraAngle, CameraMovement, EditCommand, Rate, RationalTime, Shot, ShotField, ShotId, ShotSize,
};

use crate::studio::{ShotStatus, Studio};

/// View state of the shot list.
#[derive(Debug, Default)]
pub struct ShotsView {
    /// Show every scene's shots, not only the selected scene's.
    pub all_scenes: bool,
}

/// An edit the table asks for, applied after drawing (the table borrows the document).
enum Pending {
    Edit(EditCommand, String),
    Seal,
    Now(EditCommand),
    Select(ShotId),
}

/// A vocabulary field's menu. `name` is its accessible name ("Size of shot 1.1"): the table's
/// header names the column only visually, and screen readers and tests find widgets by name.
fn combo<T: Copy + PartialEq + std::fmt::Display>(
    ui: &mut egui::Ui,
    id: impl std::hash::Hash + std::fmt::Debug,
    name: String,
    value: Option<T>,
    all: &[T],
) -> Option<Option<T>> {
    let mut chosen = None;
    let text = value.map_or_else(|| "—".to_owned(), |v| v.to_string().replace('_', " "));
    let menu = egui::ComboBox::from_id_salt(id)
        .selected_text(text)
        .width(110.0)
        .show_ui(ui, |ui| {
            if ui.selectable_label(value.is_none(), "—").clicked() {
                chosen = Some(None);
            }
            for v in all {
                if ui
                    .selectable_label(value == Some(*v), v.to_string().replace('_', " "))
                    .clicked()
                {
                    chosen = Some(Some(*v));
                }
            }
        });
    let _ = menu.response.accessible_name(name);
    chosen
}

/// A text field of a shot; `name` is its accessible name ("Subject of shot 1.1").
fn text_cell(
    ui: &mut egui::Ui,
    value: &str,
    shot: ShotId,
    name: String,
    field: &str,
    make: fn(String) -> ShotField,
    out: &mut Vec<Pending>,
) {
    let mut text = value.to_owned();
    let response = ui
        .add(egui::TextEdit::singleline(&mut text).desired_width(f32::INFINITY))
        .accessible_name(name);
    if response.changed() {
        out.push(Pending::Edit(
            EditCommand::EditShot {
                shot,
                field: make(text),
            },
            format!("shot:{shot}:{field}"),
        ));
    }
    if response.lost_focus() {
        out.push(Pending::Seal);
    }
}

/// Seconds typed in a cell to whole frames (at least one).
fn seconds_to_frames(seconds: f64, rate: Rate) -> i64 {
    #[allow(clippy::cast_possible_truncation)] // the cell's range is 0.05 s to an hour
    let frames = (seconds * rate.as_f64()).round() as i64;
    frames.max(1)
}

fn status_color(ui: &egui::Ui, status: ShotStatus) -> egui::Color32 {
    match status {
        ShotStatus::Done => egui::Color32::from_rgb(90, 170, 90),
        ShotStatus::Failed => ui.visuals().error_fg_color,
        ShotStatus::Queued | ShotStatus::Generating => ui.visuals().warn_fg_color,
        ShotStatus::NoFrame => ui.visuals().weak_text_color(),
    }
}

/// Draws the panel.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio, view: &mut ShotsView) {
    let Some(doc) = studio.doc() else {
        return;
    };
    let read_only = studio.read_only();
    let scene = studio.selection.scene;
    let numbers = doc.shot_numbers();
    let rate = doc.timeline.rate;
    let shots: Vec<&Shot> = doc
        .shots
        .iter()
        .filter(|s| view.all_scenes || Some(s.scene) == scene)
        .collect();
    let mut pending = Vec::new();
    ui.horizontal(|ui| {
        match scene.and_then(|id| doc.script.scene(id)) {
            Some(s) => ui.label(egui::RichText::new(&s.heading.text).strong()),
            None => ui.label("Select a scene in the script"),
        };
        ui.checkbox(&mut view.all_scenes, "All scenes");
        if let Some(scene) = scene
            && ui
                .add_enabled(!read_only, egui::Button::new("➕ Add shot"))
                .clicked()
        {
            let mut shot = Shot::new(scene, doc.settings.default_shot_duration);
            shot.size = Some(ShotSize::Medium);
            let after = doc.shots_in_scene(scene).last().map(|s| s.id);
            pending.push(Pending::Select(shot.id));
            pending.push(Pending::Now(EditCommand::AddShot {
                shot: Box::new(shot),
                after,
            }));
        }
        let selected: Vec<ShotId> = studio.selection.shots.iter().copied().collect();
        if ui
            .add_enabled(
                !read_only && !selected.is_empty(),
                egui::Button::new("🗑 Remove"),
            )
            .on_hover_text("Removes the selected shots; their clips are lifted from the timeline")
            .clicked()
        {
            pending.push(Pending::Now(EditCommand::Batch {
                label: "Remove shots".to_owned(),
                commands: selected
                    .into_iter()
                    .map(|shot| EditCommand::RemoveShot { shot })
                    .collect(),
            }));
        }
    });
    let selected = studio.selection.shots.clone();
    // The table is wider than its tab in the default layout; without a horizontal scroll the
    // columns past the tab's edge (subject, action, prompt) were drawn under the next panel
    // and could not be clicked.
    egui::ScrollArea::horizontal()
        .id_salt("shot_table")
        .show(ui, |ui| {
            ui.add_enabled_ui(!read_only, |ui| {
                TableBuilder::new(ui)
                    .striped(true)
                    .resizable(true)
                    .column(Column::exact(18.0))
                    .column(Column::auto().at_least(44.0))
                    .column(Column::auto().at_least(70.0))
                    .columns(Column::auto().at_least(110.0), 3)
                    .column(Column::auto().at_least(56.0))
                    .column(Column::initial(130.0).at_least(60.0))
                    .column(Column::initial(180.0).at_least(60.0))
                    .column(Column::auto().at_least(64.0))
                    .column(Column::remainder().at_least(120.0))
                    .header(20.0, |mut header| {
                        for title in [
                            "", "Shot", "Status", "Size", "Angle", "Movement", "Lens", "Subject",
                            "Action", "Duration", "Prompt",
                        ] {
                            header.col(|ui| {
                                ui.strong(title);
                            });
                        }
                    })
                    .body(|mut body| {
                        for (position, shot) in shots.iter().enumerate() {
                            let id = shot.id;
                            let number = numbers.get(&id).cloned().unwrap_or_default();
                            let name = |field: &str| format!("{field} of shot {number}");
                            body.row(24.0, |mut row| {
                                row.set_selected(selected.contains(&id));
                                row.col(|ui| {
                                    let handle = ui.dnd_drag_source(
                                        egui::Id::unique(("shot_drag", id)),
                                        id,
                                        |ui| {
                                            ui.label("☰");
                                        },
                                    );
                                    handle.response.on_hover_text("Drag to reorder");
                                });
                                row.col(|ui| {
                                    if ui
                                        .selectable_label(selected.contains(&id), number.clone())
                                        .clicked()
                                    {
                                        pending.push(Pending::Select(id));
                                    }
                                });
                                row.col(|ui| {
                                    let status = studio.shot_status(id);
                                    ui.colored_label(status_color(ui, status), status.label());
                                });
                                row.col(|ui| {
                                    if let Some(v) = combo(
                                        ui,
                                        ("size", id),
                                        name("Size"),
                                        shot.size,
                                        ShotSize::ALL,
                                    ) {
                                        pending.push(Pending::Now(EditCommand::EditShot {
                                            shot: id,
                                            field: ShotField::Size(v),
                                        }));
                                    }
                                });
                                row.col(|ui| {
                                    if let Some(v) = combo(
                                        ui,
                                        ("angle", id),
                                        name("Angle"),
                                        shot.angle,
                                        CameraAngle::ALL,
                                    ) {
                                        pending.push(Pending::Now(EditCommand::EditShot {
                                            shot: id,
                                            field: ShotField::Angle(v),
                                        }));
                                    }
                                });
                                row.col(|ui| {
                                    if let Some(v) = combo(
                                        ui,
                                        ("movement", id),
                                        name("Movement"),
                                        shot.movement,
                                        CameraMovement::ALL,
                                    ) {
                                        pending.push(Pending::Now(EditCommand::EditShot {
                                            shot: id,
                                            field: ShotField::Movement(v),
                                        }));
                                    }
                                });
                                row.col(|ui| {
                                    let mut mm = shot.lens_mm.unwrap_or(0.0);
                                    let r = ui.add(
                                        egui::DragValue::new(&mut mm)
                                            .range(0.0..=2000.0)
                                            .suffix(" mm")
                                            .speed(1.0),
                                    );
                                    if r.changed() {
                                        let value = (mm > 0.0).then_some(mm);
                                        pending.push(Pending::Edit(
                                            EditCommand::EditShot {
                                                shot: id,
                                                field: ShotField::LensMm(value),
                                            },
                                            format!("shot:{id}:lens"),
                                        ));
                                    }
                                    if r.drag_stopped() || r.lost_focus() {
                                        pending.push(Pending::Seal);
                                    }
                                });
                                row.col(|ui| {
                                    text_cell(
                                        ui,
                                        &shot.subject,
                                        id,
                                        name("Subject"),
                                        "subject",
                                        ShotField::Subject,
                                        &mut pending,
                                    );
                                });
                                row.col(|ui| {
                                    text_cell(
                                        ui,
                                        &shot.action,
                                        id,
                                        name("Action"),
                                        "action",
                                        ShotField::Action,
                                        &mut pending,
                                    );
                                });
                                row.col(|ui| {
                                    let mut seconds = shot.duration.seconds_f64();
                                    let r = ui.add(
                                        egui::DragValue::new(&mut seconds)
                                            .range(0.05..=3600.0)
                                            .speed(0.05)
                                            .suffix(" s")
                                            .max_decimals(2),
                                    );
                                    if r.changed() {
                                        let frames = RationalTime::new(
                                            seconds_to_frames(seconds, rate),
                                            rate,
                                        );
                                        pending.push(Pending::Edit(
                                            EditCommand::EditShot {
                                                shot: id,
                                                field: ShotField::Duration(frames),
                                            },
                                            format!("shot:{id}:duration"),
                                        ));
                                    }
                                    if r.drag_stopped() || r.lost_focus() {
                                        pending.push(Pending::Seal);
                                    }
                                });
                                row.col(|ui| {
                                    text_cell(
                                        ui,
                                        &shot.prompt,
                                        id,
                                        name("Prompt"),
                                        "prompt",
                                        ShotField::Prompt,
                                        &mut pending,
                                    );
                                });
                                if let Some(dragged) =
                                    row.response().dnd_release_payload::<ShotId>()
                                {
                                    let target = if view.all_scenes {
                                        doc.shots_in_scene(shot.scene)
                                            .position(|s| s.id == id)
                                            .unwrap_or(position)
                                    } else {
                                        position
                                    };
                                    pending.push(Pending::Now(EditCommand::ReorderShot {
                                        shot: *dragged,
                                        position: target,
                                    }));
                                }
                            });
                        }
                    });
            });
        });
    if shots.is_empty() && scene.is_some() {
        ui.label("No shots in this scene yet. Add one, or run Edit › Rough cut from script.");
    }
    for p in pending {
        match p {
            Pending::Edit(command, key) => {
                studio.apply_coalescing(&command, &key);
            }
            Pending::Seal => studio.seal(),
            Pending::Now(command) => {
                studio.apply(&command);
            }
            Pending::Select(shot) => studio.select_shot(shot),
        }
    }
}

/// The Generate menu: what can be generated, and why not when it cannot.
pub fn generation_menu(ui: &mut egui::Ui, studio: &mut Studio) {
    let open = studio.project.is_some();
    let frames_why = match &studio.settings.diffusion_model {
        None => "A take per shot from the first installed diffusion model; with none installed, a storyboard sketch drawn from the shot's fields. Choose a model in File › Settings › Models.".to_owned(),
        Some(m) => format!("A take per shot drawn by {m} (File › Settings › Models)."),
    };
    let selected: Vec<ShotId> = studio.selection.shots.iter().copied().collect();
    let has_selection = !selected.is_empty();
    let voices_why = if studio.settings.voice_model.is_none() {
        "Every line spoken by its character's voice, the edit re-timed to the takes. Characters without a voice get the first installed Piper voice (espeak-ng's own without one); choose one in File › Settings › Models."
    } else {
        "Every line spoken by its character's voice, the edit re-timed to the takes. Characters without a voice get the voice chosen in File › Settings › Models."
    };
    let engine = studio
        .settings
        .llm_model
        .clone()
        .unwrap_or_else(|| "the built-in rules".to_owned());
    let scene = studio.selection.scene.and_then(|id| {
        studio
            .doc()
            .and_then(|d| d.script.scenes.iter().position(|s| s.id == id))
    });
    if ui
        .add_enabled(open, egui::Button::new("Break down script into shots"))
        .on_hover_text(format!(
            "Every scene into shots with {engine}; scenes already done or with shots made by hand are left alone. Choose a language model in File › Settings › Models."
        ))
        .on_disabled_hover_text("Open a project first.")
        .clicked()
    {
        studio.break_down(None);
        ui.close();
    }
    if ui
        .add_enabled(
            open && scene.is_some(),
            egui::Button::new("Break down selected scene"),
        )
        .on_disabled_hover_text("Select a scene in the script first.")
        .clicked()
    {
        studio.break_down(scene);
        ui.close();
    }
    if ui
        .add_enabled(open, egui::Button::new("Storyboard frames for all shots"))
        .on_hover_text(format!(
            "{frames_why} Shots whose take is up to date are kept."
        ))
        .on_disabled_hover_text("Open a project first.")
        .clicked()
    {
        studio.draw_frames(None, crate::frames::FramesMode::Draw);
        ui.close();
    }
    if ui
        .add_enabled(
            open && has_selection,
            egui::Button::new("New takes for selected shots"),
        )
        .on_hover_text(format!(
            "{frames_why} Always a new take; the old ones stay."
        ))
        .on_disabled_hover_text("Select shots first (storyboard, shot list or timeline).")
        .clicked()
    {
        studio.draw_frames(
            Some(selected.clone()),
            crate::frames::FramesMode::Regenerate,
        );
        ui.close();
    }
    if ui
        .add_enabled(
            open && has_selection,
            egui::Button::new("Variations of selected shots"),
        )
        .on_hover_text("Redraws each selected shot from its active take (image-to-image at strength 0.6) with a new seed. Needs a diffusion model.")
        .on_disabled_hover_text("Select shots first (storyboard, shot list or timeline).")
        .clicked()
    {
        studio.draw_frames(Some(selected), crate::frames::FramesMode::Variations(0.6));
        ui.close();
    }
    if ui
        .add_enabled(open, egui::Button::new("Voices for all dialogue"))
        .on_hover_text(voices_why)
        .on_disabled_hover_text("Open a project first.")
        .clicked()
    {
        studio.voice_dialogue(None);
        ui.close();
    }
    if ui
        .add_enabled(
            open && scene.is_some(),
            egui::Button::new("Voices for the scene's dialogue"),
        )
        .on_hover_text(voices_why)
        .on_disabled_hover_text("Select a scene in the script first.")
        .clicked()
    {
        studio.voice_dialogue(scene);
        ui.close();
    }
    if !open {
        ui.label("Open a project first.");
    }
}
