//! The job panel: every long job with its progress, ETA, a cancel button, the picture it is
//! making (a storyboard frame's denoising preview) and its log.

use previz_jobs::JobState;

use crate::studio::Studio;

fn duration_text(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}.{}s", s, d.subsec_millis() / 100)
    }
}

/// Draws the panel.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio) {
    let jobs = studio.jobs.snapshot();
    ui.horizontal(|ui| {
        let stats = studio.jobs.stats();
        ui.label(format!(
            "{} running · {} queued",
            stats.running, stats.queued
        ));
        if ui.button("Clear finished").clicked() {
            studio.jobs.clear_finished();
        }
    });
    if jobs.is_empty() {
        ui.label("No jobs. Imports, script breakdowns, frames, voices and exports show here while they run.");
        return;
    }
    let mut cancel = None;
    egui::ScrollArea::vertical().id_salt("jobs").show(ui, |ui| {
        for job in jobs.iter().rev() {
            ui.group(|ui| {
                ui.horizontal(|ui| {
                    ui.label(egui::RichText::new(&job.name).strong());
                    ui.label(format!("[{}]", job.kind));
                    let state = match &job.state {
                        JobState::Failed { message, .. } => format!("failed: {message}"),
                        other => other.label().to_owned(),
                    };
                    ui.label(state);
                    if !job.state.is_finished() && ui.button("Cancel").clicked() {
                        cancel = Some(job.id);
                    }
                });
                if !job.state.is_finished() {
                    let eta = job
                        .eta
                        .map_or_else(String::new, |e| format!(" · ETA {}", duration_text(e)));
                    ui.add(
                        egui::ProgressBar::new(job.progress)
                            .text(format!(
                                "{} · {}{eta}",
                                job.message,
                                duration_text(job.elapsed)
                            ))
                            .animate(job.state == JobState::Running),
                    );
                }
                if let Some(p) = &job.preview {
                    preview(ui, job.id, p);
                }
                if !job.log_tail.is_empty() {
                    ui.collapsing(format!("Log ({} lines)", job.log_tail.len()), |ui| {
                        for line in &job.log_tail {
                            ui.monospace(line);
                        }
                    });
                }
            });
        }
    });
    if let Some(id) = cancel {
        studio.jobs.cancel(id);
    }
}

/// The job's latest preview, uploaded once per new picture (kept in egui's memory by job).
fn preview(ui: &mut egui::Ui, job: previz_jobs::JobId, p: &previz_jobs::JobPreview) {
    let key = egui::Id::unique(("job-preview", job));
    let cached: Option<(u64, egui::TextureHandle)> = ui.ctx().data(|d| d.get_temp(key));
    let texture = match cached {
        Some((serial, t)) if serial == p.serial => t,
        _ => {
            let image = egui::ColorImage::from_rgb([p.width as usize, p.height as usize], &p.rgb);
            let t = ui.ctx().load_texture(
                format!("job-preview-{job:?}"),
                image,
                egui::TextureOptions::LINEAR,
            );
            ui.ctx()
                .data_mut(|d| d.insert_temp(key, (p.serial, t.clone())));
            t
        }
    };
    // Previews come at latent resolution (an eighth of the frame): shown at least 128 px high.
    let scale = (128.0 / p.height.max(1) as f32).max(1.0);
    let size = egui::vec2(p.width as f32 * scale, p.height as f32 * scale);
    ui.add(egui::Image::new((texture.id(), size)).alt_text("preview of the frame being drawn"));
}
