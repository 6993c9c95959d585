//! What the window shows with no project open: new, open, recent, open a screenplay.

use previz_storage::OpenMode;

use crate::files::FilePurpose;
use crate::studio::Studio;

/// Draws the welcome page; returns a file chooser to open, if asked for.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio) -> Option<FilePurpose> {
    let mut request = None;
    ui.vertical_centered(|ui| {
        ui.add_space(40.0);
        ui.heading("Previz Studio");
        ui.label("From screenplay to animatic: shots, storyboard frames, voices and a timeline.");
        ui.add_space(20.0);
        if studio.opening.is_some() {
            ui.spinner();
            ui.label("Opening…");
        }
        if ui.button("New project from screenplay…").clicked() {
            request = Some(FilePurpose::ImportScreenplay);
        }
        if ui.button("New empty project…").clicked() {
            request = Some(FilePurpose::NewProject);
        }
        if ui.button("Open project…").clicked() {
            request = Some(FilePurpose::OpenProject);
        }
        if ui.button("Open project read-only…").clicked() {
            request = Some(FilePurpose::OpenProjectReadOnly);
        }
        ui.add_space(20.0);
        if !studio.settings.recent.is_empty() {
            ui.label(egui::RichText::new("Recent").strong());
            for path in studio.settings.recent.clone() {
                if ui.link(path.display().to_string()).clicked() {
                    studio.open_project(path, OpenMode::ReadWrite);
                }
            }
        }
    });
    request
}
