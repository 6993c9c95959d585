//! A file chooser inside the window: works the same on every desktop, over a mounted share, and
//! under test (native dialogs need a desktop portal a render node may not have).

use std::path::{Path, PathBuf};

/// What the chooser is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilePurpose {
    OpenProject,
    OpenProjectReadOnly,
    NewProject,
    ImportScreenplay,
    ReviseScreenplay,
    /// A cut edited in editorial (OTIO, EDL, FCPXML) to conform the project to.
    ConformCut,
}

impl FilePurpose {
    fn title(self) -> &'static str {
        match self {
            FilePurpose::OpenProject => "Open project",
            FilePurpose::OpenProjectReadOnly => "Open project read-only",
            FilePurpose::NewProject => "New project",
            FilePurpose::ImportScreenplay => "New project from screenplay",
            FilePurpose::ReviseScreenplay => "Import revised screenplay",
            FilePurpose::ConformCut => "Conform to editorial cut",
        }
    }

    fn wants_screenplay(self) -> bool {
        matches!(
            self,
            FilePurpose::ImportScreenplay | FilePurpose::ReviseScreenplay
        )
    }
}

/// What the chooser did this frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Cancelled,
    Chosen {
        purpose: FilePurpose,
        path: PathBuf,
        /// The title typed for a new project.
        title: String,
    },
}

/// The chooser's state.
#[derive(Debug)]
pub struct FileDialog {
    purpose: FilePurpose,
    dir: PathBuf,
    /// The path being typed (a file, or a new project's name).
    entry: String,
    title: String,
    error: Option<String>,
}

fn is_screenplay(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["fountain", "fdx", "spmd", "txt"].contains(&e.to_ascii_lowercase().as_str())
    })
}

fn is_cut(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["otio", "edl", "fcpxml"].contains(&e.to_ascii_lowercase().as_str()))
}

fn is_project(path: &Path) -> bool {
    path.join(previz_storage::layout::PROJECT_FILE).is_file()
}

impl FileDialog {
    #[must_use]
    pub fn new(purpose: FilePurpose) -> Self {
        let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        Self {
            purpose,
            entry: String::new(),
            title: String::new(),
            dir,
            error: None,
        }
    }

    /// Starts in a given folder (tests, recent locations).
    #[must_use]
    pub fn in_dir(mut self, dir: PathBuf) -> Self {
        self.dir = dir;
        self
    }

    fn entries(&self) -> Vec<(PathBuf, bool)> {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<(PathBuf, bool)> = read
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .filter_map(|p| {
                if p.is_dir() {
                    Some((p.clone(), is_project(&p)))
                } else if (self.purpose.wants_screenplay() && is_screenplay(&p))
                    || (self.purpose == FilePurpose::ConformCut && is_cut(&p))
                {
                    Some((p, false))
                } else {
                    None
                }
            })
            .collect();
        out.sort();
        out
    }

    fn choose(&mut self) -> Option<Outcome> {
        let typed = self.entry.trim();
        let path = if typed.is_empty() {
            self.dir.clone()
        } else {
            let p = PathBuf::from(typed);
            if p.is_absolute() { p } else { self.dir.join(p) }
        };
        let problem = match self.purpose {
            FilePurpose::OpenProject | FilePurpose::OpenProjectReadOnly => (!is_project(&path))
                .then(|| {
                    format!(
                        "{} is not a Previz project (no project.json in it)",
                        path.display()
                    )
                }),
            FilePurpose::NewProject => {
                if typed.is_empty() {
                    Some("type a name for the project folder".to_owned())
                } else if path.with_extension("previz").exists() || path.exists() {
                    Some(format!("{} already exists", path.display()))
                } else {
                    None
                }
            }
            FilePurpose::ImportScreenplay | FilePurpose::ReviseScreenplay => {
                (!path.is_file()).then(|| format!("{} is not a file", path.display()))
            }
            FilePurpose::ConformCut => (!path.is_file() || !is_cut(&path))
                .then(|| format!("{} is not an .otio, .edl or .fcpxml file", path.display())),
        };
        if let Some(problem) = problem {
            self.error = Some(problem);
            return None;
        }
        let path = if self.purpose == FilePurpose::NewProject && path.extension().is_none() {
            path.with_extension("previz")
        } else {
            path
        };
        let title = if self.title.trim().is_empty() {
            path.file_stem()
                .map(|s| s.to_string_lossy().replace(['-', '_'], " "))
                .unwrap_or_default()
        } else {
            self.title.trim().to_owned()
        };
        Some(Outcome::Chosen {
            purpose: self.purpose,
            path,
            title,
        })
    }

    /// Draws the chooser; returns what happened.
    pub fn ui(&mut self, ctx: &egui::Context) -> Outcome {
        let mut outcome = Outcome::Open;
        let mut open = true;
        egui::Window::new(self.purpose.title())
            .collapsible(false)
            .resizable(true)
            .default_width(560.0)
            .open(&mut open)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    if ui.button("⬆ Up").clicked()
                        && let Some(parent) = self.dir.parent()
                    {
                        self.dir = parent.to_path_buf();
                    }
                    ui.monospace(self.dir.display().to_string());
                });
                ui.separator();
                egui::ScrollArea::vertical()
                    .max_height(280.0)
                    .show(ui, |ui| {
                        for (path, project) in self.entries() {
                            let name = path
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            let label = if project {
                                format!("🎬 {name}")
                            } else if path.is_dir() {
                                format!("📁 {name}")
                            } else {
                                format!("📄 {name}")
                            };
                            let response = ui.selectable_label(false, label);
                            if response.double_clicked()
                                || (response.clicked() && !project && path.is_dir())
                            {
                                if path.is_dir() && !project {
                                    self.dir = path;
                                    self.entry.clear();
                                } else {
                                    self.entry = path.display().to_string();
                                    if let Some(o) = self.choose() {
                                        outcome = o;
                                    }
                                }
                            } else if response.clicked() {
                                self.entry = path.display().to_string();
                            }
                        }
                    });
                ui.separator();
                let field = match self.purpose {
                    FilePurpose::NewProject => "Folder name",
                    FilePurpose::ImportScreenplay | FilePurpose::ReviseScreenplay => "Screenplay",
                    FilePurpose::ConformCut => "Cut",
                    _ => "Project",
                };
                ui.horizontal(|ui| {
                    ui.label(field);
                    ui.add(egui::TextEdit::singleline(&mut self.entry).desired_width(360.0));
                });
                if self.purpose == FilePurpose::NewProject {
                    ui.horizontal(|ui| {
                        ui.label("Title");
                        ui.add(egui::TextEdit::singleline(&mut self.title).desired_width(360.0));
                    });
                }
                if let Some(error) = &self.error {
                    ui.colored_label(ui.visuals().error_fg_color, error);
                }
                ui.horizontal(|ui| {
                    if ui.button(self.purpose.title()).clicked()
                        && let Some(o) = self.choose()
                    {
                        outcome = o;
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
