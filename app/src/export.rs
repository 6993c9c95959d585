//! The export dialog: what to write (the animatic movie, an edit for editorial, the storyboard
//! PDF, the shot list, an image sequence), where, and the options that format has. Export runs
//! as a job with progress in the jobs panel; this window only builds the request.

use std::path::{Path, PathBuf};

use previz_render::animatic::BurnIns;
use previz_render::export::{ExportFormat, ExportRequest};
use previz_render::storyboard::Paper;

/// The dialog's state.
#[derive(Debug)]
pub struct ExportDialog {
    pub format: ExportFormat,
    /// The output path as typed.
    pub path: String,
    pub burn_ins: BurnIns,
    pub max_height: u32,
    pub changes_only: bool,
    pub panels: usize,
    pub contact_sheet: bool,
    pub paper: Paper,
    pub edl_track: String,
    pub drop_frame: bool,
    error: Option<String>,
    /// Where exports go unless the path says otherwise (next to the project folder).
    base: PathBuf,
    stem: String,
}

/// What the dialog did this frame.
#[derive(Debug)]
pub enum Outcome {
    Open,
    Cancelled,
    Export(Box<ExportRequest>),
}

impl ExportDialog {
    /// A dialog for the project in `project_dir`, writing next to it by default.
    #[must_use]
    pub fn new(project_dir: &Path) -> Self {
        let base = project_dir
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let stem = project_dir.file_stem().map_or_else(
            || "animatic".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        );
        let mut dialog = Self {
            format: ExportFormat::Mp4,
            path: String::new(),
            burn_ins: BurnIns {
                shot_number: true,
                scene_number: true,
                timecode: true,
                drop_frame: false,
                subtitles: true,
            },
            max_height: 1080,
            changes_only: false,
            panels: 6,
            contact_sheet: false,
            paper: Paper::A4,
            edl_track: String::new(),
            drop_frame: false,
            error: None,
            base,
            stem,
        };
        dialog.path = dialog.default_path().display().to_string();
        dialog
    }

    fn default_path(&self) -> PathBuf {
        match self.format.extension() {
            Some(ext) => self.base.join(format!("{}.{ext}", self.stem)),
            None => self.base.join(format!("{}_frames", self.stem)),
        }
    }

    /// The request the current fields describe, or why there is none.
    pub fn request(&self) -> Result<ExportRequest, String> {
        let typed = self.path.trim();
        if typed.is_empty() {
            return Err("type where to write the export".into());
        }
        let path = PathBuf::from(typed);
        let path = if path.is_absolute() {
            path
        } else {
            self.base.join(path)
        };
        if self.format != ExportFormat::Frames && path.is_dir() {
            return Err(format!("{} is a folder; name a file", path.display()));
        }
        let mut request = ExportRequest::new(self.format, path);
        request.burn_ins = self.burn_ins;
        request.max_height = self.max_height;
        request.changes_only = self.changes_only;
        request.storyboard.panels_per_page = self.panels.clamp(1, 48);
        request.storyboard.contact_sheet = self.contact_sheet;
        request.storyboard.paper = self.paper;
        request.drop_frame = self.drop_frame;
        let track = self.edl_track.trim();
        request.edl_track = (!track.is_empty()).then(|| track.to_owned());
        Ok(request)
    }

    /// Draws the dialog.
    pub fn ui(&mut self, ctx: &egui::Context) -> Outcome {
        let mut outcome = Outcome::Open;
        let mut open = true;
        egui::Window::new("Export")
            .collapsible(false)
            .resizable(false)
            .default_width(520.0)
            .open(&mut open)
            .show(ctx, |ui| {
                let before = self.format;
                egui::ComboBox::from_label("Format")
                    .selected_text(self.format.label())
                    .width(320.0)
                    .show_ui(ui, |ui| {
                        for f in ExportFormat::ALL {
                            ui.selectable_value(&mut self.format, f, f.label());
                        }
                    });
                // A new format renames the default file (a path typed elsewhere is kept).
                let typed = Path::new(self.path.trim());
                if self.format != before
                    && (typed.as_os_str().is_empty() || typed.parent() == Some(self.base.as_path()))
                {
                    self.path = self.default_path().display().to_string();
                }
                ui.horizontal(|ui| {
                    let label = ui.label(if self.format == ExportFormat::Frames { "Folder" } else { "File" });
                    ui.add(egui::TextEdit::singleline(&mut self.path).desired_width(420.0))
                        .labelled_by(label.id);
                });
                ui.separator();
                match self.format {
                    ExportFormat::Mp4 | ExportFormat::Frames => {
                        ui.label("Burn-ins");
                        ui.horizontal(|ui| {
                            ui.checkbox(&mut self.burn_ins.shot_number, "Shot");
                            ui.checkbox(&mut self.burn_ins.scene_number, "Scene");
                            ui.checkbox(&mut self.burn_ins.timecode, "Timecode");
                            ui.checkbox(&mut self.burn_ins.subtitles, "Dialogue subtitles");
                        });
                        ui.horizontal(|ui| {
                            let label = ui.label("Largest height");
                            ui.add(egui::DragValue::new(&mut self.max_height).range(144..=4320).suffix(" px"))
                                .labelled_by(label.id);
                        });
                        if self.format == ExportFormat::Frames {
                            ui.checkbox(&mut self.changes_only, "One image per picture change (with a CSV of holds)");
                        }
                    }
                    ExportFormat::Pdf => {
                        ui.horizontal(|ui| {
                            let label = ui.label("Panels per page");
                            ui.add(egui::DragValue::new(&mut self.panels).range(1..=24))
                                .labelled_by(label.id);
                            ui.checkbox(&mut self.contact_sheet, "Contact sheet");
                        });
                        egui::ComboBox::from_label("Paper")
                            .selected_text(format!("{:?}", self.paper))
                            .show_ui(ui, |ui| {
                                for p in [Paper::A4, Paper::Letter, Paper::Tabloid] {
                                    ui.selectable_value(&mut self.paper, p, format!("{p:?}"));
                                }
                            });
                    }
                    ExportFormat::Edl => {
                        ui.horizontal(|ui| {
                            let label = ui.label("Video track");
                            ui.add(egui::TextEdit::singleline(&mut self.edl_track).hint_text("the first").desired_width(200.0))
                                .labelled_by(label.id);
                        });
                        ui.checkbox(&mut self.drop_frame, "Drop-frame timecode (29.97 / 59.94)");
                    }
                    ExportFormat::Otio | ExportFormat::Xmeml | ExportFormat::Fcpxml => {
                        ui.label("The frames and voice takes it points at are linked into a folder next to the file.");
                    }
                    ExportFormat::Csv => {
                        ui.label("One row per shot: camera, action, dialogue, length, where it plays.");
                    }
                }
                if let Some(error) = &self.error {
                    ui.colored_label(ui.visuals().error_fg_color, error);
                }
                ui.separator();
                ui.horizontal(|ui| {
                    if ui.button("Start export").clicked() {
                        match self.request() {
                            Ok(r) => outcome = Outcome::Export(Box::new(r)),
                            Err(e) => self.error = Some(e),
                        }
                    }
                    if ui.button("Cancel").clicked() {
                        outcome = Outcome::Cancelled;
                    }
                });
            });
        if !open {
            return Outcome::Cancelled;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_sit_next_to_the_project_and_follow_the_format() {
        let mut d = ExportDialog::new(Path::new("/nas/show/film.previz"));
        assert_eq!(d.path, "/nas/show/film.mp4");
        d.format = ExportFormat::Pdf;
        d.path = d.default_path().display().to_string();
        let r = d.request().unwrap();
        assert_eq!(r.output, PathBuf::from("/nas/show/film.pdf"));
        assert_eq!(r.storyboard.panels_per_page, 6);
        d.path = "cuts/v2.otio".into();
        d.format = ExportFormat::Otio;
        assert_eq!(
            d.request().unwrap().output,
            PathBuf::from("/nas/show/cuts/v2.otio")
        );
        d.path = "  ".into();
        assert!(d.request().is_err());
    }
}
