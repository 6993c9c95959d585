//! The settings window: models, device, share and cache paths, theme.

use std::path::PathBuf;

use crate::settings::{Device, Theme};
use crate::studio::Studio;

fn path_field(ui: &mut egui::Ui, label: &str, value: &mut Option<PathBuf>) {
    ui.horizontal(|ui| {
        ui.label(label);
        let mut text = value
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if ui
            .add(egui::TextEdit::singleline(&mut text).desired_width(320.0))
            .changed()
        {
            *value = (!text.trim().is_empty()).then(|| PathBuf::from(text.trim()));
        }
    });
}

fn model_field(ui: &mut egui::Ui, label: &str, value: &mut Option<String>, kind: &str) {
    ui.horizontal(|ui| {
        ui.label(label);
        let text = value.clone().unwrap_or_else(|| "none".to_owned());
        egui::ComboBox::from_id_salt(label)
            .selected_text(text)
            .show_ui(ui, |ui| {
                if ui.selectable_label(value.is_none(), "none").clicked() {
                    *value = None;
                }
            });
        ui.label(egui::RichText::new(format!("No {kind} models are installed yet.")).weak());
    });
}

/// Draws the settings window while `open`.
pub fn window(ctx: &egui::Context, studio: &mut Studio, open: &mut bool) {
    let settings = &mut studio.settings;
    egui::Window::new("Settings").open(open).resizable(true).show(ctx, |ui| {
        ui.heading("Models");
        model_field(ui, "Script breakdown (LLM)", &mut settings.llm_model, "GGUF language");
        model_field(ui, "Storyboard frames", &mut settings.diffusion_model, "diffusion");
        model_field(ui, "Voices", &mut settings.voice_model, "Piper voice");
        ui.separator();
        ui.heading("Device");
        ui.horizontal(|ui| {
            ui.radio_value(&mut settings.device, Device::Cpu, "CPU");
            let cuda = cfg!(feature = "cuda");
            ui.add_enabled_ui(cuda, |ui| {
                ui.radio_value(&mut settings.device, Device::Cuda, "CUDA");
            })
            .response
            .on_disabled_hover_text("This build has no CUDA support: build with --features cuda on a machine with the CUDA toolkit.");
        });
        ui.separator();
        ui.heading("Storage");
        path_field(ui, "Share root", &mut settings.share_root);
        path_field(ui, "Cache folder", &mut settings.cache_dir);
        ui.separator();
        ui.heading("Appearance");
        ui.horizontal(|ui| {
            ui.radio_value(&mut settings.theme, Theme::Dark, "Dark");
            ui.radio_value(&mut settings.theme, Theme::Light, "Light");
        });
    });
    ctx.set_theme(match studio.settings.theme {
        Theme::Dark => egui::Theme::Dark,
        Theme::Light => egui::Theme::Light,
    });
}
