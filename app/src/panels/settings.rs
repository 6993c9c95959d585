//! The settings window: default models (from what is installed), device, the show's share and
//! S3 location, the cache folder and its size, extra models folders, theme. What it edits is
//! the workstation's settings file, which the CLI reads too; it is written in a job shortly
//! after the last change.

use std::path::PathBuf;

use previz_models::registry::ModelKind;
use previz_models::verify::Known;

use crate::settings::{Device, Theme};
use crate::studio::{InstalledModel, Studio};

fn path_field(ui: &mut egui::Ui, label: &str, value: &mut Option<PathBuf>, hint: &str) {
    ui.label(label);
    let mut text = value
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if ui
        .add(
            egui::TextEdit::singleline(&mut text)
                .hint_text(hint)
                .desired_width(360.0),
        )
        .changed()
    {
        *value = (!text.trim().is_empty()).then(|| PathBuf::from(text.trim()));
    }
    ui.end_row();
}

fn model_field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut Option<String>,
    kind: ModelKind,
    none: &str,
    installed: Option<&[InstalledModel]>,
) {
    ui.label(label);
    let text = value.clone().unwrap_or_else(|| none.to_owned());
    egui::ComboBox::from_id_salt(label)
        .selected_text(text)
        .width(360.0)
        .show_ui(ui, |ui| {
            if ui.selectable_label(value.is_none(), none).clicked() {
                *value = None;
            }
            let Some(installed) = installed else {
                ui.label(egui::RichText::new("Looking for installed models…").weak());
                return;
            };
            let of_kind: Vec<&InstalledModel> =
                installed.iter().filter(|m| m.kind == kind).collect();
            if of_kind.is_empty() {
                ui.label(
                    egui::RichText::new(
                        "None installed: `previz models add PATH`, or the show's models folder",
                    )
                    .weak(),
                );
            }
            for m in of_kind {
                let note = match m.verified {
                    Known::Verified => "  (verified)",
                    Known::Damaged => "  damaged: run previz models verify",
                    Known::Unverified => "  not verified yet",
                    Known::NoChecksums | Known::NotInstalled => "",
                };
                ui.selectable_value(value, Some(m.id.clone()), format!("{}{note}", m.id))
                    .on_hover_text(m.path.display().to_string());
            }
        });
    ui.end_row();
    // A model chosen earlier that this machine does not have (another workstation's
    // settings, or removed since).
    if let (Some(chosen), Some(installed)) = (value.as_ref(), installed)
        && !installed.iter().any(|m| &m.id == chosen)
        && !std::path::Path::new(chosen).is_absolute()
    {
        ui.label("");
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("{chosen} is not installed here; jobs will say so"),
        );
        ui.end_row();
    }
}

/// Draws the settings window while `open`.
pub fn window(ctx: &egui::Context, studio: &mut Studio, open: &mut bool) {
    if studio.installed_models.is_none() {
        studio.refresh_models();
    }
    let installed = studio.installed_models.clone();
    let mut rescan = false;
    let settings = &mut studio.settings;
    egui::Window::new("Settings").open(open).resizable(true).show(ctx, |ui| {
        ui.horizontal(|ui| {
            ui.heading("Models");
            if ui
                .small_button("Rescan")
                .on_hover_text("Search the models folders again (after adding or removing one)")
                .clicked()
            {
                rescan = true;
            }
        });
        egui::Grid::new("settings-models").num_columns(2).show(ui, |ui| {
            model_field(ui, "Script breakdown (LLM)", &mut settings.llm_model, ModelKind::Llm, "none: the built-in rules", installed.as_deref());
            model_field(ui, "Storyboard frames", &mut settings.diffusion_model, ModelKind::Diffusion, "none: first installed, else sketches", installed.as_deref());
            model_field(ui, "Voices", &mut settings.voice_model, ModelKind::Tts, "none: first installed voice", installed.as_deref());
            ui.label("More models folders");
            let mut text = settings
                .model_dirs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join("\n");
            if ui
                .add(
                    egui::TextEdit::multiline(&mut text)
                        .hint_text("one folder per line")
                        .desired_rows(2)
                        .desired_width(360.0),
                )
                .changed()
            {
                settings.model_dirs = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(PathBuf::from)
                    .collect();
            }
            ui.end_row();
        });
        ui.separator();
        ui.heading("Device");
        ui.horizontal(|ui| {
            ui.radio_value(&mut settings.device, Device::Cpu, "CPU");
            let cuda = previz_models::device::cuda_compiled();
            ui.add_enabled_ui(cuda, |ui| {
                ui.radio_value(&mut settings.device, Device::Cuda, "CUDA");
            })
            .response
            .on_disabled_hover_text("This build has no CUDA support: build with --features cuda on a machine with the CUDA toolkit.");
            ui.radio_value(&mut settings.device, Device::Auto, "Auto")
                .on_hover_text("CUDA when this build has it and a GPU answers, else the CPU");
        });
        ui.separator();
        ui.heading("Storage");
        egui::Grid::new("settings-storage").num_columns(2).show(ui, |ui| {
            path_field(ui, "Show share", &mut settings.share_root, "the show's folder on the NAS, e.g. /mnt/show");
            ui.label("S3 location");
            let mut s3 = settings.s3_url.clone().unwrap_or_default();
            if ui
                .add(egui::TextEdit::singleline(&mut s3).hint_text("s3://bucket/prefix").desired_width(360.0))
                .changed()
            {
                let s3 = s3.trim();
                settings.s3_url = (!s3.is_empty()).then(|| s3.to_owned());
            }
            ui.end_row();
            if settings.s3_url.as_deref().is_some_and(|u| !u.starts_with("s3://")) {
                ui.label("");
                ui.colored_label(ui.visuals().warn_fg_color, "write s3://bucket or s3://bucket/prefix");
                ui.end_row();
            }
            path_field(ui, "Cache folder", &mut settings.cache_dir, "default: ~/.cache/previz");
            ui.label("Cache size");
            ui.add(
                egui::DragValue::new(&mut settings.cache_max_gib)
                    .range(1.0..=4096.0)
                    .speed(1.0)
                    .suffix(" GiB"),
            );
            ui.end_row();
        });
        ui.separator();
        ui.heading("Appearance");
        ui.horizontal(|ui| {
            ui.radio_value(&mut settings.theme, Theme::Dark, "Dark");
            ui.radio_value(&mut settings.theme, Theme::Light, "Light");
        });
        ui.separator();
        ui.label(
            egui::RichText::new(format!(
                "Saved to {} (the previz command reads it too; `previz doctor` checks it).",
                previz_storage::settings::Settings::default_path()
                    .map_or_else(|| "the user's config folder".to_owned(), |p| p.display().to_string())
            ))
            .weak(),
        );
    });
    if rescan {
        studio.installed_models = None;
        studio.refresh_models();
    }
    ctx.set_theme(match studio.settings.theme {
        Theme::Dark => egui::Theme::Dark,
        Theme::Light => egui::Theme::Light,
    });
}
