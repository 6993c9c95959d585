//! `previz-studio`: starts the window. Everything else is in the library.

use previz_jobs::{JobQueue, QueueConfig};
use previz_studio::settings::StudioSettings;
use previz_studio::{Studio, StudioApp};

fn main() -> std::process::ExitCode {
    // Tensor-sized buffers stay in the heap instead of being mapped afresh per operation.
    previz_models::memory::keep_tensor_buffers();
    let settings_path = StudioSettings::default_path();
    let (settings, note) = settings_path.as_deref().map_or_else(
        || (StudioSettings::default(), None),
        StudioSettings::load_or_set_aside,
    );
    let jobs = JobQueue::new(QueueConfig::default());
    let mut studio = Studio::new(jobs, settings);
    if let Some(note) = note {
        studio.toasts.error("Settings were reset", note);
    }
    // `previz-studio PROJECT_OR_SCREENPLAY` opens it straight away.
    if let Some(arg) = std::env::args_os().nth(1) {
        let path = std::path::PathBuf::from(arg);
        if path.join("project.json").is_file() {
            studio.open_project(path, previz_storage::OpenMode::ReadWrite);
        } else if path.is_file() {
            let dir = path.with_extension("previz");
            studio.new_project_from_screenplay(path, dir);
        }
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Previz Studio")
            .with_inner_size([1600.0, 900.0])
            .with_min_inner_size([960.0, 600.0]),
        ..Default::default()
    };
    let result = eframe::run_native(
        "Previz Studio",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            studio
                .jobs
                .set_waker(std::sync::Arc::new(move || ctx.request_repaint()));
            Ok(Box::new(StudioApp::new(studio, settings_path)))
        }),
    );
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("previz-studio: error: could not open the window: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
